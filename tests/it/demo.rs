//! `serve --demo`: two demo tenants with users, contacts and conversations; a working token
//! and password per user (one user in both tenants, for switching); idempotent.

use crate::common::{Reply, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_and_tokens() {
    let t = TestApp::new().await;
    let logins = tenantry::demo::seed(&t.app).await.unwrap();
    assert_eq!(logins.len(), 4, "alice twice (acme, globex), victor, bob");
    let again = tenantry::demo::seed(&t.app).await.unwrap();
    assert_eq!(again.len(), 4, "a second run reuses what exists");
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

/// Each demo user signs in with the printed password; alice, without naming a tenant,
/// lands in acme (the demo makes each user's first tenant their last used one), sees both
/// tenants and switches to globex, where her next login without a tenant lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_users_sign_in_with_the_demo_password() {
    let t = TestApp::new().await;
    let logins = tenantry::demo::seed(&t.app).await.unwrap();
    let login = "mutation($email: String!, $password: String!, $tenant: String) {
        login(email: $email, password: $password, tenant: $tenant) { accessToken } }";
    let (_, body) = t
        .post(
            None,
            &[],
            login,
            json!({ "email": "alice@acme.test", "password": tenantry::demo::DEMO_PASSWORD }),
        )
        .await;
    let token = body.data("login.accessToken").as_str().expect("a token");
    let mine = t
        .gql(token, "{ me { tenant { slug } } myTenants { slug } }")
        .await;
    assert_eq!(mine.data("me.tenant.slug"), "acme", "{mine}");
    let slugs: Vec<&str> = mine
        .data("myTenants")
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs.len(), 2, "{mine}");
    assert!(
        slugs.contains(&"acme") && slugs.contains(&"globex"),
        "{mine}"
    );
    let switched = t
        .gql(
            token,
            r#"mutation { switchTenant(tenant: "globex") { accessToken } }"#,
        )
        .await;
    let token = switched
        .data("switchTenant.accessToken")
        .as_str()
        .expect("switched");
    let me = t.gql(token, "{ me { role tenant { slug } } }").await;
    assert_eq!(me.data("me.tenant.slug"), "globex", "{me}");
    assert_eq!(me.data("me.role"), "MEMBER", "{me}");

    let (_, body) = t
        .post(
            None,
            &[],
            login,
            json!({ "email": "alice@acme.test", "password": tenantry::demo::DEMO_PASSWORD }),
        )
        .await;
    let token = body.data("login.accessToken").as_str().expect("a token");
    let me = t.gql(token, "{ me { tenant { slug } } }").await;
    assert_eq!(me.data("me.tenant.slug"), "globex", "last used: {me}");

    for demo in &logins {
        assert_eq!(demo.password, tenantry::demo::DEMO_PASSWORD);
        let (_, body) = t
            .post(
                None,
                &[],
                login,
                json!({ "email": demo.email, "password": demo.password, "tenant": demo.tenant }),
            )
            .await;
        let token = body.data("login.accessToken").as_str().expect("a token");
        let me = t.gql(token, "{ me { role tenant { slug } } }").await;
        assert_eq!(me.data("me.tenant.slug"), demo.tenant.as_str(), "{me}");
        assert_eq!(me.data("me.role"), demo.role.as_str(), "{me}");
    }

    let (_, wrong) = t
        .post(
            None,
            &[],
            login,
            json!({ "email": "alice@acme.test", "password": "not-the-password" }),
        )
        .await;
    assert_eq!(wrong.code(), "UNAUTHENTICATED", "{wrong}");
}
