//! Per-request batch loaders of users, around the request's transaction.

use super::model::{self, UserRow};
use crate::auth::RequestTx;
use crate::db::batch::{BatchLoad, BatchMap};
use crate::error::AppError;
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;
use uuid::Uuid;

/// Users by id (visible ones: members of the current tenant and the caller).
pub struct UserById(pub Arc<RequestTx>);

impl BatchLoad<Uuid> for UserById {
    type Value = UserRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<BatchMap<Uuid, UserRow>, AppError> {
        let ids = keys.to_vec();
        let rows = self
            .0
            .run(move |c| async move { model::users_by_ids(c, &ids).await }.scope_boxed())
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}
