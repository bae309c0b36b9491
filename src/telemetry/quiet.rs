//! Quiet logs under faults: an error that repeats (the same message and cause, such as
//! "database unavailable: connection refused" for every request while the database is
//! down) is logged once per interval, and the repeats as one line with their count, instead
//! of one line per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an error line stands for its repeats, in milliseconds (`TENANTRY_LOG_REPEAT_SECS`).
static INTERVAL_MS: AtomicU64 = AtomicU64::new(10_000);

/// Distinct repeating errors remembered at once; past this the oldest interval's are
/// reported and forgotten (bounded memory under a storm of distinct errors).
const MAX_KEYS: usize = 1024;

/// Sets the folding interval (`serve` and tests; default 10 s).
pub fn set_interval(interval: Duration) {
    INTERVAL_MS.store(interval.as_millis().max(1) as u64, Ordering::Relaxed);
}

fn interval() -> Duration {
    Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed))
}

/// One error line and how often it repeated since it was written.
struct Seen {
    since: Instant,
    repeats: u64,
}

/// The level of a line: ERROR or WARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Level {
    Error,
    Warn,
}

/// A line: its level, message and cause.
type Key = (Level, &'static str, String);

fn seen() -> &'static Mutex<HashMap<Key, Seen>> {
    static SEEN: OnceLock<Mutex<HashMap<Key, Seen>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Logs `message` with `cause` at ERROR, unless the same pair was logged within the
/// interval: then it is only counted, and the count is logged once the interval is over
/// (by the next occurrence, or by a timer when there is none).
pub fn error(message: &'static str, cause: &str) {
    note(Level::Error, message, cause);
}

/// [`error`] at WARN.
pub fn warn(message: &'static str, cause: &str) {
    note(Level::Warn, message, cause);
}

fn note(level: Level, message: &'static str, cause: &str) {
    let now = Instant::now();
    let every = interval();
    let mut flush = Vec::new();
    let log_now = {
        let mut seen = seen().lock().unwrap_or_else(|e| e.into_inner());
        let key = (level, message, cause.to_string());
        let log_now = match seen.get_mut(&key) {
            Some(entry) if now.duration_since(entry.since) < every => {
                entry.repeats += 1;
                if entry.repeats == 1 {
                    schedule_flush(every - now.duration_since(entry.since));
                }
                false
            }
            Some(entry) => {
                if entry.repeats > 0 {
                    flush.push((level, message, cause.to_string(), entry.repeats));
                }
                *entry = Seen {
                    since: now,
                    repeats: 0,
                };
                true
            }
            None => {
                if seen.len() >= MAX_KEYS {
                    flush.extend(drain(&mut seen, |_| true));
                }
                seen.insert(
                    key,
                    Seen {
                        since: now,
                        repeats: 0,
                    },
                );
                true
            }
        };
        log_now
    };
    report(flush);
    if log_now {
        match level {
            Level::Error => tracing::error!(error = %cause, "{message}"),
            Level::Warn => tracing::warn!(error = %cause, "{message}"),
        }
    }
}

/// Logs the counts of every error whose interval is over (and forgets those without
/// repeats, so the table only holds recent errors).
pub fn flush_due() {
    let every = interval();
    let now = Instant::now();
    let due = {
        let mut seen = seen().lock().unwrap_or_else(|e| e.into_inner());
        drain(&mut seen, |s| now.duration_since(s.since) >= every)
    };
    report(due);
}

/// Removes the entries `due` says are over; returns those that had repeats.
fn drain(
    seen: &mut HashMap<Key, Seen>,
    due: impl Fn(&Seen) -> bool,
) -> Vec<(Level, &'static str, String, u64)> {
    let mut out = Vec::new();
    seen.retain(|(level, message, cause), s| {
        if !due(s) {
            return true;
        }
        if s.repeats > 0 {
            out.push((*level, *message, cause.clone(), s.repeats));
        }
        false
    });
    out
}

fn report(repeats: Vec<(Level, &'static str, String, u64)>) {
    for (level, message, cause, count) in repeats {
        match level {
            Level::Error => {
                tracing::error!(error = %cause, repeated = count, "{message} (repeated {count} times)")
            }
            Level::Warn => {
                tracing::warn!(error = %cause, repeated = count, "{message} (repeated {count} times)")
            }
        }
    }
}

/// Makes sure the counts are logged after `after` even if the error stops recurring.
fn schedule_flush(after: Duration) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            tokio::time::sleep(after + Duration::from_millis(1)).await;
            flush_due();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_not_logged() {
        // A cause no other test uses: the table is process-wide.
        let cause = format!("unit-{}", uuid::Uuid::new_v4());
        error("quiet test", &cause);
        for _ in 0..100 {
            error("quiet test", &cause);
        }
        let seen = seen().lock().unwrap();
        assert_eq!(seen[&(Level::Error, "quiet test", cause)].repeats, 100);
    }
}
