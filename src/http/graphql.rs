//! GraphQL over HTTP at `/graphql` and `/t/{slug}/graphql` (POST JSON, GET for queries
//! only): the first and last file of the request path (see [`crate::schema`]).
//!
//! Each GraphQL request gets one [`TenantTx`](crate::db::TenantTx); a mutation's response
//! is sent only after it commits, and becomes an error if the commit fails (a query's
//! COMMIT is sent before its response, its answer awaited apart). Every error of the
//! response carries `extensions.requestId`, the `request.id` of the request's log lines.

use crate::app::App;
use crate::auth::request::Authenticator;
use crate::auth::Principal;
use crate::db::TxMode;
use crate::documents::store::Documents;
use crate::error::{AppError, ErrorCode};
use crate::schema::Executed;
use async_graphql::Value;
use async_graphql_axum::GraphQLProtocol;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;
use tracing::Instrument;

mod decode;
mod reply;

use decode::{params, request_of, too_large, Refused};
use reply::{refusal_status, Reply};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Which response media type the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    /// The media type `Accept` prefers: `application/graphql-response+json` when listed,
    /// else `application/json` (also for no `Accept`, `*/*` or `application/*`); `None`
    /// when the client accepts neither (406).
    fn of(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Media::Json);
        };
        let mut best: Option<(f32, Media)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let candidate = match media.as_str() {
                GRAPHQL_RESPONSE_JSON => Media::GraphqlResponse,
                "application/json" | "application/*" | "*/*" => Media::Json,
                _ => continue,
            };
            // Ties go to the first listed, except that graphql-response+json wins ties.
            if quality > 0.0
                && best.is_none_or(|(q, m)| {
                    quality > q
                        || (quality == q && candidate == Media::GraphqlResponse && m != candidate)
                })
            {
                best = Some((quality, candidate));
            }
        }
        if accept.trim().is_empty() {
            return Some(Media::Json);
        }
        best.map(|(_, media)| media)
    }

    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Media::Json => "application/json",
        }
    }
}

/// `/t/{slug}/graphql`: the path names the tenant (when nothing stronger does).
#[allow(clippy::too_many_arguments)]
pub(super) async fn graphql_for_slug(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    method: Method,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
    RawQuery(raw_query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> axum::response::Response {
    if let Ok(ws) = ws {
        return websocket(app, ws, protocol, headers, Some(slug));
    }
    handle(app, method, headers, Some(slug), raw_query, body).await
}

pub(super) async fn graphql(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
    RawQuery(raw_query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> axum::response::Response {
    if let Ok(ws) = ws {
        return websocket(app, ws, protocol, headers, None);
    }
    handle(app, method, headers, None, raw_query, body).await
}

/// A WebSocket upgrade: subscriptions (see [`super::live`]); a subprotocol other than
/// the two GraphQL ones is refused.
fn websocket(
    app: Arc<App>,
    ws: WebSocketUpgrade,
    protocol: Result<GraphQLProtocol, StatusCode>,
    headers: HeaderMap,
    path_slug: Option<String>,
) -> axum::response::Response {
    let Ok(protocol) = protocol else {
        let out = Reply {
            media: Media::Json,
            request_id: uuid::Uuid::now_v7(),
            max_errors: app.config.max_errors,
            observed: Default::default(),
        };
        let error = AppError::new(
            ErrorCode::BadUserInput,
            "a GraphQL WebSocket needs the subprotocol graphql-transport-ws or graphql-ws",
        );
        return out.error(StatusCode::BAD_REQUEST, error);
    };
    super::live::upgrade(app, ws, protocol, headers, path_slug)
}

async fn handle(
    app: Arc<App>,
    method: Method,
    headers: HeaderMap,
    path_slug: Option<String>,
    raw_query: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let out = Reply {
        media: Media::of(&headers).unwrap_or(Media::Json),
        request_id: uuid::Uuid::now_v7(),
        max_errors: app.config.max_errors,
        observed: Default::default(),
    };
    let span = tracing::info_span!(
        "graphql",
        request.id = %out.request_id,
        user.id = tracing::field::Empty,
        tenant.id = tracing::field::Empty,
        operation.name = tracing::field::Empty,
        operation.type = tracing::field::Empty,
        outcome.code = tracing::field::Empty,
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    crate::telemetry::traces::continue_trace(&span, header("traceparent"), header("tracestate"));
    let observed_span = span.clone();
    let response = async {
        if Media::of(&headers).is_none() {
            let error = AppError::new(
                ErrorCode::BadUserInput,
                "Accept must allow application/graphql-response+json or application/json",
            );
            return out.error(StatusCode::NOT_ACCEPTABLE, error);
        }
        match run(
            &app,
            &method,
            &headers,
            path_slug,
            raw_query.as_deref(),
            body,
            &out,
        )
        .await
        {
            Ok(response) => response,
            Err((status, error)) => out.error(status, error),
        }
    }
    .instrument(span)
    .await;
    super::observe::request(&app, &out.observed(), started.elapsed(), &observed_span);
    response
}

async fn run(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    path_slug: Option<String>,
    raw_query: Option<&str>,
    body: Result<Bytes, BytesRejection>,
    out: &Reply,
) -> Result<axum::response::Response, Refused> {
    let params = params(method, headers, raw_query, body)?;
    let authenticator = Authenticator {
        keys: &app.keys,
        api_keys: &app.api_keys,
        base_domain: app.config.base_domain.as_deref(),
    };
    let principal = authenticator
        .authenticate(headers, path_slug)
        .await
        .map_err(|e| (refusal_status(e.code), e))?;
    if let Some(p) = &principal {
        tracing::Span::current().record("user.id", tracing::field::display(p.user_id));
    }
    let (mut request, resolution) = match request_of(app, params)? {
        Ok(resolved) => resolved,
        Err(e) => return Ok(out.request_error(e)),
    };
    if !app.documents.admits(&resolution) && !exempt(app, principal.as_ref()).await {
        return Ok(out.request_error(Documents::untrusted(&resolution)));
    }
    // A query with a compiled plan is read-only without parsing it again; otherwise the
    // operation type decides.
    let lookup = app.graphql.lookup_hash(resolution.hash);
    let mode = match app.graphql.mode(&mut request, &lookup) {
        Ok(mode) => mode,
        Err(e) => return Ok(out.request_error(e)),
    };
    if let Some(name) = &request.operation_name {
        tracing::Span::current().record("operation.name", name.as_str());
    } else if crate::telemetry::traces::enabled() {
        // Traced: the document's only operation names the span. Only here, after the
        // trusted-document check and the text limits (`mode`), and from the parse `mode`
        // kept for the executor, so nothing outside the limits is parsed.
        if let Ok(doc) = request.parsed_query() {
            if let Some((Some(name), _)) = doc.operations.iter().next() {
                tracing::Span::current().record("operation.name", name.as_str());
            }
        }
    }
    if mode == TxMode::ReadWrite && method == Method::GET {
        let e = AppError::new(ErrorCode::BadUserInput, "mutations must be sent with POST");
        let mut resp = out.error(StatusCode::METHOD_NOT_ALLOWED, e);
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(resp);
    }
    out.observe(|o| {
        o.operation = match mode {
            TxMode::ReadOnly => "query",
            TxMode::ReadWrite => "mutation",
        }
    });
    let tx = Arc::new(
        app.tenant_tx(principal, mode)
            .with_request_id(out.request_id),
    );
    let executed = app.graphql.execute_looked_up(request, lookup, &tx).await;
    let rows_written = super::metering::rows_written(&tx).await;
    let finished = tx.finish().await;
    if let Some(member) = tx.admitted() {
        out.observe(|o| o.tenant = Some((member.tenant_id, member.plan)));
    }
    // What admission and the cost gate decided: rate headers, cost, the meter's counts.
    let record = tx.admission().record();
    let (errored, mut reply) = match (executed, finished) {
        // A failed COMMIT (SERVICE_UNAVAILABLE) is 503, a rolled-back mutation 500.
        (_, Err(e)) => (true, out.error(refusal_status(e.code), e)),
        (Executed::Json(body), Ok(())) => {
            tracing::debug!(statements = tx.statement_count(), "compiled request done");
            out.observe(|o| {
                o.code = "OK";
                o.compiled = true;
            });
            let body = super::metering::with_cost(body, &record);
            let headers = [(header::CONTENT_TYPE, out.media.content_type())];
            (false, (StatusCode::OK, headers, body).into_response())
        }
        (Executed::Response(mut response), Ok(())) => {
            tracing::debug!(
                statements = tx.statement_count(),
                errors = response.errors.len(),
                "request done"
            );
            let cost = super::metering::cost(&record);
            if let Ok(cost) = Value::from_json(cost) {
                response.extensions.insert("cost".into(), cost);
            }
            (!response.errors.is_empty(), out.send(response))
        }
    };
    super::metering::count(app, &record, mode, errored, rows_written);
    if let Some(e) = record.rate_limited.clone() {
        // Refused by the rate: 429, the RATE_LIMITED body alone, and when to come back.
        reply = out.error(StatusCode::TOO_MANY_REQUESTS, e);
    }
    super::metering::rate_headers(&record, reply.headers_mut());
    Ok(reply)
}

/// Whether a platform administrator may run a document outside the trusted list
/// (`TENANTRY_TRUSTED_DOCUMENTS_EXEMPT_PLATFORM_ADMINS`); never for an API key.
async fn exempt(app: &App, principal: Option<&Principal>) -> bool {
    let Some(p) = principal.filter(|p| p.role_cap.is_none()) else {
        return false;
    };
    app.config.trusted_documents_exempt_platform_admins
        && app
            .platform()
            .is_platform_admin(p.user_id)
            .await
            .unwrap_or(false)
}

/// Refuses a request whose declared `Content-Length` is over the body limit before any of
/// it is read (the limit layer would answer a bare 413), with the JSON error and request id
/// of every other refusal.
pub(super) async fn refuse_oversized(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_none_or(|n| n <= app.config.max_body_bytes as u64) {
        return next.run(request).await;
    }
    let out = Reply {
        media: Media::of(request.headers()).unwrap_or(Media::Json),
        request_id: uuid::Uuid::now_v7(),
        max_errors: app.config.max_errors,
        observed: Default::default(),
    };
    let span = tracing::info_span!("graphql", request.id = %out.request_id);
    let _entered = span.enter();
    tracing::info!(declared, "request body too large");
    out.error(StatusCode::PAYLOAD_TOO_LARGE, too_large())
}
