//! A user's MFA enrollments: `/api/v2/users/{id}/authentication-methods[/{method_id}]`, `.../authenticators` (reset),
//! `.../enrollments` (Guardian's view) and `.../recovery-code-regeneration`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_auth::users::{self, AuthenticationMethodPatch, NewAuthenticationMethod, UserError};
use gatehouse_types::records::User;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/users/{id}/authentication-methods",
            get(list_methods).post(create_method).delete(delete_all_methods),
        )
        .route(
            "/api/v2/users/{id}/authentication-methods/{method_id}",
            get(get_method).patch(patch_method).delete(delete_method),
        )
        .route("/api/v2/users/{id}/authenticators", delete(delete_authenticators))
        .route("/api/v2/users/{id}/enrollments", get(get_enrollments))
        .route("/api/v2/users/{id}/recovery-code-regeneration", post(regenerate_recovery_code))
}

async fn user(state: &AppState, id: &str) -> Result<User, MgmtError> {
    users::find_user(&state.tenant, id).await.map_err(MgmtError::from_user)
}

/// A failed operation on an authentication method of an existing user.
fn method_error(e: UserError) -> MgmtError {
    match e {
        UserError::NotFound(m) => MgmtError::new(StatusCode::NOT_FOUND, m, Some("inexistent_authentication_method")),
        UserError::Conflict(m) => MgmtError::new(StatusCode::CONFLICT, m, Some("conflict")),
        other => MgmtError::from_user(other),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
    #[serde(default)]
    include_totals: Option<String>,
}

/// `GET /api/v2/users/{id}/authentication-methods`: confirmed and pending methods, oldest first; with `page` or
/// `per_page` a page of them, and with `include_totals=true` `{start, limit, total, authenticators}`.
async fn list_methods(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:authentication_methods"])?;
    let user = user(&state, &id).await?;
    let all = state.tenant.store.find_authenticators(&user.user_id).await.map_err(MgmtError::internal)?;
    let views: Vec<Value> = all.iter().map(users::authentication_method_view).collect();
    let parse = |name: &str, value: Option<&str>| -> Result<Option<usize>, MgmtError> {
        value
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    MgmtError::bad_query(format!("Query validation error: 'Expected type integer' on property {name}."))
                })
            })
            .transpose()
    };
    let page = parse("page", query.page.as_deref())?;
    let per_page = parse("per_page", query.per_page.as_deref())?;
    let totals = query.include_totals.as_deref() == Some("true");
    if page.is_none() && per_page.is_none() && !totals {
        return Ok(Json(Value::Array(views)));
    }
    let limit = per_page.unwrap_or(50).clamp(1, 100);
    let start = page.unwrap_or(0).saturating_mul(limit);
    let total = views.len();
    let slice: Vec<Value> = views.into_iter().skip(start).take(limit).collect();
    if totals {
        return Ok(Json(json!({ "start": start, "limit": limit, "total": total, "authenticators": slice })));
    }
    Ok(Json(Value::Array(slice)))
}

/// `POST /api/v2/users/{id}/authentication-methods`: `{"type":"totp","totp_secret":...}`, `{"type":"email",
/// "email":...}` or `{"type":"phone","phone_number":...,"preferred_authentication_method":"sms"|"voice"}`; the
/// method is confirmed at once. 201 with the method; a secret the server generated is returned this once.
async fn create_method(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), MgmtError> {
    caller.require(&["create:authentication_methods"])?;
    let (new, raw): (NewAuthenticationMethod, Value) = parse_body(&body)?;
    let user = user(&state, &id).await?;
    let created = users::create_authentication_method(&state.tenant, &user, new).await.map_err(method_error)?;
    let mut view = users::authentication_method_view(&created.authenticator);
    if let (Some(secret), Some(map)) = (created.generated_secret, view.as_object_mut()) {
        map.insert("totp_secret".into(), Value::from(secret));
    }
    caller.log_success(&state, "Create an authentication method", Some(&user), Some(&raw), StatusCode::CREATED).await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/v2/users/{id}/authentication-methods/{method_id}`.
async fn get_method(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, method_id)): Path<(String, String)>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:authentication_methods"])?;
    let user = user(&state, &id).await?;
    let method = users::find_authentication_method(&state.tenant, &user, &method_id).await.map_err(method_error)?;
    Ok(Json(users::authentication_method_view(&method)))
}

/// `PATCH /api/v2/users/{id}/authentication-methods/{method_id}`: a phone's `preferred_authentication_method`.
async fn patch_method(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, method_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:authentication_methods"])?;
    let (patch, raw): (AuthenticationMethodPatch, Value) = parse_body(&body)?;
    let user = user(&state, &id).await?;
    let method =
        users::update_authentication_method(&state.tenant, &user, &method_id, patch).await.map_err(method_error)?;
    caller.log_success(&state, "Update an authentication method", Some(&user), Some(&raw), StatusCode::OK).await;
    Ok(Json(users::authentication_method_view(&method)))
}

/// `DELETE /api/v2/users/{id}/authentication-methods/{method_id}`: 204.
async fn delete_method(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, method_id)): Path<(String, String)>,
) -> Result<StatusCode, MgmtError> {
    caller.require(&["delete:authentication_methods"])?;
    let user = user(&state, &id).await?;
    users::delete_authentication_method(&state.tenant, &user, &method_id).await.map_err(method_error)?;
    caller.log_success(&state, "Delete an authentication method", Some(&user), None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v2/users/{id}/authentication-methods`: every method; 204.
async fn delete_all_methods(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, MgmtError> {
    caller.require(&["delete:authentication_methods"])?;
    let user = user(&state, &id).await?;
    users::reset_mfa(&state.tenant, &user).await.map_err(MgmtError::from_user)?;
    caller.log_success(&state, "Delete all authentication methods", Some(&user), None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v2/users/{id}/authenticators`: resets MFA (every enrollment, recovery code included); 204.
async fn delete_authenticators(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, MgmtError> {
    caller.require(&["delete:guardian_enrollments"])?;
    let user = user(&state, &id).await?;
    users::reset_mfa(&state.tenant, &user).await.map_err(MgmtError::from_user)?;
    caller.log_success(&state, "Delete all authenticators", Some(&user), None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v2/users/{id}/enrollments`: Guardian enrollments (authenticator apps and phones).
async fn get_enrollments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:users"])?;
    let user = user(&state, &id).await?;
    let all = state.tenant.store.find_authenticators(&user.user_id).await.map_err(MgmtError::internal)?;
    Ok(Json(Value::Array(all.iter().filter_map(users::enrollment_view).collect())))
}

/// `POST /api/v2/users/{id}/recovery-code-regeneration`: `{"recovery_code": "..."}`, shown this once; the previous
/// code stops working.
async fn regenerate_recovery_code(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:users"])?;
    let user = user(&state, &id).await?;
    let code = users::regenerate_recovery_code_if_enrolled(&state.tenant, &user).await.map_err(|e| match e {
        UserError::BadRequest(m) => MgmtError::new(StatusCode::BAD_REQUEST, m, Some("not_enrolled")),
        other => MgmtError::from_user(other),
    })?;
    caller.log_success(&state, "Generate new recovery code", Some(&user), None, StatusCode::OK).await;
    Ok(Json(json!({ "recovery_code": code })))
}
