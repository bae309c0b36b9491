//! Rows and queries of `usage_daily`. The tenant's own reads run in its request
//! transaction (row-level security keeps them to the tenant, and they name it too); the
//! meter's flush and the platform's cross-tenant reads run as `tenantry_meter` (see the
//! migration), whose policies let it read and upsert every tenant's counters and count,
//! never read, members and contacts.

use super::meter::Counts;
use crate::db::schema::usage_daily;
use crate::error::AppResult;
use crate::ids::TenantId;
use chrono::NaiveDate;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use scoped_futures::ScopedBoxFuture;
use std::collections::HashMap;
use uuid::Uuid;

/// What a tenant used on one UTC day (days without requests have no row); also its
/// GraphQL type, `UsageDay`.
#[derive(Debug, Clone, Queryable, Selectable, async_graphql::SimpleObject)]
#[diesel(table_name = usage_daily, check_for_backend(Pg))]
#[graphql(name = "UsageDay")]
pub struct UsageRow {
    /// The day (UTC).
    pub day: NaiveDate,
    /// GraphQL requests admitted to the tenant, refused ones (rate, budget) included.
    pub requests: i64,
    /// Requests answered with at least one error.
    pub errors: i64,
    /// Requests that were mutations.
    pub mutations: i64,
    /// The summed cost (query complexity) of the requests.
    pub query_cost: i64,
    /// Rows the mutations inserted, updated or deleted in the tenant's tables.
    pub rows_written: i64,
    /// Members of the tenant at the day's last flush.
    pub members: i64,
    /// Contacts of the tenant at the day's last flush.
    pub contacts: i64,
}

impl UsageRow {
    /// The day's counts.
    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.requests,
            errors: self.errors,
            mutations: self.mutations,
            query_cost: self.query_cost,
            rows_written: self.rows_written,
        }
    }
}

/// `tenant`'s days from `from` to `to` (inclusive), oldest first.
pub async fn days(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<UsageRow>> {
    usage_daily::table
        .filter(usage_daily::tenant_id.eq(tenant.0))
        .filter(usage_daily::day.between(from, to))
        .order(usage_daily::day)
        .select(UsageRow::as_select())
        .load(conn)
        .await
}

/// One tenant's usage summed over a range of days, as the platform lists it.
#[derive(Debug, Clone, QueryableByName)]
pub struct TenantTotals {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub slug: String,
    #[diesel(sql_type = BigInt)]
    pub days: i64,
    /// The range's counts, summed.
    #[diesel(embed)]
    pub total: Counts,
    /// Members on the range's last day with usage.
    #[diesel(sql_type = BigInt)]
    pub members: i64,
    /// Contacts on the range's last day with usage.
    #[diesel(sql_type = BigInt)]
    pub contacts: i64,
}

/// Every tenant's usage from `from` to `to`, by tenant id after `after`, at most `limit`.
pub async fn platform_page(
    conn: &mut AsyncPgConnection,
    from: NaiveDate,
    to: NaiveDate,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<TenantTotals>> {
    // sql_query: an aggregate with ordered array_agg, which diesel's DSL does not express.
    diesel::sql_query(
        "SELECT u.tenant_id, t.slug, count(*)::int8 AS days,
                sum(u.requests)::int8 AS requests, sum(u.errors)::int8 AS errors,
                sum(u.mutations)::int8 AS mutations, sum(u.query_cost)::int8 AS query_cost,
                sum(u.rows_written)::int8 AS rows_written,
                (array_agg(u.members ORDER BY u.day DESC))[1] AS members,
                (array_agg(u.contacts ORDER BY u.day DESC))[1] AS contacts
           FROM usage_daily u JOIN tenants t ON t.id = u.tenant_id
          WHERE u.day BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR u.tenant_id > $3)
          GROUP BY u.tenant_id, t.slug
          ORDER BY u.tenant_id
          LIMIT $4",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Runs `f` in a transaction as `tenantry_meter` (read only unless `write`): the meter's
/// and the platform's path to every tenant's counters.
pub async fn as_meter<'a, R, F>(conn: &mut AsyncPgConnection, write: bool, f: F) -> AppResult<R>
where
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, QueryResult<R>>
        + Send
        + 'a,
    R: Send + 'a,
{
    let result = conn
        .transaction::<R, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
            c.batch_execute(if write {
                "SET LOCAL ROLE tenantry_meter"
            } else {
                "SET TRANSACTION READ ONLY; SET LOCAL ROLE tenantry_meter"
            })
            .await?;
            f(c).await
        })
        .await?;
    Ok(result)
}

#[derive(QueryableByName)]
struct TenantCount {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many rows each of `tenants` has in `table` (`memberships` or `contacts`: the
/// meter's role may count them, not read them). Tenants without rows are absent.
async fn count_per_tenant(
    conn: &mut AsyncPgConnection,
    table: &'static str,
    tenants: &[Uuid],
) -> QueryResult<HashMap<Uuid, i64>> {
    // sql_query: the same statement for two tables, by name (a constant, never input).
    let rows: Vec<TenantCount> = diesel::sql_query(format!(
        "SELECT tenant_id, count(*)::int8 AS n FROM {table}
          WHERE tenant_id = ANY($1) GROUP BY tenant_id"
    ))
    .bind::<Array<SqlUuid>, _>(tenants)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.n)).collect())
}

/// Adds `batch` to the tenants' daily rows, sampling each tenant's members and contacts;
/// counts of a tenant that no longer exists (purged) are dropped. Three statements per
/// flush, whatever the number of tenants. Runs as `tenantry_meter` (see [`as_meter`]).
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    batch: &[(TenantId, NaiveDate, Counts)],
) -> QueryResult<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let column = |f: fn(&Counts) -> i64| batch.iter().map(|(_, _, c)| f(c)).collect::<Vec<_>>();
    // The samples are counted first, each in a statement of its own: on Citus, counts of
    // distributed tables correlated with the rows of unnest() (one statement) are a join
    // it cannot plan ("complex joins are only supported when all distributed tables are
    // co-located and joined on their distribution columns").
    let mut tenants: Vec<Uuid> = batch.iter().map(|(t, _, _)| t.0).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let members = count_per_tenant(conn, "memberships", &tenants).await?;
    let contacts = count_per_tenant(conn, "contacts", &tenants).await?;
    let sample = |counts: &HashMap<Uuid, i64>| {
        batch
            .iter()
            .map(|(t, _, _)| counts.get(&t.0).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    // sql_query: an upsert from unnest()ed arrays, which diesel's DSL does not express.
    diesel::sql_query(
        "INSERT INTO usage_daily AS u (tenant_id, day, requests, errors, mutations, query_cost,
                                       rows_written, members, contacts, updated_at)
         SELECT v.tenant_id, v.day, v.requests, v.errors, v.mutations, v.query_cost,
                v.rows_written, v.members, v.contacts, now()
           FROM unnest($1::uuid[], $2::date[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                       $7::int8[], $8::int8[], $9::int8[])
                AS v(tenant_id, day, requests, errors, mutations, query_cost, rows_written,
                     members, contacts)
          WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = v.tenant_id)
         ON CONFLICT (tenant_id, day) DO UPDATE SET
           requests = u.requests + EXCLUDED.requests,
           errors = u.errors + EXCLUDED.errors,
           mutations = u.mutations + EXCLUDED.mutations,
           query_cost = u.query_cost + EXCLUDED.query_cost,
           rows_written = u.rows_written + EXCLUDED.rows_written,
           members = EXCLUDED.members,
           contacts = EXCLUDED.contacts,
           updated_at = EXCLUDED.updated_at",
    )
    .bind::<Array<SqlUuid>, _>(batch.iter().map(|(t, _, _)| t.0).collect::<Vec<_>>())
    .bind::<Array<Date>, _>(batch.iter().map(|(_, d, _)| *d).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(column(|c| c.requests))
    .bind::<Array<BigInt>, _>(column(|c| c.errors))
    .bind::<Array<BigInt>, _>(column(|c| c.mutations))
    .bind::<Array<BigInt>, _>(column(|c| c.query_cost))
    .bind::<Array<BigInt>, _>(column(|c| c.rows_written))
    .bind::<Array<BigInt>, _>(sample(&members))
    .bind::<Array<BigInt>, _>(sample(&contacts))
    .execute(conn)
    .await
}

#[derive(QueryableByName)]
struct MonthCost {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = BigInt)]
    cost: i64,
}

/// The query cost every tenant on one of `plans` has spent since `month_start`, as flushed
/// by every server process. Runs as `tenantry_meter`.
pub async fn month_costs(
    conn: &mut AsyncPgConnection,
    month_start: NaiveDate,
    plans: &[&str],
) -> QueryResult<HashMap<TenantId, i64>> {
    let rows: Vec<MonthCost> = diesel::sql_query(
        "SELECT u.tenant_id, sum(u.query_cost)::int8 AS cost
           FROM usage_daily u JOIN tenants t ON t.id = u.tenant_id
          WHERE u.day >= $1 AND t.plan = ANY($2)
          GROUP BY u.tenant_id",
    )
    .bind::<Date, _>(month_start)
    .bind::<Array<Text>, _>(plans)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId(r.tenant_id), r.cost))
        .collect())
}

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

/// The rows the current request transaction (of `tenant`) has inserted, updated (with a
/// change) or deleted in the tenant's tables so far: its entries in the audit log, which
/// the database's triggers write for every such row (see the audit migration). Rows of a
/// field rolled back to its savepoint took their entries with them and do not count. The
/// entries are found by the request id the transaction set, from the transaction's start
/// on (`occurred_at` is never earlier), through the index on (tenant, time).
pub async fn rows_written(conn: &mut AsyncPgConnection, tenant: TenantId) -> QueryResult<i64> {
    // The tenant is bound, not read from `app.current_tenant_id()`: Citus routes only on a
    // value it knows when planning (row-level security still applies).
    let written: Written = diesel::sql_query(
        "SELECT count(*)::int8 AS rows FROM audit_log
          WHERE tenant_id = $1 AND occurred_at >= now()
            AND request_id = NULLIF(current_setting('app.request_id', true), '')::uuid",
    )
    .bind::<SqlUuid, _>(tenant.0)
    .get_result(conn)
    .await?;
    Ok(written.rows)
}
