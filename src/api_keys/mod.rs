//! API keys for partners: created and revoked by tenant managers, shown once, stored as a
//! hash, used as a bearer credential bound to one tenant and capped at a role. The key
//! format and its verification for authentication are here too ([`verify`]).

pub mod graphql;
pub mod model;
pub mod plan;
pub mod verify;
