//! `tenantry tenant …`: a tenant's lifecycle, plan and domain, and its portability (export,
//! import, clone) and placement on Citus (isolate, move). Each prints one plain line.

use super::parse_plan;
use crate::app::App;
use crate::auth::plans::Plan;
use crate::platform::lifecycle::Lifecycle;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::path::PathBuf;

/// The tenant subcommands.
#[derive(Subcommand)]
pub(super) enum TenantCommand {
    /// Create a tenant; prints its id.
    Create {
        /// URL-safe unique name.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Suspend a tenant: its requests get TENANT_SUSPENDED (within the membership cache TTL).
    Suspend {
        /// Tenant slug or id.
        tenant: String,
    },
    /// Reactivate a suspended tenant.
    Reactivate {
        /// Tenant slug or id.
        tenant: String,
    },
    /// Delete a tenant (soft: its requests get TENANT_NOT_FOUND; rows stay until purged).
    Delete {
        /// Tenant slug or id.
        tenant: String,
    },
    /// Remove every row of a deleted tenant, in every table.
    Purge {
        /// Tenant slug or id.
        tenant: String,
    },
    /// Register a custom domain for a tenant (`--remove` to drop it).
    Domain {
        /// Tenant slug or id.
        tenant: String,
        /// The domain, e.g. api.acme.com.
        domain: Option<String>,
        /// Remove the tenant's custom domain.
        #[arg(long, conflicts_with = "domain")]
        remove: bool,
    },
    /// Export every row of a tenant to one compressed archive (a consistent snapshot).
    Export {
        /// Tenant slug or id.
        tenant: String,
        /// The archive to write (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Import an archive as a new tenant (or over a deleted one of that slug), all or nothing.
    Import {
        /// The archive (`-` for stdin).
        file: PathBuf,
        /// Slug of the new tenant (default: the archive's).
        #[arg(long)]
        slug: Option<String>,
        /// Name of the new tenant (default: the archive's).
        #[arg(long)]
        name: Option<String>,
    },
    /// Copy a tenant to a new tenant, here or in another Tenantry database: an export piped
    /// into an import, without a file.
    Clone {
        /// Tenant slug or id.
        tenant: String,
        /// Slug of the copy.
        #[arg(long)]
        to: String,
        /// Name of the copy (default: the original's).
        #[arg(long)]
        name: Option<String>,
        /// The target database (default: this one); it must be migrated to this version.
        #[arg(long = "database", value_name = "URL")]
        target: Option<String>,
    },
    /// Move a tenant to another plan (refused if it exceeds the plan's quotas).
    Plan {
        /// Tenant slug or id.
        tenant: String,
        /// basic, premium, enterprise or custom.
        #[arg(value_parser = parse_plan)]
        plan: Plan,
    },
    /// On Citus: give a tenant shards of its own (so it can be moved alone); prints the
    /// new shard id.
    Isolate {
        /// Tenant slug or id.
        tenant: String,
    },
    /// On Citus: move a tenant's shards to another node; reads go on, writes to them wait
    /// for the copy (every tenant sharing its
    /// shards moves too: isolate it first to move it alone).
    Move {
        /// Tenant slug or id.
        tenant: String,
        /// The node: its id or host:port, as `tenantry cluster status` lists them.
        #[arg(long)]
        to: String,
    },
}

/// Runs tenant subcommand `command` against `app`'s database.
pub(super) async fn run(app: &App, command: TenantCommand) -> anyhow::Result<()> {
    let platform = app.platform();
    let (tenant, change) = match command {
        TenantCommand::Suspend { tenant } => (tenant, Lifecycle::Suspend),
        TenantCommand::Reactivate { tenant } => (tenant, Lifecycle::Reactivate),
        TenantCommand::Delete { tenant } => (tenant, Lifecycle::Delete),
        TenantCommand::Purge { tenant } => {
            let rows = platform.purge(&tenant).await?;
            println!("{tenant} purged: {rows} rows removed");
            return Ok(());
        }
        TenantCommand::Domain {
            tenant,
            domain,
            remove,
        } => {
            if domain.is_none() && !remove {
                bail!("give a domain, or --remove");
            }
            let t = platform
                .set_custom_domain(&tenant, domain.as_deref())
                .await?;
            println!("{} {}", t.slug, domain.as_deref().unwrap_or("-"));
            return Ok(());
        }
        TenantCommand::Plan { tenant, plan } => {
            let tenant = platform.change_plan(&tenant, plan).await?;
            println!("{} {}", tenant.slug, plan.as_str());
            return Ok(());
        }
        TenantCommand::Export { tenant, output } => {
            let exported = export_to(&app.direct_url, &tenant, &output).await?;
            let bytes: u64 = exported.trailer.tables.iter().map(|t| t.bytes).sum();
            let line = format!(
                "{tenant} exported: {} rows in {} tables ({bytes} bytes of rows) to {}",
                exported.rows(),
                exported.trailer.tables.len(),
                output.display()
            );
            // With `-o -` stdout is the archive: the line goes to stderr instead.
            if output.as_os_str() == "-" {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            return Ok(());
        }
        TenantCommand::Import { file, slug, name } => {
            let options = crate::exports::restore::ImportOptions { slug, name };
            let secrets = crate::tenancy::settings::load_secret_box(&app.config)?;
            let url = app.direct_url.clone();
            let imported = crate::exports::on_own_thread(move || async move {
                let mut progress = crate::exports::progress::Console::new("importing");
                let input: Box<dyn std::io::Read + Send> = if file.as_os_str() == "-" {
                    Box::new(std::io::stdin())
                } else {
                    Box::new(std::io::BufReader::new(
                        std::fs::File::open(&file)
                            .with_context(|| format!("opening {}", file.display()))?,
                    ))
                };
                crate::exports::restore::import(&url, input, &options, &secrets, &mut progress)
                    .await
            })
            .await?;
            println!("{}", import_line(&imported));
            return Ok(());
        }
        TenantCommand::Clone {
            tenant,
            to,
            name,
            target,
        } => {
            let secrets = crate::tenancy::settings::load_secret_box(&app.config)?;
            let target = target.unwrap_or_else(|| app.direct_url.clone());
            let imported = crate::exports::clone_tenant(
                &app.direct_url,
                &tenant,
                &target,
                crate::exports::restore::ImportOptions {
                    slug: Some(to),
                    name,
                },
                secrets,
                Box::new(crate::exports::progress::Console::new("cloning")),
            )
            .await?;
            println!("{}", import_line(&imported));
            return Ok(());
        }
        TenantCommand::Isolate { tenant } => {
            let shard = platform.isolate_tenant(&tenant).await?;
            println!("{tenant} isolated: shard {shard}");
            return Ok(());
        }
        TenantCommand::Move { tenant, to } => {
            let moved = platform.move_tenant(&tenant, &to).await?;
            println!(
                "{tenant} moved from node {} to node {} ({} tenants in its shards; {})",
                moved.from,
                moved.to,
                moved.tenants,
                if moved.online {
                    "writes went on during the copy"
                } else {
                    "writes waited for the copy: a worker has synchronous_commit = off"
                }
            );
            return Ok(());
        }
        TenantCommand::Create { slug, name } => {
            println!("{}", platform.create_tenant(&slug, &name).await?);
            return Ok(());
        }
    };
    let tenant = platform.set_lifecycle(&tenant, change).await?;
    println!("{} {}", tenant.slug, tenant.status);
    Ok(())
}

/// Exports a tenant to `output` (`-`: stdout) on a thread of its own; a file is written
/// beside its final name and renamed only once complete, so a failed export leaves no
/// archive that looks whole.
async fn export_to(
    url: &str,
    tenant: &str,
    output: &std::path::Path,
) -> anyhow::Result<crate::exports::dump::Exported> {
    let (url, tenant, output) = (url.to_string(), tenant.to_string(), output.to_path_buf());
    crate::exports::on_own_thread(move || async move {
        let mut progress = crate::exports::progress::Console::new("exporting");
        if output.as_os_str() == "-" {
            let out = std::io::BufWriter::new(std::io::stdout());
            return Ok(
                crate::exports::dump::export(&url, &tenant, out, &mut progress)
                    .await?
                    .0,
            );
        }
        let part = output.with_extension("part");
        let file =
            std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        let (exported, out) = crate::exports::dump::export(
            &url,
            &tenant,
            std::io::BufWriter::new(file),
            &mut progress,
        )
        .await
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&part);
        })?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&part, &output)?;
        Ok(exported)
    })
    .await
}

/// The one line an import or clone prints.
fn import_line(i: &crate::exports::restore::Imported) -> String {
    let mut line = format!(
        "{} imported: {} ({} rows; users: {} matched by email, {} created without password)",
        i.slug, i.tenant_id, i.rows, i.users_matched, i.users_created
    );
    if i.replaced_deleted {
        line.push_str("; replaced the deleted tenant of that slug");
    }
    if !i.resealed.is_empty() {
        line.push_str(&format!("; re-sealed: {}", i.resealed.join(", ")));
    }
    if !i.to_set_again.is_empty() {
        line.push_str(&format!(
            "; set again (sealed with another key): {}",
            i.to_set_again.join(", ")
        ));
    }
    line
}
