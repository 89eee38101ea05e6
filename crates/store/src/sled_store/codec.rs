//! How records become sled keys and values, and how failures become [`StoreError`]s. What every backend encodes
//! alike (JSON records, the email key, collection and namespace names) lives in `crate::codec`.

use std::fmt;

use sled::transaction::{ConflictableTransactionError, TransactionError};

pub(super) use crate::codec::{collection_name, decode, email_key, encode, ephemeral_namespace};
use crate::{Ephemeral, StoreError, StoreResult};

/// The expiry every expiring JSON record carries (sessions, codes, refresh tokens).
#[derive(serde::Deserialize)]
pub(super) struct Expiring {
    pub(super) expires_at: i64,
}

/// `a\0b`: the NUL separator keeps `a` a prefix of its own keys only (`ab\0…` does not start with `a\0`).
pub(super) fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut key = prefix_key(a);
    key.extend_from_slice(b.as_bytes());
    key
}

/// `a\0`, the prefix of every [`pair_key`] of `a`.
pub(super) fn prefix_key(a: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(0);
    key
}

pub(super) fn ephemeral_key(namespace: Ephemeral, key: &str) -> Vec<u8> {
    pair_key(ephemeral_namespace(namespace), key)
}

pub(super) fn ephemeral_expiry(stored: &[u8]) -> StoreResult<i64> {
    let expiry = stored
        .first_chunk::<8>()
        .ok_or_else(|| StoreError::Corrupt("ephemeral record shorter than its expiry".to_owned()))?;
    Ok(i64::from_be_bytes(*expiry))
}

pub(super) fn unexpired_ephemeral(stored: &[u8], now: i64) -> StoreResult<Option<Vec<u8>>> {
    Ok((ephemeral_expiry(stored)? > now).then(|| stored[8..].to_vec()))
}

pub(super) fn backend(doing: &str, error: impl fmt::Display) -> StoreError {
    StoreError::Backend(format!("{doing}: {error}"))
}

pub(super) fn abort<T>(error: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(error))
}

pub(super) fn transaction_error(error: TransactionError<StoreError>) -> StoreError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => backend("transaction", error),
    }
}

/// Whether opening failed because another holder has the directory locked. sled 0.34.7 reports it only as an
/// `io::ErrorKind::Other` with this message.
pub(super) fn is_lock_held(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(e) if e.to_string().starts_with("could not acquire lock"))
}
