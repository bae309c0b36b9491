//! What operators see (issue 12): `/metrics` with bounded per-tenant labels, `/readyz`
//! with its checks, `tenantHealth` and who may read it, OTLP traces continuing the
//! caller's trace, and quiet, correct answers while the database is stopped.

use crate::common::{as_runtime_role, Reply, TestApp};
use crate::errors::Captured;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;
use tenantry::http::observe::{request as record_request, Observed};
use tenantry::ids::TenantId;

/// Records one query of `tenant` that took 3 ms, failed with `error` if given, through
/// the request path's own recording (metrics, health figures).
fn record(t: &TestApp, tenant: TenantId, error: Option<&'static str>) {
    let observed = Observed {
        code: error.unwrap_or("OK"),
        operation: "query",
        tenant: Some((tenant, Plan::Basic)),
        compiled: false,
    };
    record_request(
        &t.app,
        &observed,
        Duration::from_millis(3),
        &tracing::Span::none(),
    );
}

fn scrape(token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/metrics");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

/// The distinct values of `label` on the series of `metric` in a Prometheus text.
fn label_values(text: &str, metric: &str, label: &str) -> HashSet<String> {
    let prefix = format!("{metric}{{");
    let key = format!("{label}=\"");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let start = l.find(&key)? + key.len();
            let end = start + l[start..].find('"')?;
            Some(l[start..end].to_string())
        })
        .collect()
}

/// The value of the series of `metric` whose labels include `label` (0 if absent).
fn series_value(text: &str, metric: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_compiled_plan_declines_is_counted_by_reason() {
    // Plans on whatever `TENANTRY_COMPILED_PLANS` says: a decline needs a plan to ask.
    let t = TestApp::with_config(|c| {
        c.metrics_token = Some("scrape-secret".into());
        c.compiled_plans = tenantry::config::Switch::On;
    })
    .await;
    let a = t.tenant("alpha").await;
    let declines = |text: &[u8]| {
        let text = String::from_utf8(text.to_vec()).unwrap();
        series_value(
            &text,
            "tenantry_plan_declines_total",
            "reason=\"several_operations\"",
        )
    };
    let before = declines(&t.send_raw(scrape(Some("scrape-secret"))).await.1);
    // Two operations in one document: a plan judges one only, so the text is declined
    // (once the generic executor has run it) and every request of it is counted.
    let body = json!({
        "query": "query A { me { role } } query B { me { user { email } } }",
        "operationName": "A",
    });
    for _ in 0..3 {
        let request = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", a.token))
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, reply) = t.send(request).await;
        assert_eq!(status, StatusCode::OK);
        assert!(reply["data"]["me"]["role"].is_string(), "{reply}");
    }
    let after = declines(&t.send_raw(scrape(Some("scrape-secret"))).await.1);
    // The first request ran before any plan was asked for; the next two were declined.
    assert!(after >= before + 2.0, "declines {before} -> {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_keep_per_tenant_series_bounded_among_ten_thousand_tenants() {
    const K: usize = 5;
    let t = TestApp::with_config(|c| {
        c.metrics_token = Some("scrape-secret".into());
        c.metrics_top_tenants = K;
    })
    .await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("beta").await;
    // Real requests, compiled and generic, a mutation and a refusal.
    for _ in 0..3 {
        t.contact(&a.token, "Ada").await;
        let body = t
            .gql(
                &a.token,
                "{ contacts(first: 5) { edges { node { id name } } } }",
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        t.gql(&b.token, "{ me { email } }").await;
    }
    let (_, refused) = t.post(None, &[], "{ me { email } }", json!({})).await;
    assert_eq!(refused.code(), "UNAUTHENTICATED");

    // 10,000 tenants through the request path's own recording.
    let many: Vec<TenantId> = (0..10_000).map(|_| TenantId::new()).collect();
    for (i, tenant) in many.iter().enumerate() {
        let failed = i % 50 == 0;
        record(&t, *tenant, failed.then_some("INTERNAL_SERVER_ERROR"));
    }

    // The token guards it.
    assert_eq!(t.send_raw(scrape(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.send_raw(scrape(Some("wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, text) = t.send_raw(scrape(Some("scrape-secret"))).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(text).unwrap();

    let tenants = label_values(&text, "tenantry_requests_total", "tenant");
    let ours: HashSet<String> = many
        .iter()
        .chain([&a.id, &b.id])
        .map(|t| t.to_string())
        .collect();
    let labelled: Vec<&String> = tenants.iter().filter(|t| ours.contains(*t)).collect();
    assert!(
        labelled.len() <= K,
        "{} tenants labelled: {labelled:?}",
        labelled.len()
    );
    assert!(tenants.contains("other"), "{tenants:?}");
    // The real tenants came first: they have their own series, with their plan.
    for real in [&a, &b] {
        assert!(
            tenants.contains(&real.id.to_string()),
            "{} missing",
            real.slug
        );
    }
    assert!(text.contains("operation=\"mutation\""));
    assert!(text.contains("code=\"UNAUTHENTICATED\""));
    assert!(text.contains("code=\"INTERNAL_SERVER_ERROR\""));
    // Every series of the metric, across every tenant of the process, stays few.
    let series = text
        .lines()
        .filter(|l| l.starts_with("tenantry_requests_total{"))
        .count();
    assert!(series < 200, "{series} series of tenantry_requests_total");
    for name in [
        "tenantry_request_duration_seconds_bucket",
        "tenantry_db_pool_connections",
        "tenantry_db_pool_in_use",
        "tenantry_db_pool_waiting",
        "tenantry_db_checkout_wait_seconds_bucket",
        "tenantry_cache_lookups_total",
        "tenantry_subscriptions_active",
        "tenantry_notify_listener_up",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_there_is_no_metrics_route_and_readyz_reports_each_check() {
    let t = TestApp::new().await;
    assert_eq!(
        t.send_raw(scrape(Some("anything"))).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = t
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "status": "ready", "checks": { "database": true, "migrations": true, "listener": true } })
    );
    // A migration the database lacks: not ready, and the body says why.
    crate::common::exec(
        &t.db.url,
        "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)",
    )
    .await
    .unwrap();
    let (status, body) = t
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["migrations"], json!(false));
    assert_eq!(body["checks"]["database"], json!(true));
}

const HEALTH: &str = "query($id: ID) { tenantHealth(tenantId: $id) {
    tenantId plan status reasons
    checks { database errorRate latency quotas }
    metrics { requests errors errorRate p95LatencyMs windowSeconds }
    quotaUse { quota used limit fraction } lastChecked } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_health_is_for_the_tenants_admins_and_platform_administrators() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("beta").await;
    t.contact(&a.token, "Ada").await;
    let (_, member) = t.member(&a, "m@alpha.test", Role::Member).await;
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;

    let health = t.post(Some(&admin), &[], HEALTH, json!({})).await.1;
    let h = health.data("tenantHealth");
    assert_eq!(h["status"], "HEALTHY", "{health}");
    assert_eq!(h["checks"]["database"], true);
    assert_eq!(h["plan"], "BASIC");
    // The owner's contact and the requests so far (this one is counted once answered).
    let contacts = h["quotaUse"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["quota"] == "contacts")
        .unwrap();
    assert_eq!(contacts["used"], 1);
    let members = h["quotaUse"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["quota"] == "members")
        .unwrap();
    assert_eq!(members["used"], 3);
    assert!(h["metrics"]["requests"].as_u64().unwrap() >= 1, "{health}");
    assert_eq!(h["metrics"]["windowSeconds"], 300);
    let own_id = h["tenantId"].as_str().unwrap().to_string();

    // Naming its own tenant is the same; a MEMBER may not.
    let named = t
        .post(Some(&admin), &[], HEALTH, json!({ "id": own_id }))
        .await
        .1;
    assert_eq!(named.data("tenantHealth.status"), "HEALTHY", "{named}");
    let refused = t.post(Some(&member), &[], HEALTH, json!({})).await.1;
    assert_eq!(refused.code(), "FORBIDDEN", "{refused}");

    // A's admin and owner cannot read B's health.
    let b_id = tenantry::graphql::relay::global_id("Tenant", b.id.0);
    for token in [&admin, &a.token] {
        let other = t
            .post(Some(token), &[], HEALTH, json!({ "id": b_id }))
            .await
            .1;
        assert_eq!(other.code(), "FORBIDDEN", "{other}");
        assert!(other["data"].is_null() || other.data("tenantHealth").is_null());
    }

    // A platform administrator reads any tenant's, with that tenant's counts.
    let platform = t.app.platform();
    let root = platform.create_user("root@platform.test").await.unwrap();
    platform.set_platform_admin(root, true).await.unwrap();
    let root = t.token(root, None);
    let of_b = t
        .post(Some(&root), &[], HEALTH, json!({ "id": b_id }))
        .await
        .1;
    let contacts_of_b = &of_b.data("tenantHealth.quotaUse")[1];
    assert_eq!(contacts_of_b["quota"], "contacts", "{of_b}");
    assert_eq!(contacts_of_b["used"], 0, "{of_b}");
    assert_eq!(of_b.data("tenantHealth.tenantId"), &json!(b_id));

    // Server errors in A's recent requests make it unhealthy, and say so.
    for i in 0..40 {
        record(&t, a.id, (i % 4 == 0).then_some("SERVICE_UNAVAILABLE"));
    }
    let sick = t.post(Some(&admin), &[], HEALTH, json!({})).await.1;
    assert_eq!(sick.data("tenantHealth.status"), "UNHEALTHY", "{sick}");
    assert_eq!(sick.data("tenantHealth.checks.errorRate"), false);
    assert!(sick.data("tenantHealth.reasons")[0]
        .as_str()
        .unwrap()
        .contains("failed"));
    // B is untouched by A's errors.
    let of_b = t
        .post(Some(&root), &[], HEALTH, json!({ "id": b_id }))
        .await
        .1;
    assert_eq!(of_b.data("tenantHealth.status"), "HEALTHY", "{of_b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_counts_see_only_the_current_tenant_in_raw_sql() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("beta").await;
    t.contact(&b.token, "Bea").await;
    let c = as_runtime_role(&t.db.url, a.id).await;
    // The statement of `quota_counts`, naming B while A is the current tenant.
    let row = c
        .query_one(
            "SELECT (SELECT count(*) FROM memberships WHERE tenant_id = $1), \
                    (SELECT count(*) FROM contacts WHERE tenant_id = $1)",
            &[&b.id.0],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (0, 0));
    c.batch_execute("ROLLBACK").await.unwrap();
}

/// An OTLP/HTTP receiver on its own thread: every body POSTed to `/v1/traces`.
fn otlp_receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let kept = Arc::clone(&kept);
                    async move {
                        kept.lock().unwrap().push(body.to_vec());
                        StatusCode::OK
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), bodies)
}

#[tokio::test]
async fn traces_reach_the_collector_inside_the_callers_trace() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message;
    use tracing_subscriber::layer::SubscriberExt;

    let (endpoint, bodies) = otlp_receiver();
    let (layer, tracing) = tenantry::telemetry::traces::layer(&endpoint).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    // This test's runtime is one thread: the subscriber sees the whole request.
    let _default = tracing::subscriber::set_default(subscriber);

    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    t.contact(&a.token, "Ada").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent}-01");
    let (_, body) = t
        .post(
            Some(&a.token),
            &[("traceparent", &traceparent)],
            "query Listing { contacts(first: 5) { edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    tracing.flush();

    let mut spans = Vec::new();
    for body in bodies.lock().unwrap().iter() {
        let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in export.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let attr = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref()?.value.clone())
            .map(|v| match v {
                Any::StringValue(s) => s,
                other => format!("{other:?}"),
            })
    };
    let request = spans
        .iter()
        .find(|s| s.name == "graphql" && hex(&s.trace_id) == trace_id)
        .unwrap_or_else(|| {
            panic!(
                "no request span in the caller's trace among {} spans",
                spans.len()
            )
        });
    assert_eq!(hex(&request.parent_span_id), parent);
    assert_eq!(attr(request, "tenant.id"), Some(a.id.to_string()));
    assert_eq!(attr(request, "user.id"), Some(a.owner.to_string()));
    assert!(attr(request, "request.id").is_some());
    assert_eq!(attr(request, "operation.name").as_deref(), Some("Listing"));
    assert_eq!(attr(request, "operation.type").as_deref(), Some("query"));
    assert_eq!(attr(request, "outcome.code").as_deref(), Some("OK"));
    let transaction = spans
        .iter()
        .find(|s| s.name == "transaction" && s.parent_span_id == request.span_id)
        .expect("a transaction span under the request");
    let statements: Vec<String> = spans
        .iter()
        .filter(|s| s.name == "sql" && s.parent_span_id == transaction.span_id)
        .filter_map(|s| attr(s, "db.statement"))
        .collect();
    assert!(statements.len() >= 2, "{statements:?}");
    assert!(
        statements
            .iter()
            .any(|s| s.contains("SET LOCAL app.tenant_id = '?'")),
        "{statements:?}"
    );
    assert!(
        statements.iter().any(|s| s.contains("contacts")),
        "{statements:?}"
    );
    // No values: neither the tenant's id nor the contact's name.
    for s in &statements {
        assert!(!s.contains(&a.id.to_string()) && !s.contains("Ada"), "{s}");
    }
}

/// A private cluster of its own, under a temporary folder, stopped and removed at the end
/// (the shared development cluster is never stopped).
struct ThrowawayCluster {
    cluster: tenantry::db::dev::DevCluster,
    home: std::path::PathBuf,
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[tokio::test]
async fn a_stopped_database_under_load_is_service_unavailable_and_a_few_log_lines() {
    use tracing_subscriber::layer::SubscriberExt;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || writer.clone())
            // Warnings and errors, with the (INFO) spans they happen in.
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.is_span() || *m.level() <= tracing::Level::WARN
            })),
    );
    use tracing_subscriber::Layer;
    let _default = tracing::subscriber::set_default(subscriber);

    let home =
        std::env::temp_dir().join(format!("tenantry-fault-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&home).unwrap();
    let cluster = ThrowawayCluster {
        cluster: tenantry::db::dev::DevCluster::new(&home, None).unwrap(),
        home: home.clone(),
    };
    let url = cluster.cluster.ensure_running().await.unwrap();
    let mut config = tenantry::config::Config::for_database(url);
    config.jwt_secret = Some("test-secret-test-secret-test-secret!".into());
    config.tenant_cache_ttl_ms = 0;
    config.home = home.clone();
    let app = tenantry::app::App::start(config).await.unwrap();
    let router = tenantry::http::router(Arc::clone(&app));
    let platform = app.platform();
    let tenant = platform.create_tenant("fault", "Fault Inc").await.unwrap();
    let owner = platform.create_user("owner@fault.test").await.unwrap();
    platform
        .set_membership(tenant, owner, Role::Owner)
        .await
        .unwrap();
    let token = app
        .keys
        .sign(owner, Some(tenant), Duration::from_secs(600))
        .unwrap();

    // Concurrent clients, reads and writes, before, while and after the database stops.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(StatusCode, String)>>> = Arc::default();
    let mut clients = Vec::new();
    for n in 0..8 {
        let (router, token, stop, answers) = (
            router.clone(),
            token.clone(),
            Arc::clone(&stop),
            Arc::clone(&answers),
        );
        clients.push(tokio::spawn(async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let query = if (n + i) % 3 == 0 {
                    json!({ "query": "mutation { createContact(input: {name: \"X\"}) { id } }" })
                } else {
                    json!({ "query": "{ contacts(first: 3) { edges { node { id } } } }" })
                };
                let request = Request::post("/graphql")
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::from(query.to_string()))
                    .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let codes: Vec<String> = body["errors"]
                    .as_array()
                    .map(|errors| {
                        errors
                            .iter()
                            .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                {
                    let mut answers = answers.lock().unwrap();
                    if codes.is_empty() {
                        answers.push((status, "OK".into()));
                    }
                    for code in codes {
                        answers.push((status, code));
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let served_before = answers.lock().unwrap().len();
    let stopper = {
        let cluster = cluster.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop())
    };
    // Keep the load on while PostgreSQL shuts down and for two seconds after.
    stopper.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    let answers = answers.lock().unwrap().clone();
    assert!(served_before > 0, "nothing served before the stop");
    let unavailable = answers
        .iter()
        .filter(|(_, c)| c == "SERVICE_UNAVAILABLE")
        .count();
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(_, c)| c != "OK" && c != "SERVICE_UNAVAILABLE")
        .collect();
    assert!(
        unavailable >= 50,
        "only {unavailable} refusals of {}",
        answers.len()
    );
    assert!(
        wrong.is_empty(),
        "{} answers that were neither OK nor SERVICE_UNAVAILABLE: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    // A refusal before execution is 503; none is 500.
    assert!(answers
        .iter()
        .all(|(s, _)| *s != StatusCode::INTERNAL_SERVER_ERROR));

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // One line per distinct cause (the shutdown shows a handful: connection closed,
    // terminating connection, shutting down, refused, …), not one per refusal.
    assert!(
        lines.len() <= 20,
        "{} log lines for {unavailable} refusals:\n{}",
        lines.len(),
        lines.join("\n")
    );
    // The line a refusal wrote carries its request's ids (JSON logs). Not necessarily the
    // first line of the outage: a background task (the listener, the usage flush) may meet
    // it first, without a request, and the requests' repeats of that cause are folded.
    assert!(
        lines.iter().any(|l| l.contains("database unavailable")),
        "the outage is logged"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("database unavailable") && l.contains("\"request.id\"")),
        "no refusal's line carries its request id:\n{}",
        lines.join("\n")
    );
    drop(app);
}

#[test]
fn the_dashboard_shows_only_metrics_the_server_exports() {
    use tenantry::telemetry::metrics as m;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/grafana/tenantry.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let known = [
        m::REQUESTS,
        m::REQUEST_SECONDS,
        m::PLAN_HITS,
        m::POOL_MAX,
        m::POOL_SIZE,
        m::POOL_IN_USE,
        m::POOL_WAITING,
        m::CHECKOUT_SECONDS,
        m::DB_ERRORS,
        m::CACHE_LOOKUPS,
        m::CACHE_INVALIDATIONS,
        m::SUBSCRIPTIONS,
        m::LISTENER_UP,
        // Recorded by the plan compiler (`schema::plan`) through the same recorder.
        "tenantry_plan_declines_total",
    ];
    let mut shown = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("tenantry_").map(|_| word) {
                    let name = name.strip_suffix("_bucket").unwrap_or(name);
                    assert!(known.contains(&name), "{name} in {:?}", panel["title"]);
                    shown += 1;
                }
            }
        }
    }
    assert!(shown >= known.len());
}
