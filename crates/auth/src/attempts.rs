//! The failed-verification bucket of an MFA authenticator (Auth0: 10 attempts, refilling 1 every 6 minutes).
//!
//! The bucket lives in the authenticator record (`attempts_left`, `attempts_updated`), so it survives restarts and
//! is shared by every way of verifying the factor. A success does not refill it: Auth0 documents that the limit
//! "does not reset on successful login", so an attacker who also knows one code gains nothing by interleaving it.
//!
//! Every check spends an attempt in the store *before* the code is compared ([`spend`]), atomically, so parallel
//! guesses cannot all read the same bucket; a check that succeeds gives its attempt back in the same atomic write
//! that consumes the code ([`settle_success`]). Only failures stay counted.

use std::sync::atomic::{AtomicBool, Ordering};

use gatehouse_store::{Change, Store, StoreResult};
use gatehouse_types::records::Authenticator;

/// Attempts in a full bucket.
pub const CAPACITY: f64 = 10.0;
/// Seconds to regain one attempt.
pub const REFILL_SECS: i64 = 360;

/// Attempts left at `now`, counting the refill since the last update, without changing the record.
///
/// A corrupt value (NaN, infinite, negative) counts as an empty bucket: it fails closed and refills normally.
pub fn attempts_left(authenticator: &Authenticator, now: i64) -> f64 {
    let stored =
        if authenticator.attempts_left.is_finite() { authenticator.attempts_left.clamp(0.0, CAPACITY) } else { 0.0 };
    // A clock that went backwards refills nothing.
    let elapsed = now.saturating_sub(authenticator.attempts_updated).max(0);
    (stored + elapsed as f64 / REFILL_SECS as f64).min(CAPACITY)
}

/// Brings the bucket up to date at `now`.
pub fn refill(authenticator: &mut Authenticator, now: i64) {
    authenticator.attempts_left = attempts_left(authenticator, now);
    authenticator.attempts_updated = now;
}

/// Whether verification is refused at `now`: less than one attempt left.
pub fn is_blocked(authenticator: &Authenticator, now: i64) -> bool {
    attempts_left(authenticator, now) < 1.0
}

/// Spends one attempt for a failed verification (the bucket never goes below empty).
pub fn record_failure(authenticator: &mut Authenticator, now: i64) {
    refill(authenticator, now);
    authenticator.attempts_left = (authenticator.attempts_left - 1.0).max(0.0);
}

/// Seconds from `now` until one attempt is available again; 0 when not blocked.
pub fn seconds_until_unblocked(authenticator: &Authenticator, now: i64) -> i64 {
    let left = attempts_left(authenticator, now);
    if left >= 1.0 {
        return 0;
    }
    ((1.0 - left) * REFILL_SECS as f64).ceil() as i64
}

/// The result of [`spend`].
#[derive(Debug)]
pub enum Spend {
    /// One attempt is reserved; the record as stored after it.
    Spent(Box<Authenticator>),
    /// Less than one attempt left: nothing was spent.
    Blocked {
        /// Seconds until one attempt is back.
        retry_after: i64,
    },
    /// The authenticator no longer exists.
    Missing,
}

/// Spends one attempt of `authenticator`'s bucket at `now`, atomically in the store, before its code is checked.
pub async fn spend(store: &dyn Store, authenticator: &Authenticator, now: i64) -> StoreResult<Spend> {
    let blocked = AtomicBool::new(false);
    let change = |current: &Authenticator| {
        if is_blocked(current, now) {
            blocked.store(true, Ordering::SeqCst);
            return None;
        }
        blocked.store(false, Ordering::SeqCst);
        let mut next = current.clone();
        record_failure(&mut next, now);
        Some(next)
    };
    match store.update_authenticator(&authenticator.user_id, &authenticator.id, &change).await? {
        Some(stored) => Ok(Spend::Spent(Box::new(stored))),
        None if blocked.load(Ordering::SeqCst) => {
            let current = store.find_authenticators(&authenticator.user_id).await?;
            let retry_after = current
                .iter()
                .find(|a| a.id == authenticator.id)
                .map_or(REFILL_SECS, |a| seconds_until_unblocked(a, now).max(1));
            Ok(Spend::Blocked { retry_after })
        }
        None => Ok(Spend::Missing),
    }
}

/// After a code matched: applies `consume` (move the TOTP step on, replace the recovery code; `None` when another
/// request consumed it first) and gives the attempt [`spend`] took back, in one atomic write. Returns the stored
/// record, or `None` when `consume` refused (the code was already used: the attempt stays spent).
pub async fn settle_success(
    store: &dyn Store,
    authenticator: &Authenticator,
    now: i64,
    consume: &Change<'_, Authenticator>,
) -> StoreResult<Option<Authenticator>> {
    let change = |current: &Authenticator| {
        let mut next = consume(current)?;
        refill(&mut next, now);
        next.attempts_left = (next.attempts_left + 1.0).min(CAPACITY);
        next.last_auth_at = Some(crate::clock::iso(now));
        Some(next)
    };
    store.update_authenticator(&authenticator.user_id, &authenticator.id, &change).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_types::records::AuthenticatorKind;

    const T0: i64 = 1_700_000_000;

    /// A fresh record as serde builds it from a record written before the bucket existed.
    fn fresh() -> Authenticator {
        serde_json::from_value(serde_json::json!({
            "id": "totp|dev_test",
            "user_id": "auth0|0123456789abcdef01234567",
            "kind": { "kind": "otp", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" },
            "active": true,
            "created_at": "2024-01-01T00:00:00.000Z"
        }))
        .unwrap()
    }

    #[test]
    fn a_stored_record_starts_full() {
        let a = fresh();
        assert!(matches!(a.kind, AuthenticatorKind::Otp { .. }));
        assert_eq!(a.attempts_left, CAPACITY);
        assert_eq!(attempts_left(&a, T0), CAPACITY);
        assert!(!is_blocked(&a, T0));
        assert_eq!(seconds_until_unblocked(&a, T0), 0);
    }

    #[test]
    fn ten_failures_block_the_eleventh_attempt() {
        let mut a = fresh();
        for i in 0..10 {
            assert!(!is_blocked(&a, T0), "blocked after {i} failures");
            record_failure(&mut a, T0);
        }
        assert!(is_blocked(&a, T0));
        assert_eq!(seconds_until_unblocked(&a, T0), 360);
        // More failures while blocked do not dig below empty.
        record_failure(&mut a, T0);
        assert_eq!(a.attempts_left, 0.0);
        assert_eq!(seconds_until_unblocked(&a, T0), 360);
    }

    #[test]
    fn one_attempt_comes_back_every_six_minutes() {
        let mut a = fresh();
        for _ in 0..10 {
            record_failure(&mut a, T0);
        }
        assert!(is_blocked(&a, T0 + 359));
        assert_eq!(seconds_until_unblocked(&a, T0 + 359), 1);
        assert!(!is_blocked(&a, T0 + 360));
        // That attempt, spent, blocks again for a full period.
        record_failure(&mut a, T0 + 360);
        assert!(is_blocked(&a, T0 + 360));
        assert_eq!(seconds_until_unblocked(&a, T0 + 360), 360);
        // After an hour without failures, the bucket is full again, and no fuller.
        assert_eq!(attempts_left(&a, T0 + 360 + 3600), CAPACITY);
        assert_eq!(attempts_left(&a, T0 + 360 + 36_000), CAPACITY);
    }

    #[test]
    fn partial_refill_is_kept_across_updates() {
        let mut a = fresh();
        for _ in 0..10 {
            record_failure(&mut a, T0);
        }
        // Refilling at 180 s keeps the half attempt: another 180 s gives a whole one.
        refill(&mut a, T0 + 180);
        assert_eq!(a.attempts_left, 0.5);
        assert_eq!(a.attempts_updated, T0 + 180);
        assert!(is_blocked(&a, T0 + 180));
        assert_eq!(seconds_until_unblocked(&a, T0 + 180), 180);
        assert!(!is_blocked(&a, T0 + 360));
    }

    #[test]
    fn clock_going_backwards_refills_nothing() {
        let mut a = fresh();
        for _ in 0..10 {
            record_failure(&mut a, T0);
        }
        assert!(is_blocked(&a, T0 - 10_000));
        refill(&mut a, T0 - 10_000);
        assert_eq!(a.attempts_left, 0.0);
    }

    #[test]
    fn corrupt_values_fail_closed() {
        let mut a = fresh();
        a.attempts_updated = T0;
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -3.0] {
            a.attempts_left = bad;
            assert!(is_blocked(&a, T0), "{bad}");
            assert_eq!(seconds_until_unblocked(&a, T0), 360, "{bad}");
        }
        a.attempts_left = 1e9;
        assert_eq!(attempts_left(&a, T0), CAPACITY);
    }
}
