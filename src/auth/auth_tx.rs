//! The auth path's only door to the database: short transactions as `tenantry_auth`, for
//! the work done before a tenant is chosen (logins, refresh tokens, the caller's tenants
//! and invitations, looking up a presented API key), refusing statements that fan out
//! where so configured; and [`set_up_tx`], the transaction both it and the invitee's
//! (`tenantry_app`, [`super::invitations`]) open. `tenantry_auth` is a NOLOGIN role whose policies let it read
//! memberships across tenants and manage refresh tokens (see [`super::session`]).

use crate::db::PgPool;
use crate::error::{AppError, AppResult};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use scoped_futures::ScopedBoxFuture;

/// Whether a transaction of the auth path refuses statements that Citus would send to more
/// than one node (`TENANTRY_CITUS_REFUSE_FAN_OUT`, as the request transaction does; see
/// [`crate::db::tx::TxSettings`]). No effect on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanOut {
    /// `citus.multi_task_query_log_level = error`: such a statement fails.
    Refused,
    /// Nothing set: such a statement runs. The configured default when the refusal is off.
    /// (No read chooses it any more: the reads across tenants go through the tenant
    /// directory, `crate::db::directory`.)
    Allowed,
}

impl FanOut {
    /// [`FanOut::Refused`] if `refuse` (the configuration's switch), else allowed.
    pub fn refused_if(refuse: bool) -> Self {
        if refuse {
            Self::Refused
        } else {
            Self::Allowed
        }
    }

    /// The `SET LOCAL` that makes it so, if any (for a batch of `SET`s only: Citus re-runs
    /// the whole batch of a `SET LOCAL` on the workers).
    pub(super) fn set_local(self) -> &'static str {
        match self {
            Self::Refused => " SET LOCAL citus.multi_task_query_log_level = 'error';",
            Self::Allowed => "",
        }
    }
}

/// Runs `f` in a transaction as `tenantry_auth` (see the module documentation): the auth
/// path's only door to the database, for work done before a tenant is chosen (logins,
/// refresh tokens, and looking up a presented API key). `fan_out` says whether a statement
/// Citus would send to more than one node is refused.
pub async fn auth_tx<'a, R, F>(pool: &PgPool, fan_out: FanOut, f: F) -> AppResult<R>
where
    R: Send + 'a,
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, AppResult<R>>
        + Send
        + 'a,
{
    let setup = format!("SET LOCAL ROLE tenantry_auth;{}", fan_out.set_local());
    set_up_tx(pool, setup, f).await
}

/// Runs `f` in a transaction of its own on a connection of `pool`, after the `SET LOCAL`s
/// of `setup` (one batch).
pub(super) async fn set_up_tx<'a, R, F>(pool: &PgPool, setup: String, f: F) -> AppResult<R>
where
    R: Send + 'a,
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, AppResult<R>>
        + Send
        + 'a,
{
    let mut conn = crate::db::live_connection(pool).await?;
    let conn: &mut AsyncPgConnection = &mut conn;
    conn.transaction::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
        c.batch_execute(&setup).await?;
        f(c).await
    })
    .await
}
