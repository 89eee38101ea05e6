//! Wall-clock time in the two shapes Gatehouse stores: epoch seconds and ISO-8601, and the [`Clock`] a tenant
//! reads it from, so tests can move time (code expiry, attempt refills) without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where a tenant reads the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in epoch seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    seconds: AtomicI64,
}

impl ManualClock {
    /// A clock showing the system time now.
    pub fn starting_now() -> Self {
        ManualClock { seconds: AtomicI64::new(now()) }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.seconds.load(Ordering::SeqCst)
    }
}

/// Now, in epoch seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Now, as ISO-8601 UTC with milliseconds (Auth0's format).
pub fn now_iso() -> String {
    gatehouse_engine::flow::now_iso()
}

/// Epoch seconds as ISO-8601 UTC with milliseconds.
pub fn iso(seconds: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp(seconds).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// Epoch seconds of an ISO-8601 (RFC 3339) time.
pub fn parse_iso(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}
