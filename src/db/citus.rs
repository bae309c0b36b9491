//! A local Citus cluster for development and tests: a coordinator and two workers, each a
//! [`DevCluster`] node made from the local server binaries (Citus itself comes from
//! `../shared/citus/install.sh`), on one shared unix-socket folder told apart by port.
//!
//! [`CitusCluster::prepare_database`] makes a database usable by Citus on every node (the
//! extension, the workers registered with the coordinator); migrations run on the
//! coordinator afterwards then distribute the tenant tables (see `migrations/…_citus`).
//! [`CitusCluster::copy_database`] copies a prepared, migrated database on every node at
//! once: each node's copy holds that node's share (metadata, shards), and the nodes are
//! addressed by host and port only, so the copies form a cluster of their own. The tests use
//! it as they use `CREATE DATABASE … TEMPLATE` on one server.

use super::dev::DevCluster;
use anyhow::{bail, Context};
use std::path::Path;
use std::time::Duration;

/// The coordinator's port; the workers take the next ones.
pub const COORDINATOR_PORT: u16 = 9700;

/// How many workers the local cluster has.
pub const WORKERS: u16 = 2;

/// The server settings every node starts with.
fn settings() -> Vec<String> {
    [
        "shared_preload_libraries=citus",
        // Online shard moves (citus_move_shard_placement) use logical replication.
        "wal_level=logical",
        "max_replication_slots=20",
        "max_wal_senders=20",
        // Writes that touch several nodes commit in two phases.
        "max_prepared_transactions=200",
        // The request transaction's SET LOCALs (role, tenant, user) reach the workers.
        "citus.propagate_set_commands=local",
        // Eight shards per table (four per worker) rather than 32: a development cluster
        // makes and copies many small databases. Production keeps Citus's default.
        "citus.shard_count=8",
        // An online move ends when the subscription has caught up with the source's WAL
        // *write* position (`pg_current_wal_lsn()`). With asynchronous commit (the private
        // single-node cluster's default, for speed) a commit is acknowledged before its WAL
        // is written, so a write answered just before the switch-over can be left behind on
        // the old node: acknowledged and lost (11 of 16 moves of a plain table under writes;
        // none of 12 with synchronous commit).
        "synchronous_commit=on",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The three nodes of the local cluster under `<home>/citus`.
#[derive(Debug, Clone)]
pub struct CitusCluster {
    coordinator: DevCluster,
    workers: Vec<DevCluster>,
}

impl CitusCluster {
    /// Locates (but does not start) the cluster under `home`.
    pub fn new(home: &Path, pg_bin: Option<&Path>) -> anyhow::Result<Self> {
        let home = home.join("citus");
        let node = |name: &str, port: u16| {
            let node = DevCluster::node(&home, pg_bin, name, "sock", port, settings())?;
            // A node reaches itself (a shard move's logical replication subscribes to the
            // source) by this name: the socket folder, as there is no TCP.
            let (host, _) = node.address();
            anyhow::Ok(node.with_setting(format!("citus.local_hostname={host}")))
        };
        let coordinator = node("coordinator", COORDINATOR_PORT)?;
        let workers = (1..=WORKERS)
            .map(|i| node(&format!("worker{i}"), COORDINATOR_PORT + i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            coordinator,
            workers,
        })
    }

    /// The coordinator node.
    pub fn coordinator(&self) -> &DevCluster {
        &self.coordinator
    }

    /// The worker nodes.
    pub fn workers(&self) -> &[DevCluster] {
        &self.workers
    }

    /// The coordinator, then the workers.
    pub fn nodes(&self) -> impl Iterator<Item = &DevCluster> {
        std::iter::once(&self.coordinator).chain(self.workers.iter())
    }

    /// Starts every node (initdb on first use) and prepares the development database on
    /// them; returns the coordinator's URL of it.
    pub async fn ensure_running(&self) -> anyhow::Result<String> {
        self.ensure_started().await?;
        self.prepare_database(super::dev::DEV_DATABASE).await?;
        Ok(self.coordinator.url(super::dev::DEV_DATABASE))
    }

    /// Starts every node that is not running.
    pub async fn ensure_started(&self) -> anyhow::Result<()> {
        for node in self.nodes() {
            node.ensure_started().await.with_context(|| {
                format!(
                    "starting a Citus node (log: {}); is Citus installed (../shared/citus/install.sh)?",
                    node.log_path().display()
                )
            })?;
        }
        Ok(())
    }

    /// Stops every node.
    pub fn stop(&self) -> anyhow::Result<()> {
        for node in self.nodes() {
            if node.is_running() {
                node.stop()?;
            }
        }
        Ok(())
    }

    /// One line per node: its role, address and whether it runs.
    pub fn status_lines(&self) -> Vec<String> {
        self.nodes()
            .enumerate()
            .map(|(i, node)| {
                let (host, port) = node.address();
                let role = if i == 0 { "coordinator" } else { "worker" };
                let state = if node.is_running() {
                    "running"
                } else {
                    "stopped"
                };
                format!("{role}\t{host}:{port}\t{state}")
            })
            .collect()
    }

    /// Makes database `name` a Citus database on every node: created where missing, the
    /// extension in each, and the coordinator knowing itself and the workers. Idempotent;
    /// concurrent callers are serialised by an advisory lock on the coordinator.
    pub async fn prepare_database(&self, name: &str) -> anyhow::Result<()> {
        let admin = connect(&self.coordinator.url("postgres")).await?;
        admin.batch_execute("SELECT pg_advisory_lock(7244)").await?;
        let result = async {
            for node in self.nodes() {
                node.ensure_database(name).await?;
                let db = connect(&node.url(name)).await?;
                db.batch_execute("CREATE EXTENSION IF NOT EXISTS citus")
                    .await
                    .context("CREATE EXTENSION citus")?;
            }
            let db = connect(&self.coordinator.url(name)).await?;
            let known: i64 = db
                .query_one("SELECT count(*) FROM pg_dist_node", &[])
                .await?
                .get(0);
            if known == 0 {
                let (host, port) = self.coordinator.address();
                db.execute(
                    "SELECT citus_set_coordinator_host($1, $2)",
                    &[&host, &i32::from(port)],
                )
                .await
                .context("citus_set_coordinator_host")?;
                for worker in &self.workers {
                    let (host, port) = worker.address();
                    db.execute("SELECT citus_add_node($1, $2)", &[&host, &i32::from(port)])
                        .await
                        .context("citus_add_node")?;
                }
            }
            anyhow::Ok(())
        }
        .await;
        let _ = admin.batch_execute("SELECT pg_advisory_unlock(7244)").await;
        result
    }

    /// Copies database `template` to `name` on every node (see the module's comment).
    pub async fn copy_database(&self, template: &str, name: &str) -> anyhow::Result<()> {
        for node in self.nodes() {
            let admin = connect(&node.url("postgres")).await?;
            // Citus keeps a maintenance daemon (and the coordinator keeps connections) in
            // every Citus database; a template must have no sessions while it is copied, so
            // they are ended and the copy retried until it wins the race.
            let mut attempt = 0;
            loop {
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&template],
                    )
                    .await?;
                match admin
                    .batch_execute(&format!(
                        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                    ))
                    .await
                {
                    Ok(()) => break,
                    Err(e) if attempt < 50 => {
                        attempt += 1;
                        tracing::debug!(error = %e, "copying a Citus database; retrying");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => bail!("copying {template} to {name}: {e}"),
                }
            }
        }
        Ok(())
    }

    /// Drops database `name` on every node.
    pub async fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        for node in self.nodes() {
            let admin = connect(&node.url("postgres")).await?;
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Whether the database behind `pool` is a Citus coordinator, and if so that it is set up
/// as Tenantry needs: the request transaction's `SET LOCAL`s (role, tenant) must reach the
/// workers, which only `citus.propagate_set_commands = 'local'` does. Without it a worker
/// would run a request's statements with no tenant set (and so return nothing: RLS fails
/// closed), so the server refuses to start instead.
pub async fn check(pool: &super::PgPool) -> anyhow::Result<bool> {
    use diesel::sql_types::{Bool, Text};
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Bool)]
        citus: bool,
        #[diesel(sql_type = Text)]
        propagate: String,
    }
    let mut conn = pool.get().await.context("connecting to check for Citus")?;
    let row: Setting = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus, \
                coalesce(current_setting('citus.propagate_set_commands', true), '') AS propagate",
    )
    .get_result(&mut conn)
    .await
    .context("checking for Citus")?;
    if row.citus && row.propagate != "local" {
        bail!(
            "this database is a Citus coordinator, and citus.propagate_set_commands is '{}': \
             set it to 'local' (postgresql.conf, or ALTER DATABASE … SET) so each request's \
             tenant reaches the workers",
            row.propagate
        );
    }
    Ok(row.citus)
}
