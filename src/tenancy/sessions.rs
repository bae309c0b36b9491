//! GraphQL roots of the auth path: login, refresh, logout, the caller's tenants, switching
//! tenant. They use [`Sessions`], never the request's tenant transaction (no tenant is
//! chosen yet), and carry no guard directive: login and refresh are how a caller gets
//! credentials; the others need only a valid token.

use crate::auth::session::{MyTenant, Sessions, TokenPair};
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
}

/// Mutations of the auth path.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Logs in with email and password: an access token for `tenant` (slug or id; default:
    /// the oldest membership) and a refresh token. Wrong email or password are the same
    /// UNAUTHENTICATED.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        tenant: Option<String>,
    ) -> Result<TokenPair> {
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

    /// A token pair for another tenant the caller belongs to (slug or id).
    async fn switch_tenant(&self, ctx: &Context<'_>, tenant: String) -> Result<TokenPair> {
        sessions(ctx)?
            .switch_tenant(caller(ctx)?, &tenant)
            .await
            .gql()
    }
}
