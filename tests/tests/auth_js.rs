//! End-to-end: Gatehouse's MFA API through Auth0's Node SDK, @auth0/auth0-auth-js 1.16.0 (`AuthClient` and its
//! `mfa` sub-client, `MfaClient`), against real `gatehouse serve` processes.
//!
//! The SDK speaks https only: it builds every URL as `https://${domain}/...` and runs its grants through
//! openid-client without `allowInsecureRequests`. `tests/js/mfa-auth-js.mjs` therefore checks
//! - `http_direct`: given an http:// Gatehouse, the SDK's requests go to https://<host:port>/ and fail in the TLS
//!   handshake (and a `domain` with a scheme yields `https://http://...`);
//! - `custom_fetch`: with the SDK's `customFetch` rewriting https:// to http://, MfaClient's plain-fetch calls
//!   (`/mfa/associate`, `/mfa/challenge`, `/mfa/authenticators`) reach the server, but `getTokenByPassword` and
//!   `mfa.verify` stop at openid-client's discovery ("discovered metadata issuer does not match the expected
//!   issuer": the document says http://, the SDK expects https://);
//! - `tls`: a Gatehouse serving https itself (`serve --tls-cert --tls-key`, issuer `https://127.0.0.1:<P>/`, a
//!   certificate from a throwaway CA Node is told to trust): the whole MFA flow through the SDK (mfa_required from
//!   `getTokenByPassword`, enroll, list, challenge, verify with OTP, recovery code and email, delete with an MFA API
//!   access token), with no proxy in between.
//!
//! The script prints one JSON line, asserted on here. Node and tests/js/node_modules come from
//! `scripts/e2e-deps.sh` (which `.ci/run` calls): when they are missing this test fails, it does not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{Server, config, repo_root};
use serde_json::{Value, json};

/// Fails (never skips) when a tool of the test is missing.
fn require_dependencies() {
    let install =
        "install the end-to-end dependencies with `scripts/e2e-deps.sh` (`.ci/run` runs it before `make test`)";
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "`node` is not on PATH: {install}");
    let package = repo_root().join("tests/js/node_modules/@auth0/auth0-auth-js/package.json");
    assert!(package.exists(), "{} is missing: {install}", package.display());
}

#[test]
fn auth0_auth_js_mfa_client() {
    require_dependencies();
    // An http:// tenant without the email factor (so an unenrolled user gets association_required).
    let plain = Server::start(&config("factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"", ""), &[]);
    // A tenant that serves https itself, on a certificate from a throwaway CA.
    let tls =
        Server::start_tls(&config("factors = [\"otp\", \"recovery-code\", \"email\"]\npolicy = \"always\"", ""), &[]);
    assert!(tls.issuer.starts_with("https://127.0.0.1:"), "{}", tls.issuer);

    let output = Command::new("node")
        .arg(repo_root().join("tests/js/mfa-auth-js.mjs"))
        .args(["--plain", &plain.issuer, "--tls-issuer", &tls.issuer])
        .arg("--tls-ca")
        .arg(tls.ca_pem())
        .arg("--tls-outbox")
        .arg(tls.outbox())
        .current_dir(repo_root())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let transcript =
        format!("exit: {}\nstdout:\n{stdout}\nstderr:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let result: Value = match stdout.lines().rev().find(|l| l.starts_with('{')).map(serde_json::from_str) {
        Some(Ok(value)) => value,
        _ => panic!("mfa-auth-js.mjs printed no JSON result\n{transcript}"),
    };
    let checks = &result["checks"];
    for name in ["http_direct", "custom_fetch", "tls"] {
        assert_eq!(
            checks[name]["ok"],
            json!(true),
            "auth0-auth-js check `{name}` failed: {}\n{transcript}",
            checks[name]
        );
    }
    assert_eq!(result["ok"], json!(true), "{transcript}");
    assert_eq!(output.status.code(), Some(0), "{transcript}");
    assert_eq!(result["auth0_auth_js"], "1.16.0", "the pinned SDK (tests/js/package.json)");

    // What blocks plain http: the SDK asks for https://<host:port>/ whatever the server is.
    let host = plain.issuer.trim_start_matches("http://").trim_end_matches('/');
    assert_eq!(checks["http_direct"]["requested"][0], format!("https://{host}/mfa/authenticators"), "{transcript}");
    assert_eq!(checks["custom_fetch"]["get_token_by_password_error"]["code"], "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED");
    assert_eq!(checks["custom_fetch"]["challenge_before_enrolling"]["cause"]["error"], "association_required");
    assert_eq!(checks["custom_fetch"]["challenge_before_enrolling"]["statusCode"], json!(401));

    // Over TLS the SDK used every endpoint of the MFA API, and the grants issued MFA tokens.
    let endpoints: Vec<&str> =
        checks["tls"]["endpoints"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for endpoint in [
        "GET /.well-known/openid-configuration",
        "POST /oauth/token",
        "POST /mfa/associate",
        "POST /mfa/challenge",
        "GET /mfa/authenticators",
        "DELETE /mfa/authenticators/totp|{id}",
    ] {
        assert!(endpoints.contains(&endpoint), "the SDK called {endpoint}: {endpoints:?}");
    }
    for step in ["confirm", "challenge", "recovery", "email", "mfa_api_token"] {
        assert_eq!(checks["tls"][step]["amr"], json!(["mfa"]), "{step}: {}", checks["tls"][step]);
    }
    assert_eq!(checks["tls"]["mfa_api_token"]["aud"][0], format!("{}mfa/", tls.issuer));
    assert_eq!(checks["tls"]["after_delete"], json!(["oob:true", "recovery-code:true"]), "{transcript}");
}
