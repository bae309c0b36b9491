//! Login limits that protect without locking out: failures counted per client address
//! (refused past the limit, whichever accounts it tries) and per account (growing delays,
//! only for addresses that have been failing), successes not counted, the client address
//! from the trusted proxy header only (else the socket peer), and the counts shared by
//! every server process through PostgreSQL.

use crate::common::{client, first_code, Reply, TestApp};
use serde_json::{json, Value};
use tenantry::config::Config;

const LOGIN: &str = "mutation($e: String!, $p: String!, $t: String) {
    login(email: $e, password: $p, tenant: $t) { accessToken tenantId } }";
const PASSWORD: &str = "correct horse battery";

fn behind_proxy(c: &mut Config) {
    c.trusted_proxy_header = Some("X-Forwarded-For".into());
}

/// A login from `address` (as the trusted proxy reports it) through `router`.
async fn login_via(router: &axum::Router, address: &str, email: &str, password: &str) -> Value {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        // What a client sent, then what the proxy appended: only the last entry counts.
        .header("x-forwarded-for", format!("10.9.9.9, {address}"))
        .body(axum::body::Body::from(
            json!({ "query": LOGIN, "variables": { "e": email, "p": password, "t": "alpha" } })
                .to_string(),
        ))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

async fn login_from(t: &TestApp, address: &str, email: &str, password: &str) -> Value {
    login_via(&t.router, address, email, password).await
}

async fn with_owner(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let t = TestApp::with_config(|c| {
        behind_proxy(c);
        adjust(c);
    })
    .await;
    let a = t.tenant("alpha").await;
    t.app
        .platform()
        .set_password(a.owner, PASSWORD)
        .await
        .unwrap();
    t
}

fn ok(body: &Value) -> bool {
    body.data("login.accessToken").is_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_failing_1000_times_does_not_lock_the_owner_out() {
    let t = with_owner(|_| {}).await;
    let victim = "owner@alpha.test";
    // From one address, and from twenty others in turn.
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..1000 {
        let address = if i % 50 == 0 {
            format!("198.51.100.{}", 100 + i / 50)
        } else {
            "203.0.113.7".to_string()
        };
        let body = login_from(&t, &address, victim, &format!("guess {i}")).await;
        *codes.entry(first_code(&body).to_string()).or_default() += 1;
    }
    assert_eq!(codes.values().sum::<usize>(), 1000);
    assert!(
        codes
            .keys()
            .all(|c| c == "UNAUTHENTICATED" || c == "RATE_LIMITED"),
        "{codes:?}"
    );
    // Most guesses were refused before any password was checked.
    assert!(codes["RATE_LIMITED"] > 900, "{codes:?}");
    // The attacker's own address stays held back even with the right password…
    let body = login_from(&t, "203.0.113.7", victim, PASSWORD).await;
    assert_eq!(first_code(&body), "RATE_LIMITED", "{body}");
    // …while the owner, from an address that has not been failing, logs in at once.
    let started = std::time::Instant::now();
    let body = login_from(&t, "192.0.2.10", victim, PASSWORD).await;
    assert!(ok(&body), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_is_limited_across_accounts_and_successes_do_not_count() {
    let t = with_owner(|c| c.login_failures_per_address = 3).await;
    let x = "203.0.113.20";
    for _ in 0..6 {
        let body = login_from(&t, x, "owner@alpha.test", PASSWORD).await;
        assert!(ok(&body), "successful logins do not count: {body}");
    }
    // Three failures on three accounts (known or not) from one address…
    for email in ["a@nowhere.test", "b@nowhere.test", "owner@alpha.test"] {
        let body = login_from(&t, x, email, "a wrong guess").await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    }
    // …and it is refused, whatever the account and password.
    for email in ["c@nowhere.test", "owner@alpha.test"] {
        let body = login_from(&t, x, email, PASSWORD).await;
        assert_eq!(first_code(&body), "RATE_LIMITED", "{body}");
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("address"));
    }
    // Other addresses are not affected; an IPv6 client counts by its /64.
    let body = login_from(&t, "203.0.113.21", "owner@alpha.test", PASSWORD).await;
    assert!(ok(&body), "{body}");
    for i in 1..=3 {
        let body = login_from(&t, &format!("2001:db8:1:2::{i}"), "d@nowhere.test", "wrong").await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = login_from(&t, "2001:db8:1:2::99", "owner@alpha.test", PASSWORD).await;
    assert_eq!(first_code(&body), "RATE_LIMITED", "same /64: {body}");
    let body = login_from(&t, "2001:db8:1:3::1", "owner@alpha.test", PASSWORD).await;
    assert!(ok(&body), "another /64: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_delays_grow_for_failing_addresses_only() {
    let t = with_owner(|c| c.login_failures_per_account = 2).await;
    let victim = "Owner@Alpha.test";
    let x = "203.0.113.30";
    for _ in 0..2 {
        let body = login_from(&t, x, victim, "a wrong guess").await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    }
    let retry_in = |body: &Value| -> String {
        assert_eq!(first_code(body), "RATE_LIMITED", "{body}");
        body["errors"][0]["message"].as_str().unwrap().to_string()
    };
    let body = login_from(&t, x, victim, PASSWORD).await;
    assert!(retry_in(&body).ends_with("retry in 1 s"), "{body}");
    // A clean address is not held back by the account's failures.
    let body = login_from(&t, "192.0.2.30", victim, PASSWORD).await;
    assert!(ok(&body), "{body}");
    // After the delay the failing address may guess again; its next failure doubles it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let body = login_from(&t, x, victim, "another wrong guess").await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    let body = login_from(&t, x, victim, PASSWORD).await;
    assert!(retry_in(&body).ends_with("retry in 2 s"), "{body}");
    // The owner's right password from the once-failing address, after the delay: in, and
    // that address's failures on the account are forgiven.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let body = login_from(&t, x, victim, PASSWORD).await;
    assert!(ok(&body), "{body}");
    let c = client(&t.db.url).await;
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM login_failures WHERE address = '203.0.113.30'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // The table never holds the address typed in, only its hash.
    let typed: i64 = c
        .query_one(
            "SELECT count(*) FROM login_failures WHERE account ILIKE '%alpha%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(typed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_server_processes() {
    let t = with_owner(|c| c.login_failures_per_address = 2).await;
    // A second server process on the same database.
    let mut config = Config::for_database(t.db.url.clone());
    config.jwt_secret = t.app.config.jwt_secret.clone();
    behind_proxy(&mut config);
    config.login_failures_per_address = 2;
    let other = tenantry::app::App::start(config).await.unwrap();
    let other = tenantry::http::router(other);
    let x = "203.0.113.40";
    let body = login_from(&t, x, "owner@alpha.test", "wrong one").await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    let body = login_via(&other, x, "owner@alpha.test", "wrong two").await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    for router in [&t.router, &other] {
        let body = login_via(router, x, "owner@alpha.test", PASSWORD).await;
        assert_eq!(first_code(&body), "RATE_LIMITED", "{body}");
    }
    let body = login_via(&other, "203.0.113.41", "owner@alpha.test", PASSWORD).await;
    assert!(ok(&body), "{body}");
}

/// Without a trusted proxy header, the socket peer is the client address and a
/// client-sent `X-Forwarded-For` is ignored (as `serve` runs: with connect info).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_peer_is_the_address_without_a_trusted_header() {
    let t = TestApp::new().await;
    let base = t.listen().await;
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("x-forwarded-for", "198.51.100.77")
        .json(&json!({ "query": LOGIN, "variables": { "e": "nobody@nowhere.test", "p": "wrong" } }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    let c = client(&t.db.url).await;
    let addresses: Vec<String> = c
        .query("SELECT address FROM login_failures", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(addresses, ["127.0.0.1"]);
}
