//! `POST /oauth/revoke` (RFC 7009), form-encoded or JSON: `{client_id, client_secret?, token}`; 200 with an empty
//! body when the token is revoked or was no longer valid.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gatehouse_auth::oauth::{TokenEndpoint, TokenRequest};

use crate::AppState;
use crate::error::ApiError;
use crate::oidc::token::{basic_credentials, fields};
use crate::request::Client;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/revoke", post(post_revoke))
}

async fn post_revoke(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request =
        TokenRequest { fields: fields(&headers, &body)?, basic: basic_credentials(&headers), from_own_action: false };
    TokenEndpoint::new(client.ctx(&state)).revoke(&request).await?;
    Ok(axum::http::StatusCode::OK.into_response())
}
