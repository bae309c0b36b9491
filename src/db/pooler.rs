//! A local PgBouncer in transaction pooling mode in front of a PostgreSQL server: how the
//! tests prove Tenantry works behind a pooler (README "Behind PgBouncer";
//! `TENANTRY_TEST_PGBOUNCER=1`).
//!
//! Debian's `pgbouncer` (1.18: no prepared statements in transaction mode) is started with a
//! configuration of its own in a temporary folder, listening on a unix socket only, with a
//! wildcard entry so every database of the server (a fresh one per test) is reachable
//! through it, and `trust` authentication towards the server's own `trust` socket. It
//! hands out its server connections round robin, so a statement that wrongly relies on
//! landing on the same server connection as the previous one fails at once instead of
//! under production load. PgBouncer refuses to run as root: as root it runs as the
//! `postgres` user, like the private cluster ([`super::dev`]).

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The port PgBouncer's socket is named after (`.s.PGSQL.<port>` in its own folder).
const PORT: u16 = 6432;

/// A running PgBouncer (stopped when dropped, or when the process that started it ends).
pub struct LocalPgBouncer {
    dir: PathBuf,
    user: String,
    child: Child,
}

impl LocalPgBouncer {
    /// Starts PgBouncer in front of the server `upstream` points at (a URL or key-value
    /// string; its user is the one clients log in as, its database is ignored) and waits
    /// until it answers.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let config: tokio_postgres::Config = upstream
            .parse()
            .context("parsing the URL PgBouncer is to sit in front of")?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
            Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
            None => bail!("the upstream URL names no host"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_string();
        let binary = find_binary()?;
        let dir = std::env::temp_dir().join(format!("tenantry-pgbouncer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // The user must be listed even under `trust` (1.18 looks names up in auth_file).
        std::fs::write(dir.join("userlist.txt"), format!("\"{user}\" \"\"\n"))?;
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&ini, ini_text(&dir, &host, port, &user))?;
        let as_root = super::dev::is_root();
        if as_root {
            for path in [&dir, &ini, &dir.join("userlist.txt")] {
                super::dev::chown_postgres(path)?;
            }
        }
        // A watchdog shell: PgBouncer ends (and its folder goes) when this process does,
        // even if it never runs a destructor (test binaries exit without one).
        let script = r#""$1" "$2" & pid=$!
trap 'kill $pid 2>/dev/null' TERM INT
while [ -d /proc/"$3" ] && kill -0 $pid 2>/dev/null; do sleep 0.5; done
kill $pid 2>/dev/null; wait $pid; rm -rf "$4""#;
        let mut command = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let child = command
            .arg("tenantry-pgbouncer")
            .arg(&binary)
            .arg(&ini)
            .arg(std::process::id().to_string())
            .arg(&dir)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let bouncer = Self { dir, user, child };
        bouncer.wait_ready().await?;
        Ok(bouncer)
    }

    /// A key-value URL for `database` through PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!(
            "host={} port={PORT} user={} dbname={database}",
            self.dir.display(),
            self.user
        )
    }

    /// Rows of an admin console command (`SHOW STATS`, `SHOW POOLS`, …), each as column
    /// name → value. The console speaks only the simple query protocol.
    pub async fn show(&self, what: &str) -> anyhow::Result<Vec<Vec<(String, String)>>> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("pgbouncer"), tokio_postgres::NoTls).await?;
        let task = tokio::spawn(connection);
        let messages = client.simple_query(&format!("SHOW {what}")).await;
        drop(client);
        let _ = task.await;
        Ok(messages?
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name().to_string(), row.get(i).unwrap_or("").to_string()))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let mut last = None;
        for _ in 0..100 {
            match self.show("VERSION").await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default();
        bail!(
            "PgBouncer did not answer within 10 s ({}); its log:\n{log}",
            last.map(|e| e.to_string()).unwrap_or_default()
        )
    }
}

impl Drop for LocalPgBouncer {
    fn drop(&mut self) {
        // The watchdog stops PgBouncer and removes the folder when it is told to end.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The configuration: transaction pooling, a unix socket only, every database forwarded.
fn ini_text(dir: &Path, host: &str, port: u16, user: &str) -> String {
    let dir = dir.display();
    format!(
        "[databases]
* = host={host} port={port}

[pgbouncer]
pool_mode = transaction
listen_addr =
listen_port = {PORT}
unix_socket_dir = {dir}
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = {user}
stats_users = {user}
pidfile = {dir}/pgbouncer.pid
logfile = {dir}/pgbouncer.log
max_client_conn = 2000
default_pool_size = 4
; Oldest idle server connection first: consecutive transactions of one client land on
; different server connections, as they do under load.
server_round_robin = 1
stats_period = 1
"
    )
}

fn find_binary() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.exists())
        .context("no pgbouncer binary: install Debian's `pgbouncer` package")
}
