//! Plans, the features they grant, their quotas, and the permissions of the built-in roles.
//! Plans are code, not rows: what a plan means is part of the product and versioned with it;
//! a tenant's row says which plan it is on and which features it switched off.

use crate::auth::Role;

crate::text_enum! {
    /// A plan a tenant can be on.
    #[derive(async_graphql::Enum)]
    pub enum Plan {
        /// The entry plan.
        Basic = "basic",
        /// More features and room.
        Premium = "premium",
        /// Everything, without limits.
        Enterprise = "enterprise",
        /// Negotiated: everything, limits as enterprise.
        Custom = "custom",
    }
}

crate::text_enum! {
    /// A feature (module) a plan may grant.
    #[derive(async_graphql::Enum)]
    #[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
    pub enum Feature {
        /// `searchMessages`.
        FullTextSearch = "full_text_search",
        /// Roles with a custom permission set.
        CustomRoles = "custom_roles",
        /// API keys for partners.
        ApiKeys = "api_keys",
        /// The audit log.
        AuditLog = "audit_log",
        /// Exports of the tenant's data.
        DataExport = "data_export",
    }
}

impl Feature {
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of features, small enough to copy around with the member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureSet(u32);

impl FeatureSet {
    /// The set of `features`.
    pub fn of(features: &[Feature]) -> Self {
        Self(features.iter().fold(0, |acc, f| acc | f.bit()))
    }

    /// Whether `feature` is in the set.
    pub fn contains(self, feature: Feature) -> bool {
        self.0 & feature.bit() != 0
    }

    /// The set without `features`.
    pub fn without(self, features: &[Feature]) -> Self {
        Self(self.0 & !FeatureSet::of(features).0)
    }
}

/// Limits of a plan; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct Quotas {
    /// Members of the tenant.
    pub members: Option<i64>,
    /// Contacts of the CRM.
    pub contacts: Option<i64>,
    /// GraphQL requests per minute.
    pub requests_per_minute: Option<i64>,
    /// Open subscriptions of the tenant (counted per server process).
    pub subscriptions: Option<i64>,
    /// Days the audit log keeps an entry before `tenantry audit prune` removes it.
    pub audit_retention_days: Option<i64>,
    /// Query cost (the complexity the server computes for each request) the tenant may
    /// spend per UTC calendar month; a request that would exceed it is QUOTA_EXCEEDED.
    pub monthly_cost_budget: Option<i64>,
}

/// A quota's limit (`None`: unlimited) as the checks read it.
pub trait QuotaLimit {
    /// Whether one more fits beside the `used` ones (adding a member or a contact).
    fn has_room_for_one(self, used: i64) -> bool;
    /// Whether `used` ones fit (moving a tenant onto a plan).
    fn fits(self, used: i64) -> bool;
}

impl QuotaLimit for Option<i64> {
    fn has_room_for_one(self, used: i64) -> bool {
        self.is_none_or(|limit| used < limit)
    }

    fn fits(self, used: i64) -> bool {
        self.is_none_or(|limit| used <= limit)
    }
}

impl Plan {
    /// The features the plan grants.
    pub fn features(self) -> FeatureSet {
        match self {
            Plan::Basic => FeatureSet::default(),
            Plan::Premium => FeatureSet::of(&[
                Feature::FullTextSearch,
                Feature::ApiKeys,
                Feature::DataExport,
            ]),
            Plan::Enterprise | Plan::Custom => FeatureSet::of(Feature::ALL),
        }
    }

    /// The plan's limits.
    pub fn quotas(self) -> Quotas {
        match self {
            Plan::Basic => Quotas {
                members: Some(5),
                contacts: Some(1_000),
                requests_per_minute: Some(600),
                subscriptions: Some(20),
                audit_retention_days: Some(30),
                monthly_cost_budget: Some(10_000_000),
            },
            Plan::Premium => Quotas {
                members: Some(50),
                contacts: Some(100_000),
                requests_per_minute: Some(6_000),
                subscriptions: Some(500),
                audit_retention_days: Some(365),
                monthly_cost_budget: Some(1_000_000_000),
            },
            Plan::Enterprise | Plan::Custom => Quotas {
                members: None,
                contacts: None,
                requests_per_minute: None,
                subscriptions: None,
                audit_retention_days: None,
                monthly_cost_budget: None,
            },
        }
    }
}

crate::text_enum! {
    /// A named permission; built-in roles map to sets of them.
    #[derive(async_graphql::Enum)]
    #[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
    pub enum Permission {
        /// Read contacts, conversations and messages.
        ContactsRead = "contacts:read",
        /// Create and change contacts, conversations and messages.
        ContactsWrite = "contacts:write",
        /// Invite, remove and change the role of members.
        MembersManage = "members:manage",
        /// Change the tenant's settings and modules.
        TenantManage = "tenant:manage",
        /// Read the audit log.
        AuditRead = "audit:read",
    }
}

/// A set of permissions (a custom role's), small enough to copy around with the member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u32);

impl PermissionSet {
    /// The set of the permissions named in `names` (wire or GraphQL form; others ignored).
    pub fn parse_all<S: AsRef<str>>(names: &[S]) -> Self {
        Self(
            names
                .iter()
                .filter_map(|n| Permission::parse(n.as_ref()))
                .fold(0, |acc, p| acc | (1 << p as u32)),
        )
    }

    /// Whether `permission` is in the set.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & (1 << permission as u32) != 0
    }
}

impl Role {
    /// Whether the built-in role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        match permission {
            Permission::ContactsRead => true,
            Permission::ContactsWrite => self >= Role::Member,
            Permission::MembersManage | Permission::TenantManage | Permission::AuditRead => {
                self >= Role::Admin
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_features_and_permissions() {
        assert!(!Plan::Basic.features().contains(Feature::FullTextSearch));
        assert!(Plan::Premium.features().contains(Feature::FullTextSearch));
        assert!(!Plan::Premium.features().contains(Feature::AuditLog));
        let set = Plan::Enterprise.features().without(&[Feature::AuditLog]);
        assert!(!set.contains(Feature::AuditLog) && set.contains(Feature::ApiKeys));
        assert_eq!(
            Feature::parse("FULL_TEXT_SEARCH"),
            Some(Feature::FullTextSearch)
        );
        assert_eq!(
            Permission::parse("TENANT_MANAGE"),
            Some(Permission::TenantManage)
        );
        assert!(Role::Admin.grants(Permission::MembersManage));
        assert!(!Role::Member.grants(Permission::TenantManage));
        assert!(!Role::Viewer.grants(Permission::ContactsWrite));
        assert!(Role::Admin.grants(Permission::AuditRead));
        assert!(!Role::Member.grants(Permission::AuditRead));
    }

    #[test]
    fn quotas_admit_up_to_their_limit() {
        let basic = Plan::Basic.quotas();
        assert_eq!(basic.members, Some(5));
        assert!(basic.members.has_room_for_one(4));
        assert!(!basic.members.has_room_for_one(5));
        assert!(basic.members.fits(5));
        assert!(!basic.members.fits(6));
        let unlimited = Plan::Enterprise.quotas();
        assert!(unlimited.contacts.has_room_for_one(i64::MAX - 1));
        assert!(unlimited.contacts.fits(i64::MAX));
        assert!(unlimited.requests_per_minute.is_none());
        // Larger plans never have smaller quotas.
        let order = [Plan::Basic, Plan::Premium, Plan::Enterprise];
        for pair in order.windows(2) {
            let (small, large) = (pair[0].quotas(), pair[1].quotas());
            for (s, l) in [
                (small.members, large.members),
                (small.contacts, large.contacts),
                (small.requests_per_minute, large.requests_per_minute),
                (small.audit_retention_days, large.audit_retention_days),
                (small.monthly_cost_budget, large.monthly_cost_budget),
            ] {
                assert!(l.is_none() || s.is_some_and(|s| Some(s) <= l), "{pair:?}");
            }
        }
    }
}
