//! Custom roles (plan feature `custom_roles`): named permission sets a tenant defines and
//! gives to members on top of their built-in role. [`model`] holds the rows and queries,
//! [`graphql`] the type and roots that call them through the request's transaction.

pub mod graphql;
pub mod model;
pub mod plan;

// The schema's root list names the roots here, as it did when this was one file.
pub use graphql::{CustomRoleMutation, CustomRoleQuery};
