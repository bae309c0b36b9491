//! The request transaction: savepoints per root mutation field, a mutation's COMMIT before
//! the response (and an error response when it fails), the opening batch with the first
//! statement, READ ONLY queries, and no connection taken by
//! introspection.

use crate::common::{client, exec, first_code, on_citus, Reply, TestApp};
use async_graphql::Request;
use serde_json::json;
use std::sync::Arc;
use tenantry::auth::{Principal, TenantSelector};
use tenantry::db::TxMode;

async fn count(t: &TestApp, name: &str) -> i64 {
    let c = crate::common::client(&t.db.url).await;
    c.query_one("SELECT count(*) FROM contacts WHERE name = $1", &[&name])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_mutation_field_is_rolled_back_alone() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    // A trigger that fails *after* the row was written, with a message that must not leak.
    install_trigger(
        &t.db.url,
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.name = 'Boom' THEN RAISE EXCEPTION 'secret internal detail'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER boom AFTER INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION boom()",
    )
    .await;
    let (status, body) = t
        .post(
            Some(&a.token),
            &[],
            r#"mutation {
                 first: createContact(input: {name: "Kept"}) { name }
                 second: createContact(input: {name: "Boom"}) { name }
                 third: createContact(input: {name: "Also kept"}) { name }
               }"#,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.data("first.name"), "Kept", "{body}");
    assert_eq!(body.data("third.name"), "Also kept", "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["errors"][0]["path"][0], "second");
    assert_eq!(first_code(&body), "INTERNAL_SERVER_ERROR");
    assert!(
        !body.to_string().contains("secret internal detail"),
        "database text leaked: {body}"
    );
    assert_eq!(count(&t, "Kept").await, 1);
    assert_eq!(
        count(&t, "Boom").await,
        0,
        "the failed field left a row behind"
    );
    assert_eq!(count(&t, "Also kept").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_an_error_response_and_saves_nothing() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    // A deferred constraint trigger only fires at COMMIT.
    install_trigger(
        &t.db.url,
        "CREATE FUNCTION at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.name = 'Fails at commit' THEN RAISE EXCEPTION 'deferred check failed'; END IF; RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON contacts
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION at_commit()",
    )
    .await;
    let (status, body) = t
        .post(
            Some(&a.token),
            &[],
            r#"mutation { ok: createContact(input: {name: "Same request"}) { name }
                          bad: createContact(input: {name: "Fails at commit"}) { name } }"#,
            json!({}),
        )
        .await;
    // The status follows the code, as for every refusal: 503.
    assert_eq!(status, 503, "{body}");
    assert!(
        body["data"].is_null(),
        "the response must not claim what was not committed: {body}"
    );
    assert_eq!(first_code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert!(
        !body.to_string().contains("deferred check failed"),
        "{body}"
    );
    assert_eq!(count(&t, "Same request").await, 0);
    assert_eq!(count(&t, "Fails at commit").await, 0);
    // The connection went back clean: the next request works.
    t.contact(&a.token, "Afterwards").await;
    assert_eq!(count(&t, "Afterwards").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_takes_no_connection_and_queries_are_read_only() {
    // Public introspection needs no admission (under the default policy, `members`, the
    // admission is the only work: tests/it/introspection.rs).
    let t =
        TestApp::with_config(|c| c.introspection = tenantry::config::Introspection::Public).await;
    let a = t.tenant("alpha").await;
    let principal = Some(Principal {
        user_id: a.owner,
        tenant: Some(TenantSelector::Id(a.id)),
        role_cap: None,
        bound_tenant: None,
    });

    let tx = Arc::new(t.app.tenant_tx(principal.clone(), TxMode::ReadOnly));
    let response = t
        .app
        .graphql
        .execute(
            Request::new("{ __schema { types { name } } __typename }"),
            &tx,
        )
        .await
        .into_json();
    assert!(response.get("errors").is_none(), "{response}");
    tx.finish().await.unwrap();
    assert_eq!(tx.statement_count(), 0, "introspection sent SQL");

    let tx = Arc::new(t.app.tenant_tx(principal.clone(), TxMode::ReadOnly));
    let response = t
        .app
        .graphql
        .execute(Request::new("{ contacts { totalCount } }"), &tx)
        .await
        .into_json();
    assert!(response.get("errors").is_none(), "{response}");
    tx.finish().await.unwrap();
    // BEGIN, the membership lookup (inside the transaction: see TenantTx), the set-up
    // batch, the count, COMMIT
    assert_eq!(tx.statement_count(), 5);

    // A write inside a query's transaction is refused by PostgreSQL itself.
    let tx = t.app.tenant_tx(principal, TxMode::ReadOnly);
    let err = tx
        .run(|c| {
            use diesel_async::SimpleAsyncConnection;
            use scoped_futures::ScopedFutureExt;
            async move {
                c.batch_execute("INSERT INTO contacts (id, name) VALUES (gen_random_uuid(), 'x')")
                    .await
            }
            .scope_boxed()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code.as_str(), "INTERNAL_SERVER_ERROR");
    tx.finish().await.unwrap();

    // A mutation sent with GET is refused.
    let request = axum::http::Request::get(
        "/graphql?query=mutation%20%7B%20deleteContact(id%3A%20%22x%22)%20%7D",
    )
    .header("authorization", format!("Bearer {}", a.token))
    .body(axum::body::Body::empty())
    .unwrap();
    let (status, body) = t.send(request).await;
    assert_eq!(status, 405, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_rolled_back() {
    let t = TestApp::with_config(|c| c.pool_size = Some(1)).await;
    let a = t.tenant("alpha").await;
    let principal = Some(Principal {
        user_id: a.owner,
        tenant: Some(TenantSelector::Id(a.id)),
        role_cap: None,
        bound_tenant: None,
    });
    {
        let tx = t.app.tenant_tx(principal, TxMode::ReadWrite);
        tx.run(|c| {
            use diesel_async::SimpleAsyncConnection;
            use scoped_futures::ScopedFutureExt;
            async move {
                c.batch_execute(
                    "INSERT INTO contacts (id, name) VALUES (gen_random_uuid(), 'Never finished')",
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
        // Dropped without finish(), as when a request future is cancelled.
    }
    // The only pooled connection must come back clean and usable.
    t.contact(&a.token, "Next request").await;
    assert_eq!(count(&t, "Never finished").await, 0);
    assert_eq!(count(&t, "Next request").await, 1);
}

/// Ends every client backend of the test database but the caller's: the server's pooled
/// connections die between requests.
const KILL: &str = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND backend_type = 'client backend'";

/// [`KILL`], which must find at least one pooled connection.
async fn kill_pooled_connections(admin: &tokio_postgres::Client) {
    let killed: i64 = admin.query_one(KILL, &[]).await.unwrap().get(0);
    assert!(killed >= 1, "no pooled connection to kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_survives_a_pooled_connection_the_database_dropped() {
    // One pooled connection, checked out without a test query: kill its backend between
    // requests, with a cached membership (the first statement is the BEGIN batch) and
    // without (the first statement is the BEGIN before the membership lookup).
    for ttl_ms in [60_000, 0] {
        let t = TestApp::with_config(|c| {
            c.pool_size = Some(1);
            c.tenant_cache_ttl_ms = ttl_ms;
        })
        .await;
        let a = t.tenant("alpha").await;
        t.contact(&a.token, "Ada").await;
        let query = "{ contacts { totalCount } }";
        assert_eq!(t.gql(&a.token, query).await.data("contacts.totalCount"), 1);
        let admin = crate::common::client(&t.db.url).await;
        kill_pooled_connections(&admin).await;
        let body = t.gql(&a.token, query).await;
        assert_eq!(body.data("contacts.totalCount"), 1, "ttl {ttl_ms}: {body}");

        // The auth path and the platform path check their connections too.
        admin.batch_execute(KILL).await.unwrap();
        let body = t.gql(&a.token, "{ myTenants { slug } }").await;
        assert_eq!(body.data("myTenants")[0]["slug"], "alpha", "{body}");
        admin.batch_execute(KILL).await.unwrap();
        assert!(t.app.platform().find_tenant("alpha").await.is_ok());
    }
}

/// A statement sent with the opening batch runs after it: as the runtime role, read-only,
/// for the request's tenant, request after request on one pooled connection (two tenants
/// taking turns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_statement_runs_inside_the_batch_it_travels_with() {
    use diesel::dsl::sql;
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    use scoped_futures::ScopedFutureExt;
    let t = TestApp::with_config(|c| c.pool_size = Some(1)).await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("beta").await;
    for _ in 0..3 {
        for tenant in [&a, &b] {
            let principal = Some(Principal {
                user_id: tenant.owner,
                tenant: Some(TenantSelector::Id(tenant.id)),
                role_cap: None,
                bound_tenant: None,
            });
            let tx = t.app.tenant_tx(principal, TxMode::ReadOnly);
            let seen: (String, String, String) = tx
                .run_pipelined(|c| {
                    async move {
                        let mut c = c;
                        diesel::select((
                            sql::<Text>("current_user::text"),
                            sql::<Text>("current_setting('app.tenant_id', true)"),
                            sql::<Text>("current_setting('transaction_read_only')"),
                        ))
                        .get_result(&mut c)
                        .await
                    }
                    .scope_boxed()
                })
                .await
                .unwrap();
            tx.finish().await.unwrap();
            let expected = (
                "tenantry_app".to_string(),
                tenant.id.0.to_string(),
                "on".to_string(),
            );
            assert_eq!(seen, expected);
        }
    }
}

/// A compiled plan's first statement travels with the transaction's opening batch, and a
/// query's COMMIT is not waited for: on one pooled connection, the next request (of another
/// tenant) still runs in a transaction of its own, and a connection found dead by the
/// pipelined pair is replaced with the request none the wiser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opening_batch_travels_with_the_first_statement() {
    // With a cached membership (the opening batch begins the transaction) and without (it
    // follows the BEGIN and the lookup).
    for (ttl_ms, expected) in [(60_000, 3), (0, 5)] {
        opening_batch_with_first_statement(ttl_ms, expected).await;
    }
}

async fn opening_batch_with_first_statement(ttl_ms: u64, expected: u64) {
    let t = TestApp::with_config(|c| {
        c.pool_size = Some(1);
        c.compiled_plans = tenantry::config::Switch::On;
        c.tenant_cache_ttl_ms = ttl_ms;
    })
    .await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("beta").await;
    t.contact(&a.token, "Ada").await;
    t.contact(&b.token, "Bob").await;
    let query = "{ contacts(first: 5) { edges { node { name } } } }";
    let app = &t.app;
    let run = |tenant: &crate::common::TestTenant| {
        let principal = Some(Principal {
            user_id: tenant.owner,
            tenant: Some(TenantSelector::Id(tenant.id)),
            role_cap: None,
            bound_tenant: None,
        });
        let tx = Arc::new(app.tenant_tx(principal, TxMode::ReadOnly));
        async move {
            let executed = app.graphql.execute(Request::new(query), &tx).await;
            let compiled = executed.is_compiled();
            let body = executed.into_json();
            tx.finish().await.unwrap();
            (body, compiled, tx.statement_count())
        }
    };
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["data"]["contacts"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The first run of the text is the generic executor's (and admits through a lookup);
    // the second is the compiled plan's.
    let (_, compiled, _) = run(&a).await;
    assert!(!compiled);
    for _ in 0..3 {
        for (tenant, name) in [(&a, "Ada"), (&b, "Bob"), (&a, "Ada")] {
            let (body, compiled, statements) = run(tenant).await;
            assert_eq!(names(&body), [name], "{body}");
            if compiled {
                // [BEGIN, the lookup,] the opening batch, the page, the COMMIT (sent, not
                // waited for).
                // (Two more if the membership cache was invalidated meanwhile, by the
                // NOTIFY of a membership change the listener may still be handling: the
                // lookup's BEGIN and statement.)
                assert!(
                    statements == expected || (ttl_ms > 0 && statements == expected + 2),
                    "ttl {ttl_ms}: {statements} statements: {body}"
                );
            }
        }
    }
    // No transaction is left open once the last COMMIT's answer is read (it may still be
    // on its way when the request returns).
    let admin = client(&t.db.url).await;
    let mut open: i64 = -1;
    for _ in 0..50 {
        open = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                  AND state LIKE 'idle in transaction%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(open, 0, "a request left its transaction open");

    // The pooled connection dies between requests: the pipelined pair fails on it, and
    // is sent again on a fresh one. (Not through PgBouncer, which keeps its own server
    // connections and may hand out one it has not yet seen die: see .ci/run.)
    if crate::common::pgbouncer().await.is_some() {
        return;
    }
    kill_pooled_connections(&admin).await;
    let (body, compiled, _) = run(&b).await;
    assert!(compiled);
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(names(&body), ["Bob"]);
}

/// A statement that fails while a mutation's *nested* field loads (async-graphql records the
/// error and keeps the root field's data) must still undo the mutation: PostgreSQL aborted
/// the transaction, so a COMMIT would silently roll back what the answer says was saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_failing_under_a_mutation_field_undoes_the_mutation() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let contact = t.contact(&a.token, "Ada").await;
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"s\", channel: EMAIL}) { id } }",
            json!({ "c": contact }),
        )
        .await;
    let conversation = body
        .data("startConversation.id")
        .as_str()
        .unwrap()
        .to_string();
    // Reading a user's email now fails on the server, after the message was written.
    // (A privilege rather than a RESTRICTIVE policy: Citus 13.2 hands a restrictive policy
    // to the shards as a permissive one, where it would refuse nothing.)
    exec(
        &t.db.url,
        "REVOKE SELECT (email) ON users FROM tenantry_app",
    )
    .await
    .unwrap();
    let post = "mutation($c: ID!) { postMessage(input: {conversation: $c, body: \"hello\"}) { id author { email } } }";
    let (status, body) = t
        .post(Some(&a.token), &[], post, json!({ "c": conversation }))
        .await;
    assert_eq!(status, 200);
    assert!(
        body.data("postMessage").is_null(),
        "the message is reported although its transaction failed: {body}"
    );
    assert_eq!(body.code(), "INTERNAL_SERVER_ERROR", "{body}");
    assert!(
        !body.to_string().contains("permission denied"),
        "database text leaked: {body}"
    );
    let c = crate::common::client(&t.db.url).await;
    let saved: i64 = c
        .query_one("SELECT count(*) FROM messages WHERE body = 'hello'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(saved, 0);
    // The same mutation without the failing field is saved.
    let post =
        "mutation($c: ID!) { postMessage(input: {conversation: $c, body: \"hello\"}) { id } }";
    let (_, body) = t
        .post(Some(&a.token), &[], post, json!({ "c": conversation }))
        .await;
    assert!(body.data("postMessage.id").is_string(), "{body}");
}

/// The app's start-up query mixes the tenant's fields (the request transaction, holding
/// the one pooled connection) with `myTenants` (the auth path): both must be served, where
/// drawing the auth path's connection from the same pool waited forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_query_never_waits_for_a_second_pooled_connection() {
    let t = TestApp::with_config(|c| c.pool_size = Some(1)).await;
    let a = t.tenant("alpha").await;
    let query = "{ me { role } tenant { slug } myTenants { slug } }";
    let answers =
        futures_util::future::join_all((0..8).map(|_| {
            tokio::time::timeout(std::time::Duration::from_secs(20), t.gql(&a.token, query))
        }))
        .await;
    for answer in answers {
        let r = answer.expect("answered, not stuck waiting for a connection");
        assert_eq!(r["data"]["myTenants"][0]["slug"], "alpha", "{r}");
        assert_eq!(r.data("tenant.slug"), "alpha", "{r}");
    }
}

/// Creates a test's trigger `function` and the `trigger` on a tenant table, one statement at
/// a time (Citus hands a DDL statement to the shards with the text it came in). On Citus,
/// a trigger on a distributed table is refused unless declared to touch only its own
/// shard, as these do.
async fn install_trigger(url: &str, function: &str, trigger: &str) {
    let c = client(url).await;
    if on_citus() {
        c.batch_execute("SET citus.enable_unsafe_triggers = on")
            .await
            .unwrap();
    }
    for sql in [function, trigger] {
        c.batch_execute(sql).await.unwrap();
    }
}
