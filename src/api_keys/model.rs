//! Rows and queries of `api_keys` (row-level security keeps them to the current tenant).

use crate::auth::Role;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An API key as listed (never its secret).
#[derive(Debug, Clone, QueryableByName)]
pub struct ApiKeyRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub role: Role,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, role, expires_at, revoked_at, created_at";

/// Stores a new key (its hash) created by the calling user.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    name: &str,
    role: Role,
    hash: &str,
    expires_at: Option<DateTime<Utc>>,
) -> QueryResult<ApiKeyRow> {
    diesel::sql_query(format!(
        "INSERT INTO api_keys (id, name, role, token_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, app.current_user_id(), $5) RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<Text, _>(name)
    .bind::<Text, _>(role)
    .bind::<Text, _>(hash)
    .bind::<Nullable<Timestamptz>, _>(expires_at)
    .get_result(conn)
    .await
}

/// The tenant's keys, newest first.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<ApiKeyRow>> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
    ))
    .load(conn)
    .await
}

/// Revokes a key; None if the tenant has no such key.
pub async fn revoke(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ApiKeyRow>> {
    diesel::sql_query(format!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()
}
