//! `tenantHealth`: how a tenant is doing, for its OWNER and ADMINs and for platform
//! administrators (any tenant) — `healthy`, `degraded` or `unhealthy` from its recent
//! error rate and 95th-percentile latency (this server's in-memory window, see
//! [`crate::telemetry::health`]), its use of the plan's quotas, and whether the database
//! answers; with those figures, in the shape of seed 003 (`status`, `checks`, `metrics`,
//! `lastChecked`).

use crate::auth::plans::{Plan, Quotas};
use crate::auth::Role;
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::relay::{decode_typed_id, global_id};
use crate::graphql::request_tx;
use crate::ids::TenantId;
use crate::telemetry::health::{Figures, HealthBook};
use crate::tenancy::graphql::TENANT_KIND;
use async_graphql::{Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;

/// Requests in the window below which the error rate is not judged (one failure of three
/// requests is not an outage).
const MIN_REQUESTS: u64 = 20;
/// Error rate (server errors / requests) from which a tenant is degraded.
const DEGRADED_ERROR_RATE: f64 = 0.01;
/// Error rate from which a tenant is unhealthy.
const UNHEALTHY_ERROR_RATE: f64 = 0.10;
/// 95th-percentile latency, in milliseconds, from which a tenant is degraded.
const DEGRADED_P95_MS: u32 = 1_000;
/// 95th-percentile latency from which a tenant is unhealthy.
const UNHEALTHY_P95_MS: u32 = 5_000;
/// Share of a quota from which a tenant is degraded (at 100 % it can add no more).
const DEGRADED_QUOTA_USE: f64 = 0.9;

/// A tenant's overall health.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthStatus {
    /// Every check passes.
    Healthy,
    /// Working, but a check is near its limit: errors above 1 %, p95 latency above 1 s,
    /// or a quota 90 % used.
    Degraded,
    /// Failing: the database does not answer, errors above 10 %, p95 latency above 5 s,
    /// or a quota exhausted.
    Unhealthy,
}

/// Each check of the health, true when it passes (is healthy).
#[derive(SimpleObject)]
pub struct HealthChecks {
    /// The database answered the tenant's queries.
    pub database: bool,
    /// The error rate is under 1 % (or there were too few requests to judge).
    pub error_rate: bool,
    /// The 95th-percentile latency is under one second.
    pub latency: bool,
    /// Every quota is under 90 % used.
    pub quotas: bool,
}

/// The tenant's recent requests on this server.
#[derive(SimpleObject)]
pub struct HealthMetrics {
    /// Requests in the window.
    pub requests: u64,
    /// Those that failed by the server's fault (INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE).
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// The 95th-percentile latency in milliseconds (null without requests).
    pub p95_latency_ms: Option<u32>,
    /// The window the figures cover, in seconds.
    pub window_seconds: u64,
}

/// One quota and how much of it the tenant uses.
#[derive(SimpleObject)]
pub struct QuotaUse {
    /// `members` or `contacts`.
    pub quota: String,
    /// How many the tenant has.
    pub used: i64,
    /// The plan's limit (null: unlimited).
    pub limit: Option<i64>,
    /// `used / limit` (null: unlimited).
    pub fraction: Option<f64>,
}

/// How a tenant is doing (see the module documentation).
#[derive(SimpleObject)]
pub struct TenantHealth {
    /// The tenant's global id.
    pub tenant_id: ID,
    /// The tenant's plan.
    pub plan: Plan,
    /// The worst of the checks.
    pub status: HealthStatus,
    /// Why the status is not healthy, one sentence per failing check.
    pub reasons: Vec<String>,
    /// Each check.
    pub checks: HealthChecks,
    /// The recent requests' figures.
    pub metrics: HealthMetrics,
    /// The quotas of the plan and their use (empty when the database did not answer).
    pub quota_use: Vec<QuotaUse>,
    /// When this was computed.
    pub last_checked: DateTime<Utc>,
}

/// The health query.
#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// The health of the current tenant (its OWNER and ADMINs), or of `tenantId`
    /// (platform administrators, any tenant; a tenant's admins may name their own).
    async fn tenant_health(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> Result<TenantHealth> {
        let tx = request_tx(ctx)?;
        let named = tenant_id
            .as_ref()
            .map(|id| decode_typed_id(id, TENANT_KIND, "tenantId"))
            .transpose()
            .gql()?;
        let book = crate::graphql::data::<Arc<HealthBook>>(ctx)?;
        // The caller's own tenant, when the request has one.
        let member = match named {
            None => Some(tx.member().await.gql()?),
            Some(_) => tx.member().await.ok(),
        };
        if let Some(member) = member.filter(|m| named.is_none_or(|id| id == m.tenant_id.0)) {
            if !member.role.at_least(Role::Admin) {
                return Err(AppError::new(
                    ErrorCode::Forbidden,
                    "tenant health is for the tenant's OWNER and ADMINs",
                )
                .into_graphql());
            }
            return own_health(&tx, member.tenant_id, member.plan, book)
                .await
                .gql();
        }
        // Another tenant (or no tenant of the caller's): platform administrators only.
        let platform = crate::platform::graphql::platform_admin(ctx).await?;
        let Some(id) = named else {
            return Err(AppError::new(ErrorCode::TenantNotFound, "name a tenant").into_graphql());
        };
        let tenant = TenantId(id);
        let (row, members, contacts) = platform.tenant_with_counts(tenant).await.gql()?;
        Ok(assess(
            tenant,
            row.plan,
            Some((members, contacts)),
            book.figures(tenant),
        ))
    }
}

/// The health of the request's own `tenant` on `plan`, its quota counts read in the
/// request transaction (a database that does not answer is a failing check, not an
/// error); for its OWNER and ADMINs (the caller checks).
pub async fn own_health(
    tx: &crate::auth::RequestTx,
    tenant: TenantId,
    plan: Plan,
    book: &HealthBook,
) -> crate::error::AppResult<TenantHealth> {
    let counts = tx
        .run(move |c| {
            async move { crate::tenancy::model::quota_counts(c, tenant.0).await }.scope_boxed()
        })
        .await;
    let counts = match counts {
        Ok(counts) => Some(counts),
        Err(e) if e.code == ErrorCode::ServiceUnavailable => None,
        Err(e) => return Err(e),
    };
    Ok(assess(tenant, plan, counts, book.figures(tenant)))
}

/// The health of `tenant` on `plan` from its quota counts (members, contacts; `None` when
/// the database did not answer) and recent figures.
fn assess(
    tenant: TenantId,
    plan: Plan,
    counts: Option<(i64, i64)>,
    figures: Figures,
) -> TenantHealth {
    let mut status = HealthStatus::Healthy;
    let mut reasons = Vec::new();
    let mut worsen = |to: HealthStatus, reason: String| {
        status = status.max(to);
        reasons.push(reason);
    };
    let database = counts.is_some();
    if !database {
        worsen(
            HealthStatus::Unhealthy,
            "the database does not answer".into(),
        );
    }
    let judged = figures.requests >= MIN_REQUESTS;
    let error_rate_ok = !judged || figures.error_rate < DEGRADED_ERROR_RATE;
    if !error_rate_ok {
        let to = if figures.error_rate >= UNHEALTHY_ERROR_RATE {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Degraded
        };
        worsen(
            to,
            format!(
                "{:.1} % of the last {} requests failed",
                figures.error_rate * 100.0,
                figures.requests
            ),
        );
    }
    let p95 = figures.p95_ms.unwrap_or(0);
    let latency_ok = p95 < DEGRADED_P95_MS;
    if !latency_ok {
        let to = if p95 >= UNHEALTHY_P95_MS {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Degraded
        };
        worsen(to, format!("the 95th-percentile latency is {p95} ms"));
    }
    let Quotas {
        members, contacts, ..
    } = plan.quotas();
    let quota_use: Vec<QuotaUse> = counts
        .map(|(used_members, used_contacts)| {
            [
                ("members", used_members, members),
                ("contacts", used_contacts, contacts),
            ]
            .into_iter()
            .map(|(quota, used, limit)| QuotaUse {
                quota: quota.to_string(),
                used,
                limit,
                fraction: limit.map(|l| used as f64 / l.max(1) as f64),
            })
            .collect()
        })
        .unwrap_or_default();
    let mut quotas_ok = true;
    for q in &quota_use {
        let Some(fraction) = q.fraction.filter(|f| *f >= DEGRADED_QUOTA_USE) else {
            continue;
        };
        quotas_ok = false;
        let to = if fraction >= 1.0 {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Degraded
        };
        worsen(
            to,
            format!(
                "{} of {} {} used",
                q.used,
                q.limit.unwrap_or_default(),
                q.quota
            ),
        );
    }
    TenantHealth {
        tenant_id: global_id(TENANT_KIND, tenant.0),
        plan,
        status,
        reasons,
        checks: HealthChecks {
            database,
            error_rate: error_rate_ok,
            latency: latency_ok,
            quotas: quotas_ok,
        },
        metrics: HealthMetrics {
            requests: figures.requests,
            errors: figures.errors,
            error_rate: figures.error_rate,
            p95_latency_ms: figures.p95_ms,
            window_seconds: figures.window.as_secs(),
        },
        quota_use,
        last_checked: Utc::now(),
    }
}
