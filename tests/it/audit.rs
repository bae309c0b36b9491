//! The audit log (issue 11): written by triggers on every tenant table, append-only for the
//! runtime roles, a hash chain per tenant that `audit verify` checks, read through
//! `auditLog` (feature- and permission-guarded, tenant-isolated) and `platformAuditLog`,
//! pruned by plan retention, removed by purge.

use crate::common::{client, first_code, Reply, TestApp, TestTenant};
use serde_json::{json, Value};
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;

const LOG: &str = "query($first: Int, $after: String, $filter: AuditLogFilter) {
    auditLog(first: $first, after: $after, filter: $filter) {
      edges { cursor node { seq occurredAt actorType actorId requestId action table rowId oldValues newValues hash } }
      pageInfo { hasNextPage endCursor } } }";

/// A tenant on a plan with the audit_log feature.
async fn enterprise(t: &TestApp, slug: &str) -> TestTenant {
    let tenant = t.tenant(slug).await;
    t.app
        .platform()
        .change_plan(slug, Plan::Enterprise)
        .await
        .unwrap();
    tenant
}

async fn log(t: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    let body = t
        .post(
            Some(token),
            &[],
            LOG,
            json!({ "first": 100, "filter": filter }),
        )
        .await
        .1;
    body.data("auditLog.edges")
        .as_array()
        .unwrap_or_else(|| panic!("auditLog failed: {body}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// How many audit entries a tenant has (read as the owner, past RLS).
async fn audit_entries(c: &tokio_postgres::Client, tenant: uuid::Uuid) -> i64 {
    c.query_one(
        "SELECT count(*) FROM audit_log WHERE tenant_id = $1",
        &[&tenant],
    )
    .await
    .unwrap()
    .get(0)
}

/// Runs `sql` in a transaction of its own after the `SET LOCAL`s `sets`, and commits. The
/// settings go in a batch of their own: Citus hands a `SET LOCAL` to the workers by
/// re-running the text of the whole batch it came in (README "Tenantry on Citus").
async fn committed(c: &tokio_postgres::Client, sets: &str, sql: &str) {
    for batch in ["BEGIN", sets, sql, "COMMIT"] {
        c.batch_execute(batch)
            .await
            .unwrap_or_else(|e| panic!("{batch}: {e:?}"));
    }
}

/// The first line of `audit verify --tenant slug` as the library reports it.
async fn verify(t: &TestApp, slug: &str) -> String {
    let reports = t.app.auditor().verify(Some(slug)).await.unwrap();
    reports[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_has_the_audit_trigger_and_secrets_are_declared() {
    let t = TestApp::new().await;
    let c = client(&t.db.url).await;
    // Tenant tables are found as purge finds them: a `tenant_id` column in `public`.
    let missing: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                -- usage_daily: the meter's counters, rewritten every flush, nobody's change.
                AND c.relname NOT IN ('audit_log', 'audit_heads', 'usage_daily')
                AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'audit'
                                  AND g.tgfoid = 'app.audit_row()'::regprocedure AND g.tgenabled <> 'D')
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        missing.is_empty(),
        "tenant tables without the audit trigger (call SELECT app.audit_table('<table>') in \
         the migration that creates them): {missing:?}"
    );
    // Every column whose name says it holds a secret is passed as secret (from the third
    // trigger argument on), so its value is never recorded.
    let undeclared: Vec<String> = c
        .query(
            "SELECT c.relname || '.' || a.attname FROM pg_trigger g
               JOIN pg_class c ON c.oid = g.tgrelid
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              WHERE g.tgname = 'audit' AND a.attname ~ '(hash|secret|sealed|password|token)'
                AND NOT a.attname = ANY (
                  (string_to_array(encode(g.tgargs, 'escape'), '\\000'))[3:])
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        undeclared.is_empty(),
        "secret columns recorded: {undeclared:?}"
    );
    let platform: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit'
                AND tgfoid = 'app.audit_platform_row()'::regprocedure
                AND tgrelid IN ('tenants'::regclass, 'users'::regclass)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(platform, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_recorded_with_actor_request_changes_and_no_secrets() {
    let t = TestApp::new().await;
    let a = enterprise(&t, "alpha").await;
    let id = t.contact(&a.token, "Ada").await;
    let body = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { one: updateContact(id: $id, input: {name: \"Ada L\"}) { id }
                                 two: updateContact(id: $id, input: {company: \"ACME\"}) { id } }",
            json!({ "id": id }),
        )
        .await
        .1;
    assert!(body["errors"].is_null(), "{body}");
    let key = t
        .post(
            Some(&a.token),
            &[],
            "mutation { createApiKey(name: \"ci\", role: MEMBER) { secret apiKey { id } } }",
            json!({}),
        )
        .await
        .1;
    let secret = key
        .data("createApiKey.secret")
        .as_str()
        .unwrap()
        .to_string();
    let key_id = key
        .data("createApiKey.apiKey.id")
        .as_str()
        .unwrap()
        .to_string();
    let by_key = t.contact(&secret, "Made by a key").await;
    let deleted = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({ "id": by_key }),
        )
        .await
        .1;
    assert!(deleted["errors"].is_null(), "{deleted}");

    let entries = log(&t, &a.token, json!({ "table": "contacts" })).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        ["DELETE", "INSERT", "UPDATE", "UPDATE", "INSERT"],
        "{entries:?}"
    );
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    let (insert, first_update, second_update) = (&entries[4], &entries[3], &entries[2]);
    assert_eq!(insert["actorType"], "USER");
    assert_eq!(insert["newValues"]["name"], "Ada");
    assert!(insert["oldValues"].is_null());
    assert!(insert["newValues"].get("tenant_id").is_none());
    // An update records only the columns it changed (and updated_at).
    assert_eq!(first_update["oldValues"]["name"], "Ada");
    assert_eq!(first_update["newValues"]["name"], "Ada L");
    assert!(
        first_update["newValues"].get("email").is_none(),
        "{first_update}"
    );
    assert_eq!(second_update["newValues"]["company"], "ACME");
    // Both fields of one request carry its id; another request has another.
    let request = |e: &Value| e["requestId"].as_str().unwrap().to_string();
    assert_eq!(request(first_update), request(second_update));
    assert_ne!(request(insert), request(first_update));
    // The key's write names the key, not its creator; the delete keeps the old values.
    assert_eq!(entries[1]["actorType"], "API_KEY", "{}", entries[1]);
    assert_eq!(entries[1]["actorId"], key_id.as_str());
    assert_eq!(entries[0]["oldValues"]["name"], "Made by a key");
    assert!(entries[0]["newValues"].is_null());

    // Filters: action, row, actor (a user's or key's global id), time.
    let updates = log(&t, &a.token, json!({ "action": "UPDATE", "rowId": id })).await;
    assert_eq!(updates.len(), 2);
    let by_actor = log(
        &t,
        &a.token,
        json!({ "actor": key_id, "table": "contacts" }),
    )
    .await;
    assert_eq!(by_actor.len(), 1);
    let none = log(&t, &a.token, json!({ "since": "2999-01-01T00:00:00Z" })).await;
    assert!(none.is_empty());
    let until = log(&t, &a.token, json!({ "until": "2000-01-01T00:00:00Z" })).await;
    assert!(until.is_empty());

    // Secrets: the key's hash is recorded as "[secret]", its value nowhere.
    let keys = log(&t, &a.token, json!({ "table": "api_keys" })).await;
    assert_eq!(keys[0]["newValues"]["token_hash"], "[secret]", "{keys:?}");
    let c = client(&t.db.url).await;
    let hash: String = c
        .query_one("SELECT token_hash FROM api_keys", &[])
        .await
        .unwrap()
        .get(0);
    let leaked: i64 = c
        .query_one(
            "SELECT count(*) FROM audit_log WHERE concat(old_values::text, new_values::text) LIKE '%' || $1 || '%'",
            &[&hash],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);

    // Keyset pages: newest first, one at a time, no entry twice.
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let page = t
            .post(
                Some(&a.token),
                &[],
                LOG,
                json!({ "first": 2, "after": after, "filter": { "table": "contacts" } }),
            )
            .await
            .1;
        for e in page.data("auditLog.edges").as_array().unwrap() {
            seen.push(e["node"]["seq"].as_i64().unwrap());
        }
        if page.data("auditLog.pageInfo.hasNextPage") != true {
            break;
        }
        after = page
            .data("auditLog.pageInfo.endCursor")
            .as_str()
            .map(String::from);
    }
    assert_eq!(seen, seqs);
    assert!(verify(&t, "alpha").await.starts_with("ok alpha"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_a_viewer_and_a_plan_without_the_feature_see_nothing() {
    let t = TestApp::new().await;
    let a = enterprise(&t, "alpha").await;
    let b = enterprise(&t, "bravo").await;
    let basic = t.tenant("charlie").await;
    let a_contact = t.contact(&a.token, "Alpha only").await;
    t.contact(&b.token, "Bravo only").await;

    // B sees its own entries only, also when asking for A's row or A's owner.
    let mine = log(&t, &b.token, json!({})).await;
    assert!(!mine.is_empty());
    assert!(
        mine.iter().all(|e| !e.to_string().contains("Alpha only")),
        "{mine:?}"
    );
    assert!(log(&t, &b.token, json!({ "rowId": a_contact }))
        .await
        .is_empty());
    let a_owner = tenantry::graphql::relay::global_id("User", a.owner.0);
    assert!(log(&t, &b.token, json!({ "actor": a_owner }))
        .await
        .is_empty());

    // An ADMIN reads it; a MEMBER and a VIEWER are refused; so is a plan without the feature.
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    assert!(!log(&t, &admin, json!({})).await.is_empty());
    for role in [Role::Member, Role::Viewer] {
        let (_, token) = t
            .member(
                &a,
                &format!("{}@alpha.test", role.as_str().to_lowercase()),
                role,
            )
            .await;
        let body = t.post(Some(&token), &[], LOG, json!({})).await.1;
        assert_eq!(first_code(&body), "FORBIDDEN", "{role:?}: {body}");
        assert!(body.data("auditLog").is_null());
    }
    let body = t.post(Some(&basic.token), &[], LOG, json!({})).await.1;
    assert_eq!(first_code(&body), "FEATURE_NOT_ENABLED", "{body}");

    // Raw SQL as the runtime role: only the current tenant's entries, none without one.
    let c = client(&t.db.url).await;
    // BEGIN and the SET LOCALs apart: Citus re-runs a SET LOCAL's whole batch on the workers.
    c.batch_execute("BEGIN").await.unwrap();
    c.batch_execute(&format!(
        "SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'",
        b.id.0
    ))
    .await
    .unwrap();
    let foreign: i64 = c
        .query_one(
            "SELECT count(*) FROM audit_log WHERE tenant_id = $1",
            &[&a.id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(foreign, 0);
    c.batch_execute("ROLLBACK; BEGIN").await.unwrap();
    c.batch_execute("SET LOCAL ROLE tenantry_app")
        .await
        .unwrap();
    let unscoped: i64 = c
        .query_one("SELECT count(*) FROM audit_log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unscoped, 0);
    c.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_roles_cannot_rewrite_or_forge_entries() {
    let t = TestApp::new().await;
    let a = enterprise(&t, "alpha").await;
    t.contact(&a.token, "Ada").await;
    let c = client(&t.db.url).await;
    for role in ["tenantry_app", "tenantry_auth"] {
        for sql in [
            "UPDATE audit_log SET row_id = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "INSERT INTO audit_log (tenant_id, seq, occurred_at, action, table_name, row_id, hash) \
             VALUES (app.current_tenant_id(), 999, now(), 'insert', 'contacts', 'x', '\\x00')",
            "UPDATE audit_heads SET seq = 0",
            "DELETE FROM audit_heads",
            "SELECT app.audit_append(app.current_tenant_id(), 'insert', 'contacts', 'x', NULL, NULL)",
            // The operators' bulk switch is not theirs: no per-table entry, and no silence.
            "SET LOCAL app.audit_bulk = 'on'; SELECT app.audit_bulk_load('contacts', 1, NULL)",
            "UPDATE platform_audit_log SET row_id = 'x'",
            "DELETE FROM platform_audit_log",
            "TRUNCATE platform_audit_log",
        ] {
            c.batch_execute("BEGIN").await.unwrap();
            c.batch_execute(&format!(
                "SET LOCAL ROLE {role}; SET LOCAL app.tenant_id = '{}'",
                a.id.0
            ))
            .await
            .unwrap();
            let e = c
                .batch_execute(sql)
                .await
                .expect_err(&format!("{role} ran {sql}"));
            let code = e.code().map(|c| c.code().to_string());
            assert_eq!(code.as_deref(), Some("42501"), "{role}: {sql}: {e}");
            c.batch_execute("ROLLBACK").await.unwrap();
        }
    }
    // Under the bulk switch a runtime role's writes are still audited row by row.
    let before = audit_entries(&c, a.id.0).await;
    committed(
        &c,
        &format!(
            "SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'; \
             SET LOCAL app.audit_bulk = 'on'",
            a.id.0
        ),
        &format!(
            "INSERT INTO contacts (tenant_id, id, name) VALUES ('{}', gen_random_uuid(), 'Bulk')",
            a.id.0
        ),
    )
    .await;
    assert_eq!(audit_entries(&c, a.id.0).await, before + 1);
    // Even the owner needs the operator's explicit say-so.
    let e = c.batch_execute("DELETE FROM audit_log").await.unwrap_err();
    assert!(
        e.to_string().contains("append-only") || format!("{e:?}").contains("append-only"),
        "{e:?}"
    );
    assert!(verify(&t, "alpha").await.starts_with("ok alpha"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_reveals_edits_deletions_and_insertions_by_the_owner() {
    let t = TestApp::new().await;
    let mut tenants = Vec::new();
    for slug in ["edited", "deleted", "inserted", "swapped", "truncated"] {
        let tenant = t.tenant(slug).await;
        for i in 0..3 {
            t.contact(&tenant.token, &format!("Contact {i}")).await;
        }
        assert!(verify(&t, slug).await.starts_with(&format!("ok {slug}")));
        tenants.push(tenant);
    }
    let c = client(&t.db.url).await;
    // The owner (a superuser here, so without row-level security: each statement names its
    // tenant), with the append-only guard switched off, as an intruder with its password.
    let tamper = |tenant: &TestTenant, sql: &str| {
        let c = &c;
        let sets = format!(
            "SET LOCAL app.audit_maintenance = 'on'; SET LOCAL app.tenant_id = '{}'",
            tenant.id.0
        );
        let sql = sql.to_string();
        async move { committed(c, &sets, &sql).await }
    };
    tamper(
        &tenants[0],
        "UPDATE audit_log SET new_values = jsonb_set(new_values, '{name}', '\"Mallory\"')
         WHERE seq = 3 AND tenant_id = app.current_tenant_id()",
    )
    .await;
    tamper(
        &tenants[1],
        "DELETE FROM audit_log WHERE seq = 3 AND tenant_id = app.current_tenant_id()",
    )
    .await;
    tamper(
        &tenants[2],
        "INSERT INTO audit_log SELECT tenant_id, seq + 100, occurred_at, actor_type, actor_id,
           request_id, action, table_name, row_id, old_values, new_values, hash
           FROM audit_log WHERE seq = 3 AND tenant_id = app.current_tenant_id()",
    )
    .await;
    // (`CASE WHEN seq = -2`, not `CASE seq WHEN -2`: Citus 13.2 deparses the latter for the
    // workers as a comparison of bigint with boolean.)
    tamper(
        &tenants[3],
        "UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3) AND tenant_id = app.current_tenant_id();
         UPDATE audit_log SET seq = CASE WHEN seq = -2 THEN 3 ELSE 2 END
          WHERE seq IN (-2, -3) AND tenant_id = app.current_tenant_id()",
    )
    .await;
    tamper(
        &tenants[4],
        "DELETE FROM audit_log WHERE tenant_id = app.current_tenant_id()
           AND seq = (SELECT max(seq) FROM audit_log WHERE tenant_id = app.current_tenant_id())",
    )
    .await;
    let edited = verify(&t, "edited").await;
    assert!(
        edited.starts_with("BROKEN edited: entry 3: altered"),
        "{edited}"
    );
    let deleted = verify(&t, "deleted").await;
    assert!(
        deleted.starts_with("BROKEN deleted: entry 3: removed"),
        "{deleted}"
    );
    let inserted = verify(&t, "inserted").await;
    assert!(inserted.contains("inserted"), "{inserted}");
    let swapped = verify(&t, "swapped").await;
    assert!(
        swapped.starts_with("BROKEN swapped: entry 2: altered"),
        "{swapped}"
    );
    let truncated = verify(&t, "truncated").await;
    assert!(truncated.contains("removed"), "{truncated}");
    // A broken chain is not pruned: that would destroy the evidence.
    let e = t
        .app
        .auditor()
        .prune(Some("edited"), chrono::Utc::now())
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "CONFLICT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_tenant_keep_one_chain() {
    let t = std::sync::Arc::new(TestApp::new().await);
    let a = t.tenant("alpha").await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let t = std::sync::Arc::clone(&t);
        let token = a.token.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                t.contact(&token, &format!("w{w} c{i}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = verify(&t, "alpha").await;
    assert!(report.starts_with("ok alpha: 8"), "{report}"); // 1 membership + 80 contacts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_the_chain_verifiable_and_purge_removes_it() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await; // basic: 30 days
    let b = enterprise(&t, "bravo").await; // enterprise: kept
    for i in 0..3 {
        t.contact(&a.token, &format!("A{i}")).await;
        t.contact(&b.token, &format!("B{i}")).await;
    }
    let auditor = t.app.auditor();
    // Nothing is old enough yet.
    let reports = auditor.prune(None, chrono::Utc::now()).await.unwrap();
    assert!(reports.iter().all(|r| r.removed == 0), "{reports:?}");
    // 31 days on, alpha's entries are past retention; bravo's plan keeps everything.
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    let reports = auditor.prune(None, later).await.unwrap();
    let alpha = reports.iter().find(|r| r.tenant == "alpha").unwrap();
    assert_eq!(alpha.removed, 4, "{reports:?}");
    assert!(reports.iter().all(|r| r.tenant != "bravo"));
    // The chain still verifies from the pruned prefix's hash, also after new writes.
    t.contact(&a.token, "after pruning").await;
    let report = verify(&t, "alpha").await;
    assert!(
        report.starts_with("ok alpha: 1 entries, head 5 "),
        "{report}"
    );

    // Purge removes the tenant's entries and chain; the platform log records the tenant's
    // life, and verifies.
    let platform = t.app.platform();
    platform.change_plan("alpha", Plan::Premium).await.unwrap();
    platform
        .set_lifecycle("alpha", tenantry::platform::lifecycle::Lifecycle::Suspend)
        .await
        .unwrap();
    platform
        .set_lifecycle("alpha", tenantry::platform::lifecycle::Lifecycle::Delete)
        .await
        .unwrap();
    platform.purge("alpha").await.unwrap();
    let c = client(&t.db.url).await;
    for table in ["audit_log", "audit_heads"] {
        let n: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
                &[&a.id.0],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    let life: Vec<(String, Option<Value>)> = c
        .query(
            "SELECT action, new_values::text FROM platform_audit_log
              WHERE table_name = 'tenants' AND row_id = $1 ORDER BY seq",
            &[&a.id.0.to_string()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let values: Option<String> = r.get(1);
            (r.get(0), values.map(|v| serde_json::from_str(&v).unwrap()))
        })
        .collect();
    let actions: Vec<&str> = life.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["insert", "update", "update", "update", "delete"],
        "{life:?}"
    );
    assert_eq!(life[1].1.as_ref().unwrap()["plan"], "premium");
    assert_eq!(life[2].1.as_ref().unwrap()["status"], "suspended");
    assert_eq!(life[3].1.as_ref().unwrap()["status"], "deleted");
    let reports = auditor.verify(None).await.unwrap();
    assert!(reports.iter().all(|r| r.broken.is_none()), "{reports:?}");
    assert!(reports.iter().any(|r| r.chain == "platform"));

    // Platform administrators read the platform log; tenant owners cannot.
    let admin = platform.create_user("root@ops.test").await.unwrap();
    platform.set_platform_admin(admin, true).await.unwrap();
    let token = t.token(admin, None);
    let query = "{ platformAuditLog(first: 100, filter: {table: \"tenants\", action: DELETE}) {
        edges { node { action table rowId oldValues } } } }";
    let body = t.gql(&token, query).await;
    let edges = body
        .data("platformAuditLog.edges")
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(edges.len(), 1, "{body}");
    assert_eq!(edges[0]["node"]["rowId"], a.id.0.to_string());
    let body = t.gql(&b.token, query).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
}
