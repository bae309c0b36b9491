//! What compiled read plans serve of `tenantHealth` (the caller's own tenant, asked without
//! `tenantId`; see [`crate::graphql::plannable`]): every field of its four types, written
//! here as async-graphql renders the `SimpleObject`s of [`super::health`], from the same
//! [`TenantHealth`] its resolver computes (`own_health`).

use super::health::{HealthChecks, HealthMetrics, QuotaUse, TenantHealth};
use crate::graphql::plannable::{FieldPlan, JsonOut, Planned};

/// An unsigned count as the `Int` async-graphql writes it.
fn count(n: u64, out: &mut JsonOut<'_>) {
    out.int(i64::try_from(n).unwrap_or(i64::MAX));
}

impl Planned for TenantHealth {
    const TYPE: &'static str = "TenantHealth";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("tenantId", "ID!", |h, out| out.string(&h.tenant_id)),
        FieldPlan::scalar("plan", "Plan!", |h, out| out.enum_value(h.plan)),
        FieldPlan::scalar("status", "HealthStatus!", |h, out| out.enum_value(h.status)),
        FieldPlan::scalar("reasons", "[String!]!", |h, out| out.strings(&h.reasons)),
        FieldPlan::nested("checks", "HealthChecks!"),
        FieldPlan::nested("metrics", "HealthMetrics!"),
        FieldPlan::nested("quotaUse", "[QuotaUse!]!"),
        FieldPlan::scalar("lastChecked", "DateTime!", |h, out| {
            out.timestamp(&h.last_checked)
        }),
    ];
}

impl Planned for HealthChecks {
    const TYPE: &'static str = "HealthChecks";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("database", "Boolean!", |c, out| out.boolean(c.database)),
        FieldPlan::scalar("errorRate", "Boolean!", |c, out| out.boolean(c.error_rate)),
        FieldPlan::scalar("latency", "Boolean!", |c, out| out.boolean(c.latency)),
        FieldPlan::scalar("quotas", "Boolean!", |c, out| out.boolean(c.quotas)),
    ];
}

impl Planned for HealthMetrics {
    const TYPE: &'static str = "HealthMetrics";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("requests", "Int!", |m, out| count(m.requests, out)),
        FieldPlan::scalar("errors", "Int!", |m, out| count(m.errors, out)),
        FieldPlan::scalar("errorRate", "Float!", |m, out| out.float(m.error_rate)),
        FieldPlan::scalar("p95LatencyMs", "Int", |m, out| {
            out.optional_int(m.p95_latency_ms.map(i64::from))
        }),
        FieldPlan::scalar("windowSeconds", "Int!", |m, out| {
            count(m.window_seconds, out)
        }),
    ];
}

impl Planned for QuotaUse {
    const TYPE: &'static str = "QuotaUse";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("quota", "String!", |q, out| out.string(&q.quota)),
        FieldPlan::scalar("used", "Int!", |q, out| out.int(q.used)),
        FieldPlan::scalar("limit", "Int", |q, out| out.optional_int(q.limit)),
        FieldPlan::scalar("fraction", "Float", |q, out| match q.fraction {
            Some(f) => out.float(f),
            None => out.null(),
        }),
    ];
}
