//! HTTP: GraphQL over HTTP at `/graphql` (POST JSON, GET for queries only), GraphiQL at
//! `/graphiql`, `/healthz` and `/readyz`.
//!
//! Each GraphQL request gets one [`TenantTx`](crate::db::TenantTx); the response is sent only after it commits,
//! and becomes an error if the commit fails.

use crate::app::App;
use crate::auth::{Principal, TenantSelector};
use crate::db::TxMode;
use crate::error::{AppError, ErrorCode};
use crate::graphql::Executed;
use crate::ids::TenantId;
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql::{Response, ServerError, Value};
use async_graphql_axum::GraphQLRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The router of the whole HTTP API.
pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.config.max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql).post(graphql))
        .route(
            "/t/{slug}/graphql",
            get(graphql_for_slug).post(graphql_for_slug),
        )
        .route("/graphiql", get(graphiql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .with_state(app)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.database_ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

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
async fn graphql_for_slug(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    method: Method,
    headers: HeaderMap,
    request: Extracted,
) -> axum::response::Response {
    handle(app, method, headers, Some(slug), request).await
}

async fn graphql(
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
    let media = Media::of(&headers);
    let request_id = uuid::Uuid::now_v7();
    let mut request = match request {
        Ok(r) => r.into_inner(),
        Err(e) => {
            let text = e.0.to_string();
            // The body limit surfaces as an I/O error of the body stream.
            if text.contains("length limit exceeded") {
                let error = AppError::new(ErrorCode::BadUserInput, "request body too large");
                return reply(media, StatusCode::PAYLOAD_TOO_LARGE, error_response(error));
            }
            let error = AppError::new(
                ErrorCode::BadUserInput,
                format!("malformed GraphQL request: {text}"),
            );
            return reply(media, StatusCode::BAD_REQUEST, error_response(error));
        }
    };
    let principal = match authenticate(&app, &headers, path_slug).await {
        Ok(p) => p,
        Err((status, e)) => return reply(media, status, error_response(e)),
    };
    // The operation type decides READ ONLY; a parse error is reported by execute().
    let operation_name = request.operation_name.clone();
    // A query with a compiled plan is read-only without parsing it again.
    let lookup = app.graphql.lookup(&request);
    let mode = if lookup.has_plan_for(&request) {
        TxMode::ReadOnly
    } else {
        match request.parsed_query() {
            Ok(doc) => {
                let name = operation_name.as_deref();
                let is_mutation = doc.operations.iter().any(|(op_name, op)| {
                    op.node.ty == OperationType::Mutation
                        && (name.is_none() || op_name.map(|n| n.as_str()) == name)
                });
                if is_mutation {
                    TxMode::ReadWrite
                } else {
                    TxMode::ReadOnly
                }
            }
            Err(_) => TxMode::ReadOnly,
        }
    };
    if mode == TxMode::ReadWrite && method == Method::GET {
        let e = AppError::new(ErrorCode::BadUserInput, "mutations must be sent with POST");
        let mut resp = reply(media, StatusCode::METHOD_NOT_ALLOWED, error_response(e));
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let span = tracing::info_span!(
        "graphql",
        request.id = %request_id,
        user.id = principal.as_ref().map(|p| p.user_id.to_string()).unwrap_or_default(),
        tenant.id = tracing::field::Empty,
    );
    async move {
        let tx = Arc::new(app.tenant_tx(principal, mode));
        let executed = app.graphql.execute_looked_up(request, lookup, &tx).await;
        let finished = tx.finish().await;
        let response = match (executed, finished) {
            (_, Err(e)) => {
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                return reply(media, status, error_response(e));
            }
            (Executed::Json(body), Ok(())) => {
                tracing::debug!(statements = tx.statement_count(), "compiled request done");
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, media.content_type())],
                    body,
                )
                    .into_response();
            }
            (Executed::Response(response), Ok(())) => response,
        };
        let mut status = StatusCode::OK;
        if media == Media::GraphqlResponse && response.data == Value::Null && response.is_err() {
            status = StatusCode::BAD_REQUEST;
        }
        tracing::debug!(
            statements = tx.statement_count(),
            errors = response.errors.len(),
            "request done"
        );
        reply(media, status, response)
    }
    .instrument(span)
    .await
}

/// Reads the bearer token and what names the tenant. A present but invalid token fails the
/// whole request (401); no token means anonymous (introspection still works).
async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    path_slug: Option<String>,
) -> Result<Option<Principal>, (StatusCode, AppError)> {
    let named = tenant_from_request(headers, app.config.base_domain.as_deref(), path_slug)
        .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = auth
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or((StatusCode::UNAUTHORIZED, AppError::unauthenticated()))?;
    if token.starts_with(crate::auth::session::API_KEY_PREFIX) {
        // An API key names its own tenant; a header naming another one is refused.
        let grant = app
            .sessions
            .api_key(token)
            .await
            .map_err(|e| (StatusCode::UNAUTHORIZED, e))?;
        if matches!(named, Some(TenantSelector::Id(other)) if other != grant.tenant) {
            return Err((
                StatusCode::FORBIDDEN,
                AppError::new(
                    ErrorCode::Forbidden,
                    "the API key is bound to another tenant",
                ),
            ));
        }
        return Ok(Some(Principal {
            user_id: grant.user,
            tenant: Some(TenantSelector::Id(grant.tenant)),
            role_cap: Some(grant.role),
        }));
    }
    let verified = app
        .keys
        .verify(token)
        .map_err(|e| (StatusCode::UNAUTHORIZED, e))?;
    let tenant = match (verified.tenant_id, named) {
        (Some(tid), Some(TenantSelector::Id(other))) if other != tid => {
            return Err((
                StatusCode::FORBIDDEN,
                AppError::new(ErrorCode::Forbidden, "the token is bound to another tenant"),
            ))
        }
        (Some(tid), _) => Some(TenantSelector::Id(tid)),
        (None, selector) => selector,
    };
    Ok(Some(Principal {
        user_id: verified.user_id,
        tenant,
        role_cap: None,
    }))
}

/// The tenant a request names, in DESIGN.md's order after the token: `X-Tenant-ID`, else
/// `X-Tenant-Slug`, else the subdomain of the configured base domain, else the
/// `/t/{slug}/graphql` path.
fn tenant_from_request(
    headers: &HeaderMap,
    base_domain: Option<&str>,
    path_slug: Option<String>,
) -> Result<Option<TenantSelector>, AppError> {
    if let Some(selector) = tenant_from_headers(headers)? {
        return Ok(Some(selector));
    }
    if let Some(slug) = base_domain.and_then(|base| subdomain(headers, base)) {
        return Ok(Some(TenantSelector::Slug(slug)));
    }
    let path_slug = match path_slug {
        Some(slug) => Some(
            crate::db::platform::validate_slug(&slug)
                .map_err(|_| AppError::new(ErrorCode::TenantNotFound, "tenant not found"))?,
        ),
        None => None,
    };
    if let Some(domain) = custom_domain(headers, base_domain) {
        return Ok(Some(TenantSelector::Domain(domain, path_slug)));
    }
    Ok(path_slug.map(TenantSelector::Slug))
}

/// The `Host` as a candidate custom domain: a dotted name that is not an address, not
/// `localhost` and not the base domain or one of its subdomains.
fn custom_domain(headers: &HeaderMap, base_domain: Option<&str>) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .to_ascii_lowercase();
    let is_address = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    let under_base = base_domain.is_some_and(|b| {
        let b = b.trim_matches('.').to_ascii_lowercase();
        host == b || host.ends_with(&format!(".{b}"))
    });
    let valid = host.contains('.')
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (valid && !is_address && !under_base && host != "localhost").then_some(host)
}

/// `acme` for `Host: acme.example.com` (any port) when the base domain is `example.com`.
fn subdomain(headers: &HeaderMap, base: &str) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .to_ascii_lowercase();
    let label = host.strip_suffix(&format!(".{}", base.trim_matches('.').to_ascii_lowercase()))?;
    crate::db::platform::validate_slug(label).ok()
}

fn tenant_from_headers(headers: &HeaderMap) -> Result<Option<TenantSelector>, AppError> {
    if let Some(id) = headers.get("x-tenant-id") {
        let id = id
            .to_str()
            .ok()
            .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
            .ok_or_else(|| AppError::bad_input("X-Tenant-ID", "must be a tenant id (uuid)"))?;
        return Ok(Some(TenantSelector::Id(TenantId(id))));
    }
    if let Some(slug) = headers.get("x-tenant-slug") {
        let slug = slug
            .to_str()
            .ok()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty() && s.len() <= 63)
            .ok_or_else(|| AppError::bad_input("X-Tenant-Slug", "must be a tenant slug"))?;
        return Ok(Some(TenantSelector::Slug(slug)));
    }
    Ok(None)
}

/// A response carrying only `error`.
fn error_response(error: AppError) -> Response {
    let message = error.message.clone();
    let mut server_error = ServerError::new(message, None);
    server_error.extensions = error.into_graphql().extensions;
    Response::from_errors(vec![server_error])
}

/// Gives every error an `extensions.code`: errors of async-graphql itself (parse,
/// validation, limits, argument coercion) become BAD_USER_INPUT, anything else INTERNAL.
fn ensure_codes(response: &mut Response) {
    for error in &mut response.errors {
        let mut extensions = error.extensions.take().unwrap_or_default();
        if extensions.get("code").is_none() {
            let user_error = error.path.is_empty()
                || error.message.starts_with("Failed to parse")
                || error.message.starts_with("Invalid value")
                || error.message.starts_with("Expected input type");
            let code = if user_error {
                ErrorCode::BadUserInput
            } else {
                ErrorCode::Internal
            };
            extensions.set("code", code.as_str());
        }
        error.extensions = Some(extensions);
    }
}

fn reply(media: Media, status: StatusCode, mut response: Response) -> axum::response::Response {
    ensure_codes(&mut response);
    let body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "serialising a response");
            br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
        }
    };
    let status = if media == Media::Json
        && status == StatusCode::BAD_REQUEST
        && response.data != Value::Null
    {
        StatusCode::OK
    } else {
        status
    };
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}
