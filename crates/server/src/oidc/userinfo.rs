//! `GET|POST /userinfo`: the profile behind an access token whose audience includes `/userinfo`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use gatehouse_auth::error::OAuthError;

pub fn router() -> Router<AppState> {
    Router::new().route("/userinfo", get(get_userinfo).post(get_userinfo))
}

/// The bearer token of a request.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}

async fn get_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let tenant = &state.tenant;
    let unauthorized = || ApiError(OAuthError::invalid_token("The access token is missing, expired or invalid"));
    let token = bearer(&headers).ok_or_else(unauthorized)?;
    let audience = format!("{}userinfo", tenant.config.issuer);
    let ring = tenant.key_ring().map_err(ApiError::internal)?;
    let claims = ring.verify(token, &tenant.config.issuer, Some(&audience)).map_err(|_| unauthorized())?;
    // A token whose authorization code was replayed is revoked; a store that cannot tell refuses it too.
    if gatehouse_auth::claims::is_revoked(tenant, &claims).await.map_err(ApiError::internal)? {
        return Err(unauthorized());
    }
    let subject = claims.get("sub").and_then(Value::as_str).ok_or_else(unauthorized)?;
    let scopes = gatehouse_auth::claims::scopes_of(&claims);
    let user = tenant.store.find_user(subject).await.map_err(ApiError::internal)?.ok_or_else(unauthorized)?;
    Ok(Json(Value::Object(gatehouse_auth::claims::userinfo(&user, &scopes))))
}
