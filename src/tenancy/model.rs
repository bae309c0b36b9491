//! Diesel rows and queries of tenants, users and memberships, as seen from inside a tenant
//! transaction (row-level security shows the current tenant, its members and the caller).

use crate::auth::plans::Plan;
use crate::auth::{Role, TenantStatus};
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
    pub status: TenantStatus,
    pub plan: Plan,
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

/// Merges `patch` into the current tenant's settings; returns the tenant.
pub async fn patch_settings(
    conn: &mut AsyncPgConnection,
    patch: &serde_json::Value,
) -> QueryResult<Option<TenantRow>> {
    diesel::sql_query(
        "UPDATE tenants SET settings = settings || $1, updated_at = now()
         RETURNING id, slug, name, status, plan, settings, created_at",
    )
    .bind::<diesel::sql_types::Jsonb, _>(patch)
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

/// A member of the current tenant.
#[derive(Debug, Clone, QueryableByName)]
pub struct MemberRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub role: Role,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// The current tenant's members, oldest first.
pub async fn list_members(conn: &mut AsyncPgConnection) -> QueryResult<Vec<MemberRow>> {
    diesel::sql_query(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m
           JOIN users u ON u.id = m.user_id ORDER BY m.created_at, u.email",
    )
    .load(conn)
    .await
}

/// One member of the current tenant.
pub async fn get_member(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Option<MemberRow>> {
    diesel::sql_query(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m
           JOIN users u ON u.id = m.user_id WHERE m.user_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .get_result(conn)
    .await
    .optional()
}

/// The id of the user with `email`, creating a password-less user if `create`.
pub async fn user_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
    create: bool,
) -> QueryResult<Option<Uuid>> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        id: Option<Uuid>,
    }
    let sql = if create {
        "SELECT app.invite_user($1) AS id"
    } else {
        "SELECT app.user_id_by_email($1) AS id"
    };
    Ok(diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(email)
        .get_result::<Found>(conn)
        .await?
        .id)
}

/// Adds (or re-roles) a member of the current tenant.
pub async fn upsert_member(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    role: Role,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO memberships (user_id, role) VALUES ($1, $2)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .bind::<diesel::sql_types::Text, _>(role)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The role of `user` in the current tenant and how many owners it has, with the owners'
/// rows locked so two concurrent changes cannot both remove "the other" owner.
pub async fn role_and_owners(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<(Option<Role>, i64)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        role: Option<Role>,
        #[diesel(sql_type = BigInt)]
        owners: i64,
    }
    let row: Row = diesel::sql_query(
        "WITH owners AS (SELECT user_id FROM memberships WHERE role = 'OWNER' FOR UPDATE)
         SELECT (SELECT role FROM memberships WHERE user_id = $1) AS role,
                (SELECT count(*) FROM owners) AS owners",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .get_result(conn)
    .await?;
    Ok((row.role, row.owners))
}

/// Removes `user` from the current tenant; whether it was a member.
pub async fn remove_member(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<bool> {
    diesel::sql_query("DELETE FROM memberships WHERE user_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(user)
        .execute(conn)
        .await
        .map(|n| n > 0)
}
