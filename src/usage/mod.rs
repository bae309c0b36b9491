//! Usage metering and cost per tenant (issue 12).
//!
//! - [`meter`]: counts each request in memory (requests, errors, mutations, query cost,
//!   rows written) per tenant and UTC day, charges its cost against the plan's monthly
//!   budget, and flushes the counts in the background — one upsert per flush, never a
//!   write per request;
//! - [`model`]: the `usage_daily` rows and their queries (the flush's, the tenant's, the
//!   platform's);
//! - [`graphql`]: `tenantUsage` (OWNER and ADMIN of the tenant) and the types
//!   `platformUsage` (platform administrators, in [`crate::platform`]) returns;
//! - [`plan`]: what compiled read plans serve of `tenantUsage`'s types.

pub mod graphql;
pub mod meter;
pub mod model;
mod plan;

pub use meter::{Counts, Meter};
