//! Everything that talks to PostgreSQL: the pool, embedded migrations, the request-scoped
//! tenant transaction ([`TenantTx`]), keyset pagination, batch loading, the diesel schema
//! and the private development cluster. Imports no GraphQL and no domain.

pub mod admission;
pub mod batch;
pub mod citus;
mod connect;
pub mod dev;
pub mod directory;
pub mod functions;
pub mod keyset;
pub mod lateral;
pub mod notify;
pub mod pooler;
pub mod routing;
pub mod schema;
pub mod text_enum;
pub mod tx;

pub use tx::{TenantTx, TxMode};

use crate::config::{Config, Switch};
use crate::error::{AppError, AppResult};
use anyhow::Context;
use diesel::connection::CacheSize;
use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The connection pool. Only [`TenantTx`] and the platform path hold it.
pub type PgPool = Pool<AsyncPgConnection>;

/// A connection checked out of [`PgPool`].
pub type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// The migrations of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The URL to use: `DATABASE_URL` if set, else the private cluster (started on demand).
pub async fn database_url(config: &Config) -> anyhow::Result<String> {
    match &config.database_url {
        Some(url) => Ok(url.clone()),
        None => {
            dev::DevCluster::new(&config.home, config.pg_bin.as_deref())?
                .ensure_running()
                .await
        }
    }
}

/// The URL that bypasses any pooler (`TENANTRY_DIRECT_DATABASE_URL`), else `database_url`.
pub fn direct_database_url(config: &Config, database_url: &str) -> String {
    config
        .direct_database_url
        .clone()
        .unwrap_or_else(|| database_url.to_string())
}

/// Builds a pool of at most `size` connections to `url`, each with its prepared-statement
/// cache on.
pub fn build_pool(url: &str, size: usize) -> anyhow::Result<PgPool> {
    build_pool_with(url, size, Switch::On)
}

/// Builds a pool of at most `size` connections to `url`, each with its prepared-statement
/// cache as `statement_cache` says (`TENANTRY_STATEMENT_CACHE`; off behind a
/// transaction-mode pooler, see README "Behind PgBouncer").
pub fn build_pool_with(url: &str, size: usize, statement_cache: Switch) -> anyhow::Result<PgPool> {
    let mut manager_config = ManagerConfig::default();
    // No test query per checkout: a connection whose socket closed is dropped by the pool
    // (`is_broken`); the request transaction starts once more on a fresh connection if a
    // pooled one died unnoticed (see `TenantTx`), and the other paths check theirs
    // ([`live_connection`]).
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup =
        Box::new(move |url| Box::pin(establish(url.to_string(), statement_cache)));
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
    Pool::builder(manager)
        .max_size(size)
        .build()
        .context("building the connection pool")
}

/// Opens one pooled connection. diesel-async sets its session settings (time zone, client
/// encoding) as it sets a connection up, with extended-protocol statements: outside a
/// transaction a transaction-mode pooler may parse such a statement on one server
/// connection and execute it on another, so they run inside one here. (A plain `SET`
/// outlives its COMMIT, and PgBouncer re-applies these reported settings on whichever
/// server connection the client gets next.)
async fn establish(url: String, statement_cache: Switch) -> ConnectionResult<AsyncPgConnection> {
    let bad = |e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string());
    let client = connect::connect(&url)
        .await
        .map_err(ConnectionError::BadConnection)?;
    client.batch_execute("BEGIN").await.map_err(bad)?;
    let mut conn = AsyncPgConnection::try_from(client).await?;
    conn.batch_execute("COMMIT")
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    if !statement_cache.is_on() {
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    }
    Ok(conn)
}

/// A pooled connection known to be alive, for the paths off the request hot path (login,
/// the platform): the pool itself sends no test query (see [`build_pool`]), so this one
/// does, and replaces a dead connection once. Errors are logged, and reported without
/// detail as SERVICE_UNAVAILABLE.
pub async fn live_connection(pool: &PgPool) -> AppResult<PooledConnection> {
    for _ in 0..2 {
        let mut conn = checkout(pool).await?;
        match conn.batch_execute("SELECT 1").await {
            Ok(()) => return Ok(conn),
            Err(e) => {
                tracing::warn!(error = %e, "a pooled connection was dead; replacing it");
                drop(PooledConnection::take(conn));
            }
        }
    }
    Err(AppError::db_unavailable(
        "two pooled connections in a row were dead",
    ))
}

/// A pooled connection as the pool hands it out (no test query). How long the wait took
/// is recorded (`tenantry_db_checkout_wait_seconds`).
pub async fn checkout(pool: &PgPool) -> AppResult<PooledConnection> {
    let started = std::time::Instant::now();
    let conn = pool.get().await;
    metrics::histogram!(crate::telemetry::metrics::CHECKOUT_SECONDS)
        .record(started.elapsed().as_secs_f64());
    conn.map_err(|e| {
        metrics::counter!(crate::telemetry::metrics::DB_ERRORS, "class" => "08", "kind" => "connect")
            .increment(1);
        AppError::db_unavailable(e)
    })
}

/// Sets the pool gauges (size, in use, waiting) to the pool's state now (before a scrape).
pub fn record_pool(pool: &PgPool) {
    use crate::telemetry::metrics::{POOL_IN_USE, POOL_MAX, POOL_SIZE, POOL_WAITING};
    let status = pool.status();
    metrics::gauge!(POOL_MAX).set(status.max_size as f64);
    metrics::gauge!(POOL_SIZE).set(status.size as f64);
    metrics::gauge!(POOL_IN_USE).set(status.size.saturating_sub(status.available) as f64);
    metrics::gauge!(POOL_WAITING).set(status.waiting as f64);
}

/// Whether every embedded migration has been applied to the database (for `/readyz`: a
/// server older or newer than its database is not ready).
pub async fn migrations_current(pool: &PgPool) -> AppResult<bool> {
    use diesel::migration::MigrationSource;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let mut conn = checkout(pool).await?;
    // In a transaction, like every statement on a pooled connection: a transaction-mode
    // pooler may otherwise parse it on one server connection and run it on another.
    let applied: Vec<Applied> = conn
        .build_transaction()
        .read_only()
        .run(async |c| {
            diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
                .load(c)
                .await
        })
        .await?;
    let applied: std::collections::HashSet<String> =
        applied.into_iter().map(|a| a.version).collect();
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| AppError::internal(format!("reading the embedded migrations: {e}")))?;
    Ok(embedded
        .iter()
        .all(|m| applied.contains(&m.name().version().to_string())))
}

/// Runs every pending migration; returns how many ran.
pub async fn run_migrations(pool: &PgPool) -> anyhow::Result<usize> {
    let conn = pool.get().await.context("connecting to run migrations")?;
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))
    })
    .await?
}

/// Reverts every applied migration, newest first (used by the up-down-up test).
pub async fn revert_all_migrations(pool: &PgPool) -> anyhow::Result<usize> {
    let conn = pool
        .get()
        .await
        .context("connecting to revert migrations")?;
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .revert_all_migrations(MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| anyhow::anyhow!("reverting migrations: {e}"))
    })
    .await?
}

/// A pooled connection that is closed, not returned to the pool, if dropped before
/// [`Unsettled::settle`].
pub(crate) struct Unsettled(pub(crate) Option<PooledConnection>);

impl Unsettled {
    /// The connection, now safe to pool again.
    pub(crate) fn settle(mut self) -> PooledConnection {
        self.0.take().expect("settled once")
    }
}

impl std::ops::Deref for Unsettled {
    type Target = PooledConnection;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("not settled")
    }
}

impl std::ops::DerefMut for Unsettled {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("not settled")
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(PooledConnection::take(conn));
        }
    }
}

/// Rolls back; if even that fails, the connection is closed instead of returned to the
/// pool. Returns whether the ROLLBACK went through.
pub(crate) async fn rollback_or_discard(mut conn: PooledConnection) -> bool {
    match diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "ROLLBACK").await {
        Ok(()) => true,
        Err(e) => {
            crate::telemetry::quiet::warn(
                "ROLLBACK failed; discarding the connection",
                &e.to_string(),
            );
            drop(PooledConnection::take(conn));
            false
        }
    }
}
