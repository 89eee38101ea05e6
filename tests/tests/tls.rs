//! `gatehouse serve --tls-cert FILE --tls-key FILE` (issue 15): HTTPS without a proxy, for the SDKs that insist on
//! it. A certificate for 127.0.0.1 from a throwaway CA (`test_certificates`), a client that trusts only that CA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse_tests::{MFA_DEFAULT, config, free_port, gatehouse_bin, jwt_payload, start_serve, test_certificates};
use serde_json::Value;

#[tokio::test]
async fn serve_speaks_https_with_the_operators_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = reqwest::Certificate::from_pem(test_certificates(dir.path()).as_bytes()).unwrap();
    let port = free_port();
    let issuer = format!("https://127.0.0.1:{port}/");
    let text = config(MFA_DEFAULT, "")
        .replace("issuer = \"http://127.0.0.1:0/\"", &format!("issuer = \"{issuer}\""))
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
    std::fs::write(dir.path().join("gatehouse.toml"), &text).unwrap();
    std::fs::create_dir_all(dir.path().join("actions/post-login")).unwrap();

    // An http:// issuer with TLS is refused with what to change.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, config(MFA_DEFAULT, "")).unwrap();
    let refused = Command::new(gatehouse_bin())
        .args(["serve", "--config"])
        .arg(&plain)
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("the issuer must be an https:// URL"), "{stderr}");
    // --tls-cert without --tls-key is a usage error.
    let half = Command::new(gatehouse_bin()).args(["serve", "--tls-cert", "x.pem"]).output().unwrap();
    assert!(!half.status.success() && String::from_utf8_lossy(&half.stderr).contains("--tls-key"));

    let mut command = Command::new(gatehouse_bin());
    command
        .args(["serve", "--config"])
        .arg(dir.path().join("gatehouse.toml"))
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"));
    let (mut child, announced, _lines) = start_serve(&mut command);
    assert_eq!(announced, issuer);

    // A client that says nothing holds no one up: the handshake of each connection runs on its own.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent.write_all(b"\x16\x03").unwrap();

    let http = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
    let started = Instant::now();
    let discovery: Value =
        http.get(format!("{issuer}.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "a silent client held up another");
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["token_endpoint"], format!("{issuer}oauth/token"));

    let response = http
        .post(format!("{issuer}oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("username", "jane@example.com"),
            ("password", "correct-horse-battery"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(jwt_payload(body["id_token"].as_str().unwrap())["iss"], issuer.as_str());

    // Plain HTTP on the TLS port gets no answer.
    let plain_http = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain_http.is_err() || !plain_http.unwrap().status().is_success());
    // A client that does not trust the certificate fails the handshake.
    assert!(reqwest::get(format!("{issuer}healthz")).await.is_err());

    drop(silent);
    child.kill().unwrap();
    child.wait().unwrap();
}
