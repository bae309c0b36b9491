//! Rows and queries of `api_keys`. Those of the request path run in the tenant
//! transaction, so row-level security keeps them to the current tenant, and name it too
//! (for routing: see [`crate::db::routing`]); [`find_live`] runs on the auth path (as
//! `tenantry_auth`, before any tenant is set) and names its tenant.

use crate::auth::Role;
use crate::db::functions::current_user_id;
use crate::db::schema::api_keys;
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An API key as listed (never its secret).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(Pg))]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The key's own requests per minute (None: only the plan's rate).
    pub requests_per_minute: Option<i32>,
}

/// What a presented key grants, as [`find_live`] reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(Pg))]
pub struct LiveKeyRow {
    /// The key's id (the actor of its requests' audit entries).
    pub id: Uuid,
    /// The member who created the key (requests act as them).
    pub created_by: Uuid,
    /// The key's role cap.
    pub role: Role,
    /// When it stops working, if ever (bounds how long it may be cached).
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own requests per minute, if any.
    pub requests_per_minute: Option<i32>,
}

/// Stores a new key (its hash) created by the calling user; `tenant_id` is filled by the
/// column default from the transaction.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    name: &str,
    role: Role,
    hash: &str,
    expires_at: Option<DateTime<Utc>>,
    requests_per_minute: Option<i32>,
) -> QueryResult<ApiKeyRow> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(Uuid::now_v7()),
            api_keys::name.eq(name),
            api_keys::role.eq(role),
            api_keys::token_hash.eq(hash),
            // NULL without a user: the NOT NULL column refuses it, as it should.
            api_keys::created_by.eq(current_user_id().assume_not_null()),
            api_keys::expires_at.eq(expires_at),
            api_keys::requests_per_minute.eq(requests_per_minute),
        ))
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await
}

/// The keys of `tenant` (the request's), newest first.
pub async fn list(conn: &mut AsyncPgConnection, tenant: TenantId) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table
        .filter(crate::of_tenant!(api_keys, tenant))
        .select(ApiKeyRow::as_select())
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .load(conn)
        .await
}

/// Revokes key `id` of `tenant` (the request's); None if the tenant has no such key.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> QueryResult<Option<ApiKeyRow>> {
    // A key revoked before keeps its time, and is answered as it is. (Not one UPDATE
    // setting coalesce(revoked_at, now()): Citus refuses a non-immutable function in a
    // COALESCE.)
    let revoked = diesel::update(
        api_keys::table
            .find((tenant.0, id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .returning(ApiKeyRow::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    if revoked.is_some() {
        crate::db::notify::announce_tenancy(conn, tenant.0).await?;
        return Ok(revoked);
    }
    api_keys::table
        .find((tenant.0, id))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The unrevoked, unexpired key of `tenant` whose secret hashes to `hash`, if any. Runs as
/// `tenantry_auth`, whose policy lets it read every tenant's keys: hence the explicit tenant.
pub async fn find_live(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    hash: &str,
) -> QueryResult<Option<LiveKeyRow>> {
    api_keys::table
        .filter(api_keys::tenant_id.eq(tenant.0))
        .filter(api_keys::token_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(now)),
        )
        .select(LiveKeyRow::as_select())
        // At most one row: api_keys_hash_idx is unique.
        .first(conn)
        .await
        .optional()
}
