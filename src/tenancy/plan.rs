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
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.global_id(TENANT_KIND, row.id),
        },
        FieldPlan::Scalar {
            name: "slug",
            ty: "String!",
            write: |row, out| out.string(&row.slug),
        },
        FieldPlan::Scalar {
            name: "name",
            ty: "String!",
            write: |row, out| out.string(&row.name),
        },
        FieldPlan::Scalar {
            name: "status",
            ty: "String!",
            write: |row, out| out.string(row.status.as_str()),
        },
        FieldPlan::Scalar {
            name: "plan",
            ty: "Plan!",
            write: |row, out| out.enum_value(row.plan),
        },
        FieldPlan::Nested {
            name: "quotas",
            ty: "Quotas!",
        },
        FieldPlan::Nested {
            name: "settings",
            ty: "TenantSettings!",
        },
        FieldPlan::Nested {
            name: "features",
            ty: "[TenantFeature!]!",
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
        FieldPlan::Nested {
            name: "memberCount",
            ty: "Int!",
        },
    ];
}

impl Planned for TenantFeature {
    const TYPE: &'static str = "TenantFeature";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "feature",
            ty: "Feature!",
            write: |row, out| out.enum_value(row.feature),
        },
        FieldPlan::Scalar {
            name: "included",
            ty: "Boolean!",
            write: |row, out| out.boolean(row.included),
        },
        FieldPlan::Scalar {
            name: "enabled",
            ty: "Boolean!",
            write: |row, out| out.boolean(row.enabled),
        },
    ];
}

impl Planned for UserRow {
    const TYPE: &'static str = "User";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.global_id(USER_KIND, row.id),
        },
        FieldPlan::Scalar {
            name: "email",
            ty: "String!",
            write: |row, out| out.string(&row.email),
        },
        FieldPlan::Scalar {
            name: "displayName",
            ty: "String",
            write: |row, out| out.optional(row.display_name.as_deref()),
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
    ];
}

impl Planned for Me {
    const TYPE: &'static str = "Me";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Nested {
            name: "user",
            ty: "User!",
        },
        FieldPlan::Scalar {
            name: "role",
            ty: "Role!",
            write: |me, out| out.enum_value(me.role),
        },
        FieldPlan::Nested {
            name: "tenant",
            ty: "Tenant!",
        },
    ];
}

impl Planned for MemberRow {
    const TYPE: &'static str = "TenantMember";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.global_id(USER_KIND, row.user_id),
        },
        FieldPlan::Scalar {
            name: "email",
            ty: "String!",
            write: |row, out| out.string(&row.email),
        },
        FieldPlan::Scalar {
            name: "role",
            ty: "Role!",
            write: |row, out| out.enum_value(row.role),
        },
        FieldPlan::Scalar {
            name: "joinedAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
    ];
}

impl Planned for MyTenant {
    const TYPE: &'static str = "MyTenant";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "UUID!",
            write: |row, out| out.string(&row.id.to_string()),
        },
        FieldPlan::Scalar {
            name: "slug",
            ty: "String!",
            write: |row, out| out.string(&row.slug),
        },
        FieldPlan::Scalar {
            name: "name",
            ty: "String!",
            write: |row, out| out.string(&row.name),
        },
        FieldPlan::Scalar {
            name: "role",
            ty: "String!",
            write: |row, out| out.string(&row.role),
        },
    ];
}

impl Planned for TenantSettings {
    const TYPE: &'static str = "TenantSettings";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "passwordMinLength",
            ty: "Int!",
            write: |s, out| out.int(s.password_min_length.into()),
        },
        FieldPlan::Scalar {
            name: "sessionTimeoutMinutes",
            ty: "Int!",
            write: |s, out| out.int(s.session_timeout_minutes.into()),
        },
        FieldPlan::Scalar {
            name: "defaultCurrency",
            ty: "String!",
            write: |s, out| out.string(&s.default_currency),
        },
        FieldPlan::Scalar {
            name: "timezone",
            ty: "String!",
            write: |s, out| out.string(&s.timezone),
        },
        FieldPlan::Scalar {
            name: "locale",
            ty: "String!",
            write: |s, out| out.string(&s.locale),
        },
        FieldPlan::Scalar {
            name: "brandColor",
            ty: "String",
            write: |s, out| out.optional(s.brand_color.as_deref()),
        },
        FieldPlan::Scalar {
            name: "logoUrl",
            ty: "String",
            write: |s, out| out.optional(s.logo_url.as_deref()),
        },
        FieldPlan::Scalar {
            name: "webhookSecretSet",
            ty: "Boolean!",
            write: |s, out| out.boolean(s.webhook_secret_set),
        },
    ];
}

/// A plan's limits, as `Tenant.quotas` shows them (`None`: unlimited).
impl Planned for Quotas {
    const TYPE: &'static str = "Quotas";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "members",
            ty: "Int",
            write: |q, out| out.optional_int(q.members),
        },
        FieldPlan::Scalar {
            name: "contacts",
            ty: "Int",
            write: |q, out| out.optional_int(q.contacts),
        },
        FieldPlan::Scalar {
            name: "requestsPerMinute",
            ty: "Int",
            write: |q, out| out.optional_int(q.requests_per_minute),
        },
        FieldPlan::Scalar {
            name: "subscriptions",
            ty: "Int",
            write: |q, out| out.optional_int(q.subscriptions),
        },
        FieldPlan::Scalar {
            name: "auditRetentionDays",
            ty: "Int",
            write: |q, out| out.optional_int(q.audit_retention_days),
        },
        FieldPlan::Scalar {
            name: "monthlyCostBudget",
            ty: "Int",
            write: |q, out| out.optional_int(q.monthly_cost_budget),
        },
    ];
}

/// The counts of `tenantStats`.
impl Planned for TenantStatsRow {
    const TYPE: &'static str = "TenantStats";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "contacts",
            ty: "Int!",
            write: |row, out| out.int(row.contacts),
        },
        FieldPlan::Scalar {
            name: "conversations",
            ty: "Int!",
            write: |row, out| out.int(row.conversations),
        },
        FieldPlan::Scalar {
            name: "openConversations",
            ty: "Int!",
            write: |row, out| out.int(row.open_conversations),
        },
        FieldPlan::Scalar {
            name: "messages",
            ty: "Int!",
            write: |row, out| out.int(row.messages),
        },
    ];
}

/// A pending invitation of the tenant (`invitations`), as its resolver builds it.
impl Planned for Invitation {
    const TYPE: &'static str = "Invitation";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.string(row.id.as_str()),
        },
        FieldPlan::Scalar {
            name: "email",
            ty: "String!",
            write: |row, out| out.string(&row.email),
        },
        FieldPlan::Scalar {
            name: "role",
            ty: "Role!",
            write: |row, out| out.enum_value(row.role),
        },
        FieldPlan::Scalar {
            name: "invitedBy",
            ty: "String",
            write: |row, out| out.optional(row.invited_by.as_deref()),
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
        FieldPlan::Scalar {
            name: "expiresAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.expires_at),
        },
    ];
}

/// An invitation waiting for the caller (`myInvitations`, from the auth path).
impl Planned for MyInvitation {
    const TYPE: &'static str = "MyInvitation";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "tenantId",
            ty: "UUID!",
            write: |row, out| out.string(&row.tenant_id.to_string()),
        },
        FieldPlan::Scalar {
            name: "tenantSlug",
            ty: "String!",
            write: |row, out| out.string(&row.tenant_slug),
        },
        FieldPlan::Scalar {
            name: "tenantName",
            ty: "String!",
            write: |row, out| out.string(&row.tenant_name),
        },
        FieldPlan::Scalar {
            name: "role",
            ty: "Role!",
            write: |row, out| out.enum_value(row.role),
        },
        FieldPlan::Scalar {
            name: "invitedBy",
            ty: "String!",
            write: |row, out| out.string(&row.invited_by),
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
        FieldPlan::Scalar {
            name: "expiresAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.expires_at),
        },
    ];
}
