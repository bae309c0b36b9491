//! Decoding a GraphQL-over-HTTP request: its parameters from a GET query string or a JSON
//! body, and the async-graphql request they make (the document resolved through the
//! trusted list and APQ cache). Everything here refuses before anything runs.

use crate::app::App;
use crate::documents::store::Resolution;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::graphql::persisted::requested_hash;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, Method, StatusCode};

/// The parameters of a GraphQL-over-HTTP request, from a JSON body or a GET query string.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Params {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

/// A GET request's parameters: `variables` and `extensions` are JSON texts.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<String>,
    #[serde(default)]
    extensions: Option<String>,
}

/// What a request was refused with before anything ran: its status and error.
pub(super) type Refused = (StatusCode, AppError);

/// A 400 BAD_USER_INPUT refusal: the request's `what` could not be read.
fn malformed(what: impl std::fmt::Display) -> Refused {
    (
        StatusCode::BAD_REQUEST,
        AppError::new(
            ErrorCode::BadUserInput,
            format!("malformed GraphQL request: {what}"),
        ),
    )
}

/// Reads the request's parameters as the GraphQL-over-HTTP specification says: GET from
/// the query string; POST only from an `application/json` body (anything else — no
/// Content-Type, `text/plain`, a form — is 415 and never runs: such requests are what a
/// cross-site form can send without a CORS preflight).
pub(super) fn params(
    method: &Method,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Params, Refused> {
    if method == Method::GET {
        let get: GetParams = serde_urlencoded::from_str(raw_query.unwrap_or(""))
            .map_err(|e| malformed(format!("query string: {e}")))?;
        let json = |name: &str, text: Option<String>| -> Result<_, Refused> {
            text.map(|t| serde_json::from_str(&t).map_err(|e| malformed(format!("{name}: {e}"))))
                .transpose()
        };
        return Ok(Params {
            variables: json("variables", get.variables)?,
            extensions: json("extensions", get.extensions)?,
            query: get.query,
            operation_name: get.operation_name,
        });
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        let error = AppError::new(
            ErrorCode::BadUserInput,
            "a GraphQL POST must have Content-Type: application/json",
        );
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, error));
    }
    let body = body.map_err(|e| {
        // The body limit surfaces as an error of the body stream.
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE || e.to_string().contains("length limit") {
            (StatusCode::PAYLOAD_TOO_LARGE, too_large())
        } else {
            malformed(e)
        }
    })?;
    serde_json::from_slice::<Params>(&body).map_err(|e| malformed(format!("body: {e}")))
}

/// The async-graphql request of `params`, the document resolved through the trusted list
/// and APQ cache (see [`crate::documents::store`]): `Err` for a malformed request,
/// `Ok(Err)` for a document that cannot be had (an unknown hash).
pub(super) fn request_of(
    app: &App,
    params: Params,
) -> Result<AppResult<(async_graphql::Request, Resolution)>, Refused> {
    let requested = match &params.extensions {
        Some(extensions) => requested_hash(extensions).map_err(|e| (StatusCode::BAD_REQUEST, e))?,
        None => None,
    };
    let mut query = params.query.unwrap_or_default();
    let resolution = match app.documents.resolve(&mut query, requested) {
        Ok(resolution) => resolution,
        Err(e) => return Ok(Err(e)),
    };
    if query.is_empty() {
        return Err(malformed("`query` is required"));
    }
    let mut request = async_graphql::Request::new(query);
    request.operation_name = params.operation_name;
    match params.variables {
        None | Some(serde_json::Value::Null) => {}
        Some(v @ serde_json::Value::Object(_)) => {
            request.variables = async_graphql::Variables::from_json(v);
        }
        Some(_) => return Err(malformed("`variables` must be an object")),
    }
    match params.extensions {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(map)) => {
            for (key, value) in map {
                if let Ok(value) = async_graphql::Value::from_json(value) {
                    request.extensions.insert(key, value);
                }
            }
        }
        Some(_) => return Err(malformed("`extensions` must be an object")),
    }
    Ok(Ok((request, resolution)))
}

/// The refusal of a body over the limit, whether declared so or found so while reading.
pub(super) fn too_large() -> AppError {
    AppError::new(ErrorCode::BadUserInput, "request body too large")
}
