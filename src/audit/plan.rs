//! What compiled read plans serve of `AuditEntry` (see [`crate::graphql::plannable`]):
//! every field, written here as the resolvers in [`super::graphql`] render them (through
//! the same helpers); the page itself is loaded and written by the plan module.

use super::graphql::{actor_kind, actor_type, hex, AuditAction};
use super::model::AuditRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for AuditRow {
    const TYPE: &'static str = "AuditEntry";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "seq",
            ty: "Int!",
            write: |row, out| out.int(row.seq),
        },
        FieldPlan::Scalar {
            name: "occurredAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.occurred_at),
        },
        FieldPlan::Scalar {
            name: "actorType",
            ty: "AuditActorType",
            write: |row, out| match actor_type(row) {
                Some(ty) => out.enum_value(ty),
                None => out.null(),
            },
        },
        FieldPlan::Scalar {
            name: "actorId",
            ty: "ID",
            write: |row, out| match row.actor_id {
                Some(id) => out.global_id(actor_kind(row), id),
                None => out.null(),
            },
        },
        FieldPlan::Scalar {
            name: "requestId",
            ty: "String",
            write: |row, out| match row.request_id {
                Some(id) => out.string(id.as_hyphenated().encode_lower(&mut [0; 36])),
                None => out.null(),
            },
        },
        FieldPlan::Scalar {
            name: "action",
            ty: "AuditAction!",
            // A row whose action does not parse (the table's CHECK forbids it) is never
            // written: the plan declines its page and the resolver reports it.
            write: |row, out| match AuditAction::parse(&row.action) {
                Some(action) => out.enum_value(action),
                None => out.null(),
            },
        },
        FieldPlan::Scalar {
            name: "table",
            ty: "String!",
            write: |row, out| out.string(&row.table_name),
        },
        FieldPlan::Scalar {
            name: "rowId",
            ty: "String!",
            write: |row, out| out.string(&row.row_id),
        },
        FieldPlan::Scalar {
            name: "oldValues",
            ty: "JSON",
            write: |row, out| out.optional_json(row.old_values.as_ref()),
        },
        FieldPlan::Scalar {
            name: "newValues",
            ty: "JSON",
            write: |row, out| out.optional_json(row.new_values.as_ref()),
        },
        FieldPlan::Scalar {
            name: "hash",
            ty: "String!",
            write: |row, out| out.string(&hex(&row.hash)),
        },
    ];
}
