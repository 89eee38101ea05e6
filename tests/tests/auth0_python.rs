//! End-to-end: the password-realm grant through Auth0's own Python SDK (auth0-python's `GetToken.login`) against
//! real `gatehouse serve` processes: tokens without MFA, and `mfa_required` with an `mfa_token` when a post-login
//! action or the tenant's policy asks for MFA; then the MFA API the way a Python application drives it after that
//! error (auth0-python 6.8.0 has no MFA API client nor MFA grant, so those are plain HTTP calls).
//!
//! Then seed 004's authorization set up through auth0-python's Management API client (`auth0.management.Auth0`):
//! roles, permissions, organizations, members, client grants, and their effects on tokens and on actions.
//!
//! `tests/py/password_realm.py`, `tests/py/mfa_api.py` and `tests/py/authorization_mgmt.py` do the calls and print one JSON line, asserted on here. auth0-python comes from
//! `scripts/e2e-deps.sh` (which `.ci/run` calls): when it is missing this test fails, it does not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{
    Browser, MFA_DEFAULT, SPA_CALLBACK, Server, callback_code, config, exchange_code, jwt_payload, pkce, repo_root,
};
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

/// Seed 004's set-up through auth0-python's Management API client: `rbac`, `role`, `user_role`, `organization`
/// and `client_grant` steps; then the effects: `reporting`'s token carries the organization, taro's the role's
/// permissions, and jane's browser login through the organization shows it and her role in it to the actions.
#[test]
fn auth0_python_management_sets_up_roles_organizations_and_client_grants() {
    require_dependencies();
    const SHOW: &str = "exports.onExecutePostLogin = async (event, api) => {\n  \
        api.idToken.setCustomClaim('https://gatehouse.test/org', event.organization ?? null);\n  \
        api.idToken.setCustomClaim('https://gatehouse.test/roles', event.authorization.roles);\n};\n";
    let scopes = [
        "read:users",
        "update:users",
        "read:roles",
        "create:roles",
        "update:roles",
        "read:resource_servers",
        "update:resource_servers",
        "read:organizations",
        "create:organizations",
        "read:organization_members",
        "create:organization_members",
        "create:organization_member_roles",
        "create:organization_client_grants",
        "read:client_grants",
        "create:client_grants",
    ];
    let listed: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    let text = config(
        MFA_DEFAULT,
        &format!(
            "[[clients]]\nclient_id = \"test-admin\"\nname = \"Test Admin\"\napp_type = \"non_interactive\"\n\
             client_secret = \"test-admin-secret-0123456789\"\n\n\
             [[client_grants]]\nclient_id = \"test-admin\"\naudience = \"http://127.0.0.1:0/api/v2/\"\nscopes = [{}]\n\n\
             [[clients]]\nclient_id = \"reporting\"\nname = \"Reporting job\"\napp_type = \"non_interactive\"\n\
             client_secret = \"reporting-secret-0123456789\"\n",
            listed.join(", ")
        ),
    )
    .replace("client_id = \"test-spa\"\nname = \"Test SPA\"", "client_id = \"test-spa\"\nname = \"Test SPA\"\norganization_usage = \"allow\"");
    let server = Server::start(&text, &[("10-show.js", SHOW)]);
    let (result, transcript, code) = run_python("authorization_mgmt.py", &["--issuer", &server.issuer]);
    let checks = &result["checks"];
    for name in ["token", "rbac", "role", "user_role", "organization", "client_grant", "m2m_token", "password_token"] {
        assert_eq!(
            checks[name]["ok"],
            json!(true),
            "authorization_mgmt.py step `{name}` failed: {}\n{transcript}",
            checks[name]
        );
    }
    assert_eq!(code, Some(0), "{transcript}");
    let org_id = result["org_id"].as_str().unwrap();
    assert_eq!(checks["role"]["permissions"], json!(["read:data", "write:data"]));
    assert_eq!(checks["user_role"]["roles"], json!(["editor"]));
    assert_eq!(checks["organization"]["members"], json!(["jane@example.com"]));
    assert_eq!(checks["organization"]["by_name"], org_id);
    assert_eq!(checks["m2m_token"]["org_id"], org_id);
    assert_eq!(checks["m2m_token"]["sub"], "reporting@clients");
    assert_eq!(checks["password_token"]["scope"], "openid read:data write:data");
    assert_eq!(checks["password_token"]["permissions"], json!(["read:data", "write:data"]));

    // jane logs in through the organization the SDK made: the actions see it and her role in it.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::new(&server);
        let (verifier, challenge) = pkce();
        let url = server.url(&format!(
            "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=app-state&code_challenge={challenge}&code_challenge_method=S256&organization=initech",
            url::form_urlencoded::byte_serialize(SPA_CALLBACK.as_bytes()).collect::<String>()
        ));
        let page = browser.follow(browser.get(&url).await).await;
        let page =
            browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")]).await;
        let tokens = exchange_code(&server, &callback_code(&page), &verifier).await;
        let id = jwt_payload(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["org_id"], org_id, "{id}");
        assert_eq!(id["https://gatehouse.test/org"]["display_name"], "Initech", "{id}");
        assert_eq!(id["https://gatehouse.test/org"]["metadata"]["plan"], "pro", "{id}");
        assert_eq!(id["https://gatehouse.test/roles"], json!(["editor"]), "{id}");
    });
}

/// Sign-up and password reset (issue 16) through auth0-python's `Database` client.
#[test]
fn auth0_python_database_signup_and_change_password() {
    require_dependencies();
    let server = Server::start(&config(MFA_DEFAULT, "[connection]\npassword_policy = \"good\"\n"), &[]);
    let output = Command::new("python3")
        .arg(repo_root().join("tests/py/accounts.py"))
        .args(["--issuer", &server.issuer])
        .arg("--outbox")
        .arg(server.outbox())
        .current_dir(repo_root())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let transcript =
        format!("exit: {}\nstdout:\n{stdout}\nstderr:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let result: Value = match stdout.lines().rev().find(|l| l.starts_with('{')).map(serde_json::from_str) {
        Some(Ok(value)) => value,
        _ => panic!("accounts.py printed no JSON result\n{transcript}"),
    };
    for name in ["signup", "weak_password", "taken", "change_password"] {
        assert_eq!(result["checks"][name]["ok"], json!(true), "auth0-python check `{name}` failed\n{transcript}");
    }
    assert_eq!(result["checks"]["weak_password"]["message"], "Password is too weak", "{transcript}");
    assert_eq!(output.status.code(), Some(0), "{transcript}");
}
