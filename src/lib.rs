//! Tenantry: a multi-tenant GraphQL API server whose tenant isolation PostgreSQL enforces
//! (row-level security under `SET LOCAL app.tenant_id`, one transaction per request).

pub mod api_keys; // API keys for partners
pub mod app; // the assembled application (database, keys, schema)
pub mod auth; // tokens, roles, tenant resolution
pub mod cli; // the command line
pub mod config; // every setting and its environment variable
pub mod contacts; // the CRM's contacts
pub mod conversations; // the CRM's conversations with contacts
pub mod db; // pool, migrations, TenantTx, schema, dev cluster, platform path
pub mod demo; // demo tenants for `serve --demo`
pub mod error; // the error type and its codes
pub mod graphql; // schema, guards, relay, HTTP
pub mod ids; // newtype ids
pub mod messages; // messages of conversations, full-text search
pub mod seed; // bulk seed data for benchmarks
pub mod tenancy; // the current tenant and user
pub mod validate; // input validation
