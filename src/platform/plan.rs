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
        FieldPlan::Scalar {
            name: "tenantId",
            ty: "ID!",
            write: |h, out| out.string(&h.tenant_id),
        },
        FieldPlan::Scalar {
            name: "plan",
            ty: "Plan!",
            write: |h, out| out.enum_value(h.plan),
        },
        FieldPlan::Scalar {
            name: "status",
            ty: "HealthStatus!",
            write: |h, out| out.enum_value(h.status),
        },
        FieldPlan::Scalar {
            name: "reasons",
            ty: "[String!]!",
            write: |h, out| out.strings(&h.reasons),
        },
        FieldPlan::Nested {
            name: "checks",
            ty: "HealthChecks!",
        },
        FieldPlan::Nested {
            name: "metrics",
            ty: "HealthMetrics!",
        },
        FieldPlan::Nested {
            name: "quotaUse",
            ty: "[QuotaUse!]!",
        },
        FieldPlan::Scalar {
            name: "lastChecked",
            ty: "DateTime!",
            write: |h, out| out.timestamp(&h.last_checked),
        },
    ];
}

impl Planned for HealthChecks {
    const TYPE: &'static str = "HealthChecks";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "database",
            ty: "Boolean!",
            write: |c, out| out.boolean(c.database),
        },
        FieldPlan::Scalar {
            name: "errorRate",
            ty: "Boolean!",
            write: |c, out| out.boolean(c.error_rate),
        },
        FieldPlan::Scalar {
            name: "latency",
            ty: "Boolean!",
            write: |c, out| out.boolean(c.latency),
        },
        FieldPlan::Scalar {
            name: "quotas",
            ty: "Boolean!",
            write: |c, out| out.boolean(c.quotas),
        },
    ];
}

impl Planned for HealthMetrics {
    const TYPE: &'static str = "HealthMetrics";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "requests",
            ty: "Int!",
            write: |m, out| count(m.requests, out),
        },
        FieldPlan::Scalar {
            name: "errors",
            ty: "Int!",
            write: |m, out| count(m.errors, out),
        },
        FieldPlan::Scalar {
            name: "errorRate",
            ty: "Float!",
            write: |m, out| out.float(m.error_rate),
        },
        FieldPlan::Scalar {
            name: "p95LatencyMs",
            ty: "Int",
            write: |m, out| out.optional_int(m.p95_latency_ms.map(i64::from)),
        },
        FieldPlan::Scalar {
            name: "windowSeconds",
            ty: "Int!",
            write: |m, out| count(m.window_seconds, out),
        },
    ];
}

impl Planned for QuotaUse {
    const TYPE: &'static str = "QuotaUse";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "quota",
            ty: "String!",
            write: |q, out| out.string(&q.quota),
        },
        FieldPlan::Scalar {
            name: "used",
            ty: "Int!",
            write: |q, out| out.int(q.used),
        },
        FieldPlan::Scalar {
            name: "limit",
            ty: "Int",
            write: |q, out| out.optional_int(q.limit),
        },
        FieldPlan::Scalar {
            name: "fraction",
            ty: "Float",
            write: |q, out| match q.fraction {
                Some(f) => out.float(f),
                None => out.null(),
            },
        },
    ];
}
