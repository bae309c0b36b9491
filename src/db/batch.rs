//! Per-request batch loading ("DataLoaders") that batch by the executor's poll pass instead
//! of by a timer.
//!
//! async-graphql resolves sibling fields and list items by polling them together in one
//! task. The first sibling that asks for a key becomes the batch's leader: it yields once,
//! which lets every other sibling of the same poll pass add its key, then runs one query
//! for all of them and hands each sibling its rows. The batch is therefore exactly "all
//! the keys of this level", with no added delay — async-graphql's timer-based `DataLoader`
//! waits 1 ms per nested level and, on a busy multi-threaded runtime, may split a level
//! into several batches, which makes the statement count of a request unpredictable.
//!
//! Loaders implement async-graphql's [`Loader`] trait, so they can be used with its
//! `DataLoader` too. A [`Batched`] is built per request around the request's
//! [`super::TenantTx`] (loaders hold an `Arc` of it): batches never cross requests.

use async_graphql::dataloader::Loader;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

type Outcome<K, V, E> = Option<Result<Arc<HashMap<K, V>>, E>>;

/// The batch currently accepting keys (if any), shared by its leader and followers.
type Slot<K, V, E> = Mutex<Option<Arc<Mutex<Batch<K, V, E>>>>>;

struct Batch<K, V, E> {
    keys: Vec<K>,
    done: watch::Sender<Outcome<K, V, E>>,
}

/// A loader whose `load_one` calls of one poll pass are answered by one `load`.
pub struct Batched<K, L: Loader<K>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
{
    loader: L,
    open: Slot<K, L::Value, L::Error>,
}

impl<K, L> Batched<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    /// Wraps `loader`.
    pub fn new(loader: L) -> Self {
        Self {
            loader,
            open: Mutex::new(None),
        }
    }

    /// The value for `key` (None if the loader returned none), loaded together with the
    /// keys its siblings ask for in the same poll pass.
    pub async fn load_one(&self, key: K) -> Result<Option<L::Value>, L::Error>
    where
        L::Error: From<BatchDropped>,
    {
        let (batch, leader) = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.as_ref() {
                Some(batch) => {
                    lock(batch).keys.push(key.clone());
                    (Arc::clone(batch), false)
                }
                None => {
                    let (done, _) = watch::channel(None);
                    let batch = Arc::new(Mutex::new(Batch {
                        keys: vec![key.clone()],
                        done,
                    }));
                    *open = Some(Arc::clone(&batch));
                    (batch, true)
                }
            }
        };
        let mut rx = lock(&batch).done.subscribe();
        if leader {
            // Yield once: the other siblings of this poll pass join the batch meanwhile.
            tokio::task::yield_now().await;
            let mut keys = {
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                *open = None;
                std::mem::take(&mut lock(&batch).keys)
            };
            dedup(&mut keys);
            let outcome = self.loader.load(&keys).await.map(Arc::new);
            lock(&batch).done.send_replace(Some(outcome));
        }
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| L::Error::from(BatchDropped))?;
        match outcome.as_ref() {
            Some(Ok(map)) => Ok(map.get(&key).cloned()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(L::Error::from(BatchDropped)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Drops repeated keys, keeping the first of each in order.
pub(crate) fn dedup<K: Hash + Eq + Clone>(keys: &mut Vec<K>) {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.retain(|k| seen.insert(k.clone()));
}

/// The leader of a batch was cancelled before it answered.
#[derive(Debug, Clone, Copy)]
pub struct BatchDropped;

impl From<BatchDropped> for crate::error::AppError {
    fn from(_: BatchDropped) -> Self {
        crate::error::AppError::internal("a batch load was cancelled")
    }
}

/// Loads "the first `limit` children of `parent`" for every key: one `query(parents,
/// limit)` per distinct limit (usually one), rows filed under their parent by `parent_of`;
/// every parent gets an entry, empty if it has no children. A limit of 0 or less asks for
/// no rows and sends no statement (`first: 0` on a nested page without `pageInfo`).
pub async fn load_children<R, Q, Fut, E>(
    keys: &[(uuid::Uuid, i64)],
    parent_of: impl Fn(&R) -> uuid::Uuid,
    query: Q,
) -> Result<HashMap<(uuid::Uuid, i64), Vec<R>>, E>
where
    Q: Fn(Vec<uuid::Uuid>, i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<R>, E>>,
{
    let mut groups: std::collections::BTreeMap<i64, Vec<uuid::Uuid>> = Default::default();
    for (parent, limit) in keys {
        groups.entry(*limit).or_default().push(*parent);
    }
    let mut out: HashMap<(uuid::Uuid, i64), Vec<R>> = HashMap::with_capacity(keys.len());
    for (limit, parents) in groups {
        for parent in &parents {
            out.entry((*parent, limit)).or_default();
        }
        if limit <= 0 {
            continue;
        }
        let mut rows = query(parents, limit).await?.into_iter().peekable();
        while let Some(row) = rows.next() {
            // The statements usually return each parent's children together (one lateral
            // subquery per parent): one map lookup per run of rows rather than per row.
            // Rows that come otherwise are filed all the same.
            let parent = parent_of(&row);
            let children = out.entry((parent, limit)).or_default();
            children.push(row);
            while let Some(next) = rows.next_if(|r| parent_of(r) == parent) {
                children.push(next);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::load_children;
    use uuid::Uuid;

    #[tokio::test]
    async fn children_are_filed_under_their_parent_however_the_rows_come() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        // Grouped runs, a parent seen again after another, a parent without rows, two
        // limits (one query each), and a limit of 0 (no query).
        let keys = [(a, 3), (b, 3), (c, 3), (a, 1), (b, 0)];
        let loaded = load_children(
            &keys,
            |row: &(Uuid, u32)| row.0,
            |parents: Vec<Uuid>, limit| async move {
                assert!(limit > 0, "no statement for a limit of 0");
                let rows = if limit == 3 {
                    vec![(a, 1), (a, 2), (b, 3), (a, 4), (b, 5), (b, 6)]
                } else {
                    vec![(a, 7)]
                };
                assert!(rows.iter().all(|r| parents.contains(&r.0)));
                Ok::<_, ()>(rows)
            },
        )
        .await
        .unwrap();
        assert_eq!(loaded.len(), 5);
        assert_eq!(loaded[&(b, 0)], []);
        assert_eq!(loaded[&(a, 3)], [(a, 1), (a, 2), (a, 4)]);
        assert_eq!(loaded[&(b, 3)], [(b, 3), (b, 5), (b, 6)]);
        assert_eq!(loaded[&(c, 3)], []);
        assert_eq!(loaded[&(a, 1)], [(a, 7)]);
    }
}
