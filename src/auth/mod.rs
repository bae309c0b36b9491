//! Who is calling and for which tenant, and whether they are admitted: bearer tokens and
//! API keys, tenant selectors, roles, plans and features, membership and rate admission.

pub mod admission;
pub mod auth_tx;
pub mod client;
pub mod invitations;
pub mod limits;
pub mod my_tenants;
pub mod plans;
pub mod request;
pub mod secrets;
pub mod session;
pub mod tenant;
pub mod token;

pub use admission::RequestTx;

use crate::ids::{TenantId, UserId};

crate::text_enum! {
    /// Built-in tenant roles, strongest first. The role of a request always comes from the
    /// database membership, never from the token.
    #[derive(async_graphql::Enum, PartialOrd, Ord)]
    #[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
    pub enum Role {
        /// Reads everything of the tenant.
        Viewer = "VIEWER",
        /// Reads and writes the tenant's records.
        Member = "MEMBER",
        /// Also manages members and settings.
        Admin = "ADMIN",
        /// Owns the tenant.
        Owner = "OWNER",
    }
}

impl Role {
    /// Whether this role is at least `required` (OWNER > ADMIN > MEMBER > VIEWER).
    pub fn at_least(self, required: Role) -> bool {
        self >= required
    }
}

crate::text_enum! {
    /// Where a tenant is in its lifecycle (`tenants.status`).
    pub enum TenantStatus {
        /// Serves requests.
        Active = "active",
        /// Refuses every request with TENANT_SUSPENDED.
        Suspended = "suspended",
        /// Soft-deleted: not found, rows kept until purged.
        Deleted = "deleted",
    }
}

/// How a request named its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantSelector {
    /// By id: the token's `tid` claim or `X-Tenant-ID`.
    Id(TenantId),
    /// By slug: `X-Tenant-Slug`, a subdomain of the base domain, or the path.
    Slug(String),
    /// By a registered custom domain (the `Host`), else the path's slug if any.
    Domain(String, Option<String>),
}

/// The authenticated caller of a request, before the tenant is checked.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user of the token's `sub` claim.
    pub user_id: UserId,
    /// The tenant the request names, if any.
    pub tenant: Option<TenantSelector>,
    /// Set for an API key: the role the key is capped at (the request's role is the
    /// lower of this and its creator's membership role), and the key's id.
    pub role_cap: Option<KeyCap>,
    /// The tenant the credential itself is bound to (a token's `tid`, an API key's tenant)
    /// when the request also names one by slug, domain or path: the named tenant must turn
    /// out to be this one, or the request is refused, never served for either.
    pub bound_tenant: Option<TenantId>,
}

/// What a verified API key grants: whose it is, where, and up to which role. The
/// api_keys domain produces it (see [`request::ApiKeyVerifier`]); authentication turns it
/// into a [`Principal`].
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyGrant {
    /// The key's tenant.
    pub tenant: TenantId,
    /// The member who created it (the request acts as them).
    pub user: UserId,
    /// The key's role cap.
    pub role: Role,
    /// The key's id.
    pub key: uuid::Uuid,
    /// The key's own requests per minute, if it has one (the tenant's plan rate applies too).
    pub requests_per_minute: Option<u32>,
}

/// What an API key caps a request at: the key's role, and the key itself (its id is the
/// actor of the request's audit entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCap {
    /// The highest role the request acts with.
    pub role: Role,
    /// The key's id.
    pub key: uuid::Uuid,
    /// The key's own requests per minute, if it has one.
    pub requests_per_minute: Option<u32>,
}

/// A caller checked against the database: a member of an active tenant, with a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The tenant of the request.
    pub tenant_id: TenantId,
    /// The calling user.
    pub user_id: UserId,
    /// The user's role in that tenant.
    pub role: Role,
    /// The tenant's plan.
    pub plan: crate::auth::plans::Plan,
    /// The features enabled for the tenant: its plan's, minus those it switched off.
    pub features: crate::auth::plans::FeatureSet,
    /// Extra permissions from the member's custom role (effective only while the tenant
    /// has the `custom_roles` feature).
    pub custom_permissions: crate::auth::plans::PermissionSet,
}

impl Member {
    /// Whether the member holds `permission`: through the built-in role, or through a
    /// custom role while the plan feature is on.
    pub fn has_permission(&self, permission: crate::auth::plans::Permission) -> bool {
        self.role.grants(permission)
            || (self
                .features
                .contains(crate::auth::plans::Feature::CustomRoles)
                && self.custom_permissions.contains(permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plans::Permission;

    #[test]
    fn roles_rank_owner_admin_member_viewer() {
        let ranked = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];
        for (i, low) in ranked.iter().enumerate() {
            for (j, high) in ranked.iter().enumerate() {
                assert_eq!(high.at_least(*low), j >= i, "{high:?} at least {low:?}");
            }
        }
        // What each role grants only grows with its rank.
        for permission in Permission::ALL {
            let granted: Vec<bool> = ranked.iter().map(|r| r.grants(*permission)).collect();
            assert!(granted.windows(2).all(|w| w[0] <= w[1]), "{permission:?}");
        }
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::Owner.to_string(), "OWNER");
    }
}
