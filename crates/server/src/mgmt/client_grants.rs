//! `/api/v2/client-grants`: which API a machine-to-machine client may call, with which scopes and organizations.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use gatehouse_auth::directory::client_grants::{self, GrantChange};
use gatehouse_types::config::OrganizationUsage;
use gatehouse_types::directory::ClientGrant;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, PageQuery, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/client-grants", get(list_grants).post(create_grant))
        .route("/api/v2/client-grants/{id}", patch(patch_grant).delete(delete_grant))
        .route("/api/v2/client-grants/{id}/organizations", get(get_grant_organizations))
}

/// A client grant as the Management API shows it.
pub(super) fn grant_view(grant: &ClientGrant) -> Value {
    json!({
        "id": grant.id,
        "client_id": grant.client_id,
        "audience": grant.audience,
        "scope": grant.scope,
        "organization_usage": grant.organization_usage,
        "allow_any_organization": grant.allow_any_organization,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    allow_any_organization: Option<String>,
}

/// `GET /api/v2/client-grants`: `audience`, `client_id`, `allow_any_organization` filters, paginated.
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:client_grants"])?;
    let any = super::flag("allow_any_organization", query.allow_any_organization.as_deref())?;
    let views = state
        .tenant
        .directory()
        .client_grants
        .iter()
        .filter(|g| query.audience.as_deref().is_none_or(|a| g.audience == a))
        .filter(|g| query.client_id.as_deref().is_none_or(|c| g.client_id == c))
        .filter(|g| query.allow_any_organization.is_none() || g.allow_any_organization == any)
        .map(grant_view)
        .collect();
    page.paginate(views, "client_grants")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    scope: Option<Vec<String>>,
    #[serde(default)]
    organization_usage: Option<OrganizationUsage>,
    #[serde(default)]
    allow_any_organization: Option<bool>,
}

impl GrantBody {
    fn change(&self) -> GrantChange {
        GrantChange {
            scope: self.scope.clone(),
            organization_usage: self.organization_usage,
            allow_any_organization: self.allow_any_organization,
        }
    }
}

/// `POST /api/v2/client-grants`: `client_id`, `audience`, `scope`, `organization_usage`, `allow_any_organization`;
/// 201, or 409 when the client has a grant for that API.
async fn create_grant(State(state): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, MgmtError> {
    caller.require(&["create:client_grants"])?;
    let (body, raw): (GrantBody, Value) = parse_body(&body)?;
    let (Some(client_id), Some(audience)) = (body.client_id.as_deref(), body.audience.as_deref()) else {
        let missing = if body.client_id.is_none() { "client_id" } else { "audience" };
        return Err(MgmtError::bad_body(format!("Payload validation error: 'Missing required property: {missing}'.")));
    };
    if body.scope.is_none() {
        return Err(MgmtError::bad_body("Payload validation error: 'Missing required property: scope'."));
    }
    let grant = client_grants::create_grant(&state.tenant, client_id, audience, body.change())
        .await
        .map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Create client grant", None, Some(&raw), StatusCode::CREATED).await;
    Ok((StatusCode::CREATED, Json(grant_view(&grant))).into_response())
}

/// `PATCH /api/v2/client-grants/{id}`: `scope`, `organization_usage`, `allow_any_organization`.
async fn patch_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:client_grants"])?;
    let (body, raw): (GrantBody, Value) = parse_body(&body)?;
    if body.client_id.is_some() || body.audience.is_some() {
        return Err(MgmtError::bad_body("Payload validation error: a grant's client_id and audience do not change."));
    }
    let grant =
        client_grants::update_grant(&state.tenant, &id, body.change()).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Update client grant", None, Some(&raw), StatusCode::OK).await;
    Ok(Json(grant_view(&grant)))
}

/// `DELETE /api/v2/client-grants/{id}`; 204.
async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require(&["delete:client_grants"])?;
    client_grants::delete_grant(&state.tenant, &id).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Delete client grant", None, None, StatusCode::NO_CONTENT).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/client-grants/{id}/organizations`: the organizations the grant may get tokens for, paginated.
async fn get_grant_organizations(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:organization_client_grants"])?;
    let grant = client_grants::find_grant(&state.tenant, &id).map_err(MgmtError::from_directory)?;
    let directory = state.tenant.directory();
    let views = grant
        .organizations
        .iter()
        .filter_map(|o| directory.organization(o))
        .map(super::organizations::organization_view)
        .collect();
    page.paginate(views, "organizations")
}
