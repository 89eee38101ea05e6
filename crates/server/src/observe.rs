//! Watching the server: `/healthz` (the process answers), `/readyz` (the store answers and a sandbox worker runs
//! JavaScript), Prometheus `/metrics`, and one log line and two metrics per request.
//!
//! Metrics go through the `metrics` facade, so every crate records its own (the sandbox its workers, the flow its
//! actions, the tenant its log events) without knowing where they go; this module installs the Prometheus recorder
//! once per process and renders it. Labels are route templates, status codes, log codes and action file names:
//! never a query string, a user or a token.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::AppState;

/// Histogram buckets, seconds: from a fast token answer to an action's whole deadline.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];

/// The process's Prometheus recorder, installed on first use.
fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: another recorder is installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder (before the first request, so early metrics are kept).
pub fn install() {
    let _ = recorder();
}

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// How long one readiness answer is reused: `/readyz` is unauthenticated, and each check runs a sandbox worker.
const READY_FOR: Duration = Duration::from_secs(1);

/// 200 when the store answers and a sandbox worker runs an (empty) flow, each within five seconds; 503 with what
/// failed otherwise. One check runs at a time and its answer serves every probe for a second, so probes cannot
/// take the workers from logins.
async fn readyz(State(state): State<AppState>) -> Response {
    type Answer = (usize, Instant, bool, serde_json::Value);
    static LAST: tokio::sync::Mutex<Option<Answer>> = tokio::sync::Mutex::const_new(None);
    // Keyed by tenant, for processes (tests) that serve more than one.
    let tenant = std::sync::Arc::as_ptr(&state.tenant) as usize;
    let mut last = LAST.lock().await;
    let (ready, body) = match &*last {
        Some((of, at, ready, body)) if *of == tenant && at.elapsed() < READY_FOR => (*ready, body.clone()),
        _ => {
            let (ready, body) = check_ready(&state).await;
            *last = Some((tenant, Instant::now(), ready, body.clone()));
            (ready, body)
        }
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn check_ready(state: &AppState) -> (bool, serde_json::Value) {
    let limit = Duration::from_secs(5);
    let store = match tokio::time::timeout(limit, state.tenant.store.documents_version()).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "no answer within 5 s".to_owned(),
    };
    let sandbox = match tokio::time::timeout(limit, state.tenant.actions.check_sandbox()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "no answer within 5 s".to_owned(),
    };
    let ready = store == "ok" && sandbox == "ok";
    (ready, json!({ "status": if ready { "ready" } else { "not ready" }, "store": store, "sandbox": sandbox }))
}

async fn metrics() -> Response {
    let Some(handle) = recorder() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are off in this process\n").into_response();
    };
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// One line per request at info (method, route template, status, latency) and
/// `gatehouse_http_requests_total{method, route, status}` with `gatehouse_http_request_duration_seconds`.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Any token is a method to HTTP: a label of each would let a client grow /metrics without bound.
    let method = match request.method().as_str() {
        known @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => known,
        _ => "other",
    }
    .to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    metrics::counter!("gatehouse_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("gatehouse_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(seconds);
    tracing::info!(%method, %route, status, latency_ms = format!("{:.1}", seconds * 1000.0), "request");
    response
}
