//! Operator commands on a tenant's store: `gatehouse keys rotate`, `gatehouse logs`.
//!
//! sled allows one process per store. When the server is running, these commands go through its Management API
//! instead, with a client the configuration grants the needed scope (`client_credentials` on `<issuer>api/v2/`).

use std::path::Path;
use std::process::ExitCode;

use gatehouse_auth::crypto::keys::KeyRing;
use gatehouse_store::{LogQuery, Store};
use gatehouse_types::config::TenantConfig;
use serde_json::Value;

use crate::config;
use crate::output;
use crate::serve::open_store;

/// The store, or `None` when a running server holds it.
async fn store_or_busy(config_path: &Path) -> Result<(config::Loaded, Option<std::sync::Arc<dyn Store>>), String> {
    let loaded = config::load(config_path, None, None)?;
    match open_store(&loaded.base_dir, &loaded.config).await {
        Ok((store, _)) => Ok((loaded, Some(store))),
        Err(e)
            if e.to_lowercase().contains("lock")
                || e.contains("WouldBlock")
                || e.contains("Resource temporarily unavailable") =>
        {
            Ok((loaded, None))
        }
        Err(e) => Err(e),
    }
}

/// A Management API token from the running server, with `scopes`.
pub(crate) async fn management_token(config: &TenantConfig, scopes: &[&str]) -> Result<String, String> {
    let audience = config.management_audience();
    let wanted = scopes.join(" ");
    let grant = config
        .client_grants
        .iter()
        .find(|g| g.audience == audience && scopes.iter().all(|s| g.scopes.iter().any(|granted| granted == s)))
        .ok_or_else(|| {
            format!("the store is in use by a running server, and no [[client_grants]] entry grants '{wanted}' on {audience} to reach it")
        })?;
    let client = config.client(&grant.client_id).ok_or_else(|| "the client grant names no client".to_owned())?;
    let secret = client.client_secret.as_deref().ok_or_else(|| "the management client has no secret".to_owned())?;
    let scope = wanted.as_str();
    let response: Value = reqwest::Client::new()
        .post(format!("{}oauth/token", config.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", secret),
            ("audience", audience.as_str()),
            ("scope", scope),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach the server at {}: {e}", config.issuer))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    response
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the server refused a management token: {response}"))
}

/// `gatehouse keys rotate`.
pub async fn rotate_keys(config_path: &Path) -> ExitCode {
    let result: Result<String, String> = async {
        let (loaded, store) = store_or_busy(config_path).await?;
        match store {
            Some(store) => {
                let mut ring = KeyRing::load_or_create(store.as_ref()).await.map_err(|e| e.to_string())?;
                let key = ring.rotate(store.as_ref(), gatehouse_auth::clock::now()).await.map_err(|e| e.to_string())?;
                Ok(format!("new signing key {}; the previous key stays in the JWKS until its tokens expire", key.kid))
            }
            None => {
                let token = management_token(&loaded.config, &["update:signing_keys"]).await?;
                let response: Value = reqwest::Client::new()
                    .post(format!("{}api/v2/keys/signing/rotate", loaded.config.issuer))
                    .bearer_auth(token)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let kid = response.get("kid").and_then(Value::as_str).ok_or_else(|| response.to_string())?;
                Ok(format!("new signing key {kid} (rotated by the running server)"))
            }
        }
    }
    .await;
    match result {
        Ok(message) => {
            output::line(&message);
            ExitCode::SUCCESS
        }
        Err(e) => output::fatal(&e),
    }
}

/// `gatehouse logs`: the newest tenant log entries, one per line.
pub async fn logs(config_path: &Path, take: usize, types: Vec<String>, json: bool) -> ExitCode {
    let result: Result<Vec<Value>, String> = async {
        let (loaded, store) = store_or_busy(config_path).await?;
        match store {
            Some(store) => {
                let entries = store
                    .list_logs(&LogQuery { from: None, take, types, user_id: None })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(entries.into_iter().filter_map(|e| serde_json::to_value(e).ok()).collect())
            }
            None => {
                let token = management_token(&loaded.config, &["read:logs"]).await?;
                let q: String = types.iter().map(|t| format!("type:{t}")).collect::<Vec<_>>().join(" ");
                let response: Value = reqwest::Client::new()
                    .get(format!("{}api/v2/logs", loaded.config.issuer))
                    .query(&[("take", take.to_string()), ("q", q)])
                    .bearer_auth(token)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                response.as_array().cloned().ok_or_else(|| response.to_string())
            }
        }
    }
    .await;
    match result {
        Ok(entries) => {
            for entry in entries {
                if json {
                    output::line(&entry.to_string());
                } else {
                    let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
                    output::line(&format!(
                        "{}  {:<24} {}  user={} client={}",
                        field("date"),
                        field("type"),
                        field("description"),
                        field("user_name"),
                        field("client_name")
                    ));
                    for line in action_lines(&entry) {
                        output::line(&line);
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => output::fatal(&e),
    }
}

/// The indented lines under an entry for its login's actions: each action's time and calls, its error, its output.
fn action_lines(entry: &Value) -> Vec<String> {
    let executions =
        entry.pointer("/details/actions/executions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut lines = Vec::new();
    for execution in executions {
        let text = |k: &str| execution.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let commands: Vec<&str> = execution
            .get("commands")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let duration = execution.get("duration_ms").and_then(Value::as_f64).unwrap_or_default();
        let calls = if commands.is_empty() { String::new() } else { format!(": {}", commands.join(", ")) };
        lines.push(format!("    action {} ({duration:.1} ms){calls}", text("action_name")));
        if let Some(error) = execution.pointer("/error/message").and_then(Value::as_str) {
            lines.push(format!("      error: {error}"));
        }
        for log in execution.get("logs").and_then(Value::as_array).cloned().unwrap_or_default() {
            let level = log.get("level").and_then(Value::as_str).unwrap_or("log");
            let message = log.get("message").and_then(Value::as_str).unwrap_or_default();
            lines.push(format!("      console.{level}: {message}"));
        }
    }
    lines
}
