//! Token-bucket arithmetic of [`crate::Store::hit_rate_limit`], kept apart from any backend so every store
//! counts the same way.

use serde::{Deserialize, Serialize};

use crate::{RateDecision, RateLimit};

/// A stored bucket.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Units left at `updated` (fractions accumulate between hits).
    pub tokens: f64,
    /// When `tokens` was computed (epoch seconds).
    pub updated: i64,
    /// When the bucket is full again, so the record can be purged (a missing bucket is a full one).
    pub expires_at: i64,
}

/// Seconds to regain one unit.
fn seconds_per_unit(limit: RateLimit) -> f64 {
    limit.window_secs.max(1) as f64 / f64::from(limit.capacity.max(1))
}

/// Units available at `now`: the stored units plus the refill since, capped at the capacity. A corrupt value
/// (NaN, infinite, negative) counts as an empty bucket: it fails closed and refills normally. A clock that went
/// backwards refills nothing.
pub fn available(bucket: Option<&Bucket>, limit: RateLimit, now: i64) -> f64 {
    let capacity = f64::from(limit.capacity);
    let Some(bucket) = bucket else { return capacity };
    let stored = if bucket.tokens.is_finite() { bucket.tokens.clamp(0.0, capacity) } else { 0.0 };
    let elapsed = now.saturating_sub(bucket.updated).max(0) as f64;
    (stored + elapsed / seconds_per_unit(limit)).min(capacity)
}

/// Spends one unit at `now`: the new bucket to store and the decision, or `None` with the decision when the
/// bucket is empty (nothing to store).
pub fn hit(bucket: Option<&Bucket>, limit: RateLimit, now: i64) -> (Option<Bucket>, RateDecision) {
    let left = available(bucket, limit, now);
    if left < 1.0 {
        // The epsilon keeps float noise (59/60 of a unit) from rounding a 1-second wait up to 2.
        let retry_after = ((1.0 - left) * seconds_per_unit(limit) - 1e-9).ceil() as i64;
        return (None, RateDecision::Limited { retry_after: retry_after.max(1) });
    }
    let tokens = left - 1.0;
    let refill = ((f64::from(limit.capacity) - tokens) * seconds_per_unit(limit)).ceil() as i64;
    let next = Bucket { tokens, updated: now, expires_at: now.saturating_add(refill) };
    (Some(next), RateDecision::Allowed { left: tokens.floor() as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_PER_FIVE_MINUTES: RateLimit = RateLimit { capacity: 5, window_secs: 300 };
    const T0: i64 = 1_700_000_000;

    fn spend(bucket: &mut Option<Bucket>, now: i64) -> RateDecision {
        let (next, decision) = hit(bucket.as_ref(), FIVE_PER_FIVE_MINUTES, now);
        if next.is_some() {
            *bucket = next;
        }
        decision
    }

    #[test]
    fn five_hits_then_refused_until_a_unit_comes_back() {
        let mut bucket = None;
        for left in (0..5).rev() {
            assert_eq!(spend(&mut bucket, T0), RateDecision::Allowed { left });
        }
        assert_eq!(spend(&mut bucket, T0), RateDecision::Limited { retry_after: 60 });
        assert_eq!(spend(&mut bucket, T0 + 59), RateDecision::Limited { retry_after: 1 });
        assert_eq!(spend(&mut bucket, T0 + 60), RateDecision::Allowed { left: 0 });
        assert_eq!(spend(&mut bucket, T0 + 60), RateDecision::Limited { retry_after: 60 });
    }

    #[test]
    fn a_full_window_refills_the_bucket_and_no_more() {
        let mut bucket = None;
        for _ in 0..5 {
            spend(&mut bucket, T0);
        }
        assert_eq!(bucket.map(|b| b.expires_at), Some(T0 + 300));
        assert_eq!(available(bucket.as_ref(), FIVE_PER_FIVE_MINUTES, T0 + 300), 5.0);
        assert_eq!(available(bucket.as_ref(), FIVE_PER_FIVE_MINUTES, T0 + 30_000), 5.0);
    }

    #[test]
    fn corrupt_or_backwards_values_fail_closed() {
        for tokens in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -3.0] {
            let bucket = Bucket { tokens, updated: T0, expires_at: T0 };
            assert!(
                matches!(hit(Some(&bucket), FIVE_PER_FIVE_MINUTES, T0).1, RateDecision::Limited { .. }),
                "{tokens}"
            );
        }
        let empty = Bucket { tokens: 0.0, updated: T0, expires_at: T0 + 300 };
        assert!(matches!(hit(Some(&empty), FIVE_PER_FIVE_MINUTES, T0 - 10_000).1, RateDecision::Limited { .. }));
    }
}
