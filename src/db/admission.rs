//! The contract between the request transaction ([`super::TenantTx`]) and the layer that
//! decides who may open one (the auth layer's admission): the transaction asks, on first
//! use, who the caller is and renders the answer into its `SET LOCAL`s.

use crate::error::AppResult;
use crate::ids::{TenantId, UserId};
use diesel_async::AsyncPgConnection;

/// Who a transaction runs as, rendered into its `SET LOCAL`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// `app.tenant_id`: the tenant whose rows the transaction sees.
    pub tenant_id: TenantId,
    /// `app.user_id`: the acting user.
    pub user_id: UserId,
    /// `app.role`: the caller's role name (from a closed set, never request text).
    pub role: &'static str,
    /// `app.api_key_id`: the API key the request authenticated with, if any (the actor
    /// the audit triggers record instead of the key's creator).
    pub api_key_id: Option<uuid::Uuid>,
}

/// Decides who may open a request's transaction, and as whom: implemented by the auth
/// layer, so this module only opens, runs and ends transactions.
#[async_trait::async_trait]
pub trait Admission: Send + Sync + 'static {
    /// What an admitted caller is (for the auth layer: a member with role and plan).
    type Admitted: Clone + Send + Sync + 'static;

    /// The caller's answer known without a connection (a cache), if any: an error refuses
    /// the request before a connection is taken.
    async fn known(&self) -> Option<AppResult<Self::Admitted>>;

    /// Looks the caller up on `conn`, inside the transaction just begun for the request
    /// (as the login role, before any `SET LOCAL`). SERVICE_UNAVAILABLE means the connection
    /// was lost (the lookup is tried once more on a fresh one).
    async fn look_up(&self, conn: &mut AsyncPgConnection) -> AppResult<Self::Admitted>;

    /// Admits the looked-up caller for this one request (caps, rate limits); called at
    /// most once per request.
    fn admit(&self, admitted: Self::Admitted) -> AppResult<Self::Admitted>;

    /// Who the transaction runs as.
    fn identity(&self, admitted: &Self::Admitted) -> Identity;
}
