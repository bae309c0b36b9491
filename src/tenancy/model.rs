//! Diesel rows and queries of tenants, users and memberships, as seen from inside a tenant
//! transaction (row-level security shows the current tenant, its members and the caller).
//! Statements on tenant tables also name the request's tenant, so a distributed engine
//! routes them to one node (see [`crate::db::routing`]); RLS stays the guarantee.

use crate::auth::plans::Plan;
use crate::auth::{Role, TenantStatus};
use crate::conversations::model::ConversationStatus;
use crate::db::schema::{contacts, conversations, memberships, messages, tenants, users};
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::upsert::excluded;
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
pub async fn current_tenant(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> QueryResult<Option<TenantRow>> {
    // `tenants` is keyed by its id (a reference table on Citus; see `crate::db::routing`).
    tenants::table
        .filter(tenants::id.eq(tenant.0))
        .select(TenantRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Adds `feature` to (or removes it from) the switched-off features of `tenant` (the
/// request's); returns the tenant.
pub async fn set_feature_disabled(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    feature: &str,
    disabled: bool,
) -> QueryResult<Option<TenantRow>> {
    // sql_query: aggregates a set-returning function in a FROM subquery; diesel's DSL has neither.
    diesel::sql_query(
        "UPDATE tenants SET updated_at = now(), settings = jsonb_set(settings, '{disabled_features}',
           coalesce((SELECT jsonb_agg(DISTINCT f) FROM (
               SELECT jsonb_array_elements_text(coalesce(settings -> 'disabled_features', '[]')) AS f
               UNION SELECT $1 WHERE $2) x WHERE f <> $1 OR $2), '[]'))
         WHERE id = $3
         RETURNING id, slug, name, status, plan, settings, created_at",
    )
    .bind::<Text, _>(feature)
    .bind::<Bool, _>(disabled)
    .bind::<diesel::sql_types::Uuid, _>(tenant.0)
    .get_result(conn)
    .await
    .optional()
}

/// Merges `patch` into the settings of `tenant` (the request's); returns the tenant.
pub async fn patch_settings(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    patch: &serde_json::Value,
) -> QueryResult<Option<TenantRow>> {
    // Row-level security leaves only the current tenant to update; the filter says which.
    diesel::update(tenants::table.find(tenant.0))
        .set((
            tenants::settings.eq(tenants::settings.concat(patch)),
            tenants::updated_at.eq(now),
        ))
        .returning(TenantRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The user `id`, if visible (the caller, or a member of the current tenant).
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn get_user(mut conn: &AsyncPgConnection, id: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(&mut conn)
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
pub async fn count_members(conn: &mut AsyncPgConnection, tenant: TenantId) -> QueryResult<i64> {
    memberships::table
        .filter(crate::of_tenant!(memberships, tenant))
        .count()
        .get_result(conn)
        .await
}

/// The counts plan quotas limit, of `tenant`: members and contacts, in one statement.
pub async fn quota_counts(conn: &mut AsyncPgConnection, tenant: Uuid) -> QueryResult<(i64, i64)> {
    // Diesel types a scalar subquery as nullable; count(*) never is NULL.
    let (members, contacts) = diesel::select((
        memberships::table
            .filter(memberships::tenant_id.eq(tenant))
            .count()
            .single_value(),
        contacts::table
            .filter(contacts::tenant_id.eq(tenant))
            .count()
            .single_value(),
    ))
    .get_result::<(Option<i64>, Option<i64>)>(conn)
    .await?;
    Ok((members.unwrap_or(0), contacts.unwrap_or(0)))
}

/// Counts of the current tenant: contacts, conversations, open conversations, messages.
#[derive(Debug, Clone, Copy, Queryable)]
pub struct TenantStatsRow {
    pub contacts: i64,
    pub conversations: i64,
    pub open_conversations: i64,
    pub messages: i64,
}

/// The counts of `tenant` (the request's), in one statement (four scalar subqueries).
pub async fn tenant_stats(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> QueryResult<TenantStatsRow> {
    // A count always yields a row, so its subquery is never NULL.
    diesel::select((
        contacts::table
            .filter(crate::of_tenant!(contacts, tenant))
            .count()
            .single_value()
            .assume_not_null(),
        conversations::table
            .filter(crate::of_tenant!(conversations, tenant))
            .count()
            .single_value()
            .assume_not_null(),
        conversations::table
            .filter(crate::of_tenant!(conversations, tenant))
            .filter(conversations::status.eq(ConversationStatus::Open))
            .count()
            .single_value()
            .assume_not_null(),
        messages::table
            .filter(crate::of_tenant!(messages, tenant))
            .count()
            .single_value()
            .assume_not_null(),
    ))
    .get_result(conn)
    .await
}

/// A member of the current tenant: a row of `memberships` joined with its user's email.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships, check_for_backend(Pg))]
pub struct MemberRow {
    pub user_id: Uuid,
    #[diesel(select_expression = users::email)]
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// The current tenant's members, oldest first.
///
/// Takes a shared connection, so that it may be the first statement of a request's
/// transaction and travel with its opening batch (`TenantTx::run_pipelined`).
pub async fn list_members(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
) -> QueryResult<Vec<MemberRow>> {
    memberships::table
        .inner_join(users::table)
        .filter(crate::of_tenant!(memberships, tenant))
        .select(MemberRow::as_select())
        .order((memberships::created_at, users::email))
        .load(&mut conn)
        .await
}

/// The member `user` of `tenant` (the request's).
pub async fn get_member(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    user: Uuid,
) -> QueryResult<Option<MemberRow>> {
    memberships::table
        .inner_join(users::table)
        .filter(crate::of_tenant!(memberships, tenant))
        .filter(memberships::user_id.eq(user))
        .select(MemberRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Re-roles a member of `tenant` (the request's), or adds one: used for existing members
/// only.
pub async fn upsert_member(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    user: Uuid,
    role: Role,
) -> QueryResult<()> {
    // The tenant is named (the policy's WITH CHECK still refuses any other).
    diesel::insert_into(memberships::table)
        .values((
            crate::of_tenant!(memberships, tenant),
            memberships::user_id.eq(user),
            memberships::role.eq(role),
        ))
        .on_conflict((memberships::tenant_id, memberships::user_id))
        .do_update()
        .set(memberships::role.eq(excluded(memberships::role)))
        .execute(conn)
        .await?;
    crate::db::directory::index_member(conn, tenant.0, user).await?;
    crate::db::notify::announce_tenancy(conn, tenant.0).await
}

/// The role of `user` in `tenant` (the request's) and how many owners it has, with the
/// owners' rows locked so two concurrent changes cannot both remove "the other" owner.
pub async fn role_and_owners(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    user: Uuid,
) -> QueryResult<(Option<Role>, i64)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Text>)]
        role: Option<Role>,
        #[diesel(sql_type = BigInt)]
        owners: i64,
    }
    // sql_query: diesel has no CTEs, and the owners must be locked and counted in one statement.
    // Both lookups name the tenant: Citus refuses FOR UPDATE in a statement it would send to
    // every shard, and routes this one to the tenant's.
    let row: Row = diesel::sql_query(
        "WITH owners AS (SELECT user_id FROM memberships
                          WHERE tenant_id = $2 AND role = 'OWNER' FOR UPDATE)
         SELECT (SELECT role FROM memberships WHERE tenant_id = $2 AND user_id = $1) AS role,
                (SELECT count(*) FROM owners) AS owners",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .bind::<diesel::sql_types::Uuid, _>(tenant.0)
    .get_result(conn)
    .await?;
    Ok((row.role, row.owners))
}

/// Removes `user` from `tenant` (the request's); whether it was a member.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    user: Uuid,
) -> QueryResult<bool> {
    let removed = diesel::delete(memberships::table.find((tenant.0, user)))
        .execute(conn)
        .await?;
    crate::db::directory::forget_member(conn, tenant.0, user).await?;
    crate::db::notify::announce_tenancy(conn, tenant.0).await?;
    Ok(removed > 0)
}
