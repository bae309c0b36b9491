//! GraphQL types and roots of the audit log: `auditLog` (the tenant's, guarded by the
//! `audit_log` feature and the `audit:read` permission) and the entry type that
//! `platformAuditLog` (in the platform domain) lists too.

use super::model::{self, AuditFilter, AuditPosition, AuditRow};
use crate::api_keys::graphql::API_KEY_KIND;
use crate::auth::plans::{Feature, Permission};
use crate::db::keyset::Page;
use crate::error::{AppError, AppResult, GqlResultExt};
use crate::graphql::guards::{requires_feature, requires_permission};
use crate::graphql::relay::{decode_global_id, global_id};
use crate::graphql::{data, request_tx, Limits};
use crate::tenancy::graphql::USER_KIND;
use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, Enum, InputObject, Json, Object, Result, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

/// What an audit entry records.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A row was inserted.
    Insert,
    /// A row was updated (only changed columns are recorded).
    Update,
    /// A row was deleted.
    Delete,
}

impl AuditAction {
    fn as_str(self) -> &'static str {
        match self {
            AuditAction::Insert => "insert",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
        }
    }

    /// The action as the database records it (its CHECK constraint allows only these).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "insert" => Some(AuditAction::Insert),
            "update" => Some(AuditAction::Update),
            "delete" => Some(AuditAction::Delete),
            _ => None,
        }
    }
}

/// Who acted.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditActorType {
    /// A signed-in user.
    User,
    /// An API key (`actorId` is the key's id, not its creator's).
    ApiKey,
}

/// One entry of an audit log: a row inserted, updated or deleted, written by the database.
pub struct AuditEntry(pub AuditRow);

#[Object]
impl AuditEntry {
    /// Its place in its chain (1, 2, …; pruned entries leave the first ones out).
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    /// When it was written.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// Whether a user or an API key acted; null for an operator's command.
    async fn actor_type(&self) -> Option<AuditActorType> {
        actor_type(&self.0)
    }
    /// The global id of the acting user or API key.
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(|id| global_id(actor_kind(&self.0), id))
    }
    /// The request that made the change (its `extensions.requestId` and `request.id`).
    async fn request_id(&self) -> Option<String> {
        self.0.request_id.map(|id| id.to_string())
    }
    /// Insert, update or delete.
    async fn action(&self) -> AppResult<AuditAction> {
        AuditAction::parse(&self.0.action)
            .ok_or_else(|| AppError::internal(format!("audit action {:?}", self.0.action)))
    }
    /// The table changed.
    async fn table(&self) -> &str {
        &self.0.table_name
    }
    /// The row's primary key (after its tenant; comma-separated when composite).
    async fn row_id(&self) -> &str {
        &self.0.row_id
    }
    /// The changed columns' old values (update, delete); secrets read `"[secret]"`.
    async fn old_values(&self) -> Option<Json<serde_json::Value>> {
        self.0.old_values.clone().map(Json)
    }
    /// The changed columns' new values (insert, update); secrets read `"[secret]"`.
    async fn new_values(&self) -> Option<Json<serde_json::Value>> {
        self.0.new_values.clone().map(Json)
    }
    /// SHA-256 (hex) of the previous entry's hash and this entry's content.
    async fn hash(&self) -> String {
        hex(&self.0.hash)
    }
}

/// Whether a user or an API key acted on `row` (None: an operator's command).
pub fn actor_type(row: &AuditRow) -> Option<AuditActorType> {
    match row.actor_type.as_deref() {
        Some("user") => Some(AuditActorType::User),
        Some("api_key") => Some(AuditActorType::ApiKey),
        _ => None,
    }
}

/// The global-id kind of `row`'s actor.
pub fn actor_kind(row: &AuditRow) -> &'static str {
    match row.actor_type.as_deref() {
        Some("api_key") => API_KEY_KIND,
        _ => USER_KIND,
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A position in an audit log, as an opaque Relay cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor(pub AuditPosition);

impl CursorType for AuditCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "invalid cursor")?;
        let text = String::from_utf8(bytes).map_err(|_| "invalid cursor")?;
        let rest = text.strip_prefix("a1:").ok_or("invalid cursor")?;
        let (micros, seq) = rest.split_once(':').ok_or("invalid cursor")?;
        let micros: i64 = micros.parse().map_err(|_| "invalid cursor")?;
        Ok(AuditCursor(AuditPosition {
            at: DateTime::from_timestamp_micros(micros).ok_or("invalid cursor")?,
            seq: seq.parse().map_err(|_| "invalid cursor")?,
        }))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "a1:{}:{}",
            self.0.at.timestamp_micros(),
            self.0.seq
        ))
    }
}

/// A page of audit entries, newest first.
pub type AuditConnection = Connection<AuditCursor, AuditEntry>;

/// `auditLog(filter:)`: every field narrows; all of them together must hold.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// The global id of a user or an API key (or its raw id).
    pub actor: Option<ID>,
    /// A table name, e.g. `contacts`.
    pub table: Option<String>,
    /// Insert, update or delete.
    pub action: Option<AuditAction>,
    /// A row's id: a global id, or the id as recorded.
    pub row_id: Option<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
}

impl AuditLogFilter {
    /// The filter for the model; BAD_USER_INPUT naming the field for an id that is neither
    /// a user's nor an API key's, or text over its length.
    pub fn validate(self) -> AppResult<AuditFilter> {
        let actor = match self.actor {
            None => None,
            Some(id) => Some(match uuid::Uuid::parse_str(&id) {
                Ok(raw) => raw,
                Err(_) => {
                    let (kind, uuid) = decode_global_id(&id, "filter.actor")?;
                    if kind != USER_KIND && kind != API_KEY_KIND {
                        return Err(AppError::bad_input(
                            "filter.actor",
                            "must be the id of a user or an API key",
                        ));
                    }
                    uuid
                }
            }),
        };
        let row_id = self
            .row_id
            .map(|r| match decode_global_id(&ID(r.clone()), "rowId") {
                Ok((_, uuid)) => uuid.to_string(),
                Err(_) => r,
            });
        for (field, text) in [("filter.table", &self.table), ("filter.rowId", &row_id)] {
            if text.as_ref().is_some_and(|t| t.len() > 200) {
                return Err(AppError::bad_input(field, "must be at most 200 characters"));
            }
        }
        Ok(AuditFilter {
            actor,
            table: self.table,
            action: self.action.map(|a| a.as_str().to_string()),
            row_id,
            since: self.since,
            until: self.until,
        })
    }
}

/// Validated `first`/`after` of an audit page: the rows wanted and where to start.
pub fn page_args(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<(usize, Option<AuditPosition>)> {
    let max = data::<Limits>(ctx)?.max_page_size;
    // The same rules (and messages) as every keyset page's `first`.
    let first = Page::from_args(first, None, None, None, max).gql()?.limit;
    let after = match after {
        None => None,
        Some(s) => Some(
            AuditCursor::decode_cursor(&s)
                .map_err(|e| AppError::bad_input("after", e).into_graphql())?
                .0,
        ),
    };
    Ok((first, after))
}

/// The connection of `rows` (fetched with one probe row beyond `first`).
pub fn connection(mut rows: Vec<AuditRow>, first: usize, after: bool) -> AuditConnection {
    let has_next = rows.len() > first;
    rows.truncate(first);
    let mut connection = Connection::new(after, has_next);
    connection.edges.extend(rows.into_iter().map(|row| {
        let cursor = AuditCursor(AuditPosition {
            at: row.occurred_at,
            seq: row.seq,
        });
        Edge::new(cursor, AuditEntry(row))
    }));
    connection
}

/// Audit queries.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The tenant's audit log, newest first: every insert, update and delete of its rows,
    /// written by the database. Needs the `audit_log` feature and the `audit:read`
    /// permission (OWNER and ADMIN).
    #[graphql(
        directive = requires_feature::apply(Feature::AuditLog),
        directive = requires_permission::apply(Permission::AuditRead),
        complexity = "crate::graphql::relay::page_complexity(first, None, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditLogFilter>,
    ) -> Result<AuditConnection> {
        let (first, after) = page_args(ctx, first, after)?;
        let filter = filter.unwrap_or_default().validate().gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.member().await.gql()?.tenant_id;
        let rows = tx
            .run(move |c| {
                async move { model::list(c, tenant, &filter, after, first as i64 + 1).await }
                    .scope_boxed()
            })
            .await
            .gql()?;
        Ok(connection(rows, first, after.is_some()))
    }
}
