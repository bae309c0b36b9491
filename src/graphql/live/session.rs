//! The subscriber's side of live updates: a WebSocket connection's caller
//! ([`LiveSession`]), the admission of each new subscription against the connection's
//! and the tenant's limits ([`open`]), the stream that filters the hub's batches for one
//! subscriber and re-checks its admission ([`subscribe`]), and the short transaction
//! nested fields of a delivered row run in ([`LiveSlot`]).

use super::{lock, Live};
use crate::auth::admission::RequestAdmission;
use crate::auth::{Member, Principal, RequestTx, Role};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

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
