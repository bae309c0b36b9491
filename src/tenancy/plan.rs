//! What compiled read plans serve of the tenancy types (see
//! [`crate::graphql::plannable`]): `Tenant`, its `features`, `User`, `Me` and
//! `TenantMember`, `TenantSettings` and `MyTenant` (the caller's tenants, from the auth
//! path), their scalars written here as the resolvers in [`super::graphql`],
//! [`super::members`], [`super::settings`] and [`super::sessions`] render them. A tenant's
//! member count, features, quotas and settings and the caller's user and tenant are loaded by
//! the plan module.

use super::graphql::{Me, TenantFeature, TENANT_KIND, USER_KIND};
use super::invitations::Invitation;
use super::model::{MemberRow, TenantRow, TenantStatsRow, UserRow};
use super::settings::TenantSettings;
use crate::auth::invitations::MyInvitation;
use crate::auth::my_tenants::MyTenant;
use crate::auth::plans::Quotas;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for TenantRow {
    const TYPE: &'static str = "Tenant";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| out.global_id(TENANT_KIND, row.id)),
        FieldPlan::scalar("slug", "String!", |row, out| out.string(&row.slug)),
        FieldPlan::scalar("name", "String!", |row, out| out.string(&row.name)),
        FieldPlan::scalar("status", "String!", |row, out| {
            out.string(row.status.as_str())
        }),
        FieldPlan::scalar("plan", "Plan!", |row, out| out.enum_value(row.plan)),
        FieldPlan::nested("quotas", "Quotas!"),
        FieldPlan::nested("settings", "TenantSettings!"),
        FieldPlan::nested("features", "[TenantFeature!]!"),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::nested("memberCount", "Int!"),
    ];
}

impl Planned for TenantFeature {
    const TYPE: &'static str = "TenantFeature";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("feature", "Feature!", |row, out| {
            out.enum_value(row.feature)
        }),
        FieldPlan::scalar("included", "Boolean!", |row, out| out.boolean(row.included)),
        FieldPlan::scalar("enabled", "Boolean!", |row, out| out.boolean(row.enabled)),
    ];
}

impl Planned for UserRow {
    const TYPE: &'static str = "User";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| out.global_id(USER_KIND, row.id)),
        FieldPlan::scalar("email", "String!", |row, out| out.string(&row.email)),
        FieldPlan::scalar("displayName", "String", |row, out| {
            out.optional(row.display_name.as_deref())
        }),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
    ];
}

impl Planned for Me {
    const TYPE: &'static str = "Me";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::nested("user", "User!"),
        FieldPlan::scalar("role", "Role!", |me, out| out.enum_value(me.role)),
        FieldPlan::nested("tenant", "Tenant!"),
    ];
}

impl Planned for MemberRow {
    const TYPE: &'static str = "TenantMember";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| {
            out.global_id(USER_KIND, row.user_id)
        }),
        FieldPlan::scalar("email", "String!", |row, out| out.string(&row.email)),
        FieldPlan::scalar("role", "Role!", |row, out| out.enum_value(row.role)),
        FieldPlan::scalar("joinedAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
    ];
}

impl Planned for MyTenant {
    const TYPE: &'static str = "MyTenant";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "UUID!", |row, out| out.string(&row.id.to_string())),
        FieldPlan::scalar("slug", "String!", |row, out| out.string(&row.slug)),
        FieldPlan::scalar("name", "String!", |row, out| out.string(&row.name)),
        FieldPlan::scalar("role", "String!", |row, out| out.string(&row.role)),
    ];
}

impl Planned for TenantSettings {
    const TYPE: &'static str = "TenantSettings";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("passwordMinLength", "Int!", |s, out| {
            out.int(s.password_min_length.into())
        }),
        FieldPlan::scalar("sessionTimeoutMinutes", "Int!", |s, out| {
            out.int(s.session_timeout_minutes.into())
        }),
        FieldPlan::scalar("defaultCurrency", "String!", |s, out| {
            out.string(&s.default_currency)
        }),
        FieldPlan::scalar("timezone", "String!", |s, out| out.string(&s.timezone)),
        FieldPlan::scalar("locale", "String!", |s, out| out.string(&s.locale)),
        FieldPlan::scalar("brandColor", "String", |s, out| {
            out.optional(s.brand_color.as_deref())
        }),
        FieldPlan::scalar("logoUrl", "String", |s, out| {
            out.optional(s.logo_url.as_deref())
        }),
        FieldPlan::scalar("webhookSecretSet", "Boolean!", |s, out| {
            out.boolean(s.webhook_secret_set)
        }),
    ];
}

/// A plan's limits, as `Tenant.quotas` shows them (`None`: unlimited).
impl Planned for Quotas {
    const TYPE: &'static str = "Quotas";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("members", "Int", |q, out| out.optional_int(q.members)),
        FieldPlan::scalar("contacts", "Int", |q, out| out.optional_int(q.contacts)),
        FieldPlan::scalar("requestsPerMinute", "Int", |q, out| {
            out.optional_int(q.requests_per_minute)
        }),
        FieldPlan::scalar("subscriptions", "Int", |q, out| {
            out.optional_int(q.subscriptions)
        }),
        FieldPlan::scalar("auditRetentionDays", "Int", |q, out| {
            out.optional_int(q.audit_retention_days)
        }),
        FieldPlan::scalar("monthlyCostBudget", "Int", |q, out| {
            out.optional_int(q.monthly_cost_budget)
        }),
    ];
}

/// The counts of `tenantStats`.
impl Planned for TenantStatsRow {
    const TYPE: &'static str = "TenantStats";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("contacts", "Int!", |row, out| out.int(row.contacts)),
        FieldPlan::scalar("conversations", "Int!", |row, out| {
            out.int(row.conversations)
        }),
        FieldPlan::scalar("openConversations", "Int!", |row, out| {
            out.int(row.open_conversations)
        }),
        FieldPlan::scalar("messages", "Int!", |row, out| out.int(row.messages)),
    ];
}

/// A pending invitation of the tenant (`invitations`), as its resolver builds it.
impl Planned for Invitation {
    const TYPE: &'static str = "Invitation";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| out.string(row.id.as_str())),
        FieldPlan::scalar("email", "String!", |row, out| out.string(&row.email)),
        FieldPlan::scalar("role", "Role!", |row, out| out.enum_value(row.role)),
        FieldPlan::scalar("invitedBy", "String", |row, out| {
            out.optional(row.invited_by.as_deref())
        }),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::scalar("expiresAt", "DateTime!", |row, out| {
            out.timestamp(&row.expires_at)
        }),
    ];
}

/// An invitation waiting for the caller (`myInvitations`, from the auth path).
impl Planned for MyInvitation {
    const TYPE: &'static str = "MyInvitation";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("tenantId", "UUID!", |row, out| {
            out.string(&row.tenant_id.to_string())
        }),
        FieldPlan::scalar("tenantSlug", "String!", |row, out| {
            out.string(&row.tenant_slug)
        }),
        FieldPlan::scalar("tenantName", "String!", |row, out| {
            out.string(&row.tenant_name)
        }),
        FieldPlan::scalar("role", "Role!", |row, out| out.enum_value(row.role)),
        FieldPlan::scalar("invitedBy", "String!", |row, out| {
            out.string(&row.invited_by)
        }),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::scalar("expiresAt", "DateTime!", |row, out| {
            out.timestamp(&row.expires_at)
        }),
    ];
}
