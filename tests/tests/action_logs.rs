//! What actions did, where an operator looks (issue 15): each login's tenant log entry carries its actions
//! (`details.actions`: duration, calls, errors, console output with secrets redacted), and the server log has a
//! line per action and per console line, at info, with the action's name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_tests::{
    MFA_DEFAULT, Server, config, free_port, gatehouse_bin, m2m_management_token, web_password_login,
};
use serde_json::Value;

const SECRET: &str = "s3cret-partner-key-0123";

const TALKATIVE: &str = r#"exports.onExecutePostLogin = async (event, api) => {
  console.log('checking', event.user.email, 'with key', event.secrets.PARTNER_KEY);
  console.warn('slow partner');
  api.idToken.setCustomClaim('https://gatehouse.test/token', 'value-never-logged');
  api.accessToken.addScope('read:data');
};"#;

const FAILING: &str = r#"exports.onExecutePostLogin = async (event, api) => {
  if (event.user.email.startsWith('taro')) throw new Error('partner said no for ' + event.secrets.PARTNER_KEY);
};"#;

fn tenant(port: u16) -> String {
    let issuer = format!("http://127.0.0.1:{port}/");
    let extra = format!(
        "[[client_grants]]\nclient_id = \"test-m2m\"\naudience = \"{issuer}api/v2/\"\nscopes = [\"read:logs\"]\n\n\
         [secrets]\nPARTNER_KEY = \"{SECRET}\"\n"
    );
    config(MFA_DEFAULT, &extra).replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
}

async fn password_login(http: &reqwest::Client, server: &Server, email: &str) -> u16 {
    web_password_login(http, server, email, "correct-horse-battery").await.0
}

async fn logs(http: &reqwest::Client, server: &Server) -> Vec<Value> {
    let token = m2m_management_token(http, server).await;
    let entries: Value =
        http.get(server.url("api/v2/logs?take=50")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    entries.as_array().unwrap().clone()
}

#[tokio::test]
async fn each_logins_entry_carries_what_its_actions_did() {
    let port = free_port();
    let server = Server::start(&tenant(port), &[("10-talkative.js", TALKATIVE), ("20-failing.js", FAILING)]);
    let http = reqwest::Client::new();
    assert_eq!(password_login(&http, &server, "jane@example.com").await, 200);
    assert_eq!(password_login(&http, &server, "taro@example.com").await, 403);

    let entries = logs(&http, &server).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(SECRET), "a secret reached the tenant log: {text}");
    assert!(!text.contains("value-never-logged"), "a claim's value reached the tenant log");

    let success = entries.iter().find(|e| e["type"] == "sepft").expect("the success entry");
    let executions = success["details"]["actions"]["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 2, "{success:#}");
    let first = &executions[0];
    assert_eq!(first["action_name"], "10-talkative.js");
    assert!(first["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(first["started_at"].as_str().unwrap().starts_with("20"), "{first}");
    assert_eq!(
        first["commands"],
        serde_json::json!(["idToken.setCustomClaim(https://gatehouse.test/token)", "accessToken.addScope(read:data)"])
    );
    assert_eq!(first["logs"][0]["level"], "log");
    assert_eq!(first["logs"][0]["message"], "checking jane@example.com with key [REDACTED]");
    assert_eq!(first["logs"][1]["level"], "warn");
    assert_eq!(executions[1]["action_name"], "20-failing.js");
    assert!(executions[1].get("error").is_none());

    let failure = entries.iter().find(|e| e["type"] == "f").expect("the failure entry");
    let executions = failure["details"]["actions"]["executions"].as_array().unwrap();
    let failed = &executions[1];
    assert_eq!(failed["action_name"], "20-failing.js");
    let error = failed["error"]["message"].as_str().unwrap();
    assert!(error.contains("partner said no for [REDACTED]") && error.contains("20-failing.js:2"), "{error}");
}

/// The server log (stderr, at info) has a line per action run and per console line, with the action's name, and
/// never a secret.
#[tokio::test]
async fn the_server_log_shows_each_action_and_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(dir.path().join("gatehouse.toml"), tenant(port)).unwrap();
    std::fs::create_dir_all(dir.path().join("actions/post-login")).unwrap();
    std::fs::write(dir.path().join("actions/post-login/10-talkative.js"), TALKATIVE).unwrap();
    let mut child = Command::new(gatehouse_bin())
        .arg("serve")
        .arg("--config")
        .arg(dir.path().join("gatehouse.toml"))
        .env("GATEHOUSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let server = Server::attach(&format!("http://127.0.0.1:{port}/"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(server.url(".well-known/openid-configuration")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(password_login(&http, &server, "jane@example.com").await, 200);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = |seen: &Vec<String>| {
        seen.iter().any(|l| l.contains("action ran")) && seen.iter().any(|l| l.contains("route=/oauth/token"))
    };
    while !done(&seen) && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let all = seen.join("\n");
    assert!(!all.contains(SECRET), "a secret reached the server log:\n{all}");
    assert!(!all.contains("value-never-logged"), "a claim's value reached the server log");
    assert!(!all.contains('\u{1b}'), "colour codes in a log that is not a terminal:\n{all}");
    let console = seen.iter().find(|l| l.contains("action console")).unwrap_or_else(|| panic!("{all}"));
    assert!(console.contains("INFO") && console.contains("10-talkative.js"), "{console}");
    assert!(console.contains("checking jane@example.com with key [REDACTED]"), "{console}");
    // One line per request: method, route template, status, latency; never the form's password.
    let request = seen.iter().find(|l| l.contains("route=/oauth/token")).unwrap_or_else(|| panic!("{all}"));
    assert!(
        request.contains("method=POST") && request.contains("status=200") && request.contains("latency_ms="),
        "{request}"
    );
    assert!(!all.contains("correct-horse-battery") && !all.contains("test-web-secret"), "{all}");
    let ran = seen.iter().find(|l| l.contains("action ran")).unwrap();
    assert!(ran.contains("10-talkative.js") && ran.contains("accessToken.addScope(read:data)"), "{ran}");
}
