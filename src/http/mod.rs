//! Transport: the router of the whole HTTP API — GraphQL over HTTP at `/graphql` and
//! `/t/{slug}/graphql` ([`graphql`]), GraphiQL at `/graphiql` with its assets, served from
//! the binary ([`graphiql`]), `/healthz` and `/readyz`.

pub mod graphiql;
pub mod graphql;
mod live;

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
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(body_limit))
        // Outermost: a declared length over the limit gets a JSON error, not a bare 413.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            graphql::refuse_oversized,
        ))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.database_ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}
