//! A real client: Apollo Client 3 under node (`tests/js/apollo.mjs`) drives the server over
//! TCP, seeded with the demo tenants: the feed query with variables, a mutation and a query
//! that sees it, errors with their `extensions.code`, and automatic persisted queries (the
//! hash alone, PERSISTED_QUERY_NOT_FOUND, the text, then the hash alone served) over GET
//! and POST, under Apollo Client 3's `Accept: */*` and under
//! `application/graphql-response+json`.

use crate::common::TestApp;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apollo_client_end_to_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/js/node_modules/@apollo/client").exists(),
        "tests/js/node_modules has no @apollo/client: run .ci/run, or: npm ci --prefix tests/js"
    );
    let t = TestApp::new().await;
    let logins = tenantry::demo::seed(&t.app).await.expect("demo");
    let token = |email: &str| {
        logins
            .iter()
            .find(|l| l.email == email && l.tenant == "acme")
            .unwrap_or_else(|| panic!("{email} in acme"))
            .token
            .clone()
    };
    let url = t.listen().await;

    let run = tokio::process::Command::new("node")
        .arg(root.join("tests/js/apollo.mjs"))
        .arg(format!("{url}/graphql"))
        .env("ALICE_TOKEN", token("alice@acme.test"))
        .env("VICTOR_TOKEN", token("victor@acme.test"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the Apollo Client test finishes within 2 minutes")
        .expect("node runs (install Node.js if it is missing)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/js/apollo.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("apollo: ok"), "{stdout}\n{stderr}");
    // Apollo's own warnings (deprecations, say) go to stderr.
    println!("{stdout}{stderr}");
}
