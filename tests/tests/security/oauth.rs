//! Findings 3 to 7: the scope separator, the password grant against the sample step-up action, PKCE downgrade,
//! authorization code replay, and a refused refresh that burnt its token.

use gatehouse_tests::{Browser, MFA_DEFAULT, SPA_CALLBACK, Server, config};

use crate::common::{
    callback_params, enc, hosted_login, password_grant, refresh, spa_authorize_url, userinfo_status, web_authorize_url,
    web_code, web_exchange,
};

/// `scope=openid%09write:data` (and LF, NBSP) was split one way by the action and another by the token code: it
/// is now refused with `invalid_scope` at `/authorize` and at `/oauth/token`.
#[tokio::test]
async fn step_up_bypass_through_the_scope_separator_is_refused() {
    let step_up = gatehouse_tests::Server::action("actions/examples/step-up-by-scope.js");
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-step-up.js", &step_up)]);
    for separator in ["\t", "\n", "\u{a0}", "\u{3000}"] {
        let scope = format!("openid{separator}write:data");
        let browser = Browser::new(&server);
        let page = browser.get(&web_authorize_url(&server, &scope, "")).await;
        let params = callback_params(&page, crate::common::WEB_CALLBACK);
        assert_eq!(params.get("error").map(String::as_str), Some("invalid_scope"), "{separator:?}: {params:?}");
        let (status, body) = password_grant(&server, "jane@example.com", "correct-horse-battery", &scope).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{separator:?}: {body}");
    }
}

/// The sample flow that `make run` serves reads `event.transaction.requested_scopes`, which the password grant
/// fills too: `write:data` needs MFA there as well.
#[tokio::test]
async fn step_up_bypass_through_the_password_grant_is_refused() {
    let step_up = Server::action("actions/post-login/10-step-up.js");
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-step-up.js", &step_up)]);
    let (status, body) =
        password_grant(&server, "jane@example.com", "correct-horse-battery", "openid write:data").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("mfa_required")), "{body}");
    let (status, body) = password_grant(&server, "jane@example.com", "correct-horse-battery", "openid read:data").await;
    assert_eq!(status, 200, "read:data needs no MFA: {body}");
}

/// RFC 9700 §2.1.1: a code issued without `code_challenge` cannot be redeemed with a `code_verifier`, and a
/// one-character challenge is refused at `/authorize`.
#[tokio::test]
async fn pkce_downgrade_is_refused() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let code = web_code(&server, "openid").await;
    let verifier = "attacker-chosen-verifier-0123456789-0123456789";
    let (status, body) = web_exchange(&server, &code, &[("code_verifier", verifier)]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "{body}");

    let browser = Browser::new(&server);
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=s&code_challenge=x&code_challenge_method=S256",
        enc(SPA_CALLBACK)
    ));
    let params = callback_params(&browser.get(&url).await, SPA_CALLBACK);
    assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"), "{params:?}");
}

/// RFC 6749 §4.1.2: the second exchange of a code is refused and revokes the refresh token and access token of
/// the first; the replay of a code that was never issued revokes nothing else.
#[tokio::test]
async fn a_replayed_authorization_code_revokes_the_first_exchange() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let code = web_code(&server, "openid offline_access").await;
    let (status, first) = web_exchange(&server, &code, &[]).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&server, access).await, 200);

    let (status, body) = web_exchange(&server, &code, &[]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo_status(&server, access).await, 401, "the first access token is revoked");
    let (status, body) = refresh(&server, refresh_token, None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "the first refresh token is revoked");

    // Another login's tokens are untouched.
    let other = web_code(&server, "openid offline_access").await;
    let (status, tokens) = web_exchange(&server, &other, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(userinfo_status(&server, tokens["access_token"].as_str().unwrap()).await, 200);
}

/// A refresh refused for its request (a widened scope) leaves the token usable: it is spent only once the request
/// is valid.
#[tokio::test]
async fn a_refused_refresh_does_not_burn_the_token() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let code = web_code(&server, "openid offline_access read:data").await;
    let (status, tokens) = web_exchange(&server, &code, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&server, refresh_token, Some("openid offline_access write:data")).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_scope")), "{body}");
    let (status, body) = refresh(&server, refresh_token, Some("openid\tread:data")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let (status, body) = refresh(&server, refresh_token, None).await;
    assert_eq!(status, 200, "the token still works: {body}");
}

/// The SPA's PKCE login still works end to end (the checks above did not break the honest path).
#[tokio::test]
async fn an_honest_pkce_login_still_works() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (url, verifier) = spa_authorize_url(&server, "openid");
    let page = hosted_login(&browser, &url, "jane@example.com").await;
    let code = gatehouse_tests::callback_code(&page);
    gatehouse_tests::exchange_code(&server, &code, &verifier).await;
}
