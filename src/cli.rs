//! The command line (clap): `serve`, `migrate`, `schema`, `tenant`, `user`, `token`.
//! Each command prints one plain line a script can use (the schema prints the SDL;
//! `schema --check-breaking` prints one line per breaking change, or one line if there is none).

use crate::app::App;
use crate::auth::plans::Plan;
use crate::auth::Role;
use crate::config::Config;
use crate::http::router;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod cluster;
mod tenant;

/// Tenantry: a multi-tenant GraphQL API server whose isolation PostgreSQL enforces.
#[derive(Parser)]
#[command(name = "tenantry", version, about)]
pub struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrates first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TENANTRY_BIND", default_value = "127.0.0.1")]
        bind: String,
        /// Port to listen on.
        #[arg(long, env = "TENANTRY_PORT", default_value_t = 8080)]
        port: u16,
        /// Create two demo tenants with users and contacts, and print a token and password per user.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema {
        /// Exit non-zero if the file differs from the generated schema.
        #[arg(long)]
        check: bool,
        /// The committed schema file compared by --check.
        #[arg(long, default_value = "schema.graphql")]
        file: PathBuf,
        /// List the breaking changes from this older schema (SDL file) to the generated one,
        /// one `BREAKING path: what` line each, and exit non-zero if there are any. Dangerous
        /// but compatible changes are listed on stderr.
        #[arg(long, value_name = "OLD", conflicts_with = "check")]
        check_breaking: Option<PathBuf>,
    },
    /// Operator commands on tenants.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Operator commands on users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit log: verify its hash chains, prune by plan retention.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// A tenant's usage per UTC day, as CSV (as flushed: see TENANTRY_USAGE_FLUSH_SECS).
    Usage {
        /// The tenant (slug or id).
        #[arg(long)]
        tenant: String,
        /// The first day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// The last day, inclusive, YYYY-MM-DD (UTC).
        #[arg(long)]
        to: chrono::NaiveDate,
    },
    /// The trusted documents (see TENANTRY_TRUSTED_DOCUMENTS).
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
    /// Fill the database with seeded tenants, members, contacts, conversations, messages.
    Seed {
        /// Tenants to create (named <prefix>-0001, ...; existing ones are kept).
        #[arg(long, default_value_t = 100)]
        tenants: usize,
        /// Contacts per tenant.
        #[arg(long, default_value_t = 1000)]
        contacts: usize,
        /// Conversations per contact.
        #[arg(long, default_value_t = 3)]
        conversations: usize,
        /// Messages per conversation.
        #[arg(long, default_value_t = 5)]
        messages: usize,
        /// Slug prefix of the seeded tenants.
        #[arg(long, default_value = "seed")]
        prefix: String,
        /// Plan of the seeded tenants (enterprise: no request-rate limit for benchmarks).
        #[arg(long, default_value = "enterprise", value_parser = parse_plan)]
        plan: Plan,
    },
    /// Print the URL of the database in use (the private cluster's, if DATABASE_URL is unset).
    DatabaseUrl,
    /// Development clusters: `dev citus up|down|status` (a local Citus coordinator and two
    /// workers under TENANTRY_HOME).
    Dev {
        #[command(subcommand)]
        command: cluster::DevCommand,
    },
    /// The Citus cluster behind DATABASE_URL: nodes, shards and the largest tenants.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Print a signed access token for a member of a tenant.
    Token {
        /// User email or id.
        #[arg(long)]
        user: String,
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        /// Lifetime, e.g. 15m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk each tenant's chain (and the platform's) and print one line per chain: `ok`
    /// with its entry count and head (seq and hash), or `BROKEN` with the first entry that
    /// was altered, removed or inserted. Exits non-zero if any chain is broken.
    Verify {
        /// Only this tenant's chain (slug).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove entries older than each tenant's plan retention (chains that do not verify
    /// are refused); prints one line per tenant pruned.
    Prune {
        /// Only this tenant (slug).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum DocumentsCommand {
    /// Add documents from files: Apollo persisted-query manifests, Relay or graphql-codegen
    /// id-to-text JSON maps, or `.graphql` files; prints how many were new.
    Add {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print one line per document: its SHA-256, its operation name (or -), its first line.
    List,
    /// Remove documents by SHA-256.
    Remove {
        /// The hashes.
        #[arg(required = true)]
        hashes: Vec<String>,
    },
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    Plan::parse(s).ok_or_else(|| format!("{s:?} is not one of basic, premium, enterprise, custom"))
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user, optionally a member of a tenant; prints its id.
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Tenant slug or id to add the user to.
        #[arg(long, requires = "role")]
        tenant: Option<String>,
        /// Role in that tenant: OWNER, ADMIN, MEMBER or VIEWER.
        #[arg(long, requires = "tenant", value_parser = parse_role)]
        role: Option<Role>,
        /// Make the user a platform administrator (tenant lifecycle over GraphQL).
        #[arg(long)]
        platform_admin: bool,
    },
    /// Set a user's password, read from TENANTRY_PASSWORD or the first line of stdin.
    Password {
        /// User email or id.
        #[arg(long)]
        user: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not one of OWNER, ADMIN, MEMBER, VIEWER"))
}

/// Runs an `audit` command.
async fn audit(app: &App, command: AuditCommand) -> anyhow::Result<()> {
    let auditor = app.auditor();
    match command {
        AuditCommand::Verify { tenant } => {
            let reports = auditor.verify(tenant.as_deref()).await?;
            let broken = reports.iter().filter(|r| r.broken.is_some()).count();
            for report in &reports {
                println!("{report}");
            }
            if broken > 0 {
                bail!("{broken} audit chain(s) broken");
            }
        }
        AuditCommand::Prune { tenant } => {
            for report in auditor.prune(tenant.as_deref(), chrono::Utc::now()).await? {
                println!(
                    "{}: {} entries pruned, the chain starts after entry {}",
                    report.tenant, report.removed, report.pruned_seq
                );
            }
        }
    }
    Ok(())
}

/// Runs a `documents` command.
async fn documents(app: &App, command: DocumentsCommand) -> anyhow::Result<()> {
    use crate::graphql::persisted::DocumentHash;
    let list = app.document_list();
    match command {
        DocumentsCommand::Add { files } => {
            let mut all = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                all.extend(crate::documents::manifest::read(
                    &file.display().to_string(),
                    &text,
                )?);
            }
            let added = list.add(&all).await?;
            println!(
                "{added} documents added ({} already listed)",
                all.len() - added
            );
        }
        DocumentsCommand::List => {
            for doc in list.all().await? {
                let first = doc
                    .body
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("");
                println!(
                    "{} {} {first}",
                    doc.hash,
                    doc.name.as_deref().unwrap_or("-")
                );
            }
        }
        DocumentsCommand::Remove { hashes } => {
            let mut removed = 0;
            for hash in &hashes {
                let Some(parsed) = DocumentHash::parse(hash) else {
                    bail!("{hash:?} is not a SHA-256 (64 hexadecimal digits)");
                };
                if list.remove(parsed).await? {
                    removed += 1;
                } else {
                    eprintln!("{hash} is not listed");
                }
            }
            println!("{removed} documents removed");
        }
    }
    Ok(())
}

/// Sets up logging: JSON or pretty, filtered by `RUST_LOG` (default `info`), on stderr so
/// stdout stays the one line scripts read; plus the OTLP trace export when
/// `TENANTRY_OTLP_ENDPOINT` is set (the returned guard flushes it at exit).
fn init_logging(config: &Config) -> anyhow::Result<Option<crate::telemetry::traces::Tracing>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if config.log_format == crate::config::LogFormat::Json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let (otel, guard) = match &config.otlp_endpoint {
        Some(endpoint) => {
            let (layer, guard) = crate::telemetry::traces::layer(endpoint)?;
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .init();
    Ok(guard)
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Built here rather than by `#[tokio::main]`: its worker count is a setting.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(workers) = cli.config.worker_threads {
        builder.worker_threads(workers.get());
    }
    let runtime = builder.build()?;
    let result = runtime.block_on(execute(cli));
    // Not a plain drop, which waits for every blocking task: a host name lookup abandoned
    // at its timeout (`db::connect`) would hold the exit, and the error, until the system
    // resolver gave up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// Runs the command `cli` names, in the runtime [`run`] built.
async fn execute(cli: Cli) -> anyhow::Result<()> {
    let _tracing = init_logging(&cli.config)?;
    tracing::debug!(
        workers = tokio::runtime::Handle::current().metrics().num_workers(),
        "runtime started"
    );
    match cli.command {
        Command::Schema {
            check,
            file,
            check_breaking,
        } => {
            let sdl = crate::schema::sdl();
            if let Some(old) = check_breaking {
                let old_sdl = std::fs::read_to_string(&old)
                    .with_context(|| format!("reading {}", old.display()))?;
                let findings = crate::schema::breaking::compare(&old_sdl, &sdl)?;
                let (breaking, dangerous): (Vec<_>, Vec<_>) = findings
                    .iter()
                    .partition(|f| f.severity == crate::schema::breaking::Severity::Breaking);
                for finding in dangerous {
                    eprintln!("{finding}");
                }
                if !breaking.is_empty() {
                    for finding in &breaking {
                        println!("{finding}");
                    }
                    bail!(
                        "{} breaking change(s) against {}",
                        breaking.len(),
                        old.display()
                    );
                }
                println!("no breaking changes against {}", old.display());
            } else if check {
                let committed = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                if committed != sdl {
                    bail!(
                        "{} differs from the generated schema: run `tenantry schema > {}`",
                        file.display(),
                        file.display()
                    );
                }
                println!("{} is up to date", file.display());
            } else {
                print!("{sdl}");
            }
        }
        Command::Audit { command } => {
            let app = App::start(cli.config).await?;
            audit(&app, command).await?;
        }
        Command::Usage { tenant, from, to } => {
            crate::usage::graphql::validate_range(from, to)?;
            let app = App::start(cli.config).await?;
            let platform = app.platform();
            let tenant = platform.find_tenant(&tenant).await?;
            let rows = platform
                .tenant_usage(crate::ids::TenantId(tenant.id), from, to)
                .await?;
            println!("day,requests,errors,mutations,query_cost,rows_written,members,contacts");
            for r in rows {
                println!(
                    "{},{},{},{},{},{},{},{}",
                    r.day,
                    r.requests,
                    r.errors,
                    r.mutations,
                    r.query_cost,
                    r.rows_written,
                    r.members,
                    r.contacts
                );
            }
        }
        Command::Documents { command } => {
            let app = App::start(cli.config).await?;
            documents(&app, command).await?;
        }
        Command::Migrate => {
            let app = App::start(cli.config).await?;
            drop(app);
            println!("migrations applied");
        }
        Command::Serve { bind, port, demo } => {
            let app = App::start(cli.config).await?;
            let listener = tokio::net::TcpListener::bind((bind.as_str(), port))
                .await
                .with_context(|| format!("binding {bind}:{port}"))?;
            let addr: SocketAddr = listener.local_addr()?;
            app.start_export_worker();
            if let Some(metrics_addr) = app.config.metrics_addr.clone() {
                let metrics_listener =
                    tokio::net::TcpListener::bind(metrics_addr.as_str())
                        .await
                        .with_context(|| format!("binding the metrics address {metrics_addr}"))?;
                let metrics = crate::http::observe::metrics_router(std::sync::Arc::clone(&app));
                eprintln!("metrics: http://{}/metrics", metrics_listener.local_addr()?);
                tokio::spawn(async move { axum::serve(metrics_listener, metrics).await });
            }
            if demo {
                for login in crate::demo::seed(&app).await? {
                    // The token stays the fifth field: scripts read these lines.
                    println!(
                        "TOKEN {} {} {} {} PASSWORD {}",
                        login.email,
                        login.tenant,
                        login.role.as_str(),
                        login.token,
                        login.password
                    );
                }
            }
            println!("http://{addr}/graphql");
            println!("GraphiQL: http://{addr}/graphiql");
            // The peer address is the login limits' client address when no trusted proxy
            // header is configured.
            axum::serve(
                listener,
                router(std::sync::Arc::clone(&app))
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown())
            .await?;
            // The counts since the last flush, or a graceful stop would lose them.
            match app.usage.flush().await {
                Ok(n) => tracing::info!(tenant_days = n, "usage flushed at shutdown"),
                Err(e) => tracing::warn!(error = %e.message, "flushing usage at shutdown failed"),
            }
        }
        Command::Seed {
            tenants,
            contacts,
            conversations,
            messages,
            prefix,
            plan,
        } => {
            let app = App::start(cli.config).await?;
            let size = crate::seed::SeedSize {
                tenants,
                contacts,
                conversations,
                messages,
                plan,
            };
            let (created, took) = crate::seed::seed(&app, &prefix, size).await?;
            println!(
                "seeded {created} new tenants of {contacts} contacts x {conversations} conversations x {messages} messages in {:.1}s",
                took.as_secs_f64()
            );
        }
        Command::Dev { command } => cluster::dev(&cli.config, command).await?,
        Command::Cluster { command } => cluster::cluster(cli.config, command).await?,
        Command::DatabaseUrl => {
            println!("{}", crate::db::database_url(&cli.config).await?);
        }
        Command::Tenant { command } => {
            let app = App::start(cli.config).await?;
            tenant::run(&app, command).await?;
        }
        Command::User {
            command: UserCommand::Password { user },
        } => {
            let app = App::start(cli.config).await?;
            let platform = app.platform();
            let user = platform.find_user(&user).await?;
            let password = match std::env::var("TENANTRY_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            platform.set_password(user, &password).await?;
            println!("{user}");
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    tenant,
                    role,
                    platform_admin,
                },
        } => {
            let app = App::start(cli.config).await?;
            let platform = app.platform();
            let tenant = match &tenant {
                Some(t) => Some(platform.find_tenant(t).await?),
                None => None,
            };
            let user = platform.create_user(&email).await?;
            if platform_admin {
                platform.set_platform_admin(user, true).await?;
            }
            if let (Some(tenant), Some(role)) = (tenant, role) {
                platform
                    .set_membership(crate::ids::TenantId(tenant.id), user, role)
                    .await?;
            }
            println!("{user}");
        }
        Command::Token { user, tenant, ttl } => {
            let app = App::start(cli.config).await?;
            let platform = app.platform();
            let tenant = platform.find_tenant(&tenant).await?;
            let user = platform.find_user(&user).await?;
            let tenant_id = crate::ids::TenantId(tenant.id);
            if !platform.is_member(tenant_id, user).await? {
                bail!("that user is not a member of tenant {}", tenant.slug);
            }
            println!("{}", app.keys.sign(user, Some(tenant_id), ttl)?);
        }
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
