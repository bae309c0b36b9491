//! Opening the pool's connections with a large read buffer.
//!
//! tokio-postgres reads its socket into a buffer of 8 KB, so the rows of a feed page (about
//! 120 KB from PostgreSQL) took some twenty `recv` calls per request. Here the socket is
//! read through a [`BufReader`] of [`READ_BUFFER`] bytes: each call takes whatever
//! PostgreSQL has sent so far, and tokio-postgres' frames are cut from memory.
//!
//! tokio-postgres only buffers that way for a socket it is given ([`Config::connect_raw`]),
//! so the socket is opened here for the plain case: one host (a name or a socket
//! directory), no `hostaddr`, any session, no TCP user timeout. Those settings are
//! honoured as `tokio_postgres::connect` honours them (connect timeout, `TCP_NODELAY`,
//! keepalives); anything else is left to `tokio_postgres::connect` itself.

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::{Client, Config, NoTls};

/// Bytes read from the socket per call at most.
const READ_BUFFER: usize = 128 * 1024;

/// A client on `url`, its connection task spawned. (The task ends by itself when the client
/// is dropped or the connection is lost; a lost connection fails the client's next
/// statement, which the callers handle.)
pub(super) async fn connect(url: &str) -> Result<Client, String> {
    let config: Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    let plain = config.get_hosts().len() == 1
        && config.get_hostaddrs().is_empty()
        && config.get_ports().len() <= 1
        && config.get_target_session_attrs() == TargetSessionAttrs::Any
        && config.get_tcp_user_timeout().is_none();
    if !plain {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        return Ok(client);
    }
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match &config.get_hosts()[0] {
        Host::Tcp(host) => {
            let stream = within(&config, TcpStream::connect((host.as_str(), port))).await?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            if config.get_keepalives() {
                let mut keepalive =
                    socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
                if let Some(interval) = config.get_keepalives_interval() {
                    keepalive = keepalive.with_interval(interval);
                }
                if let Some(retries) = config.get_keepalives_retries() {
                    keepalive = keepalive.with_retries(retries);
                }
                socket2::SockRef::from(&stream)
                    .set_tcp_keepalive(&keepalive)
                    .map_err(|e| e.to_string())?;
            }
            start(&config, stream).await
        }
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            start(&config, within(&config, UnixStream::connect(path)).await?).await
        }
    }
}

/// Runs `connect` within the configured connect timeout, if any.
async fn within<T>(
    config: &Config,
    connect: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    let result = match config.get_connect_timeout() {
        Some(limit) => tokio::time::timeout(*limit, connect)
            .await
            .map_err(|_| format!("connection timed out after {limit:?}"))?,
        None => connect.await,
    };
    result.map_err(|e| format!("error connecting to server: {e}"))
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
