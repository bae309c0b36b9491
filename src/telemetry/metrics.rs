//! Prometheus metrics through the `metrics` facade: the recorder ([`install`]), the names
//! of every series, and the bounded per-tenant label ([`TopTenants`]).
//!
//! The recorder is process-wide (the `metrics` macros record into the global recorder), so
//! any layer records with the macros and the names below; when metrics are off no recorder
//! is installed and the macros cost a load and a branch.
//!
//! Per-tenant series are bounded: only the top K tenants by recent traffic get their id as
//! the `tenant` label, everyone else is summed under `other`. The choice is a
//! space-saving heavy-hitters count (a fixed number of counters, so memory does not grow
//! with the number of tenants), re-ranked every [`RERANK`]; between re-rankings the set of
//! labelled tenants is fixed, so the number of `tenant` values is at most K + 1 per
//! re-ranking, and series of tenants that dropped out expire after [`IDLE`].

use crate::ids::TenantId;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// GraphQL requests answered: labels `tenant`, `plan`, `operation` (query, mutation,
/// none when refused before its type was known) and `code` (OK or the first error's code).
pub const REQUESTS: &str = "tenantry_requests_total";
/// Request latency histogram, seconds: labels `operation` and `executor` (compiled, generic).
pub const REQUEST_SECONDS: &str = "tenantry_request_duration_seconds";
/// Requests a compiled plan answered.
pub const PLAN_HITS: &str = "tenantry_compiled_plan_hits_total";
/// Pool gauges: the pool's largest size, its connections, those in use, requests waiting.
pub const POOL_MAX: &str = "tenantry_db_pool_max_connections";
/// Connections the pool holds.
pub const POOL_SIZE: &str = "tenantry_db_pool_connections";
/// Connections checked out.
pub const POOL_IN_USE: &str = "tenantry_db_pool_in_use";
/// Callers waiting for a connection.
pub const POOL_WAITING: &str = "tenantry_db_pool_waiting";
/// Time to check a connection out of the pool, seconds (histogram).
pub const CHECKOUT_SECONDS: &str = "tenantry_db_checkout_wait_seconds";
/// Database errors by SQLSTATE class (`class`, e.g. `08` connection, `23` integrity) and
/// `kind` (unique_violation, connection, …).
pub const DB_ERRORS: &str = "tenantry_db_errors_total";
/// Cache lookups: labels `cache` (membership, api_key, apq, plan) and `result` (hit, miss).
pub const CACHE_LOOKUPS: &str = "tenantry_cache_lookups_total";
/// Cache invalidations: label `cache`.
pub const CACHE_INVALIDATIONS: &str = "tenantry_cache_invalidations_total";
/// Open subscriptions of this process.
pub const SUBSCRIPTIONS: &str = "tenantry_subscriptions_active";
/// Whether the notification listener is connected (1) or reconnecting (0).
pub const LISTENER_UP: &str = "tenantry_notify_listener_up";

/// How often the labelled tenants are chosen anew.
pub const RERANK: Duration = Duration::from_secs(60);
/// Series not updated for this long are dropped from the output (tenants that left the
/// top K, codes no longer seen).
pub const IDLE: Duration = Duration::from_secs(600);

/// Latency buckets, seconds.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process's Prometheus recorder (once; later calls return the same handle)
/// and keeps its histograms drained in the background.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)?
        .idle_timeout(
            metrics_util::MetricKindMask::COUNTER | metrics_util::MetricKindMask::HISTOGRAM,
            Some(IDLE),
        )
        .install_recorder()?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        })?;
    Ok(handle)
}

/// Counts a lookup of `cache` in [`CACHE_LOOKUPS`].
pub fn count_lookup(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(CACHE_LOOKUPS, "cache" => cache, "result" => result).increment(1);
}

/// Counts an invalidation of `cache` in [`CACHE_INVALIDATIONS`].
pub fn count_invalidation(cache: &'static str) {
    metrics::counter!(CACHE_INVALIDATIONS, "cache" => cache).increment(1);
}

/// The label of tenants outside the top K.
pub const OTHER: &str = "other";

/// Chooses which tenants get their own `tenant` label (see the module documentation).
pub struct TopTenants {
    k: usize,
    inner: Mutex<Counts>,
}

struct Counts {
    /// Space-saving counters: at most `capacity` tenants, each with an estimate of its
    /// requests since the last re-ranking (an over-estimate by at most the smallest count).
    counts: HashMap<TenantId, u64>,
    capacity: usize,
    /// The tenants labelled until the next re-ranking, with their label.
    labelled: HashMap<TenantId, SharedString>,
    ranked_at: Instant,
}

impl TopTenants {
    /// A chooser labelling at most `k` tenants.
    pub fn new(k: usize) -> Self {
        // Enough counters that a tenant with more than 1/(8K) of the traffic is never lost.
        let capacity = (k * 8).max(64);
        Self {
            k,
            inner: Mutex::new(Counts {
                counts: HashMap::with_capacity(capacity),
                capacity,
                labelled: HashMap::with_capacity(k),
                ranked_at: Instant::now(),
            }),
        }
    }

    /// Counts one request of `tenant`, and returns its label: its id if it is among the
    /// top K, else `other`.
    pub fn label(&self, tenant: TenantId) -> SharedString {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.count(tenant);
        if inner.ranked_at.elapsed() >= RERANK {
            inner.rerank(self.k);
        }
        if let Some(label) = inner.labelled.get(&tenant) {
            return label.clone();
        }
        // Until K tenants are labelled, a newcomer gets its label at once (a fresh server
        // does not wait a whole re-ranking to show its tenants).
        if inner.labelled.len() < self.k {
            let label = SharedString::from(tenant.to_string());
            inner.labelled.insert(tenant, label.clone());
            return label;
        }
        SharedString::const_str(OTHER)
    }

    /// The tenants labelled now (for tests and the operator's curiosity).
    pub fn labelled(&self) -> HashSet<TenantId> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.labelled.keys().copied().collect()
    }

    /// Re-ranks now (tests: what the next re-ranking would choose).
    pub fn rerank_now(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.rerank(self.k);
    }
}

impl Counts {
    fn count(&mut self, tenant: TenantId) {
        if let Some(n) = self.counts.get_mut(&tenant) {
            *n += 1;
            return;
        }
        if self.counts.len() < self.capacity {
            self.counts.insert(tenant, 1);
            return;
        }
        // Space-saving: the newcomer replaces the smallest counter and inherits its count.
        let smallest = self
            .counts
            .iter()
            .min_by_key(|(_, n)| **n)
            .map(|(t, n)| (*t, *n));
        if let Some((evicted, n)) = smallest {
            self.counts.remove(&evicted);
            self.counts.insert(tenant, n + 1);
        }
    }

    /// Labels the K largest counters, and halves every count so the ranking follows
    /// recent traffic.
    fn rerank(&mut self, k: usize) {
        let mut ranked: Vec<(TenantId, u64)> = self.counts.iter().map(|(t, n)| (*t, *n)).collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let previous = std::mem::take(&mut self.labelled);
        for (tenant, _) in ranked.into_iter().take(k) {
            let label = previous
                .get(&tenant)
                .cloned()
                .unwrap_or_else(|| SharedString::from(tenant.to_string()));
            self.labelled.insert(tenant, label);
        }
        self.counts.retain(|_, n| {
            *n /= 2;
            *n > 0
        });
        self.ranked_at = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_keep_their_label_among_many_tenants() {
        let top = TopTenants::new(5);
        let heavy: Vec<TenantId> = (0..5).map(|_| TenantId::new()).collect();
        let mut labels = HashSet::new();
        for round in 0..2_000 {
            // Each round: every heavy tenant, and five tenants never seen again.
            for t in &heavy {
                labels.insert(top.label(*t).to_string());
            }
            for _ in 0..5 {
                labels.insert(top.label(TenantId::new()).to_string());
            }
            if round == 1_000 {
                top.rerank_now();
            }
        }
        top.rerank_now();
        assert_eq!(top.labelled(), heavy.iter().copied().collect());
        // The first five newcomers were labelled before the first re-ranking, then the
        // heavy hitters: never more than 2K + 1 values, though 10,000 tenants came.
        assert!(labels.len() <= 11, "{} labels", labels.len());
    }
}
