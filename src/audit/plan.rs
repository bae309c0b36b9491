//! What compiled read plans serve of `AuditEntry` (see [`crate::graphql::plannable`]):
//! every field, written here as the resolvers in [`super::graphql`] render them (through
//! the same helpers); the page itself is loaded and written by the plan module.

use super::graphql::{actor_kind, actor_type, hex, AuditAction};
use super::model::AuditRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for AuditRow {
    const TYPE: &'static str = "AuditEntry";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("seq", "Int!", |row, out| out.int(row.seq)),
        FieldPlan::scalar("occurredAt", "DateTime!", |row, out| {
            out.timestamp(&row.occurred_at)
        }),
        FieldPlan::scalar("actorType", "AuditActorType", |row, out| {
            match actor_type(row) {
                Some(ty) => out.enum_value(ty),
                None => out.null(),
            }
        }),
        FieldPlan::scalar("actorId", "ID", |row, out| match row.actor_id {
            Some(id) => out.global_id(actor_kind(row), id),
            None => out.null(),
        }),
        FieldPlan::scalar("requestId", "String", |row, out| match row.request_id {
            Some(id) => out.string(id.as_hyphenated().encode_lower(&mut [0; 36])),
            None => out.null(),
        }),
        // A row whose action does not parse (the table's CHECK forbids it) is never
        // written: the plan declines its page and the resolver reports it.
        FieldPlan::scalar(
            "action",
            "AuditAction!",
            |row, out| match AuditAction::parse(&row.action) {
                Some(action) => out.enum_value(action),
                None => out.null(),
            },
        ),
        FieldPlan::scalar("table", "String!", |row, out| out.string(&row.table_name)),
        FieldPlan::scalar("rowId", "String!", |row, out| out.string(&row.row_id)),
        FieldPlan::scalar("oldValues", "JSON", |row, out| {
            out.optional_json(row.old_values.as_ref())
        }),
        FieldPlan::scalar("newValues", "JSON", |row, out| {
            out.optional_json(row.new_values.as_ref())
        }),
        FieldPlan::scalar("hash", "String!", |row, out| out.string(&hex(&row.hash))),
    ];
}
