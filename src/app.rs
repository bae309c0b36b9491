//! The assembled application: configuration → database, keys, tenant resolver, schema.
//! Shared by `serve`, the operator commands and the integration tests, so tests run the
//! server exactly as it is deployed.

use crate::api_keys::verify::ApiKeys;
use crate::auth::admission::RequestAdmission;
use crate::auth::tenant::TenantResolver;
use crate::auth::token::{load_secret, TokenKeys};
use crate::auth::Principal;
use crate::auth::RequestTx;
use crate::config::Config;
use crate::db::{self, PgPool, TxMode};
use crate::documents::model::DocumentList;
use crate::documents::store::Documents;
use crate::graphql::live::{Live, TxOpener};
use crate::platform::model::Platform;
use crate::schema::{Executor, Services};
use diesel_async::SimpleAsyncConnection;
use std::sync::Arc;
use std::time::Duration;

/// Everything a running Tenantry needs.
pub struct App {
    /// The settings it was built from.
    pub config: Config,
    /// Executes GraphQL requests (queries and mutations, guards enforced).
    pub graphql: Executor,
    /// Token verification and signing keys.
    pub keys: TokenKeys,
    /// Cached tenant memberships.
    pub resolver: TenantResolver,
    /// The auth path (logins, refresh tokens).
    pub sessions: crate::auth::session::Sessions,
    /// Verifies presented API keys (authentication sees it as an `ApiKeyVerifier`).
    pub api_keys: ApiKeys,
    /// The live-update hub (subscriptions).
    pub live: Arc<Live>,
    /// The trusted-document list and the APQ cache of this process.
    pub documents: Arc<Documents>,
    /// The URL of the database in use (the one requests go through, maybe a pooler).
    pub database_url: String,
    /// The URL that bypasses any pooler (`TENANTRY_DIRECT_DATABASE_URL`, else
    /// `database_url`): migrations, the LISTEN connection, export and import jobs.
    pub direct_url: String,
    /// Seals tenant secrets (and export download tokens).
    pub secrets: crate::tenancy::settings::SecretBox,
    /// Where export archives go.
    pub exports: crate::exports::jobs::ExportSettings,
    /// Usage counts per tenant and day, and cost budgets (flushed in the background).
    pub usage: Arc<crate::usage::Meter>,
    /// What operators see: metrics, per-tenant health figures (see [`Observability`]).
    pub observe: Observability,
    /// Woken when an export is queued (the `tenantry_exports` NOTIFY).
    export_wake: Arc<tokio::sync::Notify>,
    export_worker: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    // Private: request code reaches the database only through RequestTx.
    pool: PgPool,
    /// Connections to `direct_url`, for operator work: the platform path, audit
    /// verification, the trusted-document list (the same pool as `pool` unless a direct URL
    /// is set).
    direct_pool: PgPool,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.listener.abort();
        if let Ok(mut worker) = self.export_worker.lock() {
            if let Some(worker) = worker.take() {
                worker.abort();
            }
        }
    }
}

impl App {
    /// Connects (starting the private cluster if `DATABASE_URL` is unset), runs pending
    /// migrations and assembles the schema.
    pub async fn start(config: Config) -> anyhow::Result<Arc<App>> {
        let database_url = db::database_url(&config).await?;
        let pool = db::build_pool_with(&database_url, config.pool_size(), config.statement_cache)?;
        // Behind a transaction-mode pooler, work a pooler cannot carry goes direct (README
        // "Behind PgBouncer"); without one, it shares the request pool.
        let direct_url = db::direct_database_url(&config, &database_url);
        if !config.statement_cache.is_on() && config.direct_database_url.is_none() {
            // The cache is turned off for a transaction-mode pooler; the work that must
            // bypass one would then go through it (LISTEN would silently hear nothing).
            tracing::warn!(
                "TENANTRY_STATEMENT_CACHE=off without TENANTRY_DIRECT_DATABASE_URL: behind a \
                 transaction-mode pooler, set it to a URL that bypasses the pooler (migrations, \
                 notifications, export jobs, the platform path)"
            );
        }
        let direct_pool = if direct_url == database_url {
            pool.clone()
        } else {
            db::build_pool(&direct_url, 2)?
        };
        // Migrations run DDL and hold an advisory lock across statements: a direct session.
        db::run_migrations(&direct_pool).await?;
        // On the direct pool: a prepared statement outside a transaction would not survive a
        // transaction-mode pooler.
        let on_citus = db::citus::check(&direct_pool).await?;
        let secret = load_secret(&config)?;
        let keys = TokenKeys::new(&config, &secret)?;
        let resolver = TenantResolver::new(Duration::from_millis(config.tenant_cache_ttl_ms));
        let documents = Arc::new(Documents::new(
            &config,
            DocumentList::new(direct_pool.clone()),
        ));
        let opener: TxOpener = {
            let pool = pool.clone();
            let settings = db::tx::TxSettings::from_config(&config);
            Arc::new(move |admission, mode| RequestTx::new(pool.clone(), admission, mode, settings))
        };
        let live = Live::new(
            crate::schema::live_sources(),
            opener,
            resolver.clone(),
            config.subscription_buffer,
        );
        if on_citus {
            // The tables that announce changes are distributed: their triggers fire on the
            // workers, which announce nothing (see migrations/…_citus).
            live.disable(
                "subscriptions are not available on a Citus cluster: changes happen on the workers, where no server listens; poll with a query instead",
            );
        }
        // Ends by itself when the hub is dropped with the app.
        live.report(Duration::from_secs(10));
        documents.reload().await?;
        let export_wake = Arc::new(tokio::sync::Notify::new());
        let secrets = crate::tenancy::settings::load_secret_box(&config)?;
        let exports = crate::exports::jobs::ExportSettings {
            dir: config
                .export_dir
                .clone()
                .unwrap_or_else(|| config.home.join("exports")),
            url_ttl: Duration::from_secs(config.export_url_ttl_secs),
        };
        let observe = Observability::new(&config)?;
        // LISTEN needs a session of its own: a transaction-mode pooler would hand the
        // notifications' server connection to others between transactions.
        let listener = db::notify::listen(
            direct_url.clone(),
            vec![
                ("tenantry_tenancy", {
                    let resolver = resolver.clone();
                    Arc::new(move |_: Option<&str>| resolver.invalidate_all())
                        as db::notify::Handler
                }),
                ("tenantry_events", {
                    let live = Arc::clone(&live);
                    Arc::new(move |payload: Option<&str>| live.notified(payload))
                        as db::notify::Handler
                }),
                ("tenantry_exports", {
                    let wake = Arc::clone(&export_wake);
                    Arc::new(move |_: Option<&str>| wake.notify_one()) as db::notify::Handler
                }),
                ("tenantry_documents", {
                    let documents = Arc::clone(&documents);
                    Arc::new(move |_: Option<&str>| {
                        let documents = Arc::clone(&documents);
                        tokio::spawn(async move {
                            if let Err(e) = documents.reload().await {
                                tracing::warn!(error = %e.message, "reloading trusted documents");
                            }
                        });
                    })
                }),
            ],
            Arc::clone(&observe.listener_up),
        );
        let usage = crate::usage::Meter::start(pool.clone()).await?;
        usage.spawn_flusher(Duration::from_secs(config.usage_flush_secs));
        // The auth path's own connections. Its roots (myTenants, switchTenant, the invitee's
        // invitations) run beside the request's tenant transaction, which already holds a
        // connection of the main pool: drawing from that pool too, a burst of such requests
        // (the app's start-up query) each held one connection and waited for a second, and
        // none finished. Holders of this pool wait for nothing else, so it always drains.
        let auth_pool = db::build_pool_with(
            &database_url,
            (config.pool_size() / 4).max(2),
            config.statement_cache,
        )?;
        // The auth path refuses fan-out as the request transaction does.
        let fan_out = crate::auth::auth_tx::FanOut::refused_if(
            config.citus_refuse_fan_out == crate::config::Switch::On,
        );
        let sessions = crate::auth::session::Sessions::new(
            auth_pool,
            keys.clone(),
            resolver.clone(),
            crate::auth::limits::LoginLimits {
                per_account: config.login_failures_per_account,
                per_address: config.login_failures_per_address,
                window: Duration::from_secs(config.login_failure_window_secs),
            },
        )
        .with_fan_out(fan_out);
        Ok(Arc::new(App {
            graphql: Executor::new(
                &config,
                Services {
                    sessions: sessions.clone(),
                    platform: Platform::new(direct_pool.clone()),
                    secrets: secrets.clone(),
                    exports: exports.clone(),
                    invitations: crate::tenancy::invitations::InvitationSettings {
                        ttl: Duration::from_secs(config.invitation_ttl_hours * 3600),
                    },
                    health: Arc::clone(&observe.health),
                },
            ),
            keys,
            api_keys: ApiKeys::new(pool.clone(), resolver.clone()).with_fan_out(fan_out),
            listener,
            documents,
            live,
            sessions,
            resolver,
            database_url,
            direct_url,
            secrets,
            exports,
            usage,
            export_wake,
            observe,
            export_worker: std::sync::Mutex::new(None),
            config,
            pool,
            direct_pool,
        }))
    }

    /// A fresh request transaction for `principal` (not begun until first used).
    pub fn tenant_tx(&self, principal: Option<Principal>, mode: TxMode) -> RequestTx {
        RequestTx::new(
            self.pool.clone(),
            RequestAdmission::new(self.resolver.clone(), principal).with_costs(self.usage.clone()),
            mode,
            db::tx::TxSettings::from_config(&self.config),
        )
    }

    /// Starts the background worker of export jobs (`serve` does; operator commands do
    /// not, so a short command never picks up a job). Idempotent.
    pub fn start_export_worker(&self) {
        if let Ok(mut worker) = self.export_worker.lock() {
            if worker.is_none() {
                // Jobs hold a transaction (and a row lock) for their whole run and COPY
                // their rows: direct, not through a pooler.
                *worker = Some(crate::exports::jobs::spawn_worker(
                    self.direct_url.clone(),
                    self.exports.dir.clone(),
                    self.config.export_concurrency,
                    Arc::clone(&self.export_wake),
                ));
            }
        }
    }

    /// The trusted-document list in the database, for operator commands.
    pub fn document_list(&self) -> DocumentList {
        DocumentList::new(self.direct_pool.clone())
    }

    /// Verification and retention of the audit chains (operator commands).
    pub fn auditor(&self) -> crate::audit::verify::Auditor {
        crate::audit::verify::Auditor::new(self.direct_pool.clone())
    }

    /// The explicit, logged path for cross-tenant operator work.
    pub fn platform(&self) -> Platform {
        Platform::new(self.direct_pool.clone())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn database_ready(&self) -> bool {
        let check = async {
            let mut conn = self.pool.get().await.ok()?;
            conn.batch_execute("SELECT 1").await.ok()
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), check).await,
            Ok(Some(()))
        )
    }

    /// The checks of `/readyz`: the database answers, every migration of this build is
    /// applied, and the notification listener is connected (each within two seconds).
    pub async fn readiness(&self) -> Readiness {
        let database = self.database_ready().await;
        let migrations = database
            && matches!(
                tokio::time::timeout(Duration::from_secs(2), db::migrations_current(&self.pool))
                    .await,
                Ok(Ok(true))
            );
        Readiness {
            database,
            migrations,
            listener: self
                .observe
                .listener_up
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The Prometheus text of the process's metrics, the gauges read now (pool,
    /// subscriptions); `None` when metrics are off.
    pub fn render_metrics(&self) -> Option<String> {
        let handle = self.observe.prometheus.as_ref()?;
        db::record_pool(&self.pool);
        metrics::gauge!(crate::telemetry::metrics::SUBSCRIPTIONS)
            .set(self.live.subscriptions() as f64);
        Some(handle.render())
    }
}

/// What `/readyz` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    /// The database answers `SELECT 1`.
    pub database: bool,
    /// Every migration this build embeds is applied.
    pub migrations: bool,
    /// The LISTEN connection (cache invalidation, live updates, export wake-ups) is up.
    pub listener: bool,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.database && self.migrations && self.listener
    }
}

/// The operator's view of a running server (see [`crate::telemetry`]).
pub struct Observability {
    /// The Prometheus recorder's handle, when metrics are on.
    pub prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Which tenants get their own `tenant` label (when metrics are on).
    pub top_tenants: Option<crate::telemetry::metrics::TopTenants>,
    /// Each tenant's recent error rate and latency (`tenantHealth`).
    pub health: Arc<crate::telemetry::health::HealthBook>,
    /// Whether the notification listener is connected.
    pub listener_up: Arc<std::sync::atomic::AtomicBool>,
}

impl Observability {
    /// Metrics as `config` asks (installing the process's recorder when on).
    fn new(config: &Config) -> anyhow::Result<Self> {
        crate::telemetry::quiet::set_interval(Duration::from_secs(config.log_repeat_secs));
        let prometheus = config
            .metrics_on()
            .then(crate::telemetry::metrics::install)
            .transpose()?;
        Ok(Self {
            top_tenants: prometheus
                .is_some()
                .then(|| crate::telemetry::metrics::TopTenants::new(config.metrics_top_tenants)),
            prometheus,
            health: Arc::new(crate::telemetry::health::HealthBook::new(
                Duration::from_secs(config.health_window_secs),
            )),
            listener_up: Arc::default(),
        })
    }
}
