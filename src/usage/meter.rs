//! The meter: each request counted in memory, per tenant and UTC day, and flushed to
//! `usage_daily` in the background.
//!
//! On the request path the meter takes one short lock per request to add its counts (and
//! one more when it charges the request's cost); it never touches the database there. A
//! background task flushes every `TENANTRY_USAGE_FLUSH_SECS` with one upsert for all the
//! counts gathered since the last flush, through its own connection and role
//! (`tenantry_meter`): not the request path. `serve` flushes once more on a graceful
//! shutdown; a crash loses at most the counts of one interval.
//!
//! **Cost budgets.** What a tenant spent this month is the database's sum (every server
//! process flushes there: the source of truth), as read at this process's last flush, plus
//! what this process counted since and has not flushed. A flush's counts stay in memory
//! ("in flight") until the sum read after the upsert includes them, so no moment counts
//! them twice or not at all. Other processes' spending is seen one flush late: with N
//! processes a tenant can overshoot its budget by what the others spent in one interval.

use super::model;
use crate::auth::admission::{BudgetView, CostGate, CostView};
use crate::auth::plans::Plan;
use crate::auth::Member;
use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use scoped_futures::ScopedFutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one or more requests of a tenant used (in memory, per day; in GraphQL, summed over
/// a range as `UsageTotals`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, async_graphql::SimpleObject, QueryableByName,
)]
#[graphql(name = "UsageTotals")]
pub struct Counts {
    /// GraphQL requests admitted to the tenant, refused ones (rate, budget) included.
    #[diesel(sql_type = BigInt)]
    pub requests: i64,
    /// Requests answered with at least one error.
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    /// Requests that were mutations.
    #[diesel(sql_type = BigInt)]
    pub mutations: i64,
    /// The summed cost (query complexity) of the requests.
    #[diesel(sql_type = BigInt)]
    pub query_cost: i64,
    /// Rows the mutations inserted, updated or deleted in the tenant's tables.
    #[diesel(sql_type = BigInt)]
    pub rows_written: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.mutations += other.mutations;
        self.query_cost += other.query_cost;
        self.rows_written += other.rows_written;
    }
}

/// Counts by tenant, then by day (a tenant rarely has more than one day unflushed).
type Tally = HashMap<TenantId, Vec<(NaiveDate, Counts)>>;

fn add(tally: &mut Tally, tenant: TenantId, day: NaiveDate, counts: Counts) {
    let days = tally.entry(tenant).or_default();
    match days.iter_mut().find(|(d, _)| *d == day) {
        Some((_, c)) => *c += counts,
        None => days.push((day, counts)),
    }
}

#[derive(Default)]
struct State {
    /// Counted since the last flush began.
    pending: Tally,
    /// Taken by the flush under way; still counted until the flush has read the sums back.
    in_flight: Tally,
    /// The month (its first day) of `month_costs`.
    month: Option<NaiveDate>,
    /// Each budgeted tenant's flushed cost of `month`, as the database summed it.
    month_costs: HashMap<TenantId, i64>,
}

impl State {
    /// What `tenant` spent in the month starting `month`: flushed, in flight and pending.
    fn spent(&self, tenant: TenantId, month: NaiveDate) -> i64 {
        let flushed = match self.month {
            Some(m) if m == month => self.month_costs.get(&tenant).copied().unwrap_or(0),
            _ => 0,
        };
        let unflushed = |tally: &Tally| -> i64 {
            tally.get(&tenant).map_or(0, |days| {
                days.iter()
                    .filter(|(d, _)| month_of(*d) == month)
                    .map(|(_, c)| c.query_cost)
                    .sum()
            })
        };
        flushed + unflushed(&self.pending) + unflushed(&self.in_flight)
    }
}

/// The first day of `day`'s month.
fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The first instant (UTC) of the month after `month`.
fn next_month(month: NaiveDate) -> DateTime<Utc> {
    let next = month
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(month);
    next.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The plans that have a monthly cost budget (the flush reads their tenants' sums).
fn budgeted_plans() -> Vec<&'static str> {
    Plan::ALL
        .iter()
        .filter(|p| p.quotas().monthly_cost_budget.is_some())
        .map(|p| p.as_str())
        .collect()
}

/// Counts usage per tenant and day (see the module documentation).
pub struct Meter {
    state: Mutex<State>,
    /// One flush at a time (the timer's, shutdown's, a test's).
    flushing: tokio::sync::Mutex<()>,
    pool: PgPool,
}

impl Meter {
    /// A meter flushing through `pool`, its month sums read once before it is used.
    pub async fn start(pool: PgPool) -> AppResult<Arc<Self>> {
        let meter = Arc::new(Self {
            state: Mutex::new(State::default()),
            flushing: tokio::sync::Mutex::new(()),
            pool,
        });
        meter.flush().await?;
        Ok(meter)
    }

    /// Flushes every `every` in the background until the meter is dropped.
    pub fn spawn_flusher(self: &Arc<Self>, every: Duration) {
        let meter = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(meter) = meter.upgrade() else {
                    return;
                };
                if let Err(e) = meter.flush().await {
                    tracing::warn!(error = %e.message, "flushing usage counts failed; kept for the next flush");
                }
            }
        });
    }

    /// Adds `counts` to `tenant`'s today (UTC).
    pub fn record(&self, tenant: TenantId, counts: Counts) {
        let today = Utc::now().date_naive();
        if let Ok(mut state) = self.state.lock() {
            add(&mut state.pending, tenant, today, counts);
        }
    }

    /// What this process counted for `tenant` and has not flushed yet.
    pub fn unflushed(&self, tenant: TenantId) -> Counts {
        let mut total = Counts::default();
        if let Ok(state) = self.state.lock() {
            for tally in [&state.pending, &state.in_flight] {
                for (_, c) in tally.get(&tenant).into_iter().flatten() {
                    total += *c;
                }
            }
        }
        total
    }

    /// Writes the counts gathered so far (one upsert) and reads back the month's sums of
    /// the budgeted tenants; returns how many tenant-days it wrote. On failure the counts
    /// are kept for the next flush.
    pub async fn flush(&self) -> AppResult<usize> {
        let _one = self.flushing.lock().await;
        let batch: Vec<(TenantId, NaiveDate, Counts)> = {
            let mut state = self
                .state
                .lock()
                .map_err(|_| AppError::internal("usage meter lock poisoned"))?;
            state.in_flight = std::mem::take(&mut state.pending);
            state
                .in_flight
                .iter()
                .flat_map(|(t, days)| days.iter().map(move |(d, c)| (*t, *d, *c)))
                .collect()
        };
        let month = month_of(Utc::now().date_naive());
        let written = self.write(&batch, month).await;
        let mut state = self
            .state
            .lock()
            .map_err(|_| AppError::internal("usage meter lock poisoned"))?;
        let in_flight = std::mem::take(&mut state.in_flight);
        match written {
            Ok(costs) => {
                state.month = Some(month);
                state.month_costs = costs;
                Ok(batch.len())
            }
            Err(e) => {
                for (tenant, days) in in_flight {
                    for (day, counts) in days {
                        add(&mut state.pending, tenant, day, counts);
                    }
                }
                Err(e)
            }
        }
    }

    async fn write(
        &self,
        batch: &[(TenantId, NaiveDate, Counts)],
        month: NaiveDate,
    ) -> AppResult<HashMap<TenantId, i64>> {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let plans = budgeted_plans();
        model::as_meter(&mut conn, true, |c| {
            async move {
                model::upsert(c, batch).await?;
                model::month_costs(c, month, &plans).await
            }
            .scope_boxed()
        })
        .await
    }
}

impl CostGate for Meter {
    fn charge(&self, member: &Member, cost: u64) -> AppResult<CostView> {
        let cost_i64 = i64::try_from(cost).unwrap_or(i64::MAX);
        let today = Utc::now().date_naive();
        let month = month_of(today);
        let budget = member.plan.quotas().monthly_cost_budget;
        let mut state = self
            .state
            .lock()
            .map_err(|_| AppError::internal("usage meter lock poisoned"))?;
        let view = match budget {
            None => None,
            Some(budget) => {
                let spent = state.spent(member.tenant_id, month);
                let resets_at = next_month(month);
                if spent.saturating_add(cost_i64) > budget {
                    return Err(AppError::new(
                        ErrorCode::QuotaExceeded,
                        format!(
                            "this request costs {cost} and the monthly cost budget of the {} plan \
                             ({budget}) has {} left; it resets at {}",
                            member.plan.as_str(),
                            (budget - spent).max(0),
                            resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    ));
                }
                Some(BudgetView {
                    budget,
                    remaining: budget - spent - cost_i64,
                    resets_at,
                })
            }
        };
        let counts = Counts {
            query_cost: cost_i64,
            ..Counts::default()
        };
        add(&mut state.pending, member.tenant_id, today, counts);
        Ok(CostView {
            requested: cost,
            budget: view,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_their_resets() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(month_of(day), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(
            next_month(month_of(day)).to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        assert!(budgeted_plans().contains(&"basic"));
        assert!(!budgeted_plans().contains(&"enterprise"));
    }

    #[test]
    fn spent_counts_flushed_in_flight_and_pending_of_the_month_only() {
        let tenant = TenantId(uuid::Uuid::now_v7());
        let month = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let cost = |n| Counts {
            query_cost: n,
            ..Counts::default()
        };
        let mut state = State {
            month: Some(month),
            ..State::default()
        };
        state.month_costs.insert(tenant, 100);
        add(
            &mut state.in_flight,
            tenant,
            month.with_day(2).unwrap(),
            cost(10),
        );
        add(
            &mut state.pending,
            tenant,
            month.with_day(2).unwrap(),
            cost(1),
        );
        add(
            &mut state.pending,
            tenant,
            month.with_day(2).unwrap(),
            cost(2),
        );
        // The last day of the previous month is not this month's.
        add(
            &mut state.pending,
            tenant,
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            cost(1000),
        );
        assert_eq!(state.spent(tenant, month), 113);
        // Sums of another month are not this month's.
        let next = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(state.spent(tenant, next), 0);
    }
}
