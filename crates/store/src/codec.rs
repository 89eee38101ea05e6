//! What every backend encodes the same way: records as JSON, the email index key, and the stored names of
//! [`Collection`]s and [`Ephemeral`] namespaces.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Collection, Ephemeral, StoreError, StoreResult};

/// The email index key: emails are unique and looked up case-insensitively.
pub(crate) fn email_key(email: &str) -> String {
    email.to_lowercase()
}

pub(crate) fn collection_name(collection: Collection) -> &'static str {
    match collection {
        Collection::Role => "role",
        Collection::RoleName => "role_name",
        Collection::Organization => "organization",
        Collection::OrganizationName => "organization_name",
        Collection::Member => "member",
        Collection::ClientGrant => "client_grant",
        Collection::ResourceServer => "resource_server",
        Collection::Consent => "consent",
        Collection::Username => "username",
    }
}

pub(crate) fn ephemeral_namespace(namespace: Ephemeral) -> &'static str {
    match namespace {
        Ephemeral::Transaction => "transaction",
        Ephemeral::OneTimeCode => "one_time_code",
        Ephemeral::MfaTicket => "mfa_ticket",
        Ephemeral::KnownDevice => "known_device",
        Ephemeral::RevokedToken => "revoked_token",
        Ephemeral::PhoneDelivery => "phone_delivery",
        Ephemeral::AccountTicket => "account_ticket",
        Ephemeral::AccountJob => "account_job",
        Ephemeral::Other => "other",
    }
}

pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("cannot encode {what}: {}", json_error(&e))))
}

/// [`encode`] as a `String` (serde_json writes UTF-8), for text and `json` columns.
pub(crate) fn encode_string<T: Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode {what}: {}", json_error(&e))))
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> StoreResult<T> {
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
