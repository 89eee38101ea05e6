//! End-to-end: the hosted login and MFA pages, driven like a browser against a real `gatehouse serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_tests::{
    Browser, MFA_DEFAULT, Page, SPA_CALLBACK, Server, callback_code, config, exchange_code, jwt_payload, otp_secret,
    pkce, totp,
};

fn authorize_url(server: &Server, scope: &str, challenge: &str, extra: &str) -> String {
    let scope = scope.replace(' ', "%20");
    server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope={scope}&audience=https%3A%2F%2Fapi.example.com%2F&state=app-state&nonce=n-123&code_challenge={challenge}&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(SPA_CALLBACK.as_bytes()).collect::<String>()
    ))
}

/// Logs in with a password; returns the page after the form (a callback redirect or an MFA page).
async fn password_login(browser: &Browser, server: &Server, url: &str, email: &str) -> Page {
    let page = browser.follow(browser.get(url).await).await;
    assert_eq!(page.status, 200, "login page: {}", page.body);
    assert!(page.body.contains("name=\"password\""), "expected the login form");
    let _ = server;
    browser.submit(&page, "/u/login", &[("email", email), ("password", "correct-horse-battery")]).await
}

/// Enrolls an authenticator app through the MFA a login with acr_values demands; returns its secret.
async fn enroll_otp(server: &Server, email: &str) -> String {
    let browser = Browser::new(server);
    let (verifier, challenge) = pkce();
    let acr = "&acr_values=http%3A%2F%2Fschemas.openid.net%2Fpape%2Fpolicies%2F2007%2F06%2Fmulti-factor";
    let page = password_login(&browser, server, &authorize_url(server, "openid", &challenge, acr), email).await;
    let page = browser.pass_email_challenge(server, page).await;
    assert!(page.body.contains("otpauth://totp/"), "expected the enrollment page: {}", page.body);
    let secret = otp_secret(&page);
    let code = totp(&secret, 0);
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    assert!(page.body.contains("id=\"recovery-code\""), "expected the recovery code once: {}", page.body);
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let code = callback_code(&page);
    exchange_code(server, &code, &verifier).await;
    secret
}

#[tokio::test]
async fn step_up_by_scope_needs_mfa_but_not_the_password_again() {
    // Seed 000: the active flow's 10-step-up.js enables MFA when write:data is requested.
    let server = Server::start(
        &config(MFA_DEFAULT, ""),
        &[
            ("10-step-up.js", &Server::action("actions/post-login/10-step-up.js")),
            ("20-roles-claims.js", &Server::action("actions/post-login/20-roles-claims.js")),
        ],
    );
    let browser = Browser::new(&server);

    // 1. A basic login: no MFA, a token with read:data.
    let (verifier, challenge) = pkce();
    let page = password_login(
        &browser,
        &server,
        &authorize_url(&server, "openid profile read:data", &challenge, ""),
        "jane@example.com",
    )
    .await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let access = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["scope"], "openid profile read:data");
    assert_eq!(access["https://gatehouse.dev/roles"], serde_json::json!(["admin"]));
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert!(id.get("amr").is_none() && id.get("acr").is_none(), "no MFA yet: {id}");

    // 2. Step up: the SSO session skips the password; MFA (here, enrolling an authenticator app) is required.
    let (verifier, challenge) = pkce();
    let page = browser
        .follow(browser.get(&authorize_url(&server, "openid profile read:data write:data", &challenge, "")).await)
        .await;
    assert!(!page.body.contains("name=\"password\""), "the password must not be asked again");
    // jane's verified email is her factor: passed first, then an authenticator app is enrolled.
    assert!(page.body.contains("j***@example.com"), "expected the email challenge: {}", page.body);
    let page = browser.pass_email_challenge(&server, page).await;
    assert!(page.body.contains("otpauth://totp/"), "expected MFA enrollment: {}", page.body);
    let secret = otp_secret(&page);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let access = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["scope"], "openid profile read:data write:data");
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["mfa"]));
    assert_eq!(id["acr"], "http://schemas.openid.net/pape/policies/2007/06/multi-factor");
    assert_eq!(id["nonce"], "n-123");
}

#[tokio::test]
async fn step_up_by_acr_values_and_the_next_action_sees_the_method() {
    let methods = r#"exports.onExecutePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('https://gatehouse.test/methods', event.authentication.methods.map(m => m.type || m.name));
    };"#;
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-methods.js", methods)]);
    let secret = enroll_otp(&server, "taro@example.com").await;

    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let seed_acr = "&acr_values=http%3A%2F%2Fschemas.openid.net%2Fpfi%2F2021%2F04%2Facr%2Fmfa";
    let page =
        password_login(&browser, &server, &authorize_url(&server, "openid", &challenge, seed_acr), "taro@example.com")
            .await;
    assert!(page.body.contains("name=\"code\""), "expected the OTP challenge: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 1))]).await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], "http://schemas.openid.net/pfi/2021/04/acr/mfa", "the requested MFA acr comes back");
    assert_eq!(id["amr"], serde_json::json!(["mfa"]));

    // The next login in this session: the action sees the MFA method.
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url(&server, "openid", &challenge, "")).await).await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["https://gatehouse.test/methods"], serde_json::json!(["pwd", "otp"]));
}

#[tokio::test]
async fn deny_returns_access_denied_with_the_reason() {
    let deny = r#"exports.onExecutePostLogin = async (event, api) => {
      if (!event.authorization.roles.includes('admin')) return api.access.deny('Admins only');
    };"#;
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-admins.js", deny)]);
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let page =
        password_login(&browser, &server, &authorize_url(&server, "openid", &challenge, ""), "taro@example.com").await;
    assert_eq!(page.status, 302);
    let params = page.location_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["error_description"], "Admins only");
    assert_eq!(params["state"], "app-state");
    assert!(page.location.as_deref().unwrap().starts_with(SPA_CALLBACK));
}

#[tokio::test]
async fn two_challenges_from_seed_001_with_the_factor_picker() {
    // Action 1 (seed 001, additionalFactors: email): OTP by default, the user picks email behind
    // "Try another method". Action 2 (seed 001, current enrollments): challengeWithAny([otp, phone]); phone is not
    // available, so OTP is asked, and the picker is skipped.
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let secret = enroll_otp(&server, "jane@example.com").await;
    // The flow changes while the server runs: it reloads the folder.
    server.set_actions(&[
        ("10-otp-or-email.js", &Server::action("actions/examples/otp-with-email-fallback.js")),
        ("20-otp-or-phone.js", &Server::action("actions/examples/challenge-enrolled-otp-or-phone.js")),
    ]);
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let page =
        password_login(&browser, &server, &authorize_url(&server, "openid", &challenge, ""), "jane@example.com").await;
    assert!(page.body.contains("Try another method"), "challengeWith offers the alternatives: {}", page.body);
    let picker = browser.submit(&page, "/u/mfa/choose", &[]).await;
    assert!(picker.body.contains("value=\"email\"") && picker.body.contains("value=\"otp\""), "{}", picker.body);
    // Each factor says what it is; "Back" returns to the factor shown before the picker.
    assert!(picker.body.contains("A code sent to your email address"), "{}", picker.body);
    assert!(picker.body.contains(">Back</button>"), "{}", picker.body);
    let back = browser.submit(&picker, "/u/mfa/choose", &[("factor", "otp")]).await;
    assert!(back.body.contains("authenticator app"), "back to the OTP challenge: {}", back.body);
    let picker = browser.submit(&back, "/u/mfa/choose", &[]).await;
    let page = browser.submit(&picker, "/u/mfa/choose", &[("factor", "email")]).await;
    assert!(page.body.contains("j***@example.com"), "email challenge: {}", page.body);
    let code = server.latest_email_code();
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    assert!(page.body.contains("authenticator app"), "second challenge is OTP: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 1))]).await;
    exchange_code(&server, &callback_code(&page), &verifier).await;
}

#[tokio::test]
async fn restart_after_kill_keeps_users_and_enrollments() {
    let mut server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let secret = enroll_otp(&server, "jane@example.com").await;
    server.kill9();
    server.restart();
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let acr = "&acr_values=http%3A%2F%2Fschemas.openid.net%2Fpape%2Fpolicies%2F2007%2F06%2Fmulti-factor";
    let page =
        password_login(&browser, &server, &authorize_url(&server, "openid", &challenge, acr), "jane@example.com").await;
    assert!(!page.body.contains("otpauth://"), "the enrollment survived: no second enrollment");
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 1))]).await;
    exchange_code(&server, &callback_code(&page), &verifier).await;
}

#[tokio::test]
async fn ten_failed_logins_block_the_account_for_that_ip() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (_, challenge) = pkce();
    let mut page = browser.follow(browser.get(&authorize_url(&server, "openid", &challenge, "")).await).await;
    for _ in 0..10 {
        page =
            browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "wrong-password")]).await;
    }
    assert!(page.body.contains("blocked"), "{}", page.body);
    let page = browser
        .submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")])
        .await;
    assert!(page.body.contains("blocked"), "the right password does not unblock: {}", page.body);
}
