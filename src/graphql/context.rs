//! The request context as resolvers see it: the request's tenant transaction, its batch
//! loaders and typed request or schema data, each missing piece reported the same way
//! (logged, INTERNAL).
//!
//! A query or mutation carries its transaction and loaders as request data. A delivery of
//! a subscription has none: its nested fields run in the subscriber's own short
//! transaction for that event, opened on first use (see [`crate::graphql::live`]).

use crate::auth::RequestTx;
use crate::db::batch::{BatchLoad, Batched};
use crate::error::AppError;
use crate::graphql::live::{LiveSession, LiveSlot};
use async_graphql::Context;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// The batch loaders of one transaction, by type (built by the assembly's registry).
#[derive(Default)]
pub struct LoaderSet(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl LoaderSet {
    /// Adds `loader`.
    pub fn with<T: Any + Send + Sync>(mut self, loader: T) -> Self {
        self.0.insert(TypeId::of::<T>(), Arc::new(loader));
        self
    }

    fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|l| Arc::clone(l).downcast::<T>().ok())
    }
}

/// The transaction and loaders resolvers of this request (or subscription delivery) use.
fn scope(ctx: &Context<'_>) -> async_graphql::Result<(Arc<RequestTx>, Arc<LoaderSet>)> {
    if let (Some(tx), Some(loaders)) = (
        ctx.data_opt::<Arc<RequestTx>>(),
        ctx.data_opt::<Arc<LoaderSet>>(),
    ) {
        return Ok((Arc::clone(tx), Arc::clone(loaders)));
    }
    if let (Some(slot), Some(session)) = (
        ctx.data_opt::<Arc<LiveSlot>>(),
        ctx.data_opt::<LiveSession>(),
    ) {
        return Ok(slot.get(session));
    }
    Err(missing::<RequestTx>())
}

/// The request's tenant transaction (the only way a resolver reaches the database).
pub fn request_tx(ctx: &Context<'_>) -> async_graphql::Result<Arc<RequestTx>> {
    scope(ctx).map(|(tx, _)| tx)
}

/// The request or schema data of type `T`. Its absence is a fault of the assembly, never
/// of the client: logged with the type's name and answered INTERNAL_SERVER_ERROR.
pub fn data<'a, T: std::any::Any + Send + Sync>(ctx: &Context<'a>) -> async_graphql::Result<&'a T> {
    ctx.data_opt::<T>().ok_or_else(missing::<T>)
}

fn missing<T>() -> async_graphql::Error {
    AppError::internal(format!(
        "{} missing from the request context",
        std::any::type_name::<T>()
    ))
    .into_graphql()
}

/// The request's batch loader `L` (keyed by `K`), as the assembly attached it.
pub fn loader<K, L>(ctx: &Context<'_>) -> async_graphql::Result<Arc<Batched<K, L>>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L: BatchLoad<K>,
    L::Error: Sync,
{
    let (_, loaders) = scope(ctx)?;
    loaders
        .get::<Batched<K, L>>()
        .ok_or_else(missing::<Batched<K, L>>)
}
