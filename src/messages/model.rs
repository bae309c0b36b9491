//! Diesel rows and queries of `messages`. Every query names the tenant as well, and
//! row-level security limits it to the current tenant regardless.

use crate::db::batch::Children;
use crate::db::keyset::{KeysetCursor, Page};
use crate::db::lateral::{NewestChildren, NewestPerParent};
use crate::db::schema::messages;
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Float4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

crate::text_enum! {
    /// Who sent a message.
    #[derive(async_graphql::Enum)]
    pub enum MessageDirection {
        /// From the contact.
        Inbound = "inbound",
        /// From the team.
        Outbound = "outbound",
    }
}

/// A row of `messages`.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = messages, check_for_backend(Pg))]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub direction: MessageDirection,
    pub author_id: Option<Uuid>,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl MessageRow {
    /// The keyset position of this row.
    pub fn cursor(&self) -> KeysetCursor {
        KeysetCursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// A search hit: the message and its rank.
#[derive(Debug, Clone, QueryableByName)]
pub struct RankedMessage {
    #[diesel(embed)]
    pub message: MessageRow,
    #[diesel(sql_type = Float4)]
    pub rank: f32,
}

/// The columns every message query returns, for hand-written SQL.
pub const COLUMNS: &str = "m.id, m.conversation_id, m.direction, m.author_id, m.body, m.created_at";

/// The message `id`, if the current tenant has it.
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn by_id(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> QueryResult<Option<MessageRow>> {
    messages::table
        .filter(crate::of_tenant!(messages, tenant))
        .filter(messages::id.eq(id))
        .select(MessageRow::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// The messages with these ids (of the current tenant).
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    ids: &[Uuid],
) -> QueryResult<Vec<MessageRow>> {
    messages::table
        .filter(crate::of_tenant!(messages, tenant))
        .filter(messages::id.eq_any(ids))
        .select(MessageRow::as_select())
        .load(conn)
        .await
}

/// One page of a conversation's messages, newest first.
pub async fn list_messages(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    conversation_id: Uuid,
    page: &Page,
) -> QueryResult<Vec<MessageRow>> {
    let query = messages::table
        .filter(crate::of_tenant!(messages, tenant))
        .filter(messages::conversation_id.eq(conversation_id))
        .select(MessageRow::as_select())
        .into_boxed();
    crate::apply_keyset!(
        query,
        messages::created_at,
        messages::id,
        page,
        newest_first = true
    )
    .load(conn)
    .await
}

/// The newest messages of each conversation (see [`newest_by_conversations`]).
pub struct NewestByConversation;

impl NewestPerParent for NewestByConversation {
    type SqlType = (SqlUuid, SqlUuid, Text, Nullable<SqlUuid>, Text, Timestamptz);
    const SQL: [&'static str; 4] = [
        "SELECT m.id, m.conversation_id, m.direction, m.author_id, m.body, m.created_at \
           FROM unnest(",
        "::uuid[]) AS p(id) \
          CROSS JOIN LATERAL (SELECT * FROM messages x WHERE x.tenant_id = ",
        " AND x.conversation_id = p.id \
                              ORDER BY x.created_at DESC, x.id DESC LIMIT ",
        ") m",
    ];
}

/// The newest `limit` messages of each conversation in `ids`, in one statement, filed in
/// `children` as they come.
pub async fn newest_by_conversations(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    ids: Vec<Uuid>,
    limit: i64,
    children: Children<MessageRow>,
) -> QueryResult<Children<MessageRow>> {
    NewestChildren::<NewestByConversation>::new(tenant, ids, limit)
        .file_into(conn, children)
        .await
}

/// Inserts a message and moves its conversation's `last_message_at`, in one statement.
/// The author of an outbound message is the calling user (`app.user_id`).
pub async fn post(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
    conversation_id: Uuid,
    direction: MessageDirection,
    body: &str,
) -> QueryResult<MessageRow> {
    // sql_query: diesel has no data-modifying CTE (insert and update in one statement).
    diesel::sql_query(format!(
        "WITH m AS (
           INSERT INTO messages (tenant_id, id, conversation_id, direction, author_id, body)
           VALUES ($5, $1, $2, $3, CASE WHEN $3 = 'outbound' THEN app.current_user_id() END, $4)
           RETURNING *),
         touched AS (
           UPDATE conversations c SET last_message_at = m.created_at, updated_at = now()
             FROM m WHERE c.tenant_id = $5 AND c.id = m.conversation_id
                      AND m.tenant_id = $5 RETURNING c.id)
         SELECT {COLUMNS} FROM m"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(conversation_id)
    .bind::<Text, _>(direction)
    .bind::<Text, _>(body)
    .bind::<SqlUuid, _>(tenant.0)
    .get_result(conn)
    .await
}

/// Messages matching `query` (web-search syntax), best first; `after` is the (rank, id)
/// of the last hit of the previous page.
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn search(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    query: &str,
    after: Option<(f32, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<RankedMessage>> {
    // sql_query: diesel has no tsvector/tsquery operators nor row-value comparison.
    diesel::sql_query(format!(
        "SELECT {COLUMNS}, ts_rank(m.body_tsv, q) AS rank
           FROM messages m, websearch_to_tsquery('simple', $1) q
          WHERE m.tenant_id = $5 AND m.body_tsv @@ q
            AND ($2::real IS NULL OR (ts_rank(m.body_tsv, q), m.id) < ($2::real, $3::uuid))
          ORDER BY rank DESC, m.id DESC
          LIMIT $4"
    ))
    .bind::<Text, _>(query)
    .bind::<Nullable<Float4>, _>(after.map(|a| a.0))
    .bind::<Nullable<SqlUuid>, _>(after.map(|a| a.1))
    .bind::<BigInt, _>(limit)
    .bind::<SqlUuid, _>(tenant.0)
    .load(&mut conn)
    .await
}
