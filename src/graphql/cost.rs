//! The cost of a request: its query complexity (async-graphql's, computed while validating,
//! or a compiled plan's recomputation of the same figure), charged to the tenant before
//! anything of the request runs. What a tenant may spend is not the framework's business:
//! a [`CostGate`] (the usage meter) decides; the framework computes the figure, asks, and
//! keeps the answer on the request ([`crate::auth::admission::RequestRecord`]), from which
//! the HTTP layer writes `extensions.cost`.

use super::coded::server_error;
use crate::auth::admission::CostView;
use crate::auth::{Member, RequestTx};
use crate::error::AppResult;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};
use std::sync::Arc;

/// Decides whether a tenant may spend a request's cost.
pub trait CostGate: Send + Sync {
    /// Charges `cost` to `member`'s tenant, or refuses it (QUOTA_EXCEEDED naming the budget
    /// and when it resets) when it would take the tenant over its plan's monthly budget.
    fn charge(&self, member: &Member, cost: u64) -> AppResult<CostView>;
}

/// The cost gate, as schema data.
#[derive(Clone)]
pub struct Costs(pub Arc<dyn CostGate>);

/// Charges `cost` for the request of `tx` through `gate`. A request with no admitted
/// member (anonymous introspection, a caller admission refuses) has no tenant to charge: it
/// passes here, and is refused, if at all, where it reaches the tenant.
pub async fn charge(tx: &RequestTx, gate: &dyn CostGate, cost: u64) -> AppResult<()> {
    let Ok(member) = tx.member().await else {
        return Ok(());
    };
    let view = gate.charge(&member, cost)?;
    tx.admission().note_cost(view);
    Ok(())
}

/// Charges each request of the generic executor once validation has computed its
/// complexity (so a request over the complexity limit is refused before it costs anything,
/// and one over the budget runs nothing).
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
        if let (Some(tx), Some(costs)) = (ctx.data_opt::<Arc<RequestTx>>(), ctx.data_opt::<Costs>())
        {
            charge(tx, costs.0.as_ref(), result.complexity as u64)
                .await
                .map_err(|e| vec![server_error(e)])?;
        }
        Ok(result)
    }
}
