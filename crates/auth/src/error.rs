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

/// The closed set of error codes the OAuth, OpenID Connect and MFA endpoints answer with (Auth0's), each with
/// the status it usually goes with; an endpoint where Auth0 answers another status says so with
/// [`OAuthError::with_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// `invalid_request` (400).
    InvalidRequest,
    /// `invalid_client` (401).
    InvalidClient,
    /// `invalid_grant` (403, as Auth0 answers it).
    InvalidGrant,
    /// `unauthorized_client` (403).
    UnauthorizedClient,
    /// `unsupported_grant_type` (400).
    UnsupportedGrantType,
    /// `unsupported_token_type` (400, RFC 7009: `/oauth/revoke` with a token type it cannot revoke).
    UnsupportedTokenType,
    /// `invalid_scope` (403).
    InvalidScope,
    /// `access_denied` (403).
    AccessDenied,
    /// `mfa_required` (403).
    MfaRequired,
    /// `expired_token` (403).
    ExpiredToken,
    /// `too_many_attempts` (429).
    TooManyAttempts,
    /// `server_error` (500).
    ServerError,
    /// `temporarily_unavailable` (503): the store cannot be reached for now; the client may try again.
    TemporarilyUnavailable,
    /// `invalid_token` (401).
    InvalidToken,
    /// `insufficient_scope` (403).
    InsufficientScope,
    /// `unauthorized` (401).
    Unauthorized,
    /// `not_found` (404).
    NotFound,
    /// `unsupported_challenge_type` (400).
    UnsupportedChallengeType,
    /// `association_required` (401).
    AssociationRequired,
    /// `interaction_required` (400).
    InteractionRequired,
}

impl ErrorCode {
    /// The `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::MfaRequired => "mfa_required",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UnsupportedChallengeType => "unsupported_challenge_type",
            ErrorCode::AssociationRequired => "association_required",
            ErrorCode::InteractionRequired => "interaction_required",
        }
    }

    /// The status this code usually goes with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::UnsupportedGrantType
            | ErrorCode::UnsupportedTokenType
            | ErrorCode::UnsupportedChallengeType
            | ErrorCode::InteractionRequired => 400,
            ErrorCode::InvalidClient
            | ErrorCode::InvalidToken
            | ErrorCode::Unauthorized
            | ErrorCode::AssociationRequired => 401,
            ErrorCode::InvalidGrant
            | ErrorCode::UnauthorizedClient
            | ErrorCode::InvalidScope
            | ErrorCode::AccessDenied
            | ErrorCode::MfaRequired
            | ErrorCode::ExpiredToken
            | ErrorCode::InsufficientScope => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::TooManyAttempts => 429,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
        }
    }
}

/// An OAuth error answer: `{error, error_description}` and its status. Built with one constructor per code, so no
/// call site pairs a status with a string; a failure of ours carries its cause for the server log only
/// (the HTTP layer logs it once, never sends it).
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// `error`.
    pub code: ErrorCode,
    /// `error_description`.
    pub description: String,
    /// Extra members (`mfa_token`, `mfa_requirements`), boxed to keep errors small.
    pub extra: Box<JsonMap>,
    /// What failed, for the server log (a `server_error` only); never part of the answer.
    pub cause: Option<String>,
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` with its usual status.")]
            pub fn $name(description: impl Into<String>) -> Self {
                OAuthError::of(ErrorCode::$code, description)
            }
        )*
    };
}

impl OAuthError {
    /// An error of `code` with its usual status.
    pub fn of(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError { status: code.status(), code, description: description.into(), extra: Box::default(), cause: None }
    }

    constructors! {
        invalid_request => InvalidRequest,
        invalid_client => InvalidClient,
        invalid_grant => InvalidGrant,
        unauthorized_client => UnauthorizedClient,
        unsupported_grant_type => UnsupportedGrantType,
        unsupported_token_type => UnsupportedTokenType,
        invalid_scope => InvalidScope,
        access_denied => AccessDenied,
        mfa_required => MfaRequired,
        expired_token => ExpiredToken,
        too_many_attempts => TooManyAttempts,
        invalid_token => InvalidToken,
        insufficient_scope => InsufficientScope,
        unauthorized => Unauthorized,
        not_found => NotFound,
        unsupported_challenge_type => UnsupportedChallengeType,
        association_required => AssociationRequired,
        interaction_required => InteractionRequired,
    }

    /// The same error with another status (where Auth0 answers this code differently on this endpoint).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// `500 server_error` for a failure of ours: the answer says "Internal error"; `cause` is kept for the log.
    /// When the cause is the store being unreachable for now, `503 temporarily_unavailable` instead: the request
    /// failed closed and may be tried again.
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        let cause = cause.to_string();
        let answer = if gatehouse_store::is_unavailable(&cause) {
            OAuthError::of(ErrorCode::TemporarilyUnavailable, "The service is temporarily unavailable; try again.")
        } else {
            OAuthError::of(ErrorCode::ServerError, "Internal error")
        };
        OAuthError { cause: Some(cause), ..answer }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = JsonMap::new();
        body.insert("error".into(), Value::from(self.code.as_str()));
        body.insert("error_description".into(), Value::from(self.description.clone()));
        body.extend((*self.extra).clone());
        Value::Object(body)
    }
}

/// Failures of the store and of the auth crate are ours: `?` turns them into a `500 server_error`.
impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::server_error(e)
    }
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        OAuthError::server_error(e)
    }
}
