//! Wall-clock time in the two shapes Gatehouse stores: epoch seconds and ISO-8601.

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
