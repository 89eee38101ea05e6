//! `/.well-known/openid-configuration` and `/.well-known/jwks.json`.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use gatehouse_auth::error::OAuthError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(get_configuration))
        .route("/.well-known/jwks.json", get(get_jwks))
}

async fn get_configuration(State(state): State<AppState>) -> Response {
    let issuer = &state.tenant.config.issuer;
    let mut response = Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}authorize"),
        "token_endpoint": format!("{issuer}oauth/token"),
        "revocation_endpoint": format!("{issuer}oauth/revoke"),
        "userinfo_endpoint": format!("{issuer}userinfo"),
        "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}v2/logout"),
        "mfa_challenge_endpoint": format!("{issuer}mfa/challenge"),
        "scopes_supported": ["openid", "profile", "email", "phone", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post", "web_message"],
        "grant_types_supported": gatehouse_types::config::GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [
            "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
            "http://schemas.openid.net/pfi/2021/04/acr/mfa"
        ],
        "claims_supported": ["aud", "auth_time", "acr", "amr", "email", "email_verified", "exp", "family_name",
            "given_name", "iat", "iss", "name", "nickname", "phone_number", "phone_number_verified", "picture",
            "sid", "sub", "updated_at", "nonce"],
        "request_uri_parameter_supported": false,
    }))
    .into_response();
    // Public and stable: clients may cache it (every other response is `no-store`, from the app's layer).
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

async fn get_jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let tenant = &state.tenant;
    let ring = tenant.key_ring().map_err(|e| ApiError(OAuthError::server_error(e.to_string())))?;
    // A retired key stays published as long as a token it signed may still be valid.
    let longest = tenant
        .directory()
        .apis
        .iter()
        .map(|a| a.token_lifetime)
        .chain([tenant.config.sessions.id_token_lifetime, 86_400])
        .max()
        .unwrap_or(86_400) as i64;
    let mut response = Json(ring.jwks(tenant.now(), longest)).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}
