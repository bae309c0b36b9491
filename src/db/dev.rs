//! The private PostgreSQL cluster used when `DATABASE_URL` is unset.
//!
//! Made from the locally installed server binaries: `initdb` on first use into
//! `TENANTRY_HOME/pg`, listening on a unix socket only (no TCP), started on demand and left
//! running so later subcommands and test processes share it. A file lock serialises the
//! check-and-start, so concurrent processes never start it twice. PostgreSQL refuses to run
//! as root, so when we are root initdb and the server run as the `postgres` system user.

use anyhow::{bail, Context};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the application database inside the private cluster.
pub const DEV_DATABASE: &str = "tenantry";

/// A private cluster: where its data and socket live and which binaries run it.
#[derive(Debug, Clone)]
pub struct DevCluster {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    /// The port, which names the socket file (`.s.PGSQL.<port>`); there is no TCP.
    port: u16,
    /// Extra `-c name=value` server settings (the Citus nodes').
    settings: Vec<String>,
}

impl DevCluster {
    /// Locates (but does not start) the cluster under `home`.
    pub fn new(home: &Path, pg_bin: Option<&Path>) -> anyhow::Result<Self> {
        let (cluster_home, socket_dir, bin_dir) = Self::locate(home, pg_bin, "sock")?;
        Ok(Self {
            data_dir: cluster_home.join("pg"),
            socket_dir,
            bin_dir,
            port: 5432,
            settings: Vec::new(),
        })
    }

    /// A node of a cluster made of several (see [`super::citus`]): its data in
    /// `<home>/<name>`, its socket in `<home>/<socket_name>` (shared by the nodes, told
    /// apart by `port`), started with `settings` as extra `-c` options.
    pub fn node(
        home: &Path,
        pg_bin: Option<&Path>,
        name: &str,
        socket_name: &str,
        port: u16,
        settings: Vec<String>,
    ) -> anyhow::Result<Self> {
        let (cluster_home, socket_dir, bin_dir) = Self::locate(home, pg_bin, socket_name)?;
        Ok(Self {
            data_dir: cluster_home.join(name),
            socket_dir,
            bin_dir,
            port,
            settings,
        })
    }

    /// This node with one more `name=value` server setting.
    pub fn with_setting(mut self, setting: String) -> Self {
        self.settings.push(setting);
        self
    }

    /// Where the clusters under `home` live (folder, socket folder, binaries).
    fn locate(
        home: &Path,
        pg_bin: Option<&Path>,
        socket_name: &str,
    ) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
        fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
        let home = home.canonicalize()?;
        let bin_dir = match pg_bin {
            Some(dir) => dir.to_path_buf(),
            None => find_pg_bin()?,
        };
        let digest = simple_hash(home.to_string_lossy().as_bytes());
        // As root the server runs as `postgres`, which must be able to reach the folder; a
        // checkout under a private home (e.g. /root) is not, so the cluster moves to /var/tmp.
        let cluster_home = if is_root() && !reachable_by_others(&home) {
            let fallback = PathBuf::from(format!("/var/tmp/tenantry-{digest:016x}"));
            fs::create_dir_all(&fallback)?;
            fallback
        } else {
            home.clone()
        };
        // A unix socket path must fit in 107 bytes; fall back to /tmp for deep checkouts.
        let mut socket_dir = cluster_home.join(socket_name);
        if socket_dir.as_os_str().len() > 80 {
            socket_dir = PathBuf::from(format!("/tmp/tenantry-{socket_name}-{digest:016x}"));
        }
        Ok((cluster_home, socket_dir, bin_dir))
    }

    /// A connection string for `database` as the cluster's superuser, over the socket.
    pub fn url(&self, database: &str) -> String {
        self.url_as("postgres", database)
    }

    /// A connection string for `database` as `user`, over the socket.
    pub fn url_as(&self, user: &str, database: &str) -> String {
        format!(
            "host={} port={} user={user} dbname={database}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// The socket folder (a node's "host" for Citus) and the port.
    pub fn address(&self) -> (String, u16) {
        (self.socket_dir.display().to_string(), self.port)
    }

    /// Whether the server accepts connections.
    pub fn is_running(&self) -> bool {
        self.is_accepting()
    }

    /// Makes sure the cluster exists and runs, and that the application database exists;
    /// returns the URL of that database.
    pub async fn ensure_running(&self) -> anyhow::Result<String> {
        self.ensure_started().await?;
        self.ensure_database(DEV_DATABASE).await?;
        Ok(self.url(DEV_DATABASE))
    }

    /// Makes sure the cluster exists and runs (initdb and start on first use).
    pub async fn ensure_started(&self) -> anyhow::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.ensure_running_blocking()).await?
    }

    fn ensure_running_blocking(&self) -> anyhow::Result<()> {
        let parent = self.data_dir.parent().context("data dir has no parent")?;
        let lock_name = match self.data_dir.file_name() {
            Some(name) if name != "pg" => format!("{}.lock", name.to_string_lossy()),
            _ => "cluster.lock".to_string(),
        };
        let lock = File::create(parent.join(lock_name))?;
        lock.lock().context("locking the private cluster")?;
        if self.is_accepting() {
            return Ok(());
        }
        let as_root = is_root();
        if !self.data_dir.join("PG_VERSION").exists() {
            fs::create_dir_all(&self.data_dir)?;
            if as_root {
                chown_postgres(&self.data_dir)?;
            }
            self.run(
                as_root,
                "initdb",
                &[
                    "-D",
                    &self.data_dir.to_string_lossy(),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            )
            .context("initdb of the private cluster")?;
        }
        fs::create_dir_all(&self.socket_dir)?;
        if as_root {
            chown_postgres(&self.socket_dir)?;
        }
        let mut options = format!(
            "-c listen_addresses='' -k {} -p {} -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.socket_dir.display(),
            self.port
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let log = self.log_path();
        if as_root {
            // The log file must be writable by postgres.
            File::create(&log)?;
            chown_postgres(&log)?;
        }
        self.run(
            as_root,
            "pg_ctl",
            &[
                "-D",
                &self.data_dir.to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .with_context(|| format!("starting the private cluster (log: {})", log.display()))?;
        Ok(())
    }

    /// Stops the cluster (fast shutdown: sessions are ended, as in a database outage).
    /// For tests of their own throwaway clusters; the server never stops a cluster.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.run(
            is_root(),
            "pg_ctl",
            &[
                "-D",
                &self.data_dir.to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        )
    }

    /// The server log.
    pub fn log_path(&self) -> PathBuf {
        let parent = self.data_dir.parent().unwrap_or(&self.data_dir);
        match self.data_dir.file_name() {
            Some(name) if name != "pg" => parent.join(format!("{}.log", name.to_string_lossy())),
            _ => parent.join("postgres.log"),
        }
    }

    fn is_accepting(&self) -> bool {
        let status = Command::new(self.bin_dir.join("pg_isready"))
            .args(["-q", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .status();
        matches!(status, Ok(s) if s.success())
    }

    fn run(&self, as_root: bool, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let path = self.bin_dir.join(program);
        let output = if as_root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .current_dir("/")
                .output()
        } else {
            Command::new(&path).args(args).output()
        }
        .with_context(|| format!("running {}", path.display()))?;
        if !output.status.success() {
            bail!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Creates database `name` unless it exists.
    pub async fn ensure_database(&self, name: &str) -> anyhow::Result<()> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await?;
        let task = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let created = client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await;
            // Another process may have won the race; that is fine.
            if let Err(e) = created {
                if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                    return Err(e.into());
                }
            }
        }
        drop(client);
        let _ = task.await;
        Ok(())
    }
}

fn find_pg_bin() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return Ok(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output();
    if let Ok(output) = output {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!("no PostgreSQL server binaries found: install the PostgreSQL server package, set TENANTRY_PG_BIN, or set DATABASE_URL")
}

pub(crate) fn is_root() -> bool {
    // /proc/self belongs to the effective uid of this process, which is what PostgreSQL checks.
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Whether every folder from `/` to `path` may be traversed by other users.
fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().all(|p| {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

pub(crate) fn chown_postgres(path: &Path) -> anyhow::Result<()> {
    let status = Command::new("chown")
        .arg("postgres:postgres")
        .arg(path)
        .status()?;
    if !status.success() {
        bail!(
            "chown postgres {} failed (does the postgres user exist?)",
            path.display()
        );
    }
    Ok(())
}

/// FNV-1a, only to derive a short stable folder name.
fn simple_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}
