//! The GraphQL framework every domain builds on; it imports no domain.
//!
//! - [`coded`]: an `extensions.code` on every error;
//! - [`cost`]: each request's cost (its complexity), charged to its tenant before it runs;
//! - [`context`]: the request context (`request_tx`, typed `data::<T>()`);
//! - [`guards`]: `@requiresRole`/`@requiresFeature`/`@requiresPermission` and their checks;
//! - [`savepoints`]: one SAVEPOINT per root mutation field;
//! - [`relay`]: global ids, cursors and connections;
//! - [`limits`]: the limits every request is held to;
//! - [`introspection`]: who may introspect, and suggestions only for them;
//! - [`live`]: the fan-out of live events to subscriptions;
//! - [`persisted`]: documents named by their SHA-256 (persisted queries, plan keys);
//! - [`plannable`]: how a domain declares the fields compiled read plans serve.
//!
//! The assembly of the domains into one schema lives in [`crate::schema`].

pub mod coded;
pub mod context;
pub mod cost;
pub mod guards;
pub mod introspection;
pub mod limits;
pub mod live;
pub mod persisted;
pub mod plannable;
pub mod relay;
pub mod savepoints;

pub use context::{data, request_tx};
pub use limits::Limits;
