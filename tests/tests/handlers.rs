//! Handler tests without a process boundary: the app in-process (`app(state).oneshot(request)`, axum's testing
//! pattern) over a tenant whose clock the test moves, so rules that depend on time are tested without sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use gatehouse_auth::clock::ManualClock;
use gatehouse_server::AppState;
use gatehouse_store::SledStore;
use gatehouse_tests::{config, open_tenant};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const WEB_SECRET: &str = "test-web-secret-0123456789";

/// The test tenant with MFA always (authenticator apps and recovery codes), in-process, on `clock`.
async fn app(clock: Arc<ManualClock>) -> (axum::Router, tempfile::TempDir) {
    app_with("factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"", clock).await
}

/// The test tenant with the `[mfa]` section `mfa`, in-process, on `clock`.
async fn app_with(mfa: &str, clock: Arc<ManualClock>) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = config(mfa, "").replace("127.0.0.1:0", "127.0.0.1:3999");
    let tenant = open_tenant(&text, dir.path(), Arc::new(SledStore::temporary().unwrap()), clock).await;
    (gatehouse_server::app(AppState { tenant: Arc::new(tenant) }), dir)
}

async fn call(app: &axum::Router, request: http::Request<Body>) -> (u16, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn form(path: &str, fields: &[(&str, &str)]) -> http::Request<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

async fn mfa_token(app: &axum::Router) -> String {
    let (status, body) = call(
        app,
        form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("client_id", "test-web"),
                ("client_secret", WEB_SECRET),
                ("username", "jane@example.com"),
                ("password", "correct-horse-battery"),
            ],
        ),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("mfa_required")), "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn mfa_otp(app: &axum::Router, token: &str, otp: &str) -> (u16, Value) {
    call(
        app,
        form(
            "/oauth/token",
            &[
                ("grant_type", "http://auth0.com/oauth/grant-type/mfa-otp"),
                ("client_id", "test-web"),
                ("client_secret", WEB_SECRET),
                ("mfa_token", token),
                ("otp", otp),
            ],
        ),
    )
    .await
}

/// Ten wrong codes empty the bucket; one attempt comes back after six minutes, not a second before.
#[tokio::test]
async fn a_blocked_factor_gets_one_attempt_back_after_six_minutes() {
    let clock = Arc::new(ManualClock::starting_now());
    let (app, _dir) = app(clock.clone()).await;
    let token = mfa_token(&app).await;
    let associate = http::Request::post("/mfa/associate")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({ "authenticator_types": ["otp"] }).to_string()))
        .unwrap();
    let (status, body) = call(&app, associate).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    let code_at = |seconds: i64| gatehouse_auth::crypto::totp::current_code(&secret, seconds).unwrap();
    let (status, body) = mfa_otp(&app, &token, &code_at(gatehouse_auth::clock::Clock::now(&*clock))).await;
    assert_eq!(status, 200, "{body}");

    let token = mfa_token(&app).await;
    for _ in 0..10 {
        let (status, body) = mfa_otp(&app, &token, "not-a-code").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "{body}");
    }
    // 30 s steps: each later check uses a fresh step, so no code is refused as already used.
    clock.advance(30);
    let now = || gatehouse_auth::clock::Clock::now(&*clock);
    let (status, _) = mfa_otp(&app, &token, &code_at(now())).await;
    assert_eq!(status, 429, "blocked, even with the right code");
    clock.advance(300);
    let (status, _) = mfa_otp(&app, &token, &code_at(now())).await;
    assert_eq!(status, 429, "after 5.5 minutes the attempt is not back yet");
    clock.advance(30);
    let (status, body) = mfa_otp(&app, &token, &code_at(now())).await;
    assert_eq!(status, 200, "after 6 minutes one attempt is back: {body}");
}

/// An `mfa_token` lives ten minutes on the tenant's clock.
#[tokio::test]
async fn an_mfa_token_expires_after_ten_minutes() {
    let clock = Arc::new(ManualClock::starting_now());
    let (app, _dir) = app(clock.clone()).await;
    let token = mfa_token(&app).await;
    clock.advance(599);
    let (status, body) = mfa_otp(&app, &token, "000000").await;
    // Still valid: refused for what it asks (jane has no authenticator app yet), not as expired.
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "{body}");
    clock.advance(1);
    let (status, body) = mfa_otp(&app, &token, "000000").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("expired_token")), "{body}");
}

/// A browser for in-process requests: keeps the cookies the app sets.
#[derive(Default)]
struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    async fn send(&mut self, app: &axum::Router, mut request: http::Request<Body>) -> http::Response<Body> {
        let cookies: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !cookies.is_empty() {
            request.headers_mut().insert("cookie", cookies.join("; ").parse().unwrap());
        }
        let response = app.clone().oneshot(request).await.unwrap();
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }
}

fn location(response: &http::Response<Body>) -> String {
    response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// `/authorize` for test-spa with `extra` parameters.
fn authorize(extra: &str) -> http::Request<Body> {
    let (_, challenge) = gatehouse_tests::pkce();
    http::Request::get(format!(
        "/authorize?client_id=test-spa&response_type=code&redirect_uri=https%3A%2F%2Fspa.example.com%2Fcallback&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256{extra}"
    ))
    .body(Body::empty())
    .unwrap()
}

/// OIDC `max_age` counts seconds since the password on the tenant's clock: an SSO session 60 s old passes
/// `max_age=60`, 61 s old does not (the login page is shown again).
#[tokio::test]
async fn max_age_counts_seconds_since_the_password() {
    let clock = Arc::new(ManualClock::starting_now());
    let (app, _dir) = app_with("factors = [\"otp\"]\npolicy = \"never\"", clock.clone()).await;
    let mut browser = Jar::default();
    let response = browser.send(&app, authorize("")).await;
    let login = location(&response);
    assert!(login.starts_with("/u/login?state="), "{login}");
    let page = browser.send(&app, http::Request::get(&login).body(Body::empty()).unwrap()).await;
    let html = String::from_utf8(page.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let hidden = gatehouse_tests::hidden_fields(&html);
    let form_body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("state", hidden["state"].as_str()),
            ("csrf", hidden["csrf"].as_str()),
            ("email", "jane@example.com"),
            ("password", "correct-horse-battery"),
        ])
        .finish();
    let post = http::Request::post("/u/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form_body))
        .unwrap();
    let response = browser.send(&app, post).await;
    assert!(location(&response).contains("code="), "logged in: {:?}", response.headers());

    clock.advance(60);
    let response = browser.send(&app, authorize("&max_age=60")).await;
    assert!(location(&response).contains("code="), "SSO within max_age: {}", location(&response));
    clock.advance(1);
    let response = browser.send(&app, authorize("&max_age=60")).await;
    assert!(location(&response).starts_with("/u/login?state="), "max_age passed: {}", location(&response));
}
