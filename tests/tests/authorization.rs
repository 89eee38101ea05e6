//! RBAC (seed 004, reference §9.1), in-process: `[[roles]]` grant permissions per API; an API with
//! `enforce_policies` grants the requested scopes the user's roles permit; the `*_authz` dialects list the
//! permissions, the RFC 9068 ones change the token's shape; actions that change scopes win; a refresh sees the
//! user's current roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_auth::clock::ManualClock;
use gatehouse_auth::tenant::Tenant;
use gatehouse_server::AppState;
use gatehouse_store::SledStore;
use gatehouse_tests::{MFA_DEFAULT, config, jwt_payload, open_tenant};
use gatehouse_types::config::TenantConfig;
use gatehouse_types::records::User;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const API: &str = "https://api.example.com/";

/// The test tenant with its API under RBAC in `dialect`, two roles (admin: read and write; viewer: read), and the
/// post-login actions given.
fn rbac_config(dialect: &str) -> String {
    config(
        MFA_DEFAULT,
        r#"
[[roles]]
name = "admin"
description = "Reads and writes data"
permissions = { "https://api.example.com/" = ["read:data", "write:data"] }

[[roles]]
name = "viewer"
permissions = { "https://api.example.com/" = ["read:data"] }
"#,
    )
    .replace(
        "scopes = [\"read:data\", \"write:data\"]",
        &format!("scopes = [\"read:data\", \"write:data\"]\nenforce_policies = true\ntoken_dialect = \"{dialect}\""),
    )
}

async fn tenant(text: &str, actions: &[(&str, &str)]) -> (Arc<Tenant>, axum::Router, tempfile::TempDir) {
    let actions: Vec<(&str, &str, &str)> = actions.iter().map(|(name, code)| ("post-login", *name, *code)).collect();
    tenant_with(text, &actions).await
}

/// A tenant with actions in any trigger's folder: (folder, file, code).
async fn tenant_with(text: &str, actions: &[(&str, &str, &str)]) -> (Arc<Tenant>, axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
    for (folder, name, code) in actions {
        let folder = dir.path().join("actions").join(folder);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), code).unwrap();
    }
    let clock = Arc::new(ManualClock::starting_now());
    let tenant = Arc::new(open_tenant(text, dir.path(), Arc::new(SledStore::temporary().unwrap()), clock).await);
    let app = gatehouse_server::app(AppState { tenant: tenant.clone() });
    (tenant, app, dir)
}

async fn token(app: &axum::Router, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let request = http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn password(app: &axum::Router, email: &str, scope: &str) -> Value {
    let (status, body) = token(
        app,
        &[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("username", email),
            ("password", "correct-horse-battery"),
            ("audience", API),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

#[tokio::test]
async fn rbac_grants_the_scopes_the_roles_permit_and_the_authz_dialect_lists_the_permissions() {
    let (_, app, _dir) = tenant(&rbac_config("access_token_authz"), &[]).await;
    // jane is an admin: both scopes; taro a viewer: read only, whatever he asks for.
    let jane = password(&app, "jane@example.com", "openid read:data write:data").await;
    assert_eq!(jane["scope"], "openid read:data write:data");
    let claims = jwt_payload(jane["access_token"].as_str().unwrap());
    assert_eq!(strings(&claims["permissions"]), ["read:data", "write:data"]);
    assert_eq!(header(jane["access_token"].as_str().unwrap())["typ"], "JWT");
    assert_eq!(claims["azp"], "test-web");

    let taro = password(&app, "taro@example.com", "openid read:data write:data").await;
    assert_eq!(taro["scope"], "openid read:data");
    let claims = jwt_payload(taro["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "openid read:data");
    assert_eq!(strings(&claims["permissions"]), ["read:data"], "every permission, requested or not");
    // Asking for nothing of the API: no API scope, and still the permissions (Auth0 lists all of them).
    let taro = password(&app, "taro@example.com", "openid").await;
    assert_eq!(taro["scope"], "openid");
    assert_eq!(strings(&jwt_payload(taro["access_token"].as_str().unwrap())["permissions"]), ["read:data"]);
}

#[tokio::test]
async fn the_rfc9068_dialect_has_its_type_client_id_and_jti() {
    let (_, app, _dir) = tenant(&rbac_config("rfc9068_profile"), &[]).await;
    let jane = password(&app, "jane@example.com", "read:data").await;
    let access = jane["access_token"].as_str().unwrap();
    assert_eq!(header(access)["typ"], "at+jwt");
    let claims = jwt_payload(access);
    assert_eq!(claims["client_id"], "test-web");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims.get("azp").is_none(), "{claims}");
    assert!(claims.get("permissions").is_none(), "not an authz dialect: {claims}");
    // Client credentials in the authz variant: the client's granted scopes are its permissions.
    let (_, app, _dir) = tenant(&rbac_config("rfc9068_profile_authz"), &[]).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(header(access)["typ"], "at+jwt");
    let claims = jwt_payload(access);
    assert_eq!((claims["sub"].as_str(), claims["client_id"].as_str()), (Some("test-m2m@clients"), Some("test-m2m")));
    assert_eq!(strings(&claims["permissions"]), ["read:data"]);
}

#[tokio::test]
async fn an_action_that_adds_a_scope_wins_over_rbac() {
    let add = "exports.onExecutePostLogin = async (event, api) => {\n  \
               if (event.authorization.roles.includes('viewer')) api.accessToken.addScope('write:data');\n};\n";
    let (_, app, _dir) = tenant(&rbac_config("access_token_authz"), &[("10-add.js", add)]).await;
    let taro = password(&app, "taro@example.com", "read:data").await;
    assert_eq!(taro["scope"], "read:data write:data");
    // Permissions stay what the roles grant.
    assert_eq!(strings(&jwt_payload(taro["access_token"].as_str().unwrap())["permissions"]), ["read:data"]);
}

#[tokio::test]
async fn a_refresh_sees_the_users_current_roles() {
    let (tenant, app, _dir) = tenant(&rbac_config("access_token_authz"), &[]).await;
    let jane = password(&app, "jane@example.com", "openid offline_access read:data write:data").await;
    let refresh = jane["refresh_token"].as_str().unwrap().to_owned();
    let user = tenant.store.find_user_by_email("jane@example.com").await.unwrap().unwrap();
    let viewer = |u: &User| Some(User { roles: vec!["viewer".to_owned()], ..u.clone() });
    tenant.store.update_user(&user.user_id, &viewer).await.unwrap().unwrap();
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid offline_access read:data", "write:data went with the admin role");
    assert_eq!(strings(&jwt_payload(body["access_token"].as_str().unwrap())["permissions"]), ["read:data"]);
}

#[test]
fn roles_naming_an_unknown_api_or_scope_are_refused_with_the_key() {
    let text = rbac_config("access_token").replace(
        "permissions = { \"https://api.example.com/\" = [\"read:data\"] }",
        "permissions = { \"https://api.example.com/\" = [\"read:everything\"], \"https://nowhere.example/\" = [\"x\"] }",
    );
    let config: TenantConfig = toml::from_str(&text).unwrap();
    let problems: Vec<String> = config.validate().into_iter().map(|p| format!("{}: {}", p.key, p.reason)).collect();
    assert!(
        problems
            .contains(&"roles[1].permissions.\"https://api.example.com/\"[0]: is not one of that API's scopes".into()),
        "{problems:?}"
    );
    assert!(
        problems
            .contains(&"roles[1].permissions.\"https://nowhere.example/\": names no API ([[apis]] identifier)".into()),
        "{problems:?}"
    );
    let dialect = rbac_config("jwt");
    assert!(toml::from_str::<TenantConfig>(&dialect).is_err(), "an unknown dialect is refused");
}

/// The IP allow-list of Auth0's marketplace for this trigger, in its shape: `?.` on a missing secret,
/// `return api.access.deny(code, reason)`.
const IP_ALLOW_LIST: &str = r#"
exports.onExecuteCredentialsExchange = async (event, api) => {
  const allowed = event.secrets.ALLOW_LIST?.split(',');
  if (!allowed) {
    return api.access.deny('server_error', 'Invalid configuration');
  }
  if (!allowed.includes(event.request.ip)) {
    return api.access.deny('invalid_request', 'Access denied for this IP address');
  }
};
"#;

/// A `client_credentials` request of test-m2m for the API, naming `organization` when given.
async fn m2m(app: &axum::Router, organization: Option<&str>) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "client_credentials"),
        ("client_id", "test-m2m"),
        ("client_secret", "test-m2m-secret-0123456789"),
        ("audience", API),
    ];
    if let Some(organization) = organization {
        fields.push(("organization", organization));
    }
    token(app, &fields).await
}

#[tokio::test]
async fn the_credentials_exchange_trigger_denies_by_ip_as_the_marketplace_allow_list_does() {
    let action = [("credentials-exchange", "ip-allow-list.js", IP_ALLOW_LIST)];
    // No ALLOW_LIST secret: the action's own server_error.
    let (tenant, app, _dir) = tenant_with(&config(MFA_DEFAULT, ""), &action).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!((status, body["error"].as_str()), (500, Some("server_error")), "{body}");
    assert_eq!(body["error_description"], "Invalid configuration");
    // Another address only: invalid_request.
    let (_, app, _dir) =
        tenant_with(&config(MFA_DEFAULT, "[secrets]\nALLOW_LIST = \"203.0.113.1,203.0.113.2\""), &action).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    assert_eq!(body["error_description"], "Access denied for this IP address");
    // The caller's address listed (in-process requests come from 127.0.0.1): the token.
    let (_, app, _dir) =
        tenant_with(&config(MFA_DEFAULT, "[secrets]\nALLOW_LIST = \"203.0.113.1,127.0.0.1\""), &action).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!(status, 200, "{body}");
    let logs = tenant.store.list_logs(&gatehouse_store::LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "feccft" && l.description.contains("Invalid configuration")));
}

/// `api.transaction` target scopes (credentials-exchange): each call shows at once in
/// `event.transaction.target_scopes`, later actions see it, and the token gets the target set minus what the
/// client grant does not authorize.
#[tokio::test]
async fn the_credentials_exchange_target_scopes_change_the_token_within_the_client_grant() {
    let first = r#"
exports.onExecuteCredentialsExchange = async (event, api) => {
  api.transaction.addTargetScope('write:data');
  api.accessToken.setCustomClaim('https://gatehouse.test/after-add', event.transaction.target_scopes);
};
"#;
    let second = r#"
exports.onExecuteCredentialsExchange = async (event, api) => {
  api.accessToken.setCustomClaim('https://gatehouse.test/seen-next', event.transaction.target_scopes);
  api.accessToken.setCustomClaim('https://gatehouse.test/requested', event.transaction.requested_scopes);
};
"#;
    let actions = [("credentials-exchange", "10-add.js", first), ("credentials-exchange", "20-see.js", second)];
    let (_, app, _dir) = tenant_with(&config(MFA_DEFAULT, ""), &actions).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_payload(body["access_token"].as_str().unwrap());
    assert_eq!(strings(&claims["https://gatehouse.test/after-add"]), ["read:data", "write:data"], "at once");
    assert_eq!(strings(&claims["https://gatehouse.test/seen-next"]), ["read:data", "write:data"], "and later");
    assert_eq!(strings(&claims["https://gatehouse.test/requested"]), ["read:data"], "requested_scopes stays");
    // The client grant authorizes read:data only: write:data is dropped silently.
    assert_eq!((body["scope"].as_str(), claims["scope"].as_str()), (Some("read:data"), Some("read:data")));

    // Cleared: a token without scopes. A bad argument fails the request closed.
    let clear =
        "exports.onExecuteCredentialsExchange = async (event, api) => { api.transaction.clearTargetScopes(); };";
    let (_, app, _dir) = tenant_with(&config(MFA_DEFAULT, ""), &[("credentials-exchange", "10-clear.js", clear)]).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("")), "{body}");
    let bad = "exports.onExecuteCredentialsExchange = async (event, api) => { api.transaction.setTargetScopes('read:data'); };";
    let (_, app, _dir) = tenant_with(&config(MFA_DEFAULT, ""), &[("credentials-exchange", "10-bad.js", bad)]).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!((status, body["error"].as_str()), (500, Some("server_error")), "{body}");
}

#[tokio::test]
async fn the_credentials_exchange_trigger_adds_claims_sees_the_request_and_fails_closed() {
    let claims = r#"
exports.onExecuteCredentialsExchange = async (event, api) => {
  api.accessToken.setCustomClaim('https://gatehouse.test/api', event.resource_server.identifier);
  api.accessToken.setCustomClaim('https://gatehouse.test/scopes', event.transaction.requested_scopes);
  api.accessToken.setCustomClaim('https://gatehouse.test/client', event.client.name);
  api.accessToken.setCustomClaim('https://gatehouse.test/secret-seen', event.request.body.client_secret === undefined);
  api.accessToken.setCustomClaim('gty', 'forged');
};
"#;
    let (tenant, app, _dir) =
        tenant_with(&config(MFA_DEFAULT, ""), &[("credentials-exchange", "10-claims.js", claims)]).await;
    let (status, body) = m2m(&app, None).await;
    assert_eq!(status, 200, "{body}");
    let access = jwt_payload(body["access_token"].as_str().unwrap());
    assert_eq!(access["https://gatehouse.test/api"], API);
    assert_eq!(strings(&access["https://gatehouse.test/scopes"]), ["read:data"]);
    assert_eq!(access["https://gatehouse.test/client"], "Test M2M");
    assert_eq!(access["https://gatehouse.test/secret-seen"], true, "the client secret never reaches actions");
    assert_eq!(
        (access["gty"].as_str(), access["sub"].as_str()),
        (Some("client-credentials"), Some("test-m2m@clients"))
    );
    let logs = tenant.store.list_logs(&gatehouse_store::LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "w" && l.description.contains("'gty' is a restricted claim")), "{logs:?}");

    let throws = "exports.onExecuteCredentialsExchange = async () => { throw new Error('boom with detail'); };";
    let bad_code =
        "exports.onExecuteCredentialsExchange = async (event, api) => { api.access.deny('access_denied', 'x'); };";
    for code in [throws, bad_code] {
        let (_, app, _dir) =
            tenant_with(&config(MFA_DEFAULT, ""), &[("credentials-exchange", "10-bad.js", code)]).await;
        let (status, body) = m2m(&app, None).await;
        assert_eq!((status, body["error"].as_str()), (500, Some("server_error")), "fails closed: {body}");
        assert!(!body.to_string().contains("boom"), "the cause stays in the log: {body}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Organizations (reference §9.3), in-process on a real port, logged in through the hosted pages.

use gatehouse_tests::{Browser, Page, SPA_CALLBACK, Server, callback_code, exchange_code, pkce};

/// Two organizations: jane is an admin in acme (whose metadata allows email as the MFA factor) and a viewer in
/// globex; taro is in globex only.
const ORGANIZATIONS: &str = r#"
[[organizations]]
id = "org_acme01"
name = "acme"
display_name = "Acme Corporation"
metadata = { factors = "email", plan = "enterprise" }
members = [{ email = "jane@example.com", roles = ["admin"] }]

[[organizations]]
id = "org_globex02"
name = "globex"
display_name = "Globex"
members = [{ email = "jane@example.com", roles = ["viewer"] }, { email = "taro@example.com", roles = ["viewer"] }]
"#;

const SHOW_ORGANIZATION: &str = "exports.onExecutePostLogin = async (event, api) => {\n  \
    api.idToken.setCustomClaim('https://gatehouse.test/org', event.organization ?? null);\n  \
    api.idToken.setCustomClaim('https://gatehouse.test/roles', event.authorization.roles);\n};\n";

/// Serves `text` in-process on a real port, with post-login actions; returns the server handle and the folder.
async fn serve_orgs(text: &str, actions: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let post_login = dir.path().join("actions").join("post-login");
    std::fs::create_dir_all(&post_login).unwrap();
    for (name, code) in actions {
        std::fs::write(post_login.join(name), code).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let clock = Arc::new(gatehouse_auth::clock::SystemClock);
    let tenant = Arc::new(open_tenant(&text, dir.path(), Arc::new(SledStore::temporary().unwrap()), clock).await);
    tokio::spawn(gatehouse_server::serve(AppState { tenant }, listener, std::future::pending()));
    (Server::attach(&format!("http://127.0.0.1:{port}/")), dir)
}

fn org_config(usage: &str) -> String {
    // A top-level key, so before the first table.
    "organization_names_in_tokens = true\n".to_owned()
        + &rbac_config("access_token_authz").replace(
            "client_id = \"test-spa\"\nname = \"Test SPA\"",
            &format!("client_id = \"test-spa\"\nname = \"Test SPA\"\norganization_usage = \"{usage}\""),
        )
        + ORGANIZATIONS
}

/// Starts a login of test-spa with `extra` parameters and submits the password; returns the page and verifier.
async fn login(browser: &Browser, server: &Server, email: &str, extra: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid%20offline_access%20read:data%20write:data&audience={}&state=app-state&code_challenge={challenge}&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(SPA_CALLBACK.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(API.as_bytes()).collect::<String>(),
    ));
    let page = browser.follow(browser.get(&url).await).await;
    if !page.body.contains("name=\"password\"") {
        return (page, verifier);
    }
    let page = browser.submit(&page, "/u/login", &[("email", email), ("password", "correct-horse-battery")]).await;
    (page, verifier)
}

/// The code of the newest email in `dir`'s outbox.
fn latest_email_code(dir: &std::path::Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("data").join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.last().expect("an email")).unwrap();
    let at = text.find("code is: ").expect("a code");
    text[at..].chars().filter(char::is_ascii_digit).take(6).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_through_an_organization_carries_it_to_actions_and_tokens() {
    let seed = Server::action("actions/examples/org-metadata-factors.js");
    let (server, dir) =
        serve_orgs(&org_config("allow"), &[("10-org-factors.js", &seed), ("20-show.js", SHOW_ORGANIZATION)]).await;

    // jane through acme, by name: seed 001's action reads the organization's metadata and challenges email.
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "jane@example.com", "&organization=acme").await;
    assert!(page.body.contains("j***@example.com"), "the email challenge the org's metadata chose: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &latest_email_code(dir.path()))]).await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!((id["org_id"].as_str(), id["org_name"].as_str()), (Some("org_acme01"), Some("acme")));
    let org = &id["https://gatehouse.test/org"];
    assert_eq!((org["id"].as_str(), org["display_name"].as_str()), (Some("org_acme01"), Some("Acme Corporation")));
    assert_eq!(org["metadata"]["plan"], "enterprise");
    assert_eq!(strings(&id["https://gatehouse.test/roles"]), ["admin"]);
    let access = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["org_id"], "org_acme01");
    assert_eq!(strings(&access["permissions"]), ["read:data", "write:data"], "jane's roles in acme");

    // jane through globex, by id (a tenant without the seed's action, which denies logins whose organization has
    // no `factors` metadata): her role there is viewer, and so are her permissions and scopes.
    let (server, _dir) = serve_orgs(&org_config("allow"), &[("20-show.js", SHOW_ORGANIZATION)]).await;
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "jane@example.com", "&organization=org_globex02").await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    assert_eq!(tokens["scope"], "openid offline_access read:data");
    let access = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!((access["org_id"].as_str(), access["org_name"].as_str()), (Some("org_globex02"), Some("globex")));
    assert_eq!(strings(&access["permissions"]), ["read:data"]);
    // A refresh stays in globex: the flow sees it again, and so do the tokens.
    let refreshed: Value = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "test-spa"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = jwt_payload(refreshed["id_token"].as_str().expect("an ID token on refresh"));
    assert_eq!(id["https://gatehouse.test/org"]["id"], "org_globex02", "{id}");
    assert_eq!(strings(&id["https://gatehouse.test/roles"]), ["viewer"]);
    assert_eq!(jwt_payload(refreshed["access_token"].as_str().unwrap())["org_id"], "org_globex02");

    // Without an organization: no org claims, jane's own roles (jane's own role is admin).
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "jane@example.com", "").await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert!(id.get("org_id").is_none() && id["https://gatehouse.test/org"].is_null(), "{id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_refuse_non_members_unknown_names_and_clients_that_do_not_use_them() {
    let (server, _dir) = serve_orgs(&org_config("allow"), &[]).await;
    // taro is not in acme: access_denied to the application, as Auth0 answers.
    let browser = Browser::new(&server);
    let (page, _) = login(&browser, &server, "taro@example.com", "&organization=acme").await;
    let params = page.location_params();
    assert_eq!(params.get("error").map(String::as_str), Some("access_denied"), "{page:?}");
    assert!(params["error_description"].contains("not a member"), "{params:?}");
    // An organization that does not exist.
    let (page, _) = login(&Browser::new(&server), &server, "jane@example.com", "&organization=initech").await;
    let params = page.location_params();
    assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"));
    assert!(params["error_description"].contains("no organization found"), "{params:?}");

    // A client that does not use organizations, and one that requires them.
    let (server, _dir) = serve_orgs(&org_config("deny"), &[]).await;
    let (page, _) = login(&Browser::new(&server), &server, "jane@example.com", "&organization=acme").await;
    assert!(page.location_params()["error_description"].contains("not allowed for this client"), "{page:?}");
    let (server, _dir) = serve_orgs(&org_config("require"), &[]).await;
    let (page, _) = login(&Browser::new(&server), &server, "jane@example.com", "").await;
    assert!(page.location_params()["error_description"].contains("required for this client"), "{page:?}");
    let (page, _) = login(&Browser::new(&server), &server, "jane@example.com", "&organization=globex").await;
    assert_eq!(page.status, 302);
    assert!(page.location_params().contains_key("code"), "{page:?}");
}

#[test]
fn organization_ids_and_names_are_checked_at_start() {
    let text = org_config("allow")
        .replace("id = \"org_acme01\"", "id = \"acme01\"")
        .replace("name = \"globex\"", "name = \"Globex Inc\"");
    let config: TenantConfig = toml::from_str(&text).unwrap();
    let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
    assert!(keys.contains(&"organizations[0].id".to_owned()), "{keys:?}");
    assert!(keys.contains(&"organizations[1].name".to_owned()), "{keys:?}");
}

#[tokio::test]
async fn client_credentials_name_an_organization_their_grant_allows() {
    let text = org_config("allow").replace(
        "audience = \"https://api.example.com/\"\nscopes = [\"read:data\"]",
        "audience = \"https://api.example.com/\"\nscopes = [\"read:data\"]\norganization_usage = \"allow\"\norganizations = [\"acme\"]",
    );
    let show = "exports.onExecuteCredentialsExchange = async (event, api) => {\n  \
                api.accessToken.setCustomClaim('https://gatehouse.test/org', event.organization?.display_name ?? null);\n};\n";
    let (_, app, _dir) = tenant_with(&text, &[("credentials-exchange", "10-org.js", show)]).await;
    let (status, body) = m2m(&app, Some("acme")).await;
    assert_eq!(status, 200, "{body}");
    let access = jwt_payload(body["access_token"].as_str().unwrap());
    assert_eq!((access["org_id"].as_str(), access["org_name"].as_str()), (Some("org_acme01"), Some("acme")));
    assert_eq!(access["https://gatehouse.test/org"], "Acme Corporation");
    assert_eq!(access["sub"], "test-m2m@clients");
    let (status, body) = m2m(&app, Some("org_globex02")).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "not in the grant: {body}");
    let (status, body) = m2m(&app, Some("initech")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let (status, body) = m2m(&app, None).await;
    assert_eq!(status, 200, "allow: an organization is optional: {body}");
    assert!(jwt_payload(body["access_token"].as_str().unwrap()).get("org_id").is_none());
    // A grant that does not allow organizations refuses the parameter.
    let (_, app, _dir) = tenant_with(&org_config("allow"), &[]).await;
    let (status, body) = m2m(&app, Some("acme")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_requires_an_organization_lets_the_user_pick_one_after_the_password() {
    let text = org_config("require")
        .replace(
            "organization_usage = \"require\"",
            "organization_usage = \"require\"\norganization_require_behavior = \"post_login_prompt\"",
        )
        // taro belongs to no organization here.
        .replace(", { email = \"taro@example.com\", roles = [\"viewer\"] }", "");
    let (server, _dir) = serve_orgs(&text, &[("20-show.js", SHOW_ORGANIZATION)]).await;
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "jane@example.com", "").await;
    assert!(page.body.contains("Select your organization"), "{}", page.body);
    assert!(page.body.contains("Acme Corporation") && page.body.contains("value=\"org_globex02\""), "{}", page.body);
    // A choice that is not one of hers shows the picker again.
    let again = browser.submit(&page, "/u/organization", &[("organization", "org_nope")]).await;
    assert!(again.body.contains("Select your organization"), "{}", again.body);
    let page = browser.submit(&again, "/u/organization", &[("organization", "org_globex02")]).await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["org_id"], "org_globex02");
    assert_eq!(strings(&id["https://gatehouse.test/roles"]), ["viewer"]);
    // Someone in no organization is refused.
    let browser = Browser::new(&server);
    let (page, _) = login(&browser, &server, "taro@example.com", "").await;
    let params = page.location_params();
    assert_eq!(params.get("error").map(String::as_str), Some("access_denied"), "{page:?}");
    assert!(params["error_description"].contains("not a member of any organization"), "{params:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_pre_login_prompt_asks_for_the_organization_name_first() {
    let text = org_config("require").replace(
        "organization_usage = \"require\"",
        "organization_usage = \"require\"\norganization_require_behavior = \"pre_login_prompt\"",
    );
    let config: TenantConfig = toml::from_str(&text).unwrap();
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    let (server, _dir) = serve_orgs(&text, &[("20-show.js", SHOW_ORGANIZATION)]).await;
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "jane@example.com", "").await;
    assert!(page.body.contains("Enter your organization name"), "{}", page.body);
    assert!(!page.body.contains("name=\"password\""), "no password before the organization: {}", page.body);
    // A password posted straight to /u/login is not checked: the same page again.
    let posted = browser
        .submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")])
        .await;
    assert!(posted.body.contains("Enter your organization name"), "{}", posted.body);
    let unknown = browser.submit(&page, "/u/organization-name", &[("organization_name", "initrode")]).await;
    assert!(
        unknown.body.contains("We couldn&#39;t find an organization")
            || unknown.body.contains("We couldn't find an organization"),
        "{}",
        unknown.body
    );
    assert!(unknown.body.contains("value=\"initrode\""), "what was typed stays: {}", unknown.body);
    // The name, in any case: the login page, then through globex.
    let page = browser.submit(&unknown, "/u/organization-name", &[("organization_name", " Globex ")]).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    let page = browser
        .submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")])
        .await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["org_id"], "org_globex02");
    assert_eq!(id["https://gatehouse.test/org"]["name"], "globex");
    // In Japanese too.
    let browser = Browser::new(&server);
    let (page, _) = login(&browser, &server, "jane@example.com", "&ui_locales=ja").await;
    assert!(page.body.contains("組織名を入力してください"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_from_an_organization_cannot_refresh_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = org_config("allow").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let clock = Arc::new(gatehouse_auth::clock::SystemClock);
    let tenant = Arc::new(open_tenant(&text, dir.path(), Arc::new(SledStore::temporary().unwrap()), clock).await);
    tokio::spawn(gatehouse_server::serve(AppState { tenant: tenant.clone() }, listener, std::future::pending()));
    let server = Server::attach(&format!("http://127.0.0.1:{port}/"));
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "jane@example.com", "&organization=globex").await;
    let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // jane leaves globex (what `DELETE /api/v2/organizations/{id}/members` does): her refresh token stops working.
    let jane = tenant.store.find_user_by_email("jane@example.com").await.unwrap().unwrap();
    gatehouse_auth::directory::organizations::remove_members(&tenant, "org_globex02", &[jane.user_id]).await.unwrap();
    let app = gatehouse_server::app(AppState { tenant: tenant.clone() });
    let (status, body) =
        token(&app, &[("grant_type", "refresh_token"), ("client_id", "test-spa"), ("refresh_token", &refresh)]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "{body}");
    let logs = tenant.store.list_logs(&gatehouse_store::LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "fertft" && l.description.contains("no longer a member")), "{logs:?}");
}
