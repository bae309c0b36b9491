//! The Relay `Node` interface and `node(id:)`.

use crate::auth::Role;
use crate::contacts::graphql::{Contact, CONTACT_KIND};
use crate::contacts::loaders::ContactById;
use crate::conversations::graphql::{find_conversation, Conversation, CONVERSATION_KIND};
use crate::error::{AppError, GqlResultExt};
use crate::graphql::context::loader;
use crate::graphql::guards::requires_role;
use crate::graphql::relay::decode_global_id;
use crate::graphql::request_tx;
use crate::messages::graphql::{Message, MESSAGE_KIND};
use crate::messages::loaders::MessageById;
use crate::tenancy::graphql::{current_tenant, Tenant, User, TENANT_KIND, USER_KIND};
use crate::tenancy::model;
use async_graphql::{Context, Interface, Object, Result, ID};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// Anything that can be fetched by its global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global id."))]
pub enum Node {
    /// A contact.
    Contact(Contact),
    /// A conversation.
    Conversation(Conversation),
    /// A message.
    Message(Message),
    /// The current tenant.
    Tenant(Tenant),
    /// A user visible to the caller.
    User(User),
}

/// `node(id:)`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global id; an object of another tenant is NOT_FOUND.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Node> {
        let (kind, uuid) = decode_global_id(&id, "id").gql()?;
        let tx = request_tx(ctx)?;
        let not_found = || AppError::not_found("node").into_graphql();
        // Nothing is awaited before the batch loaders (they read the tenant themselves):
        // waiting here on the transaction first could keep a sibling `node` of the same
        // level out of its batch (a batch is the keys of one poll pass).
        match kind.as_str() {
            // By batch, as conversations are: a compiled plan asks `node(id:)` for every row
            // of a field it leaves to the generic executor, in one request.
            CONTACT_KIND => loader::<Uuid, ContactById>(ctx)?
                .load_one(uuid)
                .await
                .gql()?
                .map(|c| Node::Contact(Contact(c)))
                .ok_or_else(|| AppError::not_found("contact").into_graphql()),
            CONVERSATION_KIND => find_conversation(ctx, uuid).await.map(Node::Conversation),
            MESSAGE_KIND => loader::<Uuid, MessageById>(ctx)?
                .load_one(uuid)
                .await
                .gql()?
                .map(|m| Node::Message(Message(m)))
                .ok_or_else(not_found),
            TENANT_KIND => current_tenant(ctx)
                .await?
                .filter(|t| t.id == uuid)
                .map(|t| Node::Tenant(Tenant(t)))
                .ok_or_else(not_found),
            USER_KIND => tx
                .run(move |c| async move { model::get_user(c, uuid).await }.scope_boxed())
                .await
                .gql()?
                .map(|u| Node::User(User(u)))
                .ok_or_else(not_found),
            _ => Err(not_found()),
        }
    }
}
