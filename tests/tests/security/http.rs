//! The "also" list: repeated parameters, two client authentication methods, client authentication at the MFA API,
//! logout with an unknown client, security headers and cookie prefixes, and emails with control or bidi
//! characters.

use std::process::Command;

use gatehouse_tests::{MFA_DEFAULT, Server, config, gatehouse_bin};
use serde_json::{Value, json};

use crate::common::{API, WEB_SECRET, answer, enc, token_form, web_authorize_url};

const MGMT: &str = r#"[[client_grants]]
client_id = "test-m2m"
audience = "http://127.0.0.1:0/api/v2/"
scopes = ["create:users", "read:users", "create:authentication_methods"]
"#;

/// `grant_type=password&grant_type=client_credentials` answered 200: every endpoint refuses a repeated parameter,
/// in a query, a form or a JSON body.
#[tokio::test]
async fn repeated_parameters_are_refused_on_every_endpoint() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "password"),
            ("grant_type", "client_credentials"),
            ("client_id", "test-m2m"),
            ("client_secret", "test-m2m-secret-0123456789"),
            ("audience", API),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("grant_type"), "{body}");

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let duplicate_json = r#"{"grant_type":"client_credentials","audience":"https://api.example.com/","client_id":"test-m2m","client_secret":"test-m2m-secret-0123456789","audience":"https://evil.example/"}"#;
    let response = client
        .post(server.url("oauth/token"))
        .header("content-type", "application/json")
        .body(duplicate_json)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");

    let authorize = format!("{}&client_id=test-spa", web_authorize_url(&server, "openid", ""));
    let status = client.get(&authorize).send().await.unwrap().status().as_u16();
    assert_eq!(status, 400, "/authorize with client_id twice");
    let status = client
        .post(server.url("mfa/challenge"))
        .form(&[("mfa_token", "x"), ("client_id", "test-web"), ("client_id", "test-spa")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 400, "/mfa/challenge with client_id twice");
    let status = client.get(server.url("v2/logout?returnTo=a&returnTo=b")).send().await.unwrap().status().as_u16();
    assert_eq!(status, 400, "/v2/logout with returnTo twice");
}

/// RFC 6749 §2.3: HTTP Basic plus `client_secret` in the body is two methods in one request.
#[tokio::test]
async fn two_client_authentication_methods_are_refused() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .basic_auth("test-m2m", Some("test-m2m-secret-0123456789"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("client_secret", "test-m2m-secret-0123456789"),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    // Basic alone works.
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .basic_auth("test-m2m", Some("test-m2m-secret-0123456789"))
        .form(&[("grant_type", "client_credentials"), ("audience", API)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// A confidential client authenticates at `/mfa/challenge` and, when it sends credentials, at `/mfa/associate`.
#[tokio::test]
async fn the_mfa_api_authenticates_confidential_clients() {
    let server = Server::start(&config("factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"", ""), &[]);
    let (_, body) = token_form(
        &server,
        &[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", WEB_SECRET),
            ("username", "jane@example.com"),
            ("password", "correct-horse-battery"),
        ],
    )
    .await;
    let mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
    let challenge = |body: Value| {
        let server = &server;
        async move {
            answer(reqwest::Client::new().post(server.url("mfa/challenge")).json(&body).send().await.unwrap()).await
        }
    };
    let (status, body) = challenge(json!({ "mfa_token": mfa_token, "client_id": "test-web" })).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "no secret: {body}");
    let (status, body) =
        challenge(json!({ "mfa_token": mfa_token, "client_id": "test-web", "client_secret": "wrong" })).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "wrong secret: {body}");
    let (status, body) =
        challenge(json!({ "mfa_token": mfa_token, "client_id": "test-web", "client_secret": WEB_SECRET })).await;
    assert_eq!(status, 401, "authenticated, and the user has no factor yet: {body}");
    assert_eq!(body["error"], "association_required");

    let associate = |body: Value| {
        let (server, token) = (&server, &mfa_token);
        async move {
            answer(
                reqwest::Client::new()
                    .post(server.url("mfa/associate"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, body) =
        associate(json!({ "authenticator_types": ["otp"], "client_id": "test-web", "client_secret": "wrong" })).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    // Seed 003's request as written (the mfa_token alone) still enrolls.
    let (status, body) = associate(json!({ "authenticator_types": ["otp"] })).await;
    assert_eq!(status, 200, "{body}");
}

/// `/v2/logout` with an unknown `client_id` used to accept any client's logout URL.
#[tokio::test]
async fn logout_with_an_unknown_client_id_does_not_fall_back_to_every_client() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = server.url(&format!("v2/logout?client_id=nobody&returnTo={}", enc("http://127.0.0.1:9/")));
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.headers().get("location").is_none());
    let url = server.url(&format!("v2/logout?client_id=test-spa&returnTo={}", enc("http://127.0.0.1:9/")));
    assert_eq!(client.get(url).send().await.unwrap().status().as_u16(), 302, "a known client still returns");
}

/// `nosniff` and framing denied on every response; `no-store` on all but the discovery document and the JWKS.
#[tokio::test]
async fn security_headers_are_on_every_response() {
    let server = Server::start(&config(MFA_DEFAULT, MGMT), &[]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (method, path) in [
        ("GET", ".well-known/openid-configuration"),
        ("GET", ".well-known/jwks.json"),
        ("GET", "authorize"),
        ("GET", "u/login?state=x"),
        ("POST", "oauth/token"),
        ("GET", "userinfo"),
        ("GET", "api/v2/users"),
        ("GET", "mfa/authenticators"),
        ("GET", "no/such/route"),
    ] {
        let request = if method == "GET" { client.get(server.url(path)) } else { client.post(server.url(path)) };
        let response = request.send().await.unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{method} {path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{method} {path}");
        let cache = header("cache-control");
        if path.starts_with(".well-known/") {
            assert_eq!(cache.as_deref(), Some("public, max-age=300"), "{method} {path}");
        } else {
            assert_eq!(cache.as_deref(), Some("no-store"), "{method} {path}");
        }
    }
}

/// With an https issuer every cookie is `__Host-` prefixed (and `Secure`, `Path=/`, no `Domain`).
#[tokio::test]
async fn cookies_are_host_prefixed_on_an_https_issuer() {
    let server = Server::start(&config(MFA_DEFAULT, "").replace("issuer = \"http://", "issuer = \"https://"), &[]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // The server listens on http; its issuer says https (TLS terminated in front of it).
    let url = web_authorize_url(&server, "openid", "").replacen("https://", "http://", 1);
    let response = client.get(url).send().await.unwrap();
    let cookies: Vec<String> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(!cookies.is_empty(), "cookies are set at /authorize");
    for cookie in cookies {
        assert!(cookie.starts_with("__Host-gatehouse_"), "{cookie}");
        assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    }
}

/// An email with a NUL, a line break or a right-to-left override is refused by the Management API and the CLI,
/// and an email authenticator for another address than the user's is refused.
#[tokio::test]
async fn emails_with_control_or_bidi_characters_are_refused() {
    let server = Server::start(&config(MFA_DEFAULT, MGMT), &[]);
    let (status, body) = token_form(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "test-m2m"),
            ("client_secret", "test-m2m-secret-0123456789"),
            ("audience", &server.url("api/v2/")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    for email in
        ["eve\u{202e}moc.elpmaxe@example.com", "eve\u{0}@example.com", "eve@example.com\r\nBcc: x@evil.example"]
    {
        let response = client
            .post(server.url("api/v2/users"))
            .bearer_auth(&token)
            .json(&json!({ "email": email, "password": "a-long-password-1", "connection": "Username-Password-Authentication" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{email:?}: {}", response.text().await.unwrap());
    }
    let jane = client
        .get(server.url("api/v2/users-by-email?email=jane%40example.com"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let jane_id = jane[0]["user_id"].as_str().unwrap().to_owned();
    let response = client
        .post(server.url(&format!("api/v2/users/{}/authentication-methods", enc(&jane_id))))
        .bearer_auth(&token)
        .json(&json!({ "type": "email", "email": "attacker@evil.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400, "another address for jane's email factor");
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatehouse.toml"), config(MFA_DEFAULT, "")).unwrap();
    std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
    let output = Command::new(gatehouse_bin())
        .args(["users", "--config"])
        .arg(dir.path().join("gatehouse.toml"))
        .args(["add", "eve\u{202e}@example.com", "--password", "a-long-password-1"])
        .env("GATEHOUSE_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "the CLI refused the address");
}

/// The one response that may be framed: a `web_message` answer, which runs in the application's iframe (silent
/// authentication). Everything else denies framing.
#[tokio::test]
async fn only_web_message_answers_may_be_framed() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let (_, challenge) = gatehouse_tests::pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=s&prompt=none&response_mode=web_message&code_challenge={challenge}&code_challenge_method=S256",
        enc(gatehouse_tests::SPA_CALLBACK)
    ));
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("x-frame-options").is_none(), "{:?}", response.headers());
    let body = response.text().await.unwrap();
    assert!(body.contains("login_required") && body.contains("postMessage"), "{body}");
}
