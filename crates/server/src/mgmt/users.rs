//! `/api/v2/users`, `/api/v2/users/{id}` and `/api/v2/users-by-email`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_auth::users::{self, NewUser, UserPatch, UserSearch};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, FieldsQuery, MgmtError, flag, number, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/users", get(list_users).post(create_user))
        .route("/api/v2/users/{id}", get(get_user).patch(patch_user).delete(delete_user))
        .route("/api/v2/users-by-email", get(users_by_email))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
    #[serde(default)]
    include_totals: Option<String>,
    #[serde(default)]
    search_engine: Option<String>,
    #[serde(flatten)]
    fields: FieldsQuery,
}

/// `GET /api/v2/users`: `q` (a subset of Auth0's search syntax, see `gatehouse_auth::users::UserQuery`), `email`,
/// `connection`, `sort`, `page` (from 0), `per_page` (default 50, at most 100), `include_totals`, `fields`.
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:users"])?;
    if let Some(engine) = query.search_engine.as_deref()
        && !matches!(engine, "v2" | "v3")
    {
        return Err(MgmtError::bad_query(format!(
            "Query validation error: unsupported search_engine {engine}; use v3."
        )));
    }
    let search = UserSearch {
        q: query.q.clone(),
        email: query.email.clone(),
        connection: query.connection.clone(),
        sort: query.sort.clone(),
        page: number("page", query.page.as_deref(), 0)?,
        per_page: number("per_page", query.per_page.as_deref(), 50)?,
    };
    if search.per_page == 0 || search.per_page > 100 {
        return Err(MgmtError::bad_query(
            "Query validation error: 'per_page' must be between 1 and 100 (Number of results per page).",
        ));
    }
    let page = users::search_users(&state.tenant, &search).await.map_err(|e| match e {
        users::UserError::BadRequest(m) => MgmtError::bad_query(m),
        other => MgmtError::from_user(other),
    })?;
    let views: Vec<Value> = page.users.iter().map(|u| query.fields.apply(users::user_view(u))).collect();
    if flag("include_totals", query.include_totals.as_deref())? {
        return Ok(Json(json!({
            "start": page.start,
            "limit": page.limit,
            "length": views.len(),
            "total": page.total,
            "users": views,
        })));
    }
    Ok(Json(Value::Array(views)))
}

/// `POST /api/v2/users`: `connection` (`Username-Password-Authentication`), `email`, `password` and the profile;
/// 201 with the user.
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), MgmtError> {
    caller.require(&["create:users"])?;
    let (new, raw): (NewUser, Value) = parse_body(&body)?;
    if new.connection.as_deref().is_none_or(str::is_empty) {
        return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: connection'."));
    }
    if new.email.is_empty() {
        return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: email'."));
    }
    let user = users::create_user(&state.tenant, new).await.map_err(MgmtError::from_user)?;
    caller.log_success(&state, "Create a User", Some(&user), Some(&raw), StatusCode::CREATED).await;
    Ok((StatusCode::CREATED, Json(users::user_view(&user))))
}

/// `GET /api/v2/users/{id}`.
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(fields): Query<FieldsQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:users"])?;
    let user = users::find_user(&state.tenant, &id).await.map_err(MgmtError::from_user)?;
    Ok(Json(fields.apply(users::user_view(&user))))
}

/// `PATCH /api/v2/users/{id}`: metadata is merged one level deep (`null` removes a key). With only
/// `update:users_app_metadata`, only `app_metadata` and `user_metadata` may change.
async fn patch_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:users", "update:users_app_metadata"])?;
    let (patch, raw): (UserPatch, Value) = parse_body(&body)?;
    if !caller.has("update:users")
        && raw.as_object().is_some_and(|m| m.keys().any(|k| k != "app_metadata" && k != "user_metadata"))
    {
        return Err(MgmtError::new(
            StatusCode::FORBIDDEN,
            "Insufficient scope, expected any of: update:users",
            Some("insufficient_scope"),
        ));
    }
    let password_changed = patch.password.is_some();
    let user = users::update_user(&state.tenant, &id, patch).await.map_err(MgmtError::from_user)?;
    caller.log_success(&state, "Update a User", Some(&user), Some(&raw), StatusCode::OK).await;
    if password_changed {
        // post-change-password runs for a change through the Management API too, after the answer.
        let after = gatehouse_auth::account::password_reset::AfterPasswordChange {
            user: user.clone(),
            lang: "en".to_owned(),
            request: caller.request_info(),
        };
        gatehouse_auth::account::jobs::start(state.tenant.clone(), after.into()).await;
    }
    Ok(Json(users::user_view(&user)))
}

/// `DELETE /api/v2/users/{id}`: the user, their enrollments, sessions and refresh tokens; 204.
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, MgmtError> {
    caller.require(&["delete:users"])?;
    let user = users::find_user(&state.tenant, &id).await.map_err(MgmtError::from_user)?;
    users::delete_user(&state.tenant, &user.user_id).await.map_err(MgmtError::from_user)?;
    caller.log_success(&state, "Delete a User", Some(&user), None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ByEmailQuery {
    #[serde(default)]
    email: Option<String>,
    #[serde(flatten)]
    fields: FieldsQuery,
}

/// `GET /api/v2/users-by-email?email=`: an array (empty when nobody has the address).
async fn users_by_email(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ByEmailQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:users"])?;
    let Some(email) = query.email.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Err(MgmtError::bad_query("Query validation error: 'Missing required property: email'."));
    };
    let found = users::find_users_by_email(&state.tenant, email).await.map_err(MgmtError::from_user)?;
    Ok(Json(Value::Array(found.iter().map(|u| query.fields.apply(users::user_view(u))).collect())))
}
