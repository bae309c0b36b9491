//! Subscriptions over WebSocket at `/graphql` (and `/t/{slug}/graphql`), with the
//! `graphql-transport-ws` protocol (the graphql-ws library's) and the legacy `graphql-ws`
//! one (subscriptions-transport-ws), through async-graphql's own support.
//!
//! The caller authenticates in `connection_init` (`{"Authorization": "Bearer …"}`, plus
//! `X-Tenant-Slug` / `X-Tenant-ID` as on HTTP; the upgrade request's Host and path name a
//! tenant too): the tenant and role are resolved exactly as for an HTTP request, and a
//! refusal closes the connection with its code in the reason (`FORBIDDEN: …`). A
//! connection without any subscription for `TENANTRY_WS_IDLE_TIMEOUT_MS` is closed.

use crate::app::App;
use crate::auth::request::{ApiKeyVerifier, Authenticator};
use crate::auth::Role;
use crate::error::AppError;
use crate::graphql::live::{still_admitted, KeyCheck, LiveSession};
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upgrades to a GraphQL WebSocket connection.
pub(super) fn upgrade(
    app: Arc<App>,
    ws: WebSocketUpgrade,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    path_slug: Option<String>,
) -> Response {
    let open = Arc::new(AtomicUsize::new(0));
    let executor = app.graphql.subscriptions(Arc::clone(&app.documents));
    // Small buffers: a subscriber's messages are small and a server holds thousands of
    // sockets (tungstenite's 128 KiB defaults made 1,000 idle sockets cost ~150 MB). A
    // message may be as large as an HTTP body.
    ws.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(app.config.max_body_bytes)
        .on_upgrade(move |socket| async move {
            let idle = Duration::from_millis(app.config.ws_idle_timeout_ms);
            let init = {
                let (app, open) = (Arc::clone(&app), Arc::clone(&open));
                move |payload| connection_init(app, headers, path_slug, payload, open)
            };
            let serve = GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(init)
                .keepalive_timeout(Duration::from_secs(30))
                .serve();
            tokio::select! {
                _ = serve => {}
                _ = idle_for(&open, idle) => {
                    tracing::info!("closing a WebSocket connection idle without subscriptions");
                }
            }
        })
        .into_response()
}

/// Resolves when the connection has held no subscription for `idle` on end.
async fn idle_for(open: &AtomicUsize, idle: Duration) {
    let step = (idle / 4).max(Duration::from_millis(50));
    let mut quiet = Duration::ZERO;
    loop {
        tokio::time::sleep(step).await;
        if open.load(Ordering::SeqCst) == 0 {
            quiet += step;
            if quiet >= idle {
                return;
            }
        } else {
            quiet = Duration::ZERO;
        }
    }
}

/// Authenticates the connection from its `connection_init` payload, as HTTP would.
async fn connection_init(
    app: Arc<App>,
    upgrade_headers: HeaderMap,
    path_slug: Option<String>,
    payload: serde_json::Value,
    open: Arc<AtomicUsize>,
) -> async_graphql::Result<Data> {
    let mut headers = HeaderMap::new();
    // The upgrade request's own headers first (non-browser clients can set them); the
    // payload's override them.
    for name in ["host", "authorization", "x-tenant-slug", "x-tenant-id"] {
        if let Some(value) = upgrade_headers.get(name) {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
    }
    if let Some(fields) = payload.as_object() {
        for (key, value) in fields {
            let name = key.to_ascii_lowercase();
            if !matches!(
                name.as_str(),
                "authorization" | "x-tenant-slug" | "x-tenant-id"
            ) {
                continue;
            }
            let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) else {
                continue;
            };
            headers.insert(name, value);
        }
    }
    let authenticator = Authenticator {
        keys: &app.keys,
        api_keys: &app.api_keys,
        base_domain: app.config.base_domain.as_deref(),
    };
    let principal = authenticator
        .authenticate(&headers, path_slug)
        .await
        .map_err(refused)?
        .ok_or_else(|| refused(AppError::unauthenticated()))?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|token| token.trim().to_string())
        .unwrap_or_default();
    let is_key = app.api_keys.is_api_key(&bearer);
    let expires_at = (!is_key)
        .then(|| app.keys.verify(&bearer).ok())
        .flatten()
        .map(|verified| verified.expires_at);
    // An API key is verified again at every re-check: revoking it (or its expiry) ends
    // its streams like a removed membership.
    let key_check: Option<KeyCheck> = is_key.then(|| {
        let keys = app.api_keys.clone();
        Arc::new(move || {
            let (keys, token) = (keys.clone(), bearer.clone());
            Box::pin(async move { keys.verify(&token).await.map(|_| ()) })
                as futures_util::future::BoxFuture<'static, _>
        }) as KeyCheck
    });
    let session = LiveSession {
        live: Arc::clone(&app.live),
        principal,
        expires_at,
        loaders: Arc::new(crate::schema::loaders::loaders),
        recheck: Duration::from_millis(app.config.subscription_recheck_ms),
        open,
        max_per_connection: app.config.max_subscriptions_per_connection,
        key_check,
    };
    still_admitted(&session, Role::Viewer)
        .await
        .map_err(refused)?;
    let mut data = Data::default();
    data.insert(session);
    Ok(data)
}

/// A refused `connection_init`: the connection is closed with the code in the reason.
fn refused(e: AppError) -> async_graphql::Error {
    tracing::info!(code = e.code.as_str(), "a WebSocket connection refused");
    async_graphql::Error::new(format!("{}: {}", e.code.as_str(), e.message))
}
