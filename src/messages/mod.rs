//! Messages: what was said in a conversation, newest first, searchable by full text.

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod plan;
