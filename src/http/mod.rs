//! Transport: the router of the whole HTTP API — GraphQL over HTTP at `/graphql` and
//! `/t/{slug}/graphql` ([`graphql`]), GraphiQL at `/graphiql` with its assets, served from
//! the binary ([`graphiql`]), export downloads at `/exports/{tenant}/{job}` ([`exports`]),
//! `/healthz` and `/readyz`, and Prometheus `/metrics` ([`observe`]: behind a token here, or
//! on its own address). Every request runs with its client address known to the auth
//! path's login limits ([`remember_client`]).

pub mod exports;
pub mod graphiql;
pub mod graphql;
mod live;
mod metering;
pub mod observe;

use crate::app::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;

/// The router of the whole HTTP API.
pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.config.max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql::graphql).post(graphql::graphql))
        .route(
            "/t/{slug}/graphql",
            get(graphql::graphql_for_slug).post(graphql::graphql_for_slug),
        )
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/exports/{tenant}/{job}", get(exports::download))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(observe::scrape_with_token))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            remember_client,
        ))
        // Outermost: a declared length over the limit gets a JSON error, not a bare 413.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            graphql::refuse_oversized,
        ))
        .with_state(app)
}

/// Runs the request with its client address (the trusted proxy header if configured, else
/// the socket peer that `into_make_service_with_connect_info` records) known to
/// [`crate::auth::client`], for the login limits.
async fn remember_client(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    let address = crate::auth::client::client_address(
        request.headers(),
        peer,
        app.config.trusted_proxy_header.as_deref(),
    );
    crate::auth::client::with_client_address(address, next.run(request)).await
}

/// `/readyz`: 200 when the database answers, the migrations are current and the
/// notification listener is connected, else 503; the body says which check failed:
/// `{"status":"ready","checks":{"database":true,"migrations":true,"listener":true}}`.
async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    let checks = app.readiness().await;
    let (status, word) = if checks.ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        axum::Json(serde_json::json!({ "status": word, "checks": checks })),
    )
}
