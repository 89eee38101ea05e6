//! End-to-end: the password-realm grant through Auth0's own Python SDK (auth0-python's `GetToken.login`) against
//! real `gatehouse serve` processes: tokens without MFA, and `mfa_required` with an `mfa_token` when a post-login
//! action or the tenant's policy asks for MFA; then the MFA API the way a Python application drives it after that
//! error (auth0-python 6.8.0 has no MFA API client nor MFA grant, so those are plain HTTP calls).
//!
//! `tests/py/password_realm.py` and `tests/py/mfa_api.py` do the calls and print one JSON line, asserted on here. auth0-python comes from
//! `scripts/e2e-deps.sh` (which `.ci/run` calls): when it is missing this test fails, it does not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{MFA_DEFAULT, Server, config, repo_root};
use serde_json::{Value, json};

/// Fails (never skips) when python3 or auth0-python is missing.
fn require_dependencies() {
    let install =
        "install the end-to-end dependencies with `scripts/e2e-deps.sh` (`.ci/run` runs it before `make test`)";
    let python = Command::new("python3").arg("--version").output();
    assert!(python.is_ok_and(|o| o.status.success()), "`python3` is not on PATH: {install}");
    let sdk = Command::new("python3").args(["-c", "import auth0.authentication"]).output().unwrap();
    assert!(
        sdk.status.success(),
        "python3 cannot import auth0-python (tests/py/requirements.txt): {install}\n{}",
        String::from_utf8_lossy(&sdk.stderr)
    );
}

const MFA_ACTION: &str = r#"exports.onExecutePostLogin = async (event, api) => {
  api.multifactor.enable('any');
};"#;

const MFA_ALWAYS: &str =
    "factors = [\"otp\", \"recovery-code\", \"email\"]\npolicy = \"always\"\ncustomize_with_actions = true";

#[test]
fn auth0_python_password_realm_login_and_mfa_required() {
    require_dependencies();
    let plain = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let by_action = Server::start(&config(MFA_DEFAULT, ""), &[("10-mfa.js", MFA_ACTION)]);
    let by_policy = Server::start(&config(MFA_ALWAYS, ""), &[]);

    let output = Command::new("python3")
        .arg(repo_root().join("tests/py/password_realm.py"))
        .args(["--plain", &plain.issuer, "--mfa-action", &by_action.issuer, "--mfa-policy", &by_policy.issuer])
        .current_dir(repo_root())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let transcript =
        format!("exit: {}\nstdout:\n{stdout}\nstderr:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let result: Value = match stdout.lines().rev().find(|l| l.starts_with('{')).map(serde_json::from_str) {
        Some(Ok(value)) => value,
        _ => panic!("password_realm.py printed no JSON result\n{transcript}"),
    };
    let checks = &result["checks"];
    for name in ["login", "wrong_password", "mfa_required_by_action", "mfa_required_by_policy"] {
        assert_eq!(
            checks[name]["ok"],
            json!(true),
            "auth0-python check `{name}` failed: {}\n{transcript}",
            checks[name]
        );
    }
    assert_eq!(result["ok"], json!(true), "{transcript}");
    assert_eq!(output.status.code(), Some(0), "{transcript}");

    assert_eq!(checks["login"]["access_token_scope"], "openid", "{transcript}");
    for name in ["mfa_required_by_action", "mfa_required_by_policy"] {
        let check = &checks[name];
        assert_eq!(check["error_code"], "mfa_required");
        assert_eq!(check["status_code"], json!(403), "Auth0 answers mfa_required with 403: {check}");
        let keys = check["content_keys"].as_array().unwrap();
        for key in ["error", "error_description", "mfa_token"] {
            assert!(keys.contains(&json!(key)), "the error body has {key}: {check}");
        }
    }
}

/// Runs a script of tests/py with `args`; its JSON line, with the whole output for failure messages.
fn run_python(script: &str, args: &[&str]) -> (Value, String, Option<i32>) {
    let output = Command::new("python3")
        .arg(repo_root().join("tests/py").join(script))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let transcript =
        format!("exit: {}\nstdout:\n{stdout}\nstderr:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let result: Value = match stdout.lines().rev().find(|l| l.starts_with('{')).map(serde_json::from_str) {
        Some(Ok(value)) => value,
        _ => panic!("{script} printed no JSON result\n{transcript}"),
    };
    (result, transcript, output.status.code())
}

/// `GetToken.login` raises `mfa_required`; the `mfa_token` from the error drives `/mfa/associate` (OTP), the
/// `mfa-otp` grant with a code computed in Python (RFC 6238), `/mfa/authenticators`, `/mfa/challenge`, and the
/// `mfa-recovery-code` grant with its regenerated code.
#[test]
fn auth0_python_mfa_api_after_mfa_required() {
    require_dependencies();
    // Authenticator apps and recovery codes: jane starts with no factor, so her mfa_token may associate one (with
    // the email factor on, her verified email would already be one, and association is refused).
    let server = Server::start(&config("factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"", ""), &[]);
    let (result, transcript, code) = run_python("mfa_api.py", &["--issuer", &server.issuer]);
    let checks = &result["checks"];
    for name in [
        "rfc6238",
        "mfa_required",
        "associate_otp",
        "authenticators_pending",
        "confirm_with_otp",
        "authenticators_active",
        "otp_challenge",
        "recovery_code",
    ] {
        assert_eq!(checks[name]["ok"], json!(true), "mfa_api.py step `{name}` failed: {}\n{transcript}", checks[name]);
    }
    assert_eq!(result["ok"], json!(true), "{transcript}");
    assert_eq!(code, Some(0), "{transcript}");

    assert_eq!(checks["mfa_required"]["status_code"], json!(403));
    assert_eq!(
        checks["associate_otp"]["keys"],
        json!(["authenticator_type", "barcode_uri", "recovery_codes", "secret"])
    );
    assert_eq!(checks["associate_otp"]["barcode_uri_prefix"], "otpauth://totp/Gatehouse%20Test:jane%40example.com");
    for step in [&checks["confirm_with_otp"], &checks["otp_challenge"]["tokens"], &checks["recovery_code"]["tokens"]] {
        assert_eq!(step["amr"], json!(["mfa"]), "{step}");
    }
    let recovery_keys = checks["recovery_code"]["tokens"]["keys"].as_array().unwrap();
    assert!(
        recovery_keys.contains(&json!("recovery_code")),
        "the recovery-code grant returns a new code: {recovery_keys:?}"
    );
    let confirm_keys = checks["confirm_with_otp"]["keys"].as_array().unwrap();
    assert!(
        !confirm_keys.contains(&json!("recovery_code")),
        "only the recovery-code grant returns one: {confirm_keys:?}"
    );
}
