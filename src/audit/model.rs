//! Audit entries as rows: the tenant's log (`audit_log`, read in the request's tenant
//! transaction, so row-level security keeps it to the tenant) and the platform log
//! (`platform_audit_log`, read on the platform path). Both are listed newest first by
//! keyset on `(occurred_at, seq)`, which the triggers keep in the same order as the chain.

use crate::db::schema::{audit_log, platform_audit_log};
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// One audit entry (of either log).
#[derive(Debug, Clone, Queryable)]
pub struct AuditRow {
    /// Its place in its chain (1, 2, …).
    pub seq: i64,
    /// When the trigger wrote it (never earlier than its predecessor's).
    pub occurred_at: DateTime<Utc>,
    /// `user` or `api_key`; `None` for an operator's command or a migration.
    pub actor_type: Option<String>,
    /// The user's or the API key's id.
    pub actor_id: Option<Uuid>,
    /// The request that made the change (its `extensions.requestId`).
    pub request_id: Option<Uuid>,
    /// `insert`, `update` or `delete`.
    pub action: String,
    /// The table changed.
    pub table_name: String,
    /// The changed row's primary key after `tenant_id` (comma-separated when composite).
    pub row_id: String,
    /// Old values of the changed columns (update, delete); secrets as `"[secret]"`.
    pub old_values: Option<serde_json::Value>,
    /// New values of the changed columns (insert, update); secrets as `"[secret]"`.
    pub new_values: Option<serde_json::Value>,
    /// SHA-256 of the previous entry's hash and this entry's content.
    pub hash: Vec<u8>,
}

/// What `auditLog(filter:)` narrows to; every field optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The acting user's or API key's id.
    pub actor: Option<Uuid>,
    /// The table changed.
    pub table: Option<String>,
    /// `insert`, `update` or `delete`.
    pub action: Option<String>,
    /// The changed row's id.
    pub row_id: Option<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
}

/// A keyset position in a log: an entry's `(occurred_at, seq)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPosition {
    /// The entry's time.
    pub at: DateTime<Utc>,
    /// The entry's seq.
    pub seq: i64,
}

/// Expands to the filtered, newest-first keyset query of one log table (both have the
/// same columns apart from the tenant): `limit` rows after `after`.
macro_rules! audit_page {
    ($table:ident, $query:expr, $filter:expr, $after:expr, $limit:expr) => {{
        let filter: &AuditFilter = $filter;
        let mut q = $query
            .select((
                $table::seq,
                $table::occurred_at,
                $table::actor_type,
                $table::actor_id,
                $table::request_id,
                $table::action,
                $table::table_name,
                $table::row_id,
                $table::old_values,
                $table::new_values,
                $table::hash,
            ))
            .into_boxed();
        if let Some(actor) = filter.actor {
            q = q.filter($table::actor_id.eq(actor));
        }
        if let Some(table) = &filter.table {
            q = q.filter($table::table_name.eq(table.clone()));
        }
        if let Some(action) = &filter.action {
            q = q.filter($table::action.eq(action.clone()));
        }
        if let Some(row_id) = &filter.row_id {
            q = q.filter($table::row_id.eq(row_id.clone()));
        }
        if let Some(since) = filter.since {
            q = q.filter($table::occurred_at.ge(since));
        }
        if let Some(until) = filter.until {
            q = q.filter($table::occurred_at.lt(until));
        }
        if let Some(AuditPosition { at, seq }) = $after {
            // `occurred_at <= at` bounds the index scan; the OR breaks the tie on seq.
            q = q.filter($table::occurred_at.le(at)).filter(
                $table::occurred_at
                    .lt(at)
                    .or($table::occurred_at.eq(at).and($table::seq.lt(seq))),
            );
        }
        q.order(($table::occurred_at.desc(), $table::seq.desc()))
            .limit($limit)
    }};
}

/// Up to `limit` entries of `tenant`'s log after `after`, newest first. Runs in the
/// tenant transaction: row-level security holds it to that tenant whatever `tenant` says;
/// naming it lets the index (and a distributed engine) find the rows.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: &AuditFilter,
    after: Option<AuditPosition>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    audit_page!(
        audit_log,
        audit_log::table.filter(audit_log::tenant_id.eq(tenant.0)),
        filter,
        after,
        limit
    )
    .load(conn)
    .await
}

/// Up to `limit` entries of the platform log after `after`, newest first (platform path).
pub async fn list_platform(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    after: Option<AuditPosition>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    audit_page!(
        platform_audit_log,
        platform_audit_log::table,
        filter,
        after,
        limit
    )
    .load(conn)
    .await
}
