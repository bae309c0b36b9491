//! Tenants, users, memberships and invitations as the request path sees them (the current
//! tenant and the current user). Cross-tenant operator work lives in [`crate::platform::model`].

pub mod graphql;
pub mod invitations;
pub mod loaders;
pub mod members;
pub mod model;
pub mod plan;
pub mod roles;
pub mod sessions;
pub mod settings;
