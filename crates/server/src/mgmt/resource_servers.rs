//! `/api/v2/resource-servers`: the APIs and their settings (RBAC, token dialect, refresh tokens, consent).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_auth::directory::resource_servers::{self, ApiChange, api_id};
use gatehouse_types::config::{ApiConfig, TokenDialect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, PageQuery, parse_body};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/resource-servers", get(list_apis))
        .route("/api/v2/resource-servers/{id}", get(get_api).patch(patch_api))
}

fn api_view(api: &ApiConfig) -> Value {
    let scopes: Vec<Value> = api
        .scopes
        .iter()
        .map(|s| json!({ "value": s, "description": api.scope_descriptions.get(s).cloned().unwrap_or_default() }))
        .collect();
    json!({
        "id": api_id(&api.identifier),
        "name": api.name,
        "identifier": api.identifier,
        "scopes": scopes,
        "signing_alg": "RS256",
        "token_lifetime": api.token_lifetime,
        "enforce_policies": api.enforce_policies,
        "token_dialect": api.dialect(),
        "allow_offline_access": api.allow_offline_access,
        "skip_consent_for_verifiable_first_party_clients": api.skip_consent_for_verifiable_first_party_clients,
        "is_system": false,
    })
}

/// `GET /api/v2/resource-servers`, paginated.
async fn list_apis(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:resource_servers"])?;
    page.paginate(state.tenant.directory().apis.iter().map(api_view).collect(), "resource_servers")
}

/// `GET /api/v2/resource-servers/{id}`: by id or identifier.
async fn get_api(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:resource_servers"])?;
    let api = resource_servers::find_api(&state.tenant, &id).map_err(MgmtError::from_directory)?;
    Ok(Json(api_view(&api)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<ScopeBody>>,
    #[serde(default)]
    token_lifetime: Option<u64>,
    #[serde(default)]
    enforce_policies: Option<bool>,
    #[serde(default)]
    token_dialect: Option<TokenDialect>,
    #[serde(default)]
    allow_offline_access: Option<bool>,
    #[serde(default)]
    skip_consent_for_verifiable_first_party_clients: Option<bool>,
    #[serde(default)]
    signing_alg: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    value: String,
    #[serde(default)]
    description: String,
}

/// `PATCH /api/v2/resource-servers/{id}`: name, scopes, token lifetime, RBAC, dialect, refresh, consent.
async fn patch_api(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:resource_servers"])?;
    let (body, raw): (ApiBody, Value) = parse_body(&body)?;
    if body.signing_alg.as_deref().is_some_and(|alg| alg != "RS256") {
        return Err(MgmtError::bad_body("Payload validation error: Gatehouse signs access tokens with RS256 only."));
    }
    let change = ApiChange {
        name: body.name,
        scopes: body.scopes.map(|s| s.into_iter().map(|s| (s.value, s.description)).collect()),
        token_lifetime: body.token_lifetime,
        enforce_policies: body.enforce_policies,
        token_dialect: body.token_dialect,
        allow_offline_access: body.allow_offline_access,
        skip_consent_for_verifiable_first_party_clients: body.skip_consent_for_verifiable_first_party_clients,
    };
    let api = resource_servers::update_api(&state.tenant, &id, change).await.map_err(MgmtError::from_directory)?;
    caller.log_success(&state, "Update a resource server", None, Some(&raw), StatusCode::OK).await;
    Ok(Json(api_view(&api)))
}
