//! The cost of a request: its query complexity (async-graphql's, computed while validating,
//! or a compiled plan's recomputation of the same figure), noted on the request before
//! anything of it runs. The admission charges it to the tenant (see
//! [`crate::auth::admission::CostGate`]): at once if the request's transaction is open,
//! else when it opens — so a request that never reaches a tenant (introspection, the auth
//! path's fields) is never charged and takes no connection to be.

use super::coded::server_error;
use crate::auth::RequestTx;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};
use std::sync::Arc;

/// Notes the cost of each request of the generic executor once validation has computed its
/// complexity (a request over the complexity limit is refused before it costs anything).
pub struct CostExtension;

impl ExtensionFactory for CostExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostExtension)
    }
}

#[async_trait::async_trait]
impl Extension for CostExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        // Subscriptions carry no request transaction: they are not charged.
        if let Some(tx) = ctx.data_opt::<Arc<RequestTx>>() {
            tx.admission()
                .note_cost(result.complexity as u64)
                .map_err(|e| vec![server_error(e)])?;
        }
        Ok(result)
    }
}
