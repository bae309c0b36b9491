//! Plans, features, quotas and permissions: enforced by the guards declared as
//! `@requiresFeature` / `@requiresPermission`, visible in the schema, and tested across
//! tenants and roles.

use crate::common::{first_code, Reply, TestApp};
use serde_json::json;
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;

const SEARCH: &str = r#"{ searchMessages(query: "hello") { edges { node { body } } } }"#;
const TOGGLE: &str =
    "mutation($f: Feature!, $on: Boolean!) { setFeatureEnabled(feature: $f, enabled: $on) {
    plan features { feature included enabled } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_follow_the_plan_and_the_tenants_switches() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let platform = t.app.platform();

    // Basic has no full-text search: the error names the feature.
    let body = t.gql(&a.token, SEARCH).await;
    assert_eq!(first_code(&body), "FEATURE_NOT_ENABLED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("full_text_search"));
    // Switching on a feature outside the plan is refused too.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            TOGGLE,
            json!({ "f": "FULL_TEXT_SEARCH", "on": true }),
        )
        .await;
    assert_eq!(first_code(&body), "FEATURE_NOT_ENABLED", "{body}");

    platform.change_plan("alpha", Plan::Premium).await.unwrap();
    let body = t.gql(&a.token, SEARCH).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = t
        .gql(
            &a.token,
            "{ tenant { plan quotas { members contacts requestsPerMinute } } }",
        )
        .await;
    assert_eq!(body.data("tenant.plan"), "PREMIUM", "{body}");
    assert_eq!(body.data("tenant.quotas.contacts"), 100000);

    // The tenant switches the module off and on again, within its plan.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            TOGGLE,
            json!({ "f": "FULL_TEXT_SEARCH", "on": false }),
        )
        .await;
    let features = body
        .data("setFeatureEnabled.features")
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let fts = features
        .iter()
        .find(|f| f["feature"] == "FULL_TEXT_SEARCH")
        .unwrap();
    assert_eq!(
        (fts["included"].as_bool(), fts["enabled"].as_bool()),
        (Some(true), Some(false))
    );
    let body = t.gql(&a.token, SEARCH).await;
    assert_eq!(
        first_code(&body),
        "FEATURE_NOT_ENABLED",
        "switched off: {body}"
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            TOGGLE,
            json!({ "f": "FULL_TEXT_SEARCH", "on": true }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(t.gql(&a.token, SEARCH).await["errors"].is_null());

    // Another tenant's switches and plan are its own.
    let body = t
        .gql(&b.token, "{ tenant { plan features { feature enabled } } }")
        .await;
    assert_eq!(body.data("tenant.plan"), "BASIC", "{body}");
    assert!(body
        .data("tenant.features")
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["enabled"] == false));

    // Only a role with tenant:manage may switch modules; the error names the permission.
    let (_, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let (_, body) = t
        .post(
            Some(&member),
            &[],
            TOGGLE,
            json!({ "f": "FULL_TEXT_SEARCH", "on": false }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("tenant:manage"),
        "{body}"
    );
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            TOGGLE,
            json!({ "f": "DATA_EXPORT", "on": false }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_growth_and_downgrades() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    // Fill the basic plan's 1,000 contacts (as the owner role would, in SQL, for speed).
    // (The SET LOCAL in a batch of its own: Citus re-runs a SET's whole batch on the workers.)
    let c = crate::common::client(&t.db.url).await;
    c.batch_execute(&format!("BEGIN; SET LOCAL app.tenant_id = '{}'", a.id))
        .await
        .unwrap();
    c.batch_execute(&format!(
        "INSERT INTO contacts (tenant_id, id, name) SELECT '{}', gen_random_uuid(), 'Filler ' || n FROM generate_series(1, 999) n;
         COMMIT;",
        a.id
    ))
    .await
    .unwrap();
    t.contact(&a.token, "The thousandth").await;
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { createContact(input: {name: \"One too many\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "QUOTA_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("contacts quota of 1000"),
        "{body}"
    );

    // On premium there is room; a downgrade back to basic with 1,001 contacts is refused.
    let platform = t.app.platform();
    platform.change_plan("alpha", Plan::Premium).await.unwrap();
    t.contact(&a.token, "Now it fits").await;
    let err = platform
        .change_plan("alpha", Plan::Basic)
        .await
        .unwrap_err();
    assert_eq!(err.code.as_str(), "QUOTA_EXCEEDED");
    assert!(err.message.contains("contacts"), "{}", err.message);
    let body = t.gql(&a.token, "{ tenant { plan } }").await;
    assert_eq!(
        body.data("tenant.plan"),
        "PREMIUM",
        "the refused downgrade changed nothing"
    );
}

#[test]
fn the_schema_shows_features_and_permissions() {
    let sdl = tenantry::schema::sdl();
    assert!(sdl.contains("directive @requiresFeature(feature: Feature!) on FIELD_DEFINITION"));
    assert!(
        sdl.contains("directive @requiresPermission(permission: Permission!) on FIELD_DEFINITION")
    );
    assert!(
        sdl.contains("@requiresFeature(feature: FULL_TEXT_SEARCH)"),
        "searchMessages is gated"
    );
    assert!(sdl.contains("@requiresPermission(permission: TENANT_MANAGE)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_follow_the_plan_per_tenant() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    // Basic: 600 requests per minute, per tenant (a burst of 600, refilled one per 100 ms).
    let start = std::time::Instant::now();
    let mut allowed = 0u64;
    let refused = loop {
        let body = t.gql(&a.token, "{ tenant { slug } }").await;
        if body["errors"].is_null() {
            allowed += 1;
            assert!(allowed < 2000, "never limited");
        } else {
            break body;
        }
    };
    let refilled = start.elapsed().as_millis() as u64 / 100 + 1;
    assert!(
        (600..=600 + refilled).contains(&allowed),
        "allowed {allowed}, refilled {refilled}"
    );
    assert_eq!(first_code(&refused), "RATE_LIMITED", "{refused}");
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("600 requests per minute"));
    // Another tenant has its own budget; introspection costs none.
    assert!(t.gql(&b.token, "{ tenant { slug } }").await["errors"].is_null());
    assert!(t.gql(&a.token, "{ __typename }").await["errors"].is_null());
    // Enterprise has no limit.
    t.app
        .platform()
        .change_plan("alpha", Plan::Enterprise)
        .await
        .unwrap();
    assert!(t.gql(&a.token, "{ tenant { slug } }").await["errors"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_roles_add_permissions_within_the_plan_and_tenant() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let (member_id, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let member_gid = tenantry::graphql::relay::global_id("User", member_id.0);
    let settings = "mutation { updateTenantSettings(input: {locale: \"de\"}) { locale } }";
    let create = "mutation { createCustomRole(name: \"Settings editor\", permissions: [TENANT_MANAGE]) { id name permissions } }";

    let (_, body) = t.post(Some(&a.token), &[], create, json!({})).await;
    assert_eq!(
        first_code(&body),
        "FEATURE_NOT_ENABLED",
        "basic has no custom roles: {body}"
    );
    t.app
        .platform()
        .change_plan("alpha", Plan::Enterprise)
        .await
        .unwrap();
    let (_, body) = t.post(Some(&a.token), &[], create, json!({})).await;
    assert_eq!(
        body.data("createCustomRole.permissions"),
        &json!(["TENANT_MANAGE"]),
        "{body}"
    );
    let role_id = body
        .data("createCustomRole.id")
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = t.post(Some(&a.token), &[], create, json!({})).await;
    assert_eq!(first_code(&body), "CONFLICT", "duplicate name: {body}");
    // The named constraint (custom_roles_tenant_id_name_key) names the field at fault.
    assert_eq!(body.error_field(), Some("name"), "{body}");

    // Before the custom role the member may not change settings; after, it may.
    let (_, body) = t.post(Some(&member), &[], settings, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let assign = "mutation($m: ID!, $r: ID) { assignCustomRole(member: $m, role: $r) { email } }";
    let (_, body) = t
        .post(
            Some(&member),
            &[],
            assign,
            json!({ "m": member_gid, "r": role_id }),
        )
        .await;
    assert_eq!(
        first_code(&body),
        "FORBIDDEN",
        "members:manage is needed to assign: {body}"
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            assign,
            json!({ "m": member_gid, "r": role_id }),
        )
        .await;
    assert_eq!(
        body.data("assignCustomRole.email"),
        "member@alpha.test",
        "{body}"
    );
    let (_, body) = t.post(Some(&member), &[], settings, json!({})).await;
    assert_eq!(body.data("updateTenantSettings.locale"), "de", "{body}");

    // Another tenant can neither see nor use A's role, nor reach A's member.
    t.app
        .platform()
        .change_plan("bravo", Plan::Enterprise)
        .await
        .unwrap();
    let body = t.gql(&b.token, "{ customRoles { name } }").await;
    assert_eq!(body.data("customRoles"), &json!([]), "{body}");
    let b_owner = tenantry::graphql::relay::global_id("User", b.owner.0);
    let (_, body) = t
        .post(
            Some(&b.token),
            &[],
            assign,
            json!({ "m": b_owner, "r": role_id }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "A's role in B: {body}");
    let (_, body) = t
        .post(
            Some(&b.token),
            &[],
            assign,
            json!({ "m": member_gid, "r": null }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "A's member from B: {body}");

    // Deleting: not from another tenant, not below members:manage; members keep their
    // built-in role.
    let delete = "mutation($id: ID!) { deleteCustomRole(id: $id) }";
    let (_, body) = t
        .post(Some(&b.token), &[], delete, json!({ "id": role_id }))
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    let (_, body) = t
        .post(Some(&member), &[], delete, json!({ "id": role_id }))
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = t
        .post(Some(&a.token), &[], delete, json!({ "id": role_id }))
        .await;
    assert_eq!(body.data("deleteCustomRole"), role_id.as_str(), "{body}");
    let (_, body) = t.post(Some(&member), &[], settings, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "the role is gone: {body}");
    assert_eq!(
        t.gql(&member, "{ me { role } }").await.data("me.role"),
        "MEMBER"
    );
    let (_, body) = t.post(Some(&a.token), &[], create, json!({})).await;
    let role_id = body
        .data("createCustomRole.id")
        .as_str()
        .unwrap()
        .to_string();
    t.post(
        Some(&a.token),
        &[],
        assign,
        json!({ "m": member_gid, "r": role_id }),
    )
    .await;
    let (_, body) = t.post(Some(&member), &[], settings, json!({})).await;
    assert!(body["errors"].is_null(), "re-assigned: {body}");

    // Without the plan feature the extra permission is gone.
    t.app
        .platform()
        .change_plan("alpha", Plan::Premium)
        .await
        .unwrap();
    let (_, body) = t.post(Some(&member), &[], settings, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
}
