//! Login limits that protect without locking anyone out, kept in PostgreSQL
//! (`login_failures`) so every server process counts the same failures.
//!
//! - **Per client address**: an address with `per_address` failures in the window is
//!   refused (RATE_LIMITED) until older ones leave it, whichever accounts it tried: this
//!   stops one machine guessing across many accounts.
//! - **Per account**: once an account has `per_account` failures in the window, attempts
//!   on it *from addresses that have been failing* must wait a delay that doubles with each
//!   further failure (1 s, 2 s, 4 s, … at most the window). An address with no failures is
//!   never held back, so an attacker's failures slow the attacker, not the owner logging
//!   in from elsewhere.
//!
//! Successful logins do not count. Each attempt that is let through records a failure
//! *before* the password is checked (in the same transaction as the check, under a lock
//! on the account), so parallel guesses see each other; a correct password deletes that
//! row again, along with that address's earlier failures on the account (its owner's own
//! typos). Refused attempts are not recorded: the table grows with guesses actually
//! checked, not with requests.

use super::secrets::sha256_hex;
use crate::db::schema::login_failures;
use crate::error::{AppError, AppResult, ErrorCode};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use uuid::Uuid;

/// The limits' settings (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures on one account before its failing addresses must wait.
    pub per_account: u32,
    /// Failures from one address before it is refused.
    pub per_address: u32,
    /// How far back failures count.
    pub window: Duration,
}

/// An attempt let through: a failure recorded until the password proves right.
#[derive(Debug, Clone)]
pub struct Attempt {
    id: Uuid,
    account: String,
    address: String,
}

/// The first delay after the account's free failures; each further failure doubles it.
const FIRST_DELAY: Duration = Duration::from_secs(1);

impl LoginLimits {
    /// The delay a failing address must leave after the account's last failure, given the
    /// account's failures in the window.
    pub fn delay(&self, account_failures: i64) -> Duration {
        let over = account_failures - i64::from(self.per_account.max(1));
        if over < 0 {
            return Duration::ZERO;
        }
        let doubled = FIRST_DELAY.saturating_mul(1u32 << over.min(20) as u32);
        doubled.min(self.window)
    }

    /// Admits (and records as failed, for now) an attempt on `email` from `address` (a key
    /// from [`super::client::address_key`]), or refuses it with RATE_LIMITED. Runs in the
    /// auth path's transaction, whose end releases the account's lock.
    pub async fn admit(
        &self,
        c: &mut AsyncPgConnection,
        email: &str,
        address: &str,
    ) -> AppResult<Attempt> {
        let account = sha256_hex(&email.to_lowercase());
        // One attempt per account at a time decides and records: parallel guesses queue here.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(format!("tenantry_login:{account}"))
            .execute(c)
            .await?;
        #[derive(QueryableByName)]
        struct Recent {
            #[diesel(sql_type = BigInt)]
            address_failures: i64,
            #[diesel(sql_type = BigInt)]
            account_failures: i64,
            #[diesel(sql_type = Nullable<Double>)]
            since_last: Option<f64>,
        }
        // sql_query: FILTERed aggregates and interval arithmetic, in one statement, on the
        // database's clock (the one `failed_at` is written with, the same for every process).
        let recent: Recent = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE address = $2) AS address_failures,
                    count(*) FILTER (WHERE account = $1) AS account_failures,
                    extract(epoch FROM now() - max(failed_at) FILTER (WHERE account = $1))::float8
                      AS since_last
               FROM login_failures
              WHERE (account = $1 OR address = $2)
                AND failed_at > now() - make_interval(secs => $3)",
        )
        .bind::<Text, _>(&account)
        .bind::<Text, _>(address)
        .bind::<Double, _>(self.window.as_secs_f64())
        .get_result(c)
        .await?;
        if recent.address_failures >= i64::from(self.per_address.max(1)) {
            return Err(AppError::new(
                ErrorCode::RateLimited,
                "too many failed logins from this address; retry later",
            ));
        }
        let delay = self.delay(recent.account_failures).as_secs_f64();
        let wait = delay - recent.since_last.unwrap_or(f64::INFINITY);
        if recent.address_failures > 0 && wait > 0.0 {
            return Err(AppError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many failed logins for this account; retry in {} s",
                    wait.ceil() as u64
                ),
            ));
        }
        let attempt = Attempt {
            id: Uuid::now_v7(),
            account,
            address: address.to_string(),
        };
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::id.eq(attempt.id),
                login_failures::account.eq(&attempt.account),
                login_failures::address.eq(&attempt.address),
            ))
            .execute(c)
            .await?;
        // Now and then, forget failures older than the window (the id's last byte is random).
        if attempt.id.as_bytes()[15].is_multiple_of(64) {
            diesel::sql_query(
                "DELETE FROM login_failures WHERE failed_at <= now() - make_interval(secs => $1)",
            )
            .bind::<Double, _>(self.window.as_secs_f64())
            .execute(c)
            .await?;
        }
        Ok(attempt)
    }

    /// The password was right: the attempt was no failure, and neither were this
    /// address's earlier ones on the account.
    pub async fn succeeded(c: &mut AsyncPgConnection, attempt: &Attempt) -> AppResult<()> {
        diesel::delete(
            login_failures::table.filter(
                login_failures::id.eq(attempt.id).or(login_failures::account
                    .eq(&attempt.account)
                    .and(login_failures::address.eq(&attempt.address))),
            ),
        )
        .execute(c)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stop_at_the_window() {
        let limits = LoginLimits {
            per_account: 3,
            per_address: 20,
            window: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (0..12).map(|n| limits.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(limits.delay(10_000).as_secs(), 60);
    }
}
