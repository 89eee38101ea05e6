//! End-to-end: the OpenID Connect authorization code flow, seen by a standard relying party (the `openidconnect`
//! crate) and by hand-written requests checking the rules of `/authorize` and of authorization codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use gatehouse_tests::{Browser, MFA_DEFAULT, Page, SPA_CALLBACK, Server, config, hidden_fields, jwt_payload, pkce};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse,
};
use serde_json::Value;

const SPA_OTHER_CALLBACK: &str = "http://localhost:9/callback";
const API: &str = "https://api.example.com/";
const PASSWORD: &str = "correct-horse-battery";

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An `/authorize` URL for the SPA with PKCE; `extra` is appended as is (`&name=value...`).
fn authorize_url(server: &Server, challenge: &str, state: &str, extra: &str) -> String {
    server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid%20profile%20email&audience={}&state={}&nonce=n-0S6_WzA2Mj&code_challenge={challenge}&code_challenge_method=S256{extra}",
        enc(SPA_CALLBACK),
        enc(API),
        enc(state),
    ))
}

/// Opens `url`, expects the login form, submits the password; returns the answer after the form.
async fn password_login(browser: &Browser, url: &str, email: &str) -> Page {
    let page = browser.follow(browser.get(url).await).await;
    assert_eq!(page.status, 200, "expected the login page, got {}: {:?} {}", page.status, page.location, page.body);
    assert!(page.body.contains("name=\"password\""), "expected the login form: {}", page.body);
    browser.submit(&page, "/u/login", &[("email", email), ("password", PASSWORD)]).await
}

/// The parameters of a redirect to `callback`.
fn callback_params(page: &Page, callback: &str) -> HashMap<String, String> {
    assert_eq!(page.status, 302, "expected a redirect to the application, got {}: {}", page.status, page.body);
    let location = page.location.as_deref().unwrap();
    assert!(location.starts_with(callback), "redirect to {location}, expected {callback}");
    page.location_params()
}

fn code_of(page: &Page) -> String {
    let params = callback_params(page, SPA_CALLBACK);
    params.get("code").cloned().unwrap_or_else(|| panic!("no code in {:?}", page.location))
}

/// `POST /oauth/token` with a form; returns status and JSON body.
async fn token_form(server: &Server, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().post(server.url("oauth/token")).form(fields).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("token endpoint answered non-JSON ({status}): {text}")),
    )
}

async fn exchange(server: &Server, code: &str, verifier: &str) -> (u16, Value) {
    token_form(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", SPA_CALLBACK),
        ],
    )
    .await
}

/// A code for jane, with its PKCE verifier: through the login page, or straight from the browser's SSO session.
async fn fresh_code(server: &Server, browser: &Browser) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut page = browser.follow(browser.get(&authorize_url(server, &challenge, "xyz", "")).await).await;
    if page.status == 200 {
        assert!(page.body.contains("name=\"password\""), "expected the login form: {}", page.body);
        page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    }
    (code_of(&page), verifier)
}

fn assert_oauth_error(status: u16, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(body["error"], error, "body: {body}");
    assert!(body["error_description"].is_string(), "an error_description: {body}");
    assert_eq!(status, expected_status, "status for {error}: {body}");
}

#[tokio::test]
async fn a_standard_relying_party_logs_in_with_code_and_pkce() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Discovery from the issuer alone (the JWKS comes with it).
    let issuer = IssuerUrl::new(server.issuer.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery");
    assert_eq!(metadata.issuer().as_str(), server.issuer);
    assert_eq!(metadata.authorization_endpoint().as_str(), server.url("authorize"));
    assert_eq!(metadata.token_endpoint().map(|u| u.as_str().to_owned()), Some(server.url("oauth/token")));
    assert_eq!(metadata.userinfo_endpoint().map(|u| u.as_str().to_owned()), Some(server.url("userinfo")));
    assert!(!metadata.jwks().keys().is_empty(), "the JWKS has a key");

    let client = CoreClient::from_provider_metadata(metadata, ClientId::new("test-spa".to_owned()), None)
        .set_redirect_uri(RedirectUrl::new(SPA_CALLBACK.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // `profile` included: its `updated_at` is epoch seconds (OIDC Core §5.1), which strict clients like this one
    // require (Auth0 sends an ISO string).
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("email".to_owned()))
        .add_extra_param("audience", API)
        .set_pkce_challenge(challenge)
        .url();

    // The user logs in on the hosted page, with the URL the relying party built.
    let browser = Browser::new(&server);
    let page = password_login(&browser, url.as_str(), "jane@example.com").await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert_eq!(params.get("state"), Some(csrf.secret()), "state comes back unchanged");
    let code = params["code"].clone();

    // Code exchange, then the ID token validated against the JWKS: signature, issuer, audience, nonce, expiry.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("a valid ID token");
    assert_eq!(claims.issuer().as_str(), server.issuer);
    assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), vec!["test-spa"]);
    assert_eq!(claims.nonce().map(|n| n.secret().as_str()), Some(nonce.secret().as_str()));
    assert_eq!(claims.email().map(|e| e.as_str()), Some("jane@example.com"));
    assert!(claims.updated_at().is_some(), "updated_at parses as a timestamp");
    assert!(claims.auth_time().is_some(), "auth_time is present");
    let subject = claims.subject().clone();

    // Another nonce must not validate.
    assert!(
        id_token.claims(&client.id_token_verifier(), &Nonce::new("another".to_owned())).is_err(),
        "nonce is checked"
    );

    // The access token is for the API and /userinfo.
    let access = jwt_payload(tokens.access_token().secret());
    assert_eq!(access["aud"], serde_json::json!([API, server.url("userinfo")]));
    assert_eq!(access["sub"], subject.as_str());

    // Userinfo with the access token.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), &subject);
    assert_eq!(info.email().map(|e| e.as_str()), Some("jane@example.com"));
    assert_eq!(info.email_verified(), Some(true));
}

#[tokio::test]
async fn a_code_is_single_use() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, body) = exchange(&server, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = exchange(&server, &code, &verifier).await;
    assert_oauth_error(status, &body, 403, "invalid_grant");
}

#[tokio::test]
async fn a_code_is_bound_to_its_client() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", SPA_CALLBACK),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 403, "invalid_grant");
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    // Another registered callback of the same client is still not the one the code was issued for.
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", SPA_OTHER_CALLBACK),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 403, "invalid_grant");
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn a_code_needs_the_redirect_uri_it_was_issued_with() {
    // RFC 6749 §4.1.3 and Auth0's token endpoint: redirect_uri is required when /authorize had one.
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", &code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert!(body.get("access_token").is_none(), "a code issued with a redirect_uri is exchanged without it: {body}");
    assert!(
        (status == 403 && body["error"] == "invalid_grant") || (status == 400 && body["error"] == "invalid_request"),
        "{status} {body}"
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_pkce_verifier() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);

    let (code, _) = fresh_code(&server, &browser).await;
    let (wrong, _) = pkce();
    let (status, body) = exchange(&server, &code, &format!("{wrong}-wrong")).await;
    assert_oauth_error(status, &body, 403, "invalid_grant");

    // Without a verifier at all.
    let (code, _) = fresh_code(&server, &browser).await;
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", &code),
            ("redirect_uri", SPA_CALLBACK),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 403, "invalid_grant");

    // The right one works (on a new code: the failed exchanges consumed theirs).
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, body) = exchange(&server, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_public_client_without_code_challenge_gets_invalid_request() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=s-1",
        enc(SPA_CALLBACK)
    ));
    let page = browser.get(&url).await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"), "{params:?}");
    assert!(params.contains_key("error_description"));
    assert_eq!(params.get("state").map(String::as_str), Some("s-1"));
    assert!(!params.contains_key("code"));

    // Only S256: `plain` is refused the same way.
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=s-2&code_challenge=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG&code_challenge_method=plain",
        enc(SPA_CALLBACK)
    ));
    let params = callback_params(&browser.get(&url).await, SPA_CALLBACK);
    assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"), "{params:?}");
    assert_eq!(params.get("state").map(String::as_str), Some("s-2"));
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    for bad in [
        "https://evil.example/callback",
        "https://spa.example.com/callback/../evil",
        "https://spa.example.com/callback?x=1",
    ] {
        for mode in ["", "&response_mode=form_post", "&prompt=none"] {
            let url = server.url(&format!(
                "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256{mode}",
                enc(bad)
            ));
            let page = browser.get(&url).await;
            assert_eq!(page.status, 400, "{bad}{mode}: {} {:?}", page.status, page.location);
            assert!(page.location.is_none(), "{bad}{mode}: no redirect");
            assert!(!page.body.contains("<form"), "{bad}{mode}: no form (to the URI or anywhere)");
            assert!(page.body.contains("Callback URL mismatch"), "{bad}{mode}: {}", page.body);
        }
    }
}

#[tokio::test]
async fn state_and_nonce_round_trip() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let state = "a state/with spaces&=+?%é";
    let nonce = "n-ö+/= 42";
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state={}&nonce={}&code_challenge={challenge}&code_challenge_method=S256",
        enc(SPA_CALLBACK),
        enc(state),
        enc(nonce)
    ));
    let page = password_login(&browser, &url, "jane@example.com").await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert_eq!(params.get("state").map(String::as_str), Some(state));
    let (status, tokens) = exchange(&server, &params["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], nonce);

    // Without a state, none comes back; without a nonce, the ID token has none.
    let (verifier, challenge) = pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        enc(SPA_CALLBACK)
    ));
    let page = browser.get(&url).await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert!(!params.contains_key("state"), "{params:?}");
    let (status, tokens) = exchange(&server, &params["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(jwt_payload(tokens["id_token"].as_str().unwrap()).get("nonce").is_none());
}

#[tokio::test]
async fn form_post_answers_an_auto_submitting_form() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let page = password_login(
        &browser,
        &authorize_url(&server, &challenge, "fp-state", "&response_mode=form_post"),
        "jane@example.com",
    )
    .await;
    assert_eq!(page.status, 200, "form_post answers a page: {:?}", page.location);
    assert!(page.location.is_none());
    let content_type = page.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.body.contains(&format!("action=\"{SPA_CALLBACK}\"")), "{}", page.body);
    assert!(page.body.contains("method=\"post\""), "{}", page.body);
    assert!(page.body.contains(".submit()"), "auto-submits: {}", page.body);
    let fields = hidden_fields(&page.body);
    assert_eq!(fields.get("state").map(String::as_str), Some("fp-state"));
    let code = fields.get("code").expect("a code field").clone();
    let (status, tokens) = exchange(&server, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");

    // Errors go the same way.
    let fresh = Browser::new(&server);
    let page = fresh.get(&authorize_url(&server, &challenge, "fp-2", "&response_mode=form_post&prompt=none")).await;
    assert_eq!(page.status, 200);
    let fields = hidden_fields(&page.body);
    assert_eq!(fields.get("error").map(String::as_str), Some("login_required"), "{}", page.body);
    assert_eq!(fields.get("state").map(String::as_str), Some("fp-2"));
}

#[tokio::test]
async fn prompt_none_without_a_session_redirects_with_login_required() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let page = browser.get(&authorize_url(&server, &challenge, "silent", "&prompt=none")).await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert_eq!(params.get("error").map(String::as_str), Some("login_required"), "{params:?}");
    assert_eq!(params.get("state").map(String::as_str), Some("silent"));
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn prompt_none_with_a_session_returns_a_code_without_any_page() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, first) = exchange(&server, &code, &verifier).await;
    assert_eq!(status, 200, "{first}");

    let (verifier, challenge) = pkce();
    // The very first answer is the redirect to the application: no hosted page in between.
    let page = browser.get(&authorize_url(&server, &challenge, "silent", "&prompt=none")).await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert_eq!(params.get("state").map(String::as_str), Some("silent"));
    let code = params.get("code").unwrap_or_else(|| panic!("a code, got {params:?}"));
    let (status, tokens) = exchange(&server, code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    let first_id = jwt_payload(first["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], first_id["sub"]);
    assert_eq!(id["auth_time"], first_id["auth_time"], "same authentication");
}

#[tokio::test]
async fn max_age_zero_forces_the_password_again() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, _) = exchange(&server, &code, &verifier).await;
    assert_eq!(status, 200);

    // The session alone is enough without max_age...
    let (_, challenge) = pkce();
    let page = browser.get(&authorize_url(&server, &challenge, "sso", "")).await;
    assert!(callback_params(&page, SPA_CALLBACK).contains_key("code"), "SSO without max_age");

    // ...but max_age=0 (OIDC Core: equivalent to prompt=login) asks for the password again, however recent the login.
    let (verifier, challenge) = pkce();
    let page =
        password_login(&browser, &authorize_url(&server, &challenge, "again", "&max_age=0"), "jane@example.com").await;
    let params = callback_params(&page, SPA_CALLBACK);
    assert_eq!(params.get("state").map(String::as_str), Some("again"));
    let (status, tokens) = exchange(&server, &params["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(jwt_payload(tokens["id_token"].as_str().unwrap())["auth_time"].is_i64(), "auth_time with max_age");
}

#[tokio::test]
async fn prompt_login_forces_the_password_again() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (code, verifier) = fresh_code(&server, &browser).await;
    let (status, _) = exchange(&server, &code, &verifier).await;
    assert_eq!(status, 200);
    let (_, challenge) = pkce();
    let page =
        password_login(&browser, &authorize_url(&server, &challenge, "login", "&prompt=login"), "jane@example.com")
            .await;
    assert!(callback_params(&page, SPA_CALLBACK).contains_key("code"));
}
