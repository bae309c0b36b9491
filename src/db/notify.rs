//! One connection per server process that `LISTEN`s on the channels triggers announce
//! changes on, and calls each channel's handler: with the payload of every notification,
//! and with `None` after each (re)connection, since notifications sent while disconnected
//! are lost.

use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What to do when a channel announces a change (`Some(payload)`), or when notifications
/// may have been missed (`None`: after connecting).
pub type Handler = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// Keeps a connection to `url` listening on every channel of `handlers`, reconnecting
/// after a second when it is lost; `up` says whether it is listening now (`/readyz`).
/// Stops when the returned handle is aborted.
pub fn listen(
    url: String,
    handlers: Vec<(&'static str, Handler)>,
    up: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let result = listen_once(&url, &handlers, &up).await;
            up.store(false, Ordering::Relaxed);
            metrics::gauge!(crate::telemetry::metrics::LISTENER_UP).set(0.0);
            if let Err(e) = result {
                crate::telemetry::quiet::warn(
                    "database notifications interrupted; reconnecting",
                    &e.to_string(),
                );
            }
            for (_, handler) in &handlers {
                handler(None);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn listen_once(
    url: &str,
    handlers: &[(&'static str, Handler)],
    up: &AtomicBool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(m) => {
                    if tx.send(m).is_err() {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let listens: String = handlers
        .iter()
        .map(|(channel, _)| format!("LISTEN {channel};"))
        .collect();
    client.batch_execute(&listens).await?;
    up.store(true, Ordering::Relaxed);
    metrics::gauge!(crate::telemetry::metrics::LISTENER_UP).set(1.0);
    // Anything learnt before LISTEN took effect may be stale.
    for (_, handler) in handlers {
        handler(None);
    }
    while let Some(message) = rx.recv().await {
        if let tokio_postgres::AsyncMessage::Notification(n) = message {
            for (channel, handler) in handlers {
                if n.channel() == *channel {
                    handler(Some(n.payload()));
                }
            }
        }
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Announces on `tenantry_tenancy` that `tenant`'s members, roles or API keys changed, from
/// the statement's own transaction (delivered at commit, dropped on rollback).
///
/// Why, when triggers announce such changes already: on Citus the triggers of a tenant
/// table fire on the worker holding the row, which may not announce (a worker that has sent
/// NOTIFY cannot take part in a two-phase commit; see migration 000022), so the writes
/// Tenantry makes itself also announce from the coordinator. On one server the trigger's
/// notification and this one are the same channel and payload in one transaction, which
/// PostgreSQL delivers once. Changes made by hand in SQL on Citus reach the caches within
/// their TTL (`TENANTRY_TENANT_CACHE_TTL_MS`).
pub async fn announce_tenancy(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: uuid::Uuid,
) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT pg_notify('tenantry_tenancy', $1)")
        .bind::<diesel::sql_types::Text, _>(tenant.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}
