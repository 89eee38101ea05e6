//! Offline runs of actions: the fixture format behind `gatehouse test` and `gatehouse run`.
//!
//! A fixture names actions, gives a partial event (deep-merged over [`default_event`]), says what the user
//! completes at each pause, stubs the HTTP requests actions make, and states what the outcome must contain. The
//! runner uses the production sandbox and flow code, so a fixture that passes here behaves the same at login.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_types::credentials::CredentialsOutcome;
use gatehouse_types::phone::NotificationOutcome;
use gatehouse_types::{FactorType, Outcome, PostLoginEvent, Trigger};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actions::load_paths;
use crate::flow::{CacheStore, Completion, FlowRunner, FlowSettings, MemoryCache, Step};
use crate::phone;
use crate::protocol::{CacheOp, CacheRecord, FetchRequest, FetchResponse};
use crate::sandbox::{FetchFuture, HostIo, Limits, Sandbox};
use crate::trigger_run::TriggerRunner;

/// The event every fixture starts from: a database user logging in to a regular web application with a
/// password, asking for `openid profile email` and an API audience, enrolled in OTP.
pub fn default_event() -> Value {
    json!({
        "authentication": {
            "methods": [{ "name": "pwd", "timestamp": "2026-01-01T00:00:00.000Z" }]
        },
        "authorization": { "roles": [] },
        "client": { "client_id": "fixture-client", "name": "Fixture App", "metadata": {} },
        "connection": { "id": "con_fixture", "name": "Username-Password-Authentication", "strategy": "auth0", "metadata": {} },
        "request": {
            "ip": "203.0.113.7",
            "method": "GET",
            "hostname": "login.example.com",
            "language": "en",
            "user_agent": "Mozilla/5.0 (fixture)",
            "query": {
                "client_id": "fixture-client",
                "response_type": "code",
                "redirect_uri": "https://app.example.com/callback",
                "scope": "openid profile email",
                "audience": "https://api.example.com/",
                "state": "fixture-state"
            },
            "body": {},
            "geoip": { "countryCode": "JP", "countryName": "Japan", "cityName": "Tokyo", "timeZone": "Asia/Tokyo" }
        },
        "resource_server": { "identifier": "https://api.example.com/" },
        "secrets": {},
        "stats": { "logins_count": 5 },
        "tenant": { "id": "gatehouse" },
        "transaction": {
            "id": "tx_fixture",
            "acr_values": [],
            "requested_scopes": ["openid", "profile", "email"],
            "prompt": [],
            "protocol": "oidc-basic-profile",
            "redirect_uri": "https://app.example.com/callback",
            "state": "fixture-state",
            "locale": "en",
            "ui_locales": [],
            "response_mode": "query",
            "response_type": ["code"],
            "metadata": {}
        },
        "user": {
            "user_id": "auth0|fixture-user",
            "email": "jane@example.com",
            "email_verified": true,
            "name": "Jane Doe",
            "nickname": "jane",
            "given_name": "Jane",
            "family_name": "Doe",
            "picture": "https://example.com/jane.png",
            "phone_number": "+81312345678",
            "phone_verified": true,
            "created_at": "2025-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
            "app_metadata": {},
            "user_metadata": {},
            "identities": [{ "connection": "Username-Password-Authentication", "provider": "auth0", "user_id": "fixture-user", "isSocial": false }],
            "multifactor": [],
            "enrolledFactors": [{ "type": "otp" }]
        }
    })
}

/// Deep-merges `patch` into `base`: objects merge key by key, everything else replaces.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// A fixture file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Name shown in `PASS`/`FAIL` (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// What the fixture shows; not used by the runner.
    #[serde(default)]
    pub description: Option<String>,
    /// The trigger the actions are written for (default `post-login`; also `custom-phone-provider` and
    /// `send-phone-message`, whose outcome is `{ "notification": { "result", "reason" }, "requests", ... }`).
    #[serde(default = "post_login")]
    pub trigger: Trigger,
    /// Action files or folders, relative to the fixture file, run in order.
    pub actions: Vec<PathBuf>,
    /// Partial event, deep-merged over the default event.
    #[serde(default)]
    pub event: Value,
    /// `event.secrets`.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Factors enabled on the tenant (default: all).
    #[serde(default)]
    pub factors_enabled: Option<Vec<FactorType>>,
    /// "Customize MFA Factors using Actions" (default: on).
    #[serde(default)]
    pub customize_with_actions: Option<bool>,
    /// Limits of this run (default: the production limits).
    #[serde(default)]
    pub limits: Option<FixtureLimits>,
    /// What the user completes at each pause, in order: a factor type, `"continue"` (or
    /// `{"continue": {"query": {...}, "body": {...}}}`) after a redirect, or `"abandon"`.
    #[serde(default)]
    pub complete: Vec<Value>,
    /// Stubs answering `fetch`.
    #[serde(default)]
    pub http: Vec<HttpStub>,
    /// The trigger's `api.cache` as the run starts: key to value.
    #[serde(default)]
    pub cache: BTreeMap<String, String>,
    /// Run the same login this many times in one sandbox; every outcome must match (default 1).
    #[serde(default)]
    pub logins: Option<u32>,
    /// What the outcome must contain.
    pub expect: Value,
}

impl Fixture {
    /// The run's deadline and memory cap: the fixture's `limits` over the production ones.
    fn run_limits(&self) -> Limits {
        let defaults = Limits::default();
        let limits = self.limits.unwrap_or_default();
        Limits {
            timeout: limits.timeout_ms.map_or(defaults.timeout, Duration::from_millis),
            memory_mb: limits.memory_mb.unwrap_or(defaults.memory_mb),
        }
    }

    /// The trigger's `api.cache` as the run starts: the fixture's `cache`, each entry valid for an hour.
    fn starting_cache(&self, trigger: Trigger) -> MemoryCache {
        let cache = MemoryCache::default();
        let far = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 3_600_000;
        let ops: Vec<CacheOp> = self
            .cache
            .iter()
            .map(|(key, value)| CacheOp::Set {
                key: key.clone(),
                record: CacheRecord { value: value.clone(), expires_at: far },
            })
            .collect();
        cache.apply(trigger, &ops);
        cache
    }

    /// How many times the run is repeated (`logins`, at least once).
    fn runs(&self) -> u32 {
        self.logins.unwrap_or(1).max(1)
    }
}

/// Per-fixture limits.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureLimits {
    /// Wall-clock budget in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Memory cap in MiB.
    pub memory_mb: Option<u64>,
}

/// One stubbed HTTP answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStub {
    /// Method to match (any when omitted).
    #[serde(default)]
    pub method: Option<String>,
    /// URL to match exactly.
    pub url: String,
    /// Status (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body (sets `content-type: application/json`).
    #[serde(default)]
    pub json: Option<Value>,
    /// Text body.
    #[serde(default)]
    pub body: Option<String>,
    /// Delay before answering, to exercise timeouts.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

fn post_login() -> Trigger {
    Trigger::PostLogin
}

fn ok_status() -> u16 {
    200
}

/// Answers `fetch` from stubs and remembers requests no stub matched.
#[derive(Debug, Default)]
pub struct StubIo {
    stubs: Vec<HttpStub>,
    unmatched: Arc<Mutex<Vec<String>>>,
}

impl StubIo {
    /// Stubs for one fixture.
    pub fn new(stubs: Vec<HttpStub>) -> Self {
        StubIo { stubs, unmatched: Arc::default() }
    }

    /// Requests that had no stub.
    pub fn unmatched(&self) -> Vec<String> {
        self.unmatched.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// `Err` naming the requests no stub answered: a fixture must stub every request its actions make.
    pub fn all_stubbed(&self) -> Result<(), String> {
        let unmatched = self.unmatched();
        if unmatched.is_empty() {
            return Ok(());
        }
        Err(format!("requests without a stub in \"http\": {}", unmatched.join(", ")))
    }
}

impl HostIo for StubIo {
    fn fetch(&self, request: FetchRequest) -> FetchFuture {
        let stub = self
            .stubs
            .iter()
            .find(|s| {
                s.url == request.url && s.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
            })
            .cloned();
        let unmatched = self.unmatched.clone();
        Box::pin(async move {
            let Some(stub) = stub else {
                let line = format!("{} {}", request.method, request.url);
                if let Ok(mut u) = unmatched.lock() {
                    u.push(line.clone());
                }
                return Err(format!("no stub answers {line}"));
            };
            if let Some(delay) = stub.delay_ms {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut headers: Vec<(String, String)> =
                stub.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
            let body = match (&stub.json, &stub.body) {
                (Some(json), _) => {
                    if !headers.iter().any(|(k, _)| k == "content-type") {
                        headers.push(("content-type".to_owned(), "application/json".to_owned()));
                    }
                    json.to_string()
                }
                (None, Some(body)) => body.clone(),
                (None, None) => String::new(),
            };
            Ok(FetchResponse { status: stub.status, status_text: String::new(), headers, body, url: request.url })
        })
    }
}

/// What happened to one fixture.
#[derive(Debug)]
pub struct FixtureReport {
    /// Its name.
    pub name: String,
    /// Every problem found; empty means it passed.
    pub problems: Vec<String>,
    /// The outcome of each login.
    pub outcomes: Vec<Outcome>,
    /// The outcome of each message, for a phone trigger's fixture.
    pub notifications: Vec<NotificationOutcome>,
    /// Each request's outcome (credentials-exchange fixtures).
    pub exchanges: Vec<CredentialsOutcome>,
}

impl FixtureReport {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Every `*.json` fixture under `paths` (files as given, folders recursively, sorted).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found).map_err(|e| format!("{}: {e}", path.display()))?;
        } else if path.exists() {
            found.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.extension().is_some_and(|x| x == "json") {
            found.push(path);
        }
    }
    Ok(())
}

/// Loads and runs the fixture at `path`.
pub async fn run_file(path: &Path, sandbox: &Sandbox) -> FixtureReport {
    let default_name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let fixture: Fixture = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(fixture) => fixture,
        Err(e) => {
            return FixtureReport {
                name: default_name,
                problems: vec![format!("cannot load {}: {e}", path.display())],
                outcomes: Vec::new(),
                notifications: Vec::new(),
                exchanges: Vec::new(),
            };
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let name = fixture.name.clone().unwrap_or(default_name);
    let mut report = FixtureReport {
        name,
        problems: Vec::new(),
        outcomes: Vec::new(),
        notifications: Vec::new(),
        exchanges: Vec::new(),
    };
    if matches!(fixture.trigger, Trigger::CustomPhoneProvider | Trigger::SendPhoneMessage) {
        match run_phone_fixture(&fixture, base, sandbox).await {
            Ok(outcomes) => {
                let actual = outcomes.iter().map(|outcome| {
                    json!({
                        "notification": { "result": outcome.result, "reason": outcome.reason,
                                          "failed_action": outcome.failed_action },
                        "executed": outcome.executed,
                        "logs": outcome.logs,
                        "requests": outcome.requests,
                    })
                });
                report.problems.extend(compare_each(&fixture.expect, actual.collect(), "message"));
                report.notifications = outcomes;
            }
            Err(problem) => report.problems.push(problem),
        }
        return report;
    }
    if fixture.trigger == Trigger::CredentialsExchange {
        match run_credentials_fixture(&fixture, base, sandbox).await {
            Ok(outcomes) => {
                let actual = outcomes.iter().map(|outcome| serde_json::to_value(outcome).unwrap_or(Value::Null));
                report.problems.extend(compare_each(&fixture.expect, actual.collect(), "request"));
                report.exchanges = outcomes;
            }
            Err(problem) => report.problems.push(problem),
        }
        return report;
    }
    if fixture.trigger != Trigger::PostLogin {
        report.problems.push(format!("fixtures for the {} trigger are not supported", fixture.trigger));
        return report;
    }
    match run_fixture(&fixture, base, sandbox).await {
        Ok(outcomes) => {
            let actual = outcomes.iter().map(|outcome| serde_json::to_value(outcome).unwrap_or(Value::Null));
            report.problems.extend(compare_each(&fixture.expect, actual.collect(), "login"));
            report.outcomes = outcomes;
        }
        Err(problem) => report.problems.push(problem),
    }
    report
}

/// Compares `expect` with each run's outcome; with several runs, each mismatch names its run (`login 2: ...`).
fn compare_each(expect: &Value, actual: Vec<Value>, run: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, outcome) in actual.iter().enumerate() {
        let prefix = if actual.len() > 1 { format!("{run} {}: ", i + 1) } else { String::new() };
        let mut mismatches = Vec::new();
        compare(expect, outcome, "outcome", &mut mismatches);
        problems.extend(mismatches.into_iter().map(|m| format!("{prefix}{m}")));
    }
    problems
}

/// Builds the event of a fixture (or of `gatehouse run --event`): the default event with `partial` merged in.
pub fn build_event(partial: &Value, secrets: &BTreeMap<String, String>) -> Result<PostLoginEvent, String> {
    let mut event = default_event();
    if !partial.is_null() {
        merge(&mut event, partial);
    }
    if !secrets.is_empty() {
        merge(&mut event, &json!({ "secrets": secrets }));
    }
    serde_json::from_value(event).map_err(|e| format!("event: {e}"))
}

/// Runs a fixture; returns the outcome of each login, or why it could not run.
pub async fn run_fixture(fixture: &Fixture, base: &Path, sandbox: &Sandbox) -> Result<Vec<Outcome>, String> {
    let paths: Vec<PathBuf> = fixture.actions.iter().map(|p| base.join(p)).collect();
    let flow = load_paths(&paths, Trigger::PostLogin).map_err(|e| e.to_string())?;
    let event = build_event(&fixture.event, &fixture.secrets)?;
    let settings = FlowSettings {
        factors_enabled: match &fixture.factors_enabled {
            Some(list) => list.iter().copied().collect(),
            None => FactorType::ALL.into_iter().collect::<BTreeSet<_>>(),
        },
        customize_with_actions: fixture.customize_with_actions.unwrap_or(true),
        limits: fixture.run_limits(),
    };
    let completions = fixture.complete.iter().map(parse_completion).collect::<Result<Vec<_>, _>>()?;
    let cache = fixture.starting_cache(Trigger::PostLogin);
    let io = StubIo::new(fixture.http.clone());
    let runner = FlowRunner { flow: &flow, settings: &settings, sandbox, io: &io, cache: &cache };
    let mut outcomes = Vec::new();
    for _ in 0..fixture.runs() {
        outcomes.push(run_login(&runner, event.clone(), &completions).await?);
    }
    io.all_stubbed()?;
    Ok(outcomes)
}

/// What a fixture of a never-pausing trigger runs with: its actions, its event (the trigger's default with the
/// fixture's `event` merged in), its starting cache and its stubbed `fetch`.
struct TriggerFixture {
    flow: crate::protocol::FlowSpec,
    event: Value,
    cache: MemoryCache,
    io: StubIo,
}

impl TriggerFixture {
    fn prepare(fixture: &Fixture, base: &Path, mut event: Value) -> Result<Self, String> {
        let paths: Vec<PathBuf> = fixture.actions.iter().map(|p| base.join(p)).collect();
        let flow = load_paths(&paths, fixture.trigger).map_err(|e| e.to_string())?;
        if !fixture.event.is_null() {
            merge(&mut event, &fixture.event);
        }
        let cache = fixture.starting_cache(fixture.trigger);
        Ok(TriggerFixture { flow, event, cache, io: StubIo::new(fixture.http.clone()) })
    }

    fn runner<'a>(&'a self, fixture: &Fixture, sandbox: &'a Sandbox) -> TriggerRunner<'a> {
        TriggerRunner { flow: &self.flow, limits: fixture.run_limits(), sandbox, io: &self.io, cache: &self.cache }
    }
}

/// Runs a phone trigger's fixture: the trigger's default event with the fixture's `event` merged in, once per
/// `logins` (here: messages); returns the outcome of each.
pub async fn run_phone_fixture(
    fixture: &Fixture,
    base: &Path,
    sandbox: &Sandbox,
) -> Result<Vec<NotificationOutcome>, String> {
    let run = TriggerFixture::prepare(fixture, base, phone::default_event(fixture.trigger, &fixture.secrets))?;
    let runner = run.runner(fixture, sandbox);
    let mut outcomes = Vec::new();
    for _ in 0..fixture.runs() {
        outcomes.push(runner.deliver(run.event.clone()).await);
    }
    run.io.all_stubbed()?;
    Ok(outcomes)
}

/// Runs a credentials-exchange fixture: a `client_credentials` request of the sample's machine-to-machine client
/// with the fixture's `event` merged in, once per `logins` (here: requests); returns the outcome of each.
pub async fn run_credentials_fixture(
    fixture: &Fixture,
    base: &Path,
    sandbox: &Sandbox,
) -> Result<Vec<CredentialsOutcome>, String> {
    let run = TriggerFixture::prepare(fixture, base, credentials_default_event(&fixture.secrets))?;
    let runner = run.runner(fixture, sandbox);
    let mut outcomes = Vec::new();
    for _ in 0..fixture.runs() {
        outcomes.push(runner.exchange(run.event.clone()).await);
    }
    run.io.all_stubbed()?;
    Ok(outcomes)
}

/// The default event of a credentials-exchange fixture: the sample's machine-to-machine client asking for the
/// sample API's `read:data` from 203.0.113.7.
fn credentials_default_event(secrets: &BTreeMap<String, String>) -> Value {
    json!({
        "accessToken": { "customClaims": {}, "scope": ["read:data"] },
        "client": { "client_id": "sample-m2m", "name": "Sample Management Client", "metadata": {} },
        "request": {
            "ip": "203.0.113.7",
            "hostname": "127.0.0.1",
            "method": "POST",
            "user_agent": "curl/8.0",
            "body": { "grant_type": "client_credentials", "client_id": "sample-m2m", "audience": "https://api.example.com/" },
        },
        "resource_server": { "identifier": "https://api.example.com/" },
        "tenant": { "id": "gatehouse" },
        "transaction": { "requested_scopes": ["read:data"], "target_scopes": ["read:data"] },
        "secrets": secrets,
    })
}

/// What a fixture's `complete` entry means.
#[derive(Clone, Debug, PartialEq)]
pub enum UserStep {
    /// Complete the prompt.
    Complete(Completion),
    /// Stop here.
    Abandon,
}

/// Parses one `complete` entry.
pub fn parse_completion(value: &Value) -> Result<UserStep, String> {
    match value {
        Value::String(s) if s == "abandon" => Ok(UserStep::Abandon),
        Value::String(s) if s == "continue" => {
            Ok(UserStep::Complete(Completion::Continue { query: Default::default(), body: Default::default() }))
        }
        Value::String(s) => FactorType::parse(s)
            .map(|f| UserStep::Complete(Completion::Factor(f)))
            .ok_or_else(|| format!("complete: '{s}' is not a factor type, \"continue\" or \"abandon\"")),
        Value::Object(o) if o.len() == 1 && o.contains_key("continue") => {
            let c = &o["continue"];
            let query = c.get("query").and_then(Value::as_object).cloned().unwrap_or_default();
            let body = c.get("body").and_then(Value::as_object).cloned().unwrap_or_default();
            Ok(UserStep::Complete(Completion::Continue { query, body }))
        }
        other => Err(format!("complete: unsupported entry {other}")),
    }
}

/// Runs one login through its pauses.
pub async fn run_login(
    runner: &FlowRunner<'_>,
    event: PostLoginEvent,
    completions: &[UserStep],
) -> Result<Outcome, String> {
    let mut step = runner.start(event).await;
    let mut next = completions.iter();
    loop {
        match step {
            Step::Done(outcome) => {
                let left = next.count();
                if left > 0 {
                    return Err(format!(
                        "the flow ended with result {:?} but {left} \"complete\" entr{} left unused",
                        outcome.result,
                        if left == 1 { "y was" } else { "ies were" }
                    ));
                }
                return Ok(*outcome);
            }
            Step::Paused(paused) => match next.next() {
                None | Some(UserStep::Abandon) => return Ok(paused.abandon()),
                Some(UserStep::Complete(completion)) => {
                    step = runner.resume(*paused, completion.clone()).await.map_err(|e| format!("complete: {e}"))?;
                }
            },
        }
    }
}

/// Compares `expected` with `actual`: objects by subset, arrays element by element with equal length, scalars
/// exactly. Each mismatch is one readable line.
pub fn compare(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let child = format!("{path}.{key}");
                match a.get(key) {
                    Some(actual) => compare(value, actual, &child, out),
                    None if value.is_null() => {}
                    None => out.push(format!("{child}: expected {}, but it is missing", short(value))),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: expected {} element(s), got {}\n    expected: {}\n    actual:   {}",
                    e.len(),
                    a.len(),
                    short(expected),
                    short(actual)
                ));
                return;
            }
            for (i, (e, a)) in e.iter().zip(a).enumerate() {
                compare(e, a, &format!("{path}[{i}]"), out);
            }
        }
        (e, a) if numbers_equal(e, a) || e == a => {}
        (e, a) => out.push(format!("{path}:\n    expected: {}\n    actual:   {}", short(e), short(a))),
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 400 {
        format!("{}...", &text[..text.char_indices().nth(400).map_or(text.len(), |(i, _)| i)])
    } else {
        text
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Any JSON value, nested a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A fixture file of arbitrary text is a load error, never a panic.
        #[test]
        fn arbitrary_fixture_text_never_panics(text in ".{0,512}") {
            let _ = serde_json::from_str::<Fixture>(&text);
        }

        /// Arbitrary JSON as a fixture, its event, and its completions: accepted or refused, never a panic.
        #[test]
        fn arbitrary_fixture_json_never_panics(value in json_value()) {
            let _ = serde_json::from_value::<Fixture>(value.clone());
            let _ = build_event(&value, &BTreeMap::new());
            let _ = parse_completion(&value);
            let mut base = default_event();
            merge(&mut base, &value);
        }
    }
}
