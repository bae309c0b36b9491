//! GraphQL types and roots of usage: `tenantUsage` for the tenant's OWNER and ADMIN, and
//! the types of `platformUsage` (whose root lives behind the platform door, in
//! [`crate::platform::graphql`]).

use super::meter::Counts;
use super::model::{self, TenantTotals, UsageRow};
use crate::auth::{RequestTx, Role};
use crate::error::{AppError, AppResult, GqlResultExt};
use crate::graphql::guards::requires_role;
use crate::graphql::relay::global_id;
use crate::graphql::request_tx;
use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDate;
use scoped_futures::ScopedFutureExt;

/// The longest range of days one usage query covers.
pub const MAX_USAGE_DAYS: i64 = 366;

/// Checks a `from`..`to` range of days (inclusive): in order and at most
/// [`MAX_USAGE_DAYS`] long; BAD_USER_INPUT naming the argument otherwise.
pub fn validate_range(from: NaiveDate, to: NaiveDate) -> AppResult<()> {
    if to < from {
        return Err(AppError::bad_input("to", "must not be before `from`"));
    }
    if (to - from).num_days() >= MAX_USAGE_DAYS {
        return Err(AppError::bad_input(
            "to",
            format!("a range covers at most {MAX_USAGE_DAYS} days"),
        ));
    }
    Ok(())
}

/// A tenant's usage over a range of days, as flushed (at most `TENANTRY_USAGE_FLUSH_SECS`
/// behind).
#[derive(SimpleObject)]
pub struct TenantUsage {
    /// The first day (UTC).
    pub from: NaiveDate,
    /// The last day (UTC), inclusive.
    pub to: NaiveDate,
    /// Each day with requests, oldest first.
    pub days: Vec<UsageRow>,
    /// The days summed.
    pub total: Counts,
}

/// Usage queries.
#[derive(Default)]
pub struct UsageQuery;

#[Object]
impl UsageQuery {
    /// What the tenant used per UTC day from `from` to `to` (inclusive, at most 366 days):
    /// requests, errors, mutations, query cost, rows written, members and contacts.
    /// OWNER and ADMIN.
    #[graphql(directive = requires_role::apply(Role::Admin))]
    async fn tenant_usage(
        &self,
        ctx: &Context<'_>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<TenantUsage> {
        let tx = request_tx(ctx)?;
        tenant_usage(&tx, from, to).await.gql()
    }
}

/// The calling tenant's usage from `from` to `to` (validated by [`validate_range`]), as
/// `tenantUsage` answers it (its resolver, and compiled plans).
pub async fn tenant_usage(
    tx: &RequestTx,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<TenantUsage> {
    validate_range(from, to)?;
    let tenant = tx.member().await?.tenant_id;
    let rows = tx
        .run(move |c| async move { model::days(c, tenant, from, to).await }.scope_boxed())
        .await?;
    let mut total = Counts::default();
    for r in &rows {
        total += r.counts();
    }
    Ok(TenantUsage {
        from,
        to,
        days: rows,
        total,
    })
}

/// One tenant's usage over the range, as platform administrators list it.
pub struct PlatformTenantUsage(pub TenantTotals);

/// One tenant's usage summed over a range of days (`platformUsage`).
#[Object]
impl PlatformTenantUsage {
    /// The tenant's global id.
    async fn tenant_id(&self) -> ID {
        global_id(crate::tenancy::graphql::TENANT_KIND, self.0.tenant_id)
    }
    /// The tenant's slug.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Days of the range with requests.
    async fn days(&self) -> i64 {
        self.0.days
    }
    /// The usage summed over the range.
    async fn total(&self) -> Counts {
        self.0.total
    }
    /// Members on the range's last day with requests.
    async fn members(&self) -> i64 {
        self.0.members
    }
    /// Contacts on the range's last day with requests.
    async fn contacts(&self) -> i64 {
        self.0.contacts
    }
}

/// A position in `platformUsage` (after this tenant), as an opaque Relay cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantCursor(pub uuid::Uuid);

impl CursorType for TenantCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> std::result::Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "invalid cursor")?;
        let text = String::from_utf8(bytes).map_err(|_| "invalid cursor")?;
        let id = text.strip_prefix("u1:").ok_or("invalid cursor")?;
        uuid::Uuid::parse_str(id)
            .map(TenantCursor)
            .map_err(|_| "invalid cursor")
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("u1:{}", self.0))
    }
}

/// A page of tenants' usage, by tenant id.
pub type PlatformUsageConnection = Connection<TenantCursor, PlatformTenantUsage>;

/// The connection of `rows` (fetched with one probe row beyond `first`).
pub fn platform_connection(
    mut rows: Vec<TenantTotals>,
    first: usize,
    after: bool,
) -> PlatformUsageConnection {
    let has_next = rows.len() > first;
    rows.truncate(first);
    let mut connection = Connection::new(after, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|r| Edge::new(TenantCursor(r.tenant_id), PlatformTenantUsage(r))),
    );
    connection
}
