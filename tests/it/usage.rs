//! Usage metering, cost budgets and rate-limit headers (issue 12): counts kept in memory
//! and flushed in one upsert, read by the tenant's admins (and nobody else's), across
//! tenants by platform administrators and as CSV by operators; `extensions.cost` on every
//! response and QUOTA_EXCEEDED over the plan's monthly budget; `RateLimit-*` headers and
//! 429 with `Retry-After` over a real HTTP connection, per tenant and per API key.

use crate::common::{client, first_code, Reply, TestApp, TestTenant};
use serde_json::{json, Value};
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;

const USAGE: &str = "query($f: NaiveDate!, $t: NaiveDate!) { tenantUsage(from: $f, to: $t) {
    from to days { day requests errors mutations queryCost rowsWritten members contacts }
    total { requests errors mutations queryCost rowsWritten } } }";

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

async fn usage(t: &TestApp, token: &str) -> Value {
    let (_, body) = t
        .post(
            Some(token),
            &[],
            USAGE,
            json!({ "f": today(), "t": today() }),
        )
        .await;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_counted_in_memory_flushed_once_and_read_by_the_tenants_admins_only() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let db = client(&t.db.url).await;

    // alpha: two queries, one failing query, one mutation (one contact row written).
    for _ in 0..2 {
        let body = t
            .gql(&a.token, "{ contacts(first: 5) { edges { node { id } } } }")
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let cost = &body["extensions"]["cost"];
        assert!(cost["requested"].as_u64().unwrap() > 0, "{body}");
        // The basic plan has a monthly budget: what is left and when it resets.
        assert_eq!(cost["budget"], json!(10_000_000), "{body}");
        assert!(cost["remaining"].as_i64().unwrap() < 10_000_000, "{body}");
        assert!(
            cost["resetsAt"]
                .as_str()
                .unwrap()
                .ends_with("-01T00:00:00Z"),
            "{body}"
        );
    }
    let body = t
        .gql(&a.token, "{ conversation(id: \"nope\") { id } }")
        .await;
    assert!(!body["errors"].is_null(), "{body}");
    t.contact(&a.token, "Ada").await;

    // Nothing is written per request: the rows appear with the flush.
    let rows: i64 = db
        .query_one("SELECT count(*) FROM usage_daily", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    assert_eq!(t.app.usage.unflushed(a.id).requests, 4);
    assert_eq!(t.app.usage.flush().await.unwrap(), 1);
    assert_eq!(t.app.usage.unflushed(a.id), Default::default());

    let body = usage(&t, &a.token).await;
    let day = &body["data"]["tenantUsage"]["days"][0];
    assert_eq!(day["day"], json!(today()), "{body}");
    assert_eq!(day["requests"], json!(4), "{body}");
    assert_eq!(day["errors"], json!(1), "{body}");
    assert_eq!(day["mutations"], json!(1), "{body}");
    assert_eq!(day["rowsWritten"], json!(1), "{body}");
    assert_eq!(day["members"], json!(1), "{body}");
    assert_eq!(day["contacts"], json!(1), "{body}");
    assert!(day["queryCost"].as_i64().unwrap() > 0, "{body}");
    assert_eq!(
        body["data"]["tenantUsage"]["total"]["requests"],
        json!(4),
        "{body}"
    );

    // A second flush adds to the day's row.
    t.app.usage.flush().await.unwrap();
    let body = usage(&t, &a.token).await;
    assert_eq!(
        body.data("tenantUsage.days")[0]["requests"],
        json!(5),
        "{body}"
    );

    // bravo sees only its own usage (none flushed yet), never alpha's.
    let body = usage(&t, &b.token).await;
    assert_eq!(body.data("tenantUsage.days"), &json!([]), "{body}");

    // Admins only: a MEMBER is refused.
    let (_, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    assert_eq!(first_code(&usage(&t, &member).await), "FORBIDDEN");
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let body = usage(&t, &admin).await;
    assert!(body["errors"].is_null(), "{body}");

    // A reversed or too long range is the client's error.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            USAGE,
            json!({ "f": "2026-02-01", "t": "2026-01-01" }),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");

    // Raw SQL as the runtime role: each tenant sees its own rows, writes none.
    for (tenant, expected) in [(a.id, 1i64), (b.id, 0)] {
        db.batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'",
            tenant.0
        ))
        .await
        .unwrap();
        let seen: i64 = db
            .query_one("SELECT count(*) FROM usage_daily", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(seen, expected);
        let forged = db
            .batch_execute(&format!(
                "INSERT INTO usage_daily (tenant_id, day) VALUES ('{}', current_date - 1)",
                tenant.0
            ))
            .await;
        assert!(forged.is_err(), "the runtime role wrote usage");
        db.batch_execute("ROLLBACK").await.unwrap();
    }
    // No tenant set: nothing.
    db.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app")
        .await
        .unwrap();
    let seen: i64 = db
        .query_one("SELECT count(*) FROM usage_daily", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    db.batch_execute("ROLLBACK").await.unwrap();
    // The meter counts members and contacts but cannot read them.
    db.batch_execute("BEGIN; SET LOCAL ROLE tenantry_meter")
        .await
        .unwrap();
    let err = db
        .query("SELECT name FROM contacts", &[])
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("permission denied"), "{err:?}");
    db.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_usage_pages_across_tenants_for_platform_administrators_only() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.contact(&a.token, "Ada").await;
    t.contact(&b.token, "Bob").await;
    t.contact(&b.token, "Bea").await;
    t.app.usage.flush().await.unwrap();
    let platform = t.app.platform();
    let root = platform.create_user("root@platform.test").await.unwrap();
    platform.set_platform_admin(root, true).await.unwrap();
    let root = t.token(root, None);
    let query = "query($f: NaiveDate!, $t: NaiveDate!, $a: String) {
        platformUsage(from: $f, to: $t, first: 1, after: $a) {
          edges { cursor node { slug days members contacts total { requests mutations rowsWritten } } }
          pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (_, body) = t
            .post(
                Some(&root),
                &[],
                query,
                json!({ "f": today(), "t": today(), "a": after }),
            )
            .await;
        let page = body.data("platformUsage");
        assert!(body["errors"].is_null(), "{body}");
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"].clone());
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    seen.sort_by_key(|n| n["slug"].as_str().unwrap().to_string());
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0]["slug"], json!("alpha"));
    assert_eq!(seen[0]["total"]["requests"], json!(1));
    assert_eq!(seen[0]["contacts"], json!(1));
    assert_eq!(seen[1]["slug"], json!("bravo"));
    assert_eq!(seen[1]["total"]["mutations"], json!(2));
    assert_eq!(seen[1]["total"]["rowsWritten"], json!(2));
    assert_eq!(seen[1]["contacts"], json!(2));

    // A tenant's owner is not a platform administrator.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            query,
            json!({ "f": today(), "t": today() }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    // Operators: CSV, one line per day.
    let home = tempdir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args([
            "usage",
            "--tenant",
            "bravo",
            "--from",
            &today(),
            "--to",
            &today(),
        ])
        .env("DATABASE_URL", &t.db.url)
        .env("TENANTRY_HOME", &home)
        .env("TENANTRY_JWT_SECRET", "cli-test-secret-cli-test-secret-!!")
        .env("RUST_LOG", "error")
        .output()
        .expect("run tenantry");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "day,requests,errors,mutations,query_cost,rows_written,members,contacts"
    );
    assert_eq!(lines.len(), 2, "{stdout}");
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[0], today());
    assert_eq!(&fields[1..4], &["2", "0", "2"], "{stdout}");
    assert_eq!(fields[5], "2");
    assert_eq!(fields[7], "2");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantry-usage-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Records `cost` as spent by `tenant` this month, as another process (or earlier days)
/// would have, and flushes, so the budget check sees it.
async fn spent_this_month(t: &TestApp, tenant: &TestTenant, cost: i64) {
    client(&t.db.url)
        .await
        .execute(
            "INSERT INTO usage_daily (tenant_id, day, requests, query_cost)
             VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1, $2)
             ON CONFLICT (tenant_id, day)
             DO UPDATE SET query_cost = usage_daily.query_cost + EXCLUDED.query_cost",
            &[&tenant.id.0, &cost],
        )
        .await
        .unwrap();
    t.app.usage.flush().await.unwrap();
}

/// A text with a compiled plan is refused over the budget as the generic executor refuses
/// it: the budget is checked before either runs (issue 14: plans skip no quota).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_query_over_the_cost_budget_is_refused_as_the_generic_one() {
    let t = TestApp::with_plans().await;
    let a = t.tenant("alpha").await;
    let query = "{ contacts(first: 10) { edges { node { id name } } } }";
    // The text gets its plan while the budget lasts (the generic executor runs it first).
    for _ in 0..2 {
        let body = t.gql(&a.token, query).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    assert!(crate::compiled::has_plan(&t, query), "no plan for {query}");
    // Then the month's budget is spent (by another process, or earlier days).
    let budget = Plan::Basic.quotas().monthly_cost_budget.unwrap();
    spent_this_month(&t, &a, budget).await;
    let before = t.app.graphql.compiled_count();
    let body =
        crate::compiled::refused_alike(&t, &a.token, query, json!({}), "QUOTA_EXCEEDED").await;
    assert!(body.get("data").is_none_or(|d| d.is_null()), "{body}");
    // Refused before the plan ran: no compiled answer was counted.
    assert_eq!(t.app.graphql.compiled_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_monthly_cost_budget_is_quota_exceeded() {
    // Plans on whatever the run says: the budget is checked on compiled answers too.
    let t = TestApp::with_plans().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.app
        .platform()
        .change_plan("bravo", Plan::Enterprise)
        .await
        .unwrap();
    let budget = Plan::Basic.quotas().monthly_cost_budget.unwrap();
    // Another process (or earlier days) spent all but 2 of alpha's budget this month.
    spent_this_month(&t, &a, budget - 2).await;

    let query = "{ contacts(first: 10) { edges { node { id name } } } }";
    let body = t.gql(&a.token, query).await;
    assert_eq!(first_code(&body), "QUOTA_EXCEEDED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&budget.to_string()), "{message}");
    assert!(
        message.contains("resets at") && message.contains("-01T00:00:00Z"),
        "{message}"
    );
    assert!(
        body.get("data").is_none_or(|d| d.is_null()),
        "nothing ran: {body}"
    );
    // Mutations too.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { createContact(input: {name: \"X\"}) { id name } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "QUOTA_EXCEEDED", "{body}");
    // A request within what is left runs, and says what is left.
    let body = t.gql(&a.token, "{ me { role } }").await;
    assert!(body["errors"].is_null(), "{body}");
    let cost = &body["extensions"]["cost"];
    let requested = cost["requested"].as_i64().unwrap();
    assert!((1..=2).contains(&requested), "{body}");
    assert_eq!(cost["remaining"], json!(2 - requested), "{body}");
    // What never reaches the tenant (introspection) is not charged.
    let body = t.gql(&a.token, "{ __typename }").await;
    assert!(body["errors"].is_null(), "{body}");

    // A plan without a budget: the cost alone, on generic and compiled answers alike.
    for _ in 0..3 {
        let body = t.gql(&b.token, query).await;
        assert!(body["errors"].is_null(), "{body}");
        let cost = &body["extensions"]["cost"];
        assert!(cost["requested"].as_u64().unwrap() > 10, "{body}");
        assert!(cost.get("budget").is_none(), "{body}");
    }
    assert!(
        t.app.graphql.compiled_count() > 0,
        "a compiled plan answered"
    );
}

/// Sends `query` over HTTP with `token`; returns status, headers and body.
async fn http(base: &str, token: &str, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_and_429_per_tenant_and_per_api_key() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let k = t.tenant("kilo").await;
    let e = t.tenant("echo").await;
    let platform = t.app.platform();
    platform.change_plan("kilo", Plan::Premium).await.unwrap();
    platform
        .change_plan("echo", Plan::Enterprise)
        .await
        .unwrap();
    let base = t.listen().await;
    let query = "{ me { role } }";

    // basic: 600 per minute. Every answer says where the tenant stands; the 601st is 429.
    let limit = Plan::Basic.quotas().requests_per_minute.unwrap() as u64;
    let mut refused = None;
    for i in 1..=limit * 2 {
        let (status, headers, body) = http(&base, &a.token, query).await;
        assert_eq!(
            header(&headers, "ratelimit-limit"),
            Some(limit),
            "{headers:?}"
        );
        assert_eq!(header(&headers, "x-ratelimit-limit"), Some(limit));
        let remaining = header(&headers, "ratelimit-remaining").unwrap();
        assert_eq!(header(&headers, "x-ratelimit-remaining"), Some(remaining));
        assert!(header(&headers, "ratelimit-reset").unwrap() <= 60);
        if status == 429 {
            refused = Some((i, headers, body));
            break;
        }
        assert_eq!(status, 200, "{body}");
        // (GCRA gives one back every 100 ms: the count falls by at most one per request.)
        assert!(remaining < limit, "request {i}: {remaining} remaining");
        assert!(headers.get("retry-after").is_none());
    }
    let (i, headers, body) = refused.expect("the rate refused a request");
    assert!(i > limit - 5, "refused at request {i}");
    assert_eq!(first_code(&body), "RATE_LIMITED", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(header(&headers, "ratelimit-remaining"), Some(0));
    let retry = header(&headers, "retry-after").unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");

    // Enterprise: no rate, no headers.
    let (status, headers, _) = http(&base, &e.token, query).await;
    assert_eq!(status, 200);
    assert!(headers.get("ratelimit-limit").is_none(), "{headers:?}");

    // An API key with its own rate: limited apart from its tenant, which keeps serving.
    let (_, body) = t
        .post(
            Some(&k.token),
            &[],
            "mutation { createApiKey(name: \"ci\", role: VIEWER, requestsPerMinute: 2) {
                secret apiKey { requestsPerMinute } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body.data("createApiKey.apiKey.requestsPerMinute"),
        &json!(2),
        "{body}"
    );
    let key = body
        .data("createApiKey.secret")
        .as_str()
        .unwrap()
        .to_string();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, headers, body) = http(&base, &key, query).await;
        assert_eq!(
            header(&headers, "ratelimit-limit"),
            Some(2),
            "{headers:?} {body}"
        );
        statuses.push((
            status,
            header(&headers, "ratelimit-remaining"),
            header(&headers, "retry-after"),
        ));
    }
    assert_eq!(statuses[0], (200, Some(1), None));
    assert_eq!(statuses[1], (200, Some(0), None));
    assert_eq!(statuses[2].0, 429);
    assert!(statuses[2].2.unwrap() >= 1);
    let (status, headers, _) = http(&base, &k.token, query).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "ratelimit-limit"), Some(6_000));
    // A key rate out of range is refused.
    let (_, body) = t
        .post(
            Some(&k.token),
            &[],
            "mutation { createApiKey(name: \"x\", role: VIEWER, requestsPerMinute: 0) { secret } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body.error_field(), Some("requestsPerMinute"));
}
