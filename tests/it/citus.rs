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
    assert_eq!(
        has_citus,
        on_citus(),
        "the suite's cluster and the catalog disagree"
    );
    if !on_citus() {
        // One server: the Citus migration changed the policies only; no Citus catalog.
        let dist = c
            .query_opt(
                "SELECT 1 FROM pg_class WHERE relname = 'pg_dist_partition'",
                &[],
            )
            .await
            .expect("query");
        assert!(dist.is_none());
        return;
    }
    let tables = tenant_tables(&t.db.url).await;
    assert!(tables.len() >= 12, "{tables:?}");
    // No RESTRICTIVE policy: Citus 13.2 hands one to the shards and the workers as a
    // permissive policy, which would widen what it was written to narrow.
    let restrictive: Vec<String> = c
        .query(
            "SELECT polrelid::regclass::text || '.' || polname FROM pg_policy WHERE NOT polpermissive",
            &[],
        )
        .await
        .expect("pg_policy")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        restrictive.is_empty(),
        "restrictive policies are made permissive on the shards by Citus: {restrictive:?}"
    );
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
        assert_eq!(
            row.get::<_, String>(1),
            "h",
            "{table} is not hash-distributed"
        );
        assert_eq!(
            row.get::<_, String>(2),
            "tenant_id",
            "{table}: wrong column"
        );
        colocation.insert(row.get::<_, i32>(3));
    }
    assert_eq!(
        colocation.len(),
        1,
        "tenant tables not co-located: {colocation:?}"
    );
    for global in ["tenants", "users"] {
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == global)
            .unwrap_or_else(|| panic!("{global} is not a reference table"));
        assert_eq!(
            row.get::<_, String>(1),
            "n",
            "{global} is not a reference table"
        );
    }
    // Functions and roles exist on every worker, and the runtime roles may log in there.
    let cluster = citus().await.expect("cluster");
    for worker in cluster.workers() {
        let w = client(&worker.url(&t.db.name)).await;
        let row = w
            .query_one(
                "SELECT to_regprocedure('app.current_tenant_id()') IS NOT NULL
                        AND to_regprocedure('app.is_member(uuid, uuid)') IS NOT NULL
                        AND to_regprocedure('app.shares_current_tenant(uuid)') IS NOT NULL
                        AND to_regprocedure('app.current_user_email()') IS NOT NULL
                        AND to_regprocedure('app.is_coordinator()') IS NOT NULL
                        AND to_regprocedure('app.null_references()') IS NOT NULL
                        AND to_regprocedure('app.audit_append(uuid, text, text, text, jsonb, jsonb)') IS NOT NULL,
                        (SELECT bool_and(rolcanlogin) FROM pg_roles
                          WHERE rolname IN ('tenantry_app', 'tenantry_auth', 'tenantry_audit', 'tenantry_meter'))",
                &[],
            )
            .await
            .expect("worker catalog");
        assert!(row.get::<_, bool>(0), "app functions missing on a worker");
        assert!(
            row.get::<_, bool>(1),
            "runtime roles cannot log in on a worker"
        );
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
    let reply = crate::subscriptions::first_reply(
        &base,
        &a.token,
        "subscription { contactChanged { id } }",
    )
    .await;
    if on_citus() {
        assert_eq!(first_code(&reply), "SERVICE_UNAVAILABLE", "{reply}");
        assert!(reply.to_string().contains("Citus"), "{reply}");
    } else {
        assert!(reply.get("errors").is_none(), "{reply}");
    }
}

/// Removes what a shard move abandoned by an earlier run (its test database is gone or
/// going) left on the nodes: replication slots, subscriptions and their roles belong to a
/// whole server, and every test database is a copy of one template, so a new move would
/// reuse their names.
async fn clean_abandoned_moves() {
    let cluster = citus().await.expect("cluster");
    for node in cluster.nodes() {
        let c = client(&node.url("postgres")).await;
        let subscriptions: Vec<(String, String)> = c
            .query(
                "SELECT s.subname::text, d.datname::text FROM pg_subscription s
                   JOIN pg_database d ON d.oid = s.subdbid WHERE s.subname LIKE 'citus_shard_move%'",
                &[],
            )
            .await
            .expect("subscriptions")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (subscription, database) in subscriptions {
            let d = client(&node.url(&database)).await;
            let _ = d
                .batch_execute(&format!(
                    "ALTER SUBSCRIPTION {subscription} DISABLE;
                     ALTER SUBSCRIPTION {subscription} SET (slot_name = NONE);
                     DROP SUBSCRIPTION {subscription}"
                ))
                .await;
        }
        let _ = c
            .batch_execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                  WHERE NOT active AND slot_name LIKE 'citus%'",
            )
            .await;
        let roles: Vec<String> = c
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'citus_shard_move_subscription_role%'",
                &[],
            )
            .await
            .expect("roles")
            .iter()
            .map(|r| r.get(0))
            .collect();
        for role in roles {
            let _ = c.batch_execute(&format!("DROP ROLE \"{role}\"")).await;
        }
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
    for slug in ["alpha", "bravo"] {
        // No request-rate limit: the client writes as fast as it can for the whole move.
        platform
            .change_plan(slug, tenantry::auth::plans::Plan::Enterprise)
            .await
            .expect("plan");
    }
    platform.isolate_tenant("alpha").await.expect("isolate");
    clean_abandoned_moves().await;
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

    let unforced_before = unforced_tables(&t.db.name).await;
    assert!(
        !unforced_before.iter().any(|t| t.contains("contacts")),
        "{unforced_before:?}"
    );
    let moving = AtomicBool::new(true);
    let writer = async {
        let (mut acknowledged, mut refused, mut other_ok) = (Vec::new(), Vec::new(), 0);
        let mut during = 0;
        let mut i = 0;
        // Keep writing while the move runs, and a little after.
        let mut after = 0;
        // Bounded: a move that never finishes fails the test instead of hanging it.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while after < 10 {
            assert!(
                std::time::Instant::now() < deadline,
                "the move did not finish within two minutes of writes"
            );
            if !moving.load(Ordering::SeqCst) {
                after += 1;
            }
            i += 1;
            let sent_during = moving.load(Ordering::SeqCst);
            let (_, body) = t
                .post(
                    Some(&a.token),
                    &[],
                    "mutation($name: String!) { createContact(input: {name: $name}) { id } }",
                    serde_json::json!({ "name": format!("During {i}") }),
                )
                .await;
            match body["data"]["createContact"]["id"].as_str() {
                Some(_) => {
                    // Answered while the move still ran: the online move let it through
                    // rather than holding it until the copy ended.
                    if sent_during && moving.load(Ordering::SeqCst) {
                        during += 1;
                    }
                    acknowledged.push(format!("During {i}"));
                }
                None => refused.push(first_code(&body).to_string()),
            }
            let other = t.gql(&b.token, "{ contacts { totalCount } }").await;
            assert_eq!(other.data("contacts.totalCount"), 20, "{other}");
            other_ok += 1;
        }
        (acknowledged, refused, other_ok, during)
    };
    let mover = async {
        let moved = platform.move_tenant("alpha", &to.to_string()).await;
        moving.store(false, Ordering::SeqCst);
        moved
    };
    let ((acknowledged, refused, other_ok, during), moved) = tokio::join!(writer, mover);
    // The copy and the catch-up take seconds; writes go on through them (force_logical),
    // and only the switch-over holds them briefly.
    assert!(
        during >= 5,
        "only {during} writes were answered while the move ran"
    );
    let moved = moved.expect("move");
    assert_eq!(
        moved,
        tenantry::platform::placement::Moved {
            from,
            to,
            tenants: 1,
            online: true
        }
    );
    assert!(
        acknowledged.len() >= 10,
        "too few writes: {}",
        acknowledged.len()
    );
    assert!(
        refused.iter().all(|c| *c == "SERVICE_UNAVAILABLE"),
        "refused with other codes: {refused:?}"
    );
    assert!(refused.len() <= 3, "refused too often: {refused:?}");
    assert!(other_ok > 0);

    // Every acknowledged write is there (read as the runtime role), on the new node; bravo
    // stayed where it was.
    let c = crate::common::as_runtime_role(&t.db.url, a.id).await;
    let names: BTreeSet<String> = c
        .query("SELECT name FROM contacts WHERE tenant_id = $1", &[&a.id.0])
        .await
        .expect("names")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|name| !names.contains(*name))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost: {lost:?} of {} ({during} during the move)",
        acknowledged.len()
    );
    let body = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(
        body.data("contacts.totalCount"),
        20 + acknowledged.len(),
        "{body}"
    );
    let after = platform.largest_tenants(100).await.expect("placements");
    assert_eq!(node_of(&after, "alpha"), to);
    assert_eq!(node_of(&after, "bravo"), bravo_node);
    // FORCE ROW LEVEL SECURITY stayed on throughout (the move's subscription role is let
    // through instead, see placement::let_subscriptions_apply): every node, the new shards
    // included, has the same tables without it as before, and Citus's role is gone.
    assert_eq!(unforced_tables(&t.db.name).await, unforced_before);
    for node in citus().await.expect("citus").nodes() {
        let c = client(&node.url("postgres")).await;
        let left: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'citus_shard_move_subscription_role%'",
                &[],
            )
            .await
            .expect("roles")
            .get(0);
        assert_eq!(
            left,
            0,
            "the move's subscription role outlived it on {:?}",
            node.address()
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_blocks_writes_instead_when_a_worker_commits_asynchronously() {
    if !on_citus() {
        return;
    }
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let _b = t.tenant("bravo").await;
    for i in 0..5 {
        t.contact(&a.token, &format!("Before {i}")).await;
    }
    let platform = t.app.platform();
    platform.isolate_tenant("alpha").await.expect("isolate");
    clean_abandoned_moves().await;
    // This database only: new sessions on every worker commit asynchronously.
    let set = |value: &'static str| {
        let db = t.db.name.clone();
        async move {
            for node in citus().await.expect("citus").nodes().skip(1) {
                let c = client(&node.url("postgres")).await;
                c.batch_execute(&format!(
                    "SET citus.enable_ddl_propagation = off; ALTER DATABASE \"{db}\" SET synchronous_commit = {value}"
                ))
                .await
                .expect("alter database");
            }
        }
    };
    set("off").await;
    let before = platform.largest_tenants(100).await.expect("placements");
    let from = before
        .iter()
        .find(|p| p.slug == "alpha")
        .expect("alpha")
        .node_id;
    let nodes = platform.cluster_nodes().await.expect("nodes");
    let to = nodes
        .iter()
        .find(|n| n.role == "worker" && n.node_id != from)
        .expect("another worker")
        .node_id;
    let moved = platform.move_tenant("alpha", &to.to_string()).await;
    set("DEFAULT").await;
    let moved = moved.expect("move");
    assert_eq!((moved.from, moved.to, moved.online), (from, to, false));
    let body = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(body.data("contacts.totalCount"), 5, "{body}");

    // A role other than the mover's, asynchronous in this database only, on every worker
    // (the server may log in as it): `SHOW` does not see it, the move must all the same.
    let role = |sql: &'static str| {
        let db = t.db.name.clone();
        async move {
            for node in citus().await.expect("citus").nodes().skip(1) {
                let c = client(&node.url("postgres")).await;
                c.batch_execute(&sql.replace("{db}", &db))
                    .await
                    .expect("role setting");
            }
        }
    };
    role(
        "SET citus.enable_ddl_propagation = off;
         DO $$ BEGIN CREATE ROLE tenantry_async_probe; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         ALTER ROLE tenantry_async_probe IN DATABASE \"{db}\" SET synchronous_commit = off",
    )
    .await;
    let moved = platform.move_tenant("alpha", &from.to_string()).await;
    role(
        "SET citus.enable_ddl_propagation = off;
         ALTER ROLE tenantry_async_probe IN DATABASE \"{db}\" RESET ALL",
    )
    .await;
    let moved = moved.expect("move back");
    assert_eq!((moved.from, moved.to, moved.online), (to, from, false));
    let body = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(body.data("contacts.totalCount"), 5, "{body}");
}

/// The tables with row-level security but without FORCE, on every node of the cluster
/// (`node:table`, sorted; shards included).
async fn unforced_tables(database: &str) -> Vec<String> {
    let mut found = Vec::new();
    for node in citus().await.expect("citus").nodes() {
        let c = client(&node.url_as("postgres", database)).await;
        // Shards are hidden from the catalog of a worker unless asked for.
        c.batch_execute("SET citus.show_shards_for_app_name_prefixes = '*'")
            .await
            .expect("show shards");
        for row in c
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relrowsecurity
                    AND NOT c.relforcerowsecurity ORDER BY 1",
                &[],
            )
            .await
            .expect("unforced tables")
        {
            found.push(format!("{}:{}", node.address().1, row.get::<_, String>(0)));
        }
    }
    found
}

/// The shapes users send most (bench/queries/mixed), each with its variables.
fn shapes(contact: &str, conversation: &str) -> Vec<(&'static str, String, serde_json::Value)> {
    let read = |file: &str| {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("bench/queries")
                .join(file),
        )
        .expect("bench query")
    };
    vec![
        ("feed", read("feed.graphql"), serde_json::json!({})),
        (
            "contact",
            read("mixed/contact.graphql"),
            serde_json::json!({ "id": contact }),
        ),
        ("inbox", read("mixed/inbox.graphql"), serde_json::json!({})),
        (
            "node",
            read("mixed/node.graphql"),
            serde_json::json!({ "id": conversation }),
        ),
        (
            "search",
            read("mixed/search.graphql"),
            serde_json::json!({}),
        ),
        (
            "members",
            read("mixed/members.graphql"),
            serde_json::json!({}),
        ),
        (
            "startup",
            read("mixed/startup.graphql"),
            serde_json::json!({}),
        ),
        (
            "createContact",
            read("mixed/create_contact.graphql"),
            serde_json::json!({}),
        ),
        (
            "postMessage",
            read("mixed/post_message.graphql"),
            serde_json::json!({ "c": conversation }),
        ),
    ]
}

/// Shapes that still send a statement to more than one node (none since the tenant
/// directory, migration 000025, routed the start-up query's `myTenants`). A shape added
/// here must say why; the test fails if the list and the run disagree either way.
const KNOWN_FAN_OUT: &[&str] = &[];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_shapes_route_every_statement_to_one_node() {
    if !on_citus() {
        return;
    }
    let t = TestApp::with_config(|c| c.compiled_plans = tenantry::config::Switch::On).await;
    let a = t.tenant("alpha").await;
    let _b = t.tenant("bravo").await;
    // Enterprise: every feature (searchMessages) and no request-rate limit.
    t.app
        .platform()
        .change_plan("alpha", tenantry::auth::plans::Plan::Enterprise)
        .await
        .expect("plan");
    let contact = t.contact(&a.token, "Alice").await;
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"invoice\", channel: EMAIL, message: \"the invoice\"}) { id } }",
            serde_json::json!({ "c": contact }),
        )
        .await;
    let conversation = body["data"]["startConversation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("startConversation: {body}"))
        .to_string();
    // From now on Citus raises an error for any statement of this database that would run
    // on more than one shard: a request that fans out fails instead of answering. (Set for
    // new sessions; the server's open ones are ended, and its pool reconnects.)
    let admin = client(&t.db.url).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET citus.multi_task_query_log_level = 'error';
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()",
            t.db.name
        ))
        .await
        .expect("refuse fan-out");
    for _ in 0..40 {
        // Each dead pooled connection is replaced by the request that meets it.
        let _ = t.gql(&a.token, "{ tenant { slug } }").await;
    }
    let mut fanned_out = Vec::new();
    for (name, query, variables) in shapes(&contact, &conversation) {
        let (_, body) = t.post(Some(&a.token), &[], &query, variables).await;
        if body.get("errors").is_some() {
            fanned_out.push(name);
            eprintln!("{name}: {body}");
        }
    }
    assert_eq!(
        fanned_out, KNOWN_FAN_OUT,
        "shapes with a statement on several nodes"
    );
}
