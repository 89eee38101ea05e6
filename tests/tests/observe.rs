//! Watching the server (issue 15): `/healthz`, `/readyz` and Prometheus `/metrics` on a running `gatehouse serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_tests::{MFA_DEFAULT, Server, config, web_password_login};
use serde_json::Value;

const ACTION: &str = "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://gatehouse.test/x', 1); };";

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-claim.js", ACTION)]);
    let http = reqwest::Client::new();

    let health = http.get(server.url("healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(server.url("readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "ready", "store": "ok", "sandbox": "ok" }));

    let (status, _) = web_password_login(&http, &server, "jane@example.com", "correct-horse-battery").await;
    assert_eq!(status, 200);
    let (status, _) = web_password_login(&http, &server, "jane@example.com", "wrong-password").await;
    assert_eq!(status, 403);

    // A made-up method is counted as `other`: clients cannot add label values (and series) at will.
    let brew = http.request(reqwest::Method::from_bytes(b"BREW").unwrap(), server.url("healthz")).send().await.unwrap();
    assert_eq!(brew.status(), 405);
    // Probes in a burst share one check.
    let probes = gatehouse_tests::join_all((0..20).map(|_| http.get(server.url("readyz")).send())).await;
    assert!(probes.into_iter().all(|p| p.unwrap().status() == 200));

    let metrics = http.get(server.url("metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.unwrap();
    for expected in [
        r#"gatehouse_http_requests_total{method="POST",route="/oauth/token",status="200"} 1"#,
        r#"gatehouse_http_requests_total{method="POST",route="/oauth/token",status="403"} 1"#,
        r#"gatehouse_http_request_duration_seconds_count{method="POST",route="/oauth/token"} 2"#,
        r#"gatehouse_tenant_log_events_total{type="sepft"} 1"#,
        r#"gatehouse_tenant_log_events_total{type="fp"} 1"#,
        r#"gatehouse_action_runs_total{trigger="post-login",action="10-claim.js",result="ok"} 1"#,
        r#"gatehouse_action_duration_seconds_count{trigger="post-login",action="10-claim.js"} 1"#,
        "gatehouse_sandbox_workers_started_total ",
        "gatehouse_sandbox_workers_busy ",
        r#"gatehouse_http_requests_total{method="other",route="/healthz",status="405"} 1"#,
        // Store latency, by backend and operation: both logins looked the user up, the failure's log is durable.
        r#"gatehouse_store_operation_duration_seconds_count{backend="sled",operation="find_user_by_email"} "#,
        r#"gatehouse_store_operation_duration_seconds_count{backend="sled",operation="append_log"} "#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    for private in ["jane@example.com", "correct-horse-battery", "test-web-secret", "BREW"] {
        assert!(!text.contains(private), "{private} in the metrics");
    }
}
