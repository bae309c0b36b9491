//! Trusted documents and automatic persisted queries: GraphQL documents named by the
//! SHA-256 of their text.
//!
//! - [`model`]: the operator-managed list in PostgreSQL (`tenantry documents add|list|remove`);
//! - [`manifest`]: reading the files clients' build tools emit (Apollo's persisted-query
//!   manifest, Relay's and graphql-codegen's hash → text maps, plain `.graphql` files);
//! - [`store`]: each server process's copy of the list (reloaded when the database
//!   announces a change) and Apollo's APQ cache, and what a request's text is once its hash
//!   is looked up, under `TENANTRY_TRUSTED_DOCUMENTS=off|prefer|require`.

pub mod manifest;
pub mod model;
pub mod store;
