//! Compiled plans of `auditLog`: the same answers as the generic executor (the entries'
//! JSON values byte for byte), each tenant's entries only (checked against raw SQL as the
//! runtime role), filters and cursors taken as its resolver takes them, and what the
//! resolver or validation refuses (a bad cursor, a bad actor id, an unknown filter field, an
//! unparsable time) left to the generic executor; guards (permission, feature) alike.

use crate::common::{first_code, Reply};
use crate::compiled::{answer, declined, same_both_ways, setup, uncached};
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
        let (status, planned) = t.post_raw(Some(token), &[], AUDIT, vars.clone()).await;
        let (generic_status, generic) = t
            .post_raw(Some(token), &[], &uncached(AUDIT), vars.clone())
            .await;
        let planned = answer(&planned);
        assert_eq!(planned, answer(&generic));
        assert_eq!(status, generic_status);
        assert_eq!(first_code(&planned), code, "{planned}");
        assert!(planned["data"].is_null(), "{planned}");
    }
}
