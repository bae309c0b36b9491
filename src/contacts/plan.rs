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
        FieldPlan::scalar("id", "ID!", |row, out| out.global_id(CONTACT_KIND, row.id)),
        FieldPlan::scalar("name", "String!", |row, out| out.string(&row.name)),
        FieldPlan::scalar("email", "String", |row, out| {
            out.optional(row.email.as_deref())
        }),
        FieldPlan::scalar("phone", "String", |row, out| {
            out.optional(row.phone.as_deref())
        }),
        FieldPlan::scalar("company", "String", |row, out| {
            out.optional(row.company.as_deref())
        }),
        FieldPlan::scalar("tags", "[String!]!", |row, out| out.strings(&row.tags)),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::scalar("updatedAt", "DateTime!", |row, out| {
            out.timestamp(&row.updated_at)
        }),
        FieldPlan::nested("conversations", "ConversationConnection!"),
    ];
}
