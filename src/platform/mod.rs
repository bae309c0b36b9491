//! The platform path: the only code that works across tenants (tenant lifecycle, users,
//! passwords, purge), through one explicit, logged door — for operators on the command
//! line ([`model::Platform`]) and for platform administrators over GraphQL ([`graphql`]);
//! and a tenant's health for its own admins ([`health`], planned in `plan.rs`).

pub mod graphql;
pub mod health;
pub mod lifecycle;
pub mod model;
pub mod placement;
mod plan;
pub mod users;
