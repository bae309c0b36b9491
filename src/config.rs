//! Every setting of Tenantry and its environment variable, documented in one place.
//!
//! The same struct is flattened into every CLI subcommand, so `--help` lists them all and
//! the environment works the same for `serve`, `migrate` and the operator commands.

use std::path::PathBuf;
use std::time::Duration;

/// Runtime configuration, from flags or environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// PostgreSQL URL. Unset: a private cluster under `TENANTRY_HOME` is created and used.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL URL that bypasses any connection pooler in front of the database (e.g.
    /// PgBouncer in transaction mode), for the work a pooler cannot carry: migrations (DDL,
    /// advisory locks), the LISTEN connection (cache invalidation, subscriptions, export
    /// wake-ups), export and import jobs (long transactions, COPY) and the platform path
    /// (operator commands, audit verification, the trusted-document list). Default:
    /// `DATABASE_URL`.
    #[arg(
        long,
        env = "TENANTRY_DIRECT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub direct_database_url: Option<String>,

    /// Prepared-statement cache of each pooled connection: `on` (the default; a hot
    /// statement is parsed once per connection) or `off`, which a transaction-mode pooler
    /// without prepared-statement support (PgBouncer before 1.21) needs: there a statement
    /// cached on one server connection is missing on the next, and each request's
    /// statements are parsed again instead.
    #[arg(
        long,
        env = "TENANTRY_STATEMENT_CACHE",
        value_enum,
        ignore_case = true,
        default_value_t = Switch::On,
        global = true
    )]
    pub statement_cache: Switch,

    /// Folder for local state (the private PostgreSQL cluster, the development JWT secret).
    #[arg(
        long,
        env = "TENANTRY_HOME",
        default_value = ".tenantry",
        global = true
    )]
    pub home: PathBuf,

    /// Folder holding the PostgreSQL server binaries (initdb, pg_ctl) for the private cluster.
    /// Default: the newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`.
    #[arg(long, env = "TENANTRY_PG_BIN", global = true)]
    pub pg_bin: Option<PathBuf>,

    /// HS256 secret for access tokens. Unset: a random secret kept in `TENANTRY_HOME`
    /// (development only; production must set it).
    #[arg(
        long,
        env = "TENANTRY_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,

    /// Base64 of the 32-byte key sealing tenant secrets at rest. Unset: a random key kept
    /// in `TENANTRY_HOME` (development only; production must set it).
    #[arg(
        long,
        env = "TENANTRY_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// PEM file with an RS256 public key accepted for access tokens.
    #[arg(long, env = "TENANTRY_JWT_RS256_PUBLIC_KEY", global = true)]
    pub jwt_rs256_public_key: Option<PathBuf>,

    /// PEM file with an EdDSA (Ed25519) public key accepted for access tokens.
    #[arg(long, env = "TENANTRY_JWT_EDDSA_PUBLIC_KEY", global = true)]
    pub jwt_eddsa_public_key: Option<PathBuf>,

    /// Required `iss` claim of access tokens (and the issuer of tokens Tenantry signs).
    #[arg(
        long,
        env = "TENANTRY_JWT_ISSUER",
        default_value = "tenantry",
        global = true
    )]
    pub jwt_issuer: String,

    /// Required `aud` claim of access tokens.
    #[arg(
        long,
        env = "TENANTRY_JWT_AUDIENCE",
        default_value = "tenantry-api",
        global = true
    )]
    pub jwt_audience: String,

    /// Base domain whose subdomains name tenants (`acme.example.com` -> tenant `acme`).
    #[arg(long, env = "TENANTRY_BASE_DOMAIN", global = true)]
    pub base_domain: Option<String>,

    /// Largest number of pooled database connections. Default: twice the CPU count — a
    /// request holds its connection while it executes, and on the benchmark machine
    /// (2 cores) 4 connections served 17 % more than 16 (bench/README.md).
    #[arg(long, env = "TENANTRY_POOL_SIZE", global = true)]
    pub pool_size: Option<usize>,

    /// Threads that run requests (the async runtime's workers). Default: one per available
    /// CPU (tokio's `TOKIO_WORKER_THREADS` is read when this is unset). Where PostgreSQL
    /// shares the machine (the private cluster, a small host), fewer leave the database its
    /// cores and hand less work between threads: on the 2-core benchmark machine one worker
    /// used 5–18 % less CPU per feed request than two in three interleaved pairs, at about
    /// the same throughput (bench/README.md).
    #[arg(long, env = "TENANTRY_WORKER_THREADS", global = true)]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// `statement_timeout` of each request transaction, in milliseconds.
    #[arg(
        long,
        env = "TENANTRY_STATEMENT_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub statement_timeout_ms: u64,

    /// On Citus: refuse any request statement that Citus would send to more than one node
    /// (each request transaction sets `citus.multi_task_query_log_level = error`). The test
    /// suites run with it on, which is how they prove that requests are routed; an operator
    /// may turn it on to find a statement that fans out. No effect on one server.
    #[arg(
        long,
        env = "TENANTRY_CITUS_REFUSE_FAN_OUT",
        value_enum,
        ignore_case = true,
        default_value_t = Switch::Off,
        global = true
    )]
    pub citus_refuse_fan_out: Switch,

    /// How long a resolved tenant membership (status and role) is cached, in milliseconds.
    #[arg(
        long,
        env = "TENANTRY_TENANT_CACHE_TTL_MS",
        default_value_t = 3000,
        global = true
    )]
    pub tenant_cache_ttl_ms: u64,

    /// Largest query depth accepted.
    #[arg(long, env = "TENANTRY_MAX_DEPTH", default_value_t = 12, global = true)]
    pub max_depth: usize,

    /// Largest query complexity accepted (each field counts 1, lists multiply by `first`).
    #[arg(
        long,
        env = "TENANTRY_MAX_COMPLEXITY",
        default_value_t = 20000,
        global = true
    )]
    pub max_complexity: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TENANTRY_MAX_BODY_BYTES", default_value_t = 256 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Largest `first`/`last` of a connection.
    #[arg(
        long,
        env = "TENANTRY_MAX_PAGE_SIZE",
        default_value_t = 100,
        global = true
    )]
    pub max_page_size: usize,

    /// Log format: `pretty` (development) or `json` (production).
    #[arg(
        long,
        env = "TENANTRY_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value_t = LogFormat::Pretty,
        global = true
    )]
    pub log_format: LogFormat,

    /// Compiled read plans (`on`, the default) or only the generic executor (`off`).
    #[arg(
        long,
        env = "TENANTRY_COMPILED_PLANS",
        value_enum,
        ignore_case = true,
        default_value_t = Switch::On,
        global = true
    )]
    pub compiled_plans: Switch,

    /// Bytes of query texts whose compiled plan (or lack of one) is remembered.
    #[arg(
        long,
        env = "TENANTRY_PLAN_CACHE_BYTES",
        default_value_t = 16 * 1024 * 1024,
        global = true
    )]
    pub plan_cache_bytes: u64,

    /// Query texts longer than this many bytes are never planned nor remembered (they
    /// would crowd the plan cache; real queries are far shorter).
    #[arg(
        long,
        env = "TENANTRY_MAX_PLANNED_TEXT_BYTES",
        default_value_t = 16 * 1024,
        global = true
    )]
    pub max_planned_text_bytes: usize,

    /// Failed logins on one account (email) within the failure window before further
    /// attempts on it, from client addresses that have been failing, must wait a delay that
    /// doubles with each further failure (1 s, 2 s, 4 s, … up to the window). Never a
    /// lock-out: an address that has not been failing is not held back. Kept in PostgreSQL,
    /// so it holds across server processes.
    #[arg(
        long,
        env = "TENANTRY_LOGIN_FAILURES_PER_ACCOUNT",
        default_value_t = 5,
        global = true
    )]
    pub login_failures_per_account: u32,

    /// Failed logins from one client address (an IPv6 address counts by its /64) within the
    /// failure window after which its login attempts are refused (RATE_LIMITED) until
    /// older failures leave the window. Successful logins do not count.
    #[arg(
        long,
        env = "TENANTRY_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = 20,
        global = true
    )]
    pub login_failures_per_address: u32,

    /// The sliding window, in seconds, over which failed logins are counted.
    #[arg(
        long,
        env = "TENANTRY_LOGIN_FAILURE_WINDOW_SECS",
        default_value_t = 900,
        global = true
    )]
    pub login_failure_window_secs: u64,

    /// The header a trusted reverse proxy sets to the client's address (e.g.
    /// `X-Forwarded-For`; its last entry, the one the proxy added, is used). Unset: the
    /// socket peer address. Set it only behind a proxy that sets the header on every
    /// request, or clients choose their own address.
    #[arg(long, env = "TENANTRY_TRUSTED_PROXY_HEADER", global = true)]
    pub trusted_proxy_header: Option<String>,

    /// The folder export jobs write archives to (default: `exports/` under TENANTRY_HOME).
    #[arg(long, env = "TENANTRY_EXPORT_DIR", global = true)]
    pub export_dir: Option<PathBuf>,

    /// Export jobs one server process runs at once (the others wait, queued).
    #[arg(
        long,
        env = "TENANTRY_EXPORT_CONCURRENCY",
        default_value_t = 2,
        global = true
    )]
    pub export_concurrency: usize,

    /// How long an export's download URL works, in seconds.
    #[arg(
        long,
        env = "TENANTRY_EXPORT_URL_TTL_SECS",
        default_value_t = 900,
        global = true
    )]
    pub export_url_ttl_secs: u64,

    /// How often usage counts are flushed from memory to the database, in seconds (a crash
    /// loses at most this long of counts; `serve` flushes on a graceful shutdown).
    #[arg(
        long,
        env = "TENANTRY_USAGE_FLUSH_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub usage_flush_secs: u64,

    /// How long an invitation can be accepted, in hours.
    #[arg(
        long,
        env = "TENANTRY_INVITATION_TTL_HOURS",
        default_value_t = 168,
        global = true
    )]
    pub invitation_ttl_hours: u64,

    /// Largest number of aliased fields in one document.
    #[arg(
        long,
        env = "TENANTRY_MAX_ALIASES",
        default_value_t = 100,
        global = true
    )]
    pub max_aliases: usize,

    /// Largest number of fields one document selects, fragments counted each time they are
    /// spread (so fragments cannot multiply a small document into a large one).
    #[arg(
        long,
        env = "TENANTRY_MAX_FIELDS",
        default_value_t = 2000,
        global = true
    )]
    pub max_fields: usize,

    /// Largest GraphQL document accepted, in bytes, checked before parsing.
    #[arg(
        long,
        env = "TENANTRY_MAX_DOCUMENT_BYTES",
        default_value_t = 64 * 1024,
        global = true
    )]
    pub max_document_bytes: usize,

    /// Largest number of lexical tokens in a document, counted before parsing.
    #[arg(
        long,
        env = "TENANTRY_MAX_DOCUMENT_TOKENS",
        default_value_t = 5000,
        global = true
    )]
    pub max_document_tokens: usize,

    /// Largest number of errors in one response; the rest are summed up in one last error.
    #[arg(long, env = "TENANTRY_MAX_ERRORS", default_value_t = 50, global = true)]
    pub max_errors: usize,

    /// Who may run introspection (`__schema`, `__type`): `members` (any authenticated
    /// caller of an active tenant), `public` (anyone) or `off`. "Did you mean …"
    /// suggestions are given only to callers who may introspect.
    #[arg(
        long,
        env = "TENANTRY_INTROSPECTION",
        value_enum,
        ignore_case = true,
        default_value_t = Introspection::Members,
        global = true
    )]
    pub introspection: Introspection,

    /// Trusted documents: `off` (any document), `prefer` (any document; the ones not in
    /// the list are logged once each) or `require` (a document not in the list is refused
    /// before parsing). The list is managed with `tenantry documents`.
    #[arg(
        long,
        env = "TENANTRY_TRUSTED_DOCUMENTS",
        value_enum,
        ignore_case = true,
        default_value_t = TrustedDocuments::Off,
        global = true
    )]
    pub trusted_documents: TrustedDocuments,

    /// With `TENANTRY_TRUSTED_DOCUMENTS=require`, let platform administrators send any
    /// document anyway (for support work in GraphiQL).
    #[arg(
        long,
        env = "TENANTRY_TRUSTED_DOCUMENTS_EXEMPT_PLATFORM_ADMINS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub trusted_documents_exempt_platform_admins: bool,

    /// How many automatic persisted queries (Apollo APQ) each process remembers.
    #[arg(
        long,
        env = "TENANTRY_APQ_CACHE_ENTRIES",
        default_value_t = 10_000,
        global = true
    )]
    pub apq_cache_entries: u64,

    /// How many batches of live events a subscriber may fall behind before its
    /// subscription is closed (LIMIT_EXCEEDED); bounds memory per tenant.
    #[arg(
        long,
        env = "TENANTRY_SUBSCRIPTION_BUFFER",
        default_value_t = 256,
        global = true
    )]
    pub subscription_buffer: usize,

    /// Largest number of subscriptions one WebSocket connection may hold.
    #[arg(
        long,
        env = "TENANTRY_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 20,
        global = true
    )]
    pub max_subscriptions_per_connection: usize,

    /// A WebSocket connection without any subscription for this long is closed, in
    /// milliseconds.
    #[arg(
        long,
        env = "TENANTRY_WS_IDLE_TIMEOUT_MS",
        default_value_t = 60_000,
        global = true
    )]
    pub ws_idle_timeout_ms: u64,

    /// How often a subscription re-checks that its caller is still admitted (membership,
    /// role, tenant status, token expiry) when no event arrives, in milliseconds.
    #[arg(
        long,
        env = "TENANTRY_SUBSCRIPTION_RECHECK_MS",
        default_value_t = 2_000,
        global = true
    )]
    pub subscription_recheck_ms: u64,

    // ---- Observability (README "Operating Tenantry"): every one off unless set. ----
    /// Serve Prometheus `/metrics` on this separate address (e.g. `127.0.0.1:9464`), not
    /// on the API port. Metrics are recorded only when this or `TENANTRY_METRICS_TOKEN` is set.
    #[arg(long, env = "TENANTRY_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<String>,

    /// Serve `/metrics` on the API port to requests bearing this token
    /// (`Authorization: Bearer …`); without it the API port has no `/metrics`.
    #[arg(
        long,
        env = "TENANTRY_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// How many tenants, the busiest, get their own `tenant` label in the metrics; the
    /// others are summed under `other`.
    #[arg(
        long,
        env = "TENANTRY_METRICS_TOP_TENANTS",
        default_value_t = 20,
        global = true
    )]
    pub metrics_top_tenants: usize,

    /// Export OpenTelemetry traces over OTLP/HTTP (protobuf) to this collector base URL
    /// (e.g. `http://127.0.0.1:4318`; spans go to `/v1/traces`). Unset: no tracing work.
    #[arg(long, env = "TENANTRY_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// The window of each tenant's error rate and latency in `tenantHealth`, in seconds.
    #[arg(
        long,
        env = "TENANTRY_HEALTH_WINDOW_SECS",
        default_value_t = 300,
        global = true
    )]
    pub health_window_secs: u64,

    /// An error line repeated within this many seconds is counted, not written again; the
    /// count is written once the interval is over.
    #[arg(
        long,
        env = "TENANTRY_LOG_REPEAT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub log_repeat_secs: u64,
}

/// Who may run introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Introspection {
    /// Any authenticated caller of an active tenant.
    Members,
    /// Anyone, signed in or not.
    Public,
    /// Nobody.
    Off,
}

/// How the trusted-document list is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustedDocuments {
    /// Any document runs; the list only serves documents by hash.
    Off,
    /// Any document runs; one not in the list is logged (once per document).
    Prefer,
    /// Only documents in the list run.
    Require,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (development).
    Pretty,
    /// One JSON object per line (production).
    Json,
}

/// A feature that is on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Switch {
    /// Whether it is on.
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

impl Config {
    /// Whether metrics are recorded (a `/metrics` is configured).
    pub fn metrics_on(&self) -> bool {
        self.metrics_addr.is_some() || self.metrics_token.is_some()
    }

    /// The pool size: `TENANTRY_POOL_SIZE`, else twice the available CPUs.
    pub fn pool_size(&self) -> usize {
        self.pool_size.unwrap_or_else(|| {
            2 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }

    /// The statement timeout as a duration.
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }

    /// Every setting from the environment, else its default (no command line).
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        Wrapper::parse_from(["tenantry"]).config
    }

    /// A configuration with every default, for tests and embedding.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::defaults();
        config.database_url = Some(database_url.into());
        config
    }
}

/// A development secret kept in the file `name` of `TENANTRY_HOME`: read if present, else
/// made by `generate`, written whole to a private temporary file and hard-linked into
/// place, so concurrent processes agree on one and never read a half-written file.
pub fn home_secret(
    config: &Config,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    let path = config.home.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.trim().is_empty() {
            return Ok(existing.trim().to_string());
        }
    }
    std::fs::create_dir_all(&config.home)?;
    let fresh = generate();
    let staging = config
        .home
        .join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&staging, fresh.as_bytes())?;
    let linked = std::fs::hard_link(&staging, &path);
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => {
            tracing::warn!(path = %path.display(), "using a generated development secret; set it in production");
            Ok(fresh)
        }
        // Another process linked one first: use theirs (complete, as it was linked whole).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().to_string())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_first_uses_agree_on_one_complete_secret() {
        let home = std::env::temp_dir().join(format!("tenantry-{}", uuid::Uuid::new_v4()));
        let mut config = Config::for_database("unused");
        config.home = home.clone();
        let config = std::sync::Arc::new(config);
        let secrets: Vec<String> = (0..16)
            .map(|i| {
                let config = std::sync::Arc::clone(&config);
                std::thread::spawn(move || {
                    home_secret(&config, "secret", || format!("{i:0>64}")).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(secrets[0].len(), 64, "{secrets:?}");
        assert!(secrets.iter().all(|s| s == &secrets[0]), "{secrets:?}");
        let files: Vec<_> = std::fs::read_dir(&home).unwrap().collect();
        assert_eq!(files.len(), 1, "staging files left behind");
        std::fs::remove_dir_all(home).unwrap();
    }
}
