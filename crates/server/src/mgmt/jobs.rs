//! `/api/v2/jobs/verification-email`: mails a user a new verification link, as Auth0's job does (Gatehouse sends
//! it at once, so the job answers `completed`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_auth::account::verification;
use gatehouse_auth::ids;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v2/jobs/verification-email", post(post_verification_email))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationJob {
    user_id: String,
    #[serde(default)]
    client_id: Option<String>,
    /// Accepted as Auth0 does: the database connection is the only identity.
    #[serde(default)]
    #[allow(dead_code)]
    identity: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    organization_id: Option<String>,
}

/// `POST /api/v2/jobs/verification-email` (`update:users`): 201 with the job; 404 for an unknown user, 400 for
/// an unknown client, 429 when the user's verification emails reached their limit.
async fn post_verification_email(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), MgmtError> {
    caller.require(&["update:users"])?;
    let (job, raw): (VerificationJob, Value) = parse_body(&body)?;
    if let Some(client_id) = &job.client_id
        && state.tenant.config.client(client_id).is_none()
    {
        return Err(MgmtError::bad_body(format!("Client not found: {client_id}")));
    }
    let user =
        state.tenant.store.find_user(&job.user_id).await.map_err(|e| MgmtError::internal(e.to_string()))?.ok_or_else(
            || MgmtError::new(StatusCode::NOT_FOUND, "The user does not exist.", Some("inexistent_user")),
        )?;
    let sent = verification::send(&state.tenant, &user, job.client_id.as_deref(), "en")
        .await
        .map_err(|e| MgmtError::internal(e.to_string()))?;
    if !sent {
        return Err(MgmtError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many verification emails for this user. Try again later.",
            Some("too_many_requests"),
        ));
    }
    let id = ids::public_id("job_").map_err(|e| MgmtError::internal(e.to_string()))?;
    caller.log_success(&state, "Send a verification email", Some(&user), Some(&raw), StatusCode::CREATED).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "status": "completed",
            "type": "verification_email",
            "created_at": state.tenant.now_iso(),
            "id": id,
        })),
    ))
}
