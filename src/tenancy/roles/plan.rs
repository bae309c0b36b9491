//! What compiled read plans serve of `CustomRole` (see [`crate::graphql::plannable`]):
//! every field, written from the value its resolver returns ([`CustomRole`], built from
//! the row as the generic executor builds it).

use super::graphql::CustomRole;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for CustomRole {
    const TYPE: &'static str = "CustomRole";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |role, out| out.string(role.id.as_str())),
        FieldPlan::scalar("name", "String!", |role, out| out.string(&role.name)),
        FieldPlan::scalar("permissions", "[Permission!]!", |role, out| {
            out.enum_values(&role.permissions)
        }),
    ];
}
