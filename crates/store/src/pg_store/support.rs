//! How PostgreSQL failures become [`StoreError`]s and rows become records.

use std::error::Error as _;

use deadpool_postgres::PoolError;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

use crate::codec::decode;
use crate::{StoreError, StoreResult};

/// A failure of the database or of the connection to it, as [`StoreError::Backend`]. A server error keeps its
/// message and SQLSTATE but not its DETAIL, which can quote a row (an email address, a key).
pub(super) fn pg_error(doing: &str, error: &tokio_postgres::Error) -> StoreError {
    let message = format!("{doing}: {}", describe(error));
    if is_connection_failure(error) { StoreError::Unavailable(message) } else { StoreError::Backend(message) }
}

/// A lost or refused connection, or the server shutting down or starting (SQLSTATE classes 08 and 57P): the next
/// try, on a new connection, may work.
fn is_connection_failure(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P")
        }
        None => error.is_closed() || error.source().is_some_and(|cause| cause.is::<std::io::Error>()),
    }
}

/// What went wrong, with its cause: tokio-postgres' own `Display` names only the kind ("error connecting to
/// server"), not why.
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match error.source() {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

pub(super) fn pool_error(doing: &str, error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => pg_error(doing, &error),
        // Every connection busy past the wait, or none could be opened: for now.
        other @ (PoolError::Timeout(_) | PoolError::Closed) => StoreError::Unavailable(format!("{doing}: {other}")),
        other => StoreError::Backend(format!("{doing}: {other}")),
    }
}

/// Whether `error` is the server refusing a write with `code` (a unique or foreign-key violation).
pub(super) fn is_violation(error: &tokio_postgres::Error, code: &SqlState) -> bool {
    error.code() == Some(code)
}

/// The constraint a server error names, if any.
pub(super) fn constraint(error: &tokio_postgres::Error) -> Option<&str> {
    error.as_db_error().and_then(|db| db.constraint())
}

/// Column `index` of `row`; a value of another type or shape is a corrupt record.
pub(super) fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize, what: &str) -> StoreResult<T> {
    row.try_get(index).map_err(|e| StoreError::Corrupt(format!("{what}: {}", describe(&e))))
}

/// The JSON record in column `index` (selected as `body::text`).
pub(super) fn json_column<T: DeserializeOwned>(row: &Row, index: usize, what: &str) -> StoreResult<T> {
    let text: &str = column(row, index, what)?;
    decode(what, text.as_bytes())
}

/// A count from the database as a `usize`.
pub(super) fn count(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The smallest byte string greater than every string that starts with `prefix` (`None`: there is none, every
/// string from `prefix` on starts with it or `prefix` is empty), so a prefix scan is the index range
/// `prefix <= key < successor`.
pub(super) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut successor = prefix.to_vec();
    while let Some(last) = successor.pop() {
        if last < u8::MAX {
            successor.push(last + 1);
            return Some(successor);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors_bound_exactly_the_keys_with_the_prefix() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(b"u1\0"), Some(b"u1\x01".to_vec()));
        assert_eq!(prefix_successor(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff"), None);
    }
}
