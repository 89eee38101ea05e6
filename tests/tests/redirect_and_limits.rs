//! End-to-end: an action's redirect and `/continue`, and the attempt limit of the hosted MFA pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_tests::{Browser, MFA_DEFAULT, Server, config, jwt_payload, otp_secret, pkce, totp};
use serde_json::json;

const CALLBACK: &str = "https://spa.example.com/callback";

fn authorize(server: &Server, challenge: &str, extra: &str) -> String {
    server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri=https%3A%2F%2Fspa.example.com%2Fcallback&scope=openid&state=s1&code_challenge={challenge}&code_challenge_method=S256{extra}"
    ))
}

async fn login(browser: &Browser, url: &str, email: &str) -> gatehouse_tests::Page {
    let page = browser.follow(browser.get(url).await).await;
    browser.submit(&page, "/u/login", &[("email", email), ("password", "correct-horse-battery")]).await
}

const CONSENT: &str = r#"
exports.onExecutePostLogin = async (event, api) => {
  api.redirect.sendUserTo('https://consent.example.com/ask', { query: { user: event.user.email, id: event.user.user_id } });
};
exports.onContinuePostLogin = async (event, api) => {
  const payload = api.redirect.validateToken({ secret: event.secrets.CONSENT_SECRET, tokenParameterName: 'consent_token' });
  api.idToken.setCustomClaim('https://gatehouse.test/consent', payload.answer);
};
"#;

#[tokio::test]
async fn an_action_redirect_resumes_in_on_continue_post_login() {
    let server = Server::start(
        &config(MFA_DEFAULT, "[secrets]\nCONSENT_SECRET = \"consent-shared-secret\""),
        &[("10-consent.js", CONSENT)],
    );
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let page = login(&browser, &authorize(&server, &challenge, ""), "jane@example.com").await;
    assert_eq!(page.status, 302);
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert_eq!(location.host_str(), Some("consent.example.com"));
    let params: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["user"], "jane@example.com");
    let state = params["state"].clone();

    // The external site answers with a token signed with the shared secret, carrying the state.
    let user = params["id"].clone();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({ "sub": user, "iss": "127.0.0.1", "state": state, "exp": now + 60, "answer": "yes" });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"consent-shared-secret"),
    )
    .unwrap();

    // A forged token (wrong secret) fails the login.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret"),
    )
    .unwrap();
    let other = Browser::new(&server);
    let page = other.get(&format!("/continue?state={state}&consent_token={forged}")).await;
    assert!(page.body.contains("another browser"), "the transaction is bound to its browser: {}", page.body);

    let page = browser.get(&format!("/continue?state={state}&consent_token={token}")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let params = page.location_params();
    assert!(page.location.as_deref().unwrap().starts_with(CALLBACK));
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", params["code"].as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwt_payload(tokens["id_token"].as_str().unwrap())["https://gatehouse.test/consent"], "yes");
}

#[tokio::test]
async fn ten_wrong_codes_on_the_hosted_page_block_the_factor() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let acr = "&acr_values=http%3A%2F%2Fschemas.openid.net%2Fpape%2Fpolicies%2F2007%2F06%2Fmulti-factor";
    let page = login(&browser, &authorize(&server, &challenge, acr), "jane@example.com").await;
    let page = browser.pass_email_challenge(&server, page).await;
    let secret = otp_secret(&page);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    assert_eq!(page.status, 302);

    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let mut page = login(&browser, &authorize(&server, &challenge, acr), "jane@example.com").await;
    let wrong = if totp(&secret, 1) == "000000" { "111111" } else { "000000" };
    for attempt in 1..=10 {
        page = browser.submit(&page, "/u/mfa", &[("code", wrong)]).await;
        if attempt < 10 {
            assert!(page.body.contains("The code you entered is invalid."), "attempt {attempt}: {}", page.body);
        }
    }
    assert!(page.body.contains("Too many failed codes"), "{}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 1))]).await;
    assert!(page.body.contains("Too many failed codes"), "the right code is refused while blocked: {}", page.body);
}

#[tokio::test]
async fn a_broken_action_never_replaces_the_last_good_one() {
    let claim = r#"exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://gatehouse.test/v', 1); };"#;
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-claim.js", claim)]);
    server.set_actions(&[(
        "10-claim.js",
        "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim(;\n};",
    )]);
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let page = login(&browser, &authorize(&server, &challenge, ""), "jane@example.com").await;
    let code = page.location_params()["code"].clone();
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_payload(tokens["id_token"].as_str().unwrap())["https://gatehouse.test/v"],
        1,
        "the last good version still runs"
    );
}

#[tokio::test]
async fn a_paused_login_resumes_after_a_restart() {
    let mut server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    // Enroll first (the tenant asks for MFA through acr_values).
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let acr = "&acr_values=http%3A%2F%2Fschemas.openid.net%2Fpape%2Fpolicies%2F2007%2F06%2Fmulti-factor";
    let page = login(&browser, &authorize(&server, &challenge, acr), "jane@example.com").await;
    let page = browser.pass_email_challenge(&server, page).await;
    let secret = otp_secret(&page);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;

    // A new login pauses on the OTP challenge of a post-login action...
    server.set_actions(&[(
        "10-otp.js",
        "exports.onExecutePostLogin = async (e, api) => { api.authentication.challengeWith({ type: 'otp' }); };",
    )]);
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let page = login(&browser, &authorize(&server, &challenge, ""), "jane@example.com").await;
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    // ...the server dies and comes back; the same browser finishes the login.
    server.restart();
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 1))]).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert!(page.location_params().contains_key("code"));
}
