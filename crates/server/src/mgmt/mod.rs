//! The Management API (`<issuer>api/v2/`): a bearer token from `client_credentials` with that audience, checked by
//! the [`Caller`] extractor, and errors in the Management API's own shape ([`MgmtError`]).

mod authentication_methods;
mod client_grants;
mod grants;
mod jobs;
mod organizations;
mod resource_servers;
mod roles;
mod tickets;
mod users;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::header::{USER_AGENT, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_auth::claims;
use gatehouse_auth::directory::DirectoryError;
use gatehouse_auth::users::UserError;
use gatehouse_store::LogQuery;
use gatehouse_types::JsonMap;
use gatehouse_types::records::User;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use crate::oidc::bearer;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/logs", get(get_logs))
        .route("/api/v2/keys/signing", get(get_signing_keys))
        .route("/api/v2/keys/signing/rotate", post(post_rotate))
        .merge(users::router())
        .merge(roles::router())
        .merge(organizations::router())
        .merge(client_grants::router())
        .merge(resource_servers::router())
        .merge(grants::router())
        .merge(jobs::router())
        .merge(tickets::router())
        .merge(authentication_methods::router())
}

/// An error of the Management API: `{"statusCode":404,"error":"Not Found","message":"...","errorCode":"..."}`.
#[derive(Debug)]
pub(crate) struct MgmtError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
    /// What failed behind a 500, for the log (written once by `error::log_failures`), never in the body.
    cause: Option<String>,
}

impl MgmtError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>, code: Option<&'static str>) -> Self {
        MgmtError { status, message: message.into(), code, cause: None }
    }

    /// 400 `invalid_body`.
    pub(crate) fn bad_body(message: impl Into<String>) -> Self {
        MgmtError::new(StatusCode::BAD_REQUEST, message, Some("invalid_body"))
    }

    /// 400 `invalid_query_string`.
    pub(crate) fn bad_query(message: impl Into<String>) -> Self {
        MgmtError::new(StatusCode::BAD_REQUEST, message, Some("invalid_query_string"))
    }

    /// 500; the cause goes to the server log only. 503 when the store cannot be reached for now.
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        let cause = e.to_string();
        let answer = if gatehouse_store::is_unavailable(&cause) {
            MgmtError::new(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable; try again.", None)
        } else {
            MgmtError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None)
        };
        MgmtError { cause: Some(cause), ..answer }
    }

    /// A failed change to roles, organizations, grants or APIs.
    pub(crate) fn from_directory(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound { code, message } => MgmtError::new(StatusCode::NOT_FOUND, message, Some(code)),
            DirectoryError::Conflict(m) => MgmtError::new(StatusCode::CONFLICT, m, Some("conflict")),
            DirectoryError::BadRequest(m) => MgmtError::bad_body(m),
            DirectoryError::Internal(m) => MgmtError::internal(m),
        }
    }

    /// A failed user operation, where "not found" means the user.
    pub(crate) fn from_user(e: UserError) -> Self {
        match e {
            UserError::NotFound(m) => MgmtError::new(StatusCode::NOT_FOUND, m, Some("inexistent_user")),
            UserError::Conflict(m) => MgmtError::new(StatusCode::CONFLICT, m, Some("auth0_idp_error")),
            UserError::BadRequest(m) => MgmtError::bad_body(m),
            UserError::Internal(m) => MgmtError::internal(m),
        }
    }
}

impl IntoResponse for MgmtError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        if let (Some(code), Some(map)) = (self.code, body.as_object_mut()) {
            map.insert("errorCode".into(), Value::from(code));
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(crate::error::FailureCause(cause));
        }
        response
    }
}

/// Who calls: a verified Management API token, and the request's facts for the tenant log.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    client_id: Option<String>,
    scopes: Vec<String>,
    ip: String,
    user_agent: Option<String>,
    method: String,
    path: String,
}

impl Caller {
    /// The caller's request facts, for the events and logs of what its call sets off.
    pub(crate) fn request_info(&self) -> gatehouse_auth::context::RequestInfo {
        gatehouse_auth::context::RequestInfo {
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            method: self.method.clone(),
            ..Default::default()
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = MgmtError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let tenant = &state.tenant;
        let token = bearer(&parts.headers)
            .ok_or_else(|| MgmtError::new(StatusCode::UNAUTHORIZED, "Missing authentication", None))?;
        let ring = tenant.key_ring().map_err(MgmtError::internal)?;
        let claims = ring
            .verify(token, &tenant.config.issuer, Some(&tenant.config.management_audience()))
            .map_err(|_| MgmtError::new(StatusCode::UNAUTHORIZED, "Invalid token", None))?;
        let scopes = claims::scopes_of(&claims);
        let client_id = claims
            .get("azp")
            .and_then(Value::as_str)
            .or_else(|| claims.get("sub").and_then(Value::as_str).and_then(|s| s.strip_suffix("@clients")))
            .map(str::to_owned);
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        Ok(Caller {
            client_id,
            scopes,
            ip,
            user_agent: parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
            method: parts.method.as_str().to_lowercase(),
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Caller {
    /// The token must carry one of `any` (Auth0: "Insufficient scope, expected any of: a,b").
    pub(crate) fn require(&self, any: &[&str]) -> Result<(), MgmtError> {
        if any.iter().any(|wanted| self.has(wanted)) {
            return Ok(());
        }
        Err(MgmtError::new(
            StatusCode::FORBIDDEN,
            format!("Insufficient scope, expected any of: {}", any.join(",")),
            Some("insufficient_scope"),
        ))
    }

    pub(crate) fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Writes the `sapi` ("Success API Operation") tenant log of a write: the operation, the endpoint, the request
    /// body with secrets redacted, the status answered, and the user operated on (`user_id`).
    pub(crate) async fn log_success(
        &self,
        state: &AppState,
        operation: &str,
        user: Option<&User>,
        body: Option<&Value>,
        status: StatusCode,
    ) {
        let mut request = JsonMap::new();
        request.insert("method".into(), Value::from(self.method.clone()));
        request.insert("path".into(), Value::from(self.path.clone()));
        if let Some(body) = body {
            request.insert("body".into(), redacted(body));
        }
        let mut details = JsonMap::new();
        details.insert("request".into(), Value::Object(request));
        details.insert("response".into(), json!({ "statusCode": status.as_u16() }));
        let client = self.client_id.as_deref().and_then(|id| state.tenant.config.client(id));
        let request_info = gatehouse_auth::context::RequestInfo {
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            ..Default::default()
        };
        let mut entry = gatehouse_auth::logs::entry("sapi", operation, &request_info, client, user);
        entry.client_id = self.client_id.clone();
        entry.details = details;
        state.tenant.log(entry).await;
    }
}

/// A request body for the log: passwords and secrets replaced.
fn redacted(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = matches!(k.as_str(), "password" | "totp_secret" | "recovery_code");
                    (k.clone(), if secret { Value::from("[redacted]") } else { v.clone() })
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Parses a JSON body into `T`, answering 400 in the Management API's words when it does not fit.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, Value), MgmtError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| MgmtError::bad_body("Invalid request payload JSON format"))?;
    if !value.is_object() {
        return Err(MgmtError::bad_body("Payload validation error: 'Expected type object but found type array'."));
    }
    let parsed = serde_json::from_value(value.clone()).map_err(|e| {
        let text = e.to_string();
        let message = match text.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            Some(field) => format!("Payload validation error: 'Additional properties not allowed: {field}'."),
            None => match text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
                Some(field) => format!("Payload validation error: 'Missing required property: {field}'."),
                None => format!("Payload validation error: '{text}'."),
            },
        };
        MgmtError::bad_body(message)
    })?;
    Ok((parsed, value))
}

/// `fields` and `include_fields` of read endpoints: keep (or drop) the listed properties.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct FieldsQuery {
    #[serde(default)]
    fields: Option<String>,
    #[serde(default)]
    include_fields: Option<String>,
}

impl FieldsQuery {
    pub(crate) fn apply(&self, view: Value) -> Value {
        let Some(fields) = self.fields.as_deref().filter(|f| !f.trim().is_empty()) else { return view };
        let listed: Vec<&str> = fields.split(',').map(str::trim).collect();
        let include = self.include_fields.as_deref() != Some("false");
        match view {
            Value::Object(map) => {
                Value::Object(map.into_iter().filter(|(k, _)| listed.contains(&k.as_str()) == include).collect())
            }
            other => other,
        }
    }
}

pub(crate) fn number(name: &str, value: Option<&str>, default: usize) -> Result<usize, MgmtError> {
    match value {
        None | Some("") => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            MgmtError::bad_query(format!(
                "Query validation error: 'Expected type integer but found type string' on property {name}."
            ))
        }),
    }
}

pub(crate) fn flag(name: &str, value: Option<&str>) -> Result<bool, MgmtError> {
    match value {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(MgmtError::bad_query(format!(
            "Query validation error: 'Expected type boolean but found type string' on property {name}."
        ))),
    }
}

/// Paging of Auth0's list endpoints: by offset, `page` (from 0), `per_page` (default 50, at most 100) and
/// `include_totals`; or by checkpoint, `take` (at most 100) and `from` (the `next` of the previous page), which the
/// organization, member and client-grant lists of Auth0's SDKs use.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
    #[serde(default)]
    include_totals: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    take: Option<String>,
}

impl PageQuery {
    /// One page of `items`: a plain array; with `include_totals=true` `{start, limit, total, <key>: [...]}`; by
    /// checkpoint `{<key>: [...], next}` (`next` only while more remain).
    pub(crate) fn paginate(&self, items: Vec<Value>, key: &str) -> Result<Json<Value>, MgmtError> {
        let checkpoint = self.from.is_some() || self.take.is_some();
        let (start, limit) = if checkpoint {
            let start = match self.from.as_deref() {
                None | Some("") => 0,
                Some(from) => from.parse().map_err(|_| {
                    MgmtError::bad_query("Query validation error: 'from' is not a checkpoint this API returned.")
                })?,
            };
            (start, number("take", self.take.as_deref(), 50)?)
        } else {
            let page = number("page", self.page.as_deref(), 0)?;
            let per_page = number("per_page", self.per_page.as_deref(), 50)?;
            (page.saturating_mul(per_page), per_page)
        };
        if limit == 0 || limit > 100 {
            return Err(MgmtError::bad_query(
                "Query validation error: 'per_page' must be between 1 and 100 (Number of results per page).",
            ));
        }
        let total = items.len();
        let shown: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
        let mut body = if checkpoint {
            let end = start.saturating_add(shown.len());
            if end < total { json!({ "next": end.to_string() }) } else { json!({}) }
        } else if flag("include_totals", self.include_totals.as_deref())? {
            json!({ "start": start, "limit": limit, "total": total })
        } else {
            return Ok(Json(Value::Array(shown)));
        };
        if let Some(map) = body.as_object_mut() {
            map.insert(key.to_owned(), Value::Array(shown));
        }
        Ok(Json(body))
    }
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
async fn get_logs(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<LogsQuery>,
) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:logs"])?;
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
        .map_err(MgmtError::internal)?;
    Ok(Json(serde_json::to_value(entries).unwrap_or(Value::Array(Vec::new()))))
}

/// `GET /api/v2/keys/signing`: the signing keys (public parts).
async fn get_signing_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, MgmtError> {
    caller.require(&["read:signing_keys"])?;
    let ring = state.tenant.key_ring().map_err(MgmtError::internal)?;
    let active = ring.active().kid.clone();
    let keys: Vec<Value> = ring
        .keys()
        .map(|k| {
            json!({
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
async fn post_rotate(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, MgmtError> {
    caller.require(&["update:signing_keys"])?;
    let tenant = &state.tenant;
    let mut ring = tenant.key_ring().map_err(MgmtError::internal)?;
    let key = ring.rotate(tenant.store.as_ref(), tenant.now()).await.map_err(MgmtError::internal)?;
    if let Ok(mut keys) = tenant.keys.write() {
        *keys = ring;
    }
    caller.log_success(&state, "Rotate the Application Signing Key", None, None, StatusCode::OK).await;
    Ok(Json(json!({ "kid": key.kid })))
}
