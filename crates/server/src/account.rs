//! The account pages in the browser: sign-up and "forgot your password?" (steps of a login, `/u/signup`,
//! `/u/reset-password/request`), and the pages emailed links open (`/u/reset-password`, `/u/email-verification`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use gatehouse_auth::account::jobs::{self, AccountJob};
use gatehouse_auth::account::password_reset::{self, ResetForm, ResetRefused, ResetStart};
use gatehouse_auth::account::verification::{self, LinkRefused};
use gatehouse_auth::login::signup::SignupForm;
use gatehouse_auth::login::step::{AuthStep, LoginResponse, ResetDeniedPage};
use gatehouse_auth::login::{Login, language, start_again_url};
use serde::Deserialize;

use crate::AppState;
use crate::pages::account::{ResetFormView, account_message, reset_form};
use crate::pages::render;
use crate::request::Client;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/u/signup", get(get_signup).post(post_signup))
        .route("/u/reset-password/request", get(get_reset_request).post(post_reset_request))
        .route("/u/reset-password", get(get_reset).post(post_reset))
        .route("/u/email-verification", get(get_verification))
}

#[derive(Deserialize)]
struct StateQuery {
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct SignupFields {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    username: Option<String>,
}

async fn get_signup(State(state): State<AppState>, client: Client, Query(query): Query<StateQuery>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.show_signup(&query.state).await), &state.site())
}

async fn post_signup(State(state): State<AppState>, client: Client, Form(fields): Form<SignupFields>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    let form = SignupForm { email: fields.email, password: fields.password, username: fields.username };
    let (response, after) = login.submit_signup(&fields.state, &fields.csrf, form).await;
    if let Some(after) = after {
        jobs::start(state.tenant.clone(), after.into()).await;
    }
    render(login.with_start_again(response), &state.site())
}

#[derive(Deserialize)]
struct ResetRequestFields {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn get_reset_request(State(state): State<AppState>, client: Client, Query(query): Query<StateQuery>) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    render(login.with_start_again(login.show_reset_request(&query.state).await), &state.site())
}

async fn post_reset_request(
    State(state): State<AppState>,
    client: Client,
    Form(fields): Form<ResetRequestFields>,
) -> Response {
    let login = Login::new(client.ctx(&state), &client.cookies);
    let (response, job) = login.submit_reset_request(&fields.state, &fields.csrf, &fields.email).await;
    if let Some(job) = job {
        // After the answer: its timing must not depend on whether the address has an account.
        let job = AccountJob::ResetRequested {
            client_id: Some(job.client_id),
            email: job.email,
            lang: job.lang,
            request: job.request,
        };
        jobs::start(state.tenant.clone(), job).await;
    }
    render(login.with_start_again(response), &state.site())
}

#[derive(Deserialize)]
struct TicketQuery {
    #[serde(default)]
    ticket: String,
}

/// Where "Continue" goes after a link did its work: the application's login route, else the tenant's default.
fn next_url(state: &AppState, client_id: Option<&str>) -> Option<String> {
    start_again_url(&state.tenant.config, client_id)
}

fn link_refused(state: &AppState, lang: &str, refused: LinkRefused) -> Response {
    let site = state.site();
    match refused {
        LinkRefused::Invalid => account_message(
            lang,
            if lang == "ja" { "このリンクは使えません" } else { "This link does not work" },
            if lang == "ja" {
                "リンクの有効期限が切れているか、すでに使われています。もう一度お試しください。"
            } else {
                "The link has expired or was already used. Please ask for a new one."
            },
            state.tenant.config.default_redirection_uri.as_deref(),
            StatusCode::BAD_REQUEST,
            &site,
        ),
        LinkRefused::Internal(cause) => {
            let mut response = account_message(
                lang,
                if lang == "ja" { "問題が発生しました" } else { "Something went wrong" },
                if lang == "ja" {
                    "しばらくしてからもう一度お試しください。"
                } else {
                    "Something went wrong on our side. Please try again in a moment."
                },
                None,
                if gatehouse_store::is_unavailable(&cause) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                &site,
            );
            response.extensions_mut().insert(crate::error::FailureCause(cause));
            response
        }
    }
}

fn show_form(state: &AppState, ticket: &str, form: &ResetForm, password: &str, error: Option<&str>) -> Response {
    let rules = form.policy.rules(&form.lang, password);
    let view = ResetFormView {
        lang: &form.lang,
        ticket,
        email: &form.user.email,
        rules: &rules,
        level: form.policy.level,
        error,
    };
    reset_form(&view, &state.site())
}

async fn get_reset(State(state): State<AppState>, client: Client, Query(query): Query<TicketQuery>) -> Response {
    let lang = language(&[], client.info.accept_language.as_deref());
    match password_reset::form(&client.ctx(&state), &query.ticket).await {
        Ok(ResetStart::Form(form)) => show_form(&state, &query.ticket, &form, "", None),
        // A challenge or a redirect first: through the hosted-login pages, bound to this browser.
        Ok(ResetStart::Paused { pause, user }) => {
            let login = Login::new(client.ctx(&state), &client.cookies);
            render(login.with_start_again(login.start_reset_pause(*pause, *user).await), &state.site())
        }
        Err(ResetRefused::Denied { lang, message }) => reset_denied(&state, &lang, message),
        Err(ResetRefused::Link(refused)) => link_refused(&state, &lang, refused),
        Err(ResetRefused::Mismatch(_) | ResetRefused::Password(..)) => {
            link_refused(&state, &lang, LinkRefused::Invalid)
        }
    }
}

/// The post-challenge actions refused the reset: their reason when they gave one (Auth0 shows it).
fn reset_denied(state: &AppState, lang: &str, message: Option<String>) -> Response {
    let next = state.tenant.config.default_redirection_uri.clone();
    let page = ResetDeniedPage { lang: lang.to_owned(), message, next };
    render(LoginResponse::new(AuthStep::ResetDenied(page)), &state.site())
}

#[derive(Deserialize)]
struct ResetFields {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn post_reset(State(state): State<AppState>, client: Client, Form(fields): Form<ResetFields>) -> Response {
    let lang = language(&[], client.info.accept_language.as_deref());
    let ctx = client.ctx(&state);
    match password_reset::complete(&ctx, &fields.ticket, &fields.password, &fields.password_confirm).await {
        Ok((done, after)) => {
            jobs::start(state.tenant.clone(), after.into()).await;
            if let Some(result) = &done.result {
                let url =
                    result.with_result("You can now login to the application with the new password.", &done.user.email);
                return Redirect::to(&url).into_response();
            }
            let ja = done.lang == "ja";
            account_message(
                &done.lang,
                if ja { "パスワードを変更しました" } else { "Your password was changed" },
                if ja {
                    "新しいパスワードでログインできます。"
                } else {
                    "You can now log in with your new password."
                },
                next_url(&state, done.client_id.as_deref()).as_deref(),
                StatusCode::OK,
                &state.site(),
            )
        }
        Err(ResetRefused::Link(refused)) => link_refused(&state, &lang, refused),
        Err(ResetRefused::Denied { lang, message }) => reset_denied(&state, &lang, message),
        Err(ResetRefused::Mismatch(form)) => {
            let error = if form.lang == "ja" {
                "2 つのパスワードが一致しません。"
            } else {
                "The two passwords differ."
            };
            show_form(&state, &fields.ticket, &form, &fields.password, Some(error))
        }
        Err(ResetRefused::Password(form, refusal)) => {
            let sentence = refusal.sentence(&form.lang);
            show_form(&state, &fields.ticket, &form, &fields.password, Some(&sentence))
        }
    }
}

async fn get_verification(State(state): State<AppState>, client: Client, Query(query): Query<TicketQuery>) -> Response {
    let lang = language(&[], client.info.accept_language.as_deref());
    match verification::verify(&client.ctx(&state), &query.ticket).await {
        Ok(done) => {
            if let Some(result) = &done.result {
                let url = result
                    .with_result("Your email was verified. You can continue using the application.", &done.user.email);
                return Redirect::to(&url).into_response();
            }
            let ja = done.lang == "ja";
            account_message(
                &done.lang,
                if ja { "メールアドレスを確認しました" } else { "Your email address is verified" },
                if ja {
                    "ご協力ありがとうございます。アプリケーションに戻って続けてください。"
                } else {
                    "Thank you. You can go back to the application."
                },
                next_url(&state, done.client_id.as_deref()).as_deref(),
                StatusCode::OK,
                &state.site(),
            )
        }
        Err(refused) => link_refused(&state, &lang, refused),
    }
}
