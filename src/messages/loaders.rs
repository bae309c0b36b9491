//! Per-request batch loaders of messages, around the request's transaction.

use super::model::{self, MessageRow};
use crate::auth::RequestTx;
use crate::db::batch::{load_children, BatchLoad, BatchMap};
use crate::error::AppError;
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;
use uuid::Uuid;

/// The newest `limit` messages of each conversation: key `(conversation_id, limit)`.
pub struct MessagesByConversation(pub Arc<RequestTx>);

impl BatchLoad<(Uuid, i64)> for MessagesByConversation {
    type Value = Vec<MessageRow>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[(Uuid, i64)],
    ) -> Result<BatchMap<(Uuid, i64), Self::Value>, AppError> {
        let tenant = self.0.tenant().await?;
        load_children(
            keys,
            |r: &MessageRow| r.conversation_id,
            |ids, limit, children| {
                self.0.run(move |c| {
                    model::newest_by_conversations(c, tenant, ids, limit, children).scope_boxed()
                })
            },
        )
        .await
    }
}

/// Messages by id (the rows of live `messagePosted` events).
pub struct MessageById(pub Arc<RequestTx>);

impl BatchLoad<Uuid> for MessageById {
    type Value = MessageRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<BatchMap<Uuid, MessageRow>, AppError> {
        let ids = keys.to_vec();
        let tenant = self.0.tenant().await?;
        let rows = self
            .0
            .run(move |c| async move { model::by_ids(c, tenant, &ids).await }.scope_boxed())
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}
