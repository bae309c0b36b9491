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

/// Forgets that `tenant` (the transaction's) invited `email`, once no invitation to that
/// address is pending there (after an accept, a decline or a revoke), so the directory
/// does not grow with settled invitations. Two statements: on Citus a write to a reference
/// table may not read a distributed one.
pub async fn settle_invitation(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    email: &str,
) -> QueryResult<()> {
    #[derive(diesel::QueryableByName)]
    struct Pending {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        pending: bool,
    }
    let row: Pending = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM invitations
                         WHERE tenant_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL
                           AND declined_at IS NULL AND revoked_at IS NULL) AS pending",
    )
    .bind::<SqlUuid, _>(tenant)
    .bind::<Text, _>(email)
    .get_result(conn)
    .await?;
    if row.pending {
        return Ok(());
    }
    diesel::sql_query("DELETE FROM invitation_directory WHERE of_tenant = $1 AND email = lower($2)")
        .bind::<SqlUuid, _>(tenant)
        .bind::<Text, _>(email)
        .execute(conn)
        .await
        .map(|_| ())
}
