//! GraphQL types and roots for the current tenant and the current user.

use super::invitations::{
    invite_member, list_invitations, revoke_invitation, CreatedInvitation, Invitation,
};
use super::members::{change_member, TenantMember};
use super::model::{self, TenantRow, UserRow};
use crate::auth::plans::{Feature, Permission, Plan, Quotas};
use crate::auth::Role;
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::guards::{requires_permission, requires_role};
use crate::graphql::relay::global_id;
use crate::graphql::request_tx;
use crate::tenancy::settings::{SecretBox, TenantSettings, UpdateTenantSettingsInput};
use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

/// The global-id type name of tenants.
pub const TENANT_KIND: &str = "Tenant";
/// The global-id type name of users.
pub const USER_KIND: &str = "User";

/// An organisation using Tenantry.
pub struct Tenant(pub TenantRow);

#[Object]
impl Tenant {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id(TENANT_KIND, self.0.id)
    }
    /// URL-safe unique name.
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
    /// The plan's limits.
    async fn quotas(&self) -> Quotas {
        self.0.plan.quotas()
    }
    /// The tenant's settings: its plan's defaults with its own overrides.
    async fn settings(&self) -> TenantSettings {
        TenantSettings::resolve(self.0.plan, &self.0.settings)
    }
    /// Every feature: whether the plan includes it and whether it is enabled.
    async fn features(&self) -> Vec<TenantFeature> {
        tenant_features(&self.0)
    }
    /// When the tenant was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// How many members the tenant has.
    async fn member_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let tenant = self.0.id.into();
        request_tx(ctx)?
            .run(move |c| async move { model::count_members(c, tenant).await }.scope_boxed())
            .await
            .gql()
    }
}

/// Every feature as `tenant` has it (`Tenant.features`, here and in compiled plans).
pub fn tenant_features(tenant: &TenantRow) -> Vec<TenantFeature> {
    let plan = tenant.plan;
    let disabled = disabled_features(&tenant.settings);
    Feature::ALL
        .iter()
        .copied()
        .map(|feature| TenantFeature {
            feature,
            included: plan.features().contains(feature),
            enabled: plan.features().without(&disabled).contains(feature),
        })
        .collect()
}

/// A feature as a tenant has it.
#[derive(async_graphql::SimpleObject)]
pub struct TenantFeature {
    /// The feature.
    pub feature: Feature,
    /// Whether the tenant's plan includes it.
    pub included: bool,
    /// Whether it is on (included, and not switched off by the tenant).
    pub enabled: bool,
}

/// The features a tenant switched off (`settings.disabled_features`).
pub fn disabled_features(settings: &serde_json::Value) -> Vec<Feature> {
    settings["disabled_features"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().and_then(Feature::parse))
                .collect()
        })
        .unwrap_or_default()
}

/// Mutations of the current tenant's own settings and members.
#[derive(Default)]
pub struct TenancyMutation;

#[Object]
impl TenancyMutation {
    /// Changes the tenant's settings (validated; secrets are stored encrypted and never
    /// returned).
    #[graphql(directive = requires_permission::apply(Permission::TenantManage))]
    async fn update_tenant_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateTenantSettingsInput,
    ) -> Result<TenantSettings> {
        let tx = request_tx(ctx)?;
        let member = tx.member().await.gql()?;
        let secrets = crate::graphql::data::<SecretBox>(ctx)?;
        let patch = input.into_patch(member.tenant_id, secrets).gql()?;
        let tenant = member.tenant_id;
        let row = tx
            .run(move |c| {
                async move { model::patch_settings(c, tenant, &patch).await }.scope_boxed()
            })
            .await
            .gql()?
            .ok_or_else(|| AppError::not_found("tenant").into_graphql())?;
        Ok(TenantSettings::resolve(member.plan, &row.settings))
    }

    /// Invites `email` to join with `role` (at most your own): a pending invitation with a
    /// single-use token, shown once in the answer, for the invitee to accept (only then are
    /// they a member) or decline. The answer is the same whether the address has an account
    /// or not; inviting an address again replaces its pending invitation. Members and
    /// pending invitations together stay within the members quota.
    #[graphql(directive = requires_permission::apply(Permission::MembersManage))]
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: Role,
    ) -> Result<CreatedInvitation> {
        invite_member(ctx, email, role).await
    }

    /// Revokes a pending invitation (its token stops working at once).
    #[graphql(directive = requires_permission::apply(Permission::MembersManage))]
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        revoke_invitation(ctx, id).await
    }

    /// Changes a member's role; the last OWNER cannot be demoted.
    #[graphql(directive = requires_permission::apply(Permission::MembersManage))]
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        role: Role,
    ) -> Result<TenantMember> {
        change_member(ctx, id, Some(role))
            .await?
            .ok_or_else(|| AppError::not_found("member").into_graphql())
    }

    /// Removes a member (their tokens stop working at once); the last OWNER cannot be removed.
    #[graphql(directive = requires_permission::apply(Permission::MembersManage))]
    async fn remove_member(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        change_member(ctx, id.clone(), None).await?;
        Ok(id)
    }

    /// Switches a module of the tenant's plan on or off. A feature outside the plan cannot
    /// be switched on (FEATURE_NOT_ENABLED).
    #[graphql(directive = requires_permission::apply(Permission::TenantManage))]
    async fn set_feature_enabled(
        &self,
        ctx: &Context<'_>,
        feature: Feature,
        enabled: bool,
    ) -> Result<Tenant> {
        let tx = request_tx(ctx)?;
        let member = tx.member().await.gql()?;
        if enabled && !member.plan.features().contains(feature) {
            return Err(AppError::new(
                ErrorCode::FeatureNotEnabled,
                format!(
                    "the {} feature is not part of the {} plan",
                    feature.as_str(),
                    member.plan.as_str()
                ),
            )
            .into_graphql());
        }
        let name = feature.as_str();
        let tenant = member.tenant_id;
        tx.run(move |c| {
            async move { model::set_feature_disabled(c, tenant, name, !enabled).await }
                .scope_boxed()
        })
        .await
        .gql()?
        .map(Tenant)
        .ok_or_else(|| AppError::not_found("tenant").into_graphql())
    }
}

/// A person who can sign in; the same user may belong to several tenants.
pub struct User(pub UserRow);

#[Object]
impl User {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id(USER_KIND, self.0.id)
    }
    /// Email address.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Display name.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The caller: who they are and their role in the current tenant.
pub struct Me {
    /// The calling user.
    pub user: UserRow,
    /// Their role in the current tenant.
    pub role: Role,
}

#[Object]
impl Me {
    /// The calling user.
    async fn user(&self) -> User {
        User(self.user.clone())
    }
    /// The caller's role in the current tenant (from the membership, not the token).
    async fn role(&self) -> Role {
        self.role
    }
    /// The current tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        load_tenant(ctx).await
    }
}

async fn load_tenant(ctx: &Context<'_>) -> Result<Tenant> {
    current_tenant(ctx)
        .await?
        .map(Tenant)
        .ok_or_else(|| AppError::not_found("tenant").into_graphql())
}

/// The row of the request's tenant, if its transaction sees it (`tenant`, `node(id:)`).
pub(crate) async fn current_tenant(ctx: &Context<'_>) -> Result<Option<model::TenantRow>> {
    let tx = request_tx(ctx)?;
    let tenant = tx.tenant().await.gql()?;
    tx.run(move |c| async move { model::current_tenant(c, tenant).await }.scope_boxed())
        .await
        .gql()
}

/// Counts of a tenant's CRM.
#[derive(async_graphql::SimpleObject)]
pub struct TenantStats {
    /// Contacts.
    pub contacts: i64,
    /// Conversations.
    pub conversations: i64,
    /// Conversations in status OPEN.
    pub open_conversations: i64,
    /// Messages.
    pub messages: i64,
}

/// Queries about the caller and the current tenant.
#[derive(Default)]
pub struct TenancyQuery;

#[Object]
impl TenancyQuery {
    /// The caller, as a member of the current tenant.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let tx = request_tx(ctx)?;
        let member = tx.member().await.gql()?;
        let user_id = member.user_id.0;
        let user = tx
            .run(move |c| async move { model::get_user(c, user_id).await }.scope_boxed())
            .await
            .gql()?
            .ok_or_else(|| AppError::not_found("user").into_graphql())?;
        Ok(Me {
            user,
            role: member.role,
        })
    }

    /// Counts of the current tenant's CRM.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn tenant_stats(&self, ctx: &Context<'_>) -> Result<TenantStats> {
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        let row = tx
            .run(move |c| async move { model::tenant_stats(c, tenant).await }.scope_boxed())
            .await
            .gql()?;
        Ok(TenantStats {
            contacts: row.contacts,
            conversations: row.conversations,
            open_conversations: row.open_conversations,
            messages: row.messages,
        })
    }

    /// The current tenant's settings (plan defaults with the tenant's overrides).
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn tenant_settings(&self, ctx: &Context<'_>) -> Result<TenantSettings> {
        let tenant = load_tenant(ctx).await?;
        Ok(TenantSettings::resolve(tenant.0.plan, &tenant.0.settings))
    }

    /// The current tenant's members.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<TenantMember>> {
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        Ok(tx
            .run(move |c| async move { model::list_members(c, tenant).await }.scope_boxed())
            .await
            .gql()?
            .into_iter()
            .map(TenantMember::from)
            .collect())
    }

    /// The current tenant's pending invitations, newest first.
    #[graphql(directive = requires_permission::apply(Permission::MembersManage))]
    async fn invitations(&self, ctx: &Context<'_>) -> Result<Vec<Invitation>> {
        let tx = request_tx(ctx)?;
        let tenant = tx.member().await.gql()?.tenant_id;
        Ok(tx
            .run(move |c| async move { list_invitations(c, tenant).await }.scope_boxed())
            .await
            .gql()?
            .into_iter()
            .map(Invitation::from)
            .collect())
    }

    /// The current tenant (named by the token or the tenant headers).
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        load_tenant(ctx).await
    }
}
