//! One SAVEPOINT per root mutation field, so a refused or failed field is rolled back alone
//! while the fields before and after it commit.
//!
//! The savepoint itself is sent lazily by [`RequestTx`] with the field's first statement: a
//! field refused before it touches the database costs nothing.

use super::guards::ErrorSite;
use crate::auth::RequestTx;
use crate::error::AppError;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use std::sync::Arc;

/// Wraps each root field of the mutation type in a savepoint of the request transaction.
#[derive(Clone)]
pub struct SavepointExtension {
    mutation_type: Arc<str>,
}

impl SavepointExtension {
    /// Savepoints for the root fields of `mutation_type`.
    pub fn new(mutation_type: &str) -> Self {
        Self {
            mutation_type: Arc::from(mutation_type),
        }
    }
}

impl ExtensionFactory for SavepointExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for SavepointExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let root_mutation = !info.is_for_introspection
            && info.path_node.parent.is_none()
            && info.parent_type == &*self.mutation_type;
        if !root_mutation {
            return next.run(ctx, info).await;
        }
        let site = ErrorSite::of(&info);
        let Some(tx) = ctx.data_opt::<Arc<RequestTx>>() else {
            return Err(site.error(AppError::internal("request transaction missing")));
        };
        tx.begin_field().await;
        let result = next.run(ctx, info).await;
        if let Err(e) = tx.end_field(result.is_ok()).await {
            return Err(site.error(e));
        }
        result
    }
}
