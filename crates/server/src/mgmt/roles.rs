//! `/api/v2/roles` (CRUD, permissions, users) and `/api/v2/users/{id}/roles` and `/permissions`, as Auth0 has them.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_auth::directory::roles::{self, Permission};
use gatehouse_auth::users;
use gatehouse_types::directory::Role;
use gatehouse_types::records::User;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, PageQuery, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/roles", get(list_roles).post(create_role))
        .route("/api/v2/roles/{id}", get(get_role).patch(patch_role).delete(delete_role))
        .route(
            "/api/v2/roles/{id}/permissions",
            get(get_role_permissions).post(post_role_permissions).delete(delete_role_permissions),
        )
        .route("/api/v2/roles/{id}/users", get(get_role_users).post(post_role_users))
        .route("/api/v2/users/{id}/roles", get(get_user_roles).post(post_user_roles).delete(delete_user_roles))
        .route("/api/v2/users/{id}/permissions", get(get_user_permissions))
}

/// A role as the Management API shows it.
pub(super) fn role_view(role: &Role) -> Value {
    json!({ "id": role.id, "name": role.name, "description": role.description })
}

/// A user in a role's or organization's member list.
pub(super) fn member_view(user: &User) -> Value {
    json!({ "user_id": user.user_id, "email": user.email, "name": user.name, "picture": user.picture })
}

fn permission_view(state: &AppState, p: &Permission) -> Value {
    let directory = state.tenant.directory();
    let api = directory.api(&p.resource_server_identifier);
    json!({
        "permission_name": p.permission_name,
        "description": api.and_then(|a| a.scope_descriptions.get(&p.permission_name)).cloned().unwrap_or_default(),
        "resource_server_name": api.map(|a| a.name.clone()).unwrap_or_default(),
        "resource_server_identifier": p.resource_server_identifier,
    })
}

#[derive(Deserialize)]
struct ListRolesQuery {
    #[serde(default)]
    name_filter: Option<String>,
}

/// `GET /api/v2/roles`: `name_filter` (case-insensitive substring), paginated.
async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListRolesQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:roles"])?;
    let filter = query.name_filter.as_deref().map(str::to_lowercase);
    let views = state
        .tenant
        .directory()
        .roles
        .iter()
        .filter(|r| filter.as_deref().is_none_or(|f| r.name.to_lowercase().contains(f)))
        .map(role_view)
        .collect();
    page.paginate(views, "roles")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /api/v2/roles`: `name` (unique), `description`.
async fn create_role(State(state): State<AppState>, caller: Caller, body: Bytes) -> Result<Json<Value>, MgmtError> {
    caller.require(&["create:roles"])?;
    let (body, raw): (RoleBody, Value) = parse_body(&body)?;
    let Some(name) = body.name else {
        return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: name'."));
    };
    let role = roles::create_role(&state.tenant, &name, body.description.as_deref().unwrap_or_default())
        .await
        .map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Create a role", None, Some(&raw), StatusCode::OK).await;
    Ok(Json(role_view(&role)))
}

/// `GET /api/v2/roles/{id}`.
async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:roles"])?;
    let role = roles::find_role(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    Ok(Json(role_view(&role)))
}

/// `PATCH /api/v2/roles/{id}`: a new name (users holding the role keep it) or description.
async fn patch_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:roles"])?;
    let (body, raw): (RoleBody, Value) = parse_body(&body)?;
    let role = roles::update_role(&state.tenant, &id, body.name.as_deref(), body.description.as_deref())
        .await
        .map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Update a role", None, Some(&raw), StatusCode::OK).await;
    Ok(Json(role_view(&role)))
}

/// `DELETE /api/v2/roles/{id}`: users and members lose the role.
async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:roles"])?;
    roles::delete_role(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Delete a role", None, None, StatusCode::OK).await;
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/roles/{id}/permissions`, paginated.
async fn get_role_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:roles"])?;
    let role = roles::find_role(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    let views = roles::permissions_of(&role).iter().map(|p| permission_view(&state, p)).collect();
    page.paginate(views, "permissions")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionsBody {
    permissions: Vec<PermissionBody>,
}

#[derive(Deserialize)]
struct PermissionBody {
    resource_server_identifier: String,
    permission_name: String,
}

impl PermissionsBody {
    fn list(self) -> Vec<Permission> {
        self.permissions
            .into_iter()
            .map(|p| Permission {
                resource_server_identifier: p.resource_server_identifier,
                permission_name: p.permission_name,
            })
            .collect()
    }
}

/// `POST /api/v2/roles/{id}/permissions`: `permissions: [{resource_server_identifier, permission_name}]`; 201.
async fn post_role_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["update:roles"])?;
    let (body, raw): (PermissionsBody, Value) = parse_body(&body)?;
    roles::change_permissions(&state.tenant, &id, &body.list(), true).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Associate permissions with a role", None, Some(&raw), StatusCode::CREATED).await;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /api/v2/roles/{id}/permissions`: the same body; 200.
async fn delete_role_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["update:roles"])?;
    let (body, raw): (PermissionsBody, Value) = parse_body(&body)?;
    roles::change_permissions(&state.tenant, &id, &body.list(), false).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Remove permissions from a role", None, Some(&raw), StatusCode::OK).await;
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/roles/{id}/users`: the users holding the role, paginated.
async fn get_role_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:roles", "read:role_members"])?;
    let holders = roles::users_with(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    page.paginate(holders.iter().map(member_view).collect(), "users")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersBody {
    users: Vec<String>,
}

/// `POST /api/v2/roles/{id}/users`: `users: [user ids]` get the role.
async fn post_role_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["update:roles", "create:role_members"])?;
    let (body, raw): (UsersBody, Value) = parse_body(&body)?;
    roles::find_role(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    for user_id in &body.users {
        roles::change_user_roles(&state.tenant, user_id, std::slice::from_ref(&id), true)
            .await
            .map_err(MgmtError::from_directory)?;
    }
    caller.log_success(&state, "Assign users to a role", None, Some(&raw), StatusCode::OK).await;
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/users/{id}/roles`, paginated.
async fn get_user_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:users", "read:roles"])?;
    let user = users::find_user(&state.tenant, &user_id).await.map_err(MgmtError::from_user)?;
    let directory = state.tenant.directory();
    let views = user.roles.iter().filter_map(|name| directory.role_named(name)).map(role_view).collect();
    page.paginate(views, "roles")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

/// `POST /api/v2/users/{id}/roles`: `roles: [role ids]`; 204.
async fn post_user_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    change_user_roles(state, caller, user_id, body, true).await
}

/// `DELETE /api/v2/users/{id}/roles`: `roles: [role ids]`; 204.
async fn delete_user_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    change_user_roles(state, caller, user_id, body, false).await
}

async fn change_user_roles(
    state: AppState,
    caller: Caller,
    user_id: String,
    body: Bytes,
    add: bool,
) -> Result<Response, MgmtError> {
    caller.require(&["update:users", "create:role_members"])?;
    let (body, raw): (RolesBody, Value) = parse_body(&body)?;
    let user =
        roles::change_user_roles(&state.tenant, &user_id, &body.roles, add).await.map_err(MgmtError::from_directory)?;
    let operation = if add { "Assign roles to a user" } else { "Removes roles from a user" };
    caller.log_success(&state, operation, Some(&user), Some(&raw), StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/users/{id}/permissions`: what the user's roles grant, each with the roles it comes from.
async fn get_user_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:users"])?;
    let user = users::find_user(&state.tenant, &user_id).await.map_err(MgmtError::from_user)?;
    let directory = state.tenant.directory();
    let mut found: Vec<(Permission, Vec<Value>)> = Vec::new();
    for role in user.roles.iter().filter_map(|name| directory.role_named(name)) {
        for permission in roles::permissions_of(role) {
            let source = json!({ "source_id": role.id, "source_name": role.name, "source_type": "ROLE" });
            match found.iter_mut().find(|(p, _)| *p == permission) {
                Some((_, sources)) => sources.push(source),
                None => found.push((permission, vec![source])),
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let views = found
        .into_iter()
        .map(|(permission, sources)| {
            let mut view = permission_view(&state, &permission);
            if let Some(map) = view.as_object_mut() {
                map.insert("sources".into(), Value::Array(sources));
            }
            view
        })
        .collect();
    page.paginate(views, "permissions")
}
