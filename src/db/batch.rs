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
//! Loaders implement [`BatchLoad`]: async-graphql's `Loader` in shape, but answering with a
//! [`BatchMap`] (that trait's answer is a SipHash map). A [`Batched`] is built per request
//! around the request's [`super::TenantTx`] (loaders hold an `Arc` of it): batches never
//! cross requests.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The map a batch load answers with, rows by key. Hashed by foldhash rather than the
/// standard library's SipHash: a feed page files and looks up hundreds of rows by
/// `(parent id, limit)`, and SipHash was about 4 % of its CPU. SipHash's strength against
/// chosen colliding keys buys little here: the keys are mostly ids of rows already read, a
/// batch is bounded by the page sizes, and foldhash seeds every map at random.
pub type BatchMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Loads the values of many keys at once (async-graphql's `Loader`, with a [`BatchMap`]).
pub trait BatchLoad<K: Send + Sync + Hash + Eq + Clone + 'static>: Send + Sync + 'static {
    /// The value of one key.
    type Value: Send + Sync + Clone + 'static;
    /// Why a load failed.
    type Error: Send + Clone + 'static;

    /// The values of `keys` (a key without a value is absent from the map).
    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<BatchMap<K, Self::Value>, Self::Error>> + Send;
}

type Outcome<K, V, E> = Option<Result<Arc<BatchMap<K, V>>, E>>;

/// The batch currently accepting keys (if any), shared by its leader and followers.
type Slot<K, V, E> = Mutex<Option<Arc<Mutex<Batch<K, V, E>>>>>;

struct Batch<K, V, E> {
    keys: Vec<K>,
    done: watch::Sender<Outcome<K, V, E>>,
}

/// A loader whose `load_one` calls of one poll pass are answered by one `load`.
pub struct Batched<K, L: BatchLoad<K>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
{
    loader: L,
    open: Slot<K, L::Value, L::Error>,
}

impl<K, L> Batched<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: BatchLoad<K>,
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
    let mut seen: HashSet<K, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(keys.len(), Default::default());
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

/// The most rows [`Children`] makes room for per parent up front.
const PRESIZE_MAX: usize = 16;

/// The rows of a [`load_children`], filed under their parent as the statement returns
/// them (streamed, not collected into one `Vec` first and moved again).
pub struct Children<R> {
    map: BatchMap<(uuid::Uuid, i64), Vec<R>>,
    parent_of: fn(&R) -> uuid::Uuid,
    limit: i64,
    page: usize,
}

impl<R> Children<R> {
    /// Files `row` under its parent, for the current limit.
    pub fn file(&mut self, row: R) {
        let children = self
            .map
            .entry(((self.parent_of)(&row), self.limit))
            .or_default();
        // Room for a page of up to `PRESIZE_MAX` rows at a parent's first row (the statement
        // returns at most `limit` per parent), rather than growing through two or three
        // reallocations; larger pages still grow past it.
        if children.is_empty() {
            children.reserve_exact(self.page);
        }
        children.push(row);
    }

    /// Files every row of `rows` (see [`Children::file`]), as they come.
    pub async fn file_all<E>(
        mut self,
        rows: impl futures_util::Stream<Item = Result<R, E>>,
    ) -> Result<Self, E> {
        use futures_util::TryStreamExt;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
            self.file(row);
        }
        Ok(self)
    }
}

/// Loads "the first `limit` children of `parent`" for every key: one `query(parents,
/// limit, children)` per distinct limit (usually one), which files its rows in `children`
/// (under their parent, by `parent_of`) and hands it back; every parent gets an entry,
/// empty if it has no children. A limit of 0 or less asks for no rows and sends no
/// statement (`first: 0` on a nested page without `pageInfo`).
pub async fn load_children<R, Q, Fut, E>(
    keys: &[(uuid::Uuid, i64)],
    parent_of: fn(&R) -> uuid::Uuid,
    query: Q,
) -> Result<BatchMap<(uuid::Uuid, i64), Vec<R>>, E>
where
    Q: Fn(Vec<uuid::Uuid>, i64, Children<R>) -> Fut,
    Fut: std::future::Future<Output = Result<Children<R>, E>>,
{
    let mut groups: std::collections::BTreeMap<i64, Vec<uuid::Uuid>> = Default::default();
    for (parent, limit) in keys {
        groups.entry(*limit).or_default().push(*parent);
    }
    let mut children = Children {
        map: HashMap::with_capacity_and_hasher(keys.len(), Default::default()),
        parent_of,
        limit: 0,
        page: 0,
    };
    for (limit, parents) in groups {
        for parent in &parents {
            children.map.entry((*parent, limit)).or_default();
        }
        if limit <= 0 {
            continue;
        }
        children.limit = limit;
        children.page = usize::try_from(limit).unwrap_or(0).min(PRESIZE_MAX);
        children = query(parents, limit, children).await?;
    }
    Ok(children.map)
}

#[cfg(test)]
mod tests {
    use super::load_children;
    use futures_util::stream;
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
            |parents: Vec<Uuid>, limit, children| async move {
                assert!(limit > 0, "no statement for a limit of 0");
                let rows = if limit == 3 {
                    vec![(a, 1), (a, 2), (b, 3), (a, 4), (b, 5), (b, 6)]
                } else {
                    vec![(a, 7)]
                };
                assert!(rows.iter().all(|r| parents.contains(&r.0)));
                children
                    .file_all(stream::iter(rows.into_iter().map(Ok::<_, ()>)))
                    .await
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
