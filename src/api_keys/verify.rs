//! Presented API keys: the secret's format (`tk_<tenant>_<secret>`), the hash stored for
//! it, and verification for authentication ([`ApiKeys`] implements
//! [`ApiKeyVerifier`], the trait authentication depends on).
//!
//! A key names its tenant in clear so the lookup can name it too (a distributed engine
//! routes it to one node); only a SHA-256 hash of the whole secret is stored. Valid keys are
//! cached by the tenant resolver, whose cache every tenancy or key change empties.

use super::model;
use crate::auth::auth_tx::{auth_tx, FanOut};
use crate::auth::request::ApiKeyVerifier;
use crate::auth::secrets::sha256_hex;
use crate::auth::tenant::TenantResolver;
use crate::auth::ApiKeyGrant;
use crate::db::PgPool;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The prefix of API keys: `tk_<tenant>_<secret>`.
pub const API_KEY_PREFIX: &str = "tk_";

/// A new API key secret for `tenant`, and the hash stored for it.
pub fn new_api_key(tenant: TenantId) -> (String, String) {
    let secret = format!(
        "{API_KEY_PREFIX}{}_{}{}",
        tenant.0.simple(),
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    );
    let hash = sha256_hex(&secret);
    (secret, hash)
}

/// The tenant a presented key names, if it is shaped like a key.
fn tenant_of(presented: &str) -> Option<TenantId> {
    presented
        .strip_prefix(API_KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(t, _)| Uuid::parse_str(t).ok())
        .map(TenantId)
}

/// Verifies presented keys against `api_keys` on the auth path, through the resolver's
/// cache.
#[derive(Clone)]
pub struct ApiKeys {
    pool: PgPool,
    resolver: TenantResolver,
    /// Whether the lookup refuses to fan out (it names its tenant, so it never should).
    fan_out: FanOut,
}

impl ApiKeys {
    /// Keys looked up on `pool` and cached in `resolver` (which forgets them on any
    /// tenancy or key change).
    pub fn new(pool: PgPool, resolver: TenantResolver) -> Self {
        Self {
            pool,
            resolver,
            fan_out: FanOut::Allowed,
        }
    }

    /// The same verifier, whose lookups refuse statements that fan out if `fan_out` is
    /// [`FanOut::Refused`] (`TENANTRY_CITUS_REFUSE_FAN_OUT`).
    pub fn with_fan_out(mut self, fan_out: FanOut) -> Self {
        self.fan_out = fan_out;
        self
    }
}

#[async_trait::async_trait]
impl ApiKeyVerifier for ApiKeys {
    fn is_api_key(&self, token: &str) -> bool {
        token.starts_with(API_KEY_PREFIX)
    }

    async fn verify(&self, presented: &str) -> AppResult<ApiKeyGrant> {
        let tenant = tenant_of(presented).ok_or_else(AppError::unauthenticated)?;
        let hash = sha256_hex(presented);
        if let Some(grant) = self.resolver.cached_api_key(&hash).await {
            return Ok(grant);
        }
        let lookup = hash.clone();
        let seen = self.resolver.generation();
        let row = auth_tx(&self.pool, self.fan_out, move |c| {
            async move { Ok(model::find_live(c, tenant, &lookup).await?) }.scope_boxed()
        })
        .await?;
        let row = row.ok_or_else(AppError::unauthenticated)?;
        let grant = ApiKeyGrant {
            tenant,
            user: UserId(row.created_by),
            role: row.role,
            key: row.id,
            requests_per_minute: row.requests_per_minute.and_then(|n| u32::try_from(n).ok()),
        };
        // Revocation reaches every process through the tenancy channel (see migrations).
        self.resolver
            .remember_api_key(seen, hash, grant, row.expires_at)
            .await;
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_names_its_tenant_and_stores_only_its_hash() {
        let tenant = TenantId(Uuid::now_v7());
        let (secret, hash) = new_api_key(tenant);
        assert!(secret.starts_with(API_KEY_PREFIX));
        assert_eq!(tenant_of(&secret), Some(tenant));
        assert_eq!(hash, sha256_hex(&secret));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&secret));
        assert_eq!(tenant_of("tk_not-a-uuid_x"), None);
        assert_eq!(tenant_of("eyJhbGciOi.x.y"), None);
    }
}
