//! The actions phase of `gatehouse bench`: what a post-login flow costs with the isolation used in production.
//!
//! Five example actions run as one flow per login through the server's own path: a [`FlowRunner`] over the pooled
//! `sandbox-worker` processes, each prompt completed with the first factor offered, so every resume is a new sandbox
//! run. Where `node` is installed, `bench/node-vm.js` runs the same files in Node's `vm` module, a fresh context
//! per login, for comparison. A benchmark prints figures; it passes or fails nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatehouse_engine::actions::load_paths;
use gatehouse_engine::fixture::{StubIo, build_event};
use gatehouse_engine::flow::{Completion, FlowRunner, FlowSettings, MemoryCache, Step};
use gatehouse_engine::placement;
use gatehouse_engine::protocol::FlowSpec;
use gatehouse_engine::sandbox::{Sandbox, SandboxConfig};
use gatehouse_types::{FlowResult, Outcome, PostLoginEvent, Trigger};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use super::{cpu_time, idle_cpus, rss_kib};
use crate::output;

/// The flow: the five post-login examples, in this order.
const EXAMPLES: [&str; 5] = [
    "step-up-by-scope.js",
    "otp-then-phone-for-admins.js",
    "org-metadata-factors.js",
    "otp-with-enrolled-alternatives.js",
    "adaptive-new-device.js",
];

/// What each example does with the benchmark event (checked against the outcome of a first login).
const WHAT_EACH_DOES: [&str; 5] = [
    "write:data requested: api.multifactor.enable('any'), dropped at the end because the flow challenged",
    "challengeWith otp, then phone (admin): the flow pauses for both",
    "push-notification allowed but not enrolled: challengeWith email, another pause",
    "challengeWith otp + enrolled alternatives: already satisfied, no prompt, the run goes on",
    "NewDevice high: no challenge (low would make it the flow's 5th MFA command, over the cap of 4: an error)",
];

/// The one-run login, the common case: the two examples that do not pause with the benchmark event and three
/// typical claim, metadata and deny-list actions (`bench/one-run/`), in this order. Nothing pauses: one sandbox run.
const ONE_RUN: [&str; 5] = [
    "step-up-by-scope.js",
    "one-run/roles-claims.js",
    "one-run/org-claims.js",
    "one-run/deny-unverified-or-blocked.js",
    "adaptive-new-device.js",
];

/// The prompts of one login: the action that asked, and the factor completed.
const EXPECTED_PROMPTS: [(&str, &str); 3] = [
    ("otp-then-phone-for-admins.js", "otp"),
    ("otp-then-phone-for-admins.js", "phone"),
    ("org-metadata-factors.js", "email"),
];

/// Arguments of the actions phase.
pub struct BenchArgs {
    /// Logins measured per phase.
    pub logins: usize,
    /// Logins run before each phase, not measured.
    pub warmup: usize,
    /// The Node executable.
    pub node: String,
    /// The Node harness.
    pub harness: PathBuf,
    /// Folder holding the example actions.
    pub examples: PathBuf,
}

/// The event every login starts with, merged over the fixture runner's default event (user Jane Doe, verified
/// email and phone). Chosen so each example has something to decide (see the header `run` prints).
fn bench_event() -> Value {
    json!({
        "authentication": {
            "riskAssessment": {
                "confidence": "high",
                "version": "1",
                "assessments": {
                    "NewDevice": {
                        "confidence": "high",
                        "code": "match",
                        "details": { "device": "known", "useragent": "known" }
                    }
                }
            }
        },
        "authorization": { "roles": ["admin", "editor"] },
        "organization": {
            "id": "org_acme",
            "name": "acme",
            "display_name": "Acme Corp",
            "metadata": { "factors": "push-notification,email" }
        },
        "request": { "query": { "scope": "openid profile email write:data" } },
        "transaction": { "requested_scopes": ["openid", "profile", "email", "write:data"] },
        "user": {
            "app_metadata": { "plan": "enterprise" },
            "enrolledFactors": [
                { "type": "otp" },
                { "type": "phone", "options": { "phone_number": "+8131234XXXX" } },
                { "type": "email", "options": { "email": "j***@example.com" } }
            ]
        }
    })
}

/// Login `n`'s event: the benchmark event as another user would log in, so no two logins send the same event (a
/// worker keeps the event parts it built, and identical events on every login would find all of them kept). What
/// differs per user and per transaction differs: the user's id, email and names, the transaction's id and state, the
/// client's IP address, the login count and the time of the password. What every user of the application shares
/// (client, connection, tenant, API, organization) and what the actions decide on (roles, enrolled factors, risk,
/// scopes) stays, so every login makes the same prompts.
fn event_for(event: &PostLoginEvent, n: usize) -> PostLoginEvent {
    let mut event = event.clone();
    let user = &mut event.user;
    user.user_id = format!("auth0|bench-user-{n}");
    user.email = Some(format!("user{n}@example.com"));
    user.name = Some(format!("Bench User {n}"));
    user.nickname = Some(format!("user{n}"));
    for identity in &mut user.identities {
        if let Some(id) = identity.get_mut("user_id") {
            *id = Value::from(format!("bench-user-{n}"));
        }
    }
    let state = format!("state-{n:08x}");
    event.transaction.id = Some(format!("tx_bench_{n}"));
    event.transaction.state = Some(state.clone());
    event.request.query.insert("state".to_owned(), Value::from(state));
    event.request.ip = format!("198.51.{}.{}", (n / 250) % 250, n % 250);
    event.stats.logins_count = 1 + n as u64 % 500;
    for method in &mut event.authentication.methods {
        method.timestamp = format!("2026-12-03T{:02}:{:02}:{:02}.000Z", n / 3600 % 24, n / 60 % 60, n % 60);
    }
    event
}

/// Everything one login needs, shared by the concurrent streams.
struct Setup {
    flow: FlowSpec,
    settings: FlowSettings,
    sandbox: Sandbox,
    io: StubIo,
    cache: MemoryCache,
    event: PostLoginEvent,
    /// Logins started, for [`event_for`].
    logins: AtomicUsize,
}

impl Setup {
    /// A flow over its own pool of workers started from this executable, with the default settings.
    fn new(flow: FlowSpec, config: SandboxConfig, event: PostLoginEvent) -> Arc<Setup> {
        Arc::new(Setup {
            flow,
            settings: FlowSettings::default(),
            sandbox: Sandbox::new(config),
            io: StubIo::new(Vec::new()),
            cache: MemoryCache::default(),
            event,
            logins: AtomicUsize::new(0),
        })
    }

    fn runner(&self) -> FlowRunner<'_> {
        FlowRunner {
            flow: &self.flow,
            settings: &self.settings,
            sandbox: &self.sandbox,
            io: &self.io,
            cache: &self.cache,
        }
    }
}

/// One step of a login (the start, or a resume): how long it took, how many sandbox runs it made (exact only when
/// no other login runs meanwhile) and which actions ran, 1-based.
#[derive(Clone, Copy)]
struct StepTrace {
    time: Duration,
    runs: u64,
    actions: Option<(usize, usize)>,
}

/// One login: start the flow, then complete every prompt with its first offered factor, as `gatehouse test` does
/// with `complete`. `steps` receives one entry for the start and one per resume.
async fn login(runner: &FlowRunner<'_>, event: PostLoginEvent, steps: &mut Vec<StepTrace>) -> Result<Outcome, String> {
    steps.clear();
    let (mut started, mut runs) = (Instant::now(), runner.sandbox.runs_started());
    let mut next_action = 0;
    let mut step = runner.start(event).await;
    loop {
        let reached = match &step {
            Step::Done(outcome) => outcome.executed.len(),
            Step::Paused(paused) => paused.next_action,
        };
        let actions = (reached > next_action).then_some((next_action + 1, reached));
        steps.push(StepTrace { time: started.elapsed(), runs: runner.sandbox.runs_started() - runs, actions });
        next_action = reached;
        match step {
            Step::Done(outcome) => return Ok(*outcome),
            Step::Paused(paused) => {
                let Some(first) = paused.prompt().and_then(|p| p.offered().next()) else {
                    return Err("the flow paused on a prompt that offers no factor".to_owned());
                };
                (started, runs) = (Instant::now(), runner.sandbox.runs_started());
                step = runner.resume(*paused, Completion::Factor(first)).await.map_err(|e| e.to_string())?;
            }
        }
    }
}

/// What one phase measured.
struct Phase {
    wall: Duration,
    /// Time of each login, sorted.
    logins: Vec<Duration>,
    /// Time of each step (start, resume 1, ...), per step index, sorted.
    steps: Vec<Vec<Duration>>,
    /// CPU time of the host process and of the workers during the phase.
    host_cpu: Duration,
    worker_cpu: Duration,
    /// Sandbox runs placed beside their host thread's CPU, and on every CPU (`placement`).
    beside: u64,
    spread: u64,
}

/// Runs `logins` logins spread over `streams` concurrent tasks, each login after the previous one of its stream.
async fn run_streams(setup: &Arc<Setup>, streams: usize, logins: usize) -> Result<Phase, String> {
    let workers = setup.sandbox.idle_worker_pids();
    let (host_before, workers_before) = (cpu_time(std::process::id()), workers.iter().map(|&p| cpu_time(p)).sum());
    let placed_before = placement::placed_runs();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for stream in 0..streams {
        let count = logins / streams + usize::from(stream < logins % streams);
        let setup = setup.clone();
        tasks.spawn(async move {
            let runner = setup.runner();
            let mut steps = Vec::new();
            let mut timed = Vec::with_capacity(count);
            for _ in 0..count {
                let event = event_for(&setup.event, setup.logins.fetch_add(1, Ordering::Relaxed));
                let started = Instant::now();
                let outcome = login(&runner, event, &mut steps).await?;
                timed.push((started.elapsed(), steps.iter().map(|s| s.time).collect::<Vec<_>>()));
                if outcome.result != FlowResult::Allow {
                    return Err(format!(
                        "a login ended with {:?}: {}",
                        outcome.result,
                        outcome.reason.unwrap_or_default()
                    ));
                }
            }
            Ok::<_, String>(timed)
        });
    }
    let mut all = Vec::with_capacity(logins);
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.map_err(|e| format!("a login stream failed: {e}"))??);
    }
    let wall = started.elapsed();
    let host_cpu = cpu_time(std::process::id()).saturating_sub(host_before);
    let worker_cpu = workers.iter().map(|&p| cpu_time(p)).sum::<Duration>().saturating_sub(workers_before);
    let placed = placement::placed_runs();
    let (beside, spread) = (placed.0 - placed_before.0, placed.1 - placed_before.1);
    let mut steps: Vec<Vec<Duration>> = Vec::new();
    for (_, times) in &all {
        for (i, time) in times.iter().enumerate() {
            if steps.len() <= i {
                steps.push(Vec::new());
            }
            steps[i].push(*time);
        }
    }
    steps.iter_mut().for_each(|s| s.sort());
    let mut logins: Vec<Duration> = all.into_iter().map(|(total, _)| total).collect();
    logins.sort();
    Ok(Phase { wall, logins, steps, host_cpu, worker_cpu, beside, spread })
}

/// Nearest-rank percentile of sorted durations (the same definition as the Node harness).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn per_second(count: usize, wall: Duration) -> f64 {
    count as f64 / wall.as_secs_f64().max(f64::EPSILON)
}

/// Records each worker's RSS the first and the last time it is seen.
#[derive(Default)]
struct Memory {
    workers: BTreeMap<u32, (u64, u64)>,
}

impl Memory {
    fn sample(&mut self, sandbox: &Sandbox) {
        for pid in sandbox.idle_worker_pids() {
            if let Some(kib) = rss_kib(pid) {
                self.workers.entry(pid).and_modify(|(_, last)| *last = kib).or_insert((kib, kib));
            }
        }
    }
}

/// What the Node harness reported.
struct NodeFigures {
    version: String,
    scripts: String,
    p50: f64,
    p99: f64,
    rate: f64,
    same_outcome: Result<(), String>,
}

/// Runs `bench/node-vm.js`; `Err` says why there are no Node figures.
async fn node_baseline(
    args: &BenchArgs,
    paths: &[PathBuf],
    event: &str,
    expected: &Outcome,
) -> Result<NodeFigures, String> {
    if !args.harness.is_file() {
        return Err(format!("{} not found (run from the repository root)", args.harness.display()));
    }
    let mut command = tokio::process::Command::new(&args.node);
    command
        .arg(&args.harness)
        .args(["--logins", &args.logins.to_string(), "--warmup", &args.warmup.to_string(), "--event", "-"])
        .args(paths)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Node gets every CPU, whatever the thread that starts it was pinned to.
    let mut child =
        placement::unpinned(|| command.spawn()).map_err(|e| format!("cannot start '{}': {e}", args.node))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(event.as_bytes()).await.map_err(|e| format!("cannot send the event to node: {e}"))?;
    }
    let done = child.wait_with_output().await.map_err(|e| format!("node: {e}"))?;
    if !done.status.success() {
        let stderr = String::from_utf8_lossy(&done.stderr);
        return Err(format!("node exited with {}: {}", done.status, stderr.trim()));
    }
    let report: Value =
        serde_json::from_slice(&done.stdout).map_err(|e| format!("the Node harness printed no JSON report: {e}"))?;
    let number = |key: &str| report.get(key).and_then(Value::as_f64).ok_or_else(|| format!("node report: no {key}"));
    let text = |key: &str| report.get(key).and_then(Value::as_str).unwrap_or("?").to_owned();
    let completed: Vec<String> = expected.prompts.iter().filter_map(|p| p.completed_with.clone()).collect();
    let node_completed: Vec<String> = report
        .get("completed")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let gatehouse_result = serde_json::to_value(expected.result).unwrap_or_default();
    let same_outcome = if node_completed != completed {
        Err(format!("Node completed [{}], Gatehouse [{}]", node_completed.join(", "), completed.join(", ")))
    } else if report.get("result") != Some(&gatehouse_result) {
        Err(format!("Node ended with {}, Gatehouse with {gatehouse_result}", text("result")))
    } else if report.get("executed").and_then(Value::as_u64) != Some(expected.executed.len() as u64) {
        Err(format!("Node ran {} actions, Gatehouse {}", text("executed"), expected.executed.len()))
    } else {
        Ok(())
    };
    Ok(NodeFigures {
        version: text("node"),
        scripts: text("scripts"),
        p50: number("p50_ms")?,
        p99: number("p99_ms")?,
        rate: number("logins_per_s")?,
        same_outcome,
    })
}

/// Runs the phase and prints its figures.
pub async fn run(args: &BenchArgs) -> Result<(), String> {
    let logins = args.logins.max(1);
    let paths: Vec<PathBuf> = EXAMPLES.iter().map(|name| args.examples.join(name)).collect();
    let flow = load_paths(&paths, Trigger::PostLogin).map_err(|e| e.to_string())?;
    let event = build_event(&bench_event(), &BTreeMap::new())?;
    let event_json = serde_json::to_string(&event).map_err(|e| e.to_string())?;
    let config = SandboxConfig::current_exe().map_err(|e| format!("cannot locate the gatehouse executable: {e}"))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let max_workers = config.max_workers;
    if max_workers < cores {
        return Err(format!("the pool allows {} workers, fewer than the {cores} cores", config.max_workers));
    }
    let setup = Setup::new(flow, config, event);

    // One login first: check that it does what the header says, and count its sandbox runs.
    let mut steps = Vec::new();
    let outcome = login(&setup.runner(), setup.event.clone(), &mut steps).await?;
    let runs: u64 = steps.iter().map(|s| s.runs).sum();
    let completed: Vec<(&str, &str)> =
        outcome.prompts.iter().map(|p| (p.action.as_str(), p.completed_with.as_deref().unwrap_or("?"))).collect();
    if outcome.result != FlowResult::Allow || outcome.executed.len() != EXAMPLES.len() || completed != EXPECTED_PROMPTS
    {
        let text = serde_json::to_string_pretty(&outcome).unwrap_or_default();
        return Err(format!("the benchmark login no longer does what the header describes; its outcome:\n{text}"));
    }
    let prompts: Vec<String> = outcome
        .prompts
        .iter()
        .map(|p| format!("{} ({})", p.completed_with.as_deref().unwrap_or("?"), p.action.trim_end_matches(".js")))
        .collect();

    output::line("gatehouse bench: 5 post-login actions as one flow per login, production isolation");
    output::line(
        "  event: an admin (roles admin, editor) of org_acme, whose metadata allows factors \"push-notification,email\"; \
         enrolled in otp, phone and email; riskAssessment NewDevice confidence high; scope \"openid profile email \
         write:data\"; each login another user (id, email, names, transaction, IP, login count, password time)",
    );
    output::line("  the actions, in order, with this event:");
    for (i, (name, what)) in EXAMPLES.iter().zip(WHAT_EACH_DOES).enumerate() {
        output::line(&format!("    {} {:<34} {what}", i + 1, name.trim_end_matches(".js")));
    }
    output::line(&format!(
        "  one login = start + {} resumes, each prompt completed with its first offered factor ({}): {runs} sandbox \
         runs; result allow",
        steps.len() - 1,
        prompts.join(", "),
    ));
    output::line(&format!(
        "  isolation: pooled `gatehouse sandbox-worker` processes (RLIMIT_DATA {} MiB, {} s deadline), one reused \
         context per flow version, reset after each run; a run's worker on its host thread's CPU while that CPU \
         has no other run (`[actions] colocate`)",
        setup.settings.limits.memory_mb,
        setup.settings.limits.timeout.as_secs()
    ));
    output::line(&format!(
        "  {logins} logins per phase after {} warm-up logins; {cores} cores; times are wall-clock per login",
        args.warmup
    ));
    if let Some(idle) = idle_cpus() {
        output::line(&format!("  idle CPUs: {idle}"));
    }
    output::line("");

    let mut memory = Memory::default();

    // (a) + (b): one stream of sequential logins; with one login in flight the pool serves it with one worker.
    output::progress("bench: 1 stream...");
    run_streams(&setup, 1, args.warmup).await?;
    memory.sample(&setup.sandbox);
    let one = run_streams(&setup, 1, logins).await?;
    memory.sample(&setup.sandbox);
    output::line("1 stream, sequential logins on one worker (the latency of a login, and throughput on one core):");
    output::line(&format!(
        "  per login      p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
        ms(percentile(&one.logins, 50.0)),
        ms(percentile(&one.logins, 90.0)),
        ms(percentile(&one.logins, 99.0)),
        ms(percentile(&one.logins, 100.0)),
    ));
    for (i, times) in one.steps.iter().enumerate() {
        let label = if i == 0 { "start".to_owned() } else { format!("resume {i}") };
        let what = match steps.get(i) {
            Some(StepTrace { runs: 0, .. }) => "next prompt, no sandbox run".to_owned(),
            Some(StepTrace { runs, actions: Some((from, to)), .. }) => {
                let actions = if from == to { format!("action {from}") } else { format!("actions {from}-{to}") };
                format!("{actions}, {runs} sandbox run{}", if *runs == 1 { "" } else { "s" })
            }
            Some(StepTrace { runs, .. }) => format!("{runs} sandbox runs"),
            None => String::new(),
        };
        output::line(&format!(
            "  {label:<13}  p50 {:.3} ms   p99 {:.3} ms   ({what})",
            ms(percentile(times, 50.0)),
            ms(percentile(times, 99.0)),
        ));
    }
    let one_rate = per_second(logins, one.wall);
    print_throughput(&one, logins, one_rate);

    // (c): one stream per core, concurrently.
    output::progress(&format!("bench: {cores} streams..."));
    run_streams(&setup, cores, args.warmup.max(cores)).await?;
    memory.sample(&setup.sandbox);
    let many = run_streams(&setup, cores, logins).await?;
    memory.sample(&setup.sandbox);
    output::line(&format!(
        "{cores} concurrent streams (one per core; the pool may start up to {max_workers} workers):"
    ));
    output::line(&format!(
        "  per login      p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
        ms(percentile(&many.logins, 50.0)),
        ms(percentile(&many.logins, 90.0)),
        ms(percentile(&many.logins, 99.0)),
        ms(percentile(&many.logins, 100.0)),
    ));
    let many_rate = per_second(logins, many.wall);
    print_throughput(&many, logins, many_rate);

    output::line(&format!("memory (VmRSS), after warm-up -> after {} sandbox runs:", setup.sandbox.runs_started()));
    for (pid, (first, last)) in &memory.workers {
        output::line(&format!(
            "  worker {pid:<8} {:.1} MiB -> {:.1} MiB ({:+.1} MiB)",
            *first as f64 / 1024.0,
            *last as f64 / 1024.0,
            (*last as f64 - *first as f64) / 1024.0
        ));
    }
    if let Some(host) = rss_kib(std::process::id()) {
        output::line(&format!("  host {:<10} {:.1} MiB", std::process::id(), host as f64 / 1024.0));
    }
    output::line("");

    output::progress("bench: node...");
    let p50 = ms(percentile(&one.logins, 50.0));
    let node = node_baseline(args, &paths, &event_json, &outcome).await;
    match &node {
        Ok(node) => {
            output::line(&format!(
                "node {} vm, a fresh context per login ({}), one thread:",
                node.version, node.scripts
            ));
            output::line(&format!(
                "  per login      p50 {:.3} ms   p99 {:.3} ms   throughput {:.0} logins/s",
                node.p50, node.p99, node.rate
            ));
            match &node.same_outcome {
                Ok(()) => output::line("  same prompts, completions and result as Gatehouse"),
                Err(difference) => output::line(&format!("  WARNING: the Node run differs: {difference}")),
            }
            output::line(&format!(
                "ratio Gatehouse/Node: p50 {:.2}x (above 1: Gatehouse slower); throughput, 1 stream vs Node's one \
                 thread, {:.2}x (above 1: Gatehouse faster); {cores} streams vs Node's one thread {:.2}x",
                p50 / node.p50,
                one_rate / node.rate,
                many_rate / node.rate
            ));
        }
        Err(why) => output::line(&format!("node baseline skipped: {why}")),
    }
    let faster = match &node {
        Ok(node) if p50 < node.p50 => "yes",
        Ok(_) => "no",
        Err(_) => "not measured",
    };
    output::line("");
    one_run(args, &setup.event, &event_json).await?;
    output::line(&format!(
        "goal: p50 under 1 ms per 5-action login: {} ({p50:.3} ms); faster than the Node harness: {faster}",
        if p50 < 1.0 { "met" } else { "not met" }
    ));
    Ok(())
}

/// The common case: a five-action login that does not pause (one sandbox run), one stream, beside Node's `vm` on
/// the same files and event.
async fn one_run(args: &BenchArgs, event: &PostLoginEvent, event_json: &str) -> Result<(), String> {
    let logins = args.logins.max(1);
    let bench_dir = args.harness.parent().map(PathBuf::from).unwrap_or_default();
    let paths: Vec<PathBuf> = ONE_RUN
        .iter()
        .map(|name| if name.starts_with("one-run/") { bench_dir.join(name) } else { args.examples.join(name) })
        .collect();
    let flow = load_paths(&paths, Trigger::PostLogin).map_err(|e| e.to_string())?;
    let config = SandboxConfig::current_exe().map_err(|e| format!("cannot locate the gatehouse executable: {e}"))?;
    let setup = Setup::new(flow, config, event.clone());
    let mut steps = Vec::new();
    let outcome = login(&setup.runner(), setup.event.clone(), &mut steps).await?;
    let runs: u64 = steps.iter().map(|s| s.runs).sum();
    if outcome.result != FlowResult::Allow || outcome.executed.len() != ONE_RUN.len() || runs != 1 {
        let text = serde_json::to_string_pretty(&outcome).unwrap_or_default();
        return Err(format!("the one-run login no longer runs its 5 actions in one run ({runs} runs):\n{text}"));
    }
    output::progress("bench: one-run login...");
    run_streams(&setup, 1, args.warmup).await?;
    let one = run_streams(&setup, 1, logins).await?;
    let names: Vec<&str> = ONE_RUN.iter().map(|n| n.trim_start_matches("one-run/").trim_end_matches(".js")).collect();
    output::line(&format!(
        "one-run login, the common case (no pause: {}; 1 sandbox run; result allow), 1 stream:",
        names.join(", ")
    ));
    let p50 = ms(percentile(&one.logins, 50.0));
    output::line(&format!(
        "  per login      p50 {p50:.3} ms   p90 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
        ms(percentile(&one.logins, 90.0)),
        ms(percentile(&one.logins, 99.0)),
        ms(percentile(&one.logins, 100.0)),
    ));
    print_throughput(&one, logins, per_second(logins, one.wall));
    output::progress("bench: node, one-run login...");
    match node_baseline(args, &paths, event_json, &outcome).await {
        Ok(node) => {
            let differs = match &node.same_outcome {
                Ok(()) => String::new(),
                Err(difference) => format!(" (WARNING: the Node run differs: {difference})"),
            };
            output::line(&format!(
                "  node vm        p50 {:.3} ms   p99 {:.3} ms   throughput {:.0} logins/s{differs}",
                node.p50, node.p99, node.rate
            ));
            output::line(&format!("  ratio Gatehouse/Node: p50 {:.2}x (above 1: Gatehouse slower)", p50 / node.p50));
        }
        Err(why) => output::line(&format!("  node baseline skipped: {why}")),
    }
    Ok(())
}

fn print_throughput(phase: &Phase, logins: usize, rate: f64) {
    let wall = phase.wall.as_secs_f64().max(f64::EPSILON);
    output::line(&format!(
        "  throughput     {rate:.0} logins/s; CPU busy {:.2} cores (host {:.2} + workers {:.2}); CPU per login: host \
         {:.3} ms, workers {:.3} ms",
        (phase.host_cpu + phase.worker_cpu).as_secs_f64() / wall,
        phase.host_cpu.as_secs_f64() / wall,
        phase.worker_cpu.as_secs_f64() / wall,
        ms(phase.host_cpu) / logins as f64,
        ms(phase.worker_cpu) / logins as f64,
    ));
    if phase.beside + phase.spread > 0 {
        output::line(&format!(
            "  placement      {} of {} sandbox runs on their host thread's CPU, the others on any CPU",
            phase.beside,
            phase.beside + phase.spread
        ));
    }
}
