//! Inviting people into the current tenant: admins create, list and revoke pending
//! invitations; the invitee accepts or declines with the token (the auth path's side,
//! `crate::auth::invitations`), and only acceptance makes a membership.
//!
//! An invitation names an email, a role (never above the inviter's own) and an expiry, and
//! stores only the SHA-256 of its token. The answer to `inviteMember` is the same whether
//! or not the address has an account: the server never looks the address up among users
//! outside the tenant (the runtime role no longer can). Only an address that is already a
//! member of this tenant is refused, which `members` shows the admin anyway.

use super::members::outranks;
use crate::auth::plans::QuotaLimit;
use crate::auth::secrets::sha256_hex;
use crate::auth::Role;
use crate::db::functions::lower;
use crate::db::schema::{invitations, memberships, users};
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::relay::{decode_typed_id, global_id};
use crate::graphql::{data, request_tx};
use crate::ids::TenantId;
use async_graphql::{Context, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use diesel::dsl::{exists, now};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use scoped_futures::ScopedFutureExt;
use std::time::Duration;
use uuid::Uuid;

/// The global-id type name of invitations.
pub const INVITATION_KIND: &str = "Invitation";

/// How invitations are made (`TENANTRY_INVITATION_TTL_HOURS`).
#[derive(Debug, Clone, Copy)]
pub struct InvitationSettings {
    /// How long an invitation can be accepted.
    pub ttl: Duration,
}

/// A pending invitation as the tenant's admins see it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invitations, check_for_backend(Pg))]
pub struct InvitationRow {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// The inviter's email (Null once they are no longer a member: row-level security
    /// shows the runtime role members only).
    #[diesel(select_expression = users::email.nullable())]
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An invitation to join the current tenant, pending until accepted, declined, revoked or
/// expired.
#[derive(SimpleObject)]
pub struct Invitation {
    /// Opaque global id.
    pub id: ID,
    /// The address invited.
    pub email: String,
    /// The role offered.
    pub role: Role,
    /// The email of the member who invited (null once they are no longer a member).
    pub invited_by: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// After this it can no longer be accepted.
    pub expires_at: DateTime<Utc>,
}

impl From<InvitationRow> for Invitation {
    fn from(row: InvitationRow) -> Self {
        Self {
            id: global_id(INVITATION_KIND, row.id),
            email: row.email,
            role: row.role,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// A new invitation and its token, shown this once.
#[derive(SimpleObject)]
pub struct CreatedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// The token the invitee passes to `acceptInvitation` (or `declineInvitation`): send
    /// it to them now, it cannot be shown again.
    pub token: String,
}

/// A new invitation token for `tenant` and the hash that is stored: `{tenant}.{secret}`,
/// so acceptance knows which tenant's transaction to open before anything is looked up.
fn new_token(tenant: TenantId) -> (String, String) {
    let token = format!(
        "{}.{}{}",
        tenant.0.simple(),
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    );
    let hash = sha256_hex(&token);
    (token, hash)
}

/// Pending invitations of the current tenant (not accepted, declined, revoked or expired).
macro_rules! pending {
    () => {
        invitations::table
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::declined_at.is_null())
            .filter(invitations::revoked_at.is_null())
            .filter(invitations::expires_at.gt(now))
    };
}

/// The current tenant's pending invitations, newest first.
pub async fn list_invitations(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> QueryResult<Vec<InvitationRow>> {
    pending!()
        .filter(invitations::tenant_id.eq(tenant.0))
        .left_join(users::table.on(users::id.eq(invitations::invited_by)))
        .select(InvitationRow::as_select())
        .order(invitations::created_at.desc())
        .load(conn)
        .await
}

/// Invites `email` into the current tenant with `role` (see the module documentation).
pub(super) async fn invite_member(
    ctx: &Context<'_>,
    email: String,
    role: Role,
) -> Result<CreatedInvitation> {
    let email = crate::validate::optional_email("email", Some(&email))
        .gql()?
        .ok_or_else(|| AppError::bad_input("email", "must not be empty").into_graphql())?;
    let ttl = data::<InvitationSettings>(ctx)?.ttl;
    let expires = Utc::now()
        + chrono::Duration::from_std(ttl)
            .map_err(AppError::internal)
            .gql()?;
    let tx = request_tx(ctx)?;
    let member = tx.member().await.gql()?;
    outranks(member.role, Some(role), None).gql()?;
    let limit = member.plan.quotas().members;
    let tenant = member.tenant_id;
    let inviter = member.user_id;
    let (token, hash) = new_token(tenant);
    let row = tx
        .run(move |c| {
            async move {
                // Row-level security shows the runtime role the users who are members here
                // and nobody else: this asks only whether the address is already a member.
                let member_here = diesel::select(exists(
                    memberships::table
                        .inner_join(users::table)
                        .filter(memberships::tenant_id.eq(tenant.0))
                        .filter(lower(users::email).eq(lower(&email)))
                        // Only granted columns: the runtime role may not read the hash.
                        .select(memberships::user_id),
                ))
                .get_result::<bool>(c)
                .await?;
                if member_here {
                    return Err(AppError {
                        code: ErrorCode::Conflict,
                        message: "that address is already a member of this tenant".into(),
                        field: Some("email".into()),
                    });
                }
                // Inviting the same address again replaces its pending invitation.
                diesel::update(
                    invitations::table
                        .filter(invitations::tenant_id.eq(tenant.0))
                        .filter(lower(invitations::email).eq(lower(&email)))
                        .filter(invitations::accepted_at.is_null())
                        .filter(invitations::declined_at.is_null())
                        .filter(invitations::revoked_at.is_null()),
                )
                .set(invitations::revoked_at.eq(now))
                .execute(c)
                .await?;
                // Members and pending invitations together stay within the quota, so
                // accepting rarely finds the tenant full.
                let members: i64 = memberships::table
                    .filter(memberships::tenant_id.eq(tenant.0))
                    .count()
                    .get_result(c)
                    .await?;
                let pending: i64 = pending!()
                    .filter(invitations::tenant_id.eq(tenant.0))
                    .count()
                    .get_result(c)
                    .await?;
                if !limit.has_room_for_one(members + pending) {
                    let limit = limit.unwrap_or_default();
                    return Err(AppError::new(
                        ErrorCode::QuotaExceeded,
                        format!(
                            "the members quota of {limit} is reached for this plan (members and pending invitations)"
                        ),
                    ));
                }
                let id = Uuid::now_v7();
                // `tenant_id` is filled by the column default from the transaction.
                diesel::insert_into(invitations::table)
                    .values((
                        invitations::id.eq(id),
                        invitations::email.eq(&email),
                        invitations::role.eq(role),
                        invitations::token_hash.eq(&hash),
                        invitations::invited_by.eq(inviter.0),
                        invitations::expires_at.eq(expires),
                    ))
                    .execute(c)
                    .await?;
                crate::db::directory::index_invitation(c, tenant.0, &email).await?;
                let row = invitations::table
                    .find((tenant.0, id))
                    .left_join(users::table.on(users::id.eq(invitations::invited_by)))
                    .select(InvitationRow::as_select())
                    .first(c)
                    .await?;
                Ok::<_, AppError>(row)
            }
            .scope_boxed()
        })
        .await
        .gql()?;
    Ok(CreatedInvitation {
        invitation: Invitation::from(row),
        token,
    })
}

/// Revokes a pending invitation of the current tenant (nobody revokes one offering a role
/// above their own); another tenant's, or one no longer pending, is NOT_FOUND.
pub(super) async fn revoke_invitation(ctx: &Context<'_>, id: ID) -> Result<ID> {
    let invitation = decode_typed_id(&id, INVITATION_KIND, "id").gql()?;
    let tx = request_tx(ctx)?;
    let member = tx.member().await.gql()?;
    let tenant = member.tenant_id;
    let caller = member.role;
    tx.run(move |c| {
        async move {
            let offered: Option<Role> = pending!()
                .filter(invitations::tenant_id.eq(tenant.0))
                .filter(invitations::id.eq(invitation))
                .select(invitations::role)
                .for_update()
                .first(c)
                .await
                .optional()?;
            let Some(offered) = offered else {
                return Err(AppError::not_found("invitation"));
            };
            outranks(caller, None, Some(offered))?;
            let email: String = diesel::update(invitations::table.find((tenant.0, invitation)))
                .set(invitations::revoked_at.eq(now))
                .returning(invitations::email)
                .get_result(c)
                .await?;
            crate::db::directory::settle_invitation(c, tenant.0, &email).await?;
            Ok::<_, AppError>(())
        }
        .scope_boxed()
    })
    .await
    .gql()?;
    Ok(id)
}
