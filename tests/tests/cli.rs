//! End-to-end: `gatehouse users` (add, list, show, enroll <user> otp, reset-mfa), the real binary on a temporary
//! tenant folder.
//!
//! Offline (no server running) the CLI opens the store itself. An enrollment made there is proven real by starting
//! `gatehouse serve` on the same configuration and data folder and passing MFA with a code from the printed secret
//! (password-realm grant under `policy = "always"`, then `mfa-otp`); `reset-mfa` removes it again (the MFA API then
//! answers `association_required`).
//!
//! While a server runs, sled's lock keeps the CLI out of the store, and it goes through the server's Management API
//! with the `[[client_grants]]` client for `<issuer>api/v2/`. The configuration names the issuer with port 0 (the
//! server takes the port it binds); the CLI reads the same file, so once the server is up the real issuer and
//! listen address are written into it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use gatehouse_tests::{config, gatehouse_bin, jwt_payload, start_serve, totp};
use serde_json::{Value, json};

/// OTP and recovery codes only: with email on, a verified address counts as a factor and reset-mfa would leave one.
const MFA_ALWAYS: &str = "factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"";

/// The management client the CLI uses while the server runs.
const ADMIN_CLIENT: &str = r#"
[[clients]]
client_id = "cli-admin"
name = "gatehouse users"
app_type = "non_interactive"
client_secret = "cli-admin-secret-0123456789"

[[client_grants]]
client_id = "cli-admin"
audience = "http://127.0.0.1:0/api/v2/"
scopes = ["read:users", "create:users", "update:users", "create:authentication_methods", "delete:guardian_enrollments", "read:roles", "create:roles", "update:roles", "delete:roles", "read:organizations", "create:organizations", "delete:organizations", "read:organization_members", "create:organization_members", "delete:organization_members", "create:organization_member_roles", "read:logs", "read:authentication_methods"]
"#;

const WEB: &str = "test-web";
const WEB_SECRET: &str = "test-web-secret-0123456789";

/// A tenant folder: gatehouse.toml, data/, actions/.
struct Tenant {
    dir: tempfile::TempDir,
}

/// One CLI run.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts exit code 0; the stdout.
    fn ok(&self, what: &str) -> &str {
        assert_eq!(self.code, Some(0), "`{what}` failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        &self.stdout
    }
}

impl Tenant {
    fn new() -> Tenant {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gatehouse.toml"), config(MFA_ALWAYS, ADMIN_CLIENT)).unwrap();
        std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
        Tenant { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("gatehouse.toml")
    }

    /// `gatehouse users --config <tenant> <args>`.
    fn users(&self, args: &[&str]) -> Run {
        self.cli("users", args)
    }

    /// `gatehouse <command> --config <tenant> <args>`.
    fn cli(&self, command: &str, args: &[&str]) -> Run {
        Command::new(gatehouse_bin())
            .arg(command)
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env("GATEHOUSE_LOG", "warn")
            .current_dir(self.dir.path())
            .output()
            .expect("run gatehouse")
            .into()
    }
}

/// A running `gatehouse serve` on a tenant folder.
struct Serve {
    child: Option<Child>,
    issuer: String,
}

impl Serve {
    /// Starts the server; when the file still names port 0, writes the bound port into `issuer` (and with it the
    /// management audience) and `listen`, so the CLI and later restarts see the same server.
    fn start(tenant: &Tenant) -> Serve {
        let mut command = Command::new(gatehouse_bin());
        command.arg("serve").arg("--config").arg(tenant.config_path());
        let (child, issuer, _lines) = start_serve(&mut command);
        let port = url::Url::parse(&issuer).unwrap().port().unwrap();
        let text = std::fs::read_to_string(tenant.config_path()).unwrap();
        if text.contains("http://127.0.0.1:0/") {
            let text = text
                .replace("http://127.0.0.1:0/", &issuer)
                .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
            std::fs::write(tenant.config_path(), text).unwrap();
        }
        Serve { child: Some(child), issuer }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Stops the server as Ctrl-C would (SIGINT), so it closes its store; SIGKILL after 15 s.
    fn stop(mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The secret of the `otpauth://totp/` URI `users enroll` printed, after checking the URI and the QR code.
fn enrolled_secret(stdout: &str, email: &str) -> String {
    let uri = stdout
        .lines()
        .find(|l| l.starts_with("otpauth://totp/"))
        .unwrap_or_else(|| panic!("no otpauth URI:\n{stdout}"));
    let parsed = url::Url::parse(uri).unwrap();
    assert_eq!(parsed.host_str(), Some("totp"), "{uri}");
    let label = format!("/Gatehouse%20Test:{}", email.replace('@', "%40"));
    assert_eq!(parsed.path(), label, "{uri}");
    let query: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query.get("issuer").map(String::as_str), Some("Gatehouse Test"), "{uri}");
    assert_eq!(query.get("algorithm").map(String::as_str), Some("SHA1"), "{uri}");
    assert_eq!(query.get("digits").map(String::as_str), Some("6"), "{uri}");
    assert_eq!(query.get("period").map(String::as_str), Some("30"), "{uri}");
    let secret = query.get("secret").expect("a secret in the URI").clone();
    assert!(
        secret.len() >= 16 && secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
        "base32: {secret}"
    );
    // The QR code: rows of half-block characters, all the same width.
    let rows: Vec<&str> =
        stdout.lines().filter(|l| !l.is_empty() && l.chars().all(|c| matches!(c, '█' | '▀' | '▄' | ' '))).collect();
    assert!(rows.len() >= 15, "a QR code drawn in the terminal:\n{stdout}");
    let width = rows[0].chars().count();
    assert!(width >= 25 && rows.iter().all(|r| r.chars().count() == width), "QR rows of one width:\n{stdout}");
    assert!(stdout.contains(&format!("Enrolled an authenticator app for {email}")), "{stdout}");
    secret
}

/// `users list` lines: (user_id, email, name).
fn listed(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.splitn(3, "  ").collect();
            assert_eq!(parts.len(), 3, "a `users list` line is `id  email  name`: {l:?}");
            (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned())
        })
        .collect()
}

async fn post_form(url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).form(fields).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The password-realm grant, which must answer `mfa_required` (the policy is always); its `mfa_token`.
async fn mfa_token(server: &Serve, email: &str, password: &str) -> String {
    let (status, body) = post_form(
        &server.url("oauth/token"),
        &[
            ("grant_type", "http://auth0.com/oauth/grant-type/password-realm"),
            ("client_id", WEB),
            ("client_secret", WEB_SECRET),
            ("username", email),
            ("password", password),
            ("realm", "Username-Password-Authentication"),
            ("scope", "openid profile"),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("mfa_required")), "{email}: {body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn mfa_otp(server: &Serve, token: &str, otp: &str) -> (u16, Value) {
    post_form(
        &server.url("oauth/token"),
        &[
            ("grant_type", "http://auth0.com/oauth/grant-type/mfa-otp"),
            ("client_id", WEB),
            ("client_secret", WEB_SECRET),
            ("mfa_token", token),
            ("otp", otp),
        ],
    )
    .await
}

async fn challenge(server: &Serve, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("mfa/challenge"))
        .json(&json!({ "mfa_token": token, "client_id": WEB, "client_secret": WEB_SECRET }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Passes MFA with the authenticator-app secret: tokens with `amr: ["mfa"]` for the user.
async fn pass_mfa_with(server: &Serve, email: &str, password: &str, secret: &str) {
    let token = mfa_token(server, email, password).await;
    let (status, body) = challenge(server, &token).await;
    assert_eq!((status, &body), (200, &json!({ "challenge_type": "otp" })), "{email} has an active OTP factor");
    let (status, body) = mfa_otp(server, &token, &totp(secret, 0)).await;
    assert_eq!(status, 200, "mfa-otp with a code from the CLI's secret: {body}");
    let identity = jwt_payload(body["id_token"].as_str().unwrap());
    assert_eq!(identity["amr"], json!(["mfa"]), "{identity}");
    let access = jwt_payload(body["access_token"].as_str().unwrap());
    let users = reqwest::Client::new()
        .get(server.url("userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let profile: Value = users.json().await.unwrap();
    assert_eq!(profile["sub"], access["sub"], "{profile}");
}

/// After reset-mfa: the MFA API asks to enroll first, and codes of the old secret are refused.
async fn no_factor_left(server: &Serve, email: &str, password: &str, secret: &str) {
    let token = mfa_token(server, email, password).await;
    let (status, body) = challenge(server, &token).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("association_required")), "{body}");
    assert_eq!(
        body["error_description"],
        "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator."
    );
    let (status, body) = mfa_otp(server, &token, &totp(secret, 1)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "the old secret is gone: {body}");
}

#[tokio::test]
async fn users_offline_enrollment_is_real_and_reset_mfa_removes_it() {
    let tenant = Tenant::new();
    let (email, password) = ("ada@example.com", "ada-password-123");

    // add, list, show: the CLI opens the store itself.
    let run =
        tenant.users(&["add", email, "--password", password, "--name", "Ada Lovelace", "--roles", "admin,viewer"]);
    let added = listed(run.ok("users add"));
    assert_eq!(added.len(), 1, "{run:?}");
    let (user_id, added_email, name) = added[0].clone();
    assert!(user_id.starts_with("auth0|"), "{run:?}");
    assert_eq!((added_email.as_str(), name.as_str()), (email, "Ada Lovelace"));
    let run = tenant.users(&["list"]);
    let users = listed(run.ok("users list"));
    for expected in [email, "jane@example.com", "taro@example.com"] {
        assert!(users.iter().any(|(_, e, _)| e == expected), "{expected} is listed: {run:?}");
    }
    assert!(users.contains(&(user_id.clone(), email.to_owned(), "Ada Lovelace".to_owned())), "{run:?}");
    let again = tenant.users(&["add", email, "--password", password]);
    assert_ne!(again.code, Some(0), "the same email twice is refused: {again:?}");
    assert!(again.stderr.starts_with("gatehouse: "), "{again:?}");

    let show: Value = serde_json::from_str(tenant.users(&["show", email]).ok("users show")).unwrap();
    assert_eq!((show["user_id"].as_str(), show["email"].as_str()), (Some(user_id.as_str()), Some(email)));
    assert_eq!(show["roles"], json!(["admin", "viewer"]));
    assert_eq!(show["email_verified"], json!(true));
    assert_eq!(show["authenticators"], json!([]), "{show}");
    assert!(show.get("password_hash").is_none() && show.get("password").is_none(), "{show}");

    // enroll <email> otp: the otpauth URI and a QR code; the factor is active at once.
    let run = tenant.users(&["enroll", email, "otp"]);
    let secret = enrolled_secret(run.ok("users enroll otp"), email);
    let show: Value = serde_json::from_str(tenant.users(&["show", &user_id]).ok("users show <id>")).unwrap();
    let authenticators = show["authenticators"].as_array().unwrap();
    assert!(
        authenticators.iter().any(|a| a["authenticator_type"] == "otp" && a["active"] == json!(true)),
        "an active OTP authenticator: {show}"
    );
    let unknown = tenant.users(&["enroll", email, "sms"]);
    assert_ne!(unknown.code, Some(0), "{unknown:?}");
    assert!(unknown.stderr.contains("cannot enroll 'sms'"), "{unknown:?}");
    let nobody = tenant.users(&["show", "nobody@example.com"]);
    assert_ne!(nobody.code, Some(0), "{nobody:?}");

    // The server on the same folder: the password from `users add` and a code from the printed secret pass MFA.
    let server = Serve::start(&tenant);
    pass_mfa_with(&server, email, password, &secret).await;
    server.stop();

    // reset-mfa (server stopped): every enrollment goes.
    let run = tenant.users(&["reset-mfa", email]);
    let stdout = run.ok("users reset-mfa");
    assert!(stdout.starts_with("Removed ") && stdout.contains(&format!("enrollment(s) of {email}")), "{run:?}");
    assert!(!stdout.starts_with("Removed 0 "), "the OTP enrollment was removed: {run:?}");
    let show: Value = serde_json::from_str(tenant.users(&["show", email]).ok("users show")).unwrap();
    assert_eq!(show["authenticators"], json!([]), "{show}");

    let server = Serve::start(&tenant);
    no_factor_left(&server, email, password, &secret).await;
    server.stop();
}

/// While the server runs the store is locked: the CLI goes through the Management API (Auth0's `GET/POST
/// /api/v2/users`, `GET /api/v2/users-by-email`) with the `cli-admin` client grant.
#[tokio::test]
async fn users_online_list_add_show_go_through_the_management_api() {
    let tenant = Tenant::new();
    let server = Serve::start(&tenant);
    let text = std::fs::read_to_string(tenant.config_path()).unwrap();
    assert!(text.contains(&format!("audience = \"{}api/v2/\"", server.issuer)), "the grant names the real issuer");

    let run = tenant.users(&["list"]);
    let users = listed(run.ok("users list (online)"));
    for expected in ["jane@example.com", "taro@example.com"] {
        assert!(users.iter().any(|(_, e, _)| e == expected), "{expected} is listed: {run:?}");
    }

    let (email, password) = ("grace@example.com", "grace-password-1");
    let run = tenant.users(&["add", email, "--password", password, "--name", "Grace Hopper", "--roles", "viewer"]);
    let added = listed(run.ok("users add (online)"));
    assert_eq!(added.len(), 1, "{run:?}");
    let (user_id, added_email, name) = added[0].clone();
    assert!(user_id.starts_with("auth0|"), "{run:?}");
    assert_eq!((added_email.as_str(), name.as_str()), (email, "Grace Hopper"));
    let run = tenant.users(&["list"]);
    let users = listed(run.ok("users list (online)"));
    assert!(users.contains(&(user_id.clone(), email.to_owned(), "Grace Hopper".to_owned())), "{run:?}");

    let show: Value = serde_json::from_str(tenant.users(&["show", email]).ok("users show (online)")).unwrap();
    assert_eq!((show["user_id"].as_str(), show["email"].as_str()), (Some(user_id.as_str()), Some(email)), "{show}");
    assert_eq!(show["roles"], json!(["viewer"]), "{show}");
    assert_eq!(show["authenticators"], json!([]), "users show lists authenticators online too: {show}");

    // The user the running server created can log in (MFA is required: no factor yet).
    let token = mfa_token(&server, email, password).await;
    let (status, body) = challenge(&server, &token).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("association_required")), "{body}");
    server.stop();
}

/// `users enroll <email> otp` (`POST /api/v2/users/{id}/authentication-methods`) and `users reset-mfa <email>`
/// (`DELETE /api/v2/users/{id}/authenticators`) while the server runs. Both look the user up first with `GET
/// /api/v2/users-by-email`, which needs `read:users`; the client grant has it.
#[tokio::test]
async fn users_online_enroll_and_reset_mfa_go_through_the_management_api() {
    let tenant = Tenant::new();
    let server = Serve::start(&tenant);
    let (email, password) = ("jane@example.com", "correct-horse-battery");

    let run = tenant.users(&["enroll", email, "otp"]);
    let secret = enrolled_secret(run.ok("users enroll otp (online)"), email);
    pass_mfa_with(&server, email, password, &secret).await;

    let run = tenant.users(&["reset-mfa", email]);
    run.ok("users reset-mfa (online)");
    no_factor_left(&server, email, password, &secret).await;
    server.stop();
}

/// `gatehouse roles` and `gatehouse orgs`: offline on the store, then through the running server's Management API;
/// what one path wrote, the other reads.
#[tokio::test]
async fn roles_and_orgs_offline_and_online() {
    let tenant = Tenant::new();
    tenant.cli("roles", &["add", "editor", "--description", "Edits data"]).ok("roles add");
    tenant.cli("roles", &["grant", "editor", "https://api.example.com/", "read:data", "write:data"]).ok("roles grant");
    let refused = tenant.cli("roles", &["grant", "editor", "https://api.example.com/", "fly:data"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("fly:data does not exist"), "{refused:?}");
    tenant.cli("roles", &["assign", "taro@example.com", "editor"]).ok("roles assign");
    tenant.cli("orgs", &["add", "initech", "--display-name", "Initech"]).ok("orgs add");
    tenant.cli("orgs", &["add-member", "initech", "jane@example.com", "--roles", "editor"]).ok("orgs add-member");
    let run = tenant.cli("roles", &["list"]);
    assert!(
        run.ok("roles list")
            .contains("editor  Edits data  [https://api.example.com/read:data, https://api.example.com/write:data]"),
        "{run:?}"
    );
    let run = tenant.cli("orgs", &["list"]);
    assert!(run.ok("orgs list").contains("initech  Initech  jane@example.com [editor]"), "{run:?}");
    let show: Value = serde_json::from_str(tenant.users(&["show", "taro@example.com"]).ok("users show")).unwrap();
    assert!(show["roles"].as_array().unwrap().contains(&json!("editor")), "{show}");

    let server = Serve::start(&tenant);
    let run = tenant.cli("orgs", &["list"]);
    assert!(run.ok("orgs list (online)").contains("initech  Initech  jane@example.com"), "{run:?}");
    tenant.cli("roles", &["unassign", "taro@example.com", "editor"]).ok("roles unassign (online)");
    tenant.cli("orgs", &["remove-member", "initech", "jane@example.com"]).ok("orgs remove-member (online)");
    tenant.cli("roles", &["delete", "editor"]).ok("roles delete (online)");
    let run = tenant.cli("orgs", &["list"]);
    assert!(!run.ok("orgs list (online)").contains("jane@example.com"), "{run:?}");
    let run = tenant.cli("roles", &["list"]);
    assert!(!run.ok("roles list (online)").contains("editor"), "{run:?}");
    let run = tenant.cli("orgs", &["delete", "nowhere"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    server.stop();

    // Offline again: the server's changes are in the store.
    let show: Value = serde_json::from_str(tenant.users(&["show", "taro@example.com"]).ok("users show")).unwrap();
    assert!(!show["roles"].as_array().into_iter().flatten().any(|r| r == "editor"), "{show}");
    tenant.cli("orgs", &["delete", "initech"]).ok("orgs delete");
    assert!(tenant.cli("orgs", &["list"]).ok("orgs list").trim().is_empty());
}

/// `gatehouse actions install` runs npm in the actions folder (a `file:` dependency here, so no registry is
/// needed), then loads every flow with what it installed; without npm on the PATH it says what to run instead.
#[test]
fn actions_install_runs_npm_and_checks_the_flows() {
    let dir = tempfile::tempdir().unwrap();
    let actions = dir.path().join("actions");
    std::fs::create_dir_all(actions.join("post-login")).unwrap();
    std::fs::create_dir_all(dir.path().join("greeter")).unwrap();
    std::fs::write(
        dir.path().join("greeter/package.json"),
        r#"{"name":"greeter","version":"1.0.0","main":"greet.js"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("greeter/greet.js"), "module.exports = (name) => `hello ${name}`;").unwrap();
    std::fs::write(
        actions.join("package.json"),
        r#"{"name":"a","version":"1.0.0","private":true,"dependencies":{"greeter":"file:../greeter"}}"#,
    )
    .unwrap();
    std::fs::write(
        actions.join("post-login/10-greet.js"),
        "const greet = require('greeter');\nexports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('greeting', greet('jane')); };",
    )
    .unwrap();

    let before = std::process::Command::new(gatehouse_bin())
        .args(["run", "--actions"])
        .arg(actions.join("post-login"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(!before.status.success());
    assert!(
        stderr.contains("cannot find module 'greeter'") && stderr.contains("gatehouse actions install"),
        "{stderr}"
    );

    let install = std::process::Command::new(gatehouse_bin())
        .args(["actions", "install", "--dir"])
        .arg(&actions)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&install.stdout);
    assert!(install.status.success(), "{}{}", stdout, String::from_utf8_lossy(&install.stderr));
    assert!(stdout.contains("post-login: 1 action(s), 1 module(s)"), "{stdout}");

    let after = std::process::Command::new(gatehouse_bin())
        .args(["run", "--actions"])
        .arg(actions.join("post-login"))
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(outcome["id_token_claims"]["greeting"], "hello jane", "{outcome}");

    let no_npm = std::process::Command::new(gatehouse_bin())
        .args(["actions", "install", "--dir"])
        .arg(&actions)
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&no_npm.stderr);
    assert!(!no_npm.status.success());
    assert!(stderr.contains("npm is not installed here") && stderr.contains("npm ci --omit=dev"), "{stderr}");
}

/// `gatehouse logs` while the server runs: `--type` knows Auth0's codes and the `f` grouping and refuses others;
/// `--follow` prints new entries as they are written; and the CLI's Management API calls share one cached token
/// (owner-only file), so they do not each add a `seccft` line.
#[tokio::test]
async fn logs_online_type_follow_and_one_token_for_the_cli() {
    use std::io::BufRead as _;
    let tenant = Tenant::new();
    let server = Serve::start(&tenant);
    for _ in 0..3 {
        tenant.users(&["list"]).ok("users list (online)");
    }
    let token_file = tenant.dir.path().join("data").join("cli-token.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&token_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the cached token is the owner's only");

    let unknown = tenant.cli("logs", &["--type", "nope"]);
    assert_ne!(unknown.code, Some(0));
    assert!(unknown.stderr.contains("unknown log type 'nope'") && unknown.stderr.contains("fp"), "{unknown:?}");

    // A wrong password: `f` finds it as `fp`.
    let (status, _) = post_form(
        &server.url("oauth/token"),
        &[
            ("grant_type", "password"),
            ("client_id", WEB),
            ("client_secret", WEB_SECRET),
            ("username", "jane@example.com"),
            ("password", "nope-nope-nope"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let failed = tenant.cli("logs", &["--type", "f"]);
    assert!(
        failed.ok("logs --type f").lines().any(|l| l.contains(" fp ") && l.contains("Wrong email or password")),
        "{failed:?}"
    );

    let seccft = tenant.cli("logs", &["--type", "seccft", "--json"]);
    assert_eq!(seccft.ok("logs --type seccft").lines().count(), 1, "one token for five CLI commands: {seccft:?}");

    // --follow: a new entry shows up while it runs.
    let mut follow = Command::new(gatehouse_bin())
        .args(["logs", "--follow", "--type", "f", "--take", "5", "--config"])
        .arg(tenant.config_path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = post_form(
        &server.url("oauth/token"),
        &[
            ("grant_type", "password"),
            ("client_id", WEB),
            ("client_secret", WEB_SECRET),
            ("username", "taro@example.com"),
            ("password", "still-wrong-pw"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    // The entry written before --follow started (jane's), then the new one (taro's).
    let fp_lines = |seen: &Vec<String>| seen.iter().filter(|l| l.contains(" fp ")).count();
    while Instant::now() < deadline && fp_lines(&seen) < 2 {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert_eq!(fp_lines(&seen), 2, "follow printed: {seen:?}");
    server.stop();
}

/// `users add` without `--password` reads it (never from the command line); `--data-dir` points every store
/// command at another data folder, as `serve --data-dir` does; `gatehouse test` with nothing to run says what to pass.
#[test]
fn password_prompt_data_dir_and_test_without_fixtures() {
    use std::io::Write as _;
    let tenant = Tenant::new();
    let mut add = Command::new(gatehouse_bin())
        .args(["users", "--config"])
        .arg(tenant.config_path())
        .args(["--data-dir", "elsewhere", "add", "ada@example.com", "--name", "Ada"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .current_dir(tenant.dir.path())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"ada-lovelace-1815\n").unwrap();
    let added: Run = add.wait_with_output().unwrap().into();
    assert!(added.ok("users add with the password on stdin").contains("ada@example.com"));
    assert!(tenant.dir.path().join("elsewhere").join("store").exists(), "the store went to --data-dir");

    let elsewhere = tenant.users(&["--data-dir", "elsewhere", "list"]);
    assert!(elsewhere.ok("users list --data-dir").contains("ada@example.com"));
    let default = tenant.users(&["list"]);
    assert!(!default.ok("users list").contains("ada@example.com"), "the default data folder is another tenant");
    let logs = tenant.cli("logs", &["--data-dir", "elsewhere", "--json"]);
    logs.ok("logs --data-dir");

    let empty = tempfile::tempdir().unwrap();
    let run: Run = Command::new(gatehouse_bin()).arg("test").current_dir(empty.path()).output().unwrap().into();
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("no fixtures/ folder here: pass the fixture files or folders"), "{run:?}");
}
