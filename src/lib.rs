//! Tenantry: a multi-tenant GraphQL API server whose tenant isolation PostgreSQL enforces
//! (row-level security under `SET LOCAL app.tenant_id`, one transaction per request).

pub mod api_keys; // API keys for partners
pub mod app; // the assembled application (database, keys, schema)
pub mod audit; // the audit log the database writes: entries, verification, retention
pub mod auth; // tokens, roles, plans, tenant resolution, admission
pub mod cli; // the command line
pub mod config; // every setting and its environment variable
pub mod contacts; // the CRM's contacts
pub mod conversations; // the CRM's conversations with contacts
pub mod db; // pool, migrations, TenantTx, keyset pages, diesel schema, dev cluster
pub mod demo; // demo tenants for `serve --demo`
pub mod documents; // trusted documents and automatic persisted queries
pub mod error; // the error type and its codes
pub mod exports; // tenant export, import, clone; export jobs
pub mod graphql; // the framework: request context, guards, savepoints, relay, limits
pub mod http; // transport: router, GraphQL over HTTP, GraphiQL, health
pub mod ids; // newtype ids
pub mod messages; // messages of conversations, full-text search
pub mod platform; // the audited cross-tenant path: lifecycle, users, purge
pub mod schema; // the assembly: merged roots, executor, loaders, node, compiled plans
pub mod seed; // bulk seed data for benchmarks
pub mod telemetry; // metrics, per-tenant health figures, traces, quiet error lines
pub mod tenancy; // the current tenant and user
pub mod usage; // usage metering per tenant and day, cost budgets
pub mod validate; // input validation
