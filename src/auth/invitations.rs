//! The invitee's side of invitations: the signed-in user's pending invitations, and
//! accepting or declining one with its token. (Admins invite, list and revoke inside their
//! tenant: `crate::tenancy::invitations`.)
//!
//! The invitee is not a member of the inviting tenant yet, so none of this can use the
//! request's tenant transaction:
//!
//! - `myInvitations` reads across tenants on the auth path (`tenantry_auth`), whose policy
//!   on `invitations` shows only those addressed to the email of `app.user_id`, set here to
//!   the signed-in user;
//! - accepting and declining run as `tenantry_app` in a transaction scoped to the tenant
//!   the token names (`{tenant}.{secret}`, like refresh tokens), so row-level security
//!   confines every statement to that tenant. The token's hash must match a pending,
//!   unexpired invitation addressed to the caller's own email; anything else is the same
//!   NOT_FOUND, telling nothing about other invitations or accounts.
//!
//! Only acceptance creates the membership, with the invited role capped by the inviter's
//! role at that moment (an inviter who left, or was demoted, cannot grant more than they
//! now hold), within the plan's members quota.

use super::auth_tx::{auth_tx, set_up_tx, FanOut};
use super::my_tenants::{MyTenant, DIRECTORY_LIMIT};
use super::plans::{Plan, QuotaLimit};
use super::secrets::sha256_hex;
use super::session::Sessions;
use super::{Role, TenantStatus};
use crate::db::functions::lower;
use crate::db::schema::{invitation_directory, invitations, memberships, tenants, users};
use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::try_join_all;
use scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
use uuid::Uuid;

// Read by position: (tenants.id, slug, name, invitations.role, inviter's email,
// invitations.created_at, expires_at).
/// An invitation waiting for the signed-in user.
#[derive(Debug, Clone, Queryable, async_graphql::SimpleObject)]
pub struct MyInvitation {
    /// The inviting tenant's id.
    pub tenant_id: Uuid,
    /// Its slug.
    pub tenant_slug: String,
    /// Its name.
    pub tenant_name: String,
    /// The role offered (accepting grants at most the inviter's role at that time).
    pub role: Role,
    /// The email of the member who invited you.
    pub invited_by: String,
    /// When the invitation was made.
    pub created_at: DateTime<Utc>,
    /// After this it can no longer be accepted.
    pub expires_at: DateTime<Utc>,
}

/// The refusal of every token that does not open a pending invitation for the caller.
fn no_invitation() -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        "invitation not found: unknown, not addressed to you, already used, revoked or expired",
    )
}

/// The tenant an invitation token names (its part before the dot).
fn token_tenant(token: &str) -> AppResult<TenantId> {
    token
        .split_once('.')
        .and_then(|(t, _)| Uuid::parse_str(t).ok())
        .map(TenantId)
        .ok_or_else(no_invitation)
}

/// Runs `f` as `tenantry_app` in a transaction scoped to `tenant`, acting as `user` (see
/// the module documentation: the invitation, not a membership, admits the caller), refusing
/// statements that fan out as the request transaction does (`fan_out`).
async fn invitee_tx<'a, R, F>(
    pool: &PgPool,
    fan_out: FanOut,
    tenant: TenantId,
    user: UserId,
    f: F,
) -> AppResult<R>
where
    R: Send + 'a,
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, AppResult<R>>
        + Send
        + 'a,
{
    // Rendered from typed uuids only.
    let setup = format!(
        "SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'; \
         SET LOCAL app.user_id = '{}';{}",
        tenant.0,
        user.0,
        fan_out.set_local()
    );
    set_up_tx(pool, setup, f).await
}

/// A pending invitation as acceptance reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = invitations, check_for_backend(diesel::pg::Pg))]
struct Pending {
    id: Uuid,
    email: String,
    role: Role,
    invited_by: Uuid,
}

/// The pending, unexpired invitation of the current tenant with `hash` addressed to the
/// current user's email, locked; None otherwise.
async fn pending_for_me(
    c: &mut AsyncPgConnection,
    tenant: TenantId,
    user: UserId,
    hash: &str,
) -> AppResult<Option<Pending>> {
    let Some(pending) = invitations::table
        .filter(invitations::tenant_id.eq(tenant.0))
        .filter(invitations::token_hash.eq(hash))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::declined_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .select(Pending::as_select())
        .for_update()
        .first(c)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    // Row-level security shows the runtime role its own user (app.user_id).
    let mine: Option<String> = users::table
        .find(user.0)
        .select(users::email)
        .first(c)
        .await
        .optional()?;
    Ok(mine
        .filter(|email| email.to_lowercase() == pending.email.to_lowercase())
        .map(|_| pending))
}

impl Sessions {
    /// The pending, unexpired invitations addressed to `user`'s email, in live tenants,
    /// newest first.
    pub async fn my_invitations(&self, user: UserId) -> AppResult<Vec<MyInvitation>> {
        // The invitations addressed to one user by every tenant. Reading invitations by
        // address would go to every node on Citus; the directory (a global index,
        // `crate::db::directory`) says which tenants invited this address, and each
        // tenant's invitations are then read in that tenant.
        auth_tx(self.pool(), self.fan_out(), move |c| {
            async move {
                // A SET LOCAL (rendered from a typed uuid), not set_config(): on Citus the
                // policy is checked on the workers, and only SET LOCALs reach them. In a
                // batch of its own (Citus re-runs a SET's whole batch there).
                c.batch_execute(&format!("SET LOCAL app.user_id = '{}'", user.0))
                    .await?;
                let inviter = diesel::alias!(users as inviter);
                // The auth role's policy already limits rows to the user's own address;
                // the filter says so again for the reader (and the index).
                let own_email = || {
                    users::table
                        .filter(users::id.eq(user.0))
                        .select(lower(users::email))
                        .single_value()
                        .assume_not_null()
                };
                let inviting: Vec<Uuid> = invitation_directory::table
                    .inner_join(tenants::table.on(tenants::id.eq(invitation_directory::of_tenant)))
                    .filter(invitation_directory::email.eq(own_email()))
                    .filter(tenants::status.eq(TenantStatus::Active))
                    .select(tenants::id)
                    .order(tenants::id)
                    .limit(DIRECTORY_LIMIT)
                    .load(c)
                    .await?;
                // The invitations themselves, in each tenant (routed to its node): one read
                // per tenant, pipelined as `myTenants`' are (`super::my_tenants`).
                let shared: &AsyncPgConnection = c;
                let reads = inviting.iter().map(|&tenant| async move {
                    let mut conn = shared;
                    invitations::table
                        .inner_join(tenants::table)
                        .inner_join(
                            inviter.on(inviter.field(users::id).eq(invitations::invited_by)),
                        )
                        .filter(invitations::tenant_id.eq(tenant))
                        .filter(lower(invitations::email).eq(own_email()))
                        .filter(invitations::accepted_at.is_null())
                        .filter(invitations::declined_at.is_null())
                        .filter(invitations::revoked_at.is_null())
                        .filter(invitations::expires_at.gt(now))
                        .select((
                            tenants::id,
                            tenants::slug,
                            tenants::name,
                            invitations::role,
                            inviter.field(users::email),
                            invitations::created_at,
                            invitations::expires_at,
                        ))
                        .load::<MyInvitation>(&mut conn)
                        .await
                });
                let mut rows: Vec<MyInvitation> =
                    try_join_all(reads).await?.into_iter().flatten().collect();
                rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
                Ok(rows)
            }
            .scope_boxed()
        })
        .await
    }

    /// Accepts the invitation `token` as `user`: they become a member of its tenant.
    pub async fn accept_invitation(&self, user: UserId, token: &str) -> AppResult<MyTenant> {
        let tenant = token_tenant(token)?;
        let hash = sha256_hex(token);
        invitee_tx(self.pool(), self.fan_out(), tenant, user, move |c| {
            async move {
                let Some(invitation) = pending_for_me(c, tenant, user, &hash).await? else {
                    return Err(no_invitation());
                };
                // The tenant's own row is visible to the runtime role (app.tenant_id).
                let Some((slug, name, status, plan)) = tenants::table
                    .find(tenant.0)
                    .select((tenants::slug, tenants::name, tenants::status, tenants::plan))
                    .first::<(String, String, TenantStatus, Plan)>(c)
                    .await
                    .optional()?
                else {
                    return Err(no_invitation());
                };
                match status {
                    TenantStatus::Active => {}
                    TenantStatus::Suspended => {
                        return Err(AppError::new(
                            ErrorCode::TenantSuspended,
                            "the inviting tenant is suspended",
                        ))
                    }
                    TenantStatus::Deleted => return Err(no_invitation()),
                }
                let current: Option<Role> = memberships::table
                    .find((tenant.0, user.0))
                    .select(memberships::role)
                    .first(c)
                    .await
                    .optional()?;
                let role = match current {
                    // Already a member (joined some other way): the membership stays as it is.
                    Some(role) => role,
                    None => {
                        let inviter: Option<Role> = memberships::table
                            .find((tenant.0, invitation.invited_by))
                            .select(memberships::role)
                            .first(c)
                            .await
                            .optional()?;
                        // An inviter who has left can no longer vouch for anyone.
                        let Some(inviter) = inviter else {
                            return Err(no_invitation());
                        };
                        let count: i64 = memberships::table
                            .filter(memberships::tenant_id.eq(tenant.0))
                            .count()
                            .get_result(c)
                            .await?;
                        if !plan.quotas().members.has_room_for_one(count) {
                            return Err(AppError::new(
                                ErrorCode::QuotaExceeded,
                                "the inviting tenant has reached its members quota",
                            ));
                        }
                        let role = invitation.role.min(inviter);
                        // `tenant_id` is filled by the column default from the transaction.
                        diesel::insert_into(memberships::table)
                            .values((memberships::user_id.eq(user.0), memberships::role.eq(role)))
                            .execute(c)
                            .await?;
                        crate::db::directory::index_member(c, tenant.0, user.0).await?;
                        crate::db::notify::announce_tenancy(c, tenant.0).await?;
                        role
                    }
                };
                diesel::update(invitations::table.find((tenant.0, invitation.id)))
                    .set((
                        invitations::accepted_at.eq(now),
                        invitations::accepted_by.eq(user.0),
                    ))
                    .execute(c)
                    .await?;
                crate::db::directory::settle_invitation(c, tenant.0, &invitation.email).await?;
                Ok(MyTenant {
                    id: tenant.0,
                    slug,
                    name,
                    role: role.as_str().to_string(),
                })
            }
            .scope_boxed()
        })
        .await
    }

    /// Declines the invitation `token` as `user`: it can no longer be accepted.
    pub async fn decline_invitation(&self, user: UserId, token: &str) -> AppResult<()> {
        let tenant = token_tenant(token)?;
        let hash = sha256_hex(token);
        invitee_tx(self.pool(), self.fan_out(), tenant, user, move |c| {
            async move {
                let Some(invitation) = pending_for_me(c, tenant, user, &hash).await? else {
                    return Err(no_invitation());
                };
                diesel::update(invitations::table.find((tenant.0, invitation.id)))
                    .set(invitations::declined_at.eq(now))
                    .execute(c)
                    .await?;
                crate::db::directory::settle_invitation(c, tenant.0, &invitation.email).await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
    }
}
