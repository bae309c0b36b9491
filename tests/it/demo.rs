//! `serve --demo`: two demo tenants with users, contacts and conversations; a working token
//! per user; idempotent.

use crate::common::{Reply, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_and_tokens() {
    let t = TestApp::new().await;
    let logins = tenantry::demo::seed(&t.app).await.unwrap();
    assert_eq!(logins.len(), 3);
    let again = tenantry::demo::seed(&t.app).await.unwrap();
    assert_eq!(again.len(), 3, "a second run reuses what exists");
    for login in &again {
        let body = t
            .gql(
                &login.token,
                "{ me { role tenant { slug } } tenantStats { contacts conversations messages } }",
            )
            .await;
        assert_eq!(body.data("me.tenant.slug"), login.tenant.as_str(), "{body}");
        assert_eq!(body.data("me.role"), login.role.as_str());
        let stats = &body.data("tenantStats");
        assert!(stats["contacts"].as_i64().unwrap() >= 2, "{body}");
        assert_eq!(
            stats["conversations"], stats["contacts"],
            "one conversation per contact, once"
        );
        assert_eq!(
            stats["messages"].as_i64(),
            stats["conversations"].as_i64().map(|n| n * 2)
        );
    }
}
