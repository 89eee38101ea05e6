//! Accounts of the database connection: sign-up, email verification and password reset, as Auth0's
//! Authentication API (`/dbconnections/*`) and hosted pages do them, with their Actions triggers
//! (`pre-user-registration`, `post-user-registration`, `post-change-password`).
//!
//! Each operation is one function the HTTP layer calls; what it answers is Auth0's shape
//! (`{"name","code","description","statusCode"}`), built here once ([`AccountError`]).

pub mod jobs;
pub mod mail;
pub mod password_reset;
pub mod reset_challenge;
pub mod signup;
pub mod ticket;
pub mod verification;

use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::User;
use serde_json::{Value, json};

use crate::context::RequestContext;
use crate::users::password_policy::PasswordRefusal;

/// A refusal of an account operation, answered in Auth0's error shape.
#[derive(Clone, Debug, PartialEq)]
pub enum AccountError {
    /// A 400 with Auth0's `code` and `description` (`invalid_signup`, `invalid_connection`, an action's code).
    BadRequest {
        /// Auth0's error code.
        code: String,
        /// What is wrong, for the developer or the user.
        description: String,
    },
    /// The password does not meet the connection's policy.
    Password(Box<PasswordRefusal>),
    /// Sign-up is off for the connection (`disable_signup`).
    SignupDisabled,
    /// A limit was reached; try again after this many seconds.
    Limited {
        /// What was limited, in a sentence.
        description: String,
        /// Seconds.
        retry_after: i64,
    },
    /// The store cannot be reached for now.
    Unavailable,
    /// Something failed on our side (the cause is logged, never answered).
    Internal(String),
}

impl AccountError {
    /// A 400 with `code` and `description`.
    pub fn bad(code: &str, description: impl Into<String>) -> Self {
        AccountError::BadRequest { code: code.to_owned(), description: description.into() }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        let cause = e.to_string();
        if gatehouse_store::is_unavailable(&cause) { AccountError::Unavailable } else { AccountError::Internal(cause) }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AccountError::BadRequest { .. } | AccountError::Password(_) => 400,
            AccountError::SignupDisabled => 403,
            AccountError::Limited { .. } => 429,
            AccountError::Unavailable => 503,
            AccountError::Internal(_) => 500,
        }
    }

    /// Auth0's JSON body.
    pub fn to_json(&self) -> Value {
        let shape = |name: &str, code: &str, description: &str, status: u16| json!({ "name": name, "code": code, "description": description, "statusCode": status });
        match self {
            AccountError::BadRequest { code, description } => shape("BadRequestError", code, description, 400),
            AccountError::Password(refusal) => refusal.to_json(),
            AccountError::SignupDisabled => {
                shape("BadRequestError", "operation_not_supported", "public signup is disabled", 403)
            }
            AccountError::Limited { description, .. } => {
                shape("TooManyRequestsError", "too_many_attempts", description, 429)
            }
            AccountError::Unavailable => {
                shape("ServiceUnavailableError", "temporarily_unavailable", "The service is briefly unavailable.", 503)
            }
            AccountError::Internal(_) => {
                shape("InternalServerError", "server_error", "Something went wrong on our side.", 500)
            }
        }
    }

    /// One sentence for a hosted page, in `lang`.
    pub fn sentence(&self, lang: &str) -> String {
        let ja = lang == "ja";
        match self {
            AccountError::Password(refusal) => refusal.sentence(lang),
            AccountError::SignupDisabled if ja => "このサービスでは新規登録を受け付けていません。".into(),
            AccountError::SignupDisabled => "Sign-up is not available here.".into(),
            AccountError::Limited { .. } if ja => {
                "試行回数が多すぎます。しばらくしてからもう一度お試しください。".into()
            }
            AccountError::Limited { .. } => "Too many attempts. Please try again later.".into(),
            AccountError::Unavailable | AccountError::Internal(_) if ja => {
                "問題が発生しました。しばらくしてからもう一度お試しください。".into()
            }
            AccountError::Unavailable | AccountError::Internal(_) => {
                "Something went wrong on our side. Please try again.".into()
            }
            AccountError::BadRequest { code, description } => match code.as_str() {
                "invalid_signup" if ja => "アカウントを作成できませんでした。".into(),
                "invalid_signup" => "We could not create the account.".into(),
                _ => description.clone(),
            },
        }
    }
}

/// The application a request names: a configured client, else `invalid_request`.
pub(crate) fn client<'a>(ctx: &RequestContext<'a>, client_id: &str) -> Result<&'a ClientConfig, AccountError> {
    ctx.tenant.config.client(client_id).ok_or_else(|| AccountError::bad("invalid_request", "Unknown client_id."))
}

/// The connection a request names must be the database connection (Auth0 requires it by name).
pub(crate) fn check_connection(ctx: &RequestContext<'_>, connection: Option<&str>) -> Result<(), AccountError> {
    match connection {
        Some(name) if name == ctx.tenant.config.connection.name => Ok(()),
        Some(_) => Err(AccountError::bad("invalid_connection", "The connection does not exist.")),
        None => Err(AccountError::bad("invalid_connection", "Missing connection.")),
    }
}

/// `event.connection` of the account triggers.
pub(crate) fn connection_event(ctx: &RequestContext<'_>) -> Value {
    json!({
        "id": crate::event::DATABASE_CONNECTION_ID,
        "name": ctx.tenant.config.connection.name,
        "strategy": "auth0",
        "metadata": {},
    })
}

/// `event.request` of the account triggers.
pub(crate) fn request_event(ctx: &RequestContext<'_>, lang: &str) -> Value {
    let request = ctx.request;
    json!({
        "ip": request.ip,
        "hostname": request.hostname,
        "method": request.method,
        "user_agent": request.user_agent,
        "language": lang,
        "geoip": {},
    })
}

/// `event.user` of the triggers that run on a stored user.
pub(crate) fn user_event(user: &User) -> Value {
    crate::users::user_view(user)
}
