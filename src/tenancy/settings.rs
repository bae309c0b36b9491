//! Typed tenant settings with plan defaults, and secrets encrypted at rest.
//!
//! Settings live in `tenants.settings` (JSON) as overrides of the plan's defaults. Secret
//! values (the webhook signing secret) are sealed with ChaCha20-Poly1305 under the key of
//! `TENANTRY_SECRET_KEY`, with the tenant id as associated data (a ciphertext copied into
//! another tenant does not open), and are never returned in clear: the API says only
//! whether one is set.

use crate::auth::plans::Plan;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::Value;

/// The key sealing tenant secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl SecretBox {
    /// A box over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// Seals `secret` for `tenant`: `v1:` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, tenant: TenantId, secret: &str) -> AppResult<String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: tenant.0.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    /// Opens a value sealed for `tenant`.
    pub fn open(&self, tenant: TenantId, sealed: &str) -> AppResult<String> {
        let bad = || AppError::internal("a sealed secret does not open");
        let bytes = STANDARD
            .decode(sealed.strip_prefix("v1:").ok_or_else(bad)?)
            .map_err(|_| bad())?;
        if bytes.len() < 12 {
            return Err(bad());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| bad())?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: tenant.0.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

/// A tenant's settings: the plan's defaults with the tenant's overrides applied.
#[derive(Debug, Clone, PartialEq, async_graphql::SimpleObject)]
pub struct TenantSettings {
    /// Shortest password members may set.
    pub password_min_length: i32,
    /// Minutes of inactivity before a session ends.
    pub session_timeout_minutes: i32,
    /// ISO 4217 code, e.g. EUR.
    pub default_currency: String,
    /// IANA time zone, e.g. Europe/Paris.
    pub timezone: String,
    /// BCP 47 language tag, e.g. fr-FR.
    pub locale: String,
    /// Brand colour, `#rrggbb`.
    pub brand_color: Option<String>,
    /// Logo URL (https).
    pub logo_url: Option<String>,
    /// Whether a webhook signing secret is set (the secret itself is never returned).
    pub webhook_secret_set: bool,
}

impl TenantSettings {
    /// The defaults of `plan`.
    pub fn defaults(plan: Plan) -> Self {
        let (password_min_length, session_timeout_minutes) = match plan {
            Plan::Basic => (10, 60),
            Plan::Premium | Plan::Enterprise | Plan::Custom => (12, 480),
        };
        Self {
            password_min_length,
            session_timeout_minutes,
            default_currency: "USD".into(),
            timezone: "UTC".into(),
            locale: "en-US".into(),
            brand_color: None,
            logo_url: None,
            webhook_secret_set: false,
        }
    }

    /// The defaults of `plan` overridden by the stored `settings` JSON.
    pub fn resolve(plan: Plan, settings: &Value) -> Self {
        let mut s = Self::defaults(plan);
        let text = |key: &str| {
            settings
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let int = |key: &str| {
            settings
                .get(key)
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
        };
        if let Some(v) = int("password_min_length") {
            s.password_min_length = v;
        }
        if let Some(v) = int("session_timeout_minutes") {
            s.session_timeout_minutes = v;
        }
        s.default_currency = text("default_currency").unwrap_or(s.default_currency);
        s.timezone = text("timezone").unwrap_or(s.timezone);
        s.locale = text("locale").unwrap_or(s.locale);
        s.brand_color = text("brand_color").or(s.brand_color);
        s.logo_url = text("logo_url").or(s.logo_url);
        s.webhook_secret_set = settings.get("webhook_secret_sealed").is_some();
        s
    }
}

/// Changes to settings; absent fields are unchanged.
#[derive(Debug, Default, async_graphql::InputObject)]
pub struct UpdateTenantSettingsInput {
    /// 8 to 128.
    pub password_min_length: Option<i32>,
    /// 5 to 1440.
    pub session_timeout_minutes: Option<i32>,
    /// Three capital letters (ISO 4217).
    pub default_currency: Option<String>,
    /// `UTC` or an IANA `Area/City` name.
    pub timezone: Option<String>,
    /// A language tag such as `en`, `fr-FR`.
    pub locale: Option<String>,
    /// `#rrggbb`.
    pub brand_color: Option<String>,
    /// An https URL, up to 500 characters.
    pub logo_url: Option<String>,
    /// The webhook signing secret (16 to 256 characters); stored encrypted, never returned.
    pub webhook_secret: Option<String>,
}

impl UpdateTenantSettingsInput {
    /// Validates the input into a JSON patch of `settings` (secrets sealed for `tenant`).
    pub fn into_patch(self, tenant: TenantId, secrets: &SecretBox) -> AppResult<Value> {
        let mut patch = serde_json::Map::new();
        let check = |ok: bool, field: &str, why: &str| -> AppResult<()> {
            if ok {
                Ok(())
            } else {
                Err(AppError::bad_input(field, why))
            }
        };
        if let Some(v) = self.password_min_length {
            check(
                (8..=128).contains(&v),
                "passwordMinLength",
                "must be 8 to 128",
            )?;
            patch.insert("password_min_length".into(), v.into());
        }
        if let Some(v) = self.session_timeout_minutes {
            check(
                (5..=1440).contains(&v),
                "sessionTimeoutMinutes",
                "must be 5 to 1440",
            )?;
            patch.insert("session_timeout_minutes".into(), v.into());
        }
        if let Some(v) = self.default_currency {
            check(
                v.len() == 3 && v.chars().all(|c| c.is_ascii_uppercase()),
                "defaultCurrency",
                "must be an ISO 4217 code such as EUR",
            )?;
            patch.insert("default_currency".into(), v.into());
        }
        if let Some(v) = self.timezone {
            let ok = v == "UTC"
                || (v.len() <= 64
                    && v.split('/').count() >= 2
                    && v.split('/').all(|p| {
                        !p.is_empty()
                            && p.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
                    }));
            check(
                ok,
                "timezone",
                "must be UTC or an IANA name such as Europe/Paris",
            )?;
            patch.insert("timezone".into(), v.into());
        }
        if let Some(v) = self.locale {
            let parts: Vec<&str> = v.split('-').collect();
            let ok = matches!(parts.as_slice(), [l] if (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()))
                || matches!(parts.as_slice(), [l, r] if (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase())
                    && r.len() == 2 && r.chars().all(|c| c.is_ascii_uppercase()));
            check(ok, "locale", "must be a language tag such as en or fr-FR")?;
            patch.insert("locale".into(), v.into());
        }
        if let Some(v) = self.brand_color {
            check(
                v.len() == 7 && v.starts_with('#') && v[1..].chars().all(|c| c.is_ascii_hexdigit()),
                "brandColor",
                "must be #rrggbb",
            )?;
            patch.insert("brand_color".into(), v.into());
        }
        if let Some(v) = self.logo_url {
            check(
                v.starts_with("https://") && v.len() <= 500 && !v.contains(char::is_whitespace),
                "logoUrl",
                "must be an https URL of at most 500 characters",
            )?;
            patch.insert("logo_url".into(), v.into());
        }
        if let Some(v) = self.webhook_secret {
            check(
                (16..=256).contains(&v.chars().count()),
                "webhookSecret",
                "must be 16 to 256 characters",
            )?;
            patch.insert(
                "webhook_secret_sealed".into(),
                secrets.seal(tenant, &v)?.into(),
            );
        }
        Ok(Value::Object(patch))
    }
}

/// The sealing key: `TENANTRY_SECRET_KEY` (base64 of 32 bytes), else one generated into
/// `TENANTRY_HOME` (development only).
pub fn load_secret_box(config: &crate::config::Config) -> anyhow::Result<SecretBox> {
    let encoded = match &config.secret_key {
        Some(key) => key.clone(),
        None => crate::config::home_secret(config, "secret-key", || {
            let mut key = [0u8; 32];
            key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            STANDARD.encode(key)
        })?,
    };
    let bytes = STANDARD.decode(encoded.trim())?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("TENANTRY_SECRET_KEY must be the base64 of 32 bytes"))?;
    Ok(SecretBox::new(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let b = SecretBox::new(&[7u8; 32]);
        let t = TenantId::new();
        let sealed = b.seal(t, "hello-secret-value").unwrap();
        assert_eq!(b.open(t, &sealed).unwrap(), "hello-secret-value");
        assert!(b.open(TenantId::new(), &sealed).is_err());
        let patch = UpdateTenantSettingsInput {
            webhook_secret: Some("whsec-very-secret-value-123".into()),
            ..Default::default()
        }
        .into_patch(t, &b)
        .unwrap();
        assert!(patch["webhook_secret_sealed"]
            .as_str()
            .unwrap()
            .starts_with("v1:"));
    }
}
