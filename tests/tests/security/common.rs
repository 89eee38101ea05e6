//! Requests the attacks share.

use gatehouse_tests::{Browser, Page, SPA_CALLBACK, Server, pkce};
use serde_json::Value;

pub const API: &str = "https://api.example.com/";
pub const PASSWORD: &str = "correct-horse-battery";
pub const WEB_SECRET: &str = "test-web-secret-0123456789";
pub const WEB_CALLBACK: &str = "https://web.example.com/callback";
/// Email as the only factor besides an authenticator app to enroll; MFA always.
pub const EMAIL_ALWAYS: &str = "factors = [\"otp\", \"recovery-code\", \"email\"]\npolicy = \"always\"";

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Status and JSON body of a response.
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}")))
}

/// `POST /oauth/token`, form-encoded, with the fields exactly as given (repeats included).
pub async fn token_form(server: &Server, fields: &[(&str, &str)]) -> (u16, Value) {
    answer(reqwest::Client::new().post(server.url("oauth/token")).form(fields).send().await.unwrap()).await
}

/// The password grant of test-web.
pub async fn password_grant(server: &Server, email: &str, password: &str, scope: &str) -> (u16, Value) {
    token_form(
        server,
        &[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", WEB_SECRET),
            ("username", email),
            ("password", password),
            ("scope", scope),
            ("audience", API),
        ],
    )
    .await
}

/// The test-web authorization URL (confidential client, no PKCE unless `extra` adds it).
pub fn web_authorize_url(server: &Server, scope: &str, extra: &str) -> String {
    server.url(&format!(
        "authorize?client_id=test-web&response_type=code&redirect_uri={}&scope={}&audience={}&state=web-state{extra}",
        enc(WEB_CALLBACK),
        enc(scope),
        enc(API)
    ))
}

/// Follows `url` and logs in as `email` on the hosted page.
pub async fn hosted_login(browser: &Browser, url: &str, email: &str) -> Page {
    let page = browser.follow(browser.get(url).await).await;
    assert!(page.body.contains("name=\"password\""), "expected the login form: {} {}", page.status, page.body);
    browser.submit(&page, "/u/login", &[("email", email), ("password", PASSWORD)]).await
}

/// The query parameters of a redirect to `callback`.
pub fn callback_params(page: &Page, callback: &str) -> std::collections::HashMap<String, String> {
    assert_eq!(page.status, 302, "expected the redirect to the application, got {}: {}", page.status, page.body);
    assert!(page.location.as_deref().unwrap().starts_with(callback), "{:?}", page.location);
    page.location_params()
}

/// An authorization code of test-web for jane (no PKCE).
pub async fn web_code(server: &Server, scope: &str) -> String {
    let browser = Browser::new(server);
    let page = hosted_login(&browser, &web_authorize_url(server, scope, ""), "jane@example.com").await;
    callback_params(&page, WEB_CALLBACK)["code"].clone()
}

/// Exchanges a test-web code.
pub async fn web_exchange(server: &Server, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("client_id", "test-web"),
        ("client_secret", WEB_SECRET),
        ("code", code),
        ("redirect_uri", WEB_CALLBACK),
    ];
    fields.extend_from_slice(extra);
    token_form(server, &fields).await
}

/// The test-spa authorization URL with a PKCE challenge; returns it with the verifier.
pub fn spa_authorize_url(server: &Server, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope={}&state=app-state&code_challenge={challenge}&code_challenge_method=S256",
        enc(SPA_CALLBACK),
        enc(scope)
    ));
    (url, verifier)
}

/// `GET /userinfo` with a bearer token: the status.
pub async fn userinfo_status(server: &Server, access_token: &str) -> u16 {
    reqwest::Client::new().get(server.url("userinfo")).bearer_auth(access_token).send().await.unwrap().status().as_u16()
}

/// A refresh of test-web.
pub async fn refresh(server: &Server, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "refresh_token"),
        ("client_id", "test-web"),
        ("client_secret", WEB_SECRET),
        ("refresh_token", token),
    ];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    token_form(server, &fields).await
}

/// How many emails are in the outbox.
pub fn emails_sent(server: &Server) -> usize {
    match std::fs::read_dir(server.outbox()) {
        Ok(entries) => entries.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml")).count(),
        Err(_) => 0,
    }
}
