//! Tenant lifecycle over GraphQL for platform administrators: refused to everyone else
//! (owners of tenants included), atomic provisioning, and the effect of each step on the
//! tenant's own requests.

use crate::common::{first_code, Reply, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_platform_admins_run_the_tenant_lifecycle() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let platform = t.app.platform();
    let admin_user = platform.create_user("root@platform.test").await.unwrap();
    platform.set_platform_admin(admin_user, true).await.unwrap();
    let admin = t.token(admin_user, None);

    let create = "mutation($s: String!, $n: String!, $o: String!, $p: Plan = BASIC) {
        createTenant(slug: $s, name: $n, ownerEmail: $o, plan: $p) { id slug status plan } }";
    let mutations = [
        (
            create,
            json!({ "s": "new", "n": "New", "o": "boss@new.test" }),
        ),
        (
            "mutation { updateTenant(tenant: \"alpha\", name: \"Renamed\") { name } }",
            json!({}),
        ),
        (
            "mutation { suspendTenant(tenant: \"alpha\") { status } }",
            json!({}),
        ),
        (
            "mutation { reactivateTenant(tenant: \"alpha\") { status } }",
            json!({}),
        ),
        (
            "mutation { deleteTenant(tenant: \"alpha\") { status } }",
            json!({}),
        ),
        (
            "mutation { changePlan(tenant: \"alpha\", plan: ENTERPRISE) { plan } }",
            json!({}),
        ),
        ("{ platformTenants { slug } }", json!({})),
    ];
    // A tenant's OWNER is not a platform administrator; nor is an anonymous caller.
    for (query, vars) in &mutations {
        let (_, body) = t.post(Some(&a.token), &[], query, vars.clone()).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{query}: {body}");
        let (_, body) = t.post(None, &[], query, vars.clone()).await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{query}: {body}");
    }
    assert_eq!(
        t.gql(&a.token, "{ tenant { name status } }")
            .await
            .data("tenant.name"),
        "alpha Inc"
    );

    // Provisioning is all or nothing: a bad owner email or a taken slug leaves nothing.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            create,
            json!({ "s": "half", "n": "Half", "o": "not-an-email" }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            create,
            json!({ "s": "alpha", "n": "Dup", "o": "dup@alpha.test" }),
        )
        .await;
    assert_eq!(first_code(&body), "CONFLICT", "{body}");
    assert!(
        platform.find_user("dup@alpha.test").await.is_err(),
        "a failed provision left its owner"
    );
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            create,
            json!({ "s": "new", "n": "New", "o": "boss@new.test", "p": "PREMIUM" }),
        )
        .await;
    assert_eq!(body.data("createTenant.plan"), "PREMIUM", "{body}");
    let boss = platform.find_user("boss@new.test").await.unwrap();
    let new_tenant = platform.find_tenant("new").await.unwrap();
    let boss_token = t.token(boss, Some(tenantry::ids::TenantId(new_tenant.id)));
    let body = t
        .gql(
            &boss_token,
            "{ me { role } tenant { plan features { feature enabled } } }",
        )
        .await;
    assert_eq!(body.data("me.role"), "OWNER", "{body}");

    // Each step shows in the tenant's own requests.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            "mutation { suspendTenant(tenant: \"alpha\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(body.data("suspendTenant.status"), "suspended", "{body}");
    assert_eq!(
        first_code(&t.gql(&a.token, "{ tenant { name } }").await),
        "TENANT_SUSPENDED"
    );
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            "mutation { suspendTenant(tenant: \"alpha\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "CONFLICT", "{body}");
    t.post(
        Some(&admin),
        &[],
        "mutation { reactivateTenant(tenant: \"alpha\") { status } }",
        json!({}),
    )
    .await;
    assert!(t.gql(&a.token, "{ tenant { name } }").await["errors"].is_null());
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            "{ platformTenants { slug status } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body.data("platformTenants").as_array().unwrap().len(),
        2,
        "{body}"
    );
    t.post(
        Some(&admin),
        &[],
        "mutation { deleteTenant(tenant: \"alpha\") { status } }",
        json!({}),
    )
    .await;
    assert_eq!(
        first_code(&t.gql(&a.token, "{ tenant { name } }").await),
        "TENANT_NOT_FOUND"
    );

    // An existing user, named in another case, becomes the owner: no second user.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            create,
            json!({ "s": "third", "n": "Third", "o": "Boss@NEW.test" }),
        )
        .await;
    assert_eq!(body.data("createTenant.status"), "active", "{body}");
    assert_eq!(platform.find_user("BOSS@new.TEST").await.unwrap(), boss);
    let third = platform.find_tenant("third").await.unwrap();
    // A UUID names the tenant by id.
    assert_eq!(
        platform
            .find_tenant(&third.id.to_string())
            .await
            .unwrap()
            .slug,
        "third"
    );
    let third_id = tenantry::ids::TenantId(third.id);
    assert!(platform.is_member(third_id, boss).await.unwrap());
    assert!(!platform.is_member(third_id, admin_user).await.unwrap());
}
