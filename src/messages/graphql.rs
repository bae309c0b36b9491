//! GraphQL types, inputs and roots of messages, and full-text search.

use super::loaders::MessagesByConversation;
pub use super::model::MessageDirection;
use super::model::{self, MessageRow};
use crate::auth::plans::Feature;
use crate::auth::Role;
use crate::conversations::graphql::{find_conversation, Conversation, CONVERSATION_KIND};
use crate::db::keyset::{KeysetCursor, Page};
use crate::error::{AppError, GqlResultExt};
use crate::graphql::context::loader;
use crate::graphql::guards::{requires_feature, requires_role};
use crate::graphql::live;
use crate::graphql::relay::{decode_typed_id, global_id, page_complexity, PageConnection};
use crate::graphql::{data, request_tx, Limits};
use crate::tenancy::graphql::User;
use crate::tenancy::loaders::UserById;
use crate::validate;
use async_graphql::connection::{
    Connection, ConnectionNameType, CursorType, Edge, EdgeNameType, EmptyFields,
};
use async_graphql::{Context, InputObject, Object, Result, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The global-id type name of messages.
pub const MESSAGE_KIND: &str = "Message";

/// A message of a conversation.
pub struct Message(pub MessageRow);

#[Object]
impl Message {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id(MESSAGE_KIND, self.0.id)
    }
    /// Inbound (from the contact) or outbound (from the team).
    async fn direction(&self) -> MessageDirection {
        self.0.direction
    }
    /// The text.
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// When it was posted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The member who wrote an outbound message (null for inbound ones).
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.author_id else {
            return Ok(None);
        };
        Ok(loader::<Uuid, UserById>(ctx)?
            .load_one(id)
            .await
            .gql()?
            .map(User))
    }
    /// The conversation it belongs to.
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Conversation> {
        find_conversation(ctx, self.0.conversation_id).await
    }
}

/// A page of a conversation's messages, newest first.
pub type MessageConnection = Connection<KeysetCursor, Message>;

/// One page of a conversation's messages: the newest `first` come from the batch loader
/// (one statement for all conversations of the level); other pages query directly.
pub async fn message_page(
    ctx: &Context<'_>,
    conversation_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<MessageConnection> {
    let limits = data::<Limits>(ctx)?;
    let page = Page::from_args(first, after, last, before, limits.max_page_size).gql()?;
    let rows = if page.is_first_page() {
        loader::<(Uuid, i64), MessagesByConversation>(ctx)?
            .load_one((conversation_id, page.limit as i64 + 1))
            .await
            .gql()?
            .unwrap_or_default()
    } else {
        let p = page.clone();
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| {
            async move { model::list_messages(c, tenant, conversation_id, &p).await }.scope_boxed()
        })
        .await
        .gql()?
    };
    Ok(page.connection(rows, EmptyFields, |r| (r.cursor(), Message(r))))
}

/// A search position: the (rank, id) of a hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankCursor {
    /// The hit's rank.
    pub rank: f32,
    /// The hit's id (breaks ties).
    pub id: Uuid,
}

impl CursorType for RankCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let text = URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("invalid cursor")?;
        let rest = text.strip_prefix("r1:").ok_or("invalid cursor")?;
        let (bits, id) = rest.split_once(':').ok_or("invalid cursor")?;
        Ok(Self {
            rank: f32::from_bits(bits.parse().map_err(|_| "invalid cursor")?),
            id: Uuid::parse_str(id).map_err(|_| "invalid cursor")?,
        })
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("r1:{}:{}", self.rank.to_bits(), self.id))
    }
}

/// Names the search connection apart from a conversation's message list.
pub struct MessageSearchName;

impl ConnectionNameType for MessageSearchName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "MessageSearchConnection".to_string()
    }
}

impl EdgeNameType for MessageSearchName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "MessageSearchEdge".to_string()
    }
}

/// Search hits, best first.
pub type MessageSearchConnection =
    Connection<RankCursor, Message, EmptyFields, EmptyFields, MessageSearchName, MessageSearchName>;

/// Message queries.
#[derive(Default)]
pub struct MessageQuery;

#[Object]
impl MessageQuery {
    /// Full-text search over the tenant's messages (web-search syntax: words, "phrases",
    /// -excluded, or), best match first.
    #[graphql(
        directive = requires_role::apply(Role::Viewer),
        directive = requires_feature::apply(Feature::FullTextSearch),
        complexity = "page_complexity(first, None, child_complexity)"
    )]
    async fn search_messages(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MessageSearchConnection> {
        let limits = data::<Limits>(ctx)?;
        let query = validate::required_text("query", &query, 200).gql()?;
        let page = Page::from_args(first, None, None, None, limits.max_page_size).gql()?;
        let after = after
            .map(|c| RankCursor::decode_cursor(&c).map_err(|e| AppError::bad_input("after", e)))
            .transpose()
            .gql()?;
        let limit = page.limit as i64 + 1;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        let mut hits = tx
            .run(move |c| {
                async move {
                    model::search(c, tenant, &query, after.map(|a| (a.rank, a.id)), limit).await
                }
                .scope_boxed()
            })
            .await
            .gql()?;
        let has_next = hits.len() > page.limit;
        hits.truncate(page.limit);
        let mut connection = MessageSearchConnection::new(after.is_some(), has_next);
        connection.edges.extend(hits.into_iter().map(|h| {
            let cursor = RankCursor {
                rank: h.rank,
                id: h.message.id,
            };
            Edge::new(cursor, Message(h.message))
        }));
        Ok(connection)
    }
}

/// Input of `postMessage`.
#[derive(InputObject)]
pub struct PostMessageInput {
    /// The conversation (global id).
    pub conversation: ID,
    /// The text (1 to 20,000 characters).
    pub body: String,
    /// Outbound (from the team, the default) or inbound (recorded from the contact).
    #[graphql(default_with = "MessageDirection::Outbound")]
    pub direction: MessageDirection,
}

/// Message mutations.
#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Posts a message and moves the conversation's `lastMessageAt`, in one transaction.
    #[graphql(directive = requires_role::apply(Role::Member))]
    async fn post_message(&self, ctx: &Context<'_>, input: PostMessageInput) -> Result<Message> {
        let conversation =
            decode_typed_id(&input.conversation, CONVERSATION_KIND, "conversation").gql()?;
        let body = validate::required_lines("body", &input.body, 20_000).gql()?;
        let direction = input.direction;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        tx.run(move |c| {
            async move {
                    model::post(c, tenant, Uuid::now_v7(), conversation, direction, &body).await
                }
                    .scope_boxed()
        })
        .await
        .map_err(|e| e.missing("conversation", "conversation"))
        .gql()
        .map(Message)
    }
}

/// Live messages.
#[derive(Default)]
pub struct MessageSubscription;

#[async_graphql::Subscription]
impl MessageSubscription {
    /// Messages posted in the tenant's conversations (in `conversationId` only, if given),
    /// as they are committed. Events missed while disconnected are not replayed: catch up
    /// with `conversation(id) { messages }`.
    #[graphql(directive = requires_role::apply(Role::Viewer))]
    async fn message_posted(
        &self,
        ctx: &Context<'_>,
        conversation_id: Option<ID>,
    ) -> Result<impl futures_util::Stream<Item = Result<Message>>> {
        use futures_util::StreamExt;
        let conversation = conversation_id
            .map(|id| decode_typed_id(&id, CONVERSATION_KIND, "conversationId"))
            .transpose()
            .gql()?;
        let opened = live::open(ctx, Role::Viewer).await?;
        let wanted = live::Wanted {
            table: "messages",
            changes: &["created"],
            role: Role::Viewer,
            filter: Box::new(move |m: &MessageRow| {
                conversation.is_none_or(|c| m.conversation_id == c)
            }),
        };
        Ok(live::subscribe(opened, wanted).map(|m| m.map(Message)))
    }
}
