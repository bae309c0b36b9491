//! The shared test harness: one migrated template database per test run, a fresh database
//! per test (`CREATE DATABASE .. TEMPLATE ..`, dropped afterwards), and the real application
//! and HTTP router on top of it, so tests go through exactly the path the server uses.
//! The PostgreSQL is `DATABASE_URL`'s server if set, else the private cluster.
//!
//! With `TENANTRY_TEST_PGBOUNCER=1` the application's pools go through a PgBouncer in
//! transaction mode started for this test process ([`pgbouncer`]), with the statement cache
//! off (unless `TENANTRY_STATEMENT_CACHE` says otherwise, to show why it must be); the
//! direct URL (migrations, the LISTEN connection, the platform path) and the tests' own raw
//! SQL go to the server directly.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tenantry::app::App;
use tenantry::auth::Role;
use tenantry::config::Config;
use tenantry::ids::{TenantId, UserId};
use tokio::sync::OnceCell;
use tower::ServiceExt;

/// The server-level admin URL (database `postgres`) and the template name, and the local
/// Citus cluster when the suite runs on it (`TENANTRY_TEST_CITUS=1`).
struct Base {
    admin_url: String,
    template: String,
    citus: Option<tenantry::db::citus::CitusCluster>,
    /// The PgBouncer requests go through, with `TENANTRY_TEST_PGBOUNCER=1`.
    pgbouncer: Option<tenantry::db::pooler::LocalPgBouncer>,
}

/// Whether this run is on the local Citus cluster (`TENANTRY_TEST_CITUS=1`) rather than one
/// PostgreSQL server.
pub fn on_citus() -> bool {
    std::env::var("TENANTRY_TEST_CITUS").is_ok_and(|v| v == "1")
}

/// The local Citus cluster of this run, if it runs on one.
pub async fn citus() -> Option<&'static tenantry::db::citus::CitusCluster> {
    base().await.citus.as_ref()
}

static BASE: OnceCell<Base> = OnceCell::const_new();

/// `url` with its database replaced by `db` (URL or key-value form).
pub fn with_database(url: &str, db: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (head, query) = match url.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (url, None),
        };
        let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
        let base = match head[scheme_end..].find('/') {
            Some(i) => &head[..scheme_end + i],
            None => head,
        };
        match query {
            Some(q) => format!("{base}/{db}?{q}"),
            None => format!("{base}/{db}"),
        }
    } else {
        format!("{url} dbname={db}")
    }
}

fn migrations_hash() -> u64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut h: u64 = 0xcbf29ce484222325;
    for f in files {
        for b in f
            .to_string_lossy()
            .bytes()
            .chain(std::fs::read(&f).unwrap_or_default())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
    }
    h
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs `sql` on `url` with a plain client.
pub async fn exec(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(conn);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = task.await;
    result
}

/// A plain client on `url` (its connection task is spawned).
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// A plain client on `url` inside a transaction as the runtime role with `tenant` current,
/// as a request's (for the raw-SQL halves of cross-tenant tests).
pub async fn as_runtime_role(url: &str, tenant: TenantId) -> tokio_postgres::Client {
    let c = client(url).await;
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{tenant}'"
    ))
    .await
    .expect("begin as the runtime role");
    c
}

async fn base() -> &'static Base {
    BASE.get_or_init(|| async {
        if on_citus() {
            return citus_base().await;
        }
        let config = Config::for_database("unused");
        let config = Config {
            database_url: std::env::var("DATABASE_URL").ok(),
            home: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tenantry"),
            ..config
        };
        let app_url = tenantry::db::database_url(&config).await.expect("database");
        let admin_url = with_database(&app_url, "postgres");
        let template = format!("tenantry_tmpl_{:016x}", migrations_hash());
        let admin = client(&admin_url).await;
        // Serialise template creation across concurrently running test binaries.
        admin.execute("SELECT pg_advisory_lock(7243)", &[]).await.expect("lock");
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
            .await
            .expect("query")
            .is_some();
        if !exists {
            let building = format!("{template}_building");
            for sql in [
                format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
                format!("CREATE DATABASE {building}"),
            ] {
                admin.batch_execute(&sql).await.expect("create template");
            }
            let pool = tenantry::db::build_pool(&with_database(&app_url, &building), 1).expect("pool");
            tenantry::db::run_migrations(&pool).await.expect("migrate template");
            drop(pool);
            // The pool's connection may still be closing; make sure nobody is connected.
            admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{building}'"
                ))
                .await
                .expect("disconnect template");
            tokio::time::sleep(Duration::from_millis(100)).await;
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
                .await
                .expect("rename template");
        }
        admin.execute("SELECT pg_advisory_unlock(7243)", &[]).await.expect("unlock");
        // Asked for and unavailable is a failure, never a quiet run without it.
        let pgbouncer = match std::env::var("TENANTRY_TEST_PGBOUNCER").as_deref() {
            Ok("1") => Some(
                tenantry::db::pooler::LocalPgBouncer::start(&admin_url)
                    .await
                    .expect("starting PgBouncer (TENANTRY_TEST_PGBOUNCER=1)"),
            ),
            _ => None,
        };
        Base {
            admin_url,
            template,
            citus: None,
            pgbouncer,
        }
    })
    .await
}

/// [`base`] on the local Citus cluster: the template is made (extension, nodes, migrations
/// that distribute) on every node under its final name, with a table marking it complete.
async fn citus_base() -> Base {
    let home = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tenantry");
    let cluster = tenantry::db::citus::CitusCluster::new(&home, None).expect("citus cluster");
    cluster
        .ensure_started()
        .await
        .expect("start the Citus cluster");
    let admin_url = cluster.coordinator().url("postgres");
    let template = format!("tenantry_ctmpl_{:016x}", migrations_hash());
    let admin = client(&admin_url).await;
    admin
        .execute("SELECT pg_advisory_lock(7243)", &[])
        .await
        .expect("lock");
    let template_url = with_database(&admin_url, &template);
    let ready = match tokio_postgres::connect(&template_url, tokio_postgres::NoTls).await {
        Ok((c, conn)) => {
            tokio::spawn(conn);
            c.query_opt(
                "SELECT 1 FROM pg_tables WHERE tablename = 'tenantry_template_ready'",
                &[],
            )
            .await
            .ok()
            .flatten()
            .is_some()
        }
        Err(_) => false,
    };
    if !ready {
        cluster
            .drop_database(&template)
            .await
            .expect("drop a half-made template");
        cluster
            .prepare_database(&template)
            .await
            .expect("prepare the template");
        let pool = tenantry::db::build_pool(&template_url, 1).expect("pool");
        tenantry::db::run_migrations(&pool)
            .await
            .expect("migrate the Citus template");
        drop(pool);
        // A local table on the coordinator only: the mark that the template is complete.
        exec(&template_url, "CREATE TABLE tenantry_template_ready ()")
            .await
            .expect("mark the template");
    }
    admin
        .execute("SELECT pg_advisory_unlock(7243)", &[])
        .await
        .expect("unlock");
    Base {
        admin_url,
        template,
        citus: Some(cluster),
        pgbouncer: None,
    }
}

/// The PgBouncer of this test process, when the suite runs through one
/// (`TENANTRY_TEST_PGBOUNCER=1`).
pub async fn pgbouncer() -> Option<&'static tenantry::db::pooler::LocalPgBouncer> {
    base().await.pgbouncer.as_ref()
}

/// A fresh database for one test, dropped when this goes out of scope.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
    /// The run's Citus cluster, whose every node holds a copy of this database.
    citus: Option<tenantry::db::citus::CitusCluster>,
}

impl TestDb {
    /// A fresh database cloned from the migrated template.
    pub async fn new() -> Self {
        let base = base().await;
        let name = format!("tenantry_test_{}", uuid::Uuid::new_v4().simple());
        match &base.citus {
            Some(cluster) => cluster
                .copy_database(&base.template, &name)
                .await
                .expect("copy the Citus template"),
            None => exec(
                &base.admin_url,
                &format!("CREATE DATABASE {name} TEMPLATE {}", base.template),
            )
            .await
            .expect("create test database"),
        }
        TestDb {
            url: with_database(&base.admin_url, &name),
            name,
            admin_url: base.admin_url.clone(),
            citus: base.citus.clone(),
        }
    }

    /// An empty database (no migrations), for the migration tests.
    pub async fn empty() -> Self {
        let base = base().await;
        let name = format!("tenantry_test_{}", uuid::Uuid::new_v4().simple());
        match &base.citus {
            Some(cluster) => cluster
                .prepare_database(&name)
                .await
                .expect("create an empty Citus database"),
            None => exec(&base.admin_url, &format!("CREATE DATABASE {name}"))
                .await
                .expect("create empty database"),
        }
        TestDb {
            url: with_database(&base.admin_url, &name),
            name,
            admin_url: base.admin_url.clone(),
            citus: base.citus.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs outside async context guarantees: use a thread with its own runtime.
        let name = self.name.clone();
        let citus = self.citus.take();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            match citus {
                Some(cluster) => {
                    let _ = rt.block_on(cluster.drop_database(&name));
                }
                None => {
                    let _ = rt.block_on(exec(&admin, &sql));
                }
            }
        })
        .join();
    }
}

/// Waits until the application's tenancy listener has run its `LISTEN` and dropped every
/// cache once (it bumps the cache generation then), so a test that caches something
/// cannot see it vanish afterwards; and until the trusted-document list has been reloaded
/// once more after that `LISTEN` (the second load; the first is at start), so a test
/// counting reloads cannot take that one, begun before its own change, for the one after.
async fn wait_for_tenancy_listener(app: &App) {
    for _ in 0..1000 {
        if app.resolver.generation() > 0 && app.documents.loads() >= 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the tenancy listener did not start");
}

/// A running application on a fresh database.
pub struct TestApp {
    pub app: Arc<App>,
    pub router: axum::Router,
    pub db: TestDb,
}

/// A tenant made by [`TestApp::tenant`]: its id, its owner and the owner's token.
pub struct TestTenant {
    pub id: TenantId,
    pub slug: String,
    pub owner: UserId,
    pub token: String,
}

impl TestApp {
    /// The application on a fresh database with default settings.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// The application with compiled plans on, whatever `TENANTRY_COMPILED_PLANS` says: for
    /// the tests of the plans themselves. Every other test follows the variable, and CI runs
    /// them with plans on and off.
    pub async fn with_plans() -> Self {
        Self::with_config(|c| c.compiled_plans = tenantry::config::Switch::On).await
    }

    /// The application on a fresh database, with settings adjusted by `adjust`.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new().await;
        let mut config = Config::for_database(db.url.clone());
        if let Some(pgbouncer) = pgbouncer().await {
            config.database_url = Some(pgbouncer.url(&db.name));
            config.direct_database_url = Some(db.url.clone());
            if std::env::var_os("TENANTRY_STATEMENT_CACHE").is_none() {
                config.statement_cache = tenantry::config::Switch::Off;
            }
        }
        if on_citus() {
            // Every request statement of every test must go to one node (issue 15): one
            // that fans out fails the request, and so the test.
            config.citus_refuse_fan_out = tenantry::config::Switch::On;
        }
        config.jwt_secret = Some("test-secret-test-secret-test-secret!".into());
        config.tenant_cache_ttl_ms = 0;
        adjust(&mut config);
        let app = App::start(config).await.expect("app");
        let router = tenantry::http::router(Arc::clone(&app));
        wait_for_tenancy_listener(&app).await;
        TestApp { app, router, db }
    }

    /// Serves the router on a TCP port of 127.0.0.1 (for clients outside the process, such
    /// as a browser) until the test's runtime ends; returns the base URL (`http://127.0.0.1:N`).
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        // As `serve` runs it: with the peer address, the login limits' client address.
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.expect("serve") });
        format!("http://{addr}")
    }

    /// Creates a tenant with an owner; returns it with the owner's token.
    pub async fn tenant(&self, slug: &str) -> TestTenant {
        let platform = self.app.platform();
        let id = platform
            .create_tenant(slug, &format!("{slug} Inc"))
            .await
            .expect("tenant");
        let owner = platform
            .create_user(&format!("owner@{slug}.test"))
            .await
            .expect("user");
        platform
            .set_membership(id, owner, Role::Owner)
            .await
            .expect("membership");
        let token = self.token(owner, Some(id));
        TestTenant {
            id,
            slug: slug.to_string(),
            owner,
            token,
        }
    }

    /// Adds a user with `role` to `tenant`; returns the user and a token for it.
    pub async fn member(&self, tenant: &TestTenant, email: &str, role: Role) -> (UserId, String) {
        let platform = self.app.platform();
        let user = platform.create_user(email).await.expect("user");
        platform
            .set_membership(tenant.id, user, role)
            .await
            .expect("membership");
        (user, self.token(user, Some(tenant.id)))
    }

    /// A valid token for `user`, bound to `tenant`.
    pub fn token(&self, user: UserId, tenant: Option<TenantId>) -> String {
        self.app
            .keys
            .sign(user, tenant, Duration::from_secs(600))
            .expect("sign")
    }

    /// POSTs a GraphQL request with `token` and extra `headers`; returns status and body.
    pub async fn post(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self.post_raw(token, headers, query, variables).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Like [`TestApp::post`], but returns the body's bytes as sent.
    pub async fn post_raw(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        query: &str,
        variables: Value,
    ) -> (StatusCode, Vec<u8>) {
        let mut builder = Request::post("/graphql").header("content-type", "application/json");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        self.send_raw(builder.body(Body::from(body)).expect("request"))
            .await
    }

    /// POSTs `query` with `token` to another path than `/graphql` (e.g. `/t/{slug}/graphql`).
    pub async fn post_path(&self, path: &str, token: &str, query: &str) -> (StatusCode, Value) {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(json!({ "query": query }).to_string()))
            .expect("request");
        self.send(request).await
    }

    /// A GraphQL request with `token` and no variables.
    pub async fn gql(&self, token: &str, query: &str) -> Value {
        self.post(Some(token), &[], query, json!({})).await.1
    }

    /// Sends any request to the router; returns status and JSON body (Null if not JSON).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, bytes) = self.send_raw(request).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends any request to the router; returns status and the body's bytes.
    pub async fn send_raw(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, bytes.to_vec())
    }

    /// Creates a contact as `token`; returns its global id.
    pub async fn contact(&self, token: &str, name: &str) -> String {
        let body = self
            .post(
                Some(token),
                &[],
                "mutation($name: String!) { createContact(input: {name: $name}) { id } }",
                json!({ "name": name }),
            )
            .await
            .1;
        body["data"]["createContact"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createContact failed: {body}"))
            .to_string()
    }
}

/// The `extensions.code` of the first error of a response.
/// Typed access to a GraphQL response body.
pub trait Reply {
    /// The value at the dotted `path` under `data` (`"contacts.totalCount"`); Null if absent.
    fn data(&self, path: &str) -> &Value;
    /// The `extensions.code` of the first error ("" without errors).
    fn code(&self) -> &str;
    /// The `extensions.field` of the first error.
    fn error_field(&self) -> Option<&str>;
}

impl Reply for Value {
    fn data(&self, path: &str) -> &Value {
        path.split('.').fold(&self["data"], |v, key| &v[key])
    }

    fn code(&self) -> &str {
        first_code(self)
    }

    fn error_field(&self) -> Option<&str> {
        self["errors"][0]["extensions"]["field"].as_str()
    }
}

pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}
