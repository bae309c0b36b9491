//! Every error a client receives carries an `extensions.code`: the one place that gives
//! errors of async-graphql itself (parse, validation, limits, argument coercion) theirs.

use crate::error::{AppError, ErrorCode};
use async_graphql::{Response, ServerError};

/// An error of `error`'s message and code, as a GraphQL error without a path.
pub fn server_error(error: AppError) -> ServerError {
    let mut server_error = ServerError::new(error.message.clone(), None);
    server_error.extensions = error.into_graphql().extensions;
    server_error
}

/// Gives every error of `response` an `extensions.code`, plus `extensions.requestId` when
/// given. Uncoded errors without a path (or of argument parsing) are the client's:
/// BAD_USER_INPUT (LIMIT_EXCEEDED for complexity); any other uncoded error is INTERNAL —
/// logged each time, as it is a resolver that forgot to say what went wrong.
pub fn code_errors(response: &mut Response, request_id: Option<&str>) {
    for error in &mut response.errors {
        let mut extensions = error.extensions.take().unwrap_or_default();
        if extensions.get("code").is_none() {
            let user_error = error.path.is_empty()
                || error.message.starts_with("Failed to parse")
                || error.message.starts_with("Invalid value")
                || error.message.starts_with("Expected input type");
            let code = if user_error {
                tracing::info!(error = %error.message, "an uncoded request error coded BAD_USER_INPUT");
                if error.message.starts_with("Query is too complex") {
                    ErrorCode::LimitExceeded
                } else {
                    ErrorCode::BadUserInput
                }
            } else {
                tracing::warn!(error = %error.message, path = ?error.path, "an uncoded resolver error coded INTERNAL_SERVER_ERROR");
                ErrorCode::Internal
            };
            extensions.set("code", code.as_str());
        }
        if let Some(id) = request_id {
            extensions.set("requestId", id);
        }
        error.extensions = Some(extensions);
    }
}
