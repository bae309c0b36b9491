//! GraphiQL at `/graphiql`: every asset comes from the server itself (checked on the HTTP
//! answers), and the page works as a person uses it, in Debian's headless Chromium with
//! every request to anywhere but the server blocked (`tests/js/graphiql.mjs`): sign in as a
//! demo user, run a query, open the docs, switch tenant, see the other tenant's rows, keep
//! (and refresh) the session across reloads, sign out, paste a token.

use crate::common::TestApp;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tower::ServiceExt;

/// GETs `path`; returns status, content type, cache control and body.
async fn get(t: &TestApp, path: &str) -> (StatusCode, String, String, Vec<u8>) {
    let response = t
        .router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (status, content_type, cache) = (
        response.status(),
        header(header::CONTENT_TYPE),
        header(header::CACHE_CONTROL),
    );
    let csp = header(header::CONTENT_SECURITY_POLICY);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    if path == "/graphiql" {
        assert!(csp.contains("default-src 'self'"), "CSP: {csp}");
        assert!(csp.contains("connect-src 'self'"), "CSP: {csp}");
    }
    (status, content_type, cache, body.to_vec())
}

/// The values of every `src="…"` and `href="…"` attribute in `html`.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("closing quote");
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_and_assets_are_served_from_the_binary() {
    let t = TestApp::new().await;
    let (status, content_type, cache, body) = get(&t, "/graphiql").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_eq!(cache, "no-cache");
    let html = String::from_utf8(body).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names no other host: {html}"
    );

    let assets: Vec<String> = links(&html)
        .into_iter()
        .filter(|l| !l.starts_with("data:"))
        .collect();
    assert_eq!(
        assets.len(),
        6,
        "two stylesheets and four scripts: {assets:?}"
    );
    for link in &assets {
        assert!(
            link.starts_with("/graphiql/assets/") && link.contains("?v="),
            "{link}: an asset of this server, versioned by its content"
        );
        let (status, content_type, cache, body) = get(&t, link).await;
        assert_eq!(status, 200, "{link}");
        assert!(!body.is_empty(), "{link}");
        assert_eq!(cache, "public, max-age=31536000, immutable", "{link}");
        let file = link.split('?').next().unwrap();
        if file.ends_with(".js") {
            assert_eq!(content_type, "text/javascript; charset=utf-8", "{link}");
        } else {
            assert!(file.ends_with(".css"), "{link}");
            assert_eq!(content_type, "text/css; charset=utf-8", "{link}");
            // Stylesheets load nothing else: fonts and images are inlined.
            let css = String::from_utf8(body).unwrap();
            assert!(!css.contains("@import"), "{link}");
            for (i, _) in css.match_indices("url(") {
                let target = css[i + 4..].trim_start_matches(['"', '\'']);
                assert!(
                    target.starts_with("data:"),
                    "{link} loads {}",
                    &target[..target.len().min(60)]
                );
            }
        }
    }
    let (status, ..) = get(&t, "/graphiql/assets/nothing.js").await;
    assert_eq!(status, 404);
}

/// Fails (never skips) when the browser or the driver is missing, saying how to get them.
fn browser_prerequisites(root: &Path) -> PathBuf {
    let chromium = PathBuf::from(
        std::env::var("TENANTRY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    let how = "run .ci/run, or: apt-get install chromium && npm ci --prefix tests/js";
    assert!(
        chromium.exists(),
        "{} not found (TENANTRY_CHROMIUM overrides the path): {how}",
        chromium.display()
    );
    assert!(
        root.join("tests/js/node_modules/puppeteer-core").exists(),
        "tests/js/node_modules has no puppeteer-core: {how}"
    );
    chromium
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = browser_prerequisites(root);
    let t = TestApp::new().await;
    let logins = tenantry::demo::seed(&t.app).await.expect("demo");
    let bob = logins
        .iter()
        .find(|l| l.email == "bob@globex.test")
        .expect("bob");
    let url = t.listen().await;
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("graphiql.png");
    let _ = std::fs::remove_file(&screenshot);

    let run = tokio::process::Command::new("node")
        .arg(root.join("tests/js/graphiql.mjs"))
        .arg(&url)
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .env("DEMO_PASSWORD", tenantry::demo::DEMO_PASSWORD)
        .env("PASTE_TOKEN", &bob.token)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser test finishes within 3 minutes")
        .expect("node runs (install Node.js if it is missing)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/js/graphiql.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("graphiql: ok"), "{stdout}\n{stderr}");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    println!("{stdout}screenshot: {}", screenshot.display());
}
