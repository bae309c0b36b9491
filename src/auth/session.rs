//! The auth path: password login (argon2id), rotating refresh tokens, logout, the
//! caller's tenants, and switching tenant.
//!
//! These run before any tenant is chosen, so they cannot use the request's tenant
//! transaction. They run in their own short transactions as `tenantry_auth`, a NOLOGIN
//! role whose policies let it read memberships across tenants and manage refresh tokens;
//! nothing else on the request path runs as it. Refresh tokens are stored hashed
//! (SHA-256); a token that was already rotated and is presented again revokes its whole
//! family (someone replayed a stolen token).

use super::tenant::TenantResolver;
use super::token::TokenKeys;
use super::{Principal, Role, TenantSelector};
use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// An access token and the refresh token that renews it.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct TokenPair {
    /// Bearer token for `Authorization`, bound to one tenant.
    pub access_token: String,
    /// Opaque token for `refreshToken`; usable once.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The tenant the access token is for (its id).
    pub tenant_id: String,
}

/// A tenant the caller belongs to.
#[derive(Debug, Clone, QueryableByName, async_graphql::SimpleObject)]
pub struct MyTenant {
    /// The tenant's id.
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// Its slug.
    #[diesel(sql_type = Text)]
    pub slug: String,
    /// Its name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The caller's role there.
    #[diesel(sql_type = Text)]
    pub role: String,
}

#[derive(QueryableByName)]
struct Credentials {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    password_hash: Option<String>,
}

#[derive(QueryableByName)]
struct StoredToken {
    #[diesel(sql_type = SqlUuid)]
    family_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DateTime<Utc>>,
}

/// Hashes a password with argon2id (a random salt, the crate's default parameters).
pub fn hash_password(password: &str) -> AppResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn refused() -> AppError {
    AppError::new(ErrorCode::Unauthenticated, "invalid email or password")
}

fn bad_refresh() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        "invalid or expired refresh token",
    )
}

/// The auth path's service (see the module documentation).
#[derive(Clone)]
pub struct Sessions {
    pool: PgPool,
    keys: TokenKeys,
    resolver: TenantResolver,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Login attempts per email address (online password guessing; per process).
    logins: std::sync::Arc<governor::DefaultKeyedRateLimiter<String>>,
    /// How many attempts per minute `logins` allows (for the refusal's message).
    logins_per_minute: u32,
}

impl Sessions {
    /// Sessions over `pool`, signing with `keys`.
    /// `logins_per_minute` login attempts are allowed per email address and minute.
    pub fn new(
        pool: PgPool,
        keys: TokenKeys,
        resolver: TenantResolver,
        logins_per_minute: u32,
    ) -> Self {
        Self {
            pool,
            keys,
            resolver,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            logins: std::sync::Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                std::num::NonZeroU32::new(logins_per_minute).unwrap_or(std::num::NonZeroU32::MIN),
            ))),
            logins_per_minute,
        }
    }

    /// Runs `sql` work in a transaction as `tenantry_auth`.
    async fn auth_tx<'a, R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'a,
        F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, AppResult<R>>
            + Send
            + 'a,
    {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        conn.transaction::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
            c.batch_execute("SET LOCAL ROLE tenantry_auth").await?;
            f(c).await
        })
        .await
    }

    /// Logs in with email and password; the access token is for `tenant` (slug or id) or,
    /// without one, for the user's oldest membership.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> AppResult<TokenPair> {
        let email = email.trim().to_string();
        // No address is longer; refusing here keeps long keys out of the limiter.
        if email.len() > 254 {
            return Err(refused());
        }
        // Unknown addresses each leave an entry: forget the idle ones now and then.
        if self.logins.len() > 100_000 {
            self.logins.retain_recent();
        }
        if self.logins.check_key(&email.to_lowercase()).is_err() {
            return Err(AppError::new(
                ErrorCode::RateLimited,
                format!(
                    "at most {} login attempts per minute for one account; retry shortly",
                    self.logins_per_minute
                ),
            ));
        }
        let found: Option<Credentials> = self
            .auth_tx(move |c| {
                async move {
                    Ok(diesel::sql_query(
                        "SELECT id, password_hash FROM users WHERE lower(email) = lower($1)",
                    )
                    .bind::<Text, _>(&email)
                    .load::<Credentials>(c)
                    .await?
                    .pop())
                }
                .scope_boxed()
            })
            .await?;
        let password = password.to_string();
        let (user, hash) = match found {
            Some(Credentials { id, password_hash: Some(hash) }) => (Some(id), hash),
            // Same work for unknown users and users without a password: no timing oracle.
            _ => (None, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9Cg9TNkLvHqxTQ5RztKvLn6o2Xk2WTqkQmA2jQwsFzM".to_string()),
        };
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(AppError::internal)?;
        let user = match (user, ok) {
            (Some(user), true) => UserId(user),
            _ => return Err(refused()),
        };
        let tenant = self.pick_tenant(user, tenant).await?;
        self.issue(user, tenant, Uuid::now_v7()).await
    }

    /// The tenant a login is for: the one named (membership checked) or the oldest.
    async fn pick_tenant(&self, user: UserId, tenant: Option<&str>) -> AppResult<TenantId> {
        match tenant {
            Some(named) => {
                let selector = match Uuid::parse_str(named) {
                    Ok(id) => TenantSelector::Id(TenantId(id)),
                    Err(_) => TenantSelector::Slug(named.trim().to_ascii_lowercase()),
                };
                self.check_member(user, selector).await
            }
            None => self
                .my_tenants(user)
                .await?
                .into_iter()
                .next()
                .map(|t| TenantId(t.id))
                .ok_or_else(|| {
                    AppError::new(ErrorCode::Forbidden, "you are not a member of any tenant")
                }),
        }
    }

    async fn check_member(&self, user: UserId, selector: TenantSelector) -> AppResult<TenantId> {
        let principal = Principal {
            user_id: user,
            tenant: Some(selector),
            role_cap: None,
        };
        let mut conn = crate::db::live_connection(&self.pool).await?;
        Ok(self
            .resolver
            .resolve(&mut conn, &principal)
            .await?
            .tenant_id)
    }

    /// Signs an access token and stores a new refresh token of `family`.
    async fn issue(&self, user: UserId, tenant: TenantId, family: Uuid) -> AppResult<TokenPair> {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let refresh_token = format!("{}.{}", tenant.0.simple(), secret);
        let hash = sha256(&refresh_token);
        let expires = Utc::now()
            + chrono::Duration::from_std(self.refresh_ttl).map_err(AppError::internal)?;
        self.auth_tx(move |c| async move {
            diesel::sql_query(
                "INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind::<SqlUuid, _>(tenant.0)
            .bind::<SqlUuid, _>(Uuid::now_v7())
            .bind::<SqlUuid, _>(family)
            .bind::<SqlUuid, _>(user.0)
            .bind::<Text, _>(&hash)
            .bind::<Timestamptz, _>(expires)
            .execute(c)
            .await?;
            Ok(())
        }.scope_boxed())
        .await?;
        Ok(TokenPair {
            access_token: self
                .keys
                .sign(user, Some(tenant), self.access_ttl)
                .map_err(AppError::internal)?,
            refresh_token,
            expires_in: self.access_ttl.as_secs() as i64,
            tenant_id: tenant.0.to_string(),
        })
    }

    /// Exchanges a refresh token for a new pair. A token used before revokes its family.
    pub async fn refresh(&self, token: &str) -> AppResult<TokenPair> {
        let tenant = token
            .split_once('.')
            .and_then(|(t, _)| Uuid::parse_str(t).ok())
            .map(TenantId)
            .ok_or_else(bad_refresh)?;
        let hash = sha256(token);
        enum Outcome {
            Rotate(UserId, Uuid),
            Replayed,
            Invalid,
        }
        let outcome = self
            .auth_tx(move |c| async move {
                let stored = diesel::sql_query(
                    "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
                      WHERE tenant_id = $1 AND token_hash = $2 FOR UPDATE",
                )
                .bind::<SqlUuid, _>(tenant.0)
                .bind::<Text, _>(&hash)
                .load::<StoredToken>(c)
                .await?
                .pop();
                let Some(stored) = stored else {
                    return Ok(Outcome::Invalid);
                };
                if stored.used_at.is_some() || stored.revoked_at.is_some() {
                    diesel::sql_query(
                        "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())
                          WHERE tenant_id = $1 AND family_id = $2",
                    )
                    .bind::<SqlUuid, _>(tenant.0)
                    .bind::<SqlUuid, _>(stored.family_id)
                    .execute(c)
                    .await?;
                    return Ok(if stored.used_at.is_some() { Outcome::Replayed } else { Outcome::Invalid });
                }
                if stored.expires_at <= Utc::now() {
                    return Ok(Outcome::Invalid);
                }
                diesel::sql_query(
                    "UPDATE refresh_tokens SET used_at = now() WHERE tenant_id = $1 AND token_hash = $2",
                )
                .bind::<SqlUuid, _>(tenant.0)
                .bind::<Text, _>(&hash)
                .execute(c)
                .await?;
                Ok(Outcome::Rotate(UserId(stored.user_id), stored.family_id))
            }.scope_boxed())
            .await?;
        match outcome {
            Outcome::Rotate(user, family) => {
                // Still a member of a live tenant?
                self.check_member(user, TenantSelector::Id(tenant))
                    .await
                    .map_err(|_| bad_refresh())?;
                self.issue(user, tenant, family).await
            }
            Outcome::Replayed => {
                tracing::warn!(tenant_id = %tenant, "refresh token replayed; family revoked");
                Err(bad_refresh())
            }
            Outcome::Invalid => Err(bad_refresh()),
        }
    }

    /// Revokes the refresh token's whole family. Unknown tokens are not an error.
    pub async fn logout(&self, token: &str) -> AppResult<()> {
        let Some(tenant) = token
            .split_once('.')
            .and_then(|(t, _)| Uuid::parse_str(t).ok())
        else {
            return Ok(());
        };
        let hash = sha256(token);
        self.auth_tx(move |c| async move {
            diesel::sql_query(
                "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())
                  WHERE tenant_id = $1 AND family_id IN
                        (SELECT family_id FROM refresh_tokens WHERE tenant_id = $1 AND token_hash = $2)",
            )
            .bind::<SqlUuid, _>(tenant)
            .bind::<Text, _>(&hash)
            .execute(c)
            .await?;
            Ok(())
        }.scope_boxed())
        .await
    }

    /// The live tenants `user` belongs to, oldest membership first.
    pub async fn my_tenants(&self, user: UserId) -> AppResult<Vec<MyTenant>> {
        self.auth_tx(move |c| async move {
            Ok(diesel::sql_query(
                "SELECT t.id, t.slug, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
                  WHERE m.user_id = $1 AND t.status <> 'deleted' ORDER BY m.created_at, t.slug",
            )
            .bind::<SqlUuid, _>(user.0)
            .load(c)
            .await?)
        }.scope_boxed())
        .await
    }

    /// A new token pair for another tenant `user` belongs to.
    pub async fn switch_tenant(&self, user: UserId, tenant: &str) -> AppResult<TokenPair> {
        let tenant = self.pick_tenant(user, Some(tenant)).await?;
        self.issue(user, tenant, Uuid::now_v7()).await
    }
}

/// What an API key grants: whose it is, where, and up to which role.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyGrant {
    /// The key's tenant.
    pub tenant: TenantId,
    /// The member who created it (the request acts as them).
    pub user: UserId,
    /// The key's role cap.
    pub role: Role,
}

/// The prefix of API keys: `tk_<tenant>_<secret>`.
pub const API_KEY_PREFIX: &str = "tk_";

impl Sessions {
    /// A new API key secret for `tenant`, and the hash stored for it.
    pub fn new_api_key(tenant: TenantId) -> (String, String) {
        let secret = format!(
            "{API_KEY_PREFIX}{}_{}{}",
            tenant.0.simple(),
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        );
        let hash = sha256(&secret);
        (secret, hash)
    }

    /// Looks up a presented API key: unknown, revoked or expired keys are UNAUTHENTICATED.
    pub async fn api_key(&self, presented: &str) -> AppResult<ApiKeyGrant> {
        let tenant = presented
            .strip_prefix(API_KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(t, _)| Uuid::parse_str(t).ok())
            .map(TenantId)
            .ok_or_else(AppError::unauthenticated)?;
        let hash = sha256(presented);
        if let Some(grant) = self.resolver.cached_api_key(&hash).await {
            return Ok(grant);
        }
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = SqlUuid)]
            created_by: Uuid,
            #[diesel(sql_type = Text)]
            role: Role,
            #[diesel(sql_type = Nullable<Timestamptz>)]
            expires_at: Option<DateTime<Utc>>,
        }
        let lookup = hash.clone();
        let seen = self.resolver.generation();
        let row: Option<Row> = self
            .auth_tx(move |c| {
                async move {
                    Ok(diesel::sql_query(
                        "SELECT created_by, role, expires_at FROM api_keys
                          WHERE tenant_id = $1 AND token_hash = $2 AND revoked_at IS NULL
                            AND (expires_at IS NULL OR expires_at > now())",
                    )
                    .bind::<SqlUuid, _>(tenant.0)
                    .bind::<Text, _>(&lookup)
                    .load::<Row>(c)
                    .await?
                    .pop())
                }
                .scope_boxed()
            })
            .await?;
        let row = row.ok_or_else(AppError::unauthenticated)?;
        let grant = ApiKeyGrant {
            tenant,
            user: UserId(row.created_by),
            role: row.role,
        };
        // Revocation reaches every process through the tenancy channel (see migrations).
        self.resolver
            .remember_api_key(seen, hash, grant, row.expires_at)
            .await;
        Ok(grant)
    }
}
