//! Tenantry on Citus (run with `TENANTRY_TEST_CITUS=1` on the local cluster that
//! `tenantry dev citus up` also makes): the catalog distributes every tenant table, the
//! runtime role fails closed on a worker reached directly, and a tenant moves between
//! workers while a client keeps writing. On one PostgreSQL server these tests check that
//! the migrations distributed nothing.

use crate::common::{citus, client, first_code, on_citus, Reply, TestApp};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Every table with a `tenant_id` column: the tenant tables.
async fn tenant_tables(url: &str) -> BTreeSet<String> {
    let c = client(url).await;
    c.query(
        "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
            AND a.attname = 'tenant_id' AND NOT a.attisdropped",
        &[],
    )
    .await
    .expect("tenant tables")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_is_distributed_by_tenant_id_and_co_located() {
    let t = TestApp::new().await;
    let c = client(&t.db.url).await;
    let has_citus = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
            &[],
        )
        .await
        .expect("query")
        .get::<_, bool>(0);
    assert_eq!(has_citus, on_citus(), "the suite's cluster and the catalog disagree");
    if !on_citus() {
        // One server: the Citus migration changed the policies only; no Citus catalog.
        let dist = c
            .query_opt("SELECT 1 FROM pg_class WHERE relname = 'pg_dist_partition'", &[])
            .await
            .expect("query");
        assert!(dist.is_none());
        return;
    }
    let tables = tenant_tables(&t.db.url).await;
    assert!(tables.len() >= 12, "{tables:?}");
    let rows = c
        .query(
            "SELECT logicalrelid::regclass::text, partmethod::text,
                    coalesce(column_to_column_name(logicalrelid, partkey), ''), colocationid
               FROM pg_dist_partition",
            &[],
        )
        .await
        .expect("pg_dist_partition");
    let mut colocation = BTreeSet::new();
    for table in &tables {
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == *table)
            .unwrap_or_else(|| panic!("tenant table {table} is not distributed"));
        assert_eq!(row.get::<_, String>(1), "h", "{table} is not hash-distributed");
        assert_eq!(row.get::<_, String>(2), "tenant_id", "{table}: wrong column");
        colocation.insert(row.get::<_, i32>(3));
    }
    assert_eq!(colocation.len(), 1, "tenant tables not co-located: {colocation:?}");
    for global in ["tenants", "users"] {
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == global)
            .unwrap_or_else(|| panic!("{global} is not a reference table"));
        assert_eq!(row.get::<_, String>(1), "n", "{global} is not a reference table");
    }
    // Functions and roles exist on every worker, and the runtime roles may log in there.
    let cluster = citus().await.expect("cluster");
    for worker in cluster.workers() {
        let w = client(&worker.url(&t.db.name)).await;
        let row = w
            .query_one(
                "SELECT to_regprocedure('app.current_tenant_id()') IS NOT NULL,
                        (SELECT bool_and(rolcanlogin) FROM pg_roles
                          WHERE rolname IN ('tenantry_app', 'tenantry_auth', 'tenantry_audit', 'tenantry_meter'))",
                &[],
            )
            .await
            .expect("worker catalog");
        assert!(row.get::<_, bool>(0), "app functions missing on a worker");
        assert!(row.get::<_, bool>(1), "runtime roles cannot log in on a worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_role_fails_closed_on_a_worker_reached_directly() {
    if !on_citus() {
        return;
    }
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    for i in 0..6 {
        t.contact(&a.token, &format!("Alpha {i}")).await;
        t.contact(&b.token, &format!("Bravo {i}")).await;
    }
    let cluster = citus().await.expect("cluster");
    let coordinator = client(&t.db.url).await;
    for worker in cluster.workers() {
        let (_, port) = worker.address();
        let shards: Vec<String> = coordinator
            .query(
                "SELECT shard_name FROM citus_shards WHERE table_name = 'contacts'::regclass AND nodeport = $1",
                &[&i32::from(port)],
            )
            .await
            .expect("shards")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!shards.is_empty(), "no contacts shard on worker {port}");
        let w = client(&worker.url_as("tenantry_app", &t.db.name)).await;
        // No tenant set: nothing, through the distributed table or any shard.
        w.batch_execute("BEGIN").await.expect("begin");
        let n: i64 = w
            .query_one("SELECT count(*) FROM contacts", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, 0, "rows visible with no tenant on worker {port}");
        for shard in &shards {
            let n: i64 = w
                .query_one(&format!("SELECT count(*) FROM {shard}"), &[])
                .await
                .expect("count shard")
                .get(0);
            assert_eq!(n, 0, "rows of {shard} visible with no tenant");
        }
        w.batch_execute("ROLLBACK").await.expect("rollback");
        // Tenant A set: A's rows only, wherever they are; B's are refused on insert.
        w.batch_execute(&format!("BEGIN; SET LOCAL app.tenant_id = '{}'", a.id.0))
            .await
            .expect("set tenant");
        let names: Vec<String> = w
            .query("SELECT name FROM contacts", &[])
            .await
            .expect("select")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("Alpha")), "{names:?}");
        let refused = w
            .batch_execute(&format!(
                "INSERT INTO contacts (tenant_id, id, name) VALUES ('{}', gen_random_uuid(), 'Planted')",
                b.id.0
            ))
            .await
            .expect_err("a row for another tenant was accepted");
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{refused}"
        );
        w.batch_execute("ROLLBACK").await.expect("rollback");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_refused_on_citus_with_a_clear_message() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let base = t.listen().await;
    let reply =
        crate::subscriptions::first_reply(&base, &a.token, "subscription { contactChanged { id } }")
            .await;
    if on_citus() {
        assert_eq!(first_code(&reply), "SERVICE_UNAVAILABLE", "{reply}");
        assert!(reply.to_string().contains("Citus"), "{reply}");
    } else {
        assert!(reply.get("errors").is_none(), "{reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moves_between_workers_while_a_client_keeps_writing() {
    if !on_citus() {
        return;
    }
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    for i in 0..20 {
        t.contact(&a.token, &format!("Before {i}")).await;
        t.contact(&b.token, &format!("Bravo {i}")).await;
    }
    let platform = t.app.platform();
    platform.isolate_tenant("alpha").await.expect("isolate");
    let node_of = |placements: &[tenantry::platform::placement::TenantPlacement], slug: &str| {
        placements
            .iter()
            .find(|p| p.slug == slug)
            .map(|p| p.node_id)
            .unwrap_or_else(|| panic!("{slug} not placed"))
    };
    let before = platform.largest_tenants(100).await.expect("placements");
    let from = node_of(&before, "alpha");
    let bravo_node = node_of(&before, "bravo");
    let nodes = platform.cluster_nodes().await.expect("nodes");
    let to = nodes
        .iter()
        .find(|n| n.role == "worker" && n.node_id != from)
        .expect("another worker")
        .node_id;

    let moving = AtomicBool::new(true);
    let writer = async {
        let (mut acknowledged, mut refused, mut other_ok) = (Vec::new(), Vec::new(), 0);
        let mut i = 0;
        // Keep writing while the move runs, and a little after.
        let mut after = 0;
        while after < 10 {
            if !moving.load(Ordering::SeqCst) {
                after += 1;
            }
            i += 1;
            let (_, body) = t
                .post(
                    Some(&a.token),
                    &[],
                    "mutation($name: String!) { createContact(input: {name: $name}) { id } }",
                    serde_json::json!({ "name": format!("During {i}") }),
                )
                .await;
            match body["data"]["createContact"]["id"].as_str() {
                Some(id) => acknowledged.push(id.to_string()),
                None => refused.push(first_code(&body).to_string()),
            }
            let other = t.gql(&b.token, "{ contacts { totalCount } }").await;
            assert_eq!(other.data("contacts.totalCount"), 20, "{other}");
            other_ok += 1;
        }
        (acknowledged, refused, other_ok)
    };
    let mover = async {
        let moved = platform.move_tenant("alpha", &to.to_string()).await;
        moving.store(false, Ordering::SeqCst);
        moved
    };
    let ((acknowledged, refused, other_ok), moved) = tokio::join!(writer, mover);
    let (moved_from, moved_to, together) = moved.expect("move");
    assert_eq!((moved_from, moved_to, together), (from, to, 1));
    assert!(acknowledged.len() >= 10, "too few writes: {}", acknowledged.len());
    assert!(
        refused.iter().all(|c| *c == "SERVICE_UNAVAILABLE"),
        "refused with other codes: {refused:?}"
    );
    assert!(refused.len() <= 3, "refused too often: {refused:?}");
    assert!(other_ok > 0);

    // Every acknowledged write is there, on the new node; bravo stayed where it was.
    let body = t
        .gql(&a.token, "{ contacts(first: 500) { totalCount edges { node { id } } } }")
        .await;
    let ids: BTreeSet<&str> = body.data("contacts.edges")
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id"))
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(id.as_str()), "acknowledged write {id} lost");
    }
    assert_eq!(body.data("contacts.totalCount"), 20 + acknowledged.len());
    let after = platform.largest_tenants(100).await.expect("placements");
    assert_eq!(node_of(&after, "alpha"), to);
    assert_eq!(node_of(&after, "bravo"), bravo_node);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
