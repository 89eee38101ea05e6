//! Operator commands on a tenant's store: `gatehouse keys rotate`, `gatehouse logs`.
//!
//! sled allows one process per store. When the server is running, these commands go through its Management API
//! instead, with a client the configuration grants the needed scope (`client_credentials` on `<issuer>api/v2/`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use gatehouse_auth::crypto::keys::KeyRing;
use gatehouse_store::{LogQuery, Store};
use serde_json::{Value, json};

use crate::config::{self, Loaded};
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

/// The client a `[[client_grants]]` entry grants `scopes` on the Management API to, with that grant: the CLI's
/// identity towards a running server.
pub(crate) fn management_client<'a>(
    config: &'a gatehouse_types::config::TenantConfig,
    scopes: &[&str],
) -> Result<(&'a gatehouse_types::config::ClientGrantConfig, &'a gatehouse_types::config::ClientConfig), String> {
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
    Ok((grant, client))
}

/// A Management API token for the running server, with `scopes`, from the client a `[[client_grants]]` entry
/// grants them to. Kept in `<data_dir>/cli-token.json` (owner-only) and reused until a minute before it expires,
/// so the CLI's commands do not each add a `seccft` line to the tenant log.
pub(crate) async fn management_token(loaded: &Loaded, scopes: &[&str]) -> Result<String, String> {
    let config = &loaded.config;
    let audience = config.management_audience();
    let (grant, client) = management_client(config, scopes)?;
    let secret = client.client_secret.as_deref().ok_or_else(|| "the management client has no secret".to_owned())?;
    // Every scope the grant allows, so one cached token serves every command.
    let scope = grant.scopes.join(" ");
    let cache = crate::config::resolve(&loaded.base_dir, &config.data_dir).join("cli-token.json");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let key = json!({ "issuer": config.issuer, "client_id": client.client_id, "scope": scope });
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Ok(cached) = serde_json::from_str::<Value>(&text)
        && cached.get("key") == Some(&key)
        && cached.get("expires_at").and_then(Value::as_i64).is_some_and(|at| at - 60 > now)
        && let Some(token) = cached.get("access_token").and_then(Value::as_str)
    {
        return Ok(token.to_owned());
    }
    let response: Value = reqwest::Client::new()
        .post(format!("{}oauth/token", config.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", secret),
            ("audience", audience.as_str()),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach the server at {}: {e}", config.issuer))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = response
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the server refused a management token: {}", crate::output::api_error(&response)))?;
    let expires_at = now + response.get("expires_in").and_then(Value::as_i64).unwrap_or(0);
    let record = json!({ "key": key, "access_token": token, "expires_at": expires_at });
    if let Err(e) = write_private(&cache, &record.to_string()) {
        tracing::warn!(error = %e, "could not keep the management token for the next command");
    }
    Ok(token)
}

/// Writes `text` to `path` readable by its owner only, replacing it whole.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let staged = path.with_extension("tmp");
    // A new file, so the owner-only mode always applies (an existing one would keep its permissions).
    let _ = std::fs::remove_file(&staged);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staged)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&staged, path)
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
                let token = management_token(&loaded, &["update:signing_keys"]).await?;
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
pub async fn logs(config_path: &Path, take: usize, types: Vec<String>, json: bool, follow: bool) -> ExitCode {
    let mut codes = Vec::new();
    for filter in &types {
        match gatehouse_auth::logs::codes_for(filter) {
            Some(expanded) => codes.extend(expanded.into_iter().map(str::to_owned)),
            None => {
                return output::fatal(&format!(
                    "unknown log type '{filter}'; the codes are: {} (f means f, fp and fu)",
                    gatehouse_auth::logs::CODES.join(", ")
                ));
            }
        }
    }
    let source = match LogSource::open(config_path).await {
        Ok(source) => source,
        Err(e) => return output::fatal(&e),
    };
    let mut entries = match source.newest(take, &codes).await {
        Ok(entries) => entries,
        Err(e) => return output::fatal(&e),
    };
    if follow {
        // Oldest first, as a tail does.
        entries.reverse();
    }
    let mut last = entries.iter().filter_map(|e| e.get("log_id").and_then(Value::as_str)).max().map(str::to_owned);
    for entry in &entries {
        print_entry(entry, json);
    }
    if !follow {
        return ExitCode::SUCCESS;
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let page = match source.newest(100, &codes).await {
            Ok(page) => page,
            Err(e) => return output::fatal(&e),
        };
        let mut fresh: Vec<&Value> = page
            .iter()
            .filter(|e| {
                e.get("log_id").and_then(Value::as_str).is_some_and(|id| last.as_deref().is_none_or(|l| id > l))
            })
            .collect();
        if fresh.len() == page.len() && last.is_some() && page.len() == 100 {
            output::progress(
                "(more than 100 entries in a second: some were skipped; gatehouse logs --take 100 shows them)",
            );
        }
        fresh.sort_by(|a, b| a.get("log_id").and_then(Value::as_str).cmp(&b.get("log_id").and_then(Value::as_str)));
        for entry in fresh {
            print_entry(entry, json);
            last = entry.get("log_id").and_then(Value::as_str).map(str::to_owned);
        }
    }
}

/// Where `gatehouse logs` reads: the store itself, or the running server's Management API (one token for the run).
struct LogSource {
    store: Option<Arc<dyn gatehouse_store::Store>>,
    issuer: String,
    token: Option<String>,
}

impl LogSource {
    async fn open(config_path: &Path) -> Result<LogSource, String> {
        let (loaded, store) = store_or_busy(config_path).await?;
        let token = match store {
            Some(_) => None,
            None => Some(management_token(&loaded, &["read:logs"]).await?),
        };
        Ok(LogSource { store, issuer: loaded.config.issuer.clone(), token })
    }

    /// The newest `take` entries of `codes` (all when empty), newest first.
    async fn newest(&self, take: usize, codes: &[String]) -> Result<Vec<Value>, String> {
        if let Some(store) = &self.store {
            let entries = store
                .list_logs(&LogQuery { from: None, take, types: codes.to_vec(), user_id: None })
                .await
                .map_err(|e| e.to_string())?;
            return Ok(entries.into_iter().filter_map(|e| serde_json::to_value(e).ok()).collect());
        }
        let q: String = codes.iter().map(|t| format!("type:{t}")).collect::<Vec<_>>().join(" OR ");
        let response: Value = reqwest::Client::new()
            .get(format!("{}api/v2/logs", self.issuer))
            .query(&[("take", take.to_string()), ("q", q)])
            .bearer_auth(self.token.as_deref().unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("cannot reach the server at {}: {e}", self.issuer))?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        response.as_array().cloned().ok_or_else(|| response.to_string())
    }
}

fn print_entry(entry: &Value, json: bool) {
    if json {
        output::line(&entry.to_string());
        return;
    }
    let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    output::line(&format!(
        "{}  {:<24} {}  user={} client={}",
        field("date"),
        field("type"),
        field("description"),
        field("user_name"),
        field("client_name")
    ));
    for line in action_lines(entry) {
        output::line(&line);
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
