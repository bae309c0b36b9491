//! Tenant lifecycle for platform administrators, over GraphQL.
//!
//! The platform path is reachable from a resolver only through `platform_admin`, which
//! first checks that the caller is a platform administrator (a flag on the user, not a
//! tenant role). The door is a private-field wrapper in the schema data, so no other
//! resolver can take the pool by accident.

use crate::audit::graphql::{connection, page_args, AuditConnection, AuditLogFilter};
use crate::auth::plans::Plan;
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::relay::global_id;
use crate::graphql::request_tx;
use crate::platform::lifecycle::Lifecycle;
use crate::platform::model::Platform;
use crate::tenancy::model::TenantRow;
use crate::usage::graphql::{platform_connection, PlatformUsageConnection, TenantCursor};
use async_graphql::connection::CursorType;
use async_graphql::{Context, Object, Result, ID};

/// The platform path, as schema data; opened only by `platform_admin`.
pub struct PlatformDoor(Platform);

impl PlatformDoor {
    /// Wraps the platform path.
    pub fn new(platform: Platform) -> Self {
        Self(platform)
    }
}

/// The platform path, if the caller is a platform administrator; else FORBIDDEN.
pub(crate) async fn platform_admin<'a>(ctx: &Context<'a>) -> Result<&'a Platform> {
    let user = request_tx(ctx)?.admission().signed_in_user().gql()?;
    let door = crate::graphql::data::<PlatformDoor>(ctx)?;
    if !door.0.is_platform_admin(user).await.gql()? {
        return Err(
            AppError::new(ErrorCode::Forbidden, "platform administrators only").into_graphql(),
        );
    }
    tracing::info!(target: "platform", user_id = %user, field = %ctx.field().name(), "platform operation");
    Ok(&door.0)
}

/// A tenant as platform administrators see it.
pub struct PlatformTenant(pub TenantRow);

#[Object]
impl PlatformTenant {
    /// Opaque global id.
    async fn id(&self) -> ID {
        global_id(crate::tenancy::graphql::TENANT_KIND, self.0.id)
    }
    /// Slug.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// `active`, `suspended` or `deleted`.
    async fn status(&self) -> &str {
        self.0.status.as_str()
    }
    /// The plan.
    async fn plan(&self) -> Plan {
        self.0.plan
    }
}

/// Platform queries (administrators only).
#[derive(Default)]
pub struct PlatformQuery;

#[Object]
impl PlatformQuery {
    /// Every tenant. Platform administrators only.
    async fn platform_tenants(&self, ctx: &Context<'_>) -> Result<Vec<PlatformTenant>> {
        Ok(platform_admin(ctx)
            .await?
            .list_tenants()
            .await
            .gql()?
            .into_iter()
            .map(PlatformTenant)
            .collect())
    }

    /// The platform audit log, newest first: every change to tenants (create, suspend,
    /// delete, plan change, purge, settings) and users, written by the database.
    /// Platform administrators only.
    #[graphql(complexity = "crate::graphql::relay::page_complexity(first, None, child_complexity)")]
    async fn platform_audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditLogFilter>,
    ) -> Result<AuditConnection> {
        let platform = platform_admin(ctx).await?;
        let (first, after) = page_args(ctx, first, after)?;
        let filter = filter.unwrap_or_default().validate().gql()?;
        let rows = platform
            .audit_log(&filter, after, first as i64 + 1)
            .await
            .gql()?;
        Ok(connection(rows, first, after.is_some()))
    }

    /// Every tenant's usage summed from `from` to `to` (UTC days, inclusive, at most 366),
    /// tenants with no requests in the range left out, by tenant id. Platform
    /// administrators only.
    #[graphql(complexity = "crate::graphql::relay::page_complexity(first, None, child_complexity)")]
    async fn platform_usage(
        &self,
        ctx: &Context<'_>,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlatformUsageConnection> {
        let platform = platform_admin(ctx).await?;
        crate::usage::graphql::validate_range(from, to).gql()?;
        let (first, _) = page_args(ctx, first, None)?;
        let after = match after {
            None => None,
            Some(s) => Some(
                TenantCursor::decode_cursor(&s)
                    .map_err(|e| AppError::bad_input("after", e).into_graphql())?
                    .0,
            ),
        };
        let rows = platform
            .usage_page(from, to, after, first as i64 + 1)
            .await
            .gql()?;
        Ok(platform_connection(rows, first, after.is_some()))
    }
}

/// Platform mutations (administrators only). `tenant` arguments take a slug or an id.
#[derive(Default)]
pub struct PlatformMutation;

#[Object]
impl PlatformMutation {
    /// Creates a tenant with its owner (an existing user or a new one) on a plan, all or
    /// nothing. Platform administrators only.
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        slug: String,
        name: String,
        #[graphql(default_with = "Plan::Basic")] plan: Plan,
        owner_email: String,
    ) -> Result<PlatformTenant> {
        let (tenant, _) = platform_admin(ctx)
            .await?
            .provision_tenant(&slug, &name, plan, &owner_email)
            .await
            .gql()?;
        Ok(PlatformTenant(tenant))
    }

    /// Renames a tenant. Platform administrators only.
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        name: String,
    ) -> Result<PlatformTenant> {
        Ok(PlatformTenant(
            platform_admin(ctx)
                .await?
                .rename_tenant(&tenant, &name)
                .await
                .gql()?,
        ))
    }

    /// Suspends a tenant: its requests get TENANT_SUSPENDED at once. Platform administrators only.
    async fn suspend_tenant(&self, ctx: &Context<'_>, tenant: String) -> Result<PlatformTenant> {
        lifecycle(ctx, &tenant, Lifecycle::Suspend).await
    }

    /// Reactivates a suspended tenant. Platform administrators only.
    async fn reactivate_tenant(&self, ctx: &Context<'_>, tenant: String) -> Result<PlatformTenant> {
        lifecycle(ctx, &tenant, Lifecycle::Reactivate).await
    }

    /// Soft-deletes a tenant (purge with `tenantry tenant purge`). Platform administrators only.
    async fn delete_tenant(&self, ctx: &Context<'_>, tenant: String) -> Result<PlatformTenant> {
        lifecycle(ctx, &tenant, Lifecycle::Delete).await
    }

    /// Moves a tenant to another plan; QUOTA_EXCEEDED names the quota a downgrade would
    /// break. Platform administrators only.
    async fn change_plan(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        plan: Plan,
    ) -> Result<PlatformTenant> {
        let platform = platform_admin(ctx).await?;
        platform.change_plan(&tenant, plan).await.gql()?;
        Ok(PlatformTenant(platform.find_tenant(&tenant).await.gql()?))
    }
}

async fn lifecycle(ctx: &Context<'_>, tenant: &str, change: Lifecycle) -> Result<PlatformTenant> {
    Ok(PlatformTenant(
        platform_admin(ctx)
            .await?
            .set_lifecycle(tenant, change)
            .await
            .gql()?,
    ))
}
