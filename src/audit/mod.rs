//! The audit log: written by PostgreSQL triggers on every tenant table (and on the platform
//! tables `tenants` and `users`), append-only for the server's roles, and a SHA-256 hash
//! chain per tenant (see `migrations/2026-12-01-000016_audit_log/up.sql`, where the
//! writing happens). This module reads it: entries for `auditLog` and `platformAuditLog`
//! ([`model`], [`graphql`], and what compiled plans serve of it in `plan.rs`), and the
//! operator's chain walk and retention ([`verify`]).

pub mod graphql;
pub mod model;
mod plan;
pub mod prune;
pub mod verify;
