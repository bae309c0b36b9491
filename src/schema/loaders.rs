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
use crate::graphql::context::LoaderSet;
use crate::messages::loaders::{MessageById, MessagesByConversation};
use crate::tenancy::loaders::UserById;
use async_graphql::Request;
use std::sync::Arc;

/// Attaches the request's transaction and its loaders to a GraphQL request.
pub fn attach(request: Request, tx: &Arc<RequestTx>) -> Request {
    request.data(Arc::new(loaders(tx))).data(Arc::clone(tx))
}

/// Every batch loader, around `tx`.
pub fn loaders(tx: &Arc<RequestTx>) -> LoaderSet {
    let tx = || Arc::clone(tx);
    LoaderSet::default()
        .with(Batched::new(ConversationsByContact(tx())))
        .with(Batched::new(ConversationCountByContact(tx())))
        .with(Batched::new(MessagesByConversation(tx())))
        .with(Batched::new(ConversationById(tx())))
        .with(Batched::new(ContactById(tx())))
        .with(Batched::new(MessageById(tx())))
        .with(Batched::new(UserById(tx())))
}
