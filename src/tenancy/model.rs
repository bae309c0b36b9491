//! Diesel rows and queries of tenants, users and memberships, as seen from inside a tenant
//! transaction (row-level security shows the current tenant, its members and the caller).

use crate::db::schema::{memberships, tenants, users};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A row of `tenants`.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = tenants, check_for_backend(Pg))]
pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub plan: String,
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A row of `users` without the password hash (the runtime role cannot read it).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The current tenant (row-level security shows no other).
pub async fn current_tenant(conn: &mut AsyncPgConnection) -> QueryResult<Option<TenantRow>> {
    tenants::table
        .select(TenantRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Adds `feature` to (or removes it from) the current tenant's switched-off features;
/// returns the tenant.
pub async fn set_feature_disabled(
    conn: &mut AsyncPgConnection,
    feature: &str,
    disabled: bool,
) -> QueryResult<Option<TenantRow>> {
    diesel::sql_query(
        "UPDATE tenants SET updated_at = now(), settings = jsonb_set(settings, '{disabled_features}',
           coalesce((SELECT jsonb_agg(DISTINCT f) FROM (
               SELECT jsonb_array_elements_text(coalesce(settings -> 'disabled_features', '[]')) AS f
               UNION SELECT $1 WHERE $2) x WHERE f <> $1 OR $2), '[]'))
         RETURNING id, slug, name, status, plan, settings, created_at",
    )
    .bind::<diesel::sql_types::Text, _>(feature)
    .bind::<diesel::sql_types::Bool, _>(disabled)
    .get_result(conn)
    .await
    .optional()
}

/// The user `id`, if visible (the caller, or a member of the current tenant).
pub async fn get_user(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The users with these ids that the caller may see.
pub async fn users_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)
        .await
}

/// How many members the current tenant has.
pub async fn count_members(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    memberships::table.count().get_result(conn).await
}

/// Counts of the current tenant: contacts, conversations, open conversations, messages.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct TenantStatsRow {
    #[diesel(sql_type = BigInt)]
    pub contacts: i64,
    #[diesel(sql_type = BigInt)]
    pub conversations: i64,
    #[diesel(sql_type = BigInt)]
    pub open_conversations: i64,
    #[diesel(sql_type = BigInt)]
    pub messages: i64,
}

/// The tenant's counts, in one statement.
pub async fn tenant_stats(conn: &mut AsyncPgConnection) -> QueryResult<TenantStatsRow> {
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM contacts) AS contacts,
                (SELECT count(*) FROM conversations) AS conversations,
                (SELECT count(*) FROM conversations WHERE status = 'open') AS open_conversations,
                (SELECT count(*) FROM messages) AS messages",
    )
    .get_result(conn)
    .await
}
