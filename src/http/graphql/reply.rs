//! How a GraphQL-over-HTTP request is answered once its media type is known: the status,
//! the body (`data` only when execution began), every error with its code and the request
//! id, the error cap, and what the metrics note of the request ([`Reply`]).

use super::Media;
use crate::error::{AppError, ErrorCode};
use crate::graphql::coded::server_error;
use async_graphql::{Response, Value};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

/// The HTTP status of a request refused before it ran.
pub(super) fn refusal_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// How to answer one request: its media type, its id, and how many errors it may carry;
/// and what it turned out to be, for the metrics (see [`crate::http::observe`]).
pub(super) struct Reply {
    pub(super) media: Media,
    pub(super) request_id: uuid::Uuid,
    pub(super) max_errors: usize,
    pub(super) observed: std::sync::Mutex<crate::http::observe::Observed>,
}

impl Reply {
    /// Notes something about the request for its metrics.
    pub(super) fn observe(&self, note: impl FnOnce(&mut crate::http::observe::Observed)) {
        note(&mut self.observed.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// What was noted.
    pub(super) fn observed(&self) -> crate::http::observe::Observed {
        *self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A response carrying only `error`, refused before execution: no `data`, and
    /// `status` whatever the media type.
    pub(super) fn error(&self, status: StatusCode, error: AppError) -> axum::response::Response {
        let response = Response::from_errors(vec![server_error(error)]);
        self.write(status, response, false)
    }

    /// A request error found before execution (a document over a limit, unknown or
    /// untrusted), answered like a validation error.
    pub(super) fn request_error(&self, error: AppError) -> axum::response::Response {
        self.send(Response::from_errors(vec![server_error(error)]))
    }

    /// Sends an executed `response`. One that failed before execution (parse, validation,
    /// limits, variables: `data` null and no error with a path) has no `data` and, as
    /// `application/graphql-response+json`, a 4xx status (the first error's); as
    /// `application/json` it stays 200, as the GraphQL-over-HTTP specification asks.
    pub(super) fn send(&self, response: Response) -> axum::response::Response {
        let request_error = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let status = match (self.media, request_error) {
            (Media::GraphqlResponse, true) => {
                let code = response.errors[0]
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .and_then(|c| match c {
                        Value::String(s) => ErrorCode::parse(s),
                        _ => None,
                    })
                    .unwrap_or(ErrorCode::BadUserInput);
                refusal_status(code)
            }
            _ => StatusCode::OK,
        };
        self.write(status, response, !request_error)
    }

    /// Writes `response` (with `data` only when `with_data`), every error with its code
    /// and the request id, at most `max_errors` of them.
    pub(super) fn write(
        &self,
        status: StatusCode,
        mut response: Response,
        with_data: bool,
    ) -> axum::response::Response {
        self.complete_errors(&mut response);
        let code = response
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|e| match e.get("code") {
                Some(Value::String(code)) => ErrorCode::parse(code).map(ErrorCode::as_str),
                _ => None,
            })
            .unwrap_or("OK");
        self.observe(|o| o.code = code);
        // Serialised straight from the response, not through `serde_json::Value` (whose
        // maps sort their keys): the fields of `data` keep the order of the selection, as
        // the GraphQL specification asks and as compiled plans write them.
        let body = Body {
            data: with_data.then_some(&response.data),
            errors: &response.errors,
            extensions: &response.extensions,
        };
        let body = serde_json::to_vec(&body).unwrap_or_else(|e| {
            tracing::error!(error = %e, "serialising a response");
            br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
        });
        (
            status,
            [(header::CONTENT_TYPE, self.media.content_type())],
            body,
        )
            .into_response()
    }

    /// Gives every error an `extensions.code` and `extensions.requestId`, and keeps at
    /// most `max_errors` (the last one kept then says how many were left out). Errors of
    /// async-graphql itself (parse, validation, limits, argument coercion) carry no code:
    /// they become BAD_USER_INPUT, anything else uncoded INTERNAL — logged each time, as an
    /// uncoded error is a resolver that forgot to say what went wrong.
    pub(super) fn complete_errors(&self, response: &mut Response) {
        if response.errors.len() > self.max_errors {
            let left_out = response.errors.len() + 1 - self.max_errors.max(1);
            response.errors.truncate(self.max_errors.saturating_sub(1));
            let error = crate::graphql::limits::exceeded(
                &format!("{left_out} more errors left out"),
                "TENANTRY_MAX_ERRORS",
                self.max_errors,
            );
            response.errors.push(server_error(error));
        }
        crate::graphql::coded::code_errors(response, Some(&self.request_id.to_string()));
    }
}

/// A response body: `data` (when sent), then `errors` and `extensions` (when not empty).
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, Value>,
}
