//! The one error type of Tenantry and the codes clients see in `extensions.code`.
//!
//! Every error that can reach a client goes through [`AppError`], which decides the code and
//! the message. Database errors are mapped here and only here, so no SQL text, constraint
//! name or row of another tenant can leak: async-graphql turns any `Display` into a client
//! message, so a bare `?` on a diesel error would leak it.

use async_graphql::ErrorExtensions;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The codes a client can see in `extensions.code` (see DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid credential (the reason is never told).
    Unauthenticated,
    /// Authenticated, but the role or permission does not allow it.
    Forbidden,
    /// The named tenant does not exist (or is deleted).
    TenantNotFound,
    /// The tenant is suspended: every request is refused.
    TenantSuspended,
    /// The tenant's plan (or its own switch) does not include the feature.
    FeatureNotEnabled,
    /// A plan quota (members, contacts) would be exceeded.
    QuotaExceeded,
    /// The tenant used up its plan's requests per minute.
    RateLimited,
    /// The input is invalid; `extensions.field` names the field.
    BadUserInput,
    /// Nothing of this tenant has that id.
    NotFound,
    /// The change conflicts with existing data (a taken slug or email).
    Conflict,
    /// The database is unreachable or the transaction could not finish.
    ServiceUnavailable,
    /// A fault of the server; details go to the log, never to the client.
    Internal,
    /// The document is over one of the server's limits (size, depth, aliases, fields,
    /// introspection depth, errors); the message names the limit and its value.
    LimitExceeded,
    /// An automatic persisted query's hash the server does not know: send the document
    /// with its hash (Apollo's protocol).
    PersistedQueryNotFound,
    /// The server runs only trusted documents and this one is not in its list.
    DocumentNotTrusted,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::TenantNotFound,
        ErrorCode::TenantSuspended,
        ErrorCode::FeatureNotEnabled,
        ErrorCode::QuotaExceeded,
        ErrorCode::RateLimited,
        ErrorCode::BadUserInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
        ErrorCode::LimitExceeded,
        ErrorCode::PersistedQueryNotFound,
        ErrorCode::DocumentNotTrusted,
    ];

    /// The code of its wire form.
    pub fn parse(wire: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == wire)
    }

    /// The wire form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::TenantNotFound => "TENANT_NOT_FOUND",
            ErrorCode::TenantSuspended => "TENANT_SUSPENDED",
            ErrorCode::FeatureNotEnabled => "FEATURE_NOT_ENABLED",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL_SERVER_ERROR",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::DocumentNotTrusted => "DOCUMENT_NOT_TRUSTED",
        }
    }
}

/// An error with a client-safe message and a code. `field` names the input field at fault
/// for BAD_USER_INPUT, so forms can show the message next to it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// The code clients branch on.
    pub code: ErrorCode,
    /// A message safe to show to the caller.
    pub message: String,
    /// The input field the error is about, if any.
    pub field: Option<String>,
}

/// Shorthand for results whose error is an [`AppError`].
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// An error with a code and a client-safe message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// BAD_USER_INPUT about one named input field.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadUserInput,
            message: format!("{field}: {}", message.into()),
            field: Some(field.to_string()),
        }
    }

    /// NOT_FOUND for a thing the caller named; also what a row of another tenant looks like.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A NOT_FOUND (typically a foreign key of this tenant that names nothing) restated
    /// as "`what` not found" about the input `field`; any other error unchanged.
    pub fn missing(self, field: &str, what: &str) -> Self {
        if self.code != ErrorCode::NotFound {
            return self;
        }
        Self {
            code: ErrorCode::NotFound,
            message: format!("{what} not found"),
            field: Some(field.to_string()),
        }
    }

    /// UNAUTHENTICATED, deliberately without saying why a token was refused.
    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "authentication required: send a valid bearer token",
        )
    }

    /// SERVICE_UNAVAILABLE for a database that cannot be reached; the cause (which may
    /// name the host or the login role) goes to the log, never to the client.
    /// Repeats of the same cause are folded into one line per interval (see
    /// [`crate::telemetry::quiet`]): a stopped database under load is a few lines, not one
    /// per request.
    pub fn db_unavailable(cause: impl std::fmt::Display) -> Self {
        crate::telemetry::quiet::error("database unavailable", &cause.to_string());
        Self::new(ErrorCode::ServiceUnavailable, "the database is unavailable")
    }

    /// INTERNAL_SERVER_ERROR; the detail goes to the log, never to the client.
    /// Repeats are folded as for [`AppError::db_unavailable`].
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        crate::telemetry::quiet::error("internal error", &detail.to_string());
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// Converts into the GraphQL error that carries `extensions.code` (and `field`).
    pub fn into_graphql(self) -> async_graphql::Error {
        let code = self.code.as_str();
        let field = self.field.clone();
        async_graphql::Error::new(self.message).extend_with(|_, e| {
            e.set("code", code);
            if let Some(field) = &field {
                e.set("field", field.as_str());
            }
        })
    }
}

impl From<DieselError> for AppError {
    /// Maps a database error to a client-safe error. Constraint violations become user
    /// errors without the SQL text; everything unexpected is logged and becomes INTERNAL.
    fn from(e: DieselError) -> Self {
        count_db_error(&e);
        match &e {
            DieselError::NotFound => AppError::not_found("record"),
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => {
                    let field = constraint_field(info.table_name(), info.constraint_name())
                        .or_else(|| relayed_constraint_field(info.message()));
                    let message = match &field {
                        Some(field) => format!("{field}: this value is already taken"),
                        None => "a record with these values already exists".to_string(),
                    };
                    AppError {
                        code: ErrorCode::Conflict,
                        message,
                        field,
                    }
                }
                DatabaseErrorKind::ForeignKeyViolation => {
                    AppError::new(ErrorCode::NotFound, "a referenced record was not found")
                }
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    tracing::warn!(constraint = ?info.constraint_name(), "constraint rejected input");
                    let field = constraint_field(info.table_name(), info.constraint_name())
                        .or_else(|| info.column_name().map(camel_case));
                    match field {
                        Some(field) => AppError::bad_input(&field, "this value is not allowed"),
                        None => AppError::new(
                            ErrorCode::BadUserInput,
                            "the input was rejected by a constraint",
                        ),
                    }
                }
                DatabaseErrorKind::SerializationFailure => AppError::new(
                    ErrorCode::ServiceUnavailable,
                    "a concurrent change conflicted; retry the request",
                ),
                // A lost connection, or the FATAL error of a server ending the session
                // (restart, terminated backend).
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    AppError::db_unavailable(&e)
                }
                _ if lost_server(info.message()) => AppError::db_unavailable(&e),
                _ if info.message().contains("statement timeout") => {
                    tracing::warn!("statement timeout");
                    AppError::new(ErrorCode::ServiceUnavailable, "the request took too long")
                }
                _ => AppError::internal(&e),
            },
            _ => AppError::internal(&e),
        }
    }
}

/// Whether a database error's message says the server is going away or not there yet
/// (SQLSTATE class 57: `terminating connection …`, `the database system is shutting down`,
/// `… is starting up`, `… is in recovery mode`): the database is unavailable, not broken.
fn lost_server(message: &str) -> bool {
    message.starts_with("terminating connection") || message.starts_with("the database system is")
}

/// Counts a database error in `tenantry_db_errors_total` by its SQLSTATE class (as far as
/// diesel's error kinds tell it) and kind.
fn count_db_error(e: &DieselError) {
    let DieselError::DatabaseError(kind, info) = e else {
        return;
    };
    let (class, kind) = match kind {
        DatabaseErrorKind::UniqueViolation => ("23", "unique_violation"),
        DatabaseErrorKind::ForeignKeyViolation => ("23", "foreign_key_violation"),
        DatabaseErrorKind::CheckViolation => ("23", "check_violation"),
        DatabaseErrorKind::NotNullViolation => ("23", "not_null_violation"),
        DatabaseErrorKind::RestrictViolation | DatabaseErrorKind::ExclusionViolation => {
            ("23", "integrity")
        }
        DatabaseErrorKind::SerializationFailure => ("40", "serialization_failure"),
        DatabaseErrorKind::ReadOnlyTransaction => ("25", "read_only_transaction"),
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
            ("08", "connection")
        }
        _ if lost_server(info.message()) => ("57", "server_unavailable"),
        _ if info.message().contains("statement timeout") => ("57", "statement_timeout"),
        _ => ("XX", "other"),
    };
    metrics::counter!(crate::telemetry::metrics::DB_ERRORS, "class" => class, "kind" => kind)
        .increment(1);
}

/// The input field a named constraint guards, from PostgreSQL's naming of constraints
/// (`<table>_<columns>_key` for UNIQUE, `<table>_<column>_check` for CHECK; migrations
/// name their unique indexes the same way): the last column, as its GraphQL field name.
/// `tenant_id`, which leads every key, is never the field at fault.
fn constraint_field(table: Option<&str>, constraint: Option<&str>) -> Option<String> {
    let (table, constraint) = without_shard(table?, constraint?);
    let rest = constraint.strip_prefix(table)?.strip_prefix('_')?;
    let columns = rest
        .strip_suffix("_key")
        .or_else(|| rest.strip_suffix("_check"))?;
    let column = columns.strip_prefix("tenant_id_").unwrap_or(columns);
    (!column.is_empty() && column != "tenant_id").then(|| camel_case(column))
}

/// The field of a constraint error relayed by Citus from a shard, which keeps only the
/// message (`… violates unique constraint "custom_roles_tenant_id_name_key_102032"`): the
/// constraint named there, without its shard id, read by the same convention. A tenant
/// table's key names `tenant_id` first; the reference tables are `tenants` and `users`.
fn relayed_constraint_field(message: &str) -> Option<String> {
    let (_, quoted) = message.split_once(" constraint \"")?;
    let name = quoted.split('"').next()?;
    let name = split_shard(name).map_or(name, |(base, _)| base);
    if let Some((_, rest)) = name.rsplit_once("_tenant_id_") {
        let column = rest
            .strip_suffix("_key")
            .or_else(|| rest.strip_suffix("_check"))?;
        return (!column.is_empty()).then(|| camel_case(column));
    }
    ["tenants", "users"]
        .into_iter()
        .find_map(|table| constraint_field(Some(table), Some(name)))
}

/// On Citus an error comes from a shard and names it: `<table>_<shard id>` and
/// `<constraint>_<shard id>`. The names without the shard id (when both carry the same one).
fn without_shard<'a>(table: &'a str, constraint: &'a str) -> (&'a str, &'a str) {
    if let Some((base, id)) = split_shard(table) {
        if let Some(c) = constraint
            .strip_suffix(id)
            .and_then(|c| c.strip_suffix('_'))
        {
            return (base, c);
        }
    }
    (table, constraint)
}

/// `name` split into its base and a Citus shard id (`contacts_102008` → `contacts`,
/// `102008`); None if it ends in no `_<digits>`.
fn split_shard(name: &str) -> Option<(&str, &str)> {
    let (base, id) = name.rsplit_once('_')?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some((base, id))
}

/// `display_name` → `displayName`.
fn camel_case(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// Extension trait so resolvers can write `.gql()?` on any [`AppResult`].
pub trait GqlResultExt<T> {
    /// Converts the error side into a GraphQL error with its code.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<AppError>> GqlResultExt<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().into_graphql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_constraints_name_their_field() {
        let field = |t, c| constraint_field(Some(t), Some(c));
        assert_eq!(field("tenants", "tenants_slug_key"), Some("slug".into()));
        assert_eq!(field("users", "users_email_key"), Some("email".into()));
        assert_eq!(
            field("custom_roles", "custom_roles_tenant_id_name_key"),
            Some("name".into())
        );
        assert_eq!(
            field("users", "users_display_name_check"),
            Some("displayName".into())
        );
        assert_eq!(
            field("api_keys", "api_keys_name_check"),
            Some("name".into())
        );
        // Not a name this convention made, or a key of the tenant alone: no field.
        assert_eq!(field("contacts", "contacts_pkey"), None);
        assert_eq!(field("contacts", "some_other_key"), None);
        assert_eq!(field("memberships", "memberships_tenant_id_key"), None);
        assert_eq!(constraint_field(None, Some("contacts_name_check")), None);
        let relayed = |m: &str| relayed_constraint_field(m);
        assert_eq!(
            relayed("duplicate key value violates unique constraint \"custom_roles_tenant_id_name_key_102032\""),
            Some("name".into())
        );
        assert_eq!(
            relayed("duplicate key value violates unique constraint \"tenants_custom_domain_key_102008\""),
            Some("customDomain".into())
        );
        assert_eq!(
            relayed("duplicate key value violates unique constraint \"contacts_pkey_102020\""),
            None
        );
        // On Citus: the shard's names.
        assert_eq!(
            field(
                "custom_roles_102032",
                "custom_roles_tenant_id_name_key_102032"
            ),
            Some("name".into())
        );
        assert_eq!(
            field("tenants_102008", "tenants_custom_domain_check"),
            None,
            "a shard id on one name only is not stripped"
        );
    }
}
