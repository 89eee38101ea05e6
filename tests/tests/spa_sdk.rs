//! End-to-end: seed 000's step-up login through Auth0's own SPA SDK (@auth0/auth0-spa-js 2.27.0) in headless
//! Chromium, against a real `gatehouse serve` running the repository's active flow (actions/post-login/).
//!
//! `tests/js/spa-step-up.mjs` serves the seed's page on a free 127.0.0.1 port, drives Debian's Chromium through
//! playwright-core (login, authenticator-app enrollment with a TOTP code computed in Node, recovery code) and prints
//! one JSON line, asserted on here. Its dependencies come from `scripts/e2e-deps.sh` (which `.ci/run` calls): when
//! they are missing this test fails, it does not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use gatehouse_tests::{Server, config, repo_root};
use serde_json::{Value, json};

const SEED_ACR: &str = "http://schemas.openid.net/pfi/2021/04/acr/mfa";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Fails (never skips) when a tool of the browser tests is missing.
fn require_dependencies() {
    let install =
        "install the end-to-end dependencies with `scripts/e2e-deps.sh` (`.ci/run` runs it before `make test`)";
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "`node` is not on PATH: {install}");
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing (Debian's chromium package): {install}");
    let modules = repo_root().join("tests/js/node_modules");
    for package in ["@auth0/auth0-spa-js", "playwright-core"] {
        assert!(
            modules.join(package).join("package.json").exists(),
            "{} lacks {package}: {install}",
            modules.display()
        );
    }
}

/// A port that was free a moment ago, for the application's page (its callback must be in the tenant's config
/// before the server starts).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The repository's active post-login flow: every action in actions/post-login/, in file-name order.
fn active_flow() -> Vec<(String, String)> {
    let dir = repo_root().join("actions/post-login");
    let mut actions: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    actions.sort();
    assert!(actions.iter().any(|(name, _)| name == "10-step-up.js"), "the active flow has seed 000's step-up action");
    actions
}

fn spa_client(port: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "sdk-spa"
name = "Seed 000 SPA (auth0-spa-js)"
app_type = "spa"
callbacks = ["http://127.0.0.1:{port}/callback"]
allowed_origins = ["http://127.0.0.1:{port}"]
allowed_logout_urls = ["http://127.0.0.1:{port}/"]
"#
    )
}

/// Runs the SDK script; its JSON line, with the script's whole output for failure messages.
fn run_script(server: &Server, port: u16) -> (Value, String) {
    let script = repo_root().join("tests/js/spa-step-up.mjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(&server.issuer)
        .arg(port.to_string())
        .arg("sdk-spa")
        .env_remove("GATEHOUSE_E2E_BYPASS_CSP")
        .current_dir(repo_root())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let transcript = format!("exit: {}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let result: Value = match line.map(serde_json::from_str) {
        Some(Ok(value)) => value,
        _ => panic!("spa-step-up.mjs printed no JSON result\n{transcript}"),
    };
    if result["ok"] != json!(true) {
        let blocked_by_csp = result["browser_log"]
            .as_array()
            .is_some_and(|log| log.iter().any(|l| l.as_str().is_some_and(|l| l.contains("form-action"))));
        if blocked_by_csp {
            panic!(
                "GATEHOUSE BUG: the hosted page's Content-Security-Policy `form-action 'self'` makes Chromium block the \
                 form post's redirect to the application's callback ({}), so the login never returns to the app. \
                 The redirect must be allowed (e.g. form-action 'self' plus the redirect_uri's origin).\n{transcript}",
                result["app"]
            );
        }
        panic!("the SDK step-up login failed: {}\n{transcript}", result["error"]);
    }
    assert_eq!(output.status.code(), Some(0), "ok result but a failing exit\n{transcript}");
    (result, transcript)
}

#[test]
fn seed_000_spa_sdk_step_up_with_enrollment_in_chromium() {
    require_dependencies();
    let port = free_port();
    let actions = active_flow();
    let actions: Vec<(&str, &str)> = actions.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    // Authenticator apps and recovery codes only: jane has no factor yet, so the step-up enrolls one (with the email
    // factor on, her verified email would be challenged first; see tests/tests/security).
    let mfa = "factors = [\"otp\", \"recovery-code\"]\npolicy = \"never\"\ncustomize_with_actions = true";
    let server = Server::start(&config(mfa, &spa_client(port)), &actions);

    let (result, transcript) = run_script(&server, port);
    assert_eq!(result["bypass_csp"], json!(false), "the test runs with the pages' CSP enforced\n{transcript}");

    // What the seed's code sent through the SDK.
    let authorize = &result["authorize_params"];
    assert_eq!(authorize["client_id"], "sdk-spa", "{transcript}");
    assert_eq!(authorize["scope"], "openid profile email write:data", "{transcript}");
    assert_eq!(authorize["acr_values"], SEED_ACR, "{transcript}");
    assert_eq!(authorize["audience"], "https://api.example.com/", "{transcript}");
    assert_eq!(authorize["code_challenge_method"], "S256", "{transcript}");
    assert_eq!(authorize["response_mode"], "query", "{transcript}");
    assert_eq!(result["recovery_code_shown"], json!(true), "{transcript}");
    // A first-party application on 127.0.0.1 is asked for consent all the same (seed 004), for what it asked.
    let consent: Vec<&str> = result["consent_scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(consent.iter().any(|s| s.contains("write:data")), "{transcript}");
    // The SDK's cross-origin token request (CORS with the auth0-client header) succeeded.
    assert_eq!(result["token_status"], json!(200), "{transcript}");

    let sdk = &result["sdk"];
    let access = &sdk["access_token"];
    let scopes: Vec<&str> = access["scope"].as_str().unwrap_or_default().split(' ').collect();
    assert!(scopes.contains(&"write:data"), "the step-up scope is granted: {access}\n{transcript}");
    assert_eq!(sdk["token_scope"], access["scope"], "the token response's scope is the token's");
    assert!(access["aud"].as_array().is_some_and(|a| a.contains(&json!("https://api.example.com/"))), "{access}");
    assert_eq!(access["azp"], "sdk-spa");
    assert_eq!(access["iss"], Value::from(server.issuer.clone()));
    assert_eq!(access["https://gatehouse.dev/roles"], json!(["admin"]), "20-roles-claims.js ran after the MFA");

    let id = &sdk["id_token"];
    assert_eq!(id["amr"], json!(["mfa"]), "the ID token says MFA was done: {id}\n{transcript}");
    assert_eq!(id["aud"], "sdk-spa");
    assert_eq!(id["email"], "jane@example.com");
    assert_eq!(id["iss"], Value::from(server.issuer.clone()));
    // The SDK itself validated and kept the same ID token.
    assert_eq!(sdk["sdk_id_token_claims"]["amr"], json!(["mfa"]));
    assert_eq!(sdk["sdk_id_token_claims"]["sub"], id["sub"]);
    assert_eq!(sdk["user"]["email"], "jane@example.com");
    assert_eq!(sdk["is_authenticated"], json!(true));
}
