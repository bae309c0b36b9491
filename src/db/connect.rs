//! Opening the pool's connections with a large read buffer.
//!
//! tokio-postgres reads its socket into a buffer of 8 KB, so the rows of a feed page (about
//! 120 KB from PostgreSQL) took some twenty `recv` calls per request. Here the socket is
//! read through a [`BufReader`] of [`READ_BUFFER`] bytes: each call takes up to that much
//! of what PostgreSQL has sent so far, and tokio-postgres' frames are cut from memory.
//!
//! tokio-postgres only reads that way from a socket it is given ([`Config::connect_raw`]),
//! so the socket is opened here in the plain case ([`plain`]): one host (a name or a socket
//! directory), one port at most, no `hostaddr`, no load balancing, any session, no TCP user
//! timeout. As `tokio_postgres::connect` does, a name's addresses are tried in turn, each
//! within the connect timeout, and TCP sockets get `TCP_NODELAY` and the configured
//! keepalives; unlike it, the name's lookup is bounded by the connect timeout too (when
//! one is set), so that a resolver that does not answer cannot hold a pool slot past it
//! (the abandoned `getaddrinfo` still finishes on a blocking thread). Any other
//! configuration is connected by tokio-postgres itself.
//!
//! A client connected from a given socket has no address to send a cancel request to
//! (`CancelToken::cancel_query` fails); nothing in Tenantry cancels queries that way.

use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, LoadBalanceHosts, TargetSessionAttrs};
use tokio_postgres::{Client, Config, NoTls};

/// The read buffer's size. (A read into a caller's buffer at least this large, which
/// tokio-postgres asks for only while a single message is larger, goes straight to the
/// socket.)
const READ_BUFFER: usize = 128 * 1024;

/// A client on `url`, its connection task spawned. (The task ends by itself when the client
/// is dropped or the connection is lost; a lost connection fails the client's next
/// statement, which the callers handle.)
pub(super) async fn connect(url: &str) -> Result<Client, String> {
    let config: Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    if !plain(&config) {
        let (client, connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        return Ok(client);
    }
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match &config.get_hosts()[0] {
        Host::Tcp(host) => {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            let addresses = match config.get_connect_timeout() {
                Some(limit) => tokio::time::timeout(*limit, lookup).await.map_err(|_| {
                    format!("error connecting to server: lookup of {host} timed out")
                })?,
                None => lookup.await,
            }
            .map_err(connecting)?;
            let mut last = format!("error connecting to server: {host} resolved to nothing");
            for address in addresses {
                match within(&config, TcpStream::connect(address)).await {
                    Ok(stream) => {
                        tcp_options(&config, &stream).map_err(connecting)?;
                        return start(&config, stream).await;
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            start(&config, within(&config, UnixStream::connect(path)).await?).await
        }
    }
}

/// Whether `config` is connected here rather than by `tokio_postgres::connect`.
fn plain(config: &Config) -> bool {
    config.get_hosts().len() == 1
        && config.get_hostaddrs().is_empty()
        && config.get_ports().len() <= 1
        && config.get_load_balance_hosts() == LoadBalanceHosts::Disable
        && config.get_target_session_attrs() == TargetSessionAttrs::Any
        && config.get_tcp_user_timeout().is_none()
}

/// The message tokio-postgres gives for a failed connection.
fn connecting(e: std::io::Error) -> String {
    format!("error connecting to server: {e}")
}

/// `TCP_NODELAY` and the configured keepalives, as tokio-postgres sets them.
fn tcp_options(config: &Config, stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    if config.get_keepalives() {
        let mut keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
        if let Some(interval) = config.get_keepalives_interval() {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(retries) = config.get_keepalives_retries() {
            keepalive = keepalive.with_retries(retries);
        }
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

/// Runs `connect` within the configured connect timeout, if any.
async fn within<T>(
    config: &Config,
    connect: impl Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match config.get_connect_timeout() {
        Some(limit) => match tokio::time::timeout(*limit, connect).await {
            Ok(result) => result.map_err(connecting),
            Err(_) => Err("error connecting to server: connection timed out".into()),
        },
        None => connect.await.map_err(connecting),
    }
}

/// Starts the session (startup, authentication) on `stream`, read through the buffer.
async fn start<S>(config: &Config, stream: S) -> Result<Client, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = config
        .connect_raw(BufReader::with_capacity(READ_BUFFER, stream), NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn only_one_host_without_session_choices_is_connected_here() {
        let is_plain = |url: &str| plain(&url.parse().unwrap());
        assert!(is_plain("host=/run/pg port=5433 dbname=x"));
        assert!(is_plain("postgres://u@db.example:6432/x?connect_timeout=3"));
        assert!(is_plain("host=localhost dbname=x keepalives_idle=30"));
        assert!(!is_plain("host=a,b dbname=x"));
        assert!(!is_plain("host=a port=1,2 dbname=x"));
        assert!(!is_plain("hostaddr=127.0.0.1 dbname=x"));
        assert!(!is_plain("host=a hostaddr=127.0.0.1 dbname=x"));
        assert!(!is_plain("host=a load_balance_hosts=random dbname=x"));
        assert!(!is_plain("host=a target_session_attrs=read-write dbname=x"));
        assert!(!is_plain("host=a tcp_user_timeout=5 dbname=x"));
    }
}
