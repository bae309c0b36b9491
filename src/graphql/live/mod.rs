//! Live updates: the fan-out behind GraphQL subscriptions.
//!
//! Triggers on the CRM tables `NOTIFY tenantry_events` with a small payload (tenant,
//! table, row id, kind of change — never the row). The process's one listener connection
//! ([`crate::db::notify`]) hands each payload to [`Live::notified`], which queues it on the
//! feed of its tenant, if anyone of that tenant is subscribed. Each tenant's feed has one
//! worker: it takes every queued change, reads the rows **once** in a READ ONLY tenant
//! transaction (`SET LOCAL app.tenant_id` as always, as no user and the lowest role, so it
//! sees what row-level security lets any member of the tenant see) and broadcasts the
//! batch to the tenant's subscribers. Each subscriber then filters by its own arguments
//! and checks its own admission (membership, role, token expiry) before it receives a row;
//! the work per event does not grow with the number of subscribers.
//!
//! Nested fields of a delivered object that need the database run in the subscriber's own
//! short transaction (see [`LiveSlot`] and [`crate::graphql::context::request_tx`]).
//!
//! NOTIFY is not durable: events sent while the listener reconnects are not replayed; a
//! client catches up with a query (by `updatedAt` or a cursor).
//!
//! This module is the hub (the feeds, their workers, the batches); the subscriber's side
//! (its session, admission, stream and transaction) is in `live/session.rs`.

use crate::auth::admission::RequestAdmission;
use crate::auth::tenant::TenantResolver;
use crate::auth::{Member, Principal, RequestTx};
use crate::db::TxMode;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use futures_util::future::BoxFuture;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

mod session;

pub use session::{
    open, still_admitted, subscribe, KeyCheck, LiveSession, LiveSlot, LoaderFactory, Opened, Wanted,
};

/// One change the database announced.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Change {
    /// The tenant of the row.
    pub tenant: Uuid,
    /// The table (`contacts`, `conversations`, `messages`).
    pub table: String,
    /// The row's id.
    pub id: Uuid,
    /// `created`, `updated`, `assigned`, `closed` or `reopened`.
    pub change: String,
}

/// Ids read per statement when a batch is large.
const READ_CHUNK: usize = 500;

/// A row as its domain loaded it (each domain downcasts to its own row type).
pub type Row = Arc<dyn Any + Send + Sync>;

/// Loads the rows of one table by id, in the given transaction.
pub type RowSource = Arc<
    dyn Fn(Arc<RequestTx>, Vec<Uuid>) -> BoxFuture<'static, AppResult<Vec<(Uuid, Row)>>>
        + Send
        + Sync,
>;

/// The row source of a table whose rows `L` loads by id.
pub fn source<L>(make: fn(Arc<RequestTx>) -> L) -> RowSource
where
    L: crate::db::batch::BatchLoad<Uuid, Error = AppError>,
    L::Value: Any + Send + Sync,
{
    Arc::new(move |tx, ids| {
        Box::pin(async move {
            let loaded = make(tx).load(&ids).await?;
            Ok(loaded
                .into_iter()
                .map(|(id, row)| (id, Arc::new(row) as Row))
                .collect())
        })
    })
}

/// Opens a request transaction (the application's only door to the pool).
pub type TxOpener = Arc<dyn Fn(RequestAdmission, TxMode) -> RequestTx + Send + Sync>;

/// A batch of one tenant's changes and their rows (None: no longer readable, e.g. a row
/// deleted since), as every subscriber of the tenant receives it.
pub struct Batch {
    /// The changes in commit order, each with its row.
    pub changes: Vec<(Change, Option<Row>)>,
}

/// The per-tenant queue of changes and its broadcast.
struct Feed {
    sender: broadcast::Sender<Arc<Batch>>,
    pending: Mutex<Vec<Change>>,
    wake: Notify,
    /// Tenant and plan of a subscriber, for the admission of the feed's reads.
    member: Mutex<Member>,
}

/// The live-update hub of a process.
pub struct Live {
    sources: HashMap<&'static str, RowSource>,
    open: TxOpener,
    resolver: TenantResolver,
    feeds: Mutex<HashMap<TenantId, Arc<Feed>>>,
    buffer: usize,
    reads: AtomicU64,
    statements: AtomicU64,
    subscriptions: AtomicUsize,
    per_tenant: Mutex<HashMap<TenantId, i64>>,
    /// Set when live updates cannot work here (on Citus: the changes happen on the
    /// workers, where nobody listens); every new subscription is refused with it.
    unavailable: std::sync::OnceLock<&'static str>,
}

impl Live {
    /// A hub reading rows through `sources` (table → loader) in transactions `open`ed with
    /// admissions of `resolver`; each subscriber may fall `buffer` batches behind before
    /// it is closed.
    pub fn new(
        sources: HashMap<&'static str, RowSource>,
        open: TxOpener,
        resolver: TenantResolver,
        buffer: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            sources,
            open,
            resolver,
            feeds: Mutex::default(),
            buffer: buffer.max(1),
            reads: AtomicU64::new(0),
            statements: AtomicU64::new(0),
            subscriptions: AtomicUsize::new(0),
            per_tenant: Mutex::default(),
            unavailable: std::sync::OnceLock::new(),
        })
    }

    /// Refuses every new subscription from now on, telling subscribers `why`.
    pub fn disable(&self, why: &'static str) {
        let _ = self.unavailable.set(why);
    }

    /// Opens a transaction of `principal` (a subscriber's own, for nested fields and
    /// re-checks), not counted against the plan's request rate.
    pub fn open_tx(&self, principal: Option<Principal>) -> RequestTx {
        (self.open)(
            RequestAdmission::unmetered(self.resolver.clone(), principal),
            TxMode::ReadOnly,
        )
    }

    /// The tenant resolver (subscribers re-check their admission with it).
    pub fn resolver(&self) -> &TenantResolver {
        &self.resolver
    }

    /// How many batches were read, and with how many SQL statements in all (for tests and
    /// the benchmark: the work per event).
    pub fn work(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.statements.load(Ordering::Relaxed),
        )
    }

    /// Logs the hub's work every `every` while there is some (subscriptions open, batches
    /// read, statements per batch): what an operator, and the benchmark, read.
    pub fn report(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let live = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last = (0, 0);
            loop {
                tokio::time::sleep(every).await;
                let Some(live) = live.upgrade() else { return };
                let (reads, statements) = live.work();
                if reads != last.0 {
                    tracing::info!(
                        subscriptions = live.subscriptions(),
                        batches = reads,
                        statements,
                        statements_per_batch =
                            (statements - last.1) as f64 / (reads - last.0) as f64,
                        "live updates"
                    );
                }
                last = (reads, statements);
            }
        })
    }

    /// How many subscriptions are open in this process.
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// The listener's handler: queues a change on its tenant's feed, if the tenant has one.
    pub fn notified(&self, payload: Option<&str>) {
        let Some(payload) = payload else {
            // Reconnected: what was sent meanwhile is lost (documented), nothing to do.
            return;
        };
        let change: Change = match serde_json::from_str(payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable live event");
                return;
            }
        };
        let feed = lock(&self.feeds).get(&TenantId(change.tenant)).cloned();
        if let Some(feed) = feed {
            lock(&feed.pending).push(change);
            feed.wake.notify_one();
        }
    }

    /// Subscribes to the batches of `member`'s tenant, starting its feed if needed.
    pub fn subscribe(self: &Arc<Self>, member: &Member) -> broadcast::Receiver<Arc<Batch>> {
        let mut feeds = lock(&self.feeds);
        if let Some(feed) = feeds.get(&member.tenant_id) {
            *lock(&feed.member) = *member;
            return feed.sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(self.buffer);
        let feed = Arc::new(Feed {
            sender,
            pending: Mutex::default(),
            wake: Notify::new(),
            member: Mutex::new(*member),
        });
        feeds.insert(member.tenant_id, Arc::clone(&feed));
        tokio::spawn(Arc::clone(self).run_feed(member.tenant_id, feed));
        receiver
    }

    /// A tenant's worker: reads each batch once and broadcasts it; ends (and drops the
    /// feed) when the tenant has no subscriber left.
    async fn run_feed(self: Arc<Self>, tenant: TenantId, feed: Arc<Feed>) {
        loop {
            feed.wake.notified().await;
            {
                let mut feeds = lock(&self.feeds);
                if feed.sender.receiver_count() == 0 {
                    feeds.remove(&tenant);
                    return;
                }
            }
            let changes = std::mem::take(&mut *lock(&feed.pending));
            if changes.is_empty() {
                continue;
            }
            let member = *lock(&feed.member);
            match self.read(&member, changes).await {
                Ok(batch) => {
                    let _ = feed.sender.send(Arc::new(batch));
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, tenant = %tenant.0, "reading a batch of live events");
                }
            }
        }
    }

    /// Reads the rows of `changes` in one READ ONLY transaction of the tenant.
    async fn read(&self, member: &Member, changes: Vec<Change>) -> AppResult<Batch> {
        let tx = Arc::new((self.open)(
            RequestAdmission::tenant_events(self.resolver.clone(), member),
            TxMode::ReadOnly,
        ));
        // Ids per table, each once (a HashSet: one bulk write can announce many rows),
        // read in chunks so no statement carries an unbounded IN list.
        let mut by_table: HashMap<String, (Vec<Uuid>, std::collections::HashSet<Uuid>)> =
            HashMap::new();
        for change in &changes {
            let (ids, seen) = by_table.entry(change.table.clone()).or_default();
            if seen.insert(change.id) {
                ids.push(change.id);
            }
        }
        let mut rows: HashMap<(String, Uuid), Row> = HashMap::new();
        for (table, (ids, _)) in by_table {
            let Some(source) = self.sources.get(table.as_str()) else {
                continue;
            };
            for chunk in ids.chunks(READ_CHUNK) {
                for (id, row) in source(Arc::clone(&tx), chunk.to_vec()).await? {
                    rows.insert((table.clone(), id), row);
                }
            }
        }
        tx.finish().await?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.statements
            .fetch_add(tx.statement_count(), Ordering::Relaxed);
        let changes = changes
            .into_iter()
            .map(|c| {
                let row = rows.get(&(c.table.clone(), c.id)).cloned();
                (c, row)
            })
            .collect();
        Ok(Batch { changes })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
