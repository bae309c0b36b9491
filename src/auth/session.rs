//! The auth path: password login (argon2id) within the login limits ([`super::limits`]),
//! rotating refresh tokens, logout, and switching tenant (the caller's tenants are
//! [`super::my_tenants`]'s).
//!
//! A login without a tenant uses the user's last used tenant (the last one they signed in
//! to, refreshed or switched to: `users.last_tenant_id`, written only here), never one
//! chosen by somebody else; without one it answers with the user's tenants to choose from
//! and an access token bound to no tenant, enough for `myTenants`, `myInvitations`,
//! accepting an invitation and `switchTenant`.
//!
//! These run before any tenant is chosen, so they cannot use the request's tenant
//! transaction. They run in their own short transactions as `tenantry_auth`, a NOLOGIN
//! role whose policies let it read memberships across tenants and manage refresh tokens.
//! Nothing else on the request path runs as it, except the api_keys domain's lookup of a
//! presented key, through the same [`auth_tx`] ([`super::auth_tx`]). Refresh tokens are
//! stored hashed (SHA-256); a token that was already rotated and is presented again revokes
//! its whole family (someone replayed a stolen token).

use super::auth_tx::{auth_tx, FanOut};
use super::client::{address_key, current_client_address};
use super::limits::LoginLimits;
use super::my_tenants::MyTenant;
use super::secrets::{sha256_hex, verify_password};
use super::tenant::TenantResolver;
use super::token::TokenKeys;
use super::{Principal, TenantSelector};
use crate::db::functions::lower;
use crate::db::schema::{refresh_tokens, users};
use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
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

/// What `login` answers: an access token, and when a tenant was chosen (named, or the last
/// one used) a refresh token for it; without one, the tenants to choose from.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct LoginResult {
    /// Bearer token for `Authorization`: bound to `tenantId`, or to no tenant when none was
    /// chosen (then good for `myTenants`, `myInvitations`, `acceptInvitation` and
    /// `switchTenant`, or with a tenant header naming one of the user's tenants).
    pub access_token: String,
    /// Opaque token for `refreshToken`, usable once; null when no tenant was chosen.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The tenant the tokens are for (its id); null when no tenant was named and none was
    /// used before: choose one of `tenants` with `switchTenant` (or `login` again naming it).
    pub tenant_id: Option<String>,
    /// The tenants the user belongs to, oldest membership first.
    pub tenants: Vec<MyTenant>,
}

/// What a login checks, and nothing more of `users`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
struct Credentials {
    id: Uuid,
    password_hash: Option<String>,
    last_tenant_id: Option<Uuid>,
}

/// A refresh token as `refresh` reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(Pg))]
struct StoredToken {
    family_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// A refresh token to store (only its hash).
#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewRefreshToken<'a> {
    tenant_id: Uuid,
    id: Uuid,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &'a str,
    expires_at: DateTime<Utc>,
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
    /// Failed-login limits (online password guessing), counted in the database.
    limits: LoginLimits,
    /// Whether its transactions refuse statements that fan out (see [`FanOut`]).
    fan_out: FanOut,
}

impl Sessions {
    /// Sessions over `pool`, signing with `keys`, logins held to `limits`.
    pub fn new(
        pool: PgPool,
        keys: TokenKeys,
        resolver: TenantResolver,
        limits: LoginLimits,
    ) -> Self {
        Self {
            pool,
            keys,
            resolver,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            limits,
            fan_out: FanOut::Allowed,
        }
    }

    /// The same service, whose transactions refuse statements that fan out if `fan_out` is
    /// [`FanOut::Refused`] (`TENANTRY_CITUS_REFUSE_FAN_OUT`).
    pub fn with_fan_out(mut self, fan_out: FanOut) -> Self {
        self.fan_out = fan_out;
        self
    }

    /// Whether this service's transactions refuse statements that fan out.
    pub(super) fn fan_out(&self) -> FanOut {
        self.fan_out
    }

    /// The database pool (for the auth path's other services, such as the invitee's side of
    /// invitations).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` in a transaction as `tenantry_auth` ([`auth_tx`]), refusing fan-out as
    /// configured.
    pub(super) async fn auth_tx<'a, R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'a,
        F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, AppResult<R>>
            + Send
            + 'a,
    {
        auth_tx(&self.pool, self.fan_out, f).await
    }

    /// Logs in with email and password; the tokens are for `tenant` (slug or id) or,
    /// without one, for the user's last used tenant; with neither, the access token is bound
    /// to no tenant and the answer lists the user's tenants. Refused (RATE_LIMITED) by the
    /// login limits for the request's client address ([`super::client`]).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> AppResult<LoginResult> {
        let email = email.trim().to_string();
        // No address is longer; refusing here keeps long keys out of the limits' table.
        if email.len() > 254 {
            return Err(refused());
        }
        let address = address_key(current_client_address());
        let limits = self.limits;
        let (found, attempt) = self
            .auth_tx(move |c| {
                async move {
                    let attempt = limits.admit(c, &email, &address).await?;
                    // At most one row: users_email_key is unique on lower(email).
                    let found: Option<Credentials> = users::table
                        .filter(lower(users::email).eq(lower(&email)))
                        .select(Credentials::as_select())
                        .first(c)
                        .await
                        .optional()?;
                    Ok((found, attempt))
                }
                .scope_boxed()
            })
            .await?;
        let password = password.to_string();
        let (user, last_tenant, hash) = match found {
            Some(Credentials { id, password_hash: Some(hash), last_tenant_id }) => (Some(id), last_tenant_id, hash),
            // Same work for unknown users and users without a password: no timing oracle.
            _ => (None, None, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9Cg9TNkLvHqxTQ5RztKvLn6o2Xk2WTqkQmA2jQwsFzM".to_string()),
        };
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(AppError::internal)?;
        let user = match (user, ok) {
            (Some(user), true) => UserId(user),
            // The failure stays recorded.
            _ => return Err(refused()),
        };
        self.auth_tx(move |c| {
            async move { LoginLimits::succeeded(c, &attempt).await }.scope_boxed()
        })
        .await?;
        let tenants = self.my_tenants(user).await?;
        let chosen = match tenant {
            Some(named) => Some(self.pick_tenant(user, named).await?),
            None => match last_tenant {
                // Still a member of that live tenant? Otherwise the user chooses.
                Some(last) => match self
                    .check_member(user, TenantSelector::Id(TenantId(last)))
                    .await
                {
                    Ok(tenant) => Some(tenant),
                    Err(e)
                        if matches!(
                            e.code,
                            ErrorCode::Forbidden
                                | ErrorCode::TenantNotFound
                                | ErrorCode::TenantSuspended
                        ) =>
                    {
                        None
                    }
                    Err(e) => return Err(e),
                },
                None => None,
            },
        };
        match chosen {
            Some(tenant) => {
                let pair = self.issue(user, tenant, Uuid::now_v7()).await?;
                Ok(LoginResult {
                    access_token: pair.access_token,
                    refresh_token: Some(pair.refresh_token),
                    expires_in: pair.expires_in,
                    tenant_id: Some(pair.tenant_id),
                    tenants,
                })
            }
            None => Ok(LoginResult {
                access_token: self
                    .keys
                    .sign(user, None, self.access_ttl)
                    .map_err(AppError::internal)?,
                refresh_token: None,
                expires_in: self.access_ttl.as_secs() as i64,
                tenant_id: None,
                tenants,
            }),
        }
    }

    /// The tenant named by slug or id, if `user` is a member of it and it is live.
    async fn pick_tenant(&self, user: UserId, named: &str) -> AppResult<TenantId> {
        let selector = match Uuid::parse_str(named) {
            Ok(id) => TenantSelector::Id(TenantId(id)),
            Err(_) => TenantSelector::Slug(named.trim().to_ascii_lowercase()),
        };
        self.check_member(user, selector).await
    }

    async fn check_member(&self, user: UserId, selector: TenantSelector) -> AppResult<TenantId> {
        let principal = Principal {
            user_id: user,
            tenant: Some(selector),
            role_cap: None,
            bound_tenant: None,
        };
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let resolver = &self.resolver;
        // In a transaction, like every statement on a pooled connection: a
        // transaction-mode pooler may otherwise parse it on one server connection and run
        // it on another.
        let member = conn
            .build_transaction()
            .read_only()
            .run::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
                resolver.resolve(c, &principal).await
            })
            .await?;
        Ok(member.tenant_id)
    }

    /// Signs an access token and stores a new refresh token of `family`.
    async fn issue(&self, user: UserId, tenant: TenantId, family: Uuid) -> AppResult<TokenPair> {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let refresh_token = format!("{}.{}", tenant.0.simple(), secret);
        let hash = sha256_hex(&refresh_token);
        let expires = Utc::now()
            + chrono::Duration::from_std(self.refresh_ttl).map_err(AppError::internal)?;
        self.auth_tx(move |c| {
            async move {
                // The tenant this user last used, for their next login without one. The
                // policy lets the auth role write only the user of `app.user_id`, and only
                // a tenant that user belongs to. A SET LOCAL (rendered from a typed uuid),
                // not set_config(): on Citus `users` is a reference table, updated on every
                // node's copy under that node's policy, and Citus carries only SET LOCALs
                // to the workers (with set_config() only the coordinator's copy changed).
                //
                // Also on Citus: users.last_tenant_id references `tenants`, another
                // reference table. To serialise a write to `users` with writes sent from
                // other nodes, Citus would lock the `tenants` copy on the first worker
                // through `lock_shard_resources`, run there as the current role, which
                // demands UPDATE, DELETE or TRUNCATE on `tenants`: the auth role has none
                // ("permission denied for table tenants"). Tenantry writes reference tables
                // through the coordinator only, which takes the same locks itself: the
                // remote one is skipped, for this statement alone. (An unknown `citus.`
                // setting is harmless on one server. The SETs go in a batch of their own:
                // Citus re-runs a SET's whole batch on the workers.)
                c.batch_execute(&format!(
                    "SET LOCAL app.user_id = '{}'; \
                     SET LOCAL citus.allow_modifications_from_workers_to_replicated_tables = off",
                    user.0
                ))
                .await?;
                diesel::update(users::table.find(user.0))
                    .filter(users::last_tenant_id.is_distinct_from(tenant.0))
                    .set(users::last_tenant_id.eq(tenant.0))
                    .execute(c)
                    .await?;
                c.batch_execute(
                    "SET LOCAL citus.allow_modifications_from_workers_to_replicated_tables \
                     TO DEFAULT",
                )
                .await?;
                diesel::insert_into(refresh_tokens::table)
                    .values(NewRefreshToken {
                        tenant_id: tenant.0,
                        id: Uuid::now_v7(),
                        family_id: family,
                        user_id: user.0,
                        token_hash: &hash,
                        expires_at: expires,
                    })
                    .execute(c)
                    .await?;
                Ok(())
            }
            .scope_boxed()
        })
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
        let hash = sha256_hex(token);
        enum Outcome {
            Rotate(UserId, Uuid),
            Replayed,
            Invalid,
        }
        let outcome = self
            .auth_tx(move |c| {
                async move {
                    let this_token = refresh_tokens::table
                        .filter(refresh_tokens::tenant_id.eq(tenant.0))
                        .filter(refresh_tokens::token_hash.eq(&hash));
                    // At most one row: refresh_tokens_hash_idx is unique.
                    let stored = this_token
                        .select(StoredToken::as_select())
                        .for_update()
                        .first(c)
                        .await
                        .optional()?;
                    let Some(stored) = stored else {
                        return Ok(Outcome::Invalid);
                    };
                    if stored.used_at.is_some() || stored.revoked_at.is_some() {
                        // Tokens revoked before keep their time (not coalesce(revoked_at,
                        // now()): Citus refuses a non-immutable function in a COALESCE).
                        diesel::update(
                            refresh_tokens::table
                                .filter(refresh_tokens::tenant_id.eq(tenant.0))
                                .filter(refresh_tokens::family_id.eq(stored.family_id))
                                .filter(refresh_tokens::revoked_at.is_null()),
                        )
                        .set(refresh_tokens::revoked_at.eq(now))
                        .execute(c)
                        .await?;
                        return Ok(if stored.used_at.is_some() {
                            Outcome::Replayed
                        } else {
                            Outcome::Invalid
                        });
                    }
                    if stored.expires_at <= Utc::now() {
                        return Ok(Outcome::Invalid);
                    }
                    diesel::update(this_token)
                        .set(refresh_tokens::used_at.eq(now))
                        .execute(c)
                        .await?;
                    Ok(Outcome::Rotate(UserId(stored.user_id), stored.family_id))
                }
                .scope_boxed()
            })
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
        let hash = sha256_hex(token);
        self.auth_tx(move |c| {
            async move {
                // The token's family, as a subquery: one statement, as the outer table
                // under another name.
                let presented = diesel::alias!(refresh_tokens as presented);
                let family = presented
                    .filter(presented.field(refresh_tokens::tenant_id).eq(tenant))
                    .filter(presented.field(refresh_tokens::token_hash).eq(&hash))
                    .select(presented.field(refresh_tokens::family_id));
                // Tokens revoked before keep their time (not coalesce(revoked_at, now()):
                // Citus refuses a non-immutable function in a COALESCE).
                diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::tenant_id.eq(tenant))
                        .filter(refresh_tokens::family_id.eq_any(family))
                        .filter(refresh_tokens::revoked_at.is_null()),
                )
                .set(refresh_tokens::revoked_at.eq(now))
                .execute(c)
                .await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await
    }

    /// A new token pair for another tenant `user` belongs to (from then on their last used).
    pub async fn switch_tenant(&self, user: UserId, tenant: &str) -> AppResult<TokenPair> {
        let tenant = self.pick_tenant(user, tenant).await?;
        self.issue(user, tenant, Uuid::now_v7()).await
    }
}
