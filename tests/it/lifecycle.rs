//! Operator lifecycle of a tenant (the platform path behind `tenantry tenant
//! suspend|reactivate|delete|purge`): what its requests get at each step, and that a purge
//! leaves no row of the tenant in any table while other tenants keep theirs.

use crate::common::{client, first_code, Reply, TestApp};
use tenantry::platform::lifecycle::Lifecycle;

const QUERY: &str = "{ contacts { totalCount } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_reactivate_delete_and_purge() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    for tenant in [&a, &b] {
        let contact = t.contact(&tenant.token, "Someone").await;
        let (_, body) = t
            .post(
                Some(&tenant.token),
                &[],
                "mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"Hi\", channel: CHAT, message: \"Hello\"}) { id } }",
                serde_json::json!({ "c": contact }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let platform = t.app.platform();

    platform
        .set_lifecycle("alpha", Lifecycle::Suspend)
        .await
        .unwrap();
    let body = t.gql(&a.token, QUERY).await;
    assert_eq!(first_code(&body), "TENANT_SUSPENDED", "{body}");
    // Wrong transitions are refused.
    let err = platform
        .set_lifecycle("alpha", Lifecycle::Suspend)
        .await
        .unwrap_err();
    assert_eq!(err.code.as_str(), "CONFLICT");
    let err = platform.purge("alpha").await.unwrap_err();
    assert_eq!(
        err.code.as_str(),
        "CONFLICT",
        "only a deleted tenant can be purged"
    );

    platform
        .set_lifecycle("alpha", Lifecycle::Reactivate)
        .await
        .unwrap();
    let body = t.gql(&a.token, QUERY).await;
    assert_eq!(body.data("contacts.totalCount"), 1, "{body}");

    platform
        .set_lifecycle("alpha", Lifecycle::Delete)
        .await
        .unwrap();
    let body = t.gql(&a.token, QUERY).await;
    assert_eq!(first_code(&body), "TENANT_NOT_FOUND", "{body}");

    // Rows are still there after the soft delete...
    let c = client(&t.db.url).await;
    let tables: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
              WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() >= 4, "{tables:?}");
    let rows_of = |tenant: uuid::Uuid| {
        let c = &c;
        let tables = tables.clone();
        async move {
            let mut total = 0i64;
            for table in &tables {
                let n: i64 = c
                    .query_one(
                        &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
                        &[&tenant],
                    )
                    .await
                    .unwrap()
                    .get(0);
                total += n;
            }
            total
        }
    };
    assert!(rows_of(a.id.0).await > 0);
    let b_before = rows_of(b.id.0).await;

    // ...and gone, in every table, after the purge; the tenant row too; B is untouched.
    let removed = platform.purge("alpha").await.unwrap();
    assert!(removed >= 5, "removed {removed}");
    assert_eq!(rows_of(a.id.0).await, 0);
    let n: i64 = c
        .query_one("SELECT count(*) FROM tenants WHERE id = $1", &[&a.id.0])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert_eq!(rows_of(b.id.0).await, b_before);
    let body = t
        .gql(
            &b.token,
            "{ tenantStats { contacts conversations messages } }",
        )
        .await;
    assert_eq!(body.data("tenantStats.messages"), 1, "{body}");
}
