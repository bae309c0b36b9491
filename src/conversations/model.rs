//! Diesel rows and queries of `conversations`. Reads and updates name the tenant as well
//! (inserts take it from the transaction), and row-level security limits every query to
//! the current tenant regardless.

use crate::db::batch::Children;
use crate::db::keyset::{KeysetCursor, Page};
use crate::db::lateral::{NewestChildren, NewestPerParent};
use crate::db::schema::conversations;
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

crate::text_enum! {
    /// Where a conversation stands.
    #[derive(async_graphql::Enum)]
    pub enum ConversationStatus {
        /// Waiting for the team.
        Open = "open",
        /// Waiting for the contact.
        Pending = "pending",
        /// Done.
        Closed = "closed",
    }
}

crate::text_enum! {
    /// How the conversation happens.
    #[derive(async_graphql::Enum)]
    pub enum Channel {
        /// Email.
        Email = "email",
        /// Live chat.
        Chat = "chat",
        /// Text messages.
        Sms = "sms",
    }
}

/// A row of `conversations`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversations, check_for_backend(Pg))]
pub struct ConversationRow {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub subject: String,
    pub status: ConversationStatus,
    pub channel: Channel,
    pub assignee_id: Option<Uuid>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConversationRow {
    /// The keyset position of this row.
    pub fn cursor(&self) -> KeysetCursor {
        KeysetCursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// A conversation to insert; `tenant_id` comes from the transaction.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = conversations)]
pub struct NewConversation {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub subject: String,
    pub channel: Channel,
}

/// Filters of the conversation list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub channel: Option<Channel>,
}

impl ConversationFilter {
    /// The contact, when the filter is "the conversations of this contact" and nothing else
    /// (the shape the batch loaders serve).
    pub fn only_contact(&self) -> Option<Uuid> {
        self.contact_id.filter(|_| {
            self.status.is_none() && self.assignee_id.is_none() && self.channel.is_none()
        })
    }
}

fn filtered(
    tenant: TenantId,
    filter: &ConversationFilter,
) -> conversations::BoxedQuery<'static, Pg> {
    let mut query = conversations::table
        .filter(crate::of_tenant!(conversations, tenant))
        .into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(conversations::status.eq(*status));
    }
    if let Some(assignee) = filter.assignee_id {
        query = query.filter(conversations::assignee_id.eq(assignee));
    }
    if let Some(contact) = filter.contact_id {
        query = query.filter(conversations::contact_id.eq(contact));
    }
    if let Some(channel) = &filter.channel {
        query = query.filter(conversations::channel.eq(*channel));
    }
    query
}

/// One page of conversations, newest first, narrowed by `filter` (and by `contact`).
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn list_conversations(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    filter: &ConversationFilter,
    page: &Page,
) -> QueryResult<Vec<ConversationRow>> {
    let query = filtered(tenant, filter).select(ConversationRow::as_select());
    crate::apply_keyset!(
        query,
        conversations::created_at,
        conversations::id,
        page,
        newest_first = true
    )
    .load(&mut conn)
    .await
}

/// How many conversations match `filter`.
pub async fn count(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: &ConversationFilter,
) -> QueryResult<i64> {
    filtered(tenant, filter).count().get_result(conn).await
}

/// How many conversations each of `contact_ids` has (contacts without any are absent).
pub async fn count_by_contacts(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    contact_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, i64)>> {
    conversations::table
        .filter(crate::of_tenant!(conversations, tenant))
        .filter(conversations::contact_id.eq_any(contact_ids))
        .group_by(conversations::contact_id)
        .select((conversations::contact_id, diesel::dsl::count_star()))
        .load(conn)
        .await
}

/// The newest conversations of each contact (see [`newest_by_contacts`]).
pub struct NewestByContact;

impl NewestPerParent for NewestByContact {
    type SqlType = (
        SqlUuid,
        SqlUuid,
        Text,
        Text,
        Text,
        Nullable<SqlUuid>,
        Nullable<Timestamptz>,
        Timestamptz,
        Timestamptz,
    );
    const SQL: [&'static str; 4] = [
        "SELECT c.id, c.contact_id, c.subject, c.status, c.channel, c.assignee_id, \
                c.last_message_at, c.created_at, c.updated_at \
           FROM unnest(",
        "::uuid[]) AS p(id) \
          CROSS JOIN LATERAL (SELECT * FROM conversations x WHERE x.tenant_id = ",
        " AND x.contact_id = p.id \
                              ORDER BY x.created_at DESC, x.id DESC LIMIT ",
        ") c",
    ];
}

/// The newest `limit` conversations of each contact in `contact_ids`, in one statement,
/// filed in `children` as they come.
pub async fn newest_by_contacts(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    contact_ids: Vec<Uuid>,
    limit: i64,
    children: Children<ConversationRow>,
) -> QueryResult<Children<ConversationRow>> {
    NewestChildren::<NewestByContact>::new(tenant, contact_ids, limit)
        .file_into(conn, children)
        .await
}

/// The conversations with these ids (of the current tenant).
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    ids: &[Uuid],
) -> QueryResult<Vec<ConversationRow>> {
    conversations::table
        .filter(crate::of_tenant!(conversations, tenant))
        .filter(conversations::id.eq_any(ids))
        .select(ConversationRow::as_select())
        .load(conn)
        .await
}

/// Inserts a conversation and returns it.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewConversation,
) -> QueryResult<ConversationRow> {
    diesel::insert_into(conversations::table)
        .values(new)
        .returning(ConversationRow::as_returning())
        .get_result(conn)
        .await
}

/// Sets the assignee (None: unassigned); None if the tenant has no such conversation.
pub async fn set_assignee(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
    assignee: Option<Uuid>,
) -> QueryResult<Option<ConversationRow>> {
    let target = conversations::table
        .filter(crate::of_tenant!(conversations, tenant))
        .filter(conversations::id.eq(id));
    diesel::update(target)
        .set((
            conversations::assignee_id.eq(assignee),
            conversations::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ConversationRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Sets the status; None if the tenant has no such conversation.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
    status: ConversationStatus,
) -> QueryResult<Option<ConversationRow>> {
    let target = conversations::table
        .filter(crate::of_tenant!(conversations, tenant))
        .filter(conversations::id.eq(id));
    diesel::update(target)
        .set((
            conversations::status.eq(status),
            conversations::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ConversationRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}
