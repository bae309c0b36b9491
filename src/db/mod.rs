//! Everything that talks to PostgreSQL: the pool, embedded migrations, the request-scoped
//! tenant transaction ([`TenantTx`]), keyset pagination, batch loading, the diesel schema
//! and the private development cluster. Imports no GraphQL and no domain.

pub mod admission;
pub mod batch;
pub mod dev;
pub mod functions;
pub mod keyset;
pub mod lateral;
pub mod notify;
pub mod schema;
pub mod text_enum;
pub mod tx;

pub use tx::{TenantTx, TxMode};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use anyhow::Context;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection};
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

/// Builds a pool of at most `size` connections to `url`.
pub fn build_pool(url: &str, size: usize) -> anyhow::Result<PgPool> {
    let mut manager_config = ManagerConfig::default();
    // No test query per checkout: a connection whose socket closed is dropped by the pool
    // (`is_broken`); the request transaction starts once more on a fresh connection if a
    // pooled one died unnoticed (see `TenantTx`), and the other paths check theirs
    // ([`live_connection`]).
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
    Pool::builder(manager)
        .max_size(size)
        .build()
        .context("building the connection pool")
}

/// A pooled connection known to be alive, for the paths off the request hot path (login,
/// the platform): the pool itself sends no test query (see [`build_pool`]), so this one
/// does, and replaces a dead connection once. Errors are logged, and reported without
/// detail as SERVICE_UNAVAILABLE.
pub async fn live_connection(pool: &PgPool) -> AppResult<PooledConnection> {
    use diesel_async::SimpleAsyncConnection;
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

/// A pooled connection as the pool hands it out (no test query).
pub async fn checkout(pool: &PgPool) -> AppResult<PooledConnection> {
    pool.get().await.map_err(AppError::db_unavailable)
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

/// Rolls back; if even that fails, the connection is closed instead of returned to the pool.
pub(crate) async fn rollback_or_discard(mut conn: PooledConnection) {
    if let Err(e) = diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "ROLLBACK").await
    {
        tracing::warn!(error = %e, "ROLLBACK failed; discarding the connection");
        drop(PooledConnection::take(conn));
    }
}
