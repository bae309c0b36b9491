//! The request context as resolvers see it: the request's tenant transaction and typed
//! request or schema data, each missing piece reported the same way (logged, INTERNAL).

use crate::auth::RequestTx;
use crate::db::batch::Batched;
use crate::error::AppError;
use async_graphql::dataloader::Loader;
use async_graphql::Context;
use std::sync::Arc;

/// The request's tenant transaction (the only way a resolver reaches the database).
pub fn request_tx<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<RequestTx>> {
    data::<Arc<RequestTx>>(ctx)
}

/// The request or schema data of type `T`. Its absence is a fault of the assembly, never
/// of the client: logged with the type's name and answered INTERNAL_SERVER_ERROR.
pub fn data<'a, T: std::any::Any + Send + Sync>(ctx: &Context<'a>) -> async_graphql::Result<&'a T> {
    ctx.data_opt::<T>().ok_or_else(|| {
        AppError::internal(format!(
            "{} missing from the request context",
            std::any::type_name::<T>()
        ))
        .into_graphql()
    })
}

/// The request's batch loader `L` (keyed by `K`), as the assembly attached it.
pub fn loader<'a, K, L>(ctx: &Context<'a>) -> async_graphql::Result<&'a Batched<K, L>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L: Loader<K> + 'static,
    L::Value: Sync,
    L::Error: Sync,
{
    data::<Batched<K, L>>(ctx)
}
