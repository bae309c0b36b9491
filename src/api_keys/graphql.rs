//! GraphQL types and roots of API keys.

use super::model::{self, ApiKeyRow};
use super::verify::new_api_key;
use crate::auth::plans::{Feature, Permission};
use crate::auth::Role;
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::guards::{requires_feature, requires_permission};
use crate::graphql::relay::{decode_typed_id, global_id};
use crate::graphql::request_tx;
use crate::validate;
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

/// The global-id type name of API keys.
pub const API_KEY_KIND: &str = "ApiKey";

/// An API key (its secret is shown only once, at creation).
pub struct ApiKey(pub ApiKeyRow);

#[Object]
impl ApiKey {
    /// Opaque global id.
    async fn id(&self) -> ID {
        global_id(API_KEY_KIND, self.0.id)
    }
    /// What it is for.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The highest role it acts with.
    async fn role(&self) -> Role {
        self.0.role
    }
    /// When it stops working, if ever.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// When it was revoked, if it was.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Its own limit of requests per minute, if it has one (the tenant's plan rate applies
    /// as well).
    async fn requests_per_minute(&self) -> Option<i32> {
        self.0.requests_per_minute
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The key.
    pub api_key: ApiKey,
    /// The bearer secret: store it now, it cannot be shown again.
    pub secret: String,
}

/// API key queries.
#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The tenant's API keys.
    #[graphql(
        directive = requires_feature::apply(Feature::ApiKeys),
        directive = requires_permission::apply(Permission::TenantManage)
    )]
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        Ok(tx
            .run(move |c| async move { model::list(c, tenant).await }.scope_boxed())
            .await
            .gql()?
            .into_iter()
            .map(ApiKey)
            .collect())
    }
}

/// API key mutations.
#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates a key acting with at most `role` (not above the creator's own role) until
    /// `expiresAt`, limited to `requestsPerMinute` if given (1 to 1,000,000; the tenant's
    /// plan rate applies as well). The secret is in the answer and nowhere else.
    #[graphql(
        directive = requires_feature::apply(Feature::ApiKeys),
        directive = requires_permission::apply(Permission::TenantManage)
    )]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
        requests_per_minute: Option<i32>,
    ) -> Result<CreatedApiKey> {
        let name = validate::required_text("name", &name, 100).gql()?;
        if requests_per_minute.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            return Err(
                AppError::bad_input("requestsPerMinute", "must be between 1 and 1000000")
                    .into_graphql(),
            );
        }
        if expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AppError::bad_input("expiresAt", "must be in the future").into_graphql());
        }
        let tx = request_tx(ctx)?;
        let member = tx.member().await.gql()?;
        if role > member.role {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                format!(
                    "a key cannot have a role above yours ({})",
                    member.role.as_str()
                ),
            )
            .into_graphql());
        }
        let (secret, hash) = new_api_key(member.tenant_id);
        let row = tx
            .run(move |c| {
                async move {
                    model::insert(c, &name, role, &hash, expires_at, requests_per_minute).await
                }
                .scope_boxed()
            })
            .await
            .gql()?;
        Ok(CreatedApiKey {
            api_key: ApiKey(row),
            secret,
        })
    }

    /// Revokes a key at once; another tenant's key is NOT_FOUND.
    #[graphql(
        directive = requires_feature::apply(Feature::ApiKeys),
        directive = requires_permission::apply(Permission::TenantManage)
    )]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        let id = decode_typed_id(&id, API_KEY_KIND, "id").gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| async move { model::revoke(c, tenant, id).await }.scope_boxed())
            .await
            .gql()?
            .map(ApiKey)
            .ok_or_else(|| AppError::not_found("API key").into_graphql())
    }
}
