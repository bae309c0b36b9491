//! What compiled read plans serve of `Message` (see [`crate::graphql::plannable`]): its
//! scalars, written here as the resolvers in [`super::graphql`] render them; its author and
//! its conversation, loaded by batch by the plan module.

use super::graphql::MESSAGE_KIND;
use super::model::MessageRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for MessageRow {
    const TYPE: &'static str = "Message";
    const NODE: Option<&'static str> = Some(MESSAGE_KIND);

    fn node_id(&self) -> Option<uuid::Uuid> {
        Some(self.id)
    }

    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| out.global_id(MESSAGE_KIND, row.id)),
        FieldPlan::scalar("direction", "MessageDirection!", |row, out| {
            out.enum_value(row.direction)
        }),
        FieldPlan::scalar("body", "String!", |row, out| out.string(&row.body)),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::nested("author", "User"),
        FieldPlan::nested("conversation", "Conversation!"),
    ];
}
