//! What each GraphQL request tells the operator: its metrics (requests by tenant, plan,
//! operation and outcome; latency), its tenant's health figures, and the outcome on its
//! trace span; and the Prometheus `/metrics` endpoint, on its own address
//! (`TENANTRY_METRICS_ADDR`, [`metrics_router`]) or on the API port behind a bearer token
//! (`TENANTRY_METRICS_TOKEN`, [`scrape_with_token`]).

use crate::app::App;
use crate::auth::plans::Plan;
use crate::error::ErrorCode;
use crate::ids::TenantId;
use crate::telemetry::metrics::{REQUESTS, REQUEST_SECONDS};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// What a request turned out to be.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// `OK`, or the code of the response's first error.
    pub code: &'static str,
    /// `query`, `mutation`, or `none` when refused before its type was known.
    pub operation: &'static str,
    /// The admitted tenant and its plan, when the request got that far.
    pub tenant: Option<(TenantId, Plan)>,
    /// Whether a compiled plan answered it.
    pub compiled: bool,
}

impl Default for Observed {
    fn default() -> Self {
        Self {
            code: "OK",
            operation: "none",
            tenant: None,
            compiled: false,
        }
    }
}

/// Whether `code` is the server's failure (what a tenant's error rate counts), not the
/// caller's.
fn server_error(code: &str) -> bool {
    code == ErrorCode::Internal.as_str() || code == ErrorCode::ServiceUnavailable.as_str()
}

/// Records one answered request that took `elapsed`: its outcome on `span`, its tenant's
/// health figures, and (when metrics are on) its series. (Public for the tests that drive
/// many tenants through it without as many HTTP requests.)
pub fn request(app: &App, observed: &Observed, elapsed: Duration, span: &tracing::Span) {
    span.record("outcome.code", observed.code);
    span.record("operation.type", observed.operation);
    if let Some((tenant, _)) = observed.tenant {
        app.observe
            .health
            .record(tenant, elapsed, server_error(observed.code));
    }
    let Some(top) = &app.observe.top_tenants else {
        return;
    };
    let (tenant, plan) = match observed.tenant {
        Some((tenant, plan)) => (top.label(tenant), plan.as_str()),
        None => (metrics::SharedString::const_str("none"), "none"),
    };
    metrics::counter!(
        REQUESTS,
        "tenant" => tenant,
        "plan" => plan,
        "operation" => observed.operation,
        "code" => observed.code
    )
    .increment(1);
    let executor = if observed.compiled {
        "compiled"
    } else {
        "generic"
    };
    metrics::histogram!(REQUEST_SECONDS, "operation" => observed.operation, "executor" => executor)
        .record(elapsed.as_secs_f64());
}

/// The Prometheus text, or 404 when metrics are off.
fn scrape(app: &App) -> Response {
    match app.render_metrics() {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/metrics` on the API port: only with `TENANTRY_METRICS_TOKEN` set, and only to
/// requests bearing it (404 otherwise, as if there were no such route; 401 for a wrong
/// token).
pub(super) async fn scrape_with_token(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(token) = app.config.metrics_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compared by their hashes: the time taken says nothing about the token.
    let same = {
        use sha2::Digest;
        sha2::Sha256::digest(presented.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
    };
    if !same {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    scrape(&app)
}

/// The router of the separate metrics address (`TENANTRY_METRICS_ADDR`): `/metrics` without
/// a token (the address is the access control: bind it where only the scraper reaches).
pub fn metrics_router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(app): State<Arc<App>>| async move { scrape(&app) }),
        )
        .with_state(app)
}
