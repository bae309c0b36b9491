//! Per-request batch loaders of conversations, around the request's transaction.

use super::model::{self, ConversationRow};
use crate::auth::RequestTx;
use crate::db::batch::load_children;
use crate::error::AppError;
use async_graphql::dataloader::Loader;
use scoped_futures::ScopedFutureExt;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The newest `limit` conversations of each contact: key `(contact_id, limit)`.
pub struct ConversationsByContact(pub Arc<RequestTx>);

impl Loader<(Uuid, i64)> for ConversationsByContact {
    type Value = Vec<ConversationRow>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[(Uuid, i64)],
    ) -> Result<HashMap<(Uuid, i64), Self::Value>, AppError> {
        let tenant = self.0.tenant().await?;
        load_children(
            keys,
            |r: &ConversationRow| r.contact_id,
            |ids, limit| {
                self.0.run(move |c| {
                    async move { model::newest_by_contacts(c, tenant, &ids, limit).await }
                        .scope_boxed()
                })
            },
        )
        .await
    }
}

/// Conversations by id.
pub struct ConversationById(pub Arc<RequestTx>);

impl Loader<Uuid> for ConversationById {
    type Value = ConversationRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, ConversationRow>, AppError> {
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

impl Loader<Uuid> for ConversationCountByContact {
    type Value = i64;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, i64>, AppError> {
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
