//! Bearer access tokens (JWT): verification with HS256, RS256 or EdDSA keys, and signing
//! with the HS256 secret for the CLI and demo.
//!
//! Why a token failed is logged at debug level but never told to the client: every
//! failure is the same UNAUTHENTICATED.

use crate::config::Config;
use crate::error::AppError;
use crate::ids::{TenantId, UserId};
use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The claims of a Tenantry access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The tenant id the token is for, if bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// A verified token: the user and the tenant it names.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedToken {
    /// From `sub`.
    pub user_id: UserId,
    /// From `tid`.
    pub tenant_id: Option<TenantId>,
    /// From `exp`: seconds since the epoch.
    pub expires_at: u64,
}

/// How far past its `exp` a token is still accepted (clock skew between issuers and us).
const LEEWAY_SECS: u64 = 30;

/// The keys and rules tokens are checked and signed with.
#[derive(Clone)]
pub struct TokenKeys {
    /// Tokens that passed verification, by their text (clones share it). A client sends
    /// the same token with every request for its lifetime, and checking its signature again
    /// each time cost 7 % of a small request's CPU (HS256; RS256 and EdDSA cost far more).
    /// Only `exp` depends on the time: a hit checks it again, with the same leeway.
    verified: moka::sync::Cache<Box<str>, VerifiedToken>,
    hs256: DecodingKey,
    hs256_signing: EncodingKey,
    rs256: Option<DecodingKey>,
    eddsa: Option<DecodingKey>,
    issuer: String,
    audience: String,
}

impl TokenKeys {
    /// Loads the keys of `config` with `secret` as the HS256 secret.
    pub fn new(config: &Config, secret: &[u8]) -> anyhow::Result<Self> {
        let rs256 = match &config.jwt_rs256_public_key {
            Some(path) => Some(
                DecodingKey::from_rsa_pem(&std::fs::read(path)?)
                    .with_context(|| format!("reading RS256 public key {}", path.display()))?,
            ),
            None => None,
        };
        let eddsa = match &config.jwt_eddsa_public_key {
            Some(path) => Some(
                DecodingKey::from_ed_pem(&std::fs::read(path)?)
                    .with_context(|| format!("reading EdDSA public key {}", path.display()))?,
            ),
            None => None,
        };
        Ok(Self {
            verified: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            hs256: DecodingKey::from_secret(secret),
            hs256_signing: EncodingKey::from_secret(secret),
            rs256,
            eddsa,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
        })
    }

    /// Verifies a bearer token: signature (with the key of its algorithm), `exp`, `iss`,
    /// `aud`, and that `sub` and `tid` are ids. Any failure is UNAUTHENTICATED.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, AppError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AppError::internal("the clock is before 1970"))?;
        self.verify_at(token, now.as_secs())
    }

    /// [`Self::verify`] at `now` (seconds since the epoch) for a token seen before; a
    /// token not seen yet is verified in full, by the clock.
    fn verify_at(&self, token: &str, now: u64) -> Result<VerifiedToken, AppError> {
        if let Some(seen) = self.verified.get(token) {
            if now <= seen.expires_at.saturating_add(LEEWAY_SECS) {
                return Ok(seen);
            }
            // Expired since: what verification would now say, and it stays so.
            self.verified.invalidate(token);
            tracing::debug!(reason = "ExpiredSignature", "token refused");
            return Err(AppError::unauthenticated());
        }
        let verified = self.verify_inner(token).map_err(|reason| {
            tracing::debug!(%reason, "token refused");
            AppError::unauthenticated()
        })?;
        self.verified.insert(token.into(), verified);
        Ok(verified)
    }

    fn verify_inner(&self, token: &str) -> Result<VerifiedToken, String> {
        // `alg: none` and unknown algorithms fail here: they are not in `Algorithm`.
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let key = match header.alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::RS256 => self.rs256.as_ref().ok_or("no RS256 key configured")?,
            Algorithm::EdDSA => self.eddsa.as_ref().ok_or("no EdDSA key configured")?,
            other => return Err(format!("algorithm {other:?} not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| e.to_string())?;
        let user_id = data
            .claims
            .sub
            .parse()
            .map(UserId)
            .map_err(|_| "sub is not a uuid")?;
        let tenant_id = match &data.claims.tid {
            Some(tid) => Some(tid.parse().map(TenantId).map_err(|_| "tid is not a uuid")?),
            None => None,
        };
        Ok(VerifiedToken {
            user_id,
            tenant_id,
            expires_at: data.claims.exp,
        })
    }

    /// Signs an HS256 access token for `user`, bound to `tenant`, valid for `ttl`.
    pub fn sign(
        &self,
        user: UserId,
        tenant: Option<TenantId>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: user.to_string(),
            tid: tenant.map(|t| t.to_string()),
            exp: now + ttl.as_secs(),
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.hs256_signing,
        )?)
    }
}

/// The HS256 secret: `TENANTRY_JWT_SECRET`, else a random one kept in `TENANTRY_HOME` so
/// that `serve` and `token` agree on a development machine.
pub fn load_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.jwt_secret {
        anyhow::ensure!(
            secret.len() >= 32,
            "TENANTRY_JWT_SECRET must be at least 32 bytes"
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let secret = crate::config::home_secret(config, "jwt-secret", || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    })?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::{TokenKeys, LEEWAY_SECS};
    use crate::config::Config;
    use crate::ids::{TenantId, UserId};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn keys() -> TokenKeys {
        TokenKeys::new(&Config::defaults(), &[7; 32]).unwrap()
    }

    #[test]
    fn a_token_seen_before_is_accepted_until_it_expires_and_refused_after() {
        let keys = keys();
        let (user, tenant) = (UserId(uuid::Uuid::new_v4()), TenantId(uuid::Uuid::new_v4()));
        let token = keys
            .sign(user, Some(tenant), Duration::from_secs(60))
            .unwrap();
        let first = keys.verify(&token).unwrap();
        assert_eq!((first.user_id, first.tenant_id), (user, Some(tenant)));
        assert_eq!(
            keys.verified.get(token.as_str()).map(|t| t.user_id),
            Some(user)
        );
        // A clone (every request's) shares what was verified.
        let clone = keys.clone();
        let expires = first.expires_at;
        let last_second = clone.verify_at(&token, expires + LEEWAY_SECS).unwrap();
        assert_eq!(last_second.user_id, user);
        assert!(clone.verify_at(&token, expires + LEEWAY_SECS + 1).is_err());
        // Refused from then on, the clock notwithstanding (the entry is gone, and a fresh
        // verification would refuse it at that time too).
        assert!(keys.verified.get(token.as_str()).is_none());
    }

    #[test]
    fn refused_tokens_are_not_remembered() {
        let keys = keys();
        let token = keys
            .sign(UserId(uuid::Uuid::new_v4()), None, Duration::from_secs(60))
            .unwrap();
        // The genuine token first: a cache keyed by anything less than the whole text
        // (the claims) would then accept the forgery below.
        assert!(keys.verify(&token).is_ok());
        // Another signature over the same claims, and a token of other keys.
        let at = token.len() - 5;
        let flipped = if &token[at..at + 1] == "A" { "B" } else { "A" };
        let forged = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
        let other = TokenKeys::new(&Config::defaults(), &[8; 32])
            .unwrap()
            .sign(UserId(uuid::Uuid::new_v4()), None, Duration::from_secs(60))
            .unwrap();
        for bad in [&forged, &other] {
            assert!(keys.verify(bad).is_err());
            assert!(keys.verify(bad).is_err());
            assert!(keys.verified.get(bad.as_str()).is_none());
        }
        // An expired token is refused on first sight, with no entry either.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expired = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &super::Claims {
                sub: uuid::Uuid::new_v4().to_string(),
                tid: None,
                exp: now - LEEWAY_SECS - 5,
                iat: now - 600,
                iss: Config::defaults().jwt_issuer,
                aud: Config::defaults().jwt_audience,
            },
            &jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert!(keys.verify(&expired).is_err());
        assert!(keys.verified.get(expired.as_str()).is_none());
        assert!(keys.verify(&token).is_ok());
    }
}
