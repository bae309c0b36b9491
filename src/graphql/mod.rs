//! The GraphQL framework every domain builds on; it imports no domain.
//!
//! - [`context`]: the request context (`request_tx`, typed `data::<T>()`);
//! - [`guards`]: `@requiresRole`/`@requiresFeature`/`@requiresPermission` and their checks;
//! - [`savepoints`]: one SAVEPOINT per root mutation field;
//! - [`relay`]: global ids, cursors and connections;
//! - [`limits`]: the limits every request is held to;
//! - [`plannable`]: how a domain declares the fields compiled read plans serve.
//!
//! The assembly of the domains into one schema lives in [`crate::schema`].

pub mod context;
pub mod guards;
pub mod limits;
pub mod plannable;
pub mod relay;
pub mod savepoints;

pub use context::{data, request_tx};
pub use limits::Limits;
