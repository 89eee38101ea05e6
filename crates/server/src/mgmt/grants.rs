//! `/api/v2/grants`: the consents users gave applications. Revoking one makes the next login ask again.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use gatehouse_auth::directory::consents;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, PageQuery};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/grants", get(list_grants).delete(delete_user_grants))
        .route("/api/v2/grants/{id}", delete(delete_grant))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    audience: Option<String>,
}

/// `GET /api/v2/grants`: `user_id`, `client_id`, `audience` filters, paginated; each `{id, clientID, user_id,
/// audience, scope}` as Auth0 spells it.
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:grants"])?;
    let found = consents::list_consents(
        &state.tenant,
        query.user_id.as_deref(),
        query.client_id.as_deref(),
        query.audience.as_deref(),
    )
    .await
    .map_err(MgmtError::from_directory)?;
    let views = found
        .iter()
        .map(|c| json!({ "id": c.id, "clientID": c.client_id, "user_id": c.user_id, "audience": c.audience, "scope": c.scope }))
        .collect();
    page.paginate(views, "grants")
}

/// `DELETE /api/v2/grants/{id}`; 204.
async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:grants"])?;
    consents::delete_consent(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Delete a grant", None, None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    user_id: Option<String>,
}

/// `DELETE /api/v2/grants?user_id=...`: every consent of a user; 204.
async fn delete_user_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DeleteQuery>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:grants"])?;
    let Some(user_id) = query.user_id.filter(|u| !u.is_empty()) else {
        return Err(MgmtError::bad_query("Query validation error: 'Missing required property: user_id'."));
    };
    consents::delete_user_consents(&state.tenant, &user_id).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Delete grants of a user", None, None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
