//! The browser side: `/authorize`, the hosted login and MFA pages, `/continue` and `/v2/logout`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use gatehouse_auth::login::step::{AuthStep, CookieChange, ErrorPage, LoginResponse};
use gatehouse_auth::login::{Login, end_session, language};
use gatehouse_types::{FactorType, JsonMap};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::pages::render;
use crate::request::Client;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(get_authorize))
        .route("/u/login", get(get_page).post(post_login))
        .route("/u/mfa", get(get_page).post(post_code))
        .route("/u/mfa/choose", post(post_choose))
        .route("/u/mfa/resend", post(post_resend))
        .route("/u/mfa/phone", post(post_phone))
        .route("/u/organization", post(post_organization))
        .route("/u/organization-name", post(post_organization_name))
        .route("/u/consent", post(post_consent))
        .route("/u/mfa/recovery-saved", post(post_recovery_saved))
        .route("/continue", get(get_continue).post(post_continue))
        .route("/v2/logout", get(get_logout))
}

fn to_json_map(params: HashMap<String, String>) -> JsonMap {
    params.into_iter().map(|(k, v)| (k, Value::from(v))).collect()
}

async fn get_authorize(
    State(state): State<AppState>,
    client: Client,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.authorize(&to_json_map(query)).await), &state.site())
}

#[derive(Deserialize)]
struct StateQuery {
    #[serde(default)]
    state: String,
}

async fn get_page(State(state): State<AppState>, client: Client, Query(query): Query<StateQuery>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.show(&query.state).await), &state.site())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn post_login(State(state): State<AppState>, client: Client, Form(form): Form<LoginForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(
        login.with_start_again(login.submit_credentials(&form.state, &form.csrf, &form.email, &form.password).await),
        &state.site(),
    )
}

#[derive(Deserialize)]
struct MfaForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    factor: Option<String>,
    /// Phone: `text` or `voice`.
    #[serde(default)]
    method: Option<String>,
    /// Phone enrollment: the number as typed.
    #[serde(default)]
    phone_number: String,
    /// The organization picked.
    #[serde(default)]
    organization: String,
    /// The organization's name typed before the login (`pre_login_prompt`).
    #[serde(default)]
    organization_name: String,
    /// Consent: `accept` or `deny`.
    #[serde(default)]
    action: String,
}

async fn post_code(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.submit_code(&form.state, &form.csrf, &form.code).await), &state.site())
}

async fn post_choose(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    let factor = form.factor.as_deref().and_then(FactorType::parse);
    render(login.with_start_again(login.choose_factor(&form.state, &form.csrf, factor).await), &state.site())
}

async fn post_resend(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.resend(&form.state, &form.csrf, form.method.as_deref()).await), &state.site())
}

async fn post_organization(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(
        login.with_start_again(login.choose_organization(&form.state, &form.csrf, &form.organization).await),
        &state.site(),
    )
}

async fn post_organization_name(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(
        login.with_start_again(login.name_organization(&form.state, &form.csrf, &form.organization_name).await),
        &state.site(),
    )
}

async fn post_consent(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(
        login.with_start_again(login.answer_consent(&form.state, &form.csrf, form.action == "accept").await),
        &state.site(),
    )
}

async fn post_phone(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    let answer = login.enroll_phone(&form.state, &form.csrf, &form.phone_number, form.method.as_deref()).await;
    render(login.with_start_again(answer), &state.site())
}

async fn post_recovery_saved(State(state): State<AppState>, client: Client, Form(form): Form<MfaForm>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.acknowledge_recovery(&form.state, &form.csrf).await), &state.site())
}

async fn resume(
    state: &AppState,
    client: &Client,
    query: HashMap<String, String>,
    body: HashMap<String, String>,
) -> Response {
    let handle = query.get("state").or_else(|| body.get("state")).cloned().unwrap_or_default();
    if handle.is_empty() {
        let lang = language(&[], client.info.accept_language.as_deref());
        let page = AuthStep::Error(ErrorPage {
            lang,
            title: "invalid_request".into(),
            detail: "Missing state parameter on /continue.".into(),
            start_again: state.tenant.config.default_redirection_uri.clone(),
        });
        return render(LoginResponse::new(page), &state.site());
    }
    let login = Login::new(client.ctx(state), &client.cookies);
    render(
        login.with_start_again(login.continue_redirect(&handle, to_json_map(query), to_json_map(body)).await),
        &state.site(),
    )
}

async fn get_continue(
    State(state): State<AppState>,
    client: Client,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    resume(&state, &client, query, HashMap::new()).await
}

async fn post_continue(
    State(state): State<AppState>,
    client: Client,
    Query(query): Query<HashMap<String, String>>,
    Form(body): Form<HashMap<String, String>>,
) -> Response {
    resume(&state, &client, query, body).await
}

#[derive(Deserialize)]
struct LogoutQuery {
    #[serde(default, rename = "returnTo")]
    return_to: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// `GET /v2/logout`: ends the SSO session and returns to an allowed logout URL of the client.
async fn get_logout(State(state): State<AppState>, client: Client, Query(query): Query<LogoutQuery>) -> Response {
    let tenant = &state.tenant;
    let lang = language(&[], client.info.accept_language.as_deref());
    let error = |title: &str, detail: &str| {
        render(
            LoginResponse::new(AuthStep::Error(ErrorPage {
                lang: lang.clone(),
                title: title.into(),
                detail: detail.into(),
                start_again: tenant.config.default_redirection_uri.clone(),
            })),
            &state.site(),
        )
    };
    // An unknown client_id is an error, never "any client's logout URLs".
    let client_config = match query.client_id.as_deref() {
        Some(id) => match tenant.config.client(id) {
            Some(found) => Some(found),
            None => return error("invalid_request", "Unknown client_id."),
        },
        None => None,
    };
    if let Some(cookie) = &client.cookies.session {
        match end_session(tenant, cookie).await {
            Ok(Some(user_id)) => {
                let mut entry = gatehouse_auth::logs::entry(
                    "slo",
                    "User successfully logged out",
                    &client.info,
                    client_config,
                    None,
                );
                entry.user_id = Some(user_id);
                tenant.log(entry).await;
            }
            Ok(None) => {}
            Err(e) => {
                let mut response = error("server_error", "We could not log you out. Please try again.");
                response
                    .extensions_mut()
                    .insert(crate::error::FailureCause(format!("ending a session at logout: {e}")));
                return response;
            }
        }
    }
    let clear = state.site();
    let mut headers = HeaderMap::new();
    let cleared = render(
        LoginResponse { step: AuthStep::Redirect("/".into()), cookies: vec![CookieChange::ClearSession], cause: None },
        &clear,
    );
    if let Some(cookie) = cleared.headers().get(SET_COOKIE) {
        headers.insert(SET_COOKIE, cookie.clone());
    }
    // Without a client_id, any client's logout URL is accepted (Gatehouse has no tenant-level list).
    let allowed: Vec<&String> = match client_config {
        Some(c) => c.allowed_logout_urls.iter().collect(),
        None => tenant.config.clients.iter().flat_map(|c| c.allowed_logout_urls.iter()).collect(),
    };
    match query.return_to {
        Some(url) if allowed.iter().any(|a| **a == url) => {
            if let Ok(value) = HeaderValue::from_str(&url) {
                headers.insert(LOCATION, value);
            }
            (StatusCode::FOUND, headers).into_response()
        }
        Some(_) => {
            let mut response =
                error("invalid_request", "The returnTo URL is not in the application's allowed logout URLs.");
            response.headers_mut().extend(headers);
            response
        }
        None => {
            let site = state.site();
            headers.insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'none'",
                ),
            );
            (StatusCode::OK, headers, crate::pages::logged_out_page(&lang, &site)).into_response()
        }
    }
}
