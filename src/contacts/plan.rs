//! What compiled read plans serve of `Contact` (see [`crate::graphql::plannable`]): its
//! scalars, written here as the resolvers in [`super::graphql`] render them, and its
//! conversations, loaded by batch by the plan module.

use super::graphql::CONTACT_KIND;
use super::model::ContactRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for ContactRow {
    const TYPE: &'static str = "Contact";
    const NODE: Option<&'static str> = Some(CONTACT_KIND);

    fn node_id(&self) -> Option<uuid::Uuid> {
        Some(self.id)
    }

    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.global_id(CONTACT_KIND, row.id),
        },
        FieldPlan::Scalar {
            name: "name",
            ty: "String!",
            write: |row, out| out.string(&row.name),
        },
        FieldPlan::Scalar {
            name: "email",
            ty: "String",
            write: |row, out| out.optional(row.email.as_deref()),
        },
        FieldPlan::Scalar {
            name: "phone",
            ty: "String",
            write: |row, out| out.optional(row.phone.as_deref()),
        },
        FieldPlan::Scalar {
            name: "company",
            ty: "String",
            write: |row, out| out.optional(row.company.as_deref()),
        },
        FieldPlan::Scalar {
            name: "tags",
            ty: "[String!]!",
            write: |row, out| out.strings(&row.tags),
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
        FieldPlan::Scalar {
            name: "updatedAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.updated_at),
        },
        FieldPlan::Nested {
            name: "conversations",
            ty: "ConversationConnection!",
        },
    ];
}
