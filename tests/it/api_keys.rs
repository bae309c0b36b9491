//! API keys: plan-gated, shown once and stored hashed, a bearer credential bound to its
//! tenant and capped at its role, revocable and expiring; tried across tenants and roles.

use crate::common::{client, first_code, on_citus, Reply, TestApp};
use serde_json::json;
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;

const CREATE: &str = "mutation($n: String!, $r: Role!, $e: DateTime) {
    createApiKey(name: $n, role: $r, expiresAt: $e) { secret apiKey { id name role } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_tenant_bound_role_capped_and_revocable() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.contact(&a.token, "Alpha contact").await;
    t.contact(&b.token, "Bravo contact").await;

    // Not on the basic plan.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            CREATE,
            json!({ "n": "ci", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FEATURE_NOT_ENABLED", "{body}");
    let platform = t.app.platform();
    platform.change_plan("alpha", Plan::Premium).await.unwrap();
    platform.change_plan("bravo", Plan::Premium).await.unwrap();

    // Only tenant managers create keys.
    let (_, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let (_, body) = t
        .post(
            Some(&member),
            &[],
            CREATE,
            json!({ "n": "ci", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            CREATE,
            json!({ "n": "reader", "r": "VIEWER" }),
        )
        .await;
    let reader = body
        .data("createApiKey.secret")
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    let reader_id = body
        .data("createApiKey.apiKey.id")
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            CREATE,
            json!({ "n": "writer", "r": "MEMBER" }),
        )
        .await;
    let writer = body
        .data("createApiKey.secret")
        .as_str()
        .unwrap()
        .to_string();

    // Only a hash is stored.
    let c = client(&t.db.url).await;
    let stored: i64 = c
        .query_one(
            "SELECT count(*) FROM api_keys WHERE token_hash = $1 OR name = $1",
            &[&reader],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "the secret is stored in clear");

    // The key reads its own tenant only, and writes only if its role allows.
    let body = t
        .gql(
            &reader,
            "{ contacts { edges { node { name } } } tenant { slug } }",
        )
        .await;
    assert_eq!(body.data("tenant.slug"), "alpha", "{body}");
    assert_eq!(
        body.data("contacts.edges")[0]["node"]["name"],
        "Alpha contact"
    );
    let (_, body) = t
        .post(
            Some(&reader),
            &[],
            "mutation { createContact(input: {name: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "a VIEWER key wrote: {body}");
    let (_, body) = t
        .post(
            Some(&writer),
            &[],
            "mutation { createContact(input: {name: \"By key\"}) { name } }",
            json!({}),
        )
        .await;
    assert_eq!(body.data("createContact.name"), "By key", "{body}");
    let b_id = b.id.to_string();
    let (status, body) = t
        .post(
            Some(&reader),
            &[("x-tenant-id", b_id.as_str())],
            "{ tenant { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), first_code(&body)),
        (403, "FORBIDDEN"),
        "{body}"
    );

    // A key cannot be made stronger than its creator; B cannot see or revoke A's keys.
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            CREATE,
            json!({ "n": "too strong", "r": "OWNER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let body = t.gql(&b.token, "{ apiKeys { name } }").await;
    assert_eq!(body.data("apiKeys"), &json!([]), "{body}");
    let (_, body) = t
        .post(
            Some(&b.token),
            &[],
            "mutation($id: ID!) { revokeApiKey(id: $id) { name } }",
            json!({ "id": reader_id }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

    // Revoked and expired keys are refused like any bad credential.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
            json!({ "id": reader_id }),
        )
        .await;
    assert!(body.data("revokeApiKey.revokedAt").is_string(), "{body}");
    let (status, body) = t
        .post(Some(&reader), &[], "{ tenant { slug } }", json!({}))
        .await;
    assert_eq!(
        (status.as_u16(), first_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            CREATE,
            json!({ "n": "old", "r": "VIEWER", "e": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let (status, _) = t
        .post(Some("tk_nonsense"), &[], "{ tenant { slug } }", json!({}))
        .await;
    assert_eq!(status, 401);

    // Keys stop with the plan feature.
    platform.change_plan("alpha", Plan::Basic).await.unwrap();
    let (_, body) = t
        .post(Some(&writer), &[], "{ tenant { slug } }", json!({}))
        .await;
    assert_eq!(first_code(&body), "FEATURE_NOT_ENABLED", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_api_key_stops_working_as_soon_as_it_is_revoked() {
    let t = TestApp::with_config(|c| c.tenant_cache_ttl_ms = 60_000).await;
    let a = t.tenant("alpha").await;
    t.app
        .platform()
        .change_plan("alpha", Plan::Premium)
        .await
        .unwrap();
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            CREATE,
            json!({ "n": "partner", "r": "VIEWER" }),
        )
        .await;
    let key = body
        .data("createApiKey.secret")
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    let id = body.data("createApiKey.apiKey.id").clone();
    let slug = || async {
        t.post(Some(&key), &[], "{ tenant { slug } }", json!({}))
            .await
            .1
    };
    assert_eq!(slug().await.data("tenant.slug"), "alpha");

    // The key is cached: a revocation PostgreSQL does not announce (triggers off) is not
    // seen for the cache's TTL...
    let c = client(&t.db.url).await;
    c.batch_execute(
        "SET session_replication_role = replica;
         UPDATE api_keys SET revoked_at = now();
         SET session_replication_role = origin;",
    )
    .await
    .unwrap();
    assert_eq!(slug().await.data("tenant.slug"), "alpha");

    // ...while an announced one (the revokeApiKey path, or any UPDATE) ends it at once. On
    // Citus the table's trigger fires on a worker, which does not announce: there the
    // revocation is announced by the server that makes it (db::notify::announce_tenancy),
    // and a change made by hand in SQL waits for the TTL (README "Tenantry on Citus").
    if on_citus() {
        c.batch_execute("UPDATE api_keys SET revoked_at = NULL")
            .await
            .unwrap();
        let (_, body) = t
            .post(
                Some(&a.token),
                &[],
                "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body.data("revokeApiKey.revokedAt").is_string(), "{body}");
    } else {
        c.batch_execute("UPDATE api_keys SET revoked_at = revoked_at")
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    loop {
        let body = slug().await;
        if first_code(&body) == "UNAUTHENTICATED" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "revoked key still works: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Creates a key with `role` as `token`; returns its secret.
async fn key(t: &TestApp, token: &str, role: &str) -> String {
    let (_, body) = t
        .post(Some(token), &[], CREATE, json!({ "n": role, "r": role }))
        .await;
    body.data("createApiKey.secret")
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_never_becomes_its_creators_session() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let platform = t.app.platform();
    platform
        .change_plan("alpha", Plan::Enterprise)
        .await
        .unwrap();
    // The owner of alpha also belongs to bravo and is a platform administrator.
    platform
        .set_membership(b.id, a.owner, Role::Owner)
        .await
        .unwrap();
    platform.set_platform_admin(a.owner, true).await.unwrap();
    let viewer_key = key(&t, &a.token, "VIEWER").await;

    // With the key: no token for another (or the same) tenant, no list of the creator's
    // tenants, no platform operation.
    for (query, field) in [
        (
            "mutation { switchTenant(tenant: \"bravo\") { accessToken } }",
            "switchTenant",
        ),
        (
            "mutation { switchTenant(tenant: \"alpha\") { accessToken } }",
            "switchTenant",
        ),
        ("{ myTenants { slug } }", "myTenants"),
        ("{ platformTenants { slug } }", "platformTenants"),
    ] {
        let (_, body) = t.post(Some(&viewer_key), &[], query, json!({})).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{query}: {body}");
        assert!(
            body["data"].is_null() || body["data"][field].is_null(),
            "{body}"
        );
    }
    // The creator's own token still can.
    let body = t.gql(&a.token, "{ myTenants { slug } }").await;
    assert_eq!(
        body.data("myTenants").as_array().unwrap().len(),
        2,
        "{body}"
    );

    // A key is capped at its role: its creator's custom-role permissions do not ride along.
    let (member_id, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { createCustomRole(name: \"Keys\", permissions: [TENANT_MANAGE, MEMBERS_MANAGE]) { id } }",
            json!({}),
        )
        .await;
    let role_id = body.data("createCustomRole.id").as_str().unwrap();
    let member_gid = tenantry::graphql::relay::global_id("User", member_id.0);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($m: ID!, $r: ID) { assignCustomRole(member: $m, role: $r) { email } }",
            json!({ "m": member_gid, "r": role_id }),
        )
        .await;
    assert!(body.data("assignCustomRole").is_object(), "{body}");
    let member_key = key(&t, &member, "MEMBER").await;
    let (_, body) = t
        .post(
            Some(&member_key),
            &[],
            CREATE,
            json!({ "n": "x", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = t
        .post(
            Some(&member_key),
            &[],
            "mutation { updateTenantSettings(input: {locale: \"de\"}) { locale } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
}
