//! The MFA API: `/mfa/associate`, `/mfa/challenge`, `/mfa/authenticators`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_auth::mfa_api::MfaApi;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::ApiError;
use crate::oidc::token::{basic_credentials, fields};
use crate::oidc::userinfo::bearer;
use crate::request::Client;
use gatehouse_auth::error::OAuthError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mfa/associate", post(post_associate))
        .route("/mfa/challenge", post(post_challenge))
        .route("/mfa/authenticators", get(get_authenticators))
        .route("/mfa/authenticators/{id}", delete(delete_authenticator))
}

/// A JSON or form body as a JSON object (arrays such as `authenticator_types` need JSON).
fn body(headers: &HeaderMap, bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(ApiError(OAuthError::invalid_request("The request body must be a JSON object"))),
        }
    } else {
        Ok(fields(headers, bytes)?.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
    }
}

async fn post_associate(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let api = MfaApi::new(client.ctx(&state));
    let caller = api.caller(bearer(&headers)).await?;
    let body = body(&headers, &bytes)?;
    let basic = basic_credentials(&headers);
    let basic = basic.as_ref().map(|(id, secret)| (id.as_str(), secret.as_str()));
    Ok(Json(api.associate(&caller, &body, basic).await?).into_response())
}

async fn post_challenge(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let api = MfaApi::new(client.ctx(&state));
    let body = body(&headers, &bytes)?;
    let basic = basic_credentials(&headers);
    let basic = basic.as_ref().map(|(id, secret)| (id.as_str(), secret.as_str()));
    Ok(Json(api.challenge(&body, basic).await?).into_response())
}

async fn get_authenticators(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let api = MfaApi::new(client.ctx(&state));
    let caller = api.caller(bearer(&headers)).await?;
    Ok(Json(api.list(&caller).await?).into_response())
}

async fn delete_authenticator(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let api = MfaApi::new(client.ctx(&state));
    let caller = api.caller(bearer(&headers)).await?;
    api.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
