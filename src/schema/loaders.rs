//! The loader registry: every batch loader of a request, built around the request's
//! [`RequestTx`] and attached to it as request data, one entry per loader type. Domains
//! reach theirs by type ([`crate::graphql::context::loader`]), so they never import this
//! list.

use crate::auth::RequestTx;
use crate::contacts::loaders::ContactById;
use crate::conversations::loaders::{
    ConversationById, ConversationCountByContact, ConversationsByContact,
};
use crate::db::batch::Batched;
use crate::messages::loaders::MessagesByConversation;
use crate::tenancy::loaders::UserById;
use async_graphql::Request;
use std::sync::Arc;

/// Attaches the request's transaction and its loaders to a GraphQL request.
pub fn attach(request: Request, tx: &Arc<RequestTx>) -> Request {
    let tx = || Arc::clone(tx);
    request
        .data(Batched::new(ConversationsByContact(tx())))
        .data(Batched::new(ConversationCountByContact(tx())))
        .data(Batched::new(MessagesByConversation(tx())))
        .data(Batched::new(ConversationById(tx())))
        .data(Batched::new(ContactById(tx())))
        .data(Batched::new(UserById(tx())))
        .data(tx())
}
