//! Managing the current tenant's members: who may grant which role (downwards only) and
//! never leaving a tenant without an OWNER. New members come only through invitations they
//! accept ([`super::invitations`]). The GraphQL roots in [`super::graphql`] call these.

use super::model::{self};
use crate::auth::Role;
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::relay::{decode_typed_id, global_id};
use crate::graphql::request_tx;
use crate::tenancy::graphql::USER_KIND;
use async_graphql::{Context, Result, ID};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

/// A member of the current tenant.
#[derive(async_graphql::SimpleObject)]
pub struct TenantMember {
    /// The user's global id.
    pub id: ID,
    /// The user's email.
    pub email: String,
    /// The member's role.
    pub role: Role,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

impl From<model::MemberRow> for TenantMember {
    fn from(row: model::MemberRow) -> Self {
        Self {
            id: global_id(USER_KIND, row.user_id),
            email: row.email,
            role: row.role,
            joined_at: row.created_at,
        }
    }
}

/// Members are managed only downwards: nobody grants a role above their own built-in role
/// or changes a member who ranks above them (a custom role with `members:manage` does not
/// lift a VIEWER to ADMIN). OWNERs alone make or change OWNERs.
pub(super) fn outranks(
    caller: Role,
    granted: Option<Role>,
    current: Option<Role>,
) -> Result<(), AppError> {
    let refuse = |message: &str| Err(AppError::new(ErrorCode::Forbidden, message));
    if granted == Some(Role::Owner) && caller != Role::Owner {
        return refuse("only an OWNER can make an OWNER");
    }
    if current == Some(Role::Owner) && caller != Role::Owner {
        return refuse("only an OWNER can change an OWNER");
    }
    if granted.is_some_and(|r| r > caller) {
        return refuse("you cannot grant a role above your own");
    }
    if current.is_some_and(|r| r > caller) {
        return refuse("you cannot change a member whose role is above your own");
    }
    Ok(())
}

/// The refusal to leave a tenant without an OWNER.
fn last_owner() -> AppError {
    AppError::new(
        ErrorCode::Conflict,
        "the last OWNER cannot be removed or demoted",
    )
}

/// Changes a member's role (`Some`) or removes them (`None`), never leaving the tenant
/// without an OWNER.
pub(super) async fn change_member(
    ctx: &Context<'_>,
    id: ID,
    role: Option<Role>,
) -> Result<Option<TenantMember>> {
    let user = decode_typed_id(&id, USER_KIND, "id").gql()?;
    let tx = request_tx(ctx)?;
    let caller = tx.member().await.gql()?;
    outranks(caller.role, role, None).gql()?;
    let caller_role = caller.role;
    let tenant = caller.tenant_id;
    let row = tx
        .run(move |c| {
            async move {
                let (current, owners) = model::role_and_owners(c, tenant, user).await?;
                let Some(current) = current else {
                    return Err(AppError::not_found("member"));
                };
                outranks(caller_role, None, Some(current))?;
                if current == Role::Owner && owners <= 1 && role != Some(Role::Owner) {
                    return Err(last_owner());
                }
                match role {
                    Some(role) => {
                        model::upsert_member(c, tenant, user, role).await?;
                        Ok(model::get_member(c, tenant, user).await?)
                    }
                    None => {
                        model::remove_member(c, tenant, user).await?;
                        Ok::<_, AppError>(None)
                    }
                }
            }
            .scope_boxed()
        })
        .await
        .gql()?;
    Ok(row.map(TenantMember::from))
}
