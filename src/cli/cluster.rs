//! The cluster commands: `dev citus up|down|status` (the local Citus cluster for
//! development) and `cluster status` (the nodes, shards and largest tenants of the Citus
//! cluster in use).

use crate::app::App;
use crate::config::Config;
use crate::db::citus::CitusCluster;
use clap::Subcommand;

/// `tenantry dev …`.
#[derive(Subcommand)]
pub enum DevCommand {
    /// A local Citus cluster: a coordinator and two workers made from the local server
    /// binaries under TENANTRY_HOME/citus (Citus from ../shared/citus/install.sh).
    Citus {
        #[command(subcommand)]
        action: CitusAction,
    },
}

/// What to do with the local Citus cluster.
#[derive(Subcommand)]
pub enum CitusAction {
    /// Start it (created on first use), prepare and migrate its `tenantry` database, and
    /// print the coordinator's URL (use it as DATABASE_URL).
    Up,
    /// Stop its nodes.
    Down,
    /// One line per node: role, address, running or stopped.
    Status,
}

/// `tenantry cluster …`.
#[derive(Subcommand)]
pub enum ClusterCommand {
    /// The nodes (id, address, role, shards, bytes), then the largest tenants of each node.
    Status {
        /// How many tenants to list per node.
        #[arg(long, default_value_t = 5)]
        top: i64,
    },
}

/// Runs a `dev` command.
pub async fn dev(config: &Config, command: DevCommand) -> anyhow::Result<()> {
    let DevCommand::Citus { action } = command;
    let cluster = CitusCluster::new(&config.home, config.pg_bin.as_deref())?;
    match action {
        CitusAction::Up => {
            let url = cluster.ensure_running().await?;
            let pool = crate::db::build_pool(&url, 1)?;
            crate::db::run_migrations(&pool).await?;
            println!("{url}");
        }
        CitusAction::Down => {
            cluster.stop()?;
            println!("stopped");
        }
        CitusAction::Status => {
            for line in cluster.status_lines() {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// Runs a `cluster` command.
pub async fn cluster(config: Config, command: ClusterCommand) -> anyhow::Result<()> {
    let ClusterCommand::Status { top } = command;
    let app = App::start(config).await?;
    let platform = app.platform();
    // Both lists are read before anything is printed: on a single server the command is
    // refused with no half-printed table.
    let nodes = platform.cluster_nodes().await?;
    let tenants = platform.largest_tenants(top).await?;
    println!("node\taddress\trole\tshards\tbytes");
    for node in nodes {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            node.node_id, node.address, node.role, node.shards, node.bytes
        );
    }
    println!();
    println!("node\ttenant\tshard\trows");
    for tenant in tenants {
        println!(
            "{}\t{}\t{}\t{}",
            tenant.node_id, tenant.slug, tenant.shard_id, tenant.rows
        );
    }
    Ok(())
}
