//! The error type of the auth crate.
//!
//! Messages name what failed, never the material involved: no password, secret, code or token ever appears in one,
//! because errors end up in logs.

use gatehouse_store::StoreError;
use gatehouse_types::JsonMap;
use serde_json::Value;

/// What can go wrong in the auth crate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A cryptographic primitive failed (hashing, key generation, signing, the OS random source).
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// A stored secret (TOTP secret, password hash, signing key) cannot be used as it is.
    #[error("unusable stored secret: {0}")]
    BadSecret(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store holds no active signing key (and none was to be created).
    #[error("no active signing key")]
    NoSigningKey,
    /// A signing key in the store is inconsistent (its public half does not match its private half).
    #[error("corrupt signing key {kid}: {reason}")]
    CorruptKey {
        /// The key id (public).
        kid: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A JWT was refused: bad signature, unknown `kid`, expired, wrong issuer or audience, malformed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The tenant could not start (configuration, actions, HTTP client).
    #[error("{0}")]
    Setup(String),
    /// A QR code could not be drawn (the text is too long).
    #[error("QR code: {0}")]
    Qr(String),
}

/// Result of the auth crate.
pub type AuthResult<T> = Result<T, AuthError>;

/// An OAuth error answer.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// `error`.
    pub error: String,
    /// `error_description`.
    pub description: String,
    /// Extra members (`mfa_token`, `mfa_requirements`), boxed to keep errors small.
    pub extra: Box<JsonMap>,
}

impl OAuthError {
    /// An error with status, code and description.
    pub fn new(status: u16, error: &str, description: impl Into<String>) -> Self {
        OAuthError { status, error: error.to_owned(), description: description.into(), extra: Box::default() }
    }

    /// `500 server_error` for a failure of ours: the cause goes to the server log, never to the client.
    pub fn server_error(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        OAuthError::new(500, "server_error", "Internal error")
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = JsonMap::new();
        body.insert("error".into(), Value::from(self.error.clone()));
        body.insert("error_description".into(), Value::from(self.description.clone()));
        body.extend((*self.extra).clone());
        Value::Object(body)
    }
}
