//! The Management API (`<issuer>api/v2/`): a bearer token from `client_credentials` with that audience.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_store::LogQuery;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::oidc::bearer;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/logs", get(get_logs))
        .route("/api/v2/keys/signing", get(get_signing_keys))
        .route("/api/v2/keys/signing/rotate", post(post_rotate))
}

/// Checks a Management API token and that it carries `scope`.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, scope: &str) -> Result<Map<String, Value>, ApiError> {
    let tenant = &state.tenant;
    let token = bearer(headers).ok_or_else(|| ApiError::new(401, "unauthorized", "Missing authentication"))?;
    let ring = tenant.key_ring().map_err(|e| ApiError::new(500, "server_error", e.to_string()))?;
    let claims = ring
        .verify(token, &tenant.config.issuer, Some(&tenant.config.management_audience()))
        .map_err(|_| ApiError::new(401, "unauthorized", "Invalid token"))?;
    let granted = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
    if !granted.split_whitespace().any(|s| s == scope) {
        return Err(ApiError::new(403, "insufficient_scope", format!("Insufficient scope, expected any of: {scope}")));
    }
    Ok(claims)
}

#[derive(Deserialize)]
struct LogsQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    take: Option<usize>,
    #[serde(default)]
    per_page: Option<usize>,
    #[serde(default)]
    q: Option<String>,
}

/// `GET /api/v2/logs`: newest first; `from`+`take` checkpoint paging; `q=type:mfar` or `q=user_id:"..."`.
async fn get_logs(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<LogsQuery>) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, "read:logs")?;
    let mut types = Vec::new();
    let mut user_id = None;
    for term in query.q.as_deref().unwrap_or_default().split_whitespace() {
        if let Some(kind) = term.strip_prefix("type:") {
            types.push(kind.trim_matches('"').to_owned());
        } else if let Some(user) = term.strip_prefix("user_id:") {
            user_id = Some(user.trim_matches('"').to_owned());
        }
    }
    let take = query.take.or(query.per_page).unwrap_or(50).min(100);
    let entries = state
        .tenant
        .store
        .list_logs(&LogQuery { from: query.from, take, types, user_id })
        .await
        .map_err(|e| ApiError::new(500, "server_error", e.to_string()))?;
    Ok(Json(serde_json::to_value(entries).unwrap_or(Value::Array(Vec::new()))))
}

/// `GET /api/v2/keys/signing`: the signing keys (public parts).
async fn get_signing_keys(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, "read:signing_keys")?;
    let ring = state.tenant.key_ring().map_err(|e| ApiError::new(500, "server_error", e.to_string()))?;
    let active = ring.active().kid.clone();
    let keys: Vec<Value> = ring
        .keys()
        .map(|k| {
            serde_json::json!({
                "kid": k.kid,
                "current": k.kid == active,
                "revoked": false,
                "created_at": gatehouse_auth::clock::iso(k.created_at),
                "retired_at": k.retired_at.map(gatehouse_auth::clock::iso),
            })
        })
        .collect();
    Ok(Json(Value::Array(keys)))
}

/// `POST /api/v2/keys/signing/rotate`: a new active key; the previous one stays published until its tokens expire.
async fn post_rotate(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, "update:signing_keys")?;
    let tenant = &state.tenant;
    let mut ring = tenant.key_ring().map_err(|e| ApiError::new(500, "server_error", e.to_string()))?;
    let key = ring
        .rotate(tenant.store.as_ref(), gatehouse_auth::clock::now())
        .await
        .map_err(|e| ApiError::new(500, "server_error", e.to_string()))?;
    if let Ok(mut keys) = tenant.keys.write() {
        *keys = ring;
    }
    Ok(Json(serde_json::json!({ "kid": key.kid })))
}
