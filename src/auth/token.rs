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

/// The keys and rules tokens are checked and signed with.
#[derive(Clone)]
pub struct TokenKeys {
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
        self.verify_inner(token).map_err(|reason| {
            tracing::debug!(%reason, "token refused");
            AppError::unauthenticated()
        })
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
        validation.leeway = 30;
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
