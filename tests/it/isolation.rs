//! Tenant isolation, proved at both levels: through the GraphQL API, and in raw SQL as the
//! runtime role with the application bypassed.

use crate::common::{client, first_code, on_citus, Reply, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn names(body: &Value) -> BTreeSet<String> {
    body.data("contacts.edges")
        .as_array()
        .unwrap_or_else(|| panic!("no contacts in {body}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_isolation_tenant_a_cannot_touch_tenant_b() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.contact(&a.token, "Alice Alpha").await;
    let b_id = t.contact(&b.token, "Bob Secret-Bravo").await;

    // List (also with a search that would match B's row) and count.
    let body = t
        .gql(
            &a.token,
            "{ contacts { totalCount edges { node { name } } } }",
        )
        .await;
    assert_eq!(names(&body), BTreeSet::from(["Alice Alpha".to_string()]));
    assert_eq!(body.data("contacts.totalCount"), 1);
    let body = t
        .gql(
            &a.token,
            r#"{ contacts(filter: {search: "Bravo"}) { totalCount edges { node { name } } } }"#,
        )
        .await;
    assert!(names(&body).is_empty(), "{body}");
    assert_eq!(body.data("contacts.totalCount"), 0);

    // Fetch by contact(id) and by node(id): NOT_FOUND, and nothing of B in the answer.
    for query in [
        "query($id: ID!) { contact(id: $id) { name } }",
        "query($id: ID!) { node(id: $id) { id ... on Contact { name } } }",
        "mutation($id: ID!) { updateContact(id: $id, input: {name: \"Hijacked\"}) { name } }",
        "mutation($id: ID!) { deleteContact(id: $id) }",
    ] {
        let (_, body) = t
            .post(Some(&a.token), &[], query, json!({ "id": b_id }))
            .await;
        assert_eq!(first_code(&body), "NOT_FOUND", "{query}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("Bravo") && !text.contains(&b.slug),
            "{query} leaked: {text}"
        );
        assert!(body["data"].is_null(), "{body}");
    }

    // B's contact is untouched.
    let (_, body) = t
        .post(
            Some(&b.token),
            &[],
            "query($id: ID!) { contact(id: $id) { name } }",
            json!({ "id": b_id }),
        )
        .await;
    assert_eq!(body.data("contact.name"), "Bob Secret-Bravo", "{body}");
    // And A's own writes work, so the NOT_FOUND above is isolation, not a broken mutation.
    let a_id = t.contact(&a.token, "Second Alpha").await;
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({ "id": a_id }),
        )
        .await;
    assert_eq!(body.data("deleteContact"), a_id.as_str(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_header_cannot_reach_a_tenant_the_user_is_not_in() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.contact(&b.token, "Bob Bravo").await;
    // A's owner, with a token that names no tenant, asks for B by header.
    let unbound = t.token(a.owner, None);
    let b_id = b.id.to_string();
    for headers in [
        [("x-tenant-id", b_id.as_str())],
        [("x-tenant-slug", "bravo")],
    ] {
        let (_, body) = t
            .post(
                Some(&unbound),
                &headers,
                "{ contacts { edges { node { name } } } }",
                json!({}),
            )
            .await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        assert!(!body.to_string().contains("Bob"), "{body}");
    }
    // With a tenant-bound token, a header naming another tenant is refused outright.
    let (status, body) = t
        .post(
            Some(&a.token),
            &[("x-tenant-id", b_id.as_str())],
            "{ contacts { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    // The header works for the user's own tenant.
    let (_, body) = t
        .post(
            Some(&unbound),
            &[("x-tenant-slug", "alpha")],
            "{ tenant { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(body.data("tenant.slug"), "alpha", "{body}");
}

fn db_message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default()
}

/// Tables of the public schema, except diesel's bookkeeping.
async fn public_tables(c: &tokio_postgres::Client) -> Vec<String> {
    c.query(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
           AND c.relname <> '__diesel_schema_migrations' ORDER BY 1",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_as_runtime_role_fails_closed_and_stays_in_its_tenant() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.contact(&a.token, "Alice Alpha").await;
    t.contact(&b.token, "Bob Bravo").await;
    let c = client(&t.db.url).await;
    let tables = public_tables(&c).await;
    assert!(tables.contains(&"contacts".to_string()), "{tables:?}");

    // No tenant set: zero rows in every table (or no access to it at all).
    for table in &tables {
        c.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app")
            .await
            .unwrap();
        match c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
        {
            Ok(row) => assert_eq!(
                row.get::<_, i64>(0),
                0,
                "{table} shows rows without a tenant"
            ),
            Err(e) => assert_eq!(
                e.code(),
                Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{table}: {e:?}"
            ),
        }
        c.batch_execute("ROLLBACK").await.unwrap();
    }
    // The setting used earlier in the session reads '' later: still zero rows, no error.
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL app.tenant_id = '{}'; COMMIT",
        a.id
    ))
    .await
    .unwrap();
    c.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM contacts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let n = c
        .execute("UPDATE contacts SET name = 'x'", &[])
        .await
        .unwrap();
    assert_eq!(n, 0);
    c.batch_execute("ROLLBACK").await.unwrap();

    // Tenant A set: only A's rows; B's rows can be neither changed nor created.
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'",
        a.id
    ))
    .await
    .unwrap();
    let rows = c
        .query("SELECT name, tenant_id FROM contacts", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "Alice Alpha");
    let n = c
        .execute(
            "UPDATE contacts SET name = 'x' WHERE tenant_id = $1",
            &[&b.id.0],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = c
        .execute("DELETE FROM contacts WHERE tenant_id = $1", &[&b.id.0])
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = c
        .query_one("SELECT count(*) FROM tenants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the runtime role sees only its own tenant row");
    let err = c
        .execute(
            "INSERT INTO contacts (tenant_id, id, name) VALUES ($1, gen_random_uuid(), 'planted')",
            &[&b.id.0],
        )
        .await
        .unwrap_err();
    assert!(db_message(&err).contains("row-level security"), "{err:?}");
    c.batch_execute("ROLLBACK").await.unwrap();

    // Moving a row to another tenant is refused by WITH CHECK.
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'",
        a.id
    ))
    .await
    .unwrap();
    let err = c
        .execute("UPDATE contacts SET tenant_id = $1", &[&b.id.0])
        .await
        .unwrap_err();
    // (Citus refuses to change a distribution column before RLS is asked.)
    let refused = if on_citus() {
        "modifying the partition value of rows is not allowed"
    } else {
        "row-level security"
    };
    assert!(db_message(&err).contains(refused), "{err:?}");
    c.batch_execute("ROLLBACK").await.unwrap();

    // The runtime role cannot read password hashes, nor who administers the platform, nor
    // ask the membership lookup about other tenants, nor switch RLS off.
    for sql in [
        "SELECT password_hash FROM users",
        "SELECT is_platform_admin FROM users",
        "SELECT * FROM app.resolve_member(gen_random_uuid(), NULL, 'bravo', NULL)",
    ] {
        c.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app")
            .await
            .unwrap();
        let err = c.query(sql, &[]).await.unwrap_err();
        assert!(
            db_message(&err).contains("permission denied"),
            "{sql}: {err:?}"
        );
        c.batch_execute("ROLLBACK").await.unwrap();
    }
    c.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL row_security = off")
        .await
        .unwrap();
    let err = c.query("SELECT 1 FROM contacts", &[]).await.unwrap_err();
    assert!(db_message(&err).contains("row-level security"), "{err:?}");
    c.batch_execute("ROLLBACK").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_with_tenant_id_has_forced_rls_and_the_policy() {
    let t = TestApp::new().await;
    let c = client(&t.db.url).await;
    let rows = c
        .query(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                    (SELECT count(*) FROM pg_policy p
                      WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'
                        AND pg_get_expr(p.polqual, p.polrelid) LIKE '%tenant_id = app.current_tenant_id()%'
                        AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%tenant_id = app.current_tenant_id()%'
                        AND p.polcmd = '*' AND p.polpermissive)
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'p')
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert!(
        rows.len() >= 2,
        "expected tenant tables, found {}",
        rows.len()
    );
    let mut failures = Vec::new();
    for row in &rows {
        let (name, enabled, forced, policies): (String, bool, bool, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if !enabled || !forced || policies != 1 {
            failures.push(format!(
                "{name}: rls={enabled} forced={forced} tenant_isolation={policies}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "tables without enforced isolation: {failures:?}"
    );

    // Primary keys of tenant tables lead with tenant_id.
    let bad_keys = c
        .query(
            "SELECT c.relname FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
              WHERE n.nspname = 'public' AND i.indisprimary AND a.attname <> 'tenant_id'
                AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id')",
            &[],
        )
        .await
        .unwrap();
    assert!(
        bad_keys.is_empty(),
        "primary keys not led by tenant_id: {:?}",
        bad_keys
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    );

    // The runtime role is not privileged and cannot log in (on Citus it must: Citus opens
    // its connections to the workers as the current role; see migration 000022).
    let row = c
        .query_one("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'tenantry_app'", &[])
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, bool>(0),
            row.get::<_, bool>(1),
            row.get::<_, bool>(2)
        ),
        (false, false, on_citus())
    );
    // And the helper is STABLE and guards the '' case.
    let row = c
        .query_one(
            "SELECT provolatile::text, prosrc FROM pg_proc WHERE proname = 'current_tenant_id'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "s");
    assert!(row.get::<_, String>(1).contains("NULLIF"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_bleed_through_a_pool_of_one_connection() {
    let t = TestApp::with_config(|c| c.pool_size = Some(1)).await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    for i in 0..3 {
        t.contact(&a.token, &format!("Alpha {i}")).await;
        t.contact(&b.token, &format!("Bravo {i}")).await;
    }
    let expect_a: BTreeSet<String> = (0..3).map(|i| format!("Alpha {i}")).collect();
    let expect_b: BTreeSet<String> = (0..3).map(|i| format!("Bravo {i}")).collect();
    let query = "{ me { tenant { slug } } contacts { totalCount edges { node { name } } } }";
    let requests = (0..120).map(|i| {
        let (token, expect, slug) = if i % 2 == 0 {
            (a.token.clone(), expect_a.clone(), "alpha")
        } else {
            (b.token.clone(), expect_b.clone(), "bravo")
        };
        let t = &t;
        async move {
            let body = t.gql(&token, query).await;
            assert_eq!(names(&body), expect, "request {i}: {body}");
            assert_eq!(body.data("me.tenant.slug"), slug, "request {i}");
            assert_eq!(body.data("contacts.totalCount"), 3, "request {i}");
        }
    });
    futures_util::future::join_all(requests).await;
}

/// With `TENANTRY_TEST_PGBOUNCER=1` this suite runs through PgBouncer in transaction mode:
/// the requests must have reached the database through it (its own counters say so), so
/// the run cannot pass against the server directly. Without it, the app talks to the
/// test's database directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_the_database_the_configured_way() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    for i in 0..5 {
        t.contact(&a.token, &format!("Via {i}")).await;
    }
    // Rounds of concurrent requests: PgBouncer opens several server connections, and
    // (round robin) a pooled connection's next transaction lands on another one than its
    // last: a statement cached on one server connection is missing there.
    let (app, token) = (&t, &a.token);
    for round in 0..4 {
        let requests = (0..8).map(|i| async move {
            let body = app.gql(token, "{ contacts { totalCount } }").await;
            assert_eq!(
                body.data("contacts.totalCount"),
                5,
                "round {round}, request {i}: {body}"
            );
        });
        futures_util::future::join_all(requests).await;
    }
    let Some(pgbouncer) = crate::common::pgbouncer().await else {
        assert_eq!(t.app.database_url, t.db.url);
        return;
    };
    assert_eq!(t.app.database_url, pgbouncer.url(&t.db.name));
    assert_eq!(t.app.direct_url, t.db.url);
    // Counted per database by PgBouncer (its totals are refreshed every second here).
    let mut transactions = 0;
    for _ in 0..30 {
        let stats = pgbouncer.show("STATS").await.expect("SHOW STATS");
        transactions = stats
            .iter()
            .find(|row| row.iter().any(|(k, v)| k == "database" && v == &t.db.name))
            .and_then(|row| row.iter().find(|(k, _)| k == "total_xact_count"))
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0);
        if transactions >= 37 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        transactions >= 37,
        "PgBouncer served {transactions} transactions of {}, not the 37 requests",
        t.db.name
    );
    // Through more than one server connection of its own to the test's database.
    let servers = pgbouncer.show("SERVERS").await.expect("SHOW SERVERS");
    let to_this = servers
        .iter()
        .filter(|row| row.iter().any(|(k, v)| k == "database" && v == &t.db.name))
        .count();
    assert!(
        to_this >= 2,
        "PgBouncer holds {to_this} server connections to {}",
        t.db.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_table_cannot_stand_in_for_one_a_policy_reads() {
    // The policies of `users` and `invitations` call functions that read `memberships` and
    // `users`; a caller's temporary table of the same name must not replace the real one.
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let c = crate::common::as_runtime_role(&t.db.url, a.id).await;
    c.batch_execute(&format!(
        "CREATE TEMP TABLE memberships (tenant_id uuid, user_id uuid);
         INSERT INTO memberships VALUES ('{}', '{}')",
        a.id.0, b.owner.0
    ))
    .await
    .expect("a temporary table");
    let rows = c
        .query("SELECT email FROM users WHERE id = $1", &[&b.owner.0])
        .await
        .expect("select");
    assert!(
        rows.is_empty(),
        "another tenant's user was visible through a temporary table"
    );
    let own = c
        .query("SELECT email FROM users WHERE id = $1", &[&a.owner.0])
        .await
        .expect("select");
    assert_eq!(own.len(), 1);
}

/// The tenant directory (migration 000025, where `myTenants` and `myInvitations` look):
/// as the runtime role, a transaction sees and adds rows of its own tenant only; and a row
/// in it shows nothing by itself, since the readers check the membership or invitation it
/// points to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_directory_admits_its_own_tenant_only_and_proves_nothing() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let admin = client(&t.db.url).await;
    let alice: String = admin
        .query_one("SELECT email FROM users WHERE id = $1", &[&a.owner.0])
        .await
        .expect("owner")
        .get(0);
    // Alpha invites someone, so both directories hold a row of alpha's.
    let body = t
        .gql(
            &a.token,
            r#"mutation { inviteMember(email: "carol@example.com", role: MEMBER) { invitation { id } } }"#,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let invitation = body
        .data("inviteMember.invitation.id")
        .as_str()
        .unwrap()
        .to_string();

    let c = crate::common::as_runtime_role(&t.db.url, a.id).await;
    for table in ["member_directory", "invitation_directory"] {
        let seen: Vec<uuid::Uuid> = c
            .query(&format!("SELECT DISTINCT of_tenant FROM {table}"), &[])
            .await
            .expect("read")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(seen, vec![a.id.0], "{table} as alpha's runtime role");
    }
    drop(c);
    // Rows for bravo are refused (each attempt in a transaction of its own: a refusal
    // aborts it).
    for insert in [
        format!(
            "INSERT INTO member_directory (user_id, of_tenant) VALUES ('{}', $1)",
            a.owner.0
        ),
        "INSERT INTO invitation_directory (email, of_tenant) VALUES ('x@example.com', $1)"
            .to_string(),
    ] {
        let c = crate::common::as_runtime_role(&t.db.url, a.id).await;
        let refused = c
            .execute(&insert, &[&b.id.0])
            .await
            .expect_err("a row for bravo");
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{insert}: {refused}"
        );
    }
    let c = crate::common::as_runtime_role(&t.db.url, a.id).await;
    let removed = c
        .execute(
            "DELETE FROM member_directory WHERE of_tenant = $1",
            &[&b.id.0],
        )
        .await
        .expect("delete");
    assert_eq!(
        removed, 0,
        "alpha's runtime role removed bravo's directory rows"
    );
    c.batch_execute("ROLLBACK").await.expect("rollback");

    // Bravo's runtime role lists alpha's owner in bravo's directories (its own tenant: the
    // policy admits it). Alice still sees alpha alone, and no invitation.
    let forged = crate::common::as_runtime_role(&t.db.url, b.id).await;
    forged
        .execute(
            "INSERT INTO member_directory (user_id, of_tenant) VALUES ($1, $2)",
            &[&a.owner.0, &b.id.0],
        )
        .await
        .expect("own tenant's row");
    forged
        .execute(
            "INSERT INTO invitation_directory (email, of_tenant) VALUES (lower($1), $2)",
            &[&alice, &b.id.0],
        )
        .await
        .expect("own tenant's row");
    forged.batch_execute("COMMIT").await.expect("commit");
    // The auth role reads the invitation directory for its own user's address only.
    let auth = client(&t.db.url).await;
    auth.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_auth; SET LOCAL app.user_id = '{}'",
        a.owner.0
    ))
    .await
    .expect("auth role");
    let addresses: Vec<String> = auth
        .query("SELECT DISTINCT email FROM invitation_directory", &[])
        .await
        .expect("read")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(addresses, vec![alice.to_lowercase()]);
    auth.batch_execute("ROLLBACK").await.expect("rollback");
    let body = t
        .gql(
            &a.token,
            "{ myTenants { slug } myInvitations { tenantSlug } }",
        )
        .await;
    assert_eq!(
        body.data("myTenants"),
        &json!([{ "slug": "alpha" }]),
        "{body}"
    );
    assert_eq!(body.data("myInvitations"), &json!([]), "{body}");

    // A settled invitation leaves the directory (it would only cost a look at login).
    let carol = || async {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM invitation_directory WHERE email = 'carol@example.com'",
                &[],
            )
            .await
            .expect("directory")
            .get(0);
        n
    };
    assert_eq!(carol().await, 1);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { revokeInvitation(id: $id) }",
            json!({ "id": invitation }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(carol().await, 0);
}
