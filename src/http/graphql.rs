//! GraphQL over HTTP at `/graphql` and `/t/{slug}/graphql` (POST JSON, GET for queries
//! only): the first and last file of the request path (see [`crate::schema`]).
//!
//! Each GraphQL request gets one [`TenantTx`](crate::db::TenantTx); the response is sent
//! only after it commits, and becomes an error if the commit fails. Every error of the
//! response carries `extensions.requestId`, the `request.id` of the request's log lines.

use crate::app::App;
use crate::auth::request::Authenticator;
use crate::db::TxMode;
use crate::error::{AppError, ErrorCode};
use crate::schema::Executed;
use async_graphql::parser::types::OperationType;
use async_graphql::{Response, ServerError, Value};
use async_graphql_axum::GraphQLRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;
use tracing::Instrument;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Which response media type the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    fn of(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains(GRAPHQL_RESPONSE_JSON) {
            Media::GraphqlResponse
        } else {
            Media::Json
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Media::Json => "application/json",
        }
    }
}

type Extracted = Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>;

/// `/t/{slug}/graphql`: the path names the tenant (when nothing stronger does).
pub(super) async fn graphql_for_slug(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    method: Method,
    headers: HeaderMap,
    request: Extracted,
) -> axum::response::Response {
    handle(app, method, headers, Some(slug), request).await
}

pub(super) async fn graphql(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    request: Extracted,
) -> axum::response::Response {
    handle(app, method, headers, None, request).await
}

async fn handle(
    app: Arc<App>,
    method: Method,
    headers: HeaderMap,
    path_slug: Option<String>,
    request: Extracted,
) -> axum::response::Response {
    let out = Reply {
        media: Media::of(&headers),
        request_id: uuid::Uuid::now_v7(),
    };
    let span = tracing::info_span!(
        "graphql",
        request.id = %out.request_id,
        user.id = tracing::field::Empty,
        tenant.id = tracing::field::Empty,
    );
    handle_in_span(app, method, headers, path_slug, request, out)
        .instrument(span)
        .await
}

async fn handle_in_span(
    app: Arc<App>,
    method: Method,
    headers: HeaderMap,
    path_slug: Option<String>,
    request: Extracted,
    out: Reply,
) -> axum::response::Response {
    let mut request = match request {
        Ok(r) => r.into_inner(),
        Err(e) => {
            let text = e.0.to_string();
            // The body limit surfaces as an I/O error of the body stream.
            if text.contains("length limit exceeded") {
                return out.error(StatusCode::PAYLOAD_TOO_LARGE, too_large());
            }
            let error = AppError::new(
                ErrorCode::BadUserInput,
                format!("malformed GraphQL request: {text}"),
            );
            return out.error(StatusCode::BAD_REQUEST, error);
        }
    };
    let authenticator = Authenticator {
        keys: &app.keys,
        api_keys: &app.api_keys,
        base_domain: app.config.base_domain.as_deref(),
    };
    let principal = match authenticator.authenticate(&headers, path_slug).await {
        Ok(p) => p,
        Err(e) => return out.error(refusal_status(e.code), e),
    };
    if let Some(p) = &principal {
        tracing::Span::current().record("user.id", tracing::field::display(p.user_id));
    }
    // A query with a compiled plan is read-only without parsing it again; otherwise the
    // operation type decides (a parse error is reported by the executor).
    let lookup = app.graphql.lookup(&request);
    let mode = if lookup.has_plan_for(&request) {
        TxMode::ReadOnly
    } else {
        mode_of(&mut request)
    };
    if mode == TxMode::ReadWrite && method == Method::GET {
        let e = AppError::new(ErrorCode::BadUserInput, "mutations must be sent with POST");
        let mut resp = out.error(StatusCode::METHOD_NOT_ALLOWED, e);
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let tx = Arc::new(app.tenant_tx(principal, mode));
    let executed = app.graphql.execute_looked_up(request, lookup, &tx).await;
    let finished = tx.finish().await;
    let response = match (executed, finished) {
        (_, Err(e)) => return out.error(StatusCode::INTERNAL_SERVER_ERROR, e),
        (Executed::Json(body), Ok(())) => {
            tracing::debug!(statements = tx.statement_count(), "compiled request done");
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, out.media.content_type())],
                body,
            )
                .into_response();
        }
        (Executed::Response(response), Ok(())) => response,
    };
    let mut status = StatusCode::OK;
    if out.media == Media::GraphqlResponse && response.data == Value::Null && response.is_err() {
        status = StatusCode::BAD_REQUEST;
    }
    tracing::debug!(
        statements = tx.statement_count(),
        errors = response.errors.len(),
        "request done"
    );
    out.send(status, response)
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
        media: Media::of(request.headers()),
        request_id: uuid::Uuid::now_v7(),
    };
    let span = tracing::info_span!("graphql", request.id = %out.request_id);
    let _entered = span.enter();
    tracing::info!(declared, "request body too large");
    out.error(StatusCode::PAYLOAD_TOO_LARGE, too_large())
}

/// The refusal of a body over the limit, whether declared so or found so while reading.
fn too_large() -> AppError {
    AppError::new(ErrorCode::BadUserInput, "request body too large")
}

/// Whether the operation the request runs is a mutation (read-write) or not.
fn mode_of(request: &mut async_graphql::Request) -> TxMode {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return TxMode::ReadOnly;
    };
    let is_mutation = doc.operations.iter().any(|(op_name, op)| {
        op.node.ty == OperationType::Mutation
            && (name.is_none() || op_name.map(|n| n.as_str()) == name.as_deref())
    });
    if is_mutation {
        TxMode::ReadWrite
    } else {
        TxMode::ReadOnly
    }
}

/// The HTTP status of a request refused before it ran.
fn refusal_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// How to answer one request: its media type and its id.
struct Reply {
    media: Media,
    request_id: uuid::Uuid,
}

impl Reply {
    /// A response carrying only `error`.
    fn error(&self, status: StatusCode, error: AppError) -> axum::response::Response {
        let message = error.message.clone();
        let mut server_error = ServerError::new(message, None);
        server_error.extensions = error.into_graphql().extensions;
        self.send(status, Response::from_errors(vec![server_error]))
    }

    /// Sends `response`, every error with its code and the request id.
    fn send(&self, status: StatusCode, mut response: Response) -> axum::response::Response {
        self.complete_errors(&mut response);
        let body = match serde_json::to_vec(&response) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "serialising a response");
                br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
            }
        };
        let status = if self.media == Media::Json
            && status == StatusCode::BAD_REQUEST
            && response.data != Value::Null
        {
            StatusCode::OK
        } else {
            status
        };
        (
            status,
            [(header::CONTENT_TYPE, self.media.content_type())],
            body,
        )
            .into_response()
    }

    /// Gives every error an `extensions.code` and `extensions.requestId`. Errors of
    /// async-graphql itself (parse, validation, limits, argument coercion) carry no code:
    /// they become BAD_USER_INPUT, anything else uncoded INTERNAL — logged each time, as an
    /// uncoded error is a resolver that forgot to say what went wrong.
    fn complete_errors(&self, response: &mut Response) {
        for error in &mut response.errors {
            let mut extensions = error.extensions.take().unwrap_or_default();
            if extensions.get("code").is_none() {
                let user_error = error.path.is_empty()
                    || error.message.starts_with("Failed to parse")
                    || error.message.starts_with("Invalid value")
                    || error.message.starts_with("Expected input type");
                let code = if user_error {
                    tracing::info!(error = %error.message, "an uncoded request error coded BAD_USER_INPUT");
                    ErrorCode::BadUserInput
                } else {
                    tracing::warn!(error = %error.message, path = ?error.path, "an uncoded resolver error coded INTERNAL_SERVER_ERROR");
                    ErrorCode::Internal
                };
                extensions.set("code", code.as_str());
            }
            extensions.set("requestId", self.request_id.to_string());
            error.extensions = Some(extensions);
        }
    }
}
