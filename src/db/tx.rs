//! The request-scoped tenant transaction: the only door to the database on the request path.
//!
//! One [`TenantTx`] exists per GraphQL request and is shared (behind an `Arc`) by every
//! resolver and batch loader of that request. It takes a pooled connection lazily, so a
//! request that needs none (introspection) takes none. On first use it asks its
//! [`Admission`] (the auth layer's: membership, API-key cap, rate) who the caller is — from
//! its cache, or by a lookup run after the `BEGIN`, inside the transaction (so a
//! transaction-mode pooler such as PgBouncer keeps it on one server connection) — then
//! prepares the batch that opens the transaction for that caller:
//!
//! ```sql
//! BEGIN [READ ONLY]; SET LOCAL ROLE tenantry_app; SET LOCAL statement_timeout = ..;
//! SET LOCAL app.tenant_id = '<uuid>'; SET LOCAL app.user_id = '<uuid>'; SET LOCAL app.role = '<ROLE>';
//! [SET LOCAL app.request_id = '<uuid>';] [SET LOCAL app.api_key_id = '<uuid>';]
//! ```
//!
//! (The request id and the API key's id are what the audit triggers record beside the
//! user: see `migrations/…_audit_log`.)
//!
//! The batch goes out with the request's first statement: in the same round trip where
//! the caller lets the statement travel with it ([`TenantTx::run_pipelined`]), just before
//! it otherwise; a request that runs no statement sends none. A query's COMMIT is sent
//! before the response, but its answer is awaited by a task of its own (a read-only
//! transaction has nothing to lose), which then returns the connection to the pool.
//!
//! Every value is rendered from a typed value (`Uuid`, a role name from a closed set, `u64`),
//! never from request text. Root mutation fields run inside a SAVEPOINT ([`TenantTx::begin_field`] /
//! [`TenantTx::end_field`]), so a failed field is rolled back alone. [`TenantTx::finish`]
//! commits a mutation before the response is sent (a query's COMMIT is sent then, its answer
//! awaited apart, as above); a transaction that is never finished (a panic, a dropped
//! request) is rolled back explicitly, so a connection never goes back to the pool inside a
//! transaction. The pool is a private field: resolvers cannot reach it.

use crate::error::{AppError, AppResult, ErrorCode};
use diesel::connection::InstrumentationEvent;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use scoped_futures::ScopedBoxFuture;
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

pub use super::admission::{Admission, Identity};
use super::{rollback_or_discard, PgPool, Unsettled};

/// Whether the request may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Queries: `BEGIN READ ONLY`.
    ReadOnly,
    /// Mutations: `BEGIN`.
    ReadWrite,
}

const SAVEPOINT: &str = "tenantry_field";

enum State<M> {
    /// No connection taken yet.
    Idle,
    /// The caller could not be admitted; the error is repeated to every resolver.
    Refused(AppError),
    /// A transaction is open on `conn`.
    Open(Box<Open<M>>),
    /// Committed or rolled back; nothing more may run.
    Finished,
}

struct Open<M> {
    conn: Object<AsyncPgConnection>,
    member: M,
    /// The opening batch, until it is sent (taken just before: `None` means it went out,
    /// whatever became of it).
    setup: Option<Setup>,
    /// A statement failed outside a savepoint (or the opening batch failed, or never got
    /// its answer): the transaction can only be rolled back.
    aborted: bool,
    /// Inside a root mutation field: `Some(false)` until its SAVEPOINT is sent.
    field_savepoint: Option<bool>,
}

/// The batch that opens a request's transaction for its caller (see the module
/// documentation), kept until the first statement. Typed values only, never request text:
/// a pipelined statement relies on it never failing to parse (which would run nothing of
/// it, not even its BEGIN).
struct Setup {
    /// The `SET LOCAL`s (and a field's SAVEPOINT), after the BEGIN.
    body: String,
    /// The BEGIN went out already, with the membership lookup, on this connection.
    begun: bool,
}

impl Setup {
    /// The whole batch, beginning with `begin` unless that went out already.
    fn text(&self, begin: &str) -> String {
        match self.begun {
            true => self.body.clone(),
            false => format!("{begin}{}", self.body),
        }
    }
}

/// What every request transaction sets besides who it runs as (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct TxSettings {
    /// `statement_timeout` of the transaction.
    pub statement_timeout: Duration,
    /// On Citus, `citus.multi_task_query_log_level = error`: a statement that would run on
    /// more than one node fails instead (`TENANTRY_CITUS_REFUSE_FAN_OUT`).
    pub refuse_fan_out: bool,
}

impl TxSettings {
    /// The settings `config` asks for.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            statement_timeout: config.statement_timeout(),
            refuse_fan_out: config.citus_refuse_fan_out == crate::config::Switch::On,
        }
    }
}

/// The request-scoped tenant transaction (see the module documentation), admitted by `A`.
pub struct TenantTx<A: Admission> {
    pool: PgPool,
    admission: A,
    mode: TxMode,
    settings: TxSettings,
    statements: Arc<AtomicU64>,
    /// Set by the connection when it reports a failed statement (see [`TenantTx::run`] for
    /// the failures it does not report).
    failed: Arc<AtomicBool>,
    /// A root mutation field began before the transaction was open.
    pending_field: AtomicBool,
    /// `app.request_id`, when the request has one (the audit log records it).
    request_id: Option<uuid::Uuid>,
    /// The admitted caller, once admitted (kept after the transaction ends, for the
    /// request's metrics and health figures).
    admitted: std::sync::OnceLock<A::Admitted>,
    /// The `transaction` span, parent of the statement spans, while traces are exported
    /// (see [`crate::telemetry::traces`]); taken, and so ended, by [`TenantTx::finish`].
    span: Arc<std::sync::Mutex<Option<tracing::Span>>>,
    state: Mutex<State<A::Admitted>>,
}

impl<A: Admission> TenantTx<A> {
    /// A transaction for one request, admitted by `admission`, not yet begun.
    pub fn new(pool: PgPool, admission: A, mode: TxMode, settings: TxSettings) -> Self {
        Self {
            pool,
            admission,
            mode,
            settings,
            statements: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(AtomicBool::new(false)),
            pending_field: AtomicBool::new(false),
            request_id: None,
            admitted: std::sync::OnceLock::new(),
            span: Arc::default(),
            state: Mutex::new(State::Idle),
        }
    }

    /// The same transaction, whose writes the audit log attributes to request `id` (the
    /// `request.id` of the log lines and of `extensions.requestId`).
    pub fn with_request_id(mut self, id: uuid::Uuid) -> Self {
        self.request_id = Some(id);
        self
    }

    /// The admission of this request (who signed in, known without the database).
    pub fn admission(&self) -> &A {
        &self.admission
    }

    /// The admitted caller, if the request got that far (known without opening anything).
    pub fn admitted(&self) -> Option<&A::Admitted> {
        self.admitted.get()
    }

    /// The mode this transaction begins in.
    pub fn mode(&self) -> TxMode {
        self.mode
    }

    /// How many SQL statements this request has sent so far (counted on the connection
    /// itself, setup and COMMIT included).
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// The admitted caller (a member of the tenant), opening the transaction if needed.
    /// Fails with the admission's refusal (UNAUTHENTICATED, TENANT_NOT_FOUND, FORBIDDEN,
    /// TENANT_SUSPENDED, RATE_LIMITED, …).
    pub async fn member(&self) -> AppResult<A::Admitted> {
        let mut state = self.open().await?;
        match &mut *state {
            State::Open(open) => Ok(open.member.clone()),
            _ => Err(AppError::internal("transaction not open after open()")),
        }
    }

    /// The tenant the transaction runs for (its `app.tenant_id`), opening it if needed:
    /// what the read path's statements name explicitly, for routing (see
    /// [`super::routing`]).
    pub async fn tenant(&self) -> AppResult<crate::ids::TenantId> {
        let member = self.member().await?;
        Ok(self.admission.identity(&member).tenant_id)
    }

    /// Runs `f` on the request's connection inside the tenant transaction; `f` may fail
    /// with any error that becomes an [`AppError`] (diesel's, or an [`AppError`] itself
    /// for work that refuses part-way, such as a quota or a rule checked in SQL).
    ///
    /// Calls are serialised: sibling resolvers share one connection. A failed statement
    /// marks the transaction aborted unless a field savepoint can undo it.
    pub async fn run<'a, R, E, F>(&self, f: F) -> AppResult<R>
    where
        F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, Result<R, E>>
            + Send
            + 'a,
        R: Send + 'a,
        E: Into<AppError> + Send + 'static,
    {
        let mut state = self.open().await?;
        let open = self.set_up(&mut state).await?;
        if open.field_savepoint == Some(false) {
            if let Err(e) = open
                .conn
                .batch_execute(&format!("SAVEPOINT {SAVEPOINT}"))
                .await
            {
                open.aborted = true;
                return Err(e.into());
            }
            open.field_savepoint = Some(true);
        }
        self.failed.store(false, Ordering::Relaxed);
        let result = f(&mut open.conn).await;
        self.judge(open, result).await
    }

    /// Like [`TenantTx::run`], for a statement that may travel with the transaction's
    /// opening batch: if that is still to be sent, both go out in one round trip (the
    /// request's first statement saves one). `f` is given a shared reference, which lets
    /// the two be in flight at once, and may be called a second time, on a fresh
    /// connection, if the pooled one turns out dead: for reads only.
    ///
    /// The batch is sent first, so PostgreSQL runs it first; a batch that fails leaves the
    /// transaction aborted, and the statement fails with it (the batch is typed values in
    /// a fixed text: it cannot fail to parse and so run nothing, not even its BEGIN).
    pub async fn run_pipelined<'a, R, E, F>(&self, f: F) -> AppResult<R>
    where
        F: for<'r> Fn(&'r AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, Result<R, E>> + Send + 'a,
        R: Send + 'a,
        E: Into<AppError> + Send + 'static,
    {
        let mut state = self.open().await?;
        for retry in [true, false] {
            let open = match &mut *state {
                State::Open(open) if open.setup.is_some() && open.field_savepoint.is_none() => open,
                // Nothing to travel with (or a savepoint to send in between).
                _ => {
                    drop(state);
                    return self.run(move |c| f(c)).await;
                }
            };
            let setup = open.setup.take().expect("checked above");
            // Until the batch's answer is read: a request cancelled meanwhile can only
            // roll back.
            open.aborted = true;
            self.failed.store(false, Ordering::Relaxed);
            let mut shared: &AsyncPgConnection = &open.conn;
            let (sent, result) = futures_util::future::join(
                shared.batch_execute(&setup.text(self.begin_sql())),
                f(&open.conn),
            )
            .await;
            match sent {
                Ok(()) => {
                    open.aborted = false;
                    return self.judge(open, result).await;
                }
                Err(e) => self.setup_failed(&mut state, setup, e, retry).await?,
            }
        }
        Err(AppError::db_unavailable(
            "two pooled connections in a row were dead",
        ))
    }

    /// The open transaction in `state`, its opening batch sent if it was not yet (on a
    /// dead pooled connection, once more on a fresh one); refused once a statement failed
    /// outside a savepoint.
    async fn set_up<'s>(
        &self,
        state: &'s mut State<A::Admitted>,
    ) -> AppResult<&'s mut Open<A::Admitted>> {
        for retry in [true, false] {
            let State::Open(open) = &mut *state else {
                return Err(AppError::internal("transaction not open after open()"));
            };
            let Some(setup) = open.setup.take() else {
                break;
            };
            open.aborted = true;
            match open.conn.batch_execute(&setup.text(self.begin_sql())).await {
                Ok(()) => open.aborted = false,
                Err(e) => self.setup_failed(state, setup, e, retry).await?,
            }
        }
        let State::Open(open) = state else {
            return Err(AppError::internal("transaction not open after open()"));
        };
        if open.setup.is_some() {
            return Err(AppError::db_unavailable(
                "two pooled connections in a row were dead",
            ));
        }
        if open.aborted {
            return Err(AppError::new(
                ErrorCode::ServiceUnavailable,
                "an earlier part of this request failed; nothing more can run in it",
            ));
        }
        Ok(&mut **open)
    }

    /// After the opening batch failed with `error`: a lost connection (the pool hands them
    /// out untested, so one may have died since its last use) is closed and, if `retry`,
    /// replaced by a fresh one with the batch pending again — nothing ran on the lost one
    /// but the membership lookup, which need not be repeated. Anything else (a
    /// misconfigured role, say) would fail again: it is the request's answer from now on.
    async fn setup_failed(
        &self,
        state: &mut State<A::Admitted>,
        mut setup: Setup,
        error: diesel::result::Error,
        retry: bool,
    ) -> AppResult<()> {
        let error = AppError::from(error);
        let lost = error.code == ErrorCode::ServiceUnavailable;
        let State::Open(open) = std::mem::replace(state, State::Refused(error.clone())) else {
            return Err(error);
        };
        let Open {
            conn,
            member,
            field_savepoint,
            ..
        } = *open;
        if !lost {
            rollback_or_discard(conn).await;
            return Err(error);
        }
        // Closed, not pooled.
        drop(Object::take(conn));
        if !retry {
            return Err(error);
        }
        crate::telemetry::quiet::warn(
            "a pooled connection was dead; retrying once",
            &error.message,
        );
        let conn = self.checkout().await?;
        // A fresh connection has no transaction yet.
        setup.begun = false;
        *state = State::Open(Box::new(Open {
            conn,
            member,
            setup: Some(setup),
            aborted: false,
            field_savepoint,
        }));
        Ok(())
    }

    /// What `f`'s `result` makes of the transaction: PostgreSQL aborts a transaction at
    /// its first failed statement, whatever the caller made of the error, so find out
    /// whether one failed.
    async fn judge<R, E>(&self, open: &mut Open<A::Admitted>, result: Result<R, E>) -> AppResult<R>
    where
        E: Into<AppError> + 'static,
    {
        let failed = match &result {
            // Reported by the connection. (Only for some statements: a row-returning one
            // fails while its rows are read, after the connection has reported success.)
            _ if self.failed.load(Ordering::Relaxed) => true,
            Ok(_) => false,
            Err(e) => match (e as &dyn Any).downcast_ref::<diesel::result::Error>() {
                Some(e) => matches!(e, diesel::result::Error::DatabaseError(..)),
                // An error of the caller's own type may stand for a failed statement (or
                // for a rule the caller checked): ask PostgreSQL whether the transaction
                // still works. Only error paths pay this round trip.
                None => open.conn.batch_execute("SELECT 1").await.is_err(),
            },
        };
        if failed {
            open.aborted = true;
        }
        result.map_err(Into::into)
    }

    /// Marks the start of a root mutation field: its first statement is preceded by a
    /// SAVEPOINT (sent lazily, so a field refused by a guard costs nothing).
    pub async fn begin_field(&self) {
        if let State::Open(open) = &mut *self.state.lock().await {
            open.field_savepoint = Some(false);
            return;
        }
        // Not open yet: `open()` starts in field mode when it sees this flag.
        self.pending_field.store(true, Ordering::Relaxed);
    }

    /// Ends a root mutation field. If it failed, or left the transaction aborted, its work
    /// is rolled back to the savepoint and the error to report is returned.
    pub async fn end_field(&self, ok: bool) -> AppResult<()> {
        self.pending_field.store(false, Ordering::Relaxed);
        let mut state = self.state.lock().await;
        let State::Open(open) = &mut *state else {
            return Ok(());
        };
        // (Nothing to undo if nothing was sent, not even the opening batch.)
        let savepoint = open.field_savepoint.take() == Some(true) && open.setup.is_none();
        if ok && !open.aborted {
            return Ok(());
        }
        if savepoint {
            let sql = format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}");
            if open.conn.batch_execute(&sql).await.is_ok() {
                open.aborted = false;
            }
        }
        if ok {
            // The field itself returned data, but a statement of it failed afterwards.
            Err(AppError::new(
                ErrorCode::Internal,
                "this mutation failed and was rolled back",
            ))
        } else {
            Ok(())
        }
    }

    /// Commits (or, if a statement failed outside a savepoint, rolls back) and returns the
    /// connection to the pool. An error means nothing of the request was saved. A query's
    /// COMMIT is sent before this returns but awaited apart: its failure (which cannot undo
    /// anything a read-only transaction did) is logged, not returned.
    pub async fn finish(&self) -> AppResult<()> {
        let _span = self.span.lock().map(|mut s| s.take()).ok().flatten();
        let mut state = self.state.lock().await;
        let previous = std::mem::replace(&mut *state, State::Finished);
        let State::Open(mut open) = previous else {
            return Ok(());
        };
        match &open.setup {
            // No statement ran, nor the opening batch: the connection has no transaction.
            Some(Setup { begun: false, .. }) => return Ok(()),
            // Only the membership lookup ran: nothing to keep.
            Some(Setup { begun: true, .. }) => {
                rollback_or_discard(open.conn).await;
                return Ok(());
            }
            None => {}
        }
        if open.aborted {
            let rolled_back = rollback_or_discard(open.conn).await;
            return match (self.mode, rolled_back) {
                (TxMode::ReadOnly, _) => Ok(()),
                (TxMode::ReadWrite, true) => Err(AppError::new(
                    ErrorCode::Internal,
                    "the request failed and nothing was saved",
                )),
                // Not even a ROLLBACK went through: the database went away mid-request,
                // which is its unavailability, not a fault of the server.
                (TxMode::ReadWrite, false) => Err(AppError::new(
                    ErrorCode::ServiceUnavailable,
                    "the database became unavailable; nothing was saved",
                )),
            };
        }
        if self.mode == TxMode::ReadOnly && !crate::telemetry::traces::enabled() {
            // Nothing to save, so the response need not wait: the COMMIT is sent now (the
            // first poll hands it to the connection), and its answer awaited by a task of
            // its own, which then returns the connection to the pool — never before, so
            // no other request (nor, behind PgBouncer, another client) can follow it on
            // that connection inside this transaction. (While traces are exported it is
            // awaited here, so that its span ends inside the request's.)
            let mut pending = Unsettled(Some(open.conn));
            let mut commit = Box::pin(async move {
                match pending.batch_execute("COMMIT").await {
                    Ok(()) => drop(pending.settle()),
                    Err(e) => {
                        crate::telemetry::quiet::warn(
                            "COMMIT failed; discarding the connection",
                            &e.to_string(),
                        );
                        // `pending` closes it, rather than pool it.
                    }
                }
            });
            if futures_util::poll!(commit.as_mut()).is_pending() {
                tokio::spawn(commit);
            }
            return Ok(());
        }
        match open.conn.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                crate::telemetry::quiet::error("COMMIT failed", &e.to_string());
                rollback_or_discard(open.conn).await;
                Err(AppError::new(
                    ErrorCode::ServiceUnavailable,
                    "the transaction could not be committed; nothing was saved",
                ))
            }
        }
    }

    /// Takes a connection, admits the caller and begins the transaction, once.
    async fn open(&self) -> AppResult<MutexGuard<'_, State<A::Admitted>>> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Open(_) => return Ok(state),
            State::Refused(e) => return Err(e.clone()),
            State::Finished => {
                return Err(AppError::internal("request transaction used after finish"))
            }
            State::Idle => {}
        }
        match self.begin().await {
            Ok(open) => {
                *state = State::Open(Box::new(open));
                Ok(state)
            }
            Err(e) => {
                *state = State::Refused(e.clone());
                Err(e)
            }
        }
    }

    /// A pooled connection whose statements this request counts.
    async fn checkout(&self) -> AppResult<Object<AsyncPgConnection>> {
        let mut conn = super::checkout(&self.pool).await?;
        let counter = Arc::clone(&self.statements);
        let failed = Arc::clone(&self.failed);
        if crate::telemetry::traces::enabled() {
            // Traced: one `sql` span per statement under the transaction's span.
            let parent = Arc::clone(&self.span);
            // Answers come in the order statements were sent, pipelined or not: each
            // FinishQuery ends the oldest open span. (Bounded, should an event go missing.)
            let mut statements: std::collections::VecDeque<Option<tracing::Span>> =
                Default::default();
            conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
                InstrumentationEvent::StartQuery { query, .. } => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let parent = parent
                        .lock()
                        .ok()
                        .and_then(|p| p.clone())
                        .filter(|p| !p.is_disabled());
                    // The statement's span lives until its FinishQuery.
                    let span = parent.map(|parent| {
                        let text = crate::telemetry::traces::statement_text(&query.to_string());
                        tracing::info_span!(parent: &parent, "sql", db.system = "postgresql", db.statement = %text)
                    });
                    if statements.len() >= 8 {
                        statements.pop_front();
                    }
                    statements.push_back(span);
                }
                InstrumentationEvent::FinishQuery { error, .. } => {
                    if error.is_some() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    drop(statements.pop_front());
                }
                _ => {}
            });
            return Ok(conn);
        }
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { .. } => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery { error: Some(_), .. } => {
                failed.store(true, Ordering::Relaxed);
            }
            _ => {}
        });
        Ok(conn)
    }

    /// Admits the caller and prepares the transaction (its opening batch goes out with the
    /// first statement). The pool hands out connections without a test query (one round
    /// trip less per request); one that died unnoticed since its last use (PostgreSQL
    /// restarted, the backend was terminated) fails its first statement with nothing done:
    /// it is closed, and the start made once more on a fresh connection. (The first
    /// statement is the lookup here, or the opening batch: see [`TenantTx::set_up`]; both
    /// may simply be sent again; the caller is admitted — counted against its rate — once.)
    async fn begin(&self) -> AppResult<Open<A::Admitted>> {
        if crate::telemetry::traces::enabled() {
            let span =
                tracing::info_span!("transaction", db.system = "postgresql", mode = ?self.mode);
            if let Ok(mut slot) = self.span.lock() {
                *slot = Some(span);
            }
        }
        let known = match self.admission.known().await {
            Some(Err(e)) => return Err(e),
            Some(Ok(member)) => Some(member),
            None => None,
        };
        for retry in [true, false] {
            // Closed, not pooled, if anything below returns early with a transaction open.
            let mut conn = Unsettled(Some(self.checkout().await?));
            let mut begun = false;
            let looked_up = match &known {
                Some(member) => member.clone(),
                None => {
                    // The lookup runs inside the transaction it opens (as the login role,
                    // before the SET LOCALs): outside one, a transaction-mode pooler may
                    // parse its statement on one server connection and execute it on
                    // another.
                    begun = true;
                    let looked_up = match conn.batch_execute(self.begin_sql()).await {
                        Ok(()) => self.admission.look_up(&mut conn).await,
                        Err(e) => Err(e.into()),
                    };
                    match looked_up {
                        Ok(member) => member,
                        // A refusal is an answer; a lost connection is worth another.
                        Err(e) if retry && e.code == ErrorCode::ServiceUnavailable => {
                            crate::telemetry::quiet::warn(
                                "a pooled connection was dead; retrying once",
                                &e.message,
                            );
                            continue;
                        }
                        Err(e) => {
                            rollback_or_discard(conn.settle()).await;
                            return Err(e);
                        }
                    }
                }
            };
            let member = match self.admission.admit(looked_up) {
                Ok(member) => member,
                Err(e) => {
                    if begun {
                        rollback_or_discard(conn.settle()).await;
                    } else {
                        drop(conn.settle());
                    }
                    return Err(e);
                }
            };
            let _ = self.admitted.set(member.clone());
            // From here on the transaction (if `begun`) is the request's to end.
            return Ok(self.start(conn.settle(), member, begun));
        }
        Err(AppError::db_unavailable(
            "two pooled connections in a row were dead",
        ))
    }

    /// `BEGIN` in this transaction's mode.
    fn begin_sql(&self) -> &'static str {
        match self.mode {
            TxMode::ReadOnly => "BEGIN READ ONLY;",
            TxMode::ReadWrite => "BEGIN;",
        }
    }

    /// The transaction of `member` on `conn` (going on with the one the lookup opened, if
    /// `begun`), its opening batch prepared.
    fn start(
        &self,
        conn: Object<AsyncPgConnection>,
        member: A::Admitted,
        begun: bool,
    ) -> Open<A::Admitted> {
        let identity = self.admission.identity(&member);
        tracing::Span::current().record("tenant.id", tracing::field::display(identity.tenant_id));
        let field = self.pending_field.load(Ordering::Relaxed);
        let body = format!(
            " SET LOCAL ROLE tenantry_app; SET LOCAL statement_timeout = {timeout}; \
             SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}'; \
             SET LOCAL app.role = '{role}';{fan_out}{request}{key}{savepoint}",
            timeout = self.settings.statement_timeout.as_millis(),
            fan_out = if self.settings.refuse_fan_out {
                " SET LOCAL citus.multi_task_query_log_level = 'error';"
            } else {
                ""
            },
            tenant = identity.tenant_id.0,
            user = identity.user_id.0,
            role = identity.role,
            request = match self.request_id {
                Some(id) => format!(" SET LOCAL app.request_id = '{id}';"),
                None => String::new(),
            },
            key = match identity.api_key_id {
                Some(id) => format!(" SET LOCAL app.api_key_id = '{id}';"),
                None => String::new(),
            },
            savepoint = if field {
                format!(" SAVEPOINT {SAVEPOINT};")
            } else {
                String::new()
            },
        );
        Open {
            conn,
            member,
            setup: Some(Setup { body, begun }),
            aborted: false,
            field_savepoint: field.then_some(true),
        }
    }
}

impl<A: Admission> Drop for TenantTx<A> {
    /// A transaction still open here was never finished (a panic, a cancelled request):
    /// roll it back before the connection may be reused.
    fn drop(&mut self) {
        let state = std::mem::replace(self.state.get_mut(), State::Finished);
        if let State::Open(open) = state {
            if matches!(open.setup, Some(Setup { begun: false, .. })) {
                // Nothing was sent: the connection has no transaction.
                return;
            }
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(rollback_or_discard(open.conn));
                }
                Err(_) => drop(Object::take(open.conn)),
            }
        }
    }
}
