//! GraphQL roots of the auth path: login, refresh, logout, the caller's tenants, switching
//! tenant, and the invitee's side of invitations. They use [`Sessions`], never the
//! request's tenant transaction (no tenant is chosen yet, or the caller is not yet a member
//! of it), and carry no guard directive: login and refresh are how a caller gets
//! credentials; the others need only a signed-in user's token, bound to any tenant or none.

use crate::auth::invitations::MyInvitation;
use crate::auth::my_tenants::MyTenant;
use crate::auth::session::{LoginResult, Sessions, TokenPair};
use crate::error::GqlResultExt;
use crate::graphql::{data, request_tx};
use async_graphql::{Context, Object, Result};

fn sessions<'a>(ctx: &Context<'a>) -> Result<&'a Sessions> {
    data::<Sessions>(ctx)
}

fn caller(ctx: &Context<'_>) -> Result<crate::ids::UserId> {
    request_tx(ctx)?.admission().signed_in_user().gql()
}

/// Queries of the auth path.
#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The tenants the caller belongs to (any valid token, whatever its tenant).
    async fn my_tenants(&self, ctx: &Context<'_>) -> Result<Vec<MyTenant>> {
        sessions(ctx)?.my_tenants(caller(ctx)?).await.gql()
    }

    /// The pending invitations addressed to the caller's email (any valid token, whatever
    /// its tenant), newest first. Accept or decline one with the token its inviter sent.
    async fn my_invitations(&self, ctx: &Context<'_>) -> Result<Vec<MyInvitation>> {
        sessions(ctx)?.my_invitations(caller(ctx)?).await.gql()
    }
}

/// Mutations of the auth path.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Logs in with email and password: an access token and a refresh token for `tenant`
    /// (slug or id; default: the tenant you last used). Without either, the access token is
    /// bound to no tenant and `tenants` lists yours: choose one with `switchTenant`. Wrong
    /// email or password are the same UNAUTHENTICATED; repeated failures are RATE_LIMITED
    /// per client address, and slowed per account for addresses that keep failing.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        tenant: Option<String>,
    ) -> Result<LoginResult> {
        sessions(ctx)?
            .login(&email, &password, tenant.as_deref())
            .await
            .gql()
    }

    /// Exchanges a refresh token (once) for a new pair. Presenting a used token again
    /// revokes every token of its login.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<TokenPair> {
        sessions(ctx)?.refresh(&refresh_token).await.gql()
    }

    /// Revokes the refresh token and every token of its login.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        sessions(ctx)?.logout(&refresh_token).await.gql()?;
        Ok(true)
    }

    /// Accepts an invitation with its token: the caller joins its tenant (with the offered
    /// role, at most the inviter's current one). Only the user whose email was invited can;
    /// anything else is NOT_FOUND. Then `switchTenant` to it.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> Result<MyTenant> {
        sessions(ctx)?
            .accept_invitation(caller(ctx)?, &token)
            .await
            .gql()
    }

    /// Declines an invitation with its token: it can no longer be accepted.
    async fn decline_invitation(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        sessions(ctx)?
            .decline_invitation(caller(ctx)?, &token)
            .await
            .gql()?;
        Ok(true)
    }

    /// A token pair for another tenant the caller belongs to (slug or id); it becomes the
    /// tenant a login without one uses.
    async fn switch_tenant(&self, ctx: &Context<'_>, tenant: String) -> Result<TokenPair> {
        sessions(ctx)?
            .switch_tenant(caller(ctx)?, &tenant)
            .await
            .gql()
    }
}
