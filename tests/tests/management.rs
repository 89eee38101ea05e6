//! End-to-end: the Management API's users and MFA enrollment endpoints against a real `gatehouse serve`, and what
//! they change in the hosted login (post-login `event.user`, `challengeWith`, recovery codes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_tests::{
    Browser, MFA_DEFAULT, Page, SPA_CALLBACK, Server, callback_code, config, exchange_code, jwt_payload, pkce, totp,
};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery";
/// 32 base32 characters: 160 bits.
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const CHALLENGE_MFAR: &str = "An MFA challenge is used in a PostLogin action but the requested factors are not properly \
     set up. To perform MFA, enable the requested factors and ensure the user is enrolled with them.";

const ALL_SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "update:users_app_metadata",
    "delete:users",
    "read:authentication_methods",
    "create:authentication_methods",
    "update:authentication_methods",
    "delete:authentication_methods",
    "delete:guardian_enrollments",
    "read:logs",
];

/// The test configuration plus an M2M client granted the Management API.
fn mgmt_config() -> String {
    let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| format!("\"{s}\"")).collect();
    config(
        MFA_DEFAULT,
        &format!(
            r#"[[clients]]
client_id = "test-admin"
name = "Test Admin"
app_type = "non_interactive"
client_secret = "test-admin-secret-0123456789"

[[client_grants]]
client_id = "test-admin"
audience = "http://127.0.0.1:0/api/v2/"
scopes = [{}]
"#,
            scopes.join(", ")
        ),
    )
}

/// Copies what the tests look at into the ID token and challenges on demand (`mfa=otp|recovery` on /authorize).
const PROBE_ACTION: &str = r#"exports.onExecutePostLogin = async (event, api) => {
  api.idToken.setCustomClaim('https://gatehouse.test/app_metadata', event.user.app_metadata);
  api.idToken.setCustomClaim('https://gatehouse.test/factors', (event.user.enrolledFactors || []).map(f => f.type));
  api.idToken.setCustomClaim('https://gatehouse.test/multifactor', event.user.multifactor || []);
  const mfa = event.request.query.mfa;
  if (mfa === 'otp') api.authentication.challengeWith({ type: 'otp' });
  if (mfa === 'recovery') api.authentication.challengeWith({ type: 'recovery-code' });
};"#;

fn enc(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// A Management API client with a token of some scopes.
struct Admin {
    http: reqwest::Client,
    server_url: String,
    token: String,
}

impl Admin {
    async fn new(server: &Server, scope: Option<&str>) -> Admin {
        let http = reqwest::Client::new();
        let audience = server.url("api/v2/");
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", "test-admin"),
            ("client_secret", "test-admin-secret-0123456789"),
            ("audience", audience.as_str()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = http.post(server.url("oauth/token")).form(&form).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "management token: {body}");
        Admin { http, server_url: server.url(""), token: body["access_token"].as_str().unwrap().to_owned() }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.server_url, path.trim_start_matches('/')))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    async fn raw(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let request = self
            .http
            .request(method, format!("{}{}", self.server_url, path.trim_start_matches('/')))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_owned());
        read(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a database user; returns their id.
    async fn create_user(&self, email: &str) -> String {
        let (status, user) = self
            .post(
                "api/v2/users",
                json!({ "connection": "Username-Password-Authentication", "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        user["user_id"].as_str().unwrap().to_owned()
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, body)
}

/// Asserts a Management API error: `{statusCode, error, message, errorCode}`.
fn assert_error(answer: &(u16, Value), status: u16, error_code: Option<&str>) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
    match error_code {
        Some(code) => assert_eq!(body["errorCode"], code, "{body}"),
        None => assert!(body.get("errorCode").is_none(), "{body}"),
    }
}

/// No password hash, TOTP secret or recovery-code hash anywhere in an answer.
fn assert_no_secrets(body: &Value) {
    let text = body.to_string();
    for needle in ["\"password\"", "password_hash", "$argon2", SECRET, "\"secret\"", "\"hash\"", "attempts_left"] {
        assert!(!text.contains(needle), "{needle} leaked in {text}");
    }
}

fn authorize_url(server: &Server, challenge: &str, extra: &str) -> String {
    server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=app-state&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256{extra}",
        enc(SPA_CALLBACK)
    ))
}

/// Logs in with email and password on the hosted page; returns the page after the form.
async fn password_login(browser: &Browser, server: &Server, email: &str, extra: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url(server, &challenge, extra)).await).await;
    assert_eq!(page.status, 200, "login page: {}", page.body);
    let page = browser.submit(&page, "/u/login", &[("email", email), ("password", PASSWORD)]).await;
    (page, verifier)
}

/// Exchanges the code of a callback redirect; returns the ID token's claims.
async fn id_token(server: &Server, page: &Page, verifier: &str) -> Value {
    let code = callback_code(page);
    let body = exchange_code(server, &code, verifier).await;
    jwt_payload(body["id_token"].as_str().unwrap())
}

/// A complete login without MFA; returns the ID token's claims.
async fn login(server: &Server, email: &str) -> Value {
    let browser = Browser::new(server);
    let (page, verifier) = password_login(&browser, server, email, "").await;
    id_token(server, &page, &verifier).await
}

#[tokio::test]
async fn tokens_and_scopes_are_checked() {
    let server = Server::start(&mgmt_config(), &[]);
    let http = reqwest::Client::new();

    // 401 without a token, with a garbage token, and with a token for another audience.
    let answer = read(http.get(server.url("api/v2/users")).send().await.unwrap()).await;
    assert_error(&answer, 401, None);
    assert_eq!(answer.1["message"], "Missing authentication");
    let answer = read(http.get(server.url("api/v2/users")).bearer_auth("not-a-jwt").send().await.unwrap()).await;
    assert_error(&answer, 401, None);
    let other = read(
        http.post(server.url("oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "test-m2m"),
                ("client_secret", "test-m2m-secret-0123456789"),
                ("audience", "https://api.example.com/"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let api_token = other.1["access_token"].as_str().unwrap();
    let answer = read(http.get(server.url("api/v2/users")).bearer_auth(api_token).send().await.unwrap()).await;
    assert_error(&answer, 401, None);

    // 403 for a token without the endpoint's scope: every endpoint, with the scope Auth0 names in its message.
    let logs_only = Admin::new(&server, Some("read:logs")).await;
    let id = enc("auth0|000000000000000000000000");
    let method = enc("totp|dev_AAAAAAAAAAAAAAAA");
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::GET, "api/v2/users".into(), "read:users"),
        (Method::POST, "api/v2/users".into(), "create:users"),
        (Method::GET, format!("api/v2/users/{id}"), "read:users"),
        (Method::PATCH, format!("api/v2/users/{id}"), "update:users,update:users_app_metadata"),
        (Method::DELETE, format!("api/v2/users/{id}"), "delete:users"),
        (Method::GET, "api/v2/users-by-email?email=jane%40example.com".into(), "read:users"),
        (Method::GET, format!("api/v2/users/{id}/authentication-methods"), "read:authentication_methods"),
        (Method::POST, format!("api/v2/users/{id}/authentication-methods"), "create:authentication_methods"),
        (Method::DELETE, format!("api/v2/users/{id}/authentication-methods"), "delete:authentication_methods"),
        (Method::GET, format!("api/v2/users/{id}/authentication-methods/{method}"), "read:authentication_methods"),
        (Method::PATCH, format!("api/v2/users/{id}/authentication-methods/{method}"), "update:authentication_methods"),
        (Method::DELETE, format!("api/v2/users/{id}/authentication-methods/{method}"), "delete:authentication_methods"),
        (Method::DELETE, format!("api/v2/users/{id}/authenticators"), "delete:guardian_enrollments"),
        (Method::GET, format!("api/v2/users/{id}/enrollments"), "read:users"),
        (Method::POST, format!("api/v2/users/{id}/recovery-code-regeneration"), "update:users"),
    ];
    for (method, path, scope) in cases {
        let body = (method == Method::POST || method == Method::PATCH).then(|| json!({}));
        let answer = logs_only.send(method.clone(), &path, body).await;
        assert_error(&answer, 403, Some("insufficient_scope"));
        assert_eq!(answer.1["message"], format!("Insufficient scope, expected any of: {scope}"), "{method} {path}");
    }

    // update:users_app_metadata alone may change metadata, nothing else.
    let full = Admin::new(&server, None).await;
    let jane =
        full.get("api/v2/users-by-email?email=jane%40example.com").await.1[0]["user_id"].as_str().unwrap().to_owned();
    let metadata_only = Admin::new(&server, Some("update:users_app_metadata")).await;
    let (status, body) =
        metadata_only.patch(&format!("api/v2/users/{}", enc(&jane)), json!({ "app_metadata": { "tier": 2 } })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["app_metadata"]["tier"], 2);
    let answer = metadata_only.patch(&format!("api/v2/users/{}", enc(&jane)), json!({ "name": "Mallory" })).await;
    assert_error(&answer, 403, Some("insufficient_scope"));
}

#[tokio::test]
async fn users_are_created_read_searched_updated_and_deleted() {
    let server = Server::start(&mgmt_config(), &[]);
    let admin = Admin::new(&server, None).await;

    // Create: 201, Auth0's user shape, no password.
    let (status, user) = admin
        .post(
            "api/v2/users",
            json!({
                "connection": "Username-Password-Authentication",
                "email": "New.User@Example.com",
                "password": PASSWORD,
                "given_name": "New",
                "app_metadata": { "plan": "gold" },
                "user_metadata": { "theme": "dark" }
            }),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["user_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("auth0|") && id.len() == "auth0|".len() + 24, "{id}");
    assert_eq!(user["email"], "new.user@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["given_name"], "New");
    assert_eq!(user["identities"][0]["connection"], "Username-Password-Authentication");
    assert_eq!(user["identities"][0]["user_id"], id.trim_start_matches("auth0|"));
    assert_eq!(user["app_metadata"], json!({ "plan": "gold" }));
    assert_no_secrets(&user);

    // 409 for a duplicate email (case-insensitive), 400 for bad bodies.
    let duplicate = admin
        .post(
            "api/v2/users",
            json!({ "connection": "Username-Password-Authentication", "email": "NEW.user@example.com", "password": PASSWORD }),
        )
        .await;
    assert_error(&duplicate, 409, Some("auth0_idp_error"));
    assert_eq!(duplicate.1["message"], "The user already exists.");
    let bad_bodies = [
        json!({ "email": "a@example.com", "password": PASSWORD }),
        json!({ "connection": "Username-Password-Authentication", "password": PASSWORD }),
        json!({ "connection": "Username-Password-Authentication", "email": "a@example.com" }),
        json!({ "connection": "Username-Password-Authentication", "email": "not-an-email", "password": PASSWORD }),
        json!({ "connection": "Username-Password-Authentication", "email": "a@example.com", "password": "short" }),
        json!({ "connection": "Other-DB", "email": "a@example.com", "password": PASSWORD }),
        json!({ "connection": "Username-Password-Authentication", "email": "a@example.com", "password": PASSWORD, "color": "red" }),
        json!({ "connection": "Username-Password-Authentication", "email": "a@example.com", "password": PASSWORD, "email_verified": "yes" }),
        json!([]),
    ];
    for body in bad_bodies {
        let answer = admin.post("api/v2/users", body.clone()).await;
        assert_error(&answer, 400, Some("invalid_body"));
        assert!(answer.1["message"].as_str().unwrap().len() > 10, "{body} -> {}", answer.1);
    }
    assert_eq!(
        admin.post("api/v2/users", json!({ "email": "a@example.com", "password": PASSWORD })).await.1["message"],
        "Payload validation error: 'Missing required property: connection'."
    );
    assert_eq!(
        admin.post("api/v2/users", json!({ "connection": "Username-Password-Authentication", "email": "a@example.com", "password": PASSWORD, "color": "red" })).await.1["message"],
        "Payload validation error: 'Additional properties not allowed: color'."
    );
    assert_error(&admin.raw(Method::POST, "api/v2/users", "{not json").await, 400, Some("invalid_body"));

    // Read by id (URL-encoded, and with `|` as is), with fields; 404 for unknown users.
    let (status, got) = admin.get(&format!("api/v2/users/{}", enc(&id))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["email"], "new.user@example.com");
    assert_no_secrets(&got);
    assert_eq!(admin.get(&format!("api/v2/users/{id}")).await.0, 200);
    let (_, some) = admin.get(&format!("api/v2/users/{}?fields=user_id,email", enc(&id))).await;
    assert_eq!(some, json!({ "user_id": id, "email": "new.user@example.com" }));
    let (_, without) = admin.get(&format!("api/v2/users/{}?fields=identities&include_fields=false", enc(&id))).await;
    assert!(without.get("identities").is_none() && without["email"].is_string(), "{without}");
    let missing = admin.get(&format!("api/v2/users/{}", enc("auth0|ffffffffffffffffffffffff"))).await;
    assert_error(&missing, 404, Some("inexistent_user"));
    assert_eq!(missing.1["message"], "The user does not exist.");

    // List and search.
    let (status, all) = admin.get("api/v2/users").await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    all.as_array().unwrap().iter().for_each(assert_no_secrets);
    let (_, page) = admin.get("api/v2/users?per_page=2&page=1&include_totals=true&sort=email:1").await;
    assert_eq!(page["start"], 2);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["length"], 1);
    assert_eq!(page["total"], 3);
    assert_eq!(page["users"][0]["email"], "taro@example.com");
    let (_, first) = admin.get("api/v2/users?per_page=2&page=0&sort=email:-1").await;
    let emails: Vec<&str> = first.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["taro@example.com", "new.user@example.com"]);
    let search = |q: &str| format!("api/v2/users?search_engine=v3&q={}", enc(q));
    let ids = |body: &Value| -> Vec<String> {
        body.as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&admin.get(&search("email:\"new.user@example.com\"")).await.1), ["new.user@example.com"]);
    assert_eq!(ids(&admin.get(&search("app_metadata.plan:gold")).await.1), ["new.user@example.com"]);
    assert_eq!(ids(&admin.get(&search("email:ta*")).await.1), ["taro@example.com"]);
    assert_eq!(ids(&admin.get(&search("name:\"Jane Doe\" OR email:taro@example.com")).await.1).len(), 2);
    assert_eq!(
        ids(&admin.get(&search("NOT email:jane@example.com AND email_verified:true")).await.1),
        ["taro@example.com"]
    );
    assert_eq!(ids(&admin.get(&search("_exists_:given_name")).await.1), ["new.user@example.com"]);
    assert_eq!(ids(&admin.get(&search("logins_count:[0 TO 5]")).await.1).len(), 3);
    assert_eq!(
        ids(&admin.get(&search("identities.connection:\"Username-Password-Authentication\" -email:jane*")).await.1)
            .len(),
        2
    );
    assert_eq!(ids(&admin.get("api/v2/users?email=JANE%40example.com").await.1), ["jane@example.com"]);
    assert_error(&admin.get(&search("(email:a OR email:b)")).await, 400, Some("invalid_query_string"));
    assert_error(&admin.get("api/v2/users?per_page=101").await, 400, Some("invalid_query_string"));
    assert_error(&admin.get("api/v2/users?page=first").await, 400, Some("invalid_query_string"));

    // users-by-email.
    let (status, found) = admin.get("api/v2/users-by-email?email=NEW.USER%40example.com").await;
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["user_id"], id);
    assert_eq!(admin.get("api/v2/users-by-email?email=nobody%40example.com").await.1, json!([]));
    assert_error(&admin.get("api/v2/users-by-email").await, 400, Some("invalid_query_string"));

    // Patch: metadata merged one level deep, null removes; 404 and 400.
    let (status, patched) = admin
        .patch(
            &format!("api/v2/users/{}", enc(&id)),
            json!({ "app_metadata": { "plan": null, "roles": ["editor"] }, "user_metadata": { "lang": "ja" }, "name": "New User" }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["app_metadata"], json!({ "roles": ["editor"] }));
    assert_eq!(patched["user_metadata"], json!({ "theme": "dark", "lang": "ja" }));
    assert_eq!(patched["name"], "New User");
    assert_no_secrets(&patched);
    let answer =
        admin.patch(&format!("api/v2/users/{}", enc(&id)), json!({ "password": "another-good-password" })).await;
    assert_eq!(answer.0, 200);
    assert_no_secrets(&answer.1);
    assert!(answer.1["last_password_reset"].is_string());
    assert_error(
        &admin.patch(&format!("api/v2/users/{}", enc("auth0|ffffffffffffffffffffffff")), json!({ "name": "x" })).await,
        404,
        Some("inexistent_user"),
    );
    assert_error(
        &admin.patch(&format!("api/v2/users/{}", enc(&id)), json!({ "user_id": "auth0|x" })).await,
        400,
        Some("invalid_body"),
    );
    assert_error(
        &admin.patch(&format!("api/v2/users/{}", enc(&id)), json!({ "email": "jane@example.com" })).await,
        409,
        Some("auth0_idp_error"),
    );

    // Every write left a `sapi` log with the endpoint and the user, and no password.
    let (_, logs) = admin.get("api/v2/logs?q=type:sapi").await;
    let logs = logs.as_array().unwrap();
    let descriptions: Vec<&str> = logs.iter().map(|l| l["description"].as_str().unwrap()).collect();
    assert_eq!(descriptions.iter().filter(|d| **d == "Update a User").count(), 2, "{descriptions:?}");
    assert_eq!(descriptions.iter().filter(|d| **d == "Create a User").count(), 1, "{descriptions:?}");
    let create = logs.iter().find(|l| l["description"] == "Create a User").unwrap();
    assert_eq!(create["user_id"], id);
    assert_eq!(create["client_id"], "test-admin");
    assert_eq!(create["details"]["request"]["method"], "post");
    assert_eq!(create["details"]["request"]["path"], "/api/v2/users");
    assert_eq!(create["details"]["request"]["body"]["password"], "[redacted]");
    assert_eq!(create["details"]["response"]["statusCode"], 201);
    assert!(
        !Value::Array(logs.clone()).to_string().contains(PASSWORD)
            && !Value::Array(logs.clone()).to_string().contains("another-good-password")
    );

    // Delete: 204, then 404.
    let (status, body) = admin.delete(&format!("api/v2/users/{}", enc(&id))).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_error(&admin.get(&format!("api/v2/users/{}", enc(&id))).await, 404, Some("inexistent_user"));
    assert_error(&admin.delete(&format!("api/v2/users/{}", enc(&id))).await, 404, Some("inexistent_user"));
    let (_, logs) = admin.get(&format!("api/v2/logs?q=type:sapi%20user_id:{}", enc(&format!("\"{id}\"")))).await;
    assert_eq!(logs[0]["description"], "Delete a User", "{logs}");
    assert_eq!(logs[0]["details"]["request"]["method"], "delete");
}

#[tokio::test]
async fn parallel_patches_of_one_user_are_all_kept() {
    let server = Server::start(&mgmt_config(), &[]);
    let admin = Admin::new(&server, None).await;
    let id = admin.create_user("busy@example.com").await;
    let path = format!("api/v2/users/{}", enc(&id));
    // Twelve patches at once, each of its own metadata key, plus a name and a password: nothing is lost, as it was
    // when each patch wrote back the whole user it had read.
    let mut patches: Vec<Value> = (0..12).map(|i| json!({ "user_metadata": { format!("k{i}"): i } })).collect();
    patches.push(json!({ "name": "Busy Bee" }));
    patches.push(json!({ "password": "Another-horse-battery-9" }));
    let answers = gatehouse_tests::join_all(patches.into_iter().map(|body| admin.patch(&path, body))).await;
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let (_, user) = admin.get(&path).await;
    let keys = user["user_metadata"].as_object().unwrap();
    assert_eq!(keys.len(), 12, "{user}");
    assert_eq!(user["name"], "Busy Bee");
    let token = gatehouse_tests::web_password_login(
        &reqwest::Client::new(),
        &server,
        "busy@example.com",
        "Another-horse-battery-9",
    )
    .await;
    assert_eq!(token.0, 200, "{}", token.1);
    // A new address moves the index; another account's address is refused.
    let (status, moved) = admin.patch(&path, json!({ "email": "Bee@Example.com" })).await;
    assert_eq!((status, moved["email"].as_str()), (200, Some("bee@example.com")), "{moved}");
    assert_eq!(moved["user_metadata"].as_object().unwrap().len(), 12, "{moved}");
    assert_error(&admin.patch(&path, json!({ "email": "jane@example.com" })).await, 409, Some("auth0_idp_error"));
}

#[tokio::test]
async fn an_api_created_user_logs_in_and_actions_see_patched_metadata() {
    let server = Server::start(&mgmt_config(), &[("10-probe.js", PROBE_ACTION)]);
    let admin = Admin::new(&server, None).await;
    let id = admin.create_user("created@example.com").await;

    let claims = login(&server, "created@example.com").await;
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["https://gatehouse.test/app_metadata"], json!({}));
    assert_eq!(claims["https://gatehouse.test/factors"], json!([]));
    assert_eq!(claims["https://gatehouse.test/multifactor"], json!([]));

    let (status, _) = admin
        .patch(&format!("api/v2/users/{}", enc(&id)), json!({ "app_metadata": { "plan": "gold", "seats": 5 } }))
        .await;
    assert_eq!(status, 200);
    let claims = login(&server, "created@example.com").await;
    assert_eq!(claims["https://gatehouse.test/app_metadata"], json!({ "plan": "gold", "seats": 5 }));

    // A blocked user cannot log in; the patch that blocks is an ordinary update.
    let (status, body) = admin.patch(&format!("api/v2/users/{}", enc(&id)), json!({ "blocked": true })).await;
    assert_eq!((status, body["blocked"].clone()), (200, json!(true)));
    let browser = Browser::new(&server);
    let (page, _) = password_login(&browser, &server, "created@example.com", "").await;
    assert!(page.status != 302 || !page.location_params().contains_key("code"), "a blocked user got a code: {page:?}");
}

#[tokio::test]
async fn an_operator_enrolls_totp_the_action_challenges_it_and_a_reset_removes_it() {
    let server = Server::start(&mgmt_config(), &[("10-probe.js", PROBE_ACTION)]);
    let admin = Admin::new(&server, None).await;
    let id = admin.create_user("otp@example.com").await;
    let methods = format!("api/v2/users/{}/authentication-methods", enc(&id));

    // Not enrolled: the challenge cannot be set up (mfar), the enrollments are empty.
    assert_eq!(admin.get(&methods).await.1, json!([]));
    assert_eq!(admin.get(&format!("api/v2/users/{}/enrollments", enc(&id))).await.1, json!([]));

    // Seed 001: the operator creates the enrollment with a known secret; it is confirmed at once.
    let (status, created) =
        admin.post(&methods, json!({ "type": "totp", "name": "OTP Application", "totp_secret": SECRET })).await;
    assert_eq!(status, 201, "{created}");
    let method_id = created["id"].as_str().unwrap().to_owned();
    assert!(method_id.starts_with("totp|dev_"), "{created}");
    assert_eq!(created["type"], "totp");
    assert_eq!(created["confirmed"], true);
    assert!(created["created_at"].is_string());
    assert_no_secrets(&created);
    let (_, list) = admin.get(&methods).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], method_id);
    assert_no_secrets(&list);
    let (status, one) = admin.get(&format!("{methods}/{}", enc(&method_id))).await;
    assert_eq!((status, one["id"].clone()), (200, json!(method_id)));
    let (_, enrollments) = admin.get(&format!("api/v2/users/{}/enrollments", enc(&id))).await;
    assert_eq!(enrollments.as_array().unwrap().len(), 1, "{enrollments}");
    assert_eq!(enrollments[0]["id"], method_id);
    assert_eq!(enrollments[0]["status"], "confirmed");
    assert_eq!(enrollments[0]["type"], "authenticator");
    assert_eq!(enrollments[0]["auth_method"], "authenticator");
    assert!(enrollments[0]["enrolled_at"].is_string());

    // A second authenticator app is refused; bad secrets and types are 400.
    assert_error(&admin.post(&methods, json!({ "type": "totp", "totp_secret": SECRET })).await, 409, Some("conflict"));
    assert_error(
        &admin.post(&methods, json!({ "type": "totp", "totp_secret": "tooshort" })).await,
        400,
        Some("invalid_body"),
    );
    assert_error(&admin.post(&methods, json!({ "type": "carrier-pigeon" })).await, 400, Some("invalid_body"));
    assert_error(&admin.post(&methods, json!({ "type": "totp", "secret": SECRET })).await, 400, Some("invalid_body"));
    assert_error(
        &admin
            .post(
                &format!("api/v2/users/{}/authentication-methods", enc("auth0|ffffffffffffffffffffffff")),
                json!({ "type": "totp" }),
            )
            .await,
        404,
        Some("inexistent_user"),
    );

    // The post-login action's challengeWith({type:'otp'}) now shows the OTP challenge and accepts the code.
    let browser = Browser::new(&server);
    let (page, verifier) = password_login(&browser, &server, "otp@example.com", "&mfa=otp").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains("name=\"code\"") && page.body.contains("authenticator app"),
        "OTP challenge: {}",
        page.body
    );
    let page = browser.submit(&page, "/u/mfa", &[("code", "000000")]).await;
    assert!(page.body.contains("name=\"code\""), "a wrong code is refused: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(SECRET, 0))]).await;
    let claims = id_token(&server, &page, &verifier).await;
    assert_eq!(claims["amr"], json!(["mfa"]));
    assert_eq!(claims["https://gatehouse.test/factors"], json!(["otp"]));
    assert_eq!(claims["https://gatehouse.test/multifactor"], json!(["guardian"]));
    let (_, used) = admin.get(&format!("{methods}/{}", enc(&method_id))).await;
    assert!(used["last_auth_at"].is_string(), "{used}");

    // Recovery codes: regeneration answers a code once; the list shows one recovery-code method, replaced each time.
    let regenerate = format!("api/v2/users/{}/recovery-code-regeneration", enc(&id));
    let (status, first) = admin.send(Method::POST, &regenerate, None).await;
    assert_eq!(status, 200, "{first}");
    let first_code = first["recovery_code"].as_str().unwrap().to_owned();
    let recovery_ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "recovery-code")
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, list) = admin.get(&methods).await;
    let first_id = recovery_ids(&list);
    assert_eq!(first_id.len(), 1, "{list}");
    assert!(!list.to_string().contains(&first_code), "the code is not listed");
    assert_no_secrets(&list);
    let (_, second) = admin.send(Method::POST, &regenerate, None).await;
    let code = second["recovery_code"].as_str().unwrap().to_owned();
    assert_ne!(code, first_code);
    let (_, list) = admin.get(&methods).await;
    let second_id = recovery_ids(&list);
    assert_eq!(second_id.len(), 1, "{list}");
    assert_ne!(second_id, first_id, "the new code replaces the old");
    assert_eq!(
        admin.get(&format!("api/v2/users/{}/enrollments", enc(&id))).await.1.as_array().unwrap().len(),
        1,
        "recovery codes are not Guardian enrollments"
    );

    // The replaced code no longer works; the new one works once on the hosted challenge page.
    let browser = Browser::new(&server);
    let (page, _) = password_login(&browser, &server, "otp@example.com", "&mfa=recovery").await;
    assert!(page.body.contains("name=\"code\""), "recovery code challenge: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &first_code)]).await;
    assert!(page.body.contains("name=\"code\""), "the replaced code is refused: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    assert!(page.body.contains("id=\"recovery-code\""), "a used recovery code is replaced and shown: {}", page.body);
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert!(page.location_params().contains_key("code"), "{:?}", page.location);
    let browser = Browser::new(&server);
    let (page, _) = password_login(&browser, &server, "otp@example.com", "&mfa=recovery").await;
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    assert!(page.body.contains("name=\"code\""), "a recovery code works once: {}", page.body);

    // Reset: DELETE /authenticators removes every enrollment; the same action now fails with the mfar message.
    let (status, body) = admin.delete(&format!("api/v2/users/{}/authenticators", enc(&id))).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(admin.get(&methods).await.1, json!([]));
    assert_eq!(admin.get(&format!("api/v2/users/{}/enrollments", enc(&id))).await.1, json!([]));
    let browser = Browser::new(&server);
    let (page, _) = password_login(&browser, &server, "otp@example.com", "&mfa=otp").await;
    assert_eq!(page.status, 302, "{}", page.body);
    let params = page.location_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["error_description"], CHALLENGE_MFAR);
    let claims = login(&server, "otp@example.com").await;
    assert_eq!(claims["https://gatehouse.test/factors"], json!([]));
    assert_eq!(claims["https://gatehouse.test/multifactor"], json!([]));

    // Regenerating a recovery code needs an enrollment.
    assert_error(&admin.send(Method::POST, &regenerate, None).await, 400, Some("not_enrolled"));

    // Logs: every write, with the user; mfar for the failed challenge.
    let (_, logs) = admin.get(&format!("api/v2/logs?take=100&q=user_id:{}", enc(&format!("\"{id}\"")))).await;
    let kinds: Vec<(String, String)> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["type"].as_str().unwrap().to_owned(), l["description"].as_str().unwrap().to_owned()))
        .collect();
    for (kind, description) in [
        ("sapi", "Create a User"),
        ("sapi", "Create an authentication method"),
        ("sapi", "Generate new recovery code"),
        ("sapi", "Delete all authenticators"),
        ("mfar", CHALLENGE_MFAR),
    ] {
        assert!(kinds.iter().any(|(k, d)| k == kind && d == description), "no {kind} {description:?} in {kinds:?}");
    }
    assert!(!logs.to_string().contains(SECRET) && !logs.to_string().contains(&code), "secrets in logs");
    let create =
        logs.as_array().unwrap().iter().find(|l| l["description"] == "Create an authentication method").unwrap();
    assert_eq!(create["details"]["request"]["path"], format!("/{methods}"));
    assert_eq!(create["details"]["request"]["body"]["totp_secret"], "[redacted]");
}

#[tokio::test]
async fn phone_and_email_methods_and_a_generated_totp_secret() {
    let server = Server::start(&mgmt_config(), &[("10-probe.js", PROBE_ACTION)]);
    let admin = Admin::new(&server, None).await;
    let id = admin.create_user("phone@example.com").await;
    let methods = format!("api/v2/users/{}/authentication-methods", enc(&id));

    // Phone: Auth0's `phone|dev_...` id, with its SMS channel.
    let (status, phone) = admin
        .post(&methods, json!({ "type": "phone", "name": "SMS", "phone_number": "+14155550100", "preferred_authentication_method": "sms" }))
        .await;
    assert_eq!(status, 201, "{phone}");
    let phone_id = phone["id"].as_str().unwrap().to_owned();
    assert!(phone_id.starts_with("phone|dev_"), "{phone}");
    assert_eq!(phone["type"], "phone");
    assert_eq!(phone["phone_number"], "+14155550100");
    assert_eq!(phone["preferred_authentication_method"], "sms");
    let channel_id = phone["authentication_methods"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(channel_id, phone_id.replace("phone|", "sms|"));
    assert_eq!(phone["authentication_methods"][0]["type"], "sms");
    assert_eq!(admin.get(&format!("{methods}/{}", enc(&channel_id))).await.1["id"], phone_id);
    let (status, voice) = admin
        .patch(&format!("{methods}/{}", enc(&phone_id)), json!({ "preferred_authentication_method": "voice" }))
        .await;
    assert_eq!(status, 200, "{voice}");
    assert_eq!(voice["preferred_authentication_method"], "voice");
    assert_error(
        &admin
            .patch(&format!("{methods}/{}", enc(&phone_id)), json!({ "preferred_authentication_method": "fax" }))
            .await,
        400,
        Some("invalid_body"),
    );
    assert_error(
        &admin.post(&methods, json!({ "type": "phone", "phone_number": "+14155550199" })).await,
        409,
        Some("conflict"),
    );
    assert_error(&admin.post(&methods, json!({ "type": "phone" })).await, 400, Some("invalid_body"));
    assert_error(
        &admin.post(&methods, json!({ "type": "phone", "phone_number": "0800-CALL-ME" })).await,
        400,
        Some("invalid_body"),
    );
    let (_, enrollments) = admin.get(&format!("api/v2/users/{}/enrollments", enc(&id))).await;
    assert_eq!(enrollments[0]["auth_method"], "sms", "{enrollments}");
    assert_eq!(enrollments[0]["phone_number"], "+14155550100");

    // Email.
    let (status, email) =
        admin.post(&methods, json!({ "type": "email", "name": "Email Factor", "email": "Phone@Example.com" })).await;
    assert_eq!(status, 201, "{email}");
    assert!(email["id"].as_str().unwrap().starts_with("email|dev_"), "{email}");
    assert_eq!(email["email"], "phone@example.com");
    assert_error(
        &admin.post(&methods, json!({ "type": "email", "email": "phone@example.com" })).await,
        409,
        Some("conflict"),
    );
    assert_error(&admin.post(&methods, json!({ "type": "email" })).await, 400, Some("invalid_body"));
    assert_error(
        &admin.post(&methods, json!({ "type": "webauthn-roaming", "key_id": "k", "public_key": "p" })).await,
        400,
        Some("invalid_body"),
    );

    // The login's event sees both factors; multifactor counts the phone (email alone would not).
    let claims = login(&server, "phone@example.com").await;
    let mut factors: Vec<String> = claims["https://gatehouse.test/factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    factors.sort();
    assert_eq!(factors, ["email", "phone"]);
    assert_eq!(claims["https://gatehouse.test/multifactor"], json!(["guardian"]));

    // Deleting one method, then an unknown one.
    let (status, _) = admin.delete(&format!("{methods}/{}", enc(&phone_id))).await;
    assert_eq!(status, 204);
    assert_error(
        &admin.get(&format!("{methods}/{}", enc(&phone_id))).await,
        404,
        Some("inexistent_authentication_method"),
    );
    assert_error(
        &admin.delete(&format!("{methods}/{}", enc(&phone_id))).await,
        404,
        Some("inexistent_authentication_method"),
    );
    let claims = login(&server, "phone@example.com").await;
    assert_eq!(claims["https://gatehouse.test/factors"], json!(["email"]));
    assert_eq!(claims["https://gatehouse.test/multifactor"], json!([]));

    // Without a totp_secret the server generates one and answers it this once (never again).
    let (status, generated) = admin.post(&methods, json!({ "type": "totp" })).await;
    assert_eq!(status, 201, "{generated}");
    let secret = generated["totp_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 26, "{secret}");
    let (_, list) = admin.get(&methods).await;
    assert!(!list.to_string().contains(&secret), "{list}");
    let browser = Browser::new(&server);
    let (page, verifier) = password_login(&browser, &server, "phone@example.com", "&mfa=otp").await;
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    assert_eq!(id_token(&server, &page, &verifier).await["amr"], json!(["mfa"]));

    // Paging of the list, then DELETE all.
    let (_, paged) = admin.get(&format!("{methods}?per_page=1&page=1&include_totals=true")).await;
    assert_eq!(paged["total"], 2, "{paged}");
    assert_eq!(paged["start"], 1);
    assert_eq!(paged["authenticators"].as_array().unwrap().len(), 1);
    let (status, _) = admin.delete(&methods).await;
    assert_eq!(status, 204);
    assert_eq!(admin.get(&methods).await.1, json!([]));
}
