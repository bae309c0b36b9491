//! Resolving the tenant a request names and the caller's membership in it.
//!
//! The answer (tenant id, status, role) comes from `app.resolve_member`, a SECURITY DEFINER
//! function that only reveals what the caller may know, and is cached per process for a
//! short time so the request path does not pay a lookup per request. The role always comes
//! from the database, never from the token.

use super::{ApiKeyGrant, KeyCap, Member, Principal, Role, TenantSelector, TenantStatus};
use crate::auth::plans::{Feature, PermissionSet, Plan};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::{NotUntil, Quota, RateLimiter};
use moka::future::Cache;
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(QueryableByName)]
struct ResolvedRow {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    tenant_status: TenantStatus,
    #[diesel(sql_type = Nullable<Text>)]
    member_role: Option<Role>,
    #[diesel(sql_type = Text)]
    tenant_plan: Plan,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    disabled_features: Vec<String>,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    custom_permissions: Vec<String>,
}

/// Outcome of a resolution, cached as is (refusals too, so a flood of bad requests is cheap).
type Resolution = Result<Member, ErrorCode>;

/// The instants of governor's default clock.
type Instant = <DefaultClock as Clock>::Instant;

/// A rate limiter that reports its state (remaining burst) with each decision.
type Limiter<K> = RateLimiter<
    K,
    governor::state::keyed::DefaultKeyedStateStore<K>,
    governor::clock::DefaultClock,
    StateInformationMiddleware,
>;
/// One API key's own limiter (its rate is fixed when the key is created).
type KeyLimiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
    StateInformationMiddleware,
>;

/// Where a request stands against the rate that applies to it, for the `RateLimit-*`
/// response headers: the tenant's plan rate, or the API key's own when that one is nearer
/// its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Requests per minute allowed.
    pub limit: u32,
    /// Requests that may still be sent right now.
    pub remaining: u32,
    /// Seconds until the whole allowance is available again.
    pub reset_secs: u64,
    /// Set when this request was refused: seconds until one more is allowed.
    pub retry_after_secs: Option<u64>,
}

impl RateState {
    /// The state after an admitted request, from governor's snapshot.
    fn admitted(snapshot: &StateSnapshot) -> Self {
        let quota = snapshot.quota();
        let limit = quota.burst_size().get();
        let remaining = snapshot.remaining_burst_capacity();
        let used = limit.saturating_sub(remaining);
        Self {
            limit,
            remaining,
            reset_secs: ceil_secs(quota.replenish_interval() * used),
            retry_after_secs: None,
        }
    }

    /// The state of a refused request, from governor's answer.
    fn refused(not_until: &NotUntil<Instant>, clock: &DefaultClock) -> Self {
        let quota = not_until.quota();
        let limit = quota.burst_size().get();
        let wait = not_until.wait_time_from(clock.now());
        Self {
            limit,
            remaining: 0,
            reset_secs: ceil_secs(quota.replenish_interval() * limit),
            retry_after_secs: Some(ceil_secs(wait).max(1)),
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// What the rate said of one request: admitted (with the state of the nearest limit, if
/// any limit applies), or refused.
pub type RateDecision = Result<Option<RateState>, (AppError, RateState)>;

/// Request rate limits: per tenant by its plan (one keyed limiter per plan that has a
/// limit), and per API key when the key has its own rate.
struct RateLimits {
    basic: Limiter<TenantId>,
    premium: Limiter<TenantId>,
    keys: moka::sync::Cache<uuid::Uuid, std::sync::Arc<KeyLimiter>>,
}

impl RateLimits {
    fn new() -> Self {
        let limiter = |plan: Plan| {
            let per_minute = plan
                .quotas()
                .requests_per_minute
                .and_then(|n| u32::try_from(n).ok())
                .and_then(NonZeroU32::new)
                .unwrap_or(NonZeroU32::MAX);
            RateLimiter::keyed(Quota::per_minute(per_minute)).with_middleware()
        };
        Self {
            basic: limiter(Plan::Basic),
            premium: limiter(Plan::Premium),
            // A key unused for ten minutes has its whole allowance back anyway.
            keys: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    /// Counts one request of `member` (through API key `key`, if any) against the plan's
    /// requests per minute and the key's own rate; RATE_LIMITED when either is used up.
    fn admit(&self, member: &Member, key: Option<KeyCap>) -> RateDecision {
        // The key's own rate first: a key refused by it must not spend its tenant's
        // allowance, which the tenant's other keys and users share.
        let own = match key.and_then(|k| Some((k.key, NonZeroU32::new(k.requests_per_minute?)?))) {
            None => None,
            Some((key, per_minute)) => {
                let limiter = self.keys.get_with(key, || {
                    std::sync::Arc::new(
                        RateLimiter::direct(Quota::per_minute(per_minute)).with_middleware(),
                    )
                });
                match limiter.check() {
                    Ok(snapshot) => Some(RateState::admitted(&snapshot)),
                    Err(not_until) => {
                        let state = RateState::refused(&not_until, limiter.clock());
                        let error = AppError::new(
                            ErrorCode::RateLimited,
                            format!(
                                "this API key allows {} requests per minute; retry in {} s",
                                state.limit,
                                state.retry_after_secs.unwrap_or(1)
                            ),
                        );
                        return Err((error, state));
                    }
                }
            }
        };
        let limiter = match member.plan {
            Plan::Basic => Some(&self.basic),
            Plan::Premium => Some(&self.premium),
            Plan::Enterprise | Plan::Custom => None,
        };
        let tenant = match limiter.map(|l| (l, l.check_key(&member.tenant_id))) {
            None => None,
            Some((_, Ok(snapshot))) => Some(RateState::admitted(&snapshot)),
            Some((limiter, Err(not_until))) => {
                let state = RateState::refused(&not_until, limiter.clock());
                let error = AppError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "the {} plan allows {} requests per minute; retry in {} s",
                        member.plan.as_str(),
                        state.limit,
                        state.retry_after_secs.unwrap_or(1)
                    ),
                );
                return Err((error, state));
            }
        };
        // The headers show whichever limit is nearer.
        Ok(match (tenant, own) {
            (Some(t), Some(o)) if t.remaining <= o.remaining => Some(t),
            (t, None) => t,
            (_, o) => o,
        })
    }
}

/// Resolves and caches memberships (and API keys), and admits requests within the plan's
/// rate.
#[derive(Clone)]
pub struct TenantResolver {
    cache: Cache<(UserId, TenantSelector), Resolution>,
    /// Valid API keys by the hash of their secret, with their expiry.
    api_keys: Cache<String, (ApiKeyGrant, Option<DateTime<Utc>>)>,
    /// Counts invalidations: an answer read before one must not be cached after it.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    limits: std::sync::Arc<RateLimits>,
}

impl TenantResolver {
    /// A resolver whose answers live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            api_keys: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            generation: Default::default(),
            limits: std::sync::Arc::new(RateLimits::new()),
        }
    }

    /// The current cache generation: take it before reading what you will cache.
    pub fn generation(&self) -> u64 {
        // (Spelled out: diesel's `RunQueryDsl::load` is in scope too.)
        std::sync::atomic::AtomicU64::load(&self.generation, std::sync::atomic::Ordering::SeqCst)
    }

    /// The cached answer for `principal`, if any.
    pub async fn cached(&self, principal: &Principal) -> Option<AppResult<Member>> {
        let selector = principal.tenant.clone()?;
        let cached = self.cache.get(&(principal.user_id, selector)).await;
        crate::telemetry::metrics::count_lookup("membership", cached.is_some());
        cached.map(|r| r.map_err(refusal))
    }

    /// Resolves `principal` on `conn` and caches the answer (the request transaction calls it
    /// after its BEGIN, so behind a transaction pooler its statements stay on one connection).
    pub async fn resolve(
        &self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
    ) -> AppResult<Member> {
        let Some(selector) = principal.tenant.clone() else {
            return Err(AppError::new(
                ErrorCode::TenantNotFound,
                "no tenant named: use a token with a tenant, or the X-Tenant-ID or X-Tenant-Slug header",
            ));
        };
        let (by_id, by_slug, by_domain) = match &selector {
            TenantSelector::Id(id) => (Some(id.0), None, None),
            TenantSelector::Slug(slug) => (None, Some(slug.clone()), None),
            TenantSelector::Domain(domain, slug) => (None, slug.clone(), Some(domain.clone())),
        };
        let seen = self.generation();
        // sql_query: diesel's DSL cannot select from a set-returning (SECURITY DEFINER) function.
        let row: Option<ResolvedRow> = diesel::sql_query(
            "SELECT tenant_id, tenant_status, member_role, tenant_plan, disabled_features, custom_permissions \
             FROM app.resolve_member($1, $2, $3, $4)",
        )
        .bind::<SqlUuid, _>(principal.user_id.0)
        .bind::<Nullable<SqlUuid>, _>(by_id)
        .bind::<Nullable<Text>, _>(by_slug)
        .bind::<Nullable<Text>, _>(by_domain)
        .get_result(conn)
        .await
        .map(Some)
        .or_else(|e| match e {
            diesel::result::Error::NotFound => Ok(None),
            e => Err(AppError::from(e)),
        })?;
        let resolution = decide(principal.user_id, row);
        let key = (principal.user_id, selector);
        self.insert_if_current(&self.cache, seen, key, resolution)
            .await;
        resolution.map_err(refusal)
    }

    /// Admits one request of `member` (through API key `key`, if any) within its plan's
    /// requests per minute and the key's own rate.
    pub fn admit(&self, member: &Member, key: Option<KeyCap>) -> RateDecision {
        self.limits.admit(member, key)
    }

    /// The grant of the API key whose secret hashes to `hash`, if cached and not expired.
    pub async fn cached_api_key(&self, hash: &str) -> Option<ApiKeyGrant> {
        let cached = self.api_keys.get(hash).await;
        crate::telemetry::metrics::count_lookup("api_key", cached.is_some());
        let (grant, expires_at) = cached?;
        expires_at.is_none_or(|at| at > Utc::now()).then_some(grant)
    }

    /// Remembers a valid API key (until the TTL, its expiry, or any tenancy change) read at
    /// generation `seen` (see [`TenantResolver::generation`]).
    pub async fn remember_api_key(
        &self,
        seen: u64,
        hash: String,
        grant: ApiKeyGrant,
        expires_at: Option<DateTime<Utc>>,
    ) {
        self.insert_if_current(&self.api_keys, seen, hash, (grant, expires_at))
            .await;
    }

    /// Caches `value` read at generation `seen`, unless an invalidation came since: a
    /// change announced while the lookup ran may already be missing from its answer.
    async fn insert_if_current<K, V>(&self, cache: &Cache<K, V>, seen: u64, key: K, value: V)
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if self.generation() == seen {
            cache.insert(key.clone(), value).await;
            if self.generation() != seen {
                cache.invalidate(&key).await;
            }
        }
    }

    /// Forgets every cached answer (after a membership, tenant status or API key change).
    pub fn invalidate_all(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cache.invalidate_all();
        self.api_keys.invalidate_all();
        crate::telemetry::metrics::count_invalidation("membership");
        crate::telemetry::metrics::count_invalidation("api_key");
    }
}

fn decide(user_id: UserId, row: Option<ResolvedRow>) -> Resolution {
    let row = row.ok_or(ErrorCode::TenantNotFound)?;
    // Membership first: a non-member learns nothing about the tenant's status.
    let role = row.member_role.ok_or(ErrorCode::Forbidden)?;
    if row.tenant_status != TenantStatus::Active {
        return Err(ErrorCode::TenantSuspended);
    }
    let plan = row.tenant_plan;
    let disabled: Vec<Feature> = row
        .disabled_features
        .iter()
        .filter_map(|f| Feature::parse(f))
        .collect();
    Ok(Member {
        tenant_id: TenantId(row.tenant_id),
        user_id,
        role,
        plan,
        features: plan.features().without(&disabled),
        custom_permissions: PermissionSet::parse_all(&row.custom_permissions),
    })
}

fn refusal(code: ErrorCode) -> AppError {
    let message = match code {
        ErrorCode::TenantNotFound => "tenant not found",
        ErrorCode::Forbidden => "you are not a member of this tenant",
        ErrorCode::TenantSuspended => "this tenant is suspended",
        _ => "tenant refused",
    };
    AppError::new(code, message)
}
