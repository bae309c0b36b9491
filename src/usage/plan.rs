//! What compiled read plans serve of `tenantUsage`'s types (see
//! [`crate::graphql::plannable`]): every field, written here as async-graphql renders the
//! `SimpleObject`s of [`super::graphql`] and [`super::model`]; `days` and `total` are
//! written by the plan module from the same [`TenantUsage`].

use super::graphql::TenantUsage;
use super::meter::Counts;
use super::model::UsageRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for TenantUsage {
    const TYPE: &'static str = "TenantUsage";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "from",
            ty: "NaiveDate!",
            write: |usage, out| out.date(&usage.from),
        },
        FieldPlan::Scalar {
            name: "to",
            ty: "NaiveDate!",
            write: |usage, out| out.date(&usage.to),
        },
        FieldPlan::Nested {
            name: "days",
            ty: "[UsageDay!]!",
        },
        FieldPlan::Nested {
            name: "total",
            ty: "UsageTotals!",
        },
    ];
}

impl Planned for UsageRow {
    const TYPE: &'static str = "UsageDay";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "day",
            ty: "NaiveDate!",
            write: |row, out| out.date(&row.day),
        },
        FieldPlan::Scalar {
            name: "requests",
            ty: "Int!",
            write: |row, out| out.int(row.requests),
        },
        FieldPlan::Scalar {
            name: "errors",
            ty: "Int!",
            write: |row, out| out.int(row.errors),
        },
        FieldPlan::Scalar {
            name: "mutations",
            ty: "Int!",
            write: |row, out| out.int(row.mutations),
        },
        FieldPlan::Scalar {
            name: "queryCost",
            ty: "Int!",
            write: |row, out| out.int(row.query_cost),
        },
        FieldPlan::Scalar {
            name: "rowsWritten",
            ty: "Int!",
            write: |row, out| out.int(row.rows_written),
        },
        FieldPlan::Scalar {
            name: "members",
            ty: "Int!",
            write: |row, out| out.int(row.members),
        },
        FieldPlan::Scalar {
            name: "contacts",
            ty: "Int!",
            write: |row, out| out.int(row.contacts),
        },
    ];
}

impl Planned for Counts {
    const TYPE: &'static str = "UsageTotals";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "requests",
            ty: "Int!",
            write: |c, out| out.int(c.requests),
        },
        FieldPlan::Scalar {
            name: "errors",
            ty: "Int!",
            write: |c, out| out.int(c.errors),
        },
        FieldPlan::Scalar {
            name: "mutations",
            ty: "Int!",
            write: |c, out| out.int(c.mutations),
        },
        FieldPlan::Scalar {
            name: "queryCost",
            ty: "Int!",
            write: |c, out| out.int(c.query_cost),
        },
        FieldPlan::Scalar {
            name: "rowsWritten",
            ty: "Int!",
            write: |c, out| out.int(c.rows_written),
        },
    ];
}
