//! The per-request loaders, built around the request's [`TenantTx`] and handed to the
//! resolvers as request data next to it.

use crate::contacts::loaders::ContactById;
use crate::conversations::loaders::{
    ConversationById, ConversationCountByContact, ConversationsByContact,
};
use crate::db::batch::Batched;
use crate::db::TenantTx;
use crate::error::AppError;
use crate::messages::loaders::MessagesByConversation;
use crate::tenancy::loaders::UserById;
use async_graphql::{Context, Request};
use std::sync::Arc;
use uuid::Uuid;

/// Every batch loader of one request.
pub struct Loaders {
    /// Newest conversations per contact.
    pub conversations_by_contact: Batched<(Uuid, i64), ConversationsByContact>,
    /// Conversation counts per contact.
    pub conversation_count_by_contact: Batched<Uuid, ConversationCountByContact>,
    /// Newest messages per conversation.
    pub messages_by_conversation: Batched<(Uuid, i64), MessagesByConversation>,
    /// Conversations by id.
    pub conversation_by_id: Batched<Uuid, ConversationById>,
    /// Contacts by id.
    pub contact_by_id: Batched<Uuid, ContactById>,
    /// Users by id.
    pub user_by_id: Batched<Uuid, UserById>,
}

impl Loaders {
    /// Loaders for the request of `tx`.
    pub fn new(tx: &Arc<TenantTx>) -> Self {
        Self {
            conversations_by_contact: Batched::new(ConversationsByContact(Arc::clone(tx))),
            conversation_count_by_contact: Batched::new(ConversationCountByContact(Arc::clone(tx))),
            messages_by_conversation: Batched::new(MessagesByConversation(Arc::clone(tx))),
            conversation_by_id: Batched::new(ConversationById(Arc::clone(tx))),
            contact_by_id: Batched::new(ContactById(Arc::clone(tx))),
            user_by_id: Batched::new(UserById(Arc::clone(tx))),
        }
    }
}

/// Attaches the request's transaction and its loaders to a GraphQL request.
pub fn attach(request: Request, tx: &Arc<TenantTx>) -> Request {
    request.data(Arc::clone(tx)).data(Loaders::new(tx))
}

/// The request's loaders.
pub fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| AppError::internal("request loaders missing").into_graphql())
}
