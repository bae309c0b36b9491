//! The integration tests: one binary (one link), a module per domain or concern, over one
//! harness ([`common`]): a migrated template database per run, a fresh database per test,
//! and the real application and router on top, so tests take the server's own path.

mod common;

mod api;
mod api_keys;
mod apollo;
mod audit;
mod auth;
mod breaking;
mod citus;
mod cli;
mod compiled;
mod compiled_admin;
mod compiled_objects;
mod crm;
mod db;
mod demo;
mod differential;
mod documents;
mod errors;
mod exports;
mod graphiql;
mod http_spec;
mod introspection;
mod invitations;
mod isolation;
mod layers;
mod lifecycle;
mod limits;
mod logins;
mod members;
mod observability;
mod plans;
mod platform;
mod resolution;
mod schema;
mod settings;
mod subscriptions;
mod transactions;
mod usage;
