//! How records become sled keys and values, and how failures become [`StoreError`]s.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::{Collection, Ephemeral, StoreError, StoreResult};

/// The expiry every expiring JSON record carries (sessions, codes, refresh tokens).
#[derive(serde::Deserialize)]
pub(super) struct Expiring {
    pub(super) expires_at: i64,
}

/// The email index key: emails are unique and looked up case-insensitively.
pub(super) fn email_key(email: &str) -> String {
    email.to_lowercase()
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

pub(super) fn collection_name(collection: Collection) -> &'static str {
    match collection {
        Collection::Role => "role",
        Collection::RoleName => "role_name",
        Collection::Organization => "organization",
        Collection::OrganizationName => "organization_name",
        Collection::Member => "member",
        Collection::ClientGrant => "client_grant",
        Collection::ResourceServer => "resource_server",
        Collection::Consent => "consent",
    }
}

pub(super) fn ephemeral_namespace(namespace: Ephemeral) -> &'static str {
    match namespace {
        Ephemeral::Transaction => "transaction",
        Ephemeral::OneTimeCode => "one_time_code",
        Ephemeral::MfaTicket => "mfa_ticket",
        Ephemeral::KnownDevice => "known_device",
        Ephemeral::RevokedToken => "revoked_token",
        Ephemeral::PhoneDelivery => "phone_delivery",
        Ephemeral::Other => "other",
    }
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

pub(super) fn encode<T: Serialize>(what: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("cannot encode {what}: {}", json_error(&e))))
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {}", json_error(&e))))
}

/// Where and how JSON failed, without serde's message: that can quote the record (a password hash, a secret).
fn json_error(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "JSON of an unexpected shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {}, column {}", error.line(), error.column())
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
