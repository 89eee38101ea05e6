//! Auth0's Authentication API for the database connection: `POST /dbconnections/signup` and
//! `POST /dbconnections/change_password`, with JSON or form bodies, answering Auth0's shapes
//! (`{"name","code","description","statusCode"}` on errors).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_auth::account::AccountError;
use gatehouse_auth::account::jobs::{self, AccountJob};
use gatehouse_auth::account::password_reset::{self, REQUESTED};
use gatehouse_auth::account::signup::{SignupRequest, sign_up, signup_view};
use gatehouse_auth::login::language;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AppState;
use crate::request::Client;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dbconnections/signup", post(post_signup))
        .route("/dbconnections/change_password", post(post_change_password))
}

/// An account error as Auth0 answers it; a 500 keeps its cause for the failure log.
fn refused(error: AccountError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(error.to_json())).into_response();
    if let AccountError::Limited { retry_after, .. } = &error
        && let Ok(value) = HeaderValue::from_str(&(*retry_after).max(1).to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    if let AccountError::Internal(cause) = error {
        response.extensions_mut().insert(crate::error::FailureCause(cause));
    }
    response
}

/// The body as JSON or as a form, whichever the request says (Auth0 takes both).
fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, AccountError> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let value: Value = if form {
        let mut map = serde_json::Map::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            let (key, value) = (key.into_owned(), value.into_owned());
            if map.insert(key.clone(), Value::from(value)).is_some() {
                return Err(AccountError::bad("invalid_body", format!("{key} is repeated.")));
            }
        }
        Value::Object(map)
    } else {
        serde_json::from_slice(body).map_err(|_| AccountError::bad("invalid_body", "The body is not valid JSON."))?
    };
    if !value.is_object() {
        return Err(AccountError::bad("invalid_body", "The body is not an object."));
    }
    serde_json::from_value(value).map_err(|e| AccountError::bad("invalid_body", format!("Invalid body: {e}")))
}

/// `POST /dbconnections/signup`.
async fn post_signup(State(state): State<AppState>, client: Client, headers: HeaderMap, body: Bytes) -> Response {
    let request: SignupRequest = match parse(&headers, &body) {
        Ok(request) => request,
        Err(e) => return refused(e),
    };
    let lang = language(&[], client.info.accept_language.as_deref());
    match sign_up(&client.ctx(&state), request, &lang).await {
        Ok((user, after)) => {
            // As Auth0 runs post-user-registration: after the answer, never undoing it.
            jobs::start(state.tenant.clone(), after.into()).await;
            Json(signup_view(&user)).into_response()
        }
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
struct ChangePasswordRequest {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    connection: Option<String>,
    /// Accepted as Auth0 does; a reset is not scoped to an organization here.
    #[serde(default)]
    #[allow(dead_code)]
    organization: Option<String>,
}

/// `POST /dbconnections/change_password`: always the same sentence; the link is mailed after the answer.
async fn post_change_password(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ChangePasswordRequest = match parse(&headers, &body) {
        Ok(request) => request,
        Err(e) => return refused(e),
    };
    let ctx = client.ctx(&state);
    if let Err(e) =
        password_reset::accept_request(&ctx, &request.client_id, &request.email, request.connection.as_deref()).await
    {
        return refused(e);
    }
    let lang = language(&[], client.info.accept_language.as_deref());
    let job = AccountJob::ResetRequested {
        client_id: Some(request.client_id),
        email: request.email,
        lang,
        request: client.info.clone(),
    };
    jobs::start(state.tenant.clone(), job).await;
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], REQUESTED).into_response()
}
