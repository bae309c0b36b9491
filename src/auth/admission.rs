//! Admission: who may open a request's transaction, and as whom. The request's tenant
//! transaction ([`crate::db::TenantTx`]) asks this on first use:
//!
//! 1. the caller's membership in the named tenant (cached per process, else looked up
//!    through `app.resolve_member`): not a member → FORBIDDEN, suspended → TENANT_SUSPENDED;
//! 2. for an API key: only while the plan has the `api_keys` feature, and never above the
//!    key's role (its creator's custom-role permissions do not ride along);
//! 3. the tenant's plan rate and the API key's own (RATE_LIMITED), counted once per request.
//!
//! What it decided is kept in the request's [`RequestRecord`] (with the cost the executor
//! charged, see [`RequestAdmission::note_cost`]): the HTTP layer answers with it (the
//! `RateLimit-*` headers, 429, `extensions.cost`) and the usage meter counts the request
//! for the admitted tenant.

use super::plans::Feature;
use super::tenant::{RateState, TenantResolver};
use super::{Member, Principal};
use crate::db::tx::{Admission, Identity, TenantTx};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::UserId;
use diesel_async::AsyncPgConnection;

/// The request's tenant transaction, admitted by [`RequestAdmission`].
pub type RequestTx = TenantTx<RequestAdmission>;

/// What admission learnt of one request, for its response and its metering.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    /// The member admitted (set before the rate is counted: a request the rate refuses is
    /// still the tenant's).
    pub member: Option<Member>,
    /// Where the request stands against its rate, when a rate applies.
    pub rate: Option<RateState>,
    /// The rate's refusal (RATE_LIMITED, naming the limit and when to retry), if it refused.
    pub rate_limited: Option<AppError>,
    /// The cost charged for it, once the executor computed it and the request reached its
    /// tenant.
    pub cost: Option<CostView>,
    /// The cost the executor computed, not charged yet (the transaction is not open).
    pub pending_cost: Option<u64>,
}

impl RequestRecord {
    /// The request's cost, charged or not.
    pub fn requested(&self) -> u64 {
        self.cost
            .map(|c| c.requested)
            .or(self.pending_cost)
            .unwrap_or(0)
    }
}

/// Decides whether a tenant may spend a request's cost (the usage meter implements it; the
/// admission asks it for each request that reaches its tenant).
pub trait CostGate: Send + Sync {
    /// Charges `cost` to `member`'s tenant, or refuses it (QUOTA_EXCEEDED naming the budget
    /// and when it resets) when it would take the tenant over its plan's monthly budget.
    fn charge(&self, member: &Member, cost: u64) -> AppResult<CostView>;
}

/// The cost of one request (its query complexity) and, when the tenant's plan has a
/// monthly budget, what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostView {
    /// The request's cost.
    pub requested: u64,
    /// The plan's budget, if it has one.
    pub budget: Option<BudgetView>,
}

/// A tenant's monthly cost budget as of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetView {
    /// The budget per UTC calendar month.
    pub budget: i64,
    /// What is left of it this month, after this request.
    pub remaining: i64,
    /// When the budget starts again (the next month's first instant, UTC).
    pub resets_at: chrono::DateTime<chrono::Utc>,
}

/// The admission of one request of `principal` (None: anonymous), or of the read of a
/// batch of live events of one tenant (see [`RequestAdmission::tenant_events`]).
pub struct RequestAdmission {
    resolver: TenantResolver,
    principal: Option<Principal>,
    /// Set for a live-event read: admitted as this, without a lookup or a rate count.
    events: Option<Member>,
    /// Not counted against the plan's request rate (a subscription's re-checks and
    /// deliveries: the rate meters HTTP requests, and must not end streams either).
    unmetered: bool,
    /// Charges the request's cost, when it has one (see [`RequestAdmission::note_cost`]).
    costs: Option<std::sync::Arc<dyn CostGate>>,
    record: std::sync::Mutex<RequestRecord>,
}

impl RequestAdmission {
    /// Admits `principal` through `resolver`'s cache and rate limits.
    pub fn new(resolver: TenantResolver, principal: Option<Principal>) -> Self {
        Self {
            resolver,
            principal,
            events: None,
            unmetered: false,
            costs: None,
            record: Default::default(),
        }
    }

    /// The same admission, charging each request's cost through `costs`.
    pub fn with_costs(mut self, costs: std::sync::Arc<dyn CostGate>) -> Self {
        self.costs = Some(costs);
        self
    }

    /// Like [`RequestAdmission::new`], without counting against the plan's request rate
    /// (for a subscription's re-checks and deliveries).
    pub fn unmetered(resolver: TenantResolver, principal: Option<Principal>) -> Self {
        Self {
            unmetered: true,
            ..Self::new(resolver, principal)
        }
    }

    /// The admission of the server's own read of a batch of live events of `tenant`'s
    /// `member` (whose tenant and plan it keeps): as no user (`app.user_id` is the nil
    /// uuid) and the lowest role, so the read sees exactly what row-level security lets
    /// any member of the tenant see. Subscribers are filtered by their own role after.
    pub fn tenant_events(resolver: TenantResolver, member: &Member) -> Self {
        Self {
            resolver,
            principal: None,
            events: Some(Member {
                user_id: UserId(uuid::Uuid::nil()),
                role: super::Role::Viewer,
                custom_permissions: Default::default(),
                ..*member
            }),
            unmetered: true,
            costs: None,
            record: Default::default(),
        }
    }

    /// What admission decided of this request so far (see [`RequestRecord`]).
    pub fn record(&self) -> RequestRecord {
        self.record.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Notes the request's cost (its complexity, once computed) and charges it: at once if
    /// the caller is admitted already, else when the transaction opens (so a request that
    /// never reaches its tenant is never charged). QUOTA_EXCEEDED over the budget.
    pub fn note_cost(&self, cost: u64) -> AppResult<()> {
        let mut record = self
            .record
            .lock()
            .map_err(|_| AppError::internal("request record lock poisoned"))?;
        if record.cost.is_some() || record.pending_cost.is_some() {
            // Noted already, charged or not: a compiled plan notes the whole operation's
            // cost before the sub-request of its delegated root fields notes that part's
            // own (the first is the request's), and a plan that declines after noting hands
            // the same request to the generic executor, which notes the same cost again.
            return Ok(());
        }
        record.pending_cost = Some(cost);
        match record.member {
            Some(member) => self.charge(&mut record, &member),
            None => Ok(()),
        }
    }

    /// Charges the pending cost of `record` to `member`'s tenant, once.
    fn charge(&self, record: &mut RequestRecord, member: &Member) -> AppResult<()> {
        let (Some(costs), Some(cost)) = (&self.costs, record.pending_cost.take()) else {
            return Ok(());
        };
        record.cost = Some(costs.charge(member, cost)?);
        Ok(())
    }

    /// The checks of admission other than the rate, on a looked-up or cached `member`:
    /// the credential's own tenant (one tenant per request), and for an API key the plan's
    /// feature and the key's role cap. A subscription re-checks its cached member with it.
    pub fn recheck(&self, mut member: Member) -> AppResult<Member> {
        let principal = self.principal()?;
        // One tenant per request: what the request names must be the credential's tenant.
        if principal
            .bound_tenant
            .is_some_and(|bound| bound != member.tenant_id)
        {
            let credential = if principal.role_cap.is_some() {
                "API key"
            } else {
                "token"
            };
            return Err(super::request::bound_elsewhere(credential));
        }
        if let Some(cap) = principal.role_cap {
            // An API key: only while its tenant's plan has the feature, never above its role.
            if !member.features.contains(Feature::ApiKeys) {
                return Err(AppError::new(
                    ErrorCode::FeatureNotEnabled,
                    "the api_keys feature is not enabled for this tenant",
                ));
            }
            member.role = member.role.min(cap.role);
            // The key's role is its whole scope: its creator's custom-role permissions do
            // not ride along (they could exceed the cap).
            member.custom_permissions = Default::default();
        }
        Ok(member)
    }

    /// The user who signed in for this request (known without touching the database), for
    /// the paths that act as the user beyond one tenant (their tenants, switching tenant,
    /// platform administration). UNAUTHENTICATED without a token; FORBIDDEN for an API key,
    /// which is bound to its tenant and role and must never become its creator's session.
    pub fn signed_in_user(&self) -> AppResult<UserId> {
        match &self.principal {
            None => Err(AppError::unauthenticated()),
            Some(p) if p.role_cap.is_some() => Err(AppError::new(
                ErrorCode::Forbidden,
                "an API key cannot do this; sign in as a user",
            )),
            Some(p) => Ok(p.user_id),
        }
    }

    fn principal(&self) -> AppResult<&Principal> {
        self.principal
            .as_ref()
            .ok_or_else(AppError::unauthenticated)
    }
}

#[async_trait::async_trait]
impl Admission for RequestAdmission {
    type Admitted = Member;

    async fn known(&self) -> Option<AppResult<Member>> {
        if let Some(events) = &self.events {
            return Some(Ok(*events));
        }
        match self.principal() {
            Ok(principal) => self.resolver.cached(principal).await,
            Err(e) => Some(Err(e)),
        }
    }

    async fn look_up(&self, conn: &mut AsyncPgConnection) -> AppResult<Member> {
        self.resolver.resolve(conn, self.principal()?).await
    }

    fn admit(&self, member: Member) -> AppResult<Member> {
        if self.events.is_some() {
            return Ok(member);
        }
        let member = self.recheck(member)?;
        if self.unmetered {
            return Ok(member);
        }
        let key = self.principal.as_ref().and_then(|p| p.role_cap);
        let decision = self.resolver.admit(&member, key);
        let mut record = self
            .record
            .lock()
            .map_err(|_| AppError::internal("request record lock poisoned"))?;
        record.member = Some(member);
        match decision {
            Ok(rate) => record.rate = rate,
            Err((e, rate)) => {
                record.rate = Some(rate);
                record.rate_limited = Some(e.clone());
                return Err(e);
            }
        }
        // The cost computed before the transaction opened is charged now.
        self.charge(&mut record, &member)?;
        Ok(member)
    }

    fn identity(&self, member: &Member) -> Identity {
        Identity {
            tenant_id: member.tenant_id,
            user_id: member.user_id,
            role: member.role.as_str(),
            api_key_id: self
                .principal
                .as_ref()
                .and_then(|p| p.role_cap)
                .map(|cap| cap.key),
        }
    }
}
