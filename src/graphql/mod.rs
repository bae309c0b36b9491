//! The GraphQL layer: schema assembly, guards and their directives, Relay helpers, limits
//! and the HTTP handler.

pub mod guards;
pub mod http;
pub mod loaders;
pub mod node;
pub mod relay;

use crate::contacts::graphql::{ContactMutation, ContactQuery};
use crate::conversations::graphql::{ConversationMutation, ConversationQuery};
use crate::db::TenantTx;
use crate::error::AppError;
use crate::messages::graphql::{MessageMutation, MessageQuery};
use crate::tenancy::graphql::TenancyQuery;
use async_graphql::{Context, EmptySubscription, MergedObject, SDLExportOptions, Schema};
use std::sync::Arc;

/// The query root: one root object per domain, merged.
#[derive(MergedObject, Default)]
pub struct Query(
    TenancyQuery,
    ContactQuery,
    ConversationQuery,
    MessageQuery,
    node::NodeQuery,
);

/// The mutation root: one root object per domain, merged.
#[derive(MergedObject, Default)]
pub struct Mutation(ContactMutation, ConversationMutation, MessageMutation);

/// The executable schema.
pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest query depth.
    pub max_depth: usize,
    /// Largest query complexity.
    pub max_complexity: usize,
    /// Largest `first`/`last` of a connection.
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 20_000,
            max_page_size: 100,
        }
    }
}

/// Builds the schema with its limits and the guard extension.
pub fn build_schema(limits: Limits) -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(limits)
        .extension(guards::GuardExtension::default())
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(Limits::default()).sdl_with_options(SDLExportOptions::new())
}

/// The request's tenant transaction (the only way a resolver reaches the database).
pub fn request_tx<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<TenantTx>> {
    ctx.data::<Arc<TenantTx>>()
        .map_err(|_| AppError::internal("request transaction missing").into_graphql())
}
