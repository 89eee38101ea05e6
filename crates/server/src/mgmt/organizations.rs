//! `/api/v2/organizations`: CRUD, members, members' roles, enabled connections and client grants, as Auth0 has
//! them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use gatehouse_auth::directory::organizations::{self, OrganizationChange};
use gatehouse_auth::event::DATABASE_CONNECTION;
use gatehouse_types::directory::{EnabledConnection, Organization};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client_grants::grant_view;
use super::roles::{member_view, role_view};
use super::{Caller, MgmtError, PageQuery, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/organizations", get(list_organizations).post(create_organization))
        .route("/api/v2/organizations/name/{name}", get(get_organization_by_name))
        .route(
            "/api/v2/organizations/{id}",
            get(get_organization).patch(patch_organization).delete(delete_organization),
        )
        .route("/api/v2/organizations/{id}/members", get(get_members).post(post_members).delete(delete_members))
        .route(
            "/api/v2/organizations/{id}/members/{user_id}/roles",
            get(get_member_roles).post(post_member_roles).delete(delete_member_roles),
        )
        .route("/api/v2/organizations/{id}/enabled_connections", get(get_connections).post(post_connection))
        .route(
            "/api/v2/organizations/{id}/enabled_connections/{connection_id}",
            get(get_connection).patch(post_connection_patch).delete(delete_connection),
        )
        .route("/api/v2/organizations/{id}/client-grants", get(get_client_grants).post(post_client_grant))
        .route("/api/v2/organizations/{id}/client-grants/{grant_id}", delete(delete_client_grant))
}

/// An organization as the Management API shows it.
pub(super) fn organization_view(org: &Organization) -> Value {
    json!({ "id": org.id, "name": org.name, "display_name": org.display_name, "metadata": org.metadata })
}

fn connection_view(c: &EnabledConnection) -> Value {
    json!({
        "connection_id": c.connection_id,
        "assign_membership_on_login": c.assign_membership_on_login,
        "connection": { "name": DATABASE_CONNECTION, "strategy": "auth0" },
    })
}

fn fail(e: gatehouse_auth::directory::DirectoryError) -> MgmtError {
    MgmtError::from_directory(e)
}

/// `GET /api/v2/organizations`, paginated.
async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organizations"])?;
    let mut views: Vec<Value> = state.tenant.directory().organizations.iter().map(organization_view).collect();
    views.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    page.paginate(views, "organizations")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    enabled_connections: Option<Vec<ConnectionBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionBody {
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    assign_membership_on_login: Option<bool>,
}

impl OrganizationBody {
    fn change(&self) -> OrganizationChange {
        OrganizationChange {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// `POST /api/v2/organizations`: `name`, `display_name`, `metadata`, `enabled_connections`; 201.
async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["create:organizations"])?;
    let (body, raw): (OrganizationBody, Value) = parse_body(&body)?;
    let mut connections = Vec::new();
    for c in body.enabled_connections.iter().flatten() {
        let Some(connection_id) = c.connection_id.clone() else {
            return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: connection_id'."));
        };
        connections.push(EnabledConnection {
            connection_id,
            assign_membership_on_login: c.assign_membership_on_login.unwrap_or(false),
        });
    }
    let org = organizations::create_organization(&state.tenant, body.change(), connections).await.map_err(fail)?;
    caller.log_success(&state, "Create an Organization", None, Some(&raw), StatusCode::CREATED).await;
    Ok((StatusCode::CREATED, Json(organization_view(&org))).into_response())
}

/// `GET /api/v2/organizations/{id}`.
async fn get_organization(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organizations"])?;
    let org = organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    Ok(Json(organization_view(&org)))
}

/// `GET /api/v2/organizations/name/{name}`.
async fn get_organization_by_name(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organizations"])?;
    let org = organizations::find_organization_by_name(&state.tenant, &name).await.map_err(fail)?;
    Ok(Json(organization_view(&org)))
}

/// `PATCH /api/v2/organizations/{id}`: `name`, `display_name`, `metadata`.
async fn patch_organization(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:organizations"])?;
    let (body, raw): (OrganizationBody, Value) = parse_body(&body)?;
    if body.enabled_connections.is_some() {
        return Err(MgmtError::bad_body(
            "Payload validation error: 'Additional properties not allowed: enabled_connections'.",
        ));
    }
    let org = organizations::update_organization(&state.tenant, &id, body.change()).await.map_err(fail)?;
    caller.log_success(&state, "Update an Organization", None, Some(&raw), StatusCode::OK).await;
    Ok(Json(organization_view(&org)))
}

/// `DELETE /api/v2/organizations/{id}`: with its memberships; 204.
async fn delete_organization(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:organizations"])?;
    organizations::delete_organization(&state.tenant, &id).await.map_err(fail)?;
    caller.log_success(&state, "Delete an Organization", None, None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/organizations/{id}/members`, paginated.
async fn get_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organization_members"])?;
    let members = organizations::members(&state.tenant, &id).await.map_err(fail)?;
    let mut views = Vec::with_capacity(members.len());
    for m in &members {
        if let Some(user) = state.tenant.store.find_user(&m.user_id).await.map_err(MgmtError::internal)? {
            views.push(member_view(&user));
        }
    }
    page.paginate(views, "members")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersBody {
    members: Vec<String>,
}

/// `POST /api/v2/organizations/{id}/members`: `members: [user ids]`; 204.
async fn post_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["create:organization_members"])?;
    let (body, raw): (MembersBody, Value) = parse_body(&body)?;
    organizations::add_members(&state.tenant, &id, &body.members).await.map_err(fail)?;
    caller.log_success(&state, "Add members to an Organization", None, Some(&raw), StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v2/organizations/{id}/members`: `members: [user ids]`; 204.
async fn delete_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:organization_members"])?;
    let (body, raw): (MembersBody, Value) = parse_body(&body)?;
    organizations::remove_members(&state.tenant, &id, &body.members).await.map_err(fail)?;
    caller.log_success(&state, "Delete members from an Organization", None, Some(&raw), StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/organizations/{id}/members/{user_id}/roles`, paginated.
async fn get_member_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organization_member_roles"])?;
    let names = organizations::member_roles(&state.tenant, &id, &user_id).await.map_err(fail)?;
    let directory = state.tenant.directory();
    let views = names.iter().filter_map(|n| directory.role_named(n)).map(role_view).collect();
    page.paginate(views, "roles")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

/// `POST /api/v2/organizations/{id}/members/{user_id}/roles`: `roles: [role ids]`; 204.
async fn post_member_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["create:organization_member_roles"])?;
    let (body, raw): (RolesBody, Value) = parse_body(&body)?;
    organizations::change_member_roles(&state.tenant, &id, &user_id, &body.roles, true).await.map_err(fail)?;
    caller
        .log_success(&state, "Assign roles to an Organization member", None, Some(&raw), StatusCode::NO_CONTENT)
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v2/organizations/{id}/members/{user_id}/roles`: `roles: [role ids]`; 204.
async fn delete_member_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:organization_member_roles"])?;
    let (body, raw): (RolesBody, Value) = parse_body(&body)?;
    organizations::change_member_roles(&state.tenant, &id, &user_id, &body.roles, false).await.map_err(fail)?;
    caller
        .log_success(&state, "Delete roles from an Organization member", None, Some(&raw), StatusCode::NO_CONTENT)
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/organizations/{id}/enabled_connections`, paginated.
async fn get_connections(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organization_connections"])?;
    let org = organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    page.paginate(org.enabled_connections.iter().map(connection_view).collect(), "enabled_connections")
}

/// `GET /api/v2/organizations/{id}/enabled_connections/{connection_id}`.
async fn get_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, connection_id)): Path<(String, String)>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organization_connections"])?;
    let org = organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    let connection = organizations::enabled_connection(&org, &connection_id).map_err(fail)?;
    Ok(Json(connection_view(connection)))
}

/// `POST /api/v2/organizations/{id}/enabled_connections`: `connection_id` (the database connection,
/// `con_gatehouse_database`), `assign_membership_on_login`; 201.
async fn post_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["create:organization_connections"])?;
    let (body, raw): (ConnectionBody, Value) = parse_body(&body)?;
    let Some(connection_id) = body.connection_id else {
        return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: connection_id'."));
    };
    let connection = EnabledConnection {
        connection_id,
        assign_membership_on_login: body.assign_membership_on_login.unwrap_or(false),
    };
    organizations::enable_connection(&state.tenant, &id, connection.clone()).await.map_err(fail)?;
    caller.log_success(&state, "Add connections to an Organization", None, Some(&raw), StatusCode::CREATED).await;
    Ok((StatusCode::CREATED, Json(connection_view(&connection))).into_response())
}

/// `PATCH /api/v2/organizations/{id}/enabled_connections/{connection_id}`: `assign_membership_on_login`.
async fn post_connection_patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, connection_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:organization_connections"])?;
    let (body, raw): (ConnectionBody, Value) = parse_body(&body)?;
    let org = organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    organizations::enabled_connection(&org, &connection_id).map_err(fail)?;
    let connection = EnabledConnection {
        connection_id,
        assign_membership_on_login: body.assign_membership_on_login.unwrap_or(false),
    };
    organizations::enable_connection(&state.tenant, &id, connection.clone()).await.map_err(fail)?;
    caller.log_success(&state, "Update an Organization connection", None, Some(&raw), StatusCode::OK).await;
    Ok(Json(connection_view(&connection)))
}

/// `DELETE /api/v2/organizations/{id}/enabled_connections/{connection_id}`; 204.
async fn delete_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, connection_id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:organization_connections"])?;
    organizations::disable_connection(&state.tenant, &id, &connection_id).await.map_err(fail)?;
    caller.log_success(&state, "Delete connections from an Organization", None, None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/organizations/{id}/client-grants`: the grants that may get tokens for it, paginated.
async fn get_client_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organization_client_grants"])?;
    organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    let views = state
        .tenant
        .directory()
        .client_grants
        .iter()
        .filter(|g| g.organizations.contains(&id))
        .map(grant_view)
        .collect();
    page.paginate(views, "client_grants")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantIdBody {
    grant_id: String,
}

/// `POST /api/v2/organizations/{id}/client-grants`: `grant_id`; 201 with the grant.
async fn post_client_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require(&["create:organization_client_grants"])?;
    let (body, raw): (GrantIdBody, Value) = parse_body(&body)?;
    organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    organizations::set_grant_organization(&state.tenant, &body.grant_id, &id, true).await.map_err(fail)?;
    let directory = state.tenant.directory();
    let grant = directory.client_grants.iter().find(|g| g.id == body.grant_id).map(grant_view).unwrap_or_default();
    caller
        .log_success(&state, "Associate a client grant with an Organization", None, Some(&raw), StatusCode::CREATED)
        .await;
    Ok((StatusCode::CREATED, Json(grant)).into_response())
}

/// `DELETE /api/v2/organizations/{id}/client-grants/{grant_id}`; 204.
async fn delete_client_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, grant_id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:organization_client_grants"])?;
    organizations::find_organization(&state.tenant, &id).await.map_err(fail)?;
    organizations::set_grant_organization(&state.tenant, &grant_id, &id, false).await.map_err(fail)?;
    caller.log_success(&state, "Remove a client grant from an Organization", None, None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
