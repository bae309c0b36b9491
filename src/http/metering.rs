//! What a GraphQL response says of the request's usage, and where it is counted: the
//! `RateLimit-*` headers (and 429 with `Retry-After` when the rate refused it),
//! `extensions.cost`, and the request's counts handed to the usage meter. Everything comes
//! from the request's [`RequestRecord`] (what admission and the cost gate decided).

use crate::app::App;
use crate::auth::admission::RequestRecord;
use crate::auth::RequestTx;
use crate::db::TxMode;
use crate::usage::Counts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use scoped_futures::ScopedFutureExt;

/// The rows a mutation of an admitted tenant wrote, asked of its transaction before it
/// commits (0 for anything else, or if the transaction can no longer answer).
pub(super) async fn rows_written(tx: &RequestTx) -> i64 {
    let Some(member) = tx.admission().record().member else {
        return 0;
    };
    if tx.mode() != TxMode::ReadWrite {
        return 0;
    }
    let tenant = member.tenant_id;
    // Under a savepoint of its own: a failure of this count (a timeout, a lock) must not
    // abort the transaction and roll back the mutation it only measures.
    tx.begin_field().await;
    let rows = tx
        .run(move |c| {
            async move { crate::usage::model::rows_written(c, tenant).await }.scope_boxed()
        })
        .await;
    let _ = tx.end_field(rows.is_ok()).await;
    rows.unwrap_or(0)
}

/// Counts the request for its tenant (if admission got as far as one).
pub(super) fn count(app: &App, record: &RequestRecord, mode: TxMode, errored: bool, rows: i64) {
    let Some(member) = record.member else {
        return;
    };
    app.usage.record(
        member.tenant_id,
        Counts {
            requests: 1,
            errors: i64::from(errored || record.rate_limited.is_some()),
            mutations: i64::from(mode == TxMode::ReadWrite),
            rows_written: rows,
            ..Counts::default()
        },
    );
}

/// `extensions.cost`: the request's cost, and the tenant's budget when its plan has one.
pub(super) fn cost(record: &RequestRecord) -> serde_json::Value {
    let mut value = serde_json::json!({ "requested": record.requested() });
    if let Some(b) = record.cost.and_then(|c| c.budget) {
        value["budget"] = b.budget.into();
        value["remaining"] = b.remaining.into();
        value["resetsAt"] = b
            .resets_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
    }
    value
}

/// A compiled plan's body (`{"data":…}`) with `extensions.cost` added.
pub(super) fn with_cost(mut body: Vec<u8>, record: &RequestRecord) -> Vec<u8> {
    if body.last() == Some(&b'}') {
        body.pop();
        body.extend_from_slice(b",\"extensions\":{\"cost\":");
        body.extend_from_slice(cost(record).to_string().as_bytes());
        body.extend_from_slice(b"}}");
    }
    body
}

/// Adds the rate-limit headers, when a rate applies to the request: the IETF draft's
/// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the whole
/// allowance is back) and the same values as `X-RateLimit-*`; `Retry-After` when refused.
pub(super) fn rate_headers(record: &RequestRecord, headers: &mut HeaderMap) {
    let Some(rate) = record.rate else {
        return;
    };
    let mut set = |name: &'static str, value: u64| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    };
    for (draft, legacy, value) in [
        (
            "ratelimit-limit",
            "x-ratelimit-limit",
            u64::from(rate.limit),
        ),
        (
            "ratelimit-remaining",
            "x-ratelimit-remaining",
            u64::from(rate.remaining),
        ),
        ("ratelimit-reset", "x-ratelimit-reset", rate.reset_secs),
    ] {
        set(draft, value);
        set(legacy, value);
    }
    if let Some(retry) = rate.retry_after_secs {
        set("retry-after", retry);
    }
}
