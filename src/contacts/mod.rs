//! Contacts: the people a tenant's CRM keeps.

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod plan;
