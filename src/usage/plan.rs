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
        FieldPlan::scalar("from", "NaiveDate!", |usage, out| out.date(&usage.from)),
        FieldPlan::scalar("to", "NaiveDate!", |usage, out| out.date(&usage.to)),
        FieldPlan::nested("days", "[UsageDay!]!"),
        FieldPlan::nested("total", "UsageTotals!"),
    ];
}

impl Planned for UsageRow {
    const TYPE: &'static str = "UsageDay";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("day", "NaiveDate!", |row, out| out.date(&row.day)),
        FieldPlan::scalar("requests", "Int!", |row, out| out.int(row.requests)),
        FieldPlan::scalar("errors", "Int!", |row, out| out.int(row.errors)),
        FieldPlan::scalar("mutations", "Int!", |row, out| out.int(row.mutations)),
        FieldPlan::scalar("queryCost", "Int!", |row, out| out.int(row.query_cost)),
        FieldPlan::scalar("rowsWritten", "Int!", |row, out| out.int(row.rows_written)),
        FieldPlan::scalar("members", "Int!", |row, out| out.int(row.members)),
        FieldPlan::scalar("contacts", "Int!", |row, out| out.int(row.contacts)),
    ];
}

impl Planned for Counts {
    const TYPE: &'static str = "UsageTotals";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("requests", "Int!", |c, out| out.int(c.requests)),
        FieldPlan::scalar("errors", "Int!", |c, out| out.int(c.errors)),
        FieldPlan::scalar("mutations", "Int!", |c, out| out.int(c.mutations)),
        FieldPlan::scalar("queryCost", "Int!", |c, out| out.int(c.query_cost)),
        FieldPlan::scalar("rowsWritten", "Int!", |c, out| out.int(c.rows_written)),
    ];
}
