//! The token-endpoint phase of `gatehouse bench`: Gatehouse's `/oauth/token` and panva's node-oidc-provider (a
//! certified OpenID Provider) under the same keep-alive load, in one run, on 127.0.0.1.
//!
//! Both servers are started here: `gatehouse serve` (this executable) on a fresh sled folder with an empty
//! post-login flow, and `bench/oidc-provider.mjs` on the pinned node-oidc-provider that `scripts/bench-deps.sh`
//! installs outside the repository. One RS256 token from each is verified against its JWKS before anything is
//! timed. Then `wrk` (Debian's package) runs each grant against each server in turn, after a warm-up:
//! `client_credentials`, `refresh_token` (rotated on every use by both; the Lua script hands each response's new
//! token to the next request) and the password grant, which is bound by argon2id and is shown next to the measured
//! hash rate. The signing bound is `openssl speed -multi <cores> rsa2048`, measured in the same run before the
//! load and again after the `client_credentials` rows (the table uses their mean: this machine's speed moves between
//! minutes); beside it, Gatehouse's own signing path alone (the key ring, no HTTP) on as many threads.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gatehouse_auth::crypto::{keys, password};
use gatehouse_engine::placement;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use super::{cpu_time, rss_kib};
use crate::output;

/// The pinned peer, as `scripts/bench-deps.sh` installs it.
pub const PEER_VERSION: &str = "9.13.3";
const API: &str = "https://api.example.com/";
const CLIENT_ID: &str = "bench";
const CLIENT_SECRET: &str = "bench-client-secret-0123456789";
const USER: &str = "jane@example.com";
const PASSWORD: &str = "correct-horse-battery-staple";
const SCOPE: &str = "openid offline_access read:data";
/// Refresh tokens per wrk thread: more than the connections a thread drives, so a connection always finds one.
const TOKENS_PER_THREAD: usize = 16;

/// Arguments of the token-endpoint phase.
pub struct TokenArgs {
    /// Measured seconds per grant and server.
    pub seconds: u64,
    /// Unmeasured seconds before each measured run.
    pub warmup_seconds: u64,
    /// wrk threads.
    pub threads: usize,
    /// wrk keep-alive connections.
    pub connections: usize,
    /// The Node executable.
    pub node: String,
    /// `bench/oidc-provider.mjs`.
    pub peer_script: PathBuf,
    /// The folder where node-oidc-provider and argon2 are installed (`node_modules` inside).
    pub peer_modules: PathBuf,
    /// The wrk executable.
    pub wrk: String,
}

/// The default folder of the pinned peer: `$XDG_CACHE_HOME/gatehouse/bench-peer` or `~/.cache/...`.
pub fn default_peer_modules() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("gatehouse").join("bench-peer")
}

/// A server under test, as its discovery document describes it.
pub(super) struct Server {
    pub(super) name: &'static str,
    issuer: String,
    pub(super) token_endpoint: String,
    jwks_uri: String,
    /// How the API is named in a token request (`audience` for Gatehouse as for Auth0, `resource` for RFC 8707).
    api_param: &'static str,
    pub(super) pid: u32,
    _child: Child,
}

/// One wrk run, as wrk printed it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct WrkFigures {
    pub(super) requests: u64,
    pub(super) per_second: f64,
    pub(super) p50: Duration,
    pub(super) p99: Duration,
    /// Non-2xx answers plus socket errors: each counted request must be a success.
    pub(super) errors: u64,
}

/// One row of the table: a grant on one server.
struct Row {
    figures: WrkFigures,
    /// Cores the server process kept busy during the measured run.
    cores_busy: f64,
}

/// Runs the phase and prints its figures.
pub async fn run(args: &TokenArgs) -> Result<(), String> {
    let wrk_version = wrk_version(&args.wrk)?;
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    let result = measure(args, &dir, &wrk_version).await;
    // Kept on failure: it holds both servers' logs.
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(args: &TokenArgs, dir: &Path, wrk_version: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir.join("actions/post-login")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    // The bounds first, on a machine where neither server runs yet; `openssl speed` again right after the
    // `client_credentials` rows, since this machine's speed moves between minutes.
    output::progress("bench: token endpoint: signing and hashing bounds...");
    let openssl_before = openssl_sign_rate(cores).await;
    let signer = signer_rate(cores, Duration::from_secs(3)).await?;
    let hashing = argon2_rate(cores, Duration::from_secs(3)).await?;

    output::progress("bench: token endpoint: starting Gatehouse and node-oidc-provider...");
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| format!("HTTP client: {e}"))?;
    let gatehouse = start_gatehouse(&http, dir).await?;
    let (node, node_version) = match start_peer(args, &http, dir).await {
        Ok(peer) => peer,
        Err(why) => {
            output::line(&format!("token endpoint: node-oidc-provider skipped: {why}"));
            return Ok(());
        }
    };
    let servers = [gatehouse, node];

    // One token from each, checked against its JWKS; and what each grant's answer holds.
    let mut checked = Vec::new();
    for server in &servers {
        checked.push(check_tokens(&http, server).await.map_err(|e| format!("{}: {e}", server.name))?);
    }

    std::fs::write(dir.join("fixed.lua"), FIXED_LUA).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("refresh.lua"), REFRESH_LUA).map_err(|e| e.to_string())?;

    let grants = ["client_credentials", "refresh_token", "password"];
    let mut rows: Vec<[Row; 2]> = Vec::new();
    let mut openssl_after = None;
    for grant in grants {
        let mut pair = Vec::new();
        for server in &servers {
            output::progress(&format!("bench: token endpoint: {grant} on {}...", server.name));
            if args.warmup_seconds > 0 {
                run_wrk(args, &http, dir, server, grant, args.warmup_seconds).await?;
            }
            let cpu_before = cpu_time(server.pid);
            let started = Instant::now();
            let figures = run_wrk(args, &http, dir, server, grant, args.seconds).await?;
            let cores_busy = (cpu_time(server.pid) - cpu_before).as_secs_f64() / started.elapsed().as_secs_f64();
            if figures.errors > 0 {
                return Err(format!(
                    "{grant} on {}: {} of {} answers were errors; its log is in {}",
                    server.name,
                    figures.errors,
                    figures.requests,
                    dir.display()
                ));
            }
            pair.push(Row { figures, cores_busy });
        }
        let [gatehouse_row, node_row]: [Row; 2] = pair.try_into().map_err(|_| "two servers".to_owned())?;
        rows.push([gatehouse_row, node_row]);
        if grant == "client_credentials" {
            output::progress("bench: token endpoint: the signing bound again...");
            openssl_after = Some(openssl_sign_rate(cores).await);
        }
    }

    let signing =
        SigningBound { openssl: [openssl_before, openssl_after.unwrap_or_else(|| Err("not measured".into()))], signer };
    print_table(args, &servers, &checked, &rows, &node_version, wrk_version, cores, &signing, hashing);
    Ok(())
}

/// The signatures and tokens in each grant's answer, from the check before the load.
struct Checked {
    kid: String,
    /// JWTs (signatures) in the answer of each grant, in the order of the table.
    signatures: [usize; 3],
}

pub(super) fn wrk_version(wrk: &str) -> Result<String, String> {
    // `wrk -v` prints its version and usage, and exits with 1.
    let out = std::process::Command::new(wrk).arg("-v").output().map_err(|e| {
        format!("cannot run '{wrk}' ({e}); the token-endpoint phase needs Debian's wrk: `apt-get install wrk` (make bench does it)")
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_owned())
}

/// Picks a free port on 127.0.0.1.
pub(super) fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

pub(super) fn bench_config(port: u16, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"# Written by `gatehouse bench` for its token-endpoint phase.
issuer = "http://127.0.0.1:{port}/"
listen = "127.0.0.1:{port}"
data_dir = "{dir}/data"
actions_dir = "{dir}/actions"
friendly_name = "Gatehouse bench"

[[clients]]
client_id = "{CLIENT_ID}"
name = "Bench client"
app_type = "regular_web"
client_secret = "{CLIENT_SECRET}"
grant_types = ["client_credentials", "refresh_token", "password"]

[[apis]]
identifier = "{API}"
name = "Bench API"
scopes = ["read:data"]

[[client_grants]]
client_id = "{CLIENT_ID}"
audience = "{API}"
scopes = ["read:data"]

[[users]]
email = "{USER}"
password = "{PASSWORD}"
name = "Jane Doe"
"#
    )
}

async fn start_gatehouse(http: &reqwest::Client, dir: &Path) -> Result<Server, String> {
    let port = free_port()?;
    let config = dir.join("gatehouse.toml");
    std::fs::write(&config, bench_config(port, dir)).map_err(|e| format!("{}: {e}", config.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the gatehouse executable: {e}"))?;
    let log = std::fs::File::create(dir.join("gatehouse.log")).map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    // The servers and load generators measured get every CPU, whatever the thread that starts them was pinned to.
    let child = placement::unpinned(|| command.spawn()).map_err(|e| format!("cannot start gatehouse serve: {e}"))?;
    let issuer = format!("http://127.0.0.1:{port}");
    discover("gatehouse", http, &issuer, child, "audience").await
}

async fn start_peer(args: &TokenArgs, http: &reqwest::Client, dir: &Path) -> Result<(Server, String), String> {
    let package = args.peer_modules.join("node_modules/oidc-provider/package.json");
    let installed: Value = std::fs::read(&package)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| format!("{} not found: run scripts/bench-deps.sh (make bench does)", package.display()))?;
    let version = installed.get("version").and_then(Value::as_str).unwrap_or("?").to_owned();
    if version != PEER_VERSION {
        return Err(format!("{} holds oidc-provider {version}, not the pinned {PEER_VERSION}", package.display()));
    }
    if !args.peer_script.is_file() {
        return Err(format!("{} not found (run from the repository root)", args.peer_script.display()));
    }
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("node-oidc-provider.log")).map_err(|e| e.to_string())?;
    let mut command = Command::new(&args.node);
    command
        .arg(&args.peer_script)
        .arg("--modules")
        .arg(&args.peer_modules)
        .args(["--port", &port.to_string(), "--secret", CLIENT_SECRET, "--user", USER, "--password", PASSWORD])
        .args(["--api", API])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true);
    let mut child =
        placement::unpinned(|| command.spawn()).map_err(|e| format!("cannot start '{}': {e}", args.node))?;
    let stdout = child.stdout.take().ok_or("node's stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("ready ") {
                return true;
            }
        }
        false
    })
    .await;
    if ready != Ok(true) {
        let log = std::fs::read_to_string(dir.join("node-oidc-provider.log")).unwrap_or_default();
        return Err(format!("node-oidc-provider did not start: {}", log.trim()));
    }
    let node_version = std::process::Command::new(&args.node)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let server = discover("node-oidc-provider", http, &format!("http://127.0.0.1:{port}"), child, "resource").await?;
    Ok((server, format!("{version} on Node {node_version}")))
}

/// Waits for the server's discovery document (polling: the server says nothing when it is ready) and reads its
/// endpoints from it.
pub(super) async fn discover(
    name: &'static str,
    http: &reqwest::Client,
    base: &str,
    mut child: Child,
    api_param: &'static str,
) -> Result<Server, String> {
    let url = format!("{base}/.well-known/openid-configuration");
    let deadline = Instant::now() + Duration::from_secs(30);
    let document: Value = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited with {status} before it answered"));
        }
        match http.get(&url).send().await {
            Ok(answer) if answer.status().is_success() => {
                break answer.json().await.map_err(|e| format!("{name}: discovery document: {e}"))?;
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => return Err(format!("{name} did not answer {url} within 30 s")),
        }
    };
    let field = |key: &str| {
        document.get(key).and_then(Value::as_str).map(str::to_owned).ok_or(format!("{name}: discovery has no {key}"))
    };
    Ok(Server {
        name,
        issuer: field("issuer")?,
        token_endpoint: field("token_endpoint")?,
        jwks_uri: field("jwks_uri")?,
        api_param,
        pid: child.id().ok_or(format!("{name} has no pid"))?,
        _child: child,
    })
}

/// The form of a grant's request (the refresh token is appended by the Lua script).
fn form(server: &Server, grant: &str) -> Vec<(&'static str, String)> {
    let mut form = vec![("client_id", CLIENT_ID.to_owned()), ("client_secret", CLIENT_SECRET.to_owned())];
    match grant {
        "client_credentials" => {
            form.push(("grant_type", grant.to_owned()));
            form.push((server.api_param, API.to_owned()));
        }
        "password" => {
            form.push(("grant_type", grant.to_owned()));
            form.push(("username", USER.to_owned()));
            form.push(("password", PASSWORD.to_owned()));
            form.push(("scope", SCOPE.to_owned()));
            if server.api_param == "audience" {
                form.push(("audience", API.to_owned()));
            }
        }
        _ => form.push(("grant_type", grant.to_owned())),
    }
    form
}

fn encode(form: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish()
}

async fn token_request(http: &reqwest::Client, server: &Server, form: &[(&str, String)]) -> Result<Value, String> {
    let answer = http
        .post(&server.token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(form))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let body: Value = answer.json().await.map_err(|e| format!("token answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("token endpoint answered {status}: {body}"));
    }
    Ok(body)
}

/// Verifies one `client_credentials` access token against the server's JWKS (RS256, issuer, audience), and counts
/// the JWTs in each grant's answer.
async fn check_tokens(http: &reqwest::Client, server: &Server) -> Result<Checked, String> {
    let answer = token_request(http, server, &form(server, "client_credentials")).await?;
    let token = answer.get("access_token").and_then(Value::as_str).ok_or("no access_token")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("access token header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("the access token is signed with {:?}, not RS256", header.alg));
    }
    let kid = header.kid.ok_or("the access token has no kid")?;
    let jwks: Value = http
        .get(&server.jwks_uri)
        .send()
        .await
        .map_err(|e| format!("JWKS: {e}"))?
        .json()
        .await
        .map_err(|e| format!("JWKS: {e}"))?;
    let key = jwks
        .get("keys")
        .and_then(Value::as_array)
        .and_then(|keys| keys.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid.as_str())))
        .ok_or_else(|| format!("no key {kid} in {}", server.jwks_uri))?;
    let component = |name: &str| key.get(name).and_then(Value::as_str).ok_or(format!("JWKS key without {name}"));
    let decoding = DecodingKey::from_rsa_components(component("n")?, component("e")?)
        .map_err(|e| format!("JWKS key {kid}: {e}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[API]);
    validation.set_issuer(&[server.issuer.as_str()]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map_err(|e| format!("the access token does not verify against {}: {e}", server.jwks_uri))?;

    let jwts = |answer: &Value| {
        ["access_token", "id_token"]
            .iter()
            .filter(|k| answer.get(**k).and_then(Value::as_str).is_some_and(|t| t.split('.').count() == 3))
            .count()
    };
    let password = token_request(http, server, &form(server, "password")).await?;
    let refresh_token =
        password.get("refresh_token").and_then(Value::as_str).ok_or("the password grant gave no refresh token")?;
    let mut refresh_form = form(server, "refresh_token");
    refresh_form.push(("refresh_token", refresh_token.to_owned()));
    let refreshed = token_request(http, server, &refresh_form).await?;
    if refreshed.get("refresh_token").and_then(Value::as_str).is_none_or(|t| t == refresh_token) {
        return Err("the refresh_token grant did not rotate the refresh token".into());
    }
    Ok(Checked { kid, signatures: [jwts(&answer), jwts(&refreshed), jwts(&password)] })
}

async fn seed_refresh_tokens(http: &reqwest::Client, server: &Server, count: usize) -> Result<Vec<String>, String> {
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let answer = token_request(http, server, &form(server, "password"))
            .await
            .map_err(|e| format!("{}: {e}", server.name))?;
        let token = answer.get("refresh_token").and_then(Value::as_str).ok_or("no refresh_token")?;
        tokens.push(token.to_owned());
    }
    Ok(tokens)
}

/// A fixed request body: wrk sends the same request on every connection, with no Lua per request.
pub(super) const FIXED_LUA: &str = r#"-- Written by gatehouse bench: POST the form given after `--`; the first answer that is
-- not a success (status and body) goes to the file given second, so an error count can be explained.
function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  failures = args[2]
end
function response(status, headers, body)
  if status >= 300 and failures and not reported then
    reported = true
    local file = io.open(failures, "a")
    if file then
      file:write(status .. " " .. body .. "\n")
      file:close()
    end
  end
end
"#;

/// Rotating refresh tokens: each thread takes its share of the seeded tokens (line i goes to thread i mod
/// threads), each request takes one, each answer gives the rotated one back.
const REFRESH_LUA: &str = r#"-- Written by gatehouse bench: refresh_token with rotation. Args: form prefix, tokens file, threads.
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end
function init(args)
  prefix = args[1]
  tokens = {}
  local threads = tonumber(args[3])
  local i = 0
  for line in io.lines(args[2]) do
    if line ~= "" then
      if i % threads == id then table.insert(tokens, line) end
      i = i + 1
    end
  end
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end
function request()
  local token = table.remove(tokens, 1) or "none-left"
  return wrk.format("POST", nil, headers, prefix .. token)
end
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(tokens, token) end
end
"#;

pub(super) async fn run_wrk(
    args: &TokenArgs,
    http: &reqwest::Client,
    dir: &Path,
    server: &Server,
    grant: &str,
    seconds: u64,
) -> Result<WrkFigures, String> {
    let mut command = Command::new(&args.wrk);
    command
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        // wrk's default 2 s would count a slow answer as an error; the percentiles show slowness.
        .args(["--timeout", "10s"]);
    if grant == "refresh_token" {
        // Fresh chains for every run: a run leaves its tokens rotated, and presenting them again is a replay.
        let tokens = seed_refresh_tokens(http, server, args.threads * TOKENS_PER_THREAD).await?;
        std::fs::write(dir.join(format!("{}.tokens", server.name)), tokens.join("\n") + "\n")
            .map_err(|e| format!("cannot write the refresh tokens: {e}"))?;
        let prefix = encode(&form(server, grant)) + "&refresh_token=";
        let tokens = dir.join(format!("{}.tokens", server.name));
        command.arg("-s").arg(dir.join("refresh.lua")).arg(&server.token_endpoint).arg("--").arg(prefix);
        command.arg(tokens).arg(args.threads.to_string());
    } else {
        command
            .arg("-s")
            .arg(dir.join("fixed.lua"))
            .arg(&server.token_endpoint)
            .arg("--")
            .arg(encode(&form(server, grant)))
            .arg(dir.join("failures.txt"));
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let wrk = placement::unpinned(|| command.spawn()).map_err(|e| format!("wrk: {e}"))?;
    let out = wrk.wait_with_output().await.map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("wrk exited with {}: {}{}", out.status, text, String::from_utf8_lossy(&out.stderr)));
    }
    parse_wrk(&text)
}

/// Reads requests/s, the 50th and 99th percentiles and the error counts from wrk's `--latency` report.
fn parse_wrk(text: &str) -> Result<WrkFigures, String> {
    let mut figures = WrkFigures::default();
    let mut seen = (false, false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => {
                figures.p50 = parse_duration(value)?;
                seen.0 = true;
            }
            ["99%", value] => {
                figures.p99 = parse_duration(value)?;
                seen.1 = true;
            }
            ["Requests/sec:", value] => {
                figures.per_second = value.parse().map_err(|_| format!("wrk: requests/s '{value}'"))?;
                seen.2 = true;
            }
            [count, "requests", "in", ..] => figures.requests = count.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", count] => figures.errors += count.parse::<u64>().unwrap_or(1),
            ["Socket", "errors:", rest @ ..] => {
                figures.errors += rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>();
            }
            _ => {}
        }
    }
    if seen != (true, true, true) {
        return Err(format!("wrk printed no latency distribution or rate:\n{text}"));
    }
    Ok(figures)
}

/// `812.00us`, `2.71ms`, `1.02s`, `1.10m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).ok_or(format!("wrk: duration '{text}'"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("wrk: duration '{text}'"))?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("wrk: duration unit '{text}'")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// RS256 signatures per second on every core, as `openssl speed -multi <cores> rsa2048` reports them.
async fn openssl_sign_rate(cores: usize) -> Result<f64, String> {
    let out = Command::new("openssl")
        .args(["speed", "-multi", &cores.to_string(), "-seconds", "3", "rsa2048"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("openssl: {e}"))?;
    // The summary line: `rsa 2048 bits 0.000230s 0.000007s   4347.8 142857.1`.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("rsa 2048 bits"))
        .and_then(|l| l.split_whitespace().nth(5).and_then(|v| v.parse().ok()))
        .ok_or_else(|| "openssl speed printed no rsa 2048 line".to_owned())
}

/// RS256 signing rates around the load.
struct SigningBound {
    /// `openssl speed -multi <cores> rsa2048` before the servers start and after the `client_credentials` rows.
    openssl: [Result<f64, String>; 2],
    /// Gatehouse's own signing path (the key ring's aws-lc-rs key pair) on `cores` threads, no HTTP.
    signer: f64,
}

impl SigningBound {
    /// The mean of the `openssl speed` figures that were measured.
    fn openssl(&self) -> Result<f64, String> {
        let measured: Vec<f64> = self.openssl.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        match measured.len() {
            0 => Err(self.openssl[0].clone().err().unwrap_or_default()),
            n => Ok(measured.iter().sum::<f64>() / n as f64),
        }
    }
}

/// Access tokens per second that Gatehouse's key ring signs on `cores` threads: a fresh 2048-bit key, claims
/// shaped like a `client_credentials` token's, `KeyRing::sign_with_typ` as the token endpoint calls it.
async fn signer_rate(cores: usize, time: Duration) -> Result<f64, String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let key = keys::generate_key(now).map_err(|e| e.to_string())?;
    let ring = keys::KeyRing::from_records(vec![key]).map_err(|e| e.to_string())?;
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:3000/", "sub": format!("{CLIENT_ID}@clients"), "aud": API, "iat": now,
        "exp": now + 86_400, "scope": "read:data", "gty": "client-credentials", "azp": CLIENT_ID,
        "jti": "fJ0rX2yq8bqkPq3bH6m1Zw",
    });
    per_second_on(cores, time, move || ring.sign_with_typ(&claims, "at+jwt").is_ok()).await
}

/// argon2id verifications per second on `cores` threads, with Gatehouse's parameters.
async fn argon2_rate(cores: usize, time: Duration) -> Result<f64, String> {
    let hash = password::hash_password(PASSWORD).map_err(|e| e.to_string())?;
    per_second_on(cores, time, move || password::verify_password(&hash, PASSWORD)).await
}

/// How many times a second `work` succeeds, run in a loop on `cores` blocking threads for `time`.
async fn per_second_on(
    cores: usize,
    time: Duration,
    work: impl Fn() -> bool + Send + Sync + 'static,
) -> Result<f64, String> {
    let work = std::sync::Arc::new(work);
    let started = Instant::now();
    let counts = (0..cores).map(|_| {
        let work = work.clone();
        tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            while started.elapsed() < time {
                if work() {
                    n += 1;
                }
            }
            n
        })
    });
    let mut total = 0;
    for count in counts.collect::<Vec<_>>() {
        total += count.await.map_err(|e| e.to_string())?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub(super) fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn print_table(
    args: &TokenArgs,
    servers: &[Server; 2],
    checked: &[Checked],
    rows: &[[Row; 2]],
    node_version: &str,
    wrk_version: &str,
    cores: usize,
    signing: &SigningBound,
    hashing: f64,
) {
    output::line(&format!(
        "gatehouse bench: token endpoint, Gatehouse against node-oidc-provider {node_version}, one run, 127.0.0.1"
    ));
    output::line(&format!(
        "  load: wrk {wrk_version} -t{} -c{} -d{}s --latency (keep-alive), after a {} s warm-up per row; {cores} cores \
         shared by wrk and the server",
        args.threads, args.connections, args.seconds, args.warmup_seconds
    ));
    output::line(
        "  Gatehouse: release build, sled store (durable), empty post-login flow, one process; node-oidc-provider: one \
         Node process, its in-memory adapter, JWT access tokens (resource indicators); both RS256 with a 2048-bit key, \
         client_secret_post, refresh tokens rotated on every use",
    );
    for (server, checked) in servers.iter().zip(checked) {
        output::line(&format!(
            "  checked: a client_credentials token from {} verifies against {} (RS256, kid {}, iss, aud)",
            server.name, server.jwks_uri, checked.kid
        ));
    }
    if let Some(idle) = super::idle_cpus() {
        output::line(&format!("  idle CPUs: {idle}"));
    }
    output::line("");
    output::line(&format!(
        "  {:<28} {:>28}   {:>28}   {:>6}",
        "grant (signatures per answer)", "Gatehouse", "node-oidc-provider", "ratio"
    ));
    output::line(&format!(
        "  {:<28} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}",
        "", "req/s", "p50", "p99", "req/s", "p50", "p99"
    ));
    let labels = ["client_credentials".to_owned(), "refresh_token".to_owned(), "password (argon2id)".to_owned()];
    for (i, (label, [ours, theirs])) in labels.iter().zip(rows).enumerate() {
        let signatures = checked.first().map(|c| c.signatures[i]).unwrap_or(0);
        output::line(&format!(
            "  {:<28} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}   {:>5.2}x",
            format!("{label} ({signatures})"),
            thousands(ours.figures.per_second),
            ms(ours.figures.p50),
            ms(ours.figures.p99),
            thousands(theirs.figures.per_second),
            ms(theirs.figures.p50),
            ms(theirs.figures.p99),
            ours.figures.per_second / theirs.figures.per_second.max(f64::EPSILON),
        ));
    }
    output::line(&format!(
        "  server CPU during each run (cores busy): {}",
        labels
            .iter()
            .zip(rows)
            .map(|(label, [ours, theirs])| format!(
                "{} {:.2} / {:.2}",
                label.split(' ').next().unwrap_or(""),
                ours.cores_busy,
                theirs.cores_busy
            ))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    if let (Some(ours), Some(theirs)) = (rss_kib(servers[0].pid), rss_kib(servers[1].pid)) {
        output::line(&format!(
            "  resident memory after the runs: Gatehouse {:.1} MiB, node-oidc-provider {:.1} MiB",
            ours as f64 / 1024.0,
            theirs as f64 / 1024.0
        ));
    }
    let cc = &rows[0];
    let ratio = cc[0].figures.per_second / cc[1].figures.per_second.max(f64::EPSILON);
    let openssl = signing.openssl();
    match &openssl {
        Ok(rate) => {
            let per_answer = |i: usize| checked.first().map(|c| c.signatures[i]).unwrap_or(1).max(1) as f64;
            let measured =
                |r: &Result<f64, String>| r.as_ref().map_or_else(|e| format!("not measured ({e})"), |r| thousands(*r));
            output::line(&format!(
                "  signing bound: openssl speed -multi {cores} rsa2048 signs {}/s here (mean of {}/s before the load and \
                 {}/s after the client_credentials rows): client_credentials at {:.0}%, refresh_token at {:.0}% of \
                 {}/s ({} signatures per answer)",
                thousands(*rate),
                measured(&signing.openssl[0]),
                measured(&signing.openssl[1]),
                100.0 * cc[0].figures.per_second / rate,
                100.0 * rows[1][0].figures.per_second * per_answer(1) / rate,
                thousands(rate / per_answer(1)),
                per_answer(1),
            ));
        }
        Err(why) => output::line(&format!("  signing bound not measured: {why}")),
    }
    output::line(&format!(
        "  Gatehouse's signer alone (the key ring's aws-lc-rs key pair, no HTTP) signs {}/s on {cores} threads: \
         client_credentials at {:.0}% of it",
        thousands(signing.signer),
        100.0 * cc[0].figures.per_second / signing.signer.max(f64::EPSILON)
    ));
    output::line(&format!(
        "  hashing bound: argon2id (m={} KiB, t={}, p={}) verifies {:.0}/s on {cores} threads here: the password \
         grant at {:.0}%",
        password::MEMORY_KIB,
        password::ITERATIONS,
        password::PARALLELISM,
        hashing,
        100.0 * rows[2][0].figures.per_second / hashing.max(f64::EPSILON)
    ));
    let bound = match &openssl {
        Ok(rate) => {
            let share = cc[0].figures.per_second / rate;
            format!("{} ({:.0}%)", if share >= 0.6 { "met" } else { "not met" }, 100.0 * share)
        }
        Err(_) => "not measured".into(),
    };
    let p99 = cc[0].figures.p99;
    output::line(&format!(
        "goal (client_credentials): 1.5x node-oidc-provider or better: {} ({ratio:.2}x); 60% of the signing bound: \
         {bound}; p99 under 10 ms: {} ({})",
        if ratio >= 1.5 { "met" } else { "not met" },
        if p99 < Duration::from_millis(10) { "met" } else { "not met" },
        ms(p99)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:3000/oauth/token
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.05ms    1.21ms  27.49ms   82.17%
    Req/Sec     1.33k   102.77     1.52k    71.00%
  Latency Distribution
     50%    2.88ms
     75%    3.44ms
     90%    4.25ms
     99%  812.00us
  13279 requests in 5.00s, 15.04MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2654.83
Transfer/sec:      3.01MB
";

    #[test]
    fn reads_wrk_reports() {
        let figures = parse_wrk(REPORT).unwrap();
        assert_eq!(figures.requests, 13_279);
        assert!((figures.per_second - 2654.83).abs() < 1e-9);
        assert_eq!(figures.p50, Duration::from_micros(2_880));
        assert_eq!(figures.p99, Duration::from_micros(812));
        assert_eq!(figures.errors, 7);
        assert!(parse_wrk("Running 5s test\n  0 requests in 5.00s").is_err());
        assert_eq!(parse_duration("1.50s").unwrap(), Duration::from_millis(1_500));
        assert!(parse_duration("12xs").is_err());
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(2653.4), "2,653");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
