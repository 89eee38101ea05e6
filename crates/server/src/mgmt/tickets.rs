//! `/api/v2/tickets/email-verification` and `/api/v2/tickets/password-change`: a verification or reset link made
//! for an operator's own delivery (Auth0's tickets). The link is answered, never mailed; it is the same single-use,
//! hashed link the emails carry (`auth::account::ticket`), valid `ttl_sec` seconds (default 5 days, as Auth0; at most
//! 30 days), and sends the browser to `result_url` once used (with Auth0's `success`, `code` and `message`, and
//! `email` with `includeEmailInRedirect`). A reset ticket marks the address verified only with
//! `mark_email_as_verified`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_auth::account::ticket::ResultUrl;
use gatehouse_auth::account::{password_reset, verification};
use gatehouse_auth::event::DATABASE_CONNECTION_ID;
use gatehouse_types::records::User;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, parse_body};
use crate::AppState;

/// `ttl_sec` when absent or 0: 5 days, as Auth0.
const DEFAULT_TTL: u64 = 432_000;
/// The longest `ttl_sec` accepted: 30 days.
const MAX_TTL: u64 = 30 * 86_400;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/tickets/email-verification", post(post_email_verification))
        .route("/api/v2/tickets/password-change", post(post_password_change))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationTicket {
    user_id: String,
    #[serde(default)]
    result_url: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    ttl_sec: Option<u64>,
    #[serde(default, rename = "includeEmailInRedirect")]
    include_email_in_redirect: bool,
    /// Accepted as Auth0 does: the database connection is the only identity.
    #[serde(default)]
    #[allow(dead_code)]
    identity: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    organization_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChangeTicket {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    result_url: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    ttl_sec: Option<u64>,
    #[serde(default)]
    mark_email_as_verified: bool,
    #[serde(default, rename = "includeEmailInRedirect")]
    include_email_in_redirect: bool,
    #[serde(default)]
    #[allow(dead_code)]
    organization_id: Option<String>,
}

/// The checks both tickets share: a known client, a `result_url` that is an absolute http(s) URL and not given with
/// `client_id` (Auth0 refuses both), a lifetime within bounds.
fn checked(
    state: &AppState,
    client_id: Option<&str>,
    result_url: Option<&str>,
    include_email: bool,
    ttl_sec: Option<u64>,
) -> Result<(Option<ResultUrl>, u64), MgmtError> {
    if let Some(id) = client_id
        && state.tenant.config.client(id).is_none()
    {
        return Err(MgmtError::bad_body(format!("Client not found: {id}")));
    }
    let result = match result_url {
        Some(_) if client_id.is_some() => {
            return Err(MgmtError::bad_body("The result_url parameter cannot be used together with client_id."));
        }
        Some(url) => {
            let parsed = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "https" | "http"));
            if parsed.is_none() || url.len() > 2048 {
                return Err(MgmtError::bad_body(
                    "Payload validation error: 'Object didn't pass validation for format absolute-uri' on property \
                     result_url.",
                ));
            }
            Some(ResultUrl { url: url.to_owned(), include_email })
        }
        None => None,
    };
    let ttl = match ttl_sec {
        None | Some(0) => DEFAULT_TTL,
        Some(ttl) if ttl > MAX_TTL => {
            return Err(MgmtError::bad_body(format!(
                "Payload validation error: 'Number is greater than the maximum of {MAX_TTL}' on property ttl_sec."
            )));
        }
        Some(ttl) => ttl,
    };
    Ok((result, ttl))
}

fn inexistent_user() -> MgmtError {
    MgmtError::new(StatusCode::NOT_FOUND, "The user does not exist.", Some("inexistent_user"))
}

/// `POST /api/v2/tickets/email-verification` (`create:user_tickets`): 201 `{ticket}`.
async fn post_email_verification(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), MgmtError> {
    caller.require(&["create:user_tickets"])?;
    let (request, raw): (VerificationTicket, Value) = parse_body(&body)?;
    let (result, ttl) = checked(
        &state,
        request.client_id.as_deref(),
        request.result_url.as_deref(),
        request.include_email_in_redirect,
        request.ttl_sec,
    )?;
    let user = state.tenant.store.find_user(&request.user_id).await.map_err(MgmtError::internal)?;
    let user = user.ok_or_else(inexistent_user)?;
    let ticket = verification::issue_ticket(&state.tenant, &user, request.client_id.as_deref(), ttl, result)
        .await
        .map_err(MgmtError::internal)?;
    caller
        .log_success(&state, "Create an email verification ticket", Some(&user), Some(&raw), StatusCode::CREATED)
        .await;
    Ok((StatusCode::CREATED, Json(json!({ "ticket": ticket }))))
}

/// `POST /api/v2/tickets/password-change` (`create:user_tickets`): 201 `{ticket}`. The user by `user_id`, or by
/// `email` with the database connection's `connection_id`.
async fn post_password_change(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), MgmtError> {
    caller.require(&["create:user_tickets"])?;
    let (request, raw): (PasswordChangeTicket, Value) = parse_body(&body)?;
    let (result, ttl) = checked(
        &state,
        request.client_id.as_deref(),
        request.result_url.as_deref(),
        request.include_email_in_redirect,
        request.ttl_sec,
    )?;
    let user = find_user(&state, &request).await?;
    let ticket = password_reset::issue_ticket(
        &state.tenant,
        &user,
        request.client_id.as_deref(),
        ttl,
        result,
        request.mark_email_as_verified,
    )
    .await
    .map_err(MgmtError::internal)?;
    caller.log_success(&state, "Create a password change ticket", Some(&user), Some(&raw), StatusCode::CREATED).await;
    Ok((StatusCode::CREATED, Json(json!({ "ticket": ticket }))))
}

async fn find_user(state: &AppState, request: &PasswordChangeTicket) -> Result<User, MgmtError> {
    let store = &state.tenant.store;
    let found = match (&request.user_id, &request.email) {
        (Some(_), Some(_)) => {
            return Err(MgmtError::bad_body("Specify either user_id or email with connection_id, not both."));
        }
        (Some(id), None) => store.find_user(id).await.map_err(MgmtError::internal)?,
        (None, Some(email)) => {
            match request.connection_id.as_deref() {
                Some(DATABASE_CONNECTION_ID) => {}
                Some(_) => return Err(MgmtError::bad_body("The connection does not exist.")),
                None => return Err(MgmtError::bad_body("connection_id is required when the user is named by email.")),
            }
            store.find_user_by_email(&email.trim().to_lowercase()).await.map_err(MgmtError::internal)?
        }
        (None, None) => {
            return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: user_id'."));
        }
    };
    found.ok_or_else(inexistent_user)
}
