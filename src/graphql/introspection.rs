//! Who may introspect the schema (`TENANTRY_INTROSPECTION`), and the one other place the
//! schema leaks: "Did you mean …" suggestions in validation errors, kept for those who may
//! introspect anyway.

use crate::auth::RequestTx;
use crate::config::Introspection;
use crate::error::{AppError, AppResult, ErrorCode};
use async_graphql::Response;

/// The introspection policy of a server.
#[derive(Debug, Clone, Copy)]
pub struct IntrospectionPolicy(pub Introspection);

impl IntrospectionPolicy {
    /// Whether the caller of `tx` may introspect: under `members` the request's
    /// admission (an authenticated member of an active tenant), whose refusal is the
    /// answer (UNAUTHENTICATED, FORBIDDEN, TENANT_SUSPENDED, …).
    pub async fn admit(&self, tx: &RequestTx) -> AppResult<()> {
        match self.0 {
            Introspection::Public => Ok(()),
            Introspection::Off => Err(AppError::new(
                ErrorCode::Forbidden,
                "introspection is turned off on this server (TENANTRY_INTROSPECTION=off)",
            )),
            Introspection::Members => tx.member().await.map(|_| ()),
        }
    }

    /// Removes "Did you mean …" suggestions from `response`'s errors unless the caller may
    /// introspect (they name fields and arguments of the schema).
    pub async fn strip_suggestions(&self, response: &mut Response, tx: &RequestTx) {
        const SUGGESTION: &str = " Did you mean";
        if !response
            .errors
            .iter()
            .any(|e| e.message.contains(SUGGESTION))
        {
            return;
        }
        if self.admit(tx).await.is_ok() {
            return;
        }
        for error in &mut response.errors {
            if let Some(at) = error.message.find(SUGGESTION) {
                error.message.truncate(at);
            }
        }
    }
}
