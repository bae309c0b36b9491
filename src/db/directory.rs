//! The tenant directory (migration 000025): which tenants to look in for one person's
//! memberships and invitations. `myTenants` and `myInvitations` read across tenants; on
//! Citus, reading memberships or invitations by user would go to every node, so they read
//! this global index first (a reference table there, read on one node) and then each
//! tenant's own rows, one routed statement per tenant.
//!
//! An index, not the truth: readers check the membership or invitation itself, so a stale
//! or forged row shows nothing. A missing one would hide a tenant, so every write that adds
//! a membership or an invitation calls [`index_member`] or [`index_invitation`] in its own
//! transaction, and bulk loads call [`index_tenant`]. Rows are written for the
//! transaction's own tenant only (the table's policy).

use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Records that `user` is a member of `tenant` (the transaction's).
pub async fn index_member(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    user: Uuid,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO member_directory (user_id, of_tenant) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<SqlUuid, _>(tenant)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets that `user` is a member of `tenant` (the transaction's), once they are not.
pub async fn forget_member(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    user: Uuid,
) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM member_directory WHERE user_id = $1 AND of_tenant = $2")
        .bind::<SqlUuid, _>(user)
        .bind::<SqlUuid, _>(tenant)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Records that `tenant` (the transaction's) invited `email`.
pub async fn index_invitation(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    email: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO invitation_directory (email, of_tenant) VALUES (lower($1), $2) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(email)
    .bind::<SqlUuid, _>(tenant)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Indexes every membership and invitation of the transaction's tenant (after a bulk load).
pub const INDEX_TENANT_SQL: &str = "SELECT app.index_tenant_directory()";

/// Runs [`INDEX_TENANT_SQL`].
pub async fn index_tenant(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(INDEX_TENANT_SQL)
        .execute(conn)
        .await
        .map(|_| ())
}
