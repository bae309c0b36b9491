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
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.global_id(CONVERSATION_KIND, row.id),
        },
        FieldPlan::Scalar {
            name: "subject",
            ty: "String!",
            write: |row, out| out.string(&row.subject),
        },
        FieldPlan::Scalar {
            name: "status",
            ty: "ConversationStatus!",
            write: |row, out| out.enum_value(row.status),
        },
        FieldPlan::Scalar {
            name: "channel",
            ty: "Channel!",
            write: |row, out| out.enum_value(row.channel),
        },
        FieldPlan::Scalar {
            name: "lastMessageAt",
            ty: "DateTime",
            write: |row, out| out.optional_timestamp(row.last_message_at.as_ref()),
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
            name: "contact",
            ty: "Contact!",
        },
        FieldPlan::Nested {
            name: "assignee",
            ty: "User",
        },
        FieldPlan::Nested {
            name: "messages",
            ty: "MessageConnection!",
        },
    ];
}
