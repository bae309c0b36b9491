//! Trusted documents and automatic persisted queries: Apollo's APQ protocol over POST and
//! GET, compiled plans found by the document's hash, the operator's list
//! (`tenantry documents`) loaded by every server process when it changes, and
//! `TENANTRY_TRUSTED_DOCUMENTS=require` refusing anything else before parsing.

use crate::common::{client, first_code, Reply, TestApp, TestDb};
use crate::http_spec::urlencode;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use std::time::Duration;
use tenantry::auth::Role;
use tenantry::config::TrustedDocuments;
use tenantry::graphql::persisted::DocumentHash;

const FEED: &str = "query Feed($n: Int) { contacts(first: $n) { edges { node { name } } } }";

/// POSTs a request whose body is `body` (JSON) as `token`.
async fn post(t: &TestApp, token: &str, body: Value) -> Value {
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    t.send(request).await.1
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apq_round_trip_over_post_and_get() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.contact(&a.token, "Ada").await;
    t.contact(&b.token, "Bob").await;
    let hash = DocumentHash::of(FEED).hex();

    // The hash alone, unknown: Apollo's clients then send the text.
    let body = post(
        &t,
        &a.token,
        json!({ "extensions": persisted(&hash), "variables": {"n": 5} }),
    )
    .await;
    assert_eq!(first_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(body.get("data").is_none(), "{body}");
    // Text and hash: runs and registers.
    let body = post(
        &t,
        &a.token,
        json!({ "query": FEED, "extensions": persisted(&hash), "variables": {"n": 5} }),
    )
    .await;
    assert_eq!(
        body.data("contacts.edges")[0]["node"]["name"],
        "Ada",
        "{body}"
    );
    // Now the hash alone runs, over POST…
    let body = post(
        &t,
        &a.token,
        json!({ "extensions": persisted(&hash), "variables": {"n": 5} }),
    )
    .await;
    assert_eq!(
        body.data("contacts.edges")[0]["node"]["name"],
        "Ada",
        "{body}"
    );
    // …and over GET, which a CDN can cache.
    let get = Request::get(format!(
        "/graphql?operationName=Feed&variables={}&extensions={}",
        urlencode(r#"{"n":5}"#),
        urlencode(&persisted(&hash).to_string())
    ))
    .header("authorization", format!("Bearer {}", b.token))
    .body(Body::empty())
    .unwrap();
    let (status, body) = t.send(get).await;
    assert_eq!(status, 200, "{body}");
    // Another tenant using the same hash gets its own rows: a hash names a text, nothing more.
    let names: Vec<_> = body
        .data("contacts.edges")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Bob")], "{body}");

    // A hash that is not the text's is refused; so is another protocol version.
    let other = DocumentHash::of("{ __typename }").hex();
    let body = post(
        &t,
        &a.token,
        json!({ "query": FEED, "extensions": persisted(&other) }),
    )
    .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let body = post(
        &t,
        &a.token,
        json!({ "query": FEED, "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }),
    )
    .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let body = post(&t, &a.token, json!({ "extensions": persisted("abc") })).await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_plans_are_found_by_the_document_hash() {
    let t = TestApp::with_plans().await;
    let a = t.tenant("alpha").await;
    t.contact(&a.token, "Ada").await;
    let hash = DocumentHash::of(FEED).hex();
    // First run (generic, compiles), registering the APQ.
    let body = post(
        &t,
        &a.token,
        json!({ "query": FEED, "extensions": persisted(&hash), "operationName": "Feed", "variables": {"n": 2} }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let before = t.app.graphql.compiled_count();
    // By hash alone: the plan answers without the text being sent or parsed.
    let body = post(
        &t,
        &a.token,
        json!({ "extensions": persisted(&hash), "operationName": "Feed", "variables": {"n": 2} }),
    )
    .await;
    assert_eq!(
        body.data("contacts.edges")[0]["node"]["name"],
        "Ada",
        "{body}"
    );
    assert_eq!(
        t.app.graphql.compiled_count(),
        before + 1,
        "a plan answered by hash"
    );
    // By text: the same plan (the text's hash).
    let body = post(
        &t,
        &a.token,
        json!({ "query": FEED, "operationName": "Feed", "variables": {"n": 2} }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(t.app.graphql.compiled_count(), before + 2);
}

/// Waits until the app has loaded its trusted list `n` times.
async fn wait_for_load(t: &TestApp, n: u64) {
    for _ in 0..500 {
        if t.app.documents.loads() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the trusted documents were not reloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_runs_only_trusted_documents() {
    let t = TestApp::with_config(|c| c.trusted_documents = TrustedDocuments::Require).await;
    let a = t.tenant("alpha").await;
    let create = r#"mutation { createContact(input: {name: "Untrusted"}) { id } }"#;
    // Nothing is trusted yet: every document is refused before it runs.
    let body = t.gql(&a.token, create).await;
    assert_eq!(first_code(&body), "DOCUMENT_NOT_TRUSTED", "{body}");
    assert!(body.get("data").is_none());
    // And an APQ registration is no way around it.
    let hash = DocumentHash::of(FEED).hex();
    let body = post(
        &t,
        &a.token,
        json!({ "query": FEED, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(first_code(&body), "DOCUMENT_NOT_TRUSTED", "{body}");
    let body = post(&t, &a.token, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(first_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");

    // The operator trusts FEED; every process reloads its list on the notification.
    let loads = t.app.documents.loads();
    let added = t
        .app
        .document_list()
        .add(&[(Some("Feed".into()), FEED.into())])
        .await
        .unwrap();
    assert_eq!(added, 1);
    wait_for_load(&t, loads + 1).await;
    let body = post(
        &t,
        &a.token,
        json!({ "extensions": persisted(&hash), "variables": {"n": 1} }),
    )
    .await;
    assert!(body.get("errors").is_none(), "by hash: {body}");
    let body = post(&t, &a.token, json!({ "query": FEED })).await;
    assert!(body.get("errors").is_none(), "by text: {body}");
    let body = t.gql(&a.token, create).await;
    assert_eq!(first_code(&body), "DOCUMENT_NOT_TRUSTED", "{body}");
    let count = t.app.document_list().all().await.unwrap();
    assert_eq!(count.len(), 1);
    // Removed: refused again.
    let loads = t.app.documents.loads();
    assert!(t
        .app
        .document_list()
        .remove(DocumentHash::of(FEED))
        .await
        .unwrap());
    wait_for_load(&t, loads + 1).await;
    let body = post(&t, &a.token, json!({ "query": FEED })).await;
    assert_eq!(first_code(&body), "DOCUMENT_NOT_TRUSTED", "{body}");
    // Nothing untrusted ran.
    let c = client(&t.db.url).await;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM contacts WHERE name = 'Untrusted'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // The runtime role cannot read the list at all.
    c.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app")
        .await
        .unwrap();
    let e = c
        .query_one("SELECT count(*) FROM trusted_documents", &[])
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    c.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_administrators_may_be_exempted() {
    for exempt in [false, true] {
        let t = TestApp::with_config(|c| {
            c.trusted_documents = TrustedDocuments::Require;
            c.trusted_documents_exempt_platform_admins = exempt;
        })
        .await;
        let a = t.tenant("alpha").await;
        let platform = t.app.platform();
        let root = platform.create_user("root@ops.test").await.unwrap();
        platform.set_platform_admin(root, true).await.unwrap();
        let root_token = t.token(root, None);
        let body = t.gql(&root_token, "{ platformTenants { slug } }").await;
        if exempt {
            assert_eq!(body.data("platformTenants")[0]["slug"], "alpha", "{body}");
        } else {
            assert_eq!(first_code(&body), "DOCUMENT_NOT_TRUSTED", "{body}");
        }
        // Never anyone else.
        let (_, member) = t.member(&a, "ann@alpha.test", Role::Admin).await;
        let body = t.gql(&member, "{ contacts { totalCount } }").await;
        assert_eq!(
            first_code(&body),
            "DOCUMENT_NOT_TRUSTED",
            "exempt={exempt}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_and_removes_documents_from_manifests() {
    let db = TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("tenantry-docs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| -> (bool, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("TENANTRY_HOME", &dir)
            .env("TENANTRY_JWT_SECRET", "cli-test-secret-cli-test-secret-!!")
            .env("RUST_LOG", "error")
            .output()
            .expect("run tenantry");
        // Scripts read stdout (one line); logs go to stderr, shown only when a run fails.
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let ok = out.status.success();
        (
            ok,
            if ok {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            } else {
                String::from_utf8_lossy(&out.stdout).trim().to_string() + &stderr
            },
        )
    };
    let q1 = "query Me { me { role } }";
    let q2 = "query Count { contacts { totalCount } }";
    let q3 = "{ __typename }";
    let apollo = json!({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{ "id": DocumentHash::of(q1).hex(), "name": "Me", "type": "query", "body": q1 }]
    });
    let codegen = json!({ DocumentHash::of(q2).hex(): q2 });
    std::fs::write(dir.join("apollo.json"), apollo.to_string()).unwrap();
    std::fs::write(dir.join("persisted-documents.json"), codegen.to_string()).unwrap();
    std::fs::write(dir.join("q.graphql"), q3).unwrap();
    let path = |f: &str| dir.join(f).display().to_string();
    let (ok, out) = run(&[
        "documents",
        "add",
        &path("apollo.json"),
        &path("persisted-documents.json"),
        &path("q.graphql"),
    ]);
    assert!(ok, "{out}");
    assert_eq!(out, "3 documents added (0 already listed)");
    let (ok, out) = run(&["documents", "add", &path("apollo.json")]);
    assert!(ok, "{out}");
    assert_eq!(out, "0 documents added (1 already listed)");
    let (ok, out) = run(&["documents", "list"]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.contains(&format!(
            "{} Me query Me {{ me {{ role }} }}",
            DocumentHash::of(q1)
        )),
        "{out}"
    );
    // A manifest whose id is not its document's SHA-256 is refused whole.
    std::fs::write(
        dir.join("bad.json"),
        json!({ DocumentHash::of(q1).hex(): q2 }).to_string(),
    )
    .unwrap();
    let (ok, out) = run(&["documents", "add", &path("bad.json")]);
    assert!(!ok && out.contains("not the SHA-256"), "{out}");
    let (ok, out) = run(&["documents", "remove", &DocumentHash::of(q1).hex()]);
    assert!(ok, "{out}");
    assert_eq!(out, "1 documents removed");
    let (ok, out) = run(&["documents", "list"]);
    assert!(ok && out.lines().count() == 2, "{out}");
    let (ok, _) = run(&["documents", "remove", "nothex"]);
    assert!(!ok);
    let _ = std::fs::remove_dir_all(dir);
}
