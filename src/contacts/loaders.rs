//! Per-request batch loaders of contacts, around the request's transaction.

use super::model::{self, ContactRow};
use crate::auth::RequestTx;
use crate::db::batch::{BatchLoad, BatchMap};
use crate::error::AppError;
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;
use uuid::Uuid;

/// Contacts by id.
pub struct ContactById(pub Arc<RequestTx>);

impl BatchLoad<Uuid> for ContactById {
    type Value = ContactRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<BatchMap<Uuid, ContactRow>, AppError> {
        let ids = keys.to_vec();
        let tenant = self.0.tenant().await?;
        let rows = self
            .0
            .run(move |c| async move { model::by_ids(c, tenant, &ids).await }.scope_boxed())
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}
