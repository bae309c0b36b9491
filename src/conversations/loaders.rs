//! Per-request batch loaders of conversations, around the request's transaction.

use super::model::{self, ConversationRow};
use crate::auth::RequestTx;
use crate::db::batch::{load_children, BatchLoad, BatchMap};
use crate::error::AppError;
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;
use uuid::Uuid;

/// The newest `limit` conversations of each contact: key `(contact_id, limit)`.
pub struct ConversationsByContact(pub Arc<RequestTx>);

impl BatchLoad<(Uuid, i64)> for ConversationsByContact {
    type Value = Vec<ConversationRow>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[(Uuid, i64)],
    ) -> Result<BatchMap<(Uuid, i64), Self::Value>, AppError> {
        let tenant = self.0.tenant().await?;
        load_children(
            keys,
            |r: &ConversationRow| r.contact_id,
            |ids, limit, children| {
                self.0.run(move |c| {
                    model::newest_by_contacts(c, tenant, ids, limit, children).scope_boxed()
                })
            },
        )
        .await
    }
}

/// Conversations by id.
pub struct ConversationById(pub Arc<RequestTx>);

impl BatchLoad<Uuid> for ConversationById {
    type Value = ConversationRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<BatchMap<Uuid, ConversationRow>, AppError> {
        let ids = keys.to_vec();
        let tenant = self.0.tenant().await?;
        let rows = self
            .0
            .run(move |c| async move { model::by_ids(c, tenant, &ids).await }.scope_boxed())
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}

/// How many conversations a contact has: key `contact_id`.
pub struct ConversationCountByContact(pub Arc<RequestTx>);

impl BatchLoad<Uuid> for ConversationCountByContact {
    type Value = i64;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<BatchMap<Uuid, i64>, AppError> {
        let ids = keys.to_vec();
        let tenant = self.0.tenant().await?;
        let counts = self
            .0
            .run(move |c| {
                async move { model::count_by_contacts(c, tenant, &ids).await }.scope_boxed()
            })
            .await?;
        Ok(counts.into_iter().collect())
    }
}
