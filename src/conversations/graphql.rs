//! GraphQL types, inputs and roots of conversations.

use super::loaders::{ConversationById, ConversationCountByContact, ConversationsByContact};
use super::model::{self, ConversationFilter, ConversationRow, NewConversation};
pub use super::model::{Channel, ConversationStatus};
use crate::auth::Role;
use crate::contacts::graphql::{Contact, CONTACT_KIND};
use crate::contacts::loaders::ContactById;
use crate::db::keyset::{KeysetCursor, Page};
use crate::error::{AppError, GqlResultExt};
use crate::graphql::context::loader;
use crate::graphql::guards::requires_role;
use crate::graphql::relay::{
    decode_typed_id, global_id, page_complexity, wants_rows, PageConnection,
};
use crate::graphql::{data, request_tx, Limits};
use crate::messages::graphql::{message_page, MessageConnection};
use crate::tenancy::graphql::{User, USER_KIND};
use crate::tenancy::loaders::UserById;
use crate::validate;
use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, Result, ID};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The global-id type name of conversations.
pub const CONVERSATION_KIND: &str = "Conversation";

/// An exchange with a contact.
pub struct Conversation(pub ConversationRow);

#[Object]
impl Conversation {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id(CONVERSATION_KIND, self.0.id)
    }
    /// What it is about.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// Open, pending or closed.
    async fn status(&self) -> ConversationStatus {
        self.0.status
    }
    /// Email, chat or sms.
    async fn channel(&self) -> Channel {
        self.0.channel
    }
    /// When the newest message was posted.
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_message_at
    }
    /// When the conversation started.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The contact it is with.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Contact> {
        loader::<Uuid, ContactById>(ctx)?
            .load_one(self.0.contact_id)
            .await
            .gql()?
            .map(Contact)
            .ok_or_else(|| AppError::not_found("contact").into_graphql())
    }
    /// The member it is assigned to, if any.
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.assignee_id else {
            return Ok(None);
        };
        Ok(loader::<Uuid, UserById>(ctx)?
            .load_one(id)
            .await
            .gql()?
            .map(User))
    }
    /// Its messages, newest first.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<MessageConnection> {
        message_page(ctx, self.0.id, first, after, last, before).await
    }
}

/// Extra fields of the conversation connection.
pub struct ConversationConnectionFields {
    filter: ConversationFilter,
}

#[Object]
impl ConversationConnectionFields {
    /// How many conversations match (computed only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        // A contact's own count is batched: one statement for every contact of the level.
        if let Some(contact) = self.filter.only_contact() {
            let counted = loader::<Uuid, ConversationCountByContact>(ctx)?
                .load_one(contact)
                .await
                .gql()?;
            return Ok(counted.unwrap_or(0));
        }
        let filter = self.filter.clone();
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| async move { model::count(c, tenant, &filter).await }.scope_boxed())
            .await
            .gql()
    }
}

/// A page of conversations.
pub type ConversationConnection =
    Connection<KeysetCursor, Conversation, ConversationConnectionFields>;

/// One page of conversations: the newest `first` of one contact come from the batch
/// loader (one statement for all contacts of the page); other pages query directly.
pub async fn conversation_page(
    ctx: &Context<'_>,
    filter: ConversationFilter,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<ConversationConnection> {
    let limits = data::<Limits>(ctx)?;
    let page = Page::from_args(first, after, last, before, limits.max_page_size).gql()?;
    let rows = match filter.only_contact() {
        _ if !wants_rows(ctx) => Vec::new(),
        Some(contact) if page.is_first_page() => {
            loader::<(Uuid, i64), ConversationsByContact>(ctx)?
                .load_one((contact, page.limit as i64 + 1))
                .await
                .gql()?
                .unwrap_or_default()
        }
        _ => {
            let (f, p) = (filter.clone(), page.clone());
            let tx = request_tx(ctx)?;
            let tenant = tx.tenant().await.gql()?;
            tx.run(move |c| {
                async move { model::list_conversations(c, tenant, &f, &p).await }.scope_boxed()
            })
            .await
            .gql()?
        }
    };
    Ok(
        page.connection(rows, ConversationConnectionFields { filter }, |r| {
            (r.cursor(), Conversation(r))
        }),
    )
}

/// Filters of `conversations`.
#[derive(InputObject, Default)]
pub struct ConversationFilterInput {
    /// Only conversations in this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations assigned to this user (global id).
    pub assignee: Option<ID>,
    /// Only conversations with this contact (global id).
    pub contact: Option<ID>,
    /// Only conversations over this channel.
    pub channel: Option<Channel>,
}

impl ConversationFilterInput {
    /// The filter, validated (BAD_USER_INPUT naming the field).
    pub(crate) fn validate(self) -> Result<ConversationFilter, AppError> {
        Ok(ConversationFilter {
            status: self.status,
            assignee_id: self
                .assignee
                .map(|id| decode_typed_id(&id, USER_KIND, "filter.assignee"))
                .transpose()?,
            contact_id: self
                .contact
                .map(|id| decode_typed_id(&id, CONTACT_KIND, "filter.contact"))
                .transpose()?,
            channel: self.channel,
        })
    }
}

/// Conversation queries.
#[derive(Default)]
pub struct ConversationQuery;

#[Object]
impl ConversationQuery {
    /// The tenant's conversations, newest first, optionally filtered.
    #[graphql(
        directive = requires_role::apply(Role::Viewer),
        complexity = "page_complexity(first, last, child_complexity)"
    )]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ConversationFilterInput>,
    ) -> Result<ConversationConnection> {
        let filter = filter.unwrap_or_default().validate().gql()?;
        conversation_page(ctx, filter, first, after, last, before).await
    }

    /// One conversation by global id; another tenant's is NOT_FOUND.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> Result<Conversation> {
        let id = decode_typed_id(&id, CONVERSATION_KIND, "id").gql()?;
        find_conversation(ctx, id).await
    }
}

/// Loads a conversation of the current tenant or fails with NOT_FOUND.
pub async fn find_conversation(ctx: &Context<'_>, id: Uuid) -> Result<Conversation> {
    loader::<Uuid, ConversationById>(ctx)?
        .load_one(id)
        .await
        .gql()?
        .map(Conversation)
        .ok_or_else(|| AppError::not_found("conversation").into_graphql())
}

/// Input of `startConversation`.
#[derive(InputObject)]
pub struct StartConversationInput {
    /// The contact (global id).
    pub contact: ID,
    /// What it is about (1 to 300 characters).
    pub subject: String,
    /// The channel.
    pub channel: Channel,
    /// An optional first (outbound) message.
    pub message: Option<String>,
}

/// Conversation mutations.
#[derive(Default)]
pub struct ConversationMutation;

#[Object]
impl ConversationMutation {
    /// Starts a conversation with a contact, optionally with a first outbound message.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        input: StartConversationInput,
    ) -> Result<Conversation> {
        let new = NewConversation {
            id: Uuid::now_v7(),
            contact_id: decode_typed_id(&input.contact, CONTACT_KIND, "contact").gql()?,
            subject: validate::required_text("subject", &input.subject, 300).gql()?,
            channel: input.channel,
        };
        let first = match input.message.as_deref() {
            Some(body) => Some(validate::required_text("message", body, 20_000).gql()?),
            None => None,
        };
        let tenant = request_tx(ctx)?.tenant().await.gql()?;
        let row = request_tx(ctx)?
            .run(move |c| {
                async move {
                    let row = model::insert(c, &new).await?;
                    if let Some(body) = first {
                        crate::messages::model::post(
                            c,
                            tenant,
                            Uuid::now_v7(),
                            row.id,
                            crate::messages::model::MessageDirection::Outbound,
                            &body,
                        )
                        .await?;
                        return model::by_ids(c, tenant, &[row.id])
                            .await?
                            .pop()
                            .ok_or(diesel::result::Error::NotFound);
                    }
                    Ok(row)
                }
                .scope_boxed()
            })
            .await
            .map_err(|e| e.missing("contact", "contact"))
            .gql()?;
        Ok(Conversation(row))
    }

    /// Assigns a conversation to a member of the tenant, or unassigns it (`assignee: null`).
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn assign_conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        assignee: Option<ID>,
    ) -> Result<Conversation> {
        let id = decode_typed_id(&id, CONVERSATION_KIND, "id").gql()?;
        let assignee = assignee
            .map(|a| decode_typed_id(&a, USER_KIND, "assignee"))
            .transpose()
            .gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| {
            async move { model::set_assignee(c, tenant, id, assignee).await }.scope_boxed()
        })
        .await
        .map_err(|e| e.missing("assignee", "member"))
        .gql()?
        .map(Conversation)
        .ok_or_else(|| AppError::not_found("conversation").into_graphql())
    }

    /// Closes a conversation.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn close_conversation(&self, ctx: &Context<'_>, id: ID) -> Result<Conversation> {
        set_status(ctx, id, ConversationStatus::Closed).await
    }

    /// Reopens a conversation.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn reopen_conversation(&self, ctx: &Context<'_>, id: ID) -> Result<Conversation> {
        set_status(ctx, id, ConversationStatus::Open).await
    }
}

async fn set_status(ctx: &Context<'_>, id: ID, status: ConversationStatus) -> Result<Conversation> {
    let id = decode_typed_id(&id, CONVERSATION_KIND, "id").gql()?;
    let tx = request_tx(ctx)?;
    let tenant = tx.tenant().await.gql()?;
    tx.run(move |c| async move { model::set_status(c, tenant, id, status).await }.scope_boxed())
        .await
        .gql()?
        .map(Conversation)
        .ok_or_else(|| AppError::not_found("conversation").into_graphql())
}

/// Live conversations.
#[derive(Default)]
pub struct ConversationSubscription;

#[async_graphql::Subscription]
impl ConversationSubscription {
    /// Conversations created, assigned, closed, reopened or otherwise changed (subject,
    /// status) in the tenant, narrowed by `filter` as the `conversations` query narrows
    /// (matched against the conversation as it is after the change).
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn conversation_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<ConversationFilterInput>,
    ) -> Result<impl futures_util::Stream<Item = Result<Conversation>>> {
        use futures_util::StreamExt;
        let filter = filter.unwrap_or_default().validate().gql()?;
        let opened = crate::graphql::live::open(ctx, Role::Viewer).await?;
        let wanted = crate::graphql::live::Wanted {
            table: "conversations",
            changes: &["created", "assigned", "closed", "reopened", "updated"],
            role: Role::Viewer,
            filter: Box::new(move |c: &ConversationRow| {
                filter.status.is_none_or(|s| c.status == s)
                    && filter.assignee_id.is_none_or(|a| c.assignee_id == Some(a))
                    && filter.contact_id.is_none_or(|k| c.contact_id == k)
                    && filter.channel.is_none_or(|ch| c.channel == ch)
            }),
        };
        Ok(crate::graphql::live::subscribe(opened, wanted).map(|c| c.map(Conversation)))
    }
}
