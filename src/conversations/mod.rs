//! Conversations: a tenant's exchanges with a contact over email, chat or sms.

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod plan;
