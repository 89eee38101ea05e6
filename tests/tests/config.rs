//! End-to-end: `gatehouse serve` refuses a bad configuration at once, naming the file, the key and the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_tests::{MFA_DEFAULT, config, gatehouse_bin};

/// How a refused start ended.
struct Refusal {
    path: PathBuf,
    stderr: String,
    stdout: String,
}

/// Runs `gatehouse serve --config <file>` on `text`; expects a non-zero exit within 15 s.
fn refused(text: &str) -> Refusal {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(gatehouse_bin())
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env("GATEHOUSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("gatehouse serve still runs 15 s after starting on a bad configuration:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(!status.success(), "exit status {status} on a bad configuration; stderr: {stderr}");
    assert!(!stdout.contains("listening"), "it must not listen: {stdout}");
    assert!(!dir.path().join("data").join("store").exists(), "no store is created for a refused configuration");
    Refusal { path, stderr, stdout }
}

impl Refusal {
    /// Asserts that stderr names the file, and that one line names `key` with `reason`.
    fn names(&self, key: &str, reason: &str) {
        let file = self.path.display().to_string();
        assert!(self.stderr.contains(&file), "the file {file} is named:\n{}", self.stderr);
        assert!(
            self.stderr.lines().any(|line| line.contains(key) && line.contains(reason)),
            "a line names the key `{key}` and the reason `{reason}`:\n{}{}",
            self.stderr,
            self.stdout
        );
    }
}

fn base() -> String {
    config(MFA_DEFAULT, "")
}

#[test]
fn the_base_configuration_is_valid() {
    // The other tests change one thing each: the rest must be accepted (this is what every end-to-end test runs).
    let parsed: gatehouse_types::config::TenantConfig = toml::from_str(&base()).unwrap();
    assert!(parsed.validate().is_empty(), "{:?}", parsed.validate());
}

#[test]
fn an_unknown_key_is_refused() {
    let text = base().replacen("friendly_name = ", "colour = \"blue\"\nfriendly_name = ", 1);
    let refusal = refused(&text);
    refusal.names("colour", "unknown field");
    // With the line.
    let line = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
    assert!(refusal.stderr.contains(&format!("gatehouse.toml:{line}")), "line {line}: {}", refusal.stderr);

    // Inside a table: a misspelt client key.
    let text = base().replacen(
        "callbacks = [\"https://web.example.com/callback\"]",
        "callback = [\"https://web.example.com/callback\"]",
        1,
    );
    refused(&text).names("callback", "unknown field");

    // A misspelt table.
    let text = config(MFA_DEFAULT, "[attack_protecton]\nmax_attempts = 5\n");
    refused(&text).names("attack_protecton", "unknown field");
}

#[test]
fn a_value_of_the_wrong_type_names_the_key() {
    let text = config(MFA_DEFAULT, "[attack_protection]\nmax_attempts = \"ten\"\n");
    refused(&text).names("max_attempts", "invalid type");

    let text = base().replacen("app_type = \"spa\"", "app_type = \"desktop\"", 1);
    refused(&text).names("app_type", "desktop");
}

#[test]
fn an_invalid_value_names_the_key_and_the_reason() {
    let text = base().replacen("issuer = \"http://127.0.0.1:0/\"", "issuer = \"http://127.0.0.1:0\"", 1);
    refused(&text).names("issuer", "must be an http(s) URL ending with '/'");

    let text = base().replacen(
        "scopes = [\"read:data\", \"write:data\"]",
        "scopes = [\"read:data\", \"write:data\"]\ntoken_lifetime = 0",
        1,
    );
    refused(&text).names("apis[0].token_lifetime", "between 1 and 2592000");

    let text = base().replacen("\"http://localhost:9/callback\"", "\"/relative/callback\"", 1);
    refused(&text).names("clients[0].callbacks", "absolute URL");
}

#[test]
fn a_spa_client_with_a_secret_is_refused() {
    let text =
        base().replacen("app_type = \"spa\"\n", "app_type = \"spa\"\nclient_secret = \"spa-secret-0123456789\"\n", 1);
    refused(&text).names("clients[0].client_secret", "cannot have a secret");
}

#[test]
fn a_client_grant_naming_an_unknown_client_is_refused() {
    let text = config(
        MFA_DEFAULT,
        "[[client_grants]]\nclient_id = \"ghost\"\naudience = \"https://api.example.com/\"\nscopes = [\"read:data\"]\n",
    );
    refused(&text).names("client_grants[1].client_id", "names no client");

    let text = config(
        MFA_DEFAULT,
        "[[client_grants]]\nclient_id = \"test-m2m\"\naudience = \"https://nowhere.example.com/\"\n",
    );
    refused(&text).names("client_grants[1].audience", "names no API");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = base()
        .replacen("app_type = \"spa\"\n", "app_type = \"spa\"\nclient_secret = \"spa-secret-0123456789\"\n", 1)
        .replacen("client_id = \"test-m2m\"\naudience", "client_id = \"ghost\"\naudience", 1);
    let refusal = refused(&text);
    refusal.names("clients[0].client_secret", "cannot have a secret");
    refusal.names("client_grants[0].client_id", "names no client");
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let output = Command::new(gatehouse_bin()).arg("serve").arg("--config").arg(&path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn a_phone_provider_that_is_an_action_needs_its_file() {
    // Said before anything is created, with the folder and the handler it expected.
    let phone = |body: &str| config("factors = [\"otp\", \"phone\"]", &format!("[mfa.phone]\n{body}\n"));
    refused(&phone("provider = \"custom-phone-provider\""))
        .names("mfa.phone.provider", "custom-phone-provider/*.js exporting onExecuteCustomPhoneProvider");
    refused(&phone("provider = \"send-phone-message\""))
        .names("mfa.phone.provider", "send-phone-message/*.js exporting onExecuteSendPhoneMessage");
    refused(&phone("provider = \"twilio\"")).names("provider", "twilio");
}

#[test]
fn phone_delivery_settings_are_checked() {
    let phone = |body: &str| config("factors = [\"otp\", \"phone\"]", &format!("[mfa.phone]\n{body}\n"));
    refused(&phone("delivery_methods = [\"text\", \"voice\"]"))
        .names("mfa.phone.delivery_methods", "the default provider sends text only");
    refused(&phone("delivery_methods = []")).names("mfa.phone.delivery_methods", "must list");
    refused(&phone("delivery_methods = [\"fax\"]")).names("delivery_methods", "fax");
    refused(&phone("from_text = \"0312345678\"")).names("mfa.phone.from_text", "E.164");
    refused(&phone("from_voice = \"+81-3-1234-5678\"")).names("mfa.phone.from_voice", "E.164");
    refused(&phone("verification_template = \"{% if code %}never closed\""))
        .names("mfa.phone.verification_template", "the Liquid template does not parse");
    // The defaults (the evaluation provider, text) are valid.
    let parsed: gatehouse_types::config::TenantConfig = toml::from_str(&phone("")).unwrap();
    assert!(parsed.validate().is_empty(), "{:?}", parsed.validate());
}
