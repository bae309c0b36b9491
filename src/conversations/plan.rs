//! What compiled read plans serve of `Conversation` (see
//! [`crate::graphql::plannable`]): its scalars, written here as the resolvers in
//! [`super::graphql`] render them; its messages, its contact and its assignee, loaded by
//! batch by the plan module.

use super::graphql::CONVERSATION_KIND;
use super::model::ConversationRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for ConversationRow {
    const TYPE: &'static str = "Conversation";
    const NODE: Option<&'static str> = Some(CONVERSATION_KIND);

    fn node_id(&self) -> Option<uuid::Uuid> {
        Some(self.id)
    }

    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| {
            out.global_id(CONVERSATION_KIND, row.id)
        }),
        FieldPlan::scalar("subject", "String!", |row, out| out.string(&row.subject)),
        FieldPlan::scalar("status", "ConversationStatus!", |row, out| {
            out.enum_value(row.status)
        }),
        FieldPlan::scalar("channel", "Channel!", |row, out| {
            out.enum_value(row.channel)
        }),
        FieldPlan::scalar("lastMessageAt", "DateTime", |row, out| {
            out.optional_timestamp(row.last_message_at.as_ref())
        }),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::scalar("updatedAt", "DateTime!", |row, out| {
            out.timestamp(&row.updated_at)
        }),
        FieldPlan::nested("contact", "Contact!"),
        FieldPlan::nested("assignee", "User"),
        FieldPlan::nested("messages", "MessageConnection!"),
    ];
}
