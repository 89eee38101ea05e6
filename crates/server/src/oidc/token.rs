//! `POST /oauth/token`, form-encoded or JSON.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use base64::Engine;
use gatehouse_auth::oauth::{TokenEndpoint, TokenRequest};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::guard::{FromOwnAction, own_action_refused};
use crate::request::Client;
use gatehouse_auth::error::OAuthError;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/token", post(post_token))
}

/// Body fields of a form-encoded or JSON token request (JSON numbers and booleans become strings).
pub(crate) fn fields(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("application/json") {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| ApiError(OAuthError::invalid_request("The request body is not valid JSON")))?;
        let Value::Object(map) = value else {
            return Err(ApiError(OAuthError::invalid_request("The request body must be a JSON object")));
        };
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect())
    } else {
        Ok(url::form_urlencoded::parse(body).into_owned().collect())
    }
}

/// `Authorization: Basic` credentials (RFC 6749 §2.3.1: form-urlencoded id and secret).
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

async fn post_token(
    State(state): State<AppState>,
    client: Client,
    own_action: Option<Extension<FromOwnAction>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let from_own_action = own_action.is_some();
    let request =
        TokenRequest { fields: fields(&headers, &body)?, basic: basic_credentials(&headers), from_own_action };
    if from_own_action && request.fields.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Ok(own_action_refused());
    }
    let endpoint = TokenEndpoint::new(client.ctx(&state));
    let tokens = endpoint.token(&request).await?;
    let mut response = Json(tokens).into_response();
    // RFC 6749 §5.1; `Cache-Control: no-store` comes from the app's layer.
    response.headers_mut().insert("pragma", HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod proptests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any `Authorization` header, decodable or not, gives credentials or none, never a panic; and credentials
        /// the way RFC 6749 §2.3.1 encodes them are read back.
        #[test]
        fn basic_credentials_never_panic(header in ".{0,200}", id in "[ -~]{1,30}", secret in "[ -~]{0,30}") {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&header) {
                headers.insert(AUTHORIZATION, value);
                let _ = basic_credentials(&headers);
            }
            let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let raw = format!("{}:{}", encode(&id), encode(&secret));
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
            headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
            prop_assert_eq!(basic_credentials(&headers), Some((id, secret)));
        }
    }
}
