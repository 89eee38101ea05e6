//! Consent (seed 004): third-party applications ask each user once per audience (again with `prompt=consent`, when
//! they ask for more, or once the consent is revoked through `/api/v2/grants`); first-party ones skip it when the
//! API allows, except on a loopback redirect URI; a decline answers `access_denied`. In-process on a real port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gatehouse_auth::tenant::Tenant;
use gatehouse_server::AppState;
use gatehouse_store::SledStore;
use gatehouse_tests::{
    Browser, MFA_DEFAULT, Page, SPA_CALLBACK, Server, callback_code, config, exchange_code, open_tenant, pkce,
};
use serde_json::{Value, json};

const API: &str = "https://api.example.com/";
const PARTNER_CALLBACK: &str = "https://partner.example.com/callback";

fn consent_config() -> String {
    config(
        MFA_DEFAULT,
        r#"
[[clients]]
client_id = "partner"
name = "Partner App"
app_type = "spa"
is_first_party = false
callbacks = ["https://partner.example.com/callback"]

[[clients]]
client_id = "test-admin"
name = "Test Admin"
app_type = "non_interactive"
client_secret = "test-admin-secret-0123456789"

[[client_grants]]
client_id = "test-admin"
audience = "http://127.0.0.1:0/api/v2/"
scopes = ["read:grants", "delete:grants", "update:resource_servers"]
"#,
    )
    .replace(
        "scopes = [\"read:data\", \"write:data\"]",
        "scopes = [\"read:data\", \"write:data\"]\nscope_descriptions = { \"read:data\" = \"Read your data\" }",
    )
}

async fn serve(text: &str) -> (Arc<Tenant>, Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let clock = Arc::new(gatehouse_auth::clock::SystemClock);
    let tenant = Arc::new(open_tenant(&text, dir.path(), Arc::new(SledStore::temporary().unwrap()), clock).await);
    tokio::spawn(gatehouse_server::serve(AppState { tenant: tenant.clone() }, listener, std::future::pending()));
    (tenant, Server::attach(&format!("http://127.0.0.1:{port}/")), dir)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Starts a login of `client` at `callback` asking for `scope` (and `API` unless `audience` is false), and enters
/// jane's password when the login page shows. Returns the page after it and the PKCE verifier.
async fn login(
    browser: &Browser,
    server: &Server,
    client: &str,
    callback: &str,
    scope: &str,
    audience: bool,
    extra: &str,
) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let audience = if audience { format!("&audience={}", enc(API)) } else { String::new() };
    let url = server.url(&format!(
        "authorize?client_id={client}&response_type=code&redirect_uri={}&scope={}{audience}&state=app-state&code_challenge={challenge}&code_challenge_method=S256{extra}",
        enc(callback),
        enc(scope),
    ));
    let page = browser.follow(browser.get(&url).await).await;
    if !page.body.contains("name=\"password\"") {
        return (page, verifier);
    }
    let page = browser
        .submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")])
        .await;
    (page, verifier)
}

fn is_consent(page: &Page) -> bool {
    page.status == 200 && page.body.contains("action=\"/u/consent\"")
}

async fn admin(server: &Server) -> (reqwest::Client, String) {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "test-admin"),
            ("client_secret", "test-admin-secret-0123456789"),
            ("audience", &server.url("api/v2/")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (http, token["access_token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_application_asks_once_and_again_when_prompted_asking_more_or_revoked() {
    let (tenant, server, _dir) = serve(&consent_config()).await;
    let browser = Browser::new(&server);
    let (page, verifier) =
        login(&browser, &server, "partner", PARTNER_CALLBACK, "openid profile read:data", true, "").await;
    assert!(is_consent(&page), "{}", page.body);
    assert!(page.body.contains("Partner App") && page.body.contains("Test API"), "{}", page.body);
    assert!(page.body.contains("Read your data (read:data)"), "the API's description of the scope: {}", page.body);
    assert!(page.body.contains("Your profile"), "OIDC scopes described by the page: {}", page.body);
    let page = browser.submit(&page, "/u/consent", &[("action", "accept")]).await;
    let code = callback_code_at(&page, PARTNER_CALLBACK);
    let tokens = exchange(&server, "partner", &code, &verifier, PARTNER_CALLBACK).await;
    assert_eq!(tokens["scope"], "openid profile read:data");

    // Stored per user, client and audience, as Auth0's user grant.
    let (http, token) = admin(&server).await;
    let jane = tenant.store.find_user_by_email("jane@example.com").await.unwrap().unwrap();
    let grants: Value = http
        .get(server.url(&format!("api/v2/grants?user_id={}", enc(&jane.user_id))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    assert_eq!(grants[0]["clientID"], "partner");
    assert_eq!(grants[0]["audience"], API);
    assert_eq!(grants[0]["scope"], json!(["openid", "profile", "read:data"]));

    // The same again: no page. With prompt=consent, or asking for more: the page.
    let (page, _) =
        login(&Browser::new(&server), &server, "partner", PARTNER_CALLBACK, "openid read:data", true, "").await;
    assert_eq!(page.status, 302, "consent was given: {}", page.body);
    let (page, _) =
        login(&Browser::new(&server), &server, "partner", PARTNER_CALLBACK, "openid", true, "&prompt=consent").await;
    assert!(is_consent(&page), "prompt=consent asks again: {}", page.body);
    let more = Browser::new(&server);
    let (page, _) = login(&more, &server, "partner", PARTNER_CALLBACK, "openid write:data", true, "").await;
    assert!(is_consent(&page), "write:data was never allowed: {}", page.body);
    let page = more.submit(&page, "/u/consent", &[("action", "accept")]).await;
    assert_eq!(page.status, 302);

    // Revoked: asked again.
    let id = grants[0]["id"].as_str().unwrap();
    let revoked = http.delete(server.url(&format!("api/v2/grants/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    let again = http.delete(server.url(&format!("api/v2/grants/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let (page, _) =
        login(&Browser::new(&server), &server, "partner", PARTNER_CALLBACK, "openid read:data", true, "").await;
    assert!(is_consent(&page), "{}", page.body);
}

/// Exchanges a code of `client` issued at `callback`.
async fn exchange(server: &Server, client: &str, code: &str, verifier: &str, callback: &str) -> Value {
    reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", callback),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn callback_code_at(page: &Page, callback: &str) -> String {
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with(callback)), "{:?}: {}", page.location, page.body);
    callback_code(page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_answers_access_denied_and_stores_nothing() {
    let (tenant, server, _dir) = serve(&consent_config()).await;
    let browser = Browser::new(&server);
    let (consent, _) = login(&browser, &server, "partner", PARTNER_CALLBACK, "openid read:data", true, "").await;
    assert!(is_consent(&consent), "{}", consent.body);
    let page = browser.submit(&consent, "/u/consent", &[("action", "deny")]).await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with(PARTNER_CALLBACK)), "{:?}", page.location);
    let params = page.location_params();
    assert_eq!(params.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(params.get("error_description").map(String::as_str), Some("User did not authorize the request"));
    assert_eq!(params.get("state").map(String::as_str), Some("app-state"));
    let logs = tenant.store.list_logs(&gatehouse_store::LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "f" && l.description == "User did not authorize the request"), "{logs:?}");
    assert!(!logs.iter().any(|l| l.kind == "s"), "no successful login: {logs:?}");
    // A replayed accept on the finished transaction does nothing.
    let replay = browser.submit(&consent, "/u/consent", &[("action", "accept")]).await;
    assert_ne!(replay.status, 302, "{}", replay.body);
    let (page, _) =
        login(&Browser::new(&server), &server, "partner", PARTNER_CALLBACK, "openid read:data", true, "").await;
    assert!(is_consent(&page), "nothing was stored: {}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_party_applications_skip_consent_unless_the_api_says_no_or_the_redirect_is_loopback() {
    let (_, server, _dir) = serve(&consent_config()).await;
    // A verifiable redirect URI, an API that allows skipping: no page.
    let (page, verifier) =
        login(&Browser::new(&server), &server, "test-spa", SPA_CALLBACK, "openid read:data", true, "").await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    assert_eq!(tokens["scope"], "openid read:data");
    // localhost is anyone's: the page, for the same first-party application.
    let browser = Browser::new(&server);
    let (page, verifier) =
        login(&browser, &server, "test-spa", "http://localhost:9/callback", "openid read:data", true, "").await;
    assert!(is_consent(&page), "{}", page.body);
    let page = browser.submit(&page, "/u/consent", &[("action", "accept")]).await;
    let code = callback_code_at(&page, "http://localhost:9/callback");
    let exchanged = exchange(&server, "test-spa", &code, &verifier, "http://localhost:9/callback").await;
    assert_eq!(exchanged["scope"], "openid read:data", "{exchanged}");
    // No API asked for: a first-party login is not asked, loopback or not.
    let (page, _) =
        login(&Browser::new(&server), &server, "test-spa", "http://localhost:9/callback", "openid profile", false, "")
            .await;
    assert_eq!(page.status, 302, "{}", page.body);

    // The API stops allowing first-party clients to skip: asked on the verifiable URI too.
    let (http, token) = admin(&server).await;
    let patched = http
        .patch(server.url(&format!("api/v2/resource-servers/{}", enc(API))))
        .bearer_auth(&token)
        .json(&json!({ "skip_consent_for_verifiable_first_party_clients": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status().as_u16(), 200);
    let (page, _) =
        login(&Browser::new(&server), &server, "test-spa", SPA_CALLBACK, "openid write:data", true, "").await;
    assert!(is_consent(&page), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_that_needs_consent_answers_consent_required() {
    let (_, server, _dir) = serve(&consent_config()).await;
    let browser = Browser::new(&server);
    // An SSO session from a first-party login, then the partner silently.
    let (page, _) = login(&browser, &server, "test-spa", SPA_CALLBACK, "openid", false, "").await;
    assert_eq!(page.status, 302);
    let (page, _) =
        login(&browser, &server, "partner", PARTNER_CALLBACK, "openid read:data", true, "&prompt=none").await;
    let params = page.location_params();
    assert_eq!(params.get("error").map(String::as_str), Some("consent_required"), "{:?}", page.location);
}
