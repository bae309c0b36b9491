//! Each tenant's recent requests, errors and latency, kept in memory for `tenantHealth`:
//! a window (default five minutes) of ten slices per tenant, each a request count, a
//! server-error count and a small latency histogram, so the error rate and the 95th
//! percentile come from the last window without keeping a sample per request. Tenants
//! idle for a window are forgotten, and at most [`MAX_TENANTS`] are kept: memory is
//! bounded whatever the traffic.

use crate::ids::TenantId;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tenants followed at once (about 1 KB each).
pub const MAX_TENANTS: u64 = 50_000;

/// Slices of a window.
const SLICES: usize = 10;

/// Upper bounds of the latency buckets, in milliseconds (the last bucket is open).
const BOUNDS_MS: [u32; 15] = [
    2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 400, 600, 1000, 2500, 5000,
];

#[derive(Clone, Copy, Default)]
struct Slice {
    /// Which slice of time this is (`elapsed / slice length`): a stale one is reset.
    epoch: u64,
    requests: u32,
    errors: u32,
    latency: [u32; BOUNDS_MS.len() + 1],
}

/// One tenant's window.
#[derive(Default)]
struct Window {
    slices: [Slice; SLICES],
}

/// A tenant's figures over the last window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Requests answered.
    pub requests: u64,
    /// Those that failed with a server error (INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE).
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// The 95th percentile of the request latency, in milliseconds (the upper bound of
    /// its bucket; `None` without requests).
    pub p95_ms: Option<u32>,
    /// The window the figures cover.
    pub window: Duration,
}

/// The windows of every tenant (see the module documentation).
pub struct HealthBook {
    tenants: moka::sync::Cache<TenantId, Arc<Mutex<Window>>>,
    slice: Duration,
    start: Instant,
}

impl HealthBook {
    /// A book whose figures cover `window`.
    pub fn new(window: Duration) -> Self {
        let window = window.max(Duration::from_secs(SLICES as u64));
        Self {
            tenants: moka::sync::Cache::builder()
                .max_capacity(MAX_TENANTS)
                .time_to_idle(window)
                .build(),
            slice: window / SLICES as u32,
            start: Instant::now(),
        }
    }

    fn epoch(&self) -> u64 {
        (self.start.elapsed().as_millis() / self.slice.as_millis().max(1)) as u64
    }

    /// Counts one request of `tenant` that took `latency`; `server_error` when it failed
    /// by the server's fault.
    pub fn record(&self, tenant: TenantId, latency: Duration, server_error: bool) {
        let epoch = self.epoch();
        let window = self.tenants.get_with(tenant, Default::default);
        let mut window = window.lock().unwrap_or_else(|e| e.into_inner());
        let slice = &mut window.slices[(epoch % SLICES as u64) as usize];
        if slice.epoch != epoch {
            *slice = Slice {
                epoch,
                ..Slice::default()
            };
        }
        slice.requests = slice.requests.saturating_add(1);
        if server_error {
            slice.errors = slice.errors.saturating_add(1);
        }
        let ms = latency.as_millis().min(u32::MAX as u128) as u32;
        let bucket = BOUNDS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(BOUNDS_MS.len());
        slice.latency[bucket] = slice.latency[bucket].saturating_add(1);
    }

    /// `tenant`'s figures over the last window.
    pub fn figures(&self, tenant: TenantId) -> Figures {
        let epoch = self.epoch();
        let mut requests = 0u64;
        let mut errors = 0u64;
        let mut latency = [0u64; BOUNDS_MS.len() + 1];
        if let Some(window) = self.tenants.get(&tenant) {
            let window = window.lock().unwrap_or_else(|e| e.into_inner());
            for slice in &window.slices {
                // Only slices of the current window count.
                if slice.epoch + (SLICES as u64) <= epoch || slice.requests == 0 {
                    continue;
                }
                requests += u64::from(slice.requests);
                errors += u64::from(slice.errors);
                for (total, n) in latency.iter_mut().zip(slice.latency) {
                    *total += u64::from(n);
                }
            }
        }
        let p95_ms = (requests > 0).then(|| {
            let rank = (requests * 95).div_ceil(100);
            let mut seen = 0;
            for (i, n) in latency.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    // The open last bucket reports twice its lower bound.
                    return BOUNDS_MS
                        .get(i)
                        .copied()
                        .unwrap_or(BOUNDS_MS[BOUNDS_MS.len() - 1] * 2);
                }
            }
            BOUNDS_MS[BOUNDS_MS.len() - 1] * 2
        });
        Figures {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            p95_ms,
            window: self.slice * SLICES as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_a_window() {
        let book = HealthBook::new(Duration::from_secs(300));
        let tenant = TenantId(uuid::Uuid::now_v7());
        for i in 0..100 {
            let ms = if i < 90 { 3 } else { 300 };
            book.record(tenant, Duration::from_millis(ms), i % 10 == 0);
        }
        let f = book.figures(tenant);
        assert_eq!(f.requests, 100);
        assert_eq!(f.errors, 10);
        assert!((f.error_rate - 0.1).abs() < 1e-9);
        assert_eq!(f.p95_ms, Some(400));
        let other = book.figures(TenantId(uuid::Uuid::now_v7()));
        assert_eq!((other.requests, other.p95_ms), (0, None));
    }
}
