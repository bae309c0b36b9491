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

use crate::auth::admission::RequestAdmission;
use crate::auth::tenant::TenantResolver;
use crate::auth::{Member, Principal, RequestTx, Role};
use crate::db::TxMode;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

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
    L: async_graphql::dataloader::Loader<Uuid, Error = AppError> + 'static,
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

/// Builds the batch loaders of a transaction (the assembly's registry).
pub type LoaderFactory =
    Arc<dyn Fn(&Arc<RequestTx>) -> crate::graphql::context::LoaderSet + Send + Sync>;

/// A WebSocket connection's caller, resolved at `connection_init` like an HTTP request.
#[derive(Clone)]
pub struct LiveSession {
    /// The hub.
    pub live: Arc<Live>,
    /// Who connected.
    pub principal: Principal,
    /// When the connection's token expires (seconds since the epoch); None for API keys.
    pub expires_at: Option<u64>,
    /// Builds the loaders of a transaction (the assembly's registry).
    pub loaders: LoaderFactory,
    /// How often an idle subscription re-checks its admission.
    pub recheck: Duration,
    /// The connection's open subscriptions.
    pub open: Arc<AtomicUsize>,
    /// At most this many per connection.
    pub max_per_connection: usize,
    /// For an API key: verifies it again (cached; a revoked or expired key fails).
    pub key_check: Option<KeyCheck>,
}

/// Verifies a connection's API key again.
pub type KeyCheck = Arc<dyn Fn() -> BoxFuture<'static, AppResult<()>> + Send + Sync>;

/// One subscription's transaction for the event being delivered: opened when a nested
/// field first needs the database, finished when the next event is awaited.
#[derive(Default)]
pub struct LiveSlot {
    current: Mutex<Option<(Arc<RequestTx>, Arc<crate::graphql::context::LoaderSet>)>>,
}

impl LiveSlot {
    /// The current event's transaction and loaders, opened on first use.
    pub fn get(
        &self,
        session: &LiveSession,
    ) -> (Arc<RequestTx>, Arc<crate::graphql::context::LoaderSet>) {
        let mut current = lock(&self.current);
        if let Some((tx, loaders)) = &*current {
            return (Arc::clone(tx), Arc::clone(loaders));
        }
        let tx = Arc::new(session.live.open_tx(Some(session.principal.clone())));
        let loaders = Arc::new((session.loaders)(&tx));
        *current = Some((Arc::clone(&tx), Arc::clone(&loaders)));
        (tx, loaders)
    }

    /// Ends the current event's transaction, if one was opened.
    pub async fn finish(&self) {
        let taken = lock(&self.current).take();
        if let Some((tx, _)) = taken {
            if let Err(e) = tx.finish().await {
                tracing::debug!(error = %e.message, "a subscription's transaction");
            }
        }
    }
}

/// What a subscription field asks of the hub: the changes of one table it wants, the role
/// its matching query requires, and how to pick its rows.
pub struct Wanted<T> {
    /// The table.
    pub table: &'static str,
    /// The kinds of change delivered.
    pub changes: &'static [&'static str],
    /// The role the matching query's guard requires.
    pub role: Role,
    /// The subscriber's own filter (its arguments).
    pub filter: Box<dyn Fn(&T) -> bool + Send + Sync>,
}

/// The stream of a subscription field: rows of `wanted.table` of the subscriber's tenant,
/// each delivered only while the subscriber is still admitted with at least
/// `wanted.role` and its token is valid; ends with a coded error otherwise, or when it
/// falls too far behind.
pub fn subscribe<T>(
    Opened {
        session,
        slot,
        member,
        counted,
    }: Opened,
    wanted: Wanted<T>,
) -> impl Stream<Item = async_graphql::Result<T>>
where
    T: Clone + Send + Sync + 'static,
{
    let live = Arc::clone(&session.live);
    let mut receiver = live.subscribe(&member);
    async_stream::stream! {
        let _counted = counted;
        let mut recheck = tokio::time::interval(session.recheck);
        recheck.tick().await;
        loop {
            slot.finish().await;
            let batch = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(batch) => Some(batch),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        yield Err(AppError::new(
                            ErrorCode::LimitExceeded,
                            format!("the subscription fell {missed} events behind and was closed; resubscribe and catch up with a query"),
                        ).into_graphql());
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = recheck.tick() => None,
            };
            if let Err(e) = still_admitted(&session, wanted.role).await {
                yield Err(e.into_graphql());
                break;
            }
            let Some(batch) = batch else { continue };
            for (change, row) in &batch.changes {
                if change.table != wanted.table || !wanted.changes.contains(&change.change.as_str()) {
                    continue;
                }
                let Some(row) = row.as_ref().and_then(|r| r.downcast_ref::<T>()) else {
                    continue;
                };
                if (wanted.filter)(row) {
                    yield Ok(row.clone());
                    slot.finish().await;
                }
            }
        }
    }
}

/// A subscription admitted by [`open`], counted against its limits while it lives.
pub struct Opened {
    session: LiveSession,
    slot: Arc<LiveSlot>,
    member: Member,
    counted: Counted,
}

/// Admits a new subscription of the context's connection needing `role`: the caller is
/// still admitted, and the connection's and the tenant's limits have room (the tenant's
/// is its plan's `subscriptions` quota, counted per process).
pub async fn open(ctx: &async_graphql::Context<'_>, role: Role) -> async_graphql::Result<Opened> {
    use crate::graphql::context::data;
    let session = data::<LiveSession>(ctx)?.clone();
    let slot = Arc::clone(data::<Arc<LiveSlot>>(ctx)?);
    let member = still_admitted(&session, role)
        .await
        .map_err(AppError::into_graphql)?;
    let live = Arc::clone(&session.live);
    if let Some(why) = live.unavailable.get().copied() {
        return Err(AppError::new(ErrorCode::ServiceUnavailable, why).into_graphql());
    }
    if session.open.load(Ordering::SeqCst) >= session.max_per_connection {
        return Err(AppError::new(
            ErrorCode::LimitExceeded,
            format!(
                "at most {} subscriptions per connection (TENANTRY_MAX_SUBSCRIPTIONS_PER_CONNECTION)",
                session.max_per_connection
            ),
        )
        .into_graphql());
    }
    {
        let mut per_tenant = lock(&live.per_tenant);
        let used = per_tenant.entry(member.tenant_id).or_default();
        if let Some(quota) = member.plan.quotas().subscriptions {
            if *used >= quota {
                return Err(AppError::new(
                    ErrorCode::QuotaExceeded,
                    format!("the tenant's plan allows {quota} open subscriptions"),
                )
                .into_graphql());
            }
        }
        *used += 1;
    }
    session.open.fetch_add(1, Ordering::SeqCst);
    live.subscriptions.fetch_add(1, Ordering::Relaxed);
    let counted = Counted {
        live,
        tenant: member.tenant_id,
        connection: Arc::clone(&session.open),
    };
    Ok(Opened {
        session,
        slot,
        member,
        counted,
    })
}

/// Counts an open subscription while it lives.
struct Counted {
    live: Arc<Live>,
    tenant: TenantId,
    connection: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.subscriptions.fetch_sub(1, Ordering::Relaxed);
        self.connection.fetch_sub(1, Ordering::SeqCst);
        let mut per_tenant = lock(&self.live.per_tenant);
        if let Some(used) = per_tenant.get_mut(&self.tenant) {
            *used -= 1;
            if *used <= 0 {
                per_tenant.remove(&self.tenant);
            }
        }
    }
}

/// Whether the session's caller is still admitted with at least `role`: token not expired,
/// membership (cached, else looked up in a transaction of its own) still there, tenant
/// active, role not lowered.
pub async fn still_admitted(session: &LiveSession, role: Role) -> AppResult<Member> {
    if let Some(at) = session.expires_at {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        if now >= at {
            return Err(AppError::new(
                ErrorCode::Unauthenticated,
                "the token expired: reconnect with a fresh one",
            ));
        }
    }
    if let Some(check) = &session.key_check {
        check().await?;
    }
    let member = match session.live.resolver.cached(&session.principal).await {
        // A cached member is checked like a looked-up one (its tenant must be the
        // credential's own; an API key's feature and cap), without counting a request.
        Some(answer) => RequestAdmission::unmetered(
            session.live.resolver.clone(),
            Some(session.principal.clone()),
        )
        .recheck(answer?)?,
        None => {
            let tx = session.live.open_tx(Some(session.principal.clone()));
            let member = tx.member().await;
            let _ = tx.finish().await;
            member?
        }
    };
    let role_now = member.role;
    if role_now < role {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            format!("this subscription requires the {} role", role.as_str()),
        ));
    }
    Ok(member)
}
