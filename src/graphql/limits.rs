//! The limits every request is held to. Their defaults live with the settings
//! ([`crate::config::Config`]), once.

use crate::config::Config;

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

impl From<&Config> for Limits {
    fn from(config: &Config) -> Self {
        Self {
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            max_page_size: config.max_page_size,
        }
    }
}
