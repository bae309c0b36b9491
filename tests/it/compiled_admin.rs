//! Compiled plans of the admin's reads. `auditLog`: the same answers as the generic executor (the entries'
//! JSON values byte for byte), each tenant's entries only (checked against raw SQL as the
//! runtime role), filters and cursors taken as its resolver takes them, and what the
//! resolver or validation refuses (a bad cursor, a bad actor id, an unknown filter field, an
//! unparsable time) left to the generic executor; guards (permission, feature) alike.
//! `exportJob`: the same answers (the download URL signed afresh on each path, and the
//! plan's downloads), another tenant's job NOT_FOUND, guards alike.

use crate::common::{first_code, Reply, TestApp};
use crate::compiled::{declined, refused_alike, same_both_ways, setup, uncached};
use serde_json::{json, Value};
use tenantry::auth::Role;

const AUDIT: &str = "query Audit($n: Int, $after: String, $f: AuditLogFilter) {
    auditLog(first: $n, after: $after, filter: $f) {
      __typename
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { __typename cursor node { __typename seq occurredAt actorType actorId requestId
        action table rowId oldValues newValues hash } } } }";

/// The `data` of a raw body, as text (the extensions after it differ per request).
fn data_text(body: Vec<u8>) -> String {
    let body = String::from_utf8(body).unwrap();
    body[..body.find(",\"extensions\":").unwrap_or(body.len())].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_of_the_audit_log_show_the_callers_entries_only_and_leave_refusals_to_the_resolver() {
    let (t, a, b) = setup().await;
    // An update in each tenant, so that entries carry old and new values (JSON objects of
    // several keys) and an actor.
    for (tenant, name) in [(&a, "Renamed \"A\" é"), (&b, "Renamed B")] {
        let id = t
            .gql(&tenant.token, "{ contacts(first: 1) { nodes { id } } }")
            .await;
        let updated = t
            .post(
                Some(&tenant.token),
                &[],
                "mutation($id: ID!, $name: String!) { updateContact(id: $id, input: { name: $name, tags: [\"x\", \"y\"] }) { id } }",
                json!({ "id": id.data("contacts.nodes")[0]["id"], "name": name }),
            )
            .await
            .1;
        assert!(updated.get("errors").is_none(), "{updated}");
    }

    // The newest page: the update first, with its values; the same on both paths.
    let vars = json!({ "n": 5 });
    let a_page = same_both_ways(&t, &a.token, AUDIT, vars.clone()).await;
    let newest = &a_page.data("auditLog.edges")[0]["node"];
    assert_eq!(newest["action"], "UPDATE", "{a_page}");
    assert_eq!(newest["actorType"], "USER", "{a_page}");
    assert!(newest["oldValues"].is_object() && newest["newValues"].is_object());
    assert_eq!(newest["newValues"]["name"], "Renamed \"A\" é", "{a_page}");
    assert_eq!(a_page.data("auditLog.pageInfo.hasNextPage"), &json!(true));

    // Byte for byte: the JSON values keep the generic executor's key order and escaping.
    let planned = data_text(t.post_raw(Some(&a.token), &[], AUDIT, vars.clone()).await.1);
    let generic = data_text(
        t.post_raw(Some(&a.token), &[], &uncached(AUDIT), vars.clone())
            .await
            .1,
    );
    assert_eq!(planned, generic);

    // B runs the text compiled for A: B's entries, exactly those raw SQL as the runtime role
    // reads for B (and A's for A), newest first; none of A's rows.
    let before = t.app.graphql.compiled_count();
    let b_page = t.post(Some(&b.token), &[], AUDIT, vars.clone()).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1);
    assert_eq!(
        b_page,
        t.post(Some(&b.token), &[], &uncached(AUDIT), vars.clone())
            .await
            .1
    );
    for (tenant, page) in [(&a, &a_page), (&b, &b_page)] {
        let db = crate::common::as_runtime_role(&t.db.url, tenant.id).await;
        let rows = db
            .query(
                "SELECT seq, table_name, row_id, encode(hash, 'hex') FROM audit_log
                 ORDER BY occurred_at DESC, seq DESC LIMIT 5",
                &[],
            )
            .await
            .unwrap();
        db.batch_execute("COMMIT").await.unwrap();
        let expected: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({ "seq": r.get::<_, i64>(0), "table": r.get::<_, String>(1),
                        "rowId": r.get::<_, String>(2), "hash": r.get::<_, String>(3) })
            })
            .collect();
        let shown: Vec<Value> = page
            .data("auditLog.edges")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let n = &e["node"];
                json!({ "seq": n["seq"], "table": n["table"], "rowId": n["rowId"], "hash": n["hash"] })
            })
            .collect();
        assert_eq!(shown, expected, "{page}");
        assert_eq!(shown.len(), 5);
    }
    let row_ids = |page: &Value| -> Vec<Value> {
        page.data("auditLog.edges")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["rowId"].clone())
            .collect()
    };
    let b_rows = row_ids(&b_page);
    assert!(row_ids(&a_page).iter().all(|r| !b_rows.contains(r)));

    // The next page through the plan's own cursor; then a filter sent as a variable (enum as
    // a string, a time range), served by the plan too.
    let after = a_page.data("auditLog.pageInfo.endCursor").clone();
    let next = same_both_ways(&t, &a.token, AUDIT, json!({ "n": 3, "after": after })).await;
    assert_eq!(next.data("auditLog.pageInfo.hasPreviousPage"), &json!(true));
    assert!(
        next.data("auditLog.edges")[0]["node"]["seq"].as_i64()
            < a_page.data("auditLog.edges")[4]["node"]["seq"].as_i64(),
        "{next}"
    );
    let since = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let filter = json!({ "table": "contacts", "action": "UPDATE", "since": since, "until": null });
    let filtered = same_both_ways(&t, &a.token, AUDIT, json!({ "f": filter })).await;
    let edges = filtered.data("auditLog.edges").as_array().unwrap();
    assert_eq!(edges.len(), 1, "{filtered}");
    assert_eq!(edges[0]["node"]["rowId"], newest["rowId"]);
    // A literal filter, with the enum as a literal.
    let literal = "{ auditLog(first: 2, filter: { action: INSERT, table: \"messages\" }) {
        nodes { action table } } }";
    let inserted = same_both_ways(&t, &a.token, literal, json!({})).await;
    assert_eq!(inserted.data("auditLog.nodes")[0]["table"], "messages");

    // Refused by the resolver or by validation, on the compiled text: the generic executor
    // answers, with its own error.
    for (vars, code) in [
        (json!({ "after": "bogus" }), Some("BAD_USER_INPUT")),
        (json!({ "n": -1 }), Some("BAD_USER_INPUT")),
        (
            json!({ "f": { "actor": "not-an-id" } }),
            Some("BAD_USER_INPUT"),
        ),
        (json!({ "f": { "since": "not-a-time" } }), None),
        (json!({ "f": { "action": "UPSERT" } }), None),
        (json!({ "f": { "bogus": 1 } }), None),
    ] {
        let body = declined(&t, Some(&a.token), AUDIT, vars.clone()).await;
        assert!(body.get("errors").is_some(), "{vars}: {body}");
        if let Some(code) = code {
            assert_eq!(first_code(&body), code, "{vars}: {body}");
        }
    }

    // Guards: a member lacks `audit:read` (FORBIDDEN), a tenant whose plan lacks the
    // feature is FEATURE_NOT_ENABLED; alike on both paths, and no entry shown.
    let (_, member) = t.member(&a, "member@audit.test", Role::Member).await;
    let starter = t.tenant("starter").await;
    for (token, code) in [
        (member.as_str(), "FORBIDDEN"),
        (starter.token.as_str(), "FEATURE_NOT_ENABLED"),
    ] {
        let planned = refused_alike(&t, token, AUDIT, vars.clone(), code).await;
        assert!(planned["data"].is_null(), "{planned}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_of_export_jobs_show_the_callers_jobs_only_with_a_working_download() {
    let dir = std::env::temp_dir().join(format!("tenantry-plan-jobs-{}", uuid::Uuid::new_v4()));
    let d = dir.clone();
    let t = TestApp::with_config(move |c| {
        c.compiled_plans = tenantry::config::Switch::On;
        c.export_dir = Some(d);
    })
    .await;
    let (acme, globex) = (t.tenant("acme").await, t.tenant("globex").await);
    for slug in ["acme", "globex"] {
        let plan = tenantry::auth::plans::Plan::Enterprise;
        t.app.platform().change_plan(slug, plan).await.unwrap();
    }
    let r = t
        .gql(&acme.token, "mutation { c: createContact(input: { name: \"Ada\" }) { id } r: requestExport { id } }")
        .await;
    let id = r.data("r.id").clone();
    assert!(id.is_string(), "{r}");
    let job = "query Job($id: ID!) { exportJob(id: $id) { __typename id status progress rows
        bytes error createdAt finishedAt downloadUrl downloadExpiresAt } }";
    let vars = json!({ "id": id });

    // Queued (no worker yet): the whole answer is the same on both paths.
    let queued = same_both_ways(&t, &acme.token, job, vars.clone()).await;
    assert_eq!(queued.data("exportJob.status"), "QUEUED", "{queued}");
    assert!(queued.data("exportJob.downloadUrl").is_null());

    // Done: the same but for the download URL and its expiry, which each path signs when
    // it runs; the plan's URL downloads the archive.
    t.app.start_export_worker();
    for _ in 0..200 {
        let r = t
            .post(Some(&acme.token), &[], &uncached(job), vars.clone())
            .await
            .1;
        if r.data("exportJob.status") == "DONE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = t.app.graphql.compiled_count();
    let planned = t.post(Some(&acme.token), &[], job, vars.clone()).await.1;
    assert_eq!(
        t.app.graphql.compiled_count(),
        before + 1,
        "no plan answered"
    );
    let generic = t
        .post(Some(&acme.token), &[], &uncached(job), vars.clone())
        .await
        .1;
    assert_eq!(planned.data("exportJob.status"), "DONE", "{planned}");
    assert_eq!(planned.data("exportJob.progress"), &json!(1.0), "{planned}");
    let without = |body: &Value| {
        let mut job = body.data("exportJob").clone();
        let url = job["downloadUrl"].take();
        let expires = job["downloadExpiresAt"].take();
        assert!(url.is_string() && expires.is_string(), "{body}");
        job
    };
    assert_eq!(without(&planned), without(&generic));
    let url = planned
        .data("exportJob.downloadUrl")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with(&format!("/exports/{}/", acme.id.0)),
        "{url}"
    );
    let response = {
        use tower::ServiceExt;
        let request = axum::http::Request::get(url).body(axum::body::Body::empty());
        t.router.clone().oneshot(request.unwrap()).await.unwrap()
    };
    assert_eq!(response.status(), 200);

    // Another tenant running the compiled text with this job's id: NOT_FOUND (the plan
    // steps aside, the generic executor reports it), as raw SQL as the runtime role shows.
    let other = declined(&t, Some(&globex.token), job, vars.clone()).await;
    assert_eq!(first_code(&other), "NOT_FOUND", "{other}");
    assert!(other["data"].is_null(), "{other}");
    for (tenant, expected) in [(&acme, 1i64), (&globex, 0)] {
        let db = crate::common::as_runtime_role(&t.db.url, tenant.id).await;
        let raw = tenantry::graphql::relay::decode_global_id(
            &async_graphql::ID(id.as_str().unwrap().to_string()),
            "id",
        )
        .unwrap()
        .1;
        let n: i64 = db
            .query_one("SELECT count(*) FROM export_jobs WHERE id = $1", &[&raw])
            .await
            .unwrap()
            .get(0);
        db.batch_execute("COMMIT").await.unwrap();
        assert_eq!(n, expected);
    }
    // A malformed id, and guards: a viewer lacks tenant:manage, a plan without the
    // feature; alike on both paths.
    let malformed = declined(&t, Some(&acme.token), job, json!({ "id": "nope" })).await;
    assert_eq!(first_code(&malformed), "BAD_USER_INPUT", "{malformed}");
    let (_, viewer) = t.member(&acme, "vic@acme.test", Role::Viewer).await;
    let basic = t.tenant("basic").await;
    for (token, code) in [
        (viewer.as_str(), "FORBIDDEN"),
        (basic.token.as_str(), "FEATURE_NOT_ENABLED"),
    ] {
        let planned = refused_alike(&t, token, job, vars.clone(), code).await;
        assert!(planned["data"].is_null(), "{planned}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_of_tenant_health_show_the_callers_own_tenant_only() {
    let (t, a, b) = setup().await;
    let health = "{ tenantHealth { __typename tenantId plan status reasons
        checks { __typename database errorRate latency quotas }
        metrics { __typename requests errors errorRate p95LatencyMs windowSeconds }
        quotaUse { __typename quota used limit fraction } lastChecked } }";
    // The figures of the moment differ between any two requests (each joins the window,
    // and `lastChecked` is now); everything else is the same on both paths.
    let steady = |body: &Value| {
        let mut health = body.data("tenantHealth").clone();
        assert!(health["metrics"]["requests"].as_i64() > Some(0), "{body}");
        assert!(health["lastChecked"].is_string(), "{body}");
        health["metrics"].take();
        health["lastChecked"].take();
        health
    };
    let mut shown = Vec::new();
    for tenant in [&a, &b] {
        t.post(Some(&tenant.token), &[], health, json!({})).await;
        let before = t.app.graphql.compiled_count();
        let planned = t.post(Some(&tenant.token), &[], health, json!({})).await.1;
        assert_eq!(
            t.app.graphql.compiled_count(),
            before + 1,
            "no plan answered"
        );
        let generic = t
            .post(Some(&tenant.token), &[], &uncached(health), json!({}))
            .await
            .1;
        assert_eq!(steady(&planned), steady(&generic));
        // The caller's own tenant, its counts as raw SQL as the runtime role reads them.
        let id = t.gql(&tenant.token, "{ tenant { id } }").await;
        assert_eq!(planned.data("tenantHealth.tenantId"), id.data("tenant.id"));
        let db = crate::common::as_runtime_role(&t.db.url, tenant.id).await;
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM memberships), (SELECT count(*) FROM contacts)",
                &[],
            )
            .await
            .unwrap();
        db.batch_execute("COMMIT").await.unwrap();
        let used: Vec<Value> = planned
            .data("tenantHealth.quotaUse")
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["used"].clone())
            .collect();
        assert_eq!(
            used,
            vec![json!(row.get::<_, i64>(0)), json!(row.get::<_, i64>(1))]
        );
        shown.push(planned.data("tenantHealth.tenantId").clone());
    }
    assert_ne!(shown[0], shown[1]);

    // A tenant named by id is the platform door's: the plan leaves that root to the generic
    // executor, which answers the owner for its own tenant (compiling the text) and refuses
    // another tenant, so the plan steps aside.
    let named = "query H($id: ID!) { tenant { slug } tenantHealth(tenantId: $id) { status } }";
    same_both_ways(&t, &a.token, named, json!({ "id": shown[0] })).await;
    let refused = declined(&t, Some(&a.token), named, json!({ "id": shown[1] })).await;
    assert!(refused.get("errors").is_some(), "{refused}");
    // Its own id: the generic executor's answer, through the plan's delegation.
    let own = format!(
        "{{ tenant {{ slug }} tenantHealth(tenantId: {:?}) {{ tenantId plan }} }}",
        shown[0].as_str().unwrap()
    );
    let body = same_both_ways(&t, &a.token, &own, json!({})).await;
    assert_eq!(body.data("tenantHealth.tenantId"), &shown[0]);

    // OWNER and ADMIN only: a member is FORBIDDEN on both paths.
    let (_, member) = t.member(&a, "member@health.test", Role::Member).await;
    let planned = refused_alike(&t, &member, health, json!({}), "FORBIDDEN").await;
    assert!(planned["data"].is_null(), "{planned}");
}
