//! End-to-end: `/oauth/token` grants (refresh with rotation, password and password-realm, client credentials), what
//! the tokens contain, `/userinfo`, the JWKS and key rotation, the tenant logs (Management API and `gatehouse logs`),
//! and CORS on the token endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_tests::{
    Browser, MFA_DEFAULT, Page, SPA_CALLBACK, Server, config, gatehouse_bin, jwt_payload, otp_secret, pkce, totp,
};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{ClientId, IssuerUrl, JsonWebKey, Nonce};
use serde_json::{Value, json};

const API: &str = "https://api.example.com/";
const PASSWORD: &str = "correct-horse-battery";
const WEB_CALLBACK: &str = "https://web.example.com/callback";
const WEB_SECRET: &str = "test-web-secret-0123456789";
const M2M_SECRET: &str = "test-m2m-secret-0123456789";
const MFA_ACR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
const REALM: &str = "http://auth0.com/oauth/grant-type/password-realm";

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}")))
}

/// `POST /oauth/token`, form-encoded.
async fn token_form(server: &Server, fields: &[(&str, &str)]) -> (u16, Value) {
    answer(reqwest::Client::new().post(server.url("oauth/token")).form(fields).send().await.unwrap()).await
}

/// `POST /oauth/token`, JSON.
async fn token_json(server: &Server, body: Value) -> (u16, Value) {
    answer(reqwest::Client::new().post(server.url("oauth/token")).json(&body).send().await.unwrap()).await
}

/// The `password` grant for test-web, form-encoded.
async fn password_grant(
    server: &Server,
    email: &str,
    password: &str,
    scope: &str,
    audience: Option<&str>,
) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "password"),
        ("client_id", "test-web"),
        ("client_secret", WEB_SECRET),
        ("username", email),
        ("password", password),
        ("scope", scope),
    ];
    if let Some(audience) = audience {
        fields.push(("audience", audience));
    }
    token_form(server, &fields).await
}

/// `client_credentials` for test-m2m.
async fn client_credentials(server: &Server, audience: &str, scope: Option<&str>) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "client_credentials"),
        ("client_id", "test-m2m"),
        ("client_secret", M2M_SECRET),
        ("audience", audience),
    ];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    token_form(server, &fields).await
}

async fn refresh(server: &Server, refresh_token: &str) -> (u16, Value) {
    token_form(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "test-web"),
            ("client_secret", WEB_SECRET),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn assert_error(status: u16, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(body["error"], error, "body: {body}");
    assert!(body.get("access_token").is_none(), "no token with an error: {body}");
    assert_eq!(status, expected_status, "status of {error}: {body}");
}

fn ok(status: u16, body: &Value) {
    assert_eq!(status, 200, "expected success: {body}");
    assert!(body["access_token"].is_string(), "{body}");
}

fn jwt_header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn str_of<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// Logs in on the hosted page at `url` and returns the answer after the password (or at once with a session).
async fn browser_login(browser: &Browser, url: &str, email: &str) -> Page {
    let page = browser.follow(browser.get(url).await).await;
    if page.status == 302 {
        return page;
    }
    assert!(page.body.contains("name=\"password\""), "expected the login form: {}", page.body);
    browser.submit(&page, "/u/login", &[("email", email), ("password", PASSWORD)]).await
}

fn callback_params(page: &Page, callback: &str) -> HashMap<String, String> {
    assert_eq!(page.status, 302, "expected the redirect to the application, got {}: {}", page.status, page.body);
    assert!(page.location.as_deref().unwrap().starts_with(callback), "{:?}", page.location);
    page.location_params()
}

fn web_authorize_url(server: &Server, scope: &str, extra: &str) -> String {
    server.url(&format!(
        "authorize?client_id=test-web&response_type=code&redirect_uri={}&scope={}&audience={}&state=web-state&nonce=web-nonce{extra}",
        enc(WEB_CALLBACK),
        enc(scope),
        enc(API)
    ))
}

async fn web_exchange(server: &Server, code: &str) -> (u16, Value) {
    token_form(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-web"),
            ("client_secret", WEB_SECRET),
            ("code", code),
            ("redirect_uri", WEB_CALLBACK),
        ],
    )
    .await
}

/// Tokens for jane through test-web's hosted login.
async fn web_login(server: &Server, scope: &str) -> Value {
    let browser = Browser::new(server);
    let page = browser_login(&browser, &web_authorize_url(server, scope, ""), "jane@example.com").await;
    let params = callback_params(&page, WEB_CALLBACK);
    let (status, tokens) = web_exchange(server, &params["code"]).await;
    ok(status, &tokens);
    tokens
}

/// Tokens for jane through test-spa's hosted login (PKCE).
async fn spa_login(server: &Server, browser: &Browser, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope={}&audience={}&state=spa&nonce=spa-nonce&code_challenge={challenge}&code_challenge_method=S256",
        enc(SPA_CALLBACK),
        enc(scope),
        enc(API)
    ));
    let page = browser_login(browser, &url, "jane@example.com").await;
    let params = callback_params(&page, SPA_CALLBACK);
    let (status, tokens) = token_form(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", &params["code"]),
            ("code_verifier", &verifier),
            ("redirect_uri", SPA_CALLBACK),
        ],
    )
    .await;
    ok(status, &tokens);
    tokens
}

async fn jwks(server: &Server) -> Value {
    let response = reqwest::get(server.url(".well-known/jwks.json")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// Verifies a JWT's RS256 signature with the JWKS key its `kid` names.
fn verify_signature(jwks: &Value, token: &str) -> Result<(), String> {
    let set: CoreJsonWebKeySet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let kid = jwt_header(token)["kid"].as_str().ok_or("no kid")?.to_owned();
    let key =
        set.keys().iter().find(|k| k.key_id().is_some_and(|id| id.as_str() == kid)).ok_or("kid not in the JWKS")?;
    let (message, signature) = token.rsplit_once('.').ok_or("not a JWT")?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|e| e.to_string())?;
    key.verify_signature(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, message.as_bytes(), &signature)
        .map_err(|e| e.to_string())
}

/// Validates an ID token like a relying party: signature with the JWKS, issuer, audience, expiry.
fn verify_id_token(server: &Server, jwks: &Value, client_id: &str, token: &str) -> Result<(), String> {
    let set: CoreJsonWebKeySet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_owned()),
        IssuerUrl::new(server.issuer.clone()).unwrap(),
        set,
    );
    let token: CoreIdToken = token.parse().map_err(|e: serde_json::Error| e.to_string())?;
    token.claims(&verifier, |_: Option<&Nonce>| Ok(())).map(|_| ()).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// Refresh tokens

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let tokens = web_login(&server, "openid offline_access").await;
    let first = str_of(&tokens, "refresh_token").to_owned();
    assert!(str_of(&tokens, "scope").split(' ').any(|s| s == "offline_access"), "{tokens}");

    // An exchange returns new tokens and a new refresh token.
    let (status, renewed) = refresh(&server, &first).await;
    ok(status, &renewed);
    let second = str_of(&renewed, "refresh_token").to_owned();
    assert_ne!(second, first, "the refresh token rotates");
    assert!(renewed["id_token"].is_string(), "openid was granted: {renewed}");
    assert_eq!(
        jwt_payload(str_of(&renewed, "access_token"))["sub"],
        jwt_payload(str_of(&tokens, "access_token"))["sub"]
    );

    // The old one again: refused, and the whole family with it.
    let (status, body) = refresh(&server, &first).await;
    assert_error(status, &body, 403, "invalid_grant");
    let (status, body) = refresh(&server, &second).await;
    assert_error(status, &body, 403, "invalid_grant");

    // An unknown refresh token.
    let (status, body) = refresh(&server, "not-a-refresh-token").await;
    assert_error(status, &body, 403, "invalid_grant");
}

/// `POST /oauth/revoke` (RFC 7009): the client revokes its refresh token, and with it the token's whole rotation
/// family; an unknown token answers 200 too; another client cannot revoke it; form and JSON bodies both work.
#[tokio::test]
async fn oauth_revoke_revokes_a_refresh_token_and_its_family() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let http = reqwest::Client::new();
    let revoke = |fields: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = server.url("oauth/revoke");
        async move {
            let response = http.post(url).form(&fields).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)))
        }
    };
    let discovery: Value =
        reqwest::get(server.url(".well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["revocation_endpoint"], server.url("oauth/revoke"));

    let tokens = web_login(&server, "openid offline_access").await;
    let first = str_of(&tokens, "refresh_token").to_owned();
    let (status, renewed) = refresh(&server, &first).await;
    ok(status, &renewed);
    let second = str_of(&renewed, "refresh_token").to_owned();

    // Not the client's: refused, and the token still works.
    let (status, body) = revoke(vec![
        ("client_id", "test-m2m".into()),
        ("client_secret", "test-m2m-secret-0123456789".into()),
        ("token", second.clone()),
    ])
    .await;
    assert_error(status, &body, 403, "invalid_grant");
    // Without the client's secret: refused.
    let (status, body) =
        revoke(vec![("client_id", "test-web".into()), ("client_secret", "wrong".into()), ("token", second.clone())])
            .await;
    assert_eq!(status, 401, "{body}");
    // No token: the parameter is named.
    let (status, body) =
        revoke(vec![("client_id", "test-web".into()), ("client_secret", "test-web-secret-0123456789".into())]).await;
    assert_error(status, &body, 400, "invalid_request");
    // An access token cannot be recalled.
    let (status, body) = revoke(vec![
        ("client_id", "test-web".into()),
        ("client_secret", "test-web-secret-0123456789".into()),
        ("token", str_of(&renewed, "access_token").into()),
        ("token_type_hint", "access_token".into()),
    ])
    .await;
    assert_error(status, &body, 400, "unsupported_token_type");

    // The client revokes the newest token (JSON body): it and its family stop working.
    let response = http
        .post(server.url("oauth/revoke"))
        .json(&serde_json::json!({ "client_id": "test-web", "client_secret": "test-web-secret-0123456789", "token": second }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    let (status, body) = refresh(&server, &second).await;
    assert_error(status, &body, 403, "invalid_grant");
    // Again, and an unknown token: 200, nothing to learn.
    for token in [second.as_str(), "never-issued"] {
        let (status, _) = revoke(vec![
            ("client_id", "test-web".into()),
            ("client_secret", "test-web-secret-0123456789".into()),
            ("token", token.into()),
        ])
        .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn without_offline_access_or_refresh_grant_there_is_no_refresh_token() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let tokens = web_login(&server, "openid").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    // test-m2m may not use refresh_token; a client without the grant does not get offline_access.
    let extra = r#"
[[clients]]
client_id = "no-refresh"
name = "No Refresh"
app_type = "regular_web"
client_secret = "no-refresh-secret-0123456789"
callbacks = ["http://127.0.0.1:9/nr"]
grant_types = ["password"]
"#;
    let server = Server::start(&config(MFA_DEFAULT, extra), &[]);
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "password"),
            ("client_id", "no-refresh"),
            ("client_secret", "no-refresh-secret-0123456789"),
            ("username", "jane@example.com"),
            ("password", PASSWORD),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    ok(status, &body);
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(!str_of(&body, "scope").contains("offline_access"), "{body}");
}

#[tokio::test]
async fn the_post_login_flow_runs_on_refresh() {
    let protocol = r#"exports.onExecutePostLogin = async (event, api) => {
      api.accessToken.setCustomClaim('https://gatehouse.test/protocol', event.transaction.protocol);
      api.idToken.setCustomClaim('https://gatehouse.test/protocol', event.transaction.protocol);
    };"#;
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-protocol.js", protocol)]);
    let tokens = web_login(&server, "openid offline_access").await;
    let access = jwt_payload(str_of(&tokens, "access_token"));
    assert_eq!(access["https://gatehouse.test/protocol"], "oidc-basic-profile", "{access}");

    let (status, renewed) = refresh(&server, str_of(&tokens, "refresh_token")).await;
    ok(status, &renewed);
    let access = jwt_payload(str_of(&renewed, "access_token"));
    assert_eq!(access["https://gatehouse.test/protocol"], "oauth2-refresh-token", "{access}");
    let id = jwt_payload(str_of(&renewed, "id_token"));
    assert_eq!(id["https://gatehouse.test/protocol"], "oauth2-refresh-token", "{id}");

    // A flow that denies on refresh stops the refresh.
    server.set_actions(&[(
        "10-deny.js",
        "exports.onExecutePostLogin = async (event, api) => { if (event.transaction.protocol === 'oauth2-refresh-token') api.access.deny('No refresh today'); };",
    )]);
    let (status, body) = refresh(&server, str_of(&renewed, "refresh_token")).await;
    assert_error(status, &body, 403, "access_denied");
    assert_eq!(body["error_description"], "No refresh today");
}

#[tokio::test]
async fn tokens_from_refresh_have_no_amr() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    // A login with MFA (enrolling an authenticator app, as acr_values demands): amr and acr in the ID token.
    let browser = Browser::new(&server);
    let url = web_authorize_url(&server, "openid offline_access", &format!("&acr_values={}", enc(MFA_ACR)));
    let page = browser_login(&browser, &url, "jane@example.com").await;
    let page = browser.pass_email_challenge(&server, page).await;
    assert!(page.body.contains("otpauth://totp/"), "expected the enrollment page: {}", page.body);
    let secret = otp_secret(&page);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let params = callback_params(&page, WEB_CALLBACK);
    let (status, tokens) = web_exchange(&server, &params["code"]).await;
    ok(status, &tokens);
    let id = jwt_payload(str_of(&tokens, "id_token"));
    assert_eq!(id["amr"], json!(["mfa"]), "{id}");
    assert_eq!(id["acr"], MFA_ACR);

    let (status, renewed) = refresh(&server, str_of(&tokens, "refresh_token")).await;
    ok(status, &renewed);
    let id = jwt_payload(str_of(&renewed, "id_token"));
    assert!(id.get("amr").is_none(), "no amr after refresh: {id}");
    let access = jwt_payload(str_of(&renewed, "access_token"));
    assert!(access.get("amr").is_none(), "no amr after refresh: {access}");
}

// ---------------------------------------------------------------------------------------------------------------
// Password and password-realm

#[tokio::test]
async fn password_and_password_realm_grants_form_and_json() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);

    let (status, body) =
        password_grant(&server, "jane@example.com", PASSWORD, "openid profile read:data", Some(API)).await;
    ok(status, &body);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86_400);
    assert_eq!(body["scope"], "openid profile read:data");
    let id = jwt_payload(str_of(&body, "id_token"));
    assert_eq!(id["name"], "Jane Doe");
    assert_eq!(id["aud"], "test-web");
    let access = jwt_payload(str_of(&body, "access_token"));
    assert_eq!(access["aud"], json!([API, server.url("userinfo")]));
    assert_eq!(access["sub"], id["sub"]);

    // JSON body, password-realm with the database connection; the username is case-insensitive.
    let (status, body) = token_json(
        &server,
        json!({
            "grant_type": REALM,
            "realm": "Username-Password-Authentication",
            "client_id": "test-web",
            "client_secret": WEB_SECRET,
            "username": "Jane@Example.com",
            "password": PASSWORD,
            "scope": "openid email",
        }),
    )
    .await;
    ok(status, &body);
    assert_eq!(jwt_payload(str_of(&body, "id_token"))["email"], "jane@example.com");

    // HTTP Basic client authentication.
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .basic_auth("test-web", Some(WEB_SECRET))
        .form(&[
            ("grant_type", "password"),
            ("username", "taro@example.com"),
            ("password", PASSWORD),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    let (status, body) = answer(response).await;
    ok(status, &body);

    // A client that may not use the grant (test-spa) is refused.
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "password"),
            ("client_id", "test-spa"),
            ("username", "jane@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_error(status, &body, 403, "unauthorized_client");
}

#[tokio::test]
async fn a_wrong_password_is_invalid_grant() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let (status, body) = password_grant(&server, "jane@example.com", "wrong-password", "openid", None).await;
    assert_error(status, &body, 403, "invalid_grant");
    assert_eq!(body["error_description"], "Wrong email or password.");

    // An unknown user gets the same answer (no account enumeration), in JSON too.
    let (status, body) = token_json(
        &server,
        json!({ "grant_type": REALM, "realm": "Username-Password-Authentication", "client_id": "test-web",
                "client_secret": WEB_SECRET, "username": "nobody@example.com", "password": "whatever-it-is" }),
    )
    .await;
    assert_error(status, &body, 403, "invalid_grant");
    assert_eq!(body["error_description"], "Wrong email or password.");
}

#[tokio::test]
async fn ten_failures_then_too_many_attempts() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    for attempt in 1..=10 {
        let (status, body) = if attempt % 2 == 0 {
            password_grant(&server, "jane@example.com", "wrong-password", "openid", None).await
        } else {
            token_json(
                &server,
                json!({ "grant_type": REALM, "realm": "Username-Password-Authentication", "client_id": "test-web",
                        "client_secret": WEB_SECRET, "username": "jane@example.com", "password": "wrong-password" }),
            )
            .await
        };
        if attempt < 10 {
            assert_error(status, &body, 403, "invalid_grant");
        } else {
            // The tenth failure reaches the threshold: it may already answer the block.
            assert!(
                (status == 403 && body["error"] == "invalid_grant")
                    || (status == 429 && body["error"] == "too_many_attempts"),
                "attempt 10: {status} {body}"
            );
        }
    }
    // Blocked now, even with the right password.
    let (status, body) = password_grant(&server, "jane@example.com", PASSWORD, "openid", None).await;
    assert_error(status, &body, 429, "too_many_attempts");
    assert!(str_of(&body, "error_description").contains("blocked"), "{body}");
    // Another account from the same IP is not blocked.
    let (status, body) = password_grant(&server, "taro@example.com", PASSWORD, "openid", None).await;
    ok(status, &body);
}

#[tokio::test]
async fn an_action_enabling_mfa_makes_the_password_grant_answer_mfa_required() {
    let enable = "exports.onExecutePostLogin = async (event, api) => { api.multifactor.enable('any'); };";
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-mfa.js", enable)]);
    for json_body in [false, true] {
        let (status, body) = if json_body {
            token_json(
                &server,
                json!({ "grant_type": REALM, "realm": "Username-Password-Authentication", "client_id": "test-web",
                        "client_secret": WEB_SECRET, "username": "jane@example.com", "password": PASSWORD, "scope": "openid" }),
            )
            .await
        } else {
            password_grant(&server, "jane@example.com", PASSWORD, "openid", None).await
        };
        assert_error(status, &body, 403, "mfa_required");
        assert_eq!(body["error_description"], "Multifactor authentication required");
        let mfa_token = str_of(&body, "mfa_token");
        assert_eq!(mfa_token.split('.').count(), 3, "a JWT: {mfa_token}");
        let claims = jwt_payload(mfa_token);
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!((598..=602).contains(&lifetime), "mfa_token lives 600 s: {claims}");
        assert!(body.get("id_token").is_none());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Client credentials

#[tokio::test]
async fn client_credentials_gives_an_m2m_token() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let (status, body) = client_credentials(&server, API, None).await;
    ok(status, &body);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86_400);
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    let access = jwt_payload(str_of(&body, "access_token"));
    assert_eq!(access["sub"], "test-m2m@clients");
    assert_eq!(access["gty"], "client-credentials");
    assert_eq!(access["aud"], API);
    assert_eq!(access["scope"], "read:data");
    assert_eq!(access["azp"], "test-m2m");
    assert_eq!(access["iss"], server.issuer);
    verify_signature(&jwks(&server).await, str_of(&body, "access_token")).unwrap();

    // With the granted scope asked explicitly, and with HTTP Basic.
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .basic_auth("test-m2m", Some(M2M_SECRET))
        .form(&[("grant_type", "client_credentials"), ("audience", API), ("scope", "read:data")])
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    ok(status, &body);
    assert_eq!(jwt_payload(str_of(&body, "access_token"))["scope"], "read:data");
}

#[tokio::test]
async fn client_credentials_refusals() {
    let extra = r#"
[[clients]]
client_id = "public-m2m"
name = "Public M2M"
app_type = "native"
callbacks = ["http://127.0.0.1:9/native"]
grant_types = ["authorization_code", "client_credentials"]

[[client_grants]]
client_id = "public-m2m"
audience = "https://api.example.com/"
scopes = ["read:data"]
"#;
    let server = Server::start(&config(MFA_DEFAULT, extra), &[]);

    // A scope the client grant does not hold.
    let (status, body) = client_credentials(&server, API, Some("read:data write:data")).await;
    assert_error(status, &body, 403, "access_denied");
    // An audience no client grant (or API) names.
    let (status, body) = client_credentials(&server, "https://unknown.example.com/", None).await;
    assert_error(status, &body, 403, "access_denied");
    // No audience (and no default audience).
    let (status, body) = token_form(
        &server,
        &[("grant_type", "client_credentials"), ("client_id", "test-m2m"), ("client_secret", M2M_SECRET)],
    )
    .await;
    assert_error(status, &body, 403, "access_denied");
    // A wrong secret.
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "test-m2m"),
            ("client_secret", "wrong-secret-0123456789"),
            ("audience", API),
        ],
    )
    .await;
    assert_error(status, &body, 401, "invalid_client");
    // No secret at all.
    let (status, body) =
        token_form(&server, &[("grant_type", "client_credentials"), ("client_id", "test-m2m"), ("audience", API)])
            .await;
    assert_error(status, &body, 401, "invalid_client");
    // A public client: test-spa may not use the grant...
    let (status, body) =
        token_form(&server, &[("grant_type", "client_credentials"), ("client_id", "test-spa"), ("audience", API)])
            .await;
    assert_error(status, &body, 403, "unauthorized_client");
    // ...and a public client configured with it and a client grant still gets no token.
    let (status, body) =
        token_form(&server, &[("grant_type", "client_credentials"), ("client_id", "public-m2m"), ("audience", API)])
            .await;
    assert!(status == 401 || status == 403, "{status} {body}");
    assert!(body["error"] == "invalid_client" || body["error"] == "unauthorized_client", "{body}");
    assert!(body.get("access_token").is_none());
}

// ---------------------------------------------------------------------------------------------------------------
// What tokens contain

#[tokio::test]
async fn access_token_audience_and_scope() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let tokens = spa_login(&server, &browser, "openid profile email read:data delete:everything").await;
    let access = jwt_payload(str_of(&tokens, "access_token"));
    assert_eq!(access["aud"], json!([API, server.url("userinfo")]), "{access}");
    assert_eq!(access["scope"], "openid profile email read:data", "only what the API defines plus OIDC scopes");
    assert_eq!(tokens["scope"], access["scope"]);
    assert_eq!(access["azp"], "test-spa");
    assert_eq!(access["iss"], server.issuer);
    assert!(access.get("gty").is_none(), "{access}");
    let id = jwt_payload(str_of(&tokens, "id_token"));
    assert_eq!(id["aud"], "test-spa");
    assert_eq!(id["nonce"], "spa-nonce");
    assert_eq!(id["email"], "jane@example.com");
    assert_eq!(id["name"], "Jane Doe");

    // Without openid: the API alone, and no ID token.
    let (status, body) = password_grant(&server, "taro@example.com", PASSWORD, "read:data write:data", Some(API)).await;
    ok(status, &body);
    assert!(body.get("id_token").is_none(), "{body}");
    let access = jwt_payload(str_of(&body, "access_token"));
    assert_eq!(access["aud"], API, "{access}");
    assert_eq!(access["scope"], "read:data write:data");

    // Without an audience: /userinfo only.
    let (status, body) = password_grant(&server, "taro@example.com", PASSWORD, "openid read:data", None).await;
    ok(status, &body);
    let access = jwt_payload(str_of(&body, "access_token"));
    assert_eq!(access["aud"], server.url("userinfo"), "{access}");
    assert_eq!(access["scope"], "openid", "no API, no API scopes");

    // An unknown audience is refused.
    let (status, body) =
        password_grant(&server, "taro@example.com", PASSWORD, "openid", Some("https://unknown.example.com/")).await;
    assert_error(status, &body, 403, "access_denied");
}

#[tokio::test]
async fn custom_claims_appear_and_restricted_ones_do_not() {
    let claims = r#"exports.onExecutePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('https://gatehouse.test/favourite', 'tea');
      api.accessToken.setCustomClaim('https://gatehouse.test/roles', event.authorization.roles);
      api.idToken.setCustomClaim('sub', 'someone-else');
      api.accessToken.setCustomClaim('sub', 'someone-else');
      api.accessToken.setCustomClaim('gty', 'forged');
      api.idToken.setCustomClaim('amr', ['mfa']);
    };"#;
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-claims.js", claims)]);
    for tokens in [web_login(&server, "openid profile read:data").await, {
        let (status, body) =
            password_grant(&server, "jane@example.com", PASSWORD, "openid profile read:data", Some(API)).await;
        ok(status, &body);
        body
    }] {
        let id = jwt_payload(str_of(&tokens, "id_token"));
        let access = jwt_payload(str_of(&tokens, "access_token"));
        assert_eq!(id["https://gatehouse.test/favourite"], "tea", "{id}");
        assert_eq!(access["https://gatehouse.test/roles"], json!(["admin"]), "{access}");
        assert!(id.get("https://gatehouse.test/roles").is_none(), "each token gets its own claims: {id}");
        assert!(id["sub"].as_str().unwrap().starts_with("auth0|"), "sub is the user: {id}");
        assert_ne!(id["sub"], "someone-else");
        assert_eq!(access["sub"], id["sub"]);
        assert!(access.get("gty").is_none(), "a restricted claim is not added: {access}");
        assert!(id.get("amr").is_none(), "a restricted claim is not added: {id}");
    }
}

#[tokio::test]
async fn userinfo_returns_profile_claims_by_scope() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let http = reqwest::Client::new();

    let (status, body) = password_grant(&server, "jane@example.com", PASSWORD, "openid profile email", None).await;
    ok(status, &body);
    let sub = jwt_payload(str_of(&body, "id_token"))["sub"].clone();
    let response = http.get(server.url("userinfo")).bearer_auth(str_of(&body, "access_token")).send().await.unwrap();
    let (status, info) = answer(response).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], sub);
    assert_eq!(info["name"], "Jane Doe");
    assert_eq!(info["nickname"], "jane");
    assert_eq!(info["email"], "jane@example.com");
    assert_eq!(info["email_verified"], true);
    assert!(info.get("updated_at").is_some(), "{info}");
    // POST works too.
    let response = http.post(server.url("userinfo")).bearer_auth(str_of(&body, "access_token")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // openid alone: the subject only.
    let (status, body) = password_grant(&server, "jane@example.com", PASSWORD, "openid", None).await;
    ok(status, &body);
    let response = http.get(server.url("userinfo")).bearer_auth(str_of(&body, "access_token")).send().await.unwrap();
    let (status, info) = answer(response).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info, json!({ "sub": sub }));

    // Bad tokens: 401 with WWW-Authenticate.
    let good = str_of(&body, "access_token").to_owned();
    let (head, _) = good.rsplit_once('.').unwrap();
    let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    let (_, m2m) = client_credentials(&server, API, None).await;
    for token in [Some("garbage"), Some(tampered.as_str()), Some(str_of(&m2m, "access_token")), None] {
        let mut request = http.get(server.url("userinfo"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "token {token:?}");
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "WWW-Authenticate for {token:?}");
    }
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let set = jwks(&server).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    for key in keys {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert!(key["n"].is_string() && key["e"].is_string(), "{key}");
        assert!(key.get("d").is_none() && key.get("p").is_none(), "no private parts: {key}");
    }
    let (status, body) = password_grant(&server, "jane@example.com", PASSWORD, "openid", Some(API)).await;
    ok(status, &body);
    for token in [str_of(&body, "id_token"), str_of(&body, "access_token")] {
        let header = jwt_header(token);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], keys[0]["kid"]);
        verify_signature(&set, token).unwrap();
    }
    verify_id_token(&server, &set, "test-web", str_of(&body, "id_token")).unwrap();
    // Discovery points at it.
    let discovery: Value =
        reqwest::get(server.url(".well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["jwks_uri"], server.url(".well-known/jwks.json"));
    assert_eq!(discovery["issuer"], server.issuer);
}

// ---------------------------------------------------------------------------------------------------------------
// Management API: key rotation and tenant logs

/// A port nobody listens on now (the server cannot learn its issuer's port after start when the configuration must
/// name it, as the Management API's audience in a client grant does).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server on a fixed port whose configuration grants test-m2m `scopes` on the Management API.
fn management_server(scopes: &[&str], actions: &[(&str, &str)]) -> Server {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/");
    let scopes: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    let extra = format!(
        "[[client_grants]]\nclient_id = \"test-m2m\"\naudience = \"{issuer}api/v2/\"\nscopes = [{}]\n",
        scopes.join(", ")
    );
    let text = config(MFA_DEFAULT, &extra).replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let server = Server::start(&text, actions);
    assert_eq!(server.issuer, issuer);
    server
}

async fn management_token(server: &Server, scope: &str) -> String {
    let (status, body) = client_credentials(server, &server.url("api/v2/"), Some(scope)).await;
    ok(status, &body);
    str_of(&body, "access_token").to_owned()
}

#[tokio::test]
async fn key_rotation_publishes_the_new_key_and_keeps_the_old_one() {
    let server = management_server(&["read:signing_keys", "update:signing_keys", "read:logs"], &[]);
    let (status, before) = password_grant(&server, "jane@example.com", PASSWORD, "openid", None).await;
    ok(status, &before);
    let old_id = str_of(&before, "id_token").to_owned();
    let old_kid = jwt_header(&old_id)["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwks(&server).await["keys"].as_array().unwrap().len(), 1);

    // Rotation needs update:signing_keys.
    let http = reqwest::Client::new();
    let reader = management_token(&server, "read:signing_keys").await;
    let response = http.post(server.url("api/v2/keys/signing/rotate")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = http.post(server.url("api/v2/keys/signing/rotate")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let admin = management_token(&server, "update:signing_keys").await;
    let response = http.post(server.url("api/v2/keys/signing/rotate")).bearer_auth(&admin).send().await.unwrap();
    let (status, rotated) = answer(response).await;
    assert_eq!(status, 200, "{rotated}");
    let new_kid = str_of(&rotated, "kid").to_owned();
    assert_ne!(new_kid, old_kid);

    let set = jwks(&server).await;
    let kids: Vec<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()], "the new key first, the old one still published");

    // New tokens use the new key; the old token still verifies.
    let (status, after) = password_grant(&server, "jane@example.com", PASSWORD, "openid", None).await;
    ok(status, &after);
    assert_eq!(jwt_header(str_of(&after, "id_token"))["kid"], new_kid.as_str());
    assert_eq!(jwt_header(str_of(&after, "access_token"))["kid"], new_kid.as_str());
    verify_id_token(&server, &set, "test-web", str_of(&after, "id_token")).unwrap();
    verify_id_token(&server, &set, "test-web", &old_id).expect("a token of the previous key still verifies");
    let response = http.get(server.url("userinfo")).bearer_auth(str_of(&before, "access_token")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "an access token of the previous key is still accepted");

    // The Management API lists both.
    let response = http.get(server.url("api/v2/keys/signing")).bearer_auth(&reader).send().await.unwrap();
    let (status, keys) = answer(response).await;
    assert_eq!(status, 200, "{keys}");
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let current: Vec<&str> = keys.iter().filter(|k| k["current"] == true).map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(current, vec![new_kid.as_str()]);

    // `gatehouse keys rotate` reaches the running server through the Management API.
    let config_path = server.dir.path().join("gatehouse.toml");
    let output = tokio::process::Command::new(gatehouse_bin())
        .arg("keys")
        .arg("rotate")
        .arg("--config")
        .arg(&config_path)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "keys rotate: {}", String::from_utf8_lossy(&output.stderr));
    let set = jwks(&server).await;
    let kids: Vec<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 3, "{set}");
    assert_eq!(kids[1], new_kid, "{set}");
    let (status, latest) = password_grant(&server, "jane@example.com", PASSWORD, "openid", None).await;
    ok(status, &latest);
    assert_eq!(jwt_header(str_of(&latest, "id_token"))["kid"], kids[0]);
}

fn types_of(entries: &Value) -> Vec<String> {
    entries.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

fn first_index(types: &[String], kind: &str) -> usize {
    types.iter().position(|t| t == kind).unwrap_or_else(|| panic!("no {kind} entry in {types:?}"))
}

#[tokio::test]
async fn tenant_logs_through_the_management_api_and_the_cli() {
    let server = management_server(&["read:logs", "read:signing_keys"], &[]);
    // A login (s), a wrong password (fp), ten failures of taro (limit_wc), client credentials (seccft).
    let browser = Browser::new(&server);
    spa_login(&server, &browser, "openid").await;
    let (status, _) = password_grant(&server, "jane@example.com", "wrong-password", "openid", None).await;
    assert_eq!(status, 403);
    for _ in 0..10 {
        password_grant(&server, "taro@example.com", "wrong-password", "openid", None).await;
    }
    let (status, body) = client_credentials(&server, API, None).await;
    ok(status, &body);

    let http = reqwest::Client::new();
    let token = management_token(&server, "read:logs").await;
    let response = http.get(server.url("api/v2/logs")).bearer_auth(&token).send().await.unwrap();
    let (status, entries) = answer(response).await;
    assert_eq!(status, 200, "{entries}");
    let types = types_of(&entries);
    // Newest first.
    assert!(first_index(&types, "seccft") < first_index(&types, "limit_wc"), "{types:?}");
    assert!(first_index(&types, "limit_wc") < first_index(&types, "fp"), "{types:?}");
    assert!(first_index(&types, "fp") < first_index(&types, "s"), "{types:?}");
    let dates: Vec<&str> = entries.as_array().unwrap().iter().map(|e| e["date"].as_str().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "dates descend: {dates:?}");
    let login = &entries.as_array().unwrap()[first_index(&types, "s")];
    assert_eq!(login["user_name"], "jane@example.com", "{login}");
    assert_eq!(login["client_id"], "test-spa", "{login}");
    let m2m = &entries.as_array().unwrap()[first_index(&types, "seccft")];
    assert_eq!(m2m["client_id"], "test-m2m", "{m2m}");

    // q=type:s filters.
    let response =
        http.get(server.url("api/v2/logs")).query(&[("q", "type:s")]).bearer_auth(&token).send().await.unwrap();
    let (status, only) = answer(response).await;
    assert_eq!(status, 200, "{only}");
    let only = types_of(&only);
    assert!(!only.is_empty() && only.iter().all(|t| t == "s"), "{only:?}");
    let response =
        http.get(server.url("api/v2/logs")).query(&[("q", "type:limit_wc")]).bearer_auth(&token).send().await.unwrap();
    let (_, only) = answer(response).await;
    assert_eq!(types_of(&only), vec!["limit_wc"]);

    // Without a token, with a token lacking read:logs, with a token for another audience.
    let response = http.get(server.url("api/v2/logs")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let weak = management_token(&server, "read:signing_keys").await;
    let response = http.get(server.url("api/v2/logs")).bearer_auth(&weak).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = http.get(server.url("api/v2/logs")).bearer_auth(str_of(&body, "access_token")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401, "an API token is no Management API token");

    // `gatehouse logs` while the server runs: through the Management API.
    let config_path = server.dir.path().join("gatehouse.toml");
    let output = tokio::process::Command::new(gatehouse_bin())
        .arg("logs")
        .arg("--config")
        .arg(&config_path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "gatehouse logs: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let printed: Vec<String> = stdout.lines().filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned)).collect();
    for kind in ["s", "fp", "limit_wc", "seccft"] {
        assert!(printed.iter().any(|t| t == kind), "{kind} in:\n{stdout}");
    }
    assert!(first_index(&printed, "seccft") < first_index(&printed, "s"), "newest first:\n{stdout}");
    let output = tokio::process::Command::new(gatehouse_bin())
        .args(["logs", "--type", "limit_wc", "--json", "--config"])
        .arg(&config_path)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["type"], "limit_wc");
}

// ---------------------------------------------------------------------------------------------------------------
// CORS

#[tokio::test]
async fn cors_preflight_on_the_token_endpoint() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, server.url("oauth/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "auth0-client,content-type")
            .send()
    };
    let response = preflight("http://127.0.0.1:9").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let header = |r: &reqwest::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_lowercase());
    assert_eq!(header(&response, "access-control-allow-origin").as_deref(), Some("http://127.0.0.1:9"));
    let allowed = header(&response, "access-control-allow-headers").unwrap_or_default();
    assert!(allowed.contains("auth0-client") && allowed.contains("content-type"), "{allowed}");
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("post"), "{methods}");

    let response = preflight("https://evil.example").await.unwrap();
    assert!(header(&response, "access-control-allow-origin").is_none(), "another origin is not allowed");

    // The actual request from the SPA's origin carries the header; the token answer is readable.
    let response = http
        .post(server.url("oauth/token"))
        .header("origin", "http://127.0.0.1:9")
        .form(&[("grant_type", "refresh_token"), ("client_id", "test-spa"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "access-control-allow-origin").as_deref(), Some("http://127.0.0.1:9"));
}
