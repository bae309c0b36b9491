//! What compiled read plans serve of `CustomRole` (see [`crate::graphql::plannable`]):
//! every field, written from the value its resolver returns ([`CustomRole`], built from
//! the row as the generic executor builds it).

use super::graphql::CustomRole;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for CustomRole {
    const TYPE: &'static str = "CustomRole";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |role, out| out.string(role.id.as_str()),
        },
        FieldPlan::Scalar {
            name: "name",
            ty: "String!",
            write: |role, out| out.string(&role.name),
        },
        FieldPlan::Scalar {
            name: "permissions",
            ty: "[Permission!]!",
            write: |role, out| out.enum_values(&role.permissions),
        },
    ];
}
