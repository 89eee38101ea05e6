//! The host side of the sandbox: a pool of worker processes, each run under a deadline.
//!
//! Boa has no interrupt and no heap cap, so isolation comes from the operating system: every action runs in a
//! `gatehouse sandbox-worker` process whose data segment is capped with `RLIMIT_DATA`, and which the host kills
//! when a run passes its deadline. A killed or crashed worker is replaced; other runs are on other workers and
//! never wait for it. The pool grows on demand up to `max_workers` and keeps warm workers idle for reuse.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::placement;
use crate::protocol::{
    ActionSource, FetchRequest, FetchResponse, FromWorker, MAX_FRAME, ModuleGraph, Progress, RunReport, RunRequest,
    ToWorker, encode_to_worker,
};

/// How long a new worker may take to say it is ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a dead worker's stderr kept to explain its death.
const STDERR_TAIL: usize = 4096;
/// Flow hashes remembered per worker as already sent (beyond that the list starts over: the worker then asks).
const KNOWN_FLOWS: usize = 16;

/// Where the worker program is and how the pool behaves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The program to start (the `gatehouse` binary).
    pub program: PathBuf,
    /// Arguments before `--memory-mb`, normally `["sandbox-worker"]`.
    pub args: Vec<String>,
    /// Most workers alive at once; runs beyond that wait for one.
    pub max_workers: usize,
    /// Idle workers kept warm.
    pub max_idle: usize,
    /// Longest a single `fetch` may take (also bounded by the run's deadline).
    pub fetch_timeout: Duration,
    /// How long a run may run beside the host thread that sent it, on its CPU, when that CPU has no other run
    /// ([`placement`]; `[actions] colocate`); `None`: never.
    pub colocate: Option<Duration>,
}

impl SandboxConfig {
    /// Workers started from the running executable (`<exe> sandbox-worker`).
    pub fn current_exe() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(SandboxConfig {
            program: std::env::current_exe()?,
            args: vec!["sandbox-worker".to_owned()],
            max_workers: (cores * 8).max(16),
            max_idle: (cores * 2).max(4),
            fetch_timeout: Duration::from_secs(10),
            colocate: Some(placement::SEATED_FOR),
        })
    }
}

/// Limits of one trigger execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of the whole run.
    pub timeout: Duration,
    /// Memory cap of the worker process, MiB.
    pub memory_mb: u64,
}

impl Default for Limits {
    /// Auth0's 20 s per trigger execution, and 128 MiB.
    fn default() -> Self {
        Limits { timeout: Duration::from_secs(20), memory_mb: 128 }
    }
}

/// Performs the requests actions make with `fetch`.
pub trait HostIo: Send + Sync {
    /// Performs one request. The future owns what it needs, so requests of one run proceed concurrently.
    fn fetch(&self, request: FetchRequest) -> FetchFuture;
}

/// The answer of [`HostIo::fetch`]: a response, or why there is none.
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<FetchResponse, String>> + Send + 'static>>;

/// Why a run produced no report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SandboxFailure {
    /// The run passed its deadline and its worker was killed.
    #[error("Action execution exceeded the {limit_ms} ms time limit")]
    Timeout {
        /// The limit.
        limit_ms: u128,
    },
    /// The worker ran out of memory.
    #[error("Action execution exceeded the {limit_mb} MiB memory limit")]
    Memory {
        /// The limit.
        limit_mb: u64,
    },
    /// The worker died or could not be started.
    #[error("The action sandbox failed: {0}")]
    Crashed(String),
    /// No worker (or no share of them) became free within the run's time limit: nothing ran.
    #[error("The action sandbox is busy: {0}")]
    Busy(String),
}

/// One `fetch` made during a run.
#[derive(Clone, Debug)]
pub struct FetchRecord {
    /// Index of the action that made it.
    pub action: usize,
    /// The request.
    pub request: FetchRequest,
    /// Status of the answer, `None` when the request failed.
    pub status: Option<u16>,
}

impl FetchRecord {
    /// The request as an outcome shows it: made by `action`, header names lower-cased, URL, header values and body
    /// passed through `redact` (secrets replaced).
    pub fn recorded(
        self,
        action: String,
        redact: &dyn Fn(String) -> String,
    ) -> gatehouse_types::outcome::RecordedRequest {
        gatehouse_types::outcome::RecordedRequest {
            action,
            method: self.request.method,
            url: redact(self.request.url),
            headers: self.request.headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), redact(v))).collect(),
            body: self.request.body.map(redact),
            status: self.status,
        }
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The report, or why there is none.
    pub report: Result<RunReport, SandboxFailure>,
    /// Index of the last action that started (the one a timeout stopped).
    pub last_started: Option<usize>,
    /// `console.*` output: action index, level, message.
    pub logs: Vec<(usize, String, String)>,
    /// Requests made.
    pub requests: Vec<FetchRecord>,
}

struct WorkerProcess {
    child: Child,
    stdin: ToWorkerPipe,
    frames: mpsc::Receiver<FromWorker>,
    stderr: Arc<Mutex<Vec<u8>>>,
    memory_mb: u64,
    /// Hashes of the flows sent to this worker in full: later runs send them as [`ToWorker::RunKnownFlow`].
    known_flows: Vec<String>,
    /// The file the worker writes its [`Progress`] to (its name removed once the worker opened it).
    progress: Option<std::fs::File>,
    /// The CPU the worker is pinned to; `None`: every CPU ([`placement`]).
    pinned: Option<usize>,
}

impl WorkerProcess {
    /// The action of run `run_id` that started last, as the worker's progress file says (`None`: no file, another
    /// run, a record caught mid-write, or an index outside the run's `actions`: the worker is not trusted).
    fn progress(&self, run_id: u64, actions: &Range<usize>) -> Option<usize> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; Progress::LEN];
        self.progress.as_ref()?.read_exact_at(&mut bytes, 0).ok()?;
        Progress::decode(&bytes).filter(|p| p.run_id == run_id && actions.contains(&p.index)).map(|p| p.index)
    }

    /// Whether the worker's progress file names run `run_id` at all (whatever action it claims): then the worker
    /// took the run up, and some of its code may have run. `false` only when the file is empty (no run was ever
    /// taken up) or names another run; `true` whenever it cannot be told (no file, a read error, a broken record).
    fn took(&self, run_id: u64) -> bool {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; Progress::LEN];
        let Some(file) = self.progress.as_ref() else { return true };
        match file.read_at(&mut bytes, 0) {
            Ok(0) => false,
            Ok(Progress::LEN) => Progress::decode(&bytes).is_none_or(|p| p.run_id == run_id),
            _ => true,
        }
    }
}

/// Requests one execution may have in flight at once.
pub const MAX_CONCURRENT_FETCHES: usize = 8;

/// Runs one fairness key (a user) may have at once: a user whose logins run away holds at most this many workers,
/// and their further logins wait for their own turn instead of taking everyone's.
pub const MAX_RUNS_PER_KEY: usize = 2;

/// The pool of sandbox workers.
pub struct Sandbox {
    config: SandboxConfig,
    idle: Mutex<HashMap<u64, Vec<WorkerProcess>>>,
    /// One permit per worker; tokio's semaphore serves waiters in order.
    permits: Semaphore,
    /// Per fairness key (user), the runs it may start; entries are removed when nobody holds or waits on them.
    per_key: Mutex<HashMap<String, Arc<Semaphore>>>,
    next_run: AtomicU64,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A pool with no workers yet; they start on first use.
    pub fn new(config: SandboxConfig) -> Self {
        let permits = Semaphore::new(config.max_workers.max(1));
        Sandbox {
            config,
            idle: Mutex::new(HashMap::new()),
            permits,
            per_key: Mutex::new(HashMap::new()),
            next_run: AtomicU64::new(1),
        }
    }

    /// Starts `count` workers with `limits.memory_mb` ahead of use.
    pub async fn warm_up(&self, count: usize, limits: Limits) -> Result<(), SandboxFailure> {
        let mut started = Vec::new();
        for _ in 0..count {
            started.push(self.spawn(limits.memory_mb).await?);
        }
        for worker in started {
            self.release(worker);
        }
        Ok(())
    }

    /// Process ids of the workers idle in the pool (a worker serving a run is not listed). Diagnostics only:
    /// `gatehouse bench` reads their memory use before and after a run, so a leak in a worker shows.
    pub fn idle_worker_pids(&self) -> Vec<u32> {
        let Ok(idle) = self.idle.lock() else { return Vec::new() };
        idle.values().flatten().filter_map(|worker| worker.child.id()).collect()
    }

    /// Runs handed to workers so far. Diagnostics only: `gatehouse bench` reports how many sandbox runs a login takes.
    pub fn runs_started(&self) -> u64 {
        self.next_run.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// Runs `request` on a worker, within `limits`, answering its requests through `io`.
    pub async fn run(&self, request: RunRequest, limits: Limits, io: &dyn HostIo) -> RunOutput {
        self.run_for(None, request, limits, io).await
    }

    /// Runs `request` for `key` (a user): at most [`MAX_RUNS_PER_KEY`] runs of one key at once, and no wait for a
    /// worker longer than the run's own time limit; a run that waited that long fails as busy without running.
    pub async fn run_for(&self, key: Option<&str>, request: RunRequest, limits: Limits, io: &dyn HostIo) -> RunOutput {
        let mut output = RunOutput {
            report: Err(SandboxFailure::Crashed(String::new())),
            last_started: None,
            logs: Vec::new(),
            requests: Vec::new(),
        };
        let wait_until = tokio::time::Instant::now() + limits.timeout;
        let key_semaphore = key.and_then(|key| self.key_semaphore(key));
        let key_permit = match &key_semaphore {
            Some(semaphore) => match tokio::time::timeout_at(wait_until, semaphore.clone().acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    self.forget_key(key, key_semaphore);
                    output.report = Err(SandboxFailure::Busy(format!(
                        "this user already has {MAX_RUNS_PER_KEY} logins running actions"
                    )));
                    return output;
                }
            },
            None => None,
        };
        let permit = match tokio::time::timeout_at(wait_until, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => {
                drop(key_permit);
                self.forget_key(key, key_semaphore);
                output.report = Err(SandboxFailure::Crashed("the sandbox pool is shut down".to_owned()));
                return output;
            }
            Err(_) => {
                drop(key_permit);
                self.forget_key(key, key_semaphore);
                output.report = Err(SandboxFailure::Busy(format!(
                    "no sandbox worker was free within {} ms",
                    limits.timeout.as_millis()
                )));
                return output;
            }
        };
        let output = self.run_on_worker(request, limits, io, output).await;
        drop(permit);
        drop(key_permit);
        self.forget_key(key, key_semaphore);
        output
    }

    /// The semaphore of `key`, created on first use.
    fn key_semaphore(&self, key: &str) -> Option<Arc<Semaphore>> {
        let mut per_key = self.per_key.lock().ok()?;
        Some(per_key.entry(key.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(MAX_RUNS_PER_KEY))).clone())
    }

    /// Drops this caller's hold on `key`'s semaphore, and the entry when nobody else holds or waits on it.
    fn forget_key(&self, key: Option<&str>, semaphore: Option<Arc<Semaphore>>) {
        let (Some(key), Some(semaphore)) = (key, semaphore) else { return };
        let Ok(mut per_key) = self.per_key.lock() else { return };
        drop(semaphore);
        // The map's own reference is then the only one left.
        if per_key.get(key).is_some_and(|s| Arc::strong_count(s) == 1) {
            per_key.remove(key);
        }
    }

    async fn run_on_worker(
        &self,
        mut request: RunRequest,
        limits: Limits,
        io: &dyn HostIo,
        mut output: RunOutput,
    ) -> RunOutput {
        let deadline = Instant::now() + limits.timeout;
        let _busy = Busy::new();
        request.run_id = self.next_run.fetch_add(1, Ordering::Relaxed);
        let run_id = request.run_id;
        let start = request.start;
        // The actions this run may report as started; an index outside them is a broken (or hostile) worker's.
        let runnable = start..request.flow.actions.len().max(start + 1);
        // A worker may die between two runs (while it resets after its last report, or killed from outside) and
        // still be taken for this one. When it never took this run up, as its progress file shows, none of the
        // run's code ran, and the run goes to another worker, once.
        let mut retried = false;
        loop {
            let worker = match self.take_idle(limits.memory_mb) {
                Some(worker) => worker,
                None => match self.spawn(limits.memory_mb).await {
                    Ok(worker) => worker,
                    Err(failure) => {
                        output.report = Err(failure);
                        return output;
                    }
                },
            };
            let attempt = Attempt { run_id, runnable: &runnable, deadline, limits, io };
            match self.attempt(worker, request, &attempt, output).await {
                Attempted::Ended(output) => return output,
                Attempted::NotTaken(worker, again, kept) if !retried => {
                    retried = true;
                    metrics::counter!("gatehouse_sandbox_workers_killed_total", "reason" => "crash").increment(1);
                    tracing::warn!(run_id, "a sandbox worker died before it took up a run; another worker runs it");
                    drop(worker);
                    (request, output) = (*again, kept);
                }
                Attempted::NotTaken(worker, _, kept) => {
                    let context = "two workers in a row died before they took up the run".to_owned();
                    return self.fail(*worker, run_id, &runnable, context, limits, kept).await;
                }
            }
        }
    }

    /// Sends `request` to `worker` and serves the run until it reports, fails or passes its deadline.
    async fn attempt(
        &self,
        mut worker: WorkerProcess,
        mut request: RunRequest,
        attempt: &Attempt<'_>,
        mut output: RunOutput,
    ) -> Attempted {
        let Attempt { run_id, runnable, deadline, limits, io } = *attempt;
        let start = request.start;
        // A flow the worker was sent before goes without its code; kept here in case the worker asks for it.
        let mut sent = if worker.known_flows.contains(&request.flow.hash) {
            let withheld = (std::mem::take(&mut request.flow.actions), std::mem::take(&mut request.flow.modules));
            Sent { message: Some(ToWorker::RunKnownFlow(Box::new(request))), withheld: Some(withheld) }
        } else {
            if worker.known_flows.len() >= KNOWN_FLOWS {
                worker.known_flows.clear();
            }
            worker.known_flows.push(request.flow.hash.clone());
            Sent { message: Some(ToWorker::Run(Box::new(request))), withheld: None }
        };
        // Beside the calling thread when its CPU has no other run (see `placement`).
        let mut seat = placement::seat(self.config.colocate.is_some(), worker.child.id(), &mut worker.pinned);
        let seated_until = tokio::time::Instant::now() + self.config.colocate.unwrap_or_default();
        if let Some(Err(e)) = sent.message.as_ref().map(|message| send(&worker.stdin, message)) {
            let context = format!("could not send the run: {e}");
            return self.not_taken(worker, &mut sent, false, attempt, output, context).await;
        }
        // The worker announces the actions after the first; the first starts with the run.
        output.last_started = Some(start);
        // Whether a frame of this run came back: then the worker took it up, whatever its progress file says.
        let mut heard = false;

        let mut fetches: JoinSet<(u64, usize, Result<FetchResponse, String>)> = JoinSet::new();
        loop {
            tokio::select! {
                frame = worker.frames.recv() => match frame {
                    Some(FromWorker::Done { run_id: id, report, on_every_cpu }) if id == run_id => {
                        if on_every_cpu {
                            worker.pinned = None;
                        }
                        output.report = Ok(report);
                        fetches.abort_all();
                        self.release(worker);
                        return Attempted::Ended(output);
                    }
                    Some(FromWorker::NeedFlow { run_id: id }) if id == run_id => {
                        heard = true;
                        let known = matches!(sent.message, Some(ToWorker::RunKnownFlow(_)));
                        let Some(request) = known.then(|| sent.take_request()).flatten() else {
                            return Attempted::Ended(self.fail(worker, run_id, runnable, "the worker asked twice for a flow".to_owned(), limits, output).await);
                        };
                        if let Err(e) = send(&worker.stdin, &ToWorker::Run(request)) {
                            return Attempted::Ended(self.fail(worker, run_id, runnable, format!("could not send the run: {e}"), limits, output).await);
                        }
                    }
                    Some(FromWorker::ActionStarted { run_id: id, index }) if id == run_id && runnable.contains(&index) => {
                        heard = true;
                        output.last_started = Some(index);
                    }
                    Some(FromWorker::Log { run_id: id, index, level, message }) if id == run_id => {
                        heard = true;
                        output.logs.push((index, level, message));
                    }
                    Some(FromWorker::Fetch { run_id: id, index, id: fetch_id, request }) if id == run_id && fetches.len() >= MAX_CONCURRENT_FETCHES => {
                        heard = true;
                        // One execution may not hold more requests in flight than this: answered at once, not queued.
                        output.requests.push(FetchRecord { action: index, request, status: None });
                        let refused = Err(format!("too many requests in flight: an execution may make {MAX_CONCURRENT_FETCHES} at once"));
                        if let Err(e) = send(&worker.stdin, &ToWorker::FetchResult { run_id, id: fetch_id, result: refused }) {
                            return Attempted::Ended(self.fail(worker, run_id, runnable, format!("could not answer a request: {e}"), limits, output).await);
                        }
                    }
                    Some(FromWorker::Fetch { run_id: id, index, id: fetch_id, request }) if id == run_id => {
                        heard = true;
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        let timeout = self.config.fetch_timeout.min(remaining);
                        let future = io.fetch(request.clone());
                        output.requests.push(FetchRecord { action: index, request, status: None });
                        let slot = output.requests.len() - 1;
                        fetches.spawn(async move {
                            let result = match tokio::time::timeout(timeout, future).await {
                                Ok(result) => result,
                                Err(_) => Err(format!("the request timed out after {} ms", timeout.as_millis())),
                            };
                            (fetch_id, slot, result)
                        });
                    }
                    Some(_) => {}
                    None => {
                        return self.not_taken(worker, &mut sent, heard, attempt, output, String::new()).await;
                    }
                },
                Some(joined) = fetches.join_next(), if !fetches.is_empty() => {
                    let Ok((fetch_id, slot, result)) = joined else { continue };
                    if let Some(record) = output.requests.get_mut(slot) {
                        record.status = result.as_ref().ok().map(|r| r.status);
                    }
                    let answer = ToWorker::FetchResult { run_id, id: fetch_id, result };
                    if let Err(e) = send(&worker.stdin, &answer) {
                        return Attempted::Ended(self.fail(worker, run_id, runnable, format!("could not answer a request: {e}"), limits, output).await);
                    }
                }
                _ = tokio::time::sleep_until(seated_until), if seat.is_some() => {
                    // Long enough beside the host thread: the kernel may move it now.
                    seat = None;
                    placement::release(worker.child.id(), &mut worker.pinned);
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    metrics::counter!("gatehouse_sandbox_workers_killed_total", "reason" => "timeout").increment(1);
                    let _ = worker.child.start_kill();
                    let _ = worker.child.wait().await;
                    output.last_started = worker.progress(run_id, runnable).or(output.last_started);
                    output.report = Err(SandboxFailure::Timeout { limit_ms: limits.timeout.as_millis() });
                    return Attempted::Ended(output);
                }
            }
        }
    }

    /// A worker that stopped answering: when it is dead and never took the run up (no frame of the run came back,
    /// and its progress file, read once it is dead, does not name the run), the request is given back to be run
    /// elsewhere; otherwise the run fails as [`Sandbox::fail`] says.
    async fn not_taken(
        &self,
        mut worker: WorkerProcess,
        sent: &mut Sent,
        heard: bool,
        attempt: &Attempt<'_>,
        output: RunOutput,
        context: String,
    ) -> Attempted {
        if !heard && worker.progress.is_some() {
            // Dead for sure before its file is read: a dying worker writes nothing after this.
            let _ = worker.child.start_kill();
            let _ = worker.child.wait().await;
            if !worker.took(attempt.run_id)
                && let Some(request) = sent.take_request()
            {
                return Attempted::NotTaken(Box::new(worker), request, output);
            }
        }
        Attempted::Ended(self.fail(worker, attempt.run_id, attempt.runnable, context, attempt.limits, output).await)
    }

    /// Ends a run whose worker died or broke the protocol: names the action it was in (its progress file, else the
    /// last frame), then buries it.
    async fn fail(
        &self,
        worker: WorkerProcess,
        run_id: u64,
        actions: &Range<usize>,
        context: String,
        limits: Limits,
        mut output: RunOutput,
    ) -> RunOutput {
        output.last_started = worker.progress(run_id, actions).or(output.last_started);
        output.report = Err(self.bury(worker, context, limits).await);
        output
    }

    /// An idle worker for `memory_mb`, the most recently used first (its contexts are the warmest). A worker whose
    /// stdout has closed (its frame reader ended) is dead and dropped; one that died too recently for that to show
    /// fails its run before taking it up, and the run goes to another ([`Sandbox::run_on_worker`]). Asking the
    /// kernel instead (`wait4`) cost a system call on every run.
    fn take_idle(&self, memory_mb: u64) -> Option<WorkerProcess> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&memory_mb)?;
        while let Some(worker) = list.pop() {
            if !worker.frames.is_closed() {
                return Some(worker);
            }
        }
        None
    }

    fn release(&self, worker: WorkerProcess) {
        let Ok(mut idle) = self.idle.lock() else { return };
        let total: usize = idle.values().map(Vec::len).sum();
        if total < self.config.max_idle {
            idle.entry(worker.memory_mb).or_default().push(worker);
        }
        // Otherwise the worker is dropped, which kills it.
    }

    /// Waits for a dead (or broken) worker and explains its death.
    async fn bury(&self, mut worker: WorkerProcess, context: String, limits: Limits) -> SandboxFailure {
        let _ = worker.child.start_kill();
        let status = worker.child.wait().await.ok();
        // Give the stderr reader a moment to collect the last words.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stderr = worker.stderr.lock().map(|s| String::from_utf8_lossy(&s).into_owned()).unwrap_or_default();
        if stderr.contains("memory allocation of")
            || stderr.contains("out of memory")
            || stderr.contains("Cannot allocate memory")
        {
            metrics::counter!("gatehouse_sandbox_workers_killed_total", "reason" => "memory").increment(1);
            return SandboxFailure::Memory { limit_mb: limits.memory_mb };
        }
        metrics::counter!("gatehouse_sandbox_workers_killed_total", "reason" => "crash").increment(1);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned();
        let status = status.map(|s| s.to_string()).unwrap_or_else(|| "unknown status".to_owned());
        let detail = [context, last, format!("worker exited: {status}")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        SandboxFailure::Crashed(detail)
    }

    async fn spawn(&self, memory_mb: u64) -> Result<WorkerProcess, SandboxFailure> {
        // Without a progress file (none could be made) the worker announces each action with a frame instead.
        let progress = tempfile::Builder::new().prefix("gatehouse-worker-").tempfile().ok();
        let mut command = Command::new(&self.config.program);
        command.args(&self.config.args).arg("--memory-mb").arg(memory_mb.to_string());
        if let Some(progress) = &progress {
            command.arg("--progress-file").arg(progress.path());
        }
        command
            .env_clear()
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Started from a host thread pinned to its CPU, it would inherit that one CPU.
        let mut child = placement::unpinned(|| command.spawn())
            .map_err(|e| SandboxFailure::Crashed(format!("cannot start {}: {e}", self.config.program.display())))?;
        metrics::counter!("gatehouse_sandbox_workers_started_total").increment(1);
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SandboxFailure::Crashed("worker pipes missing".to_owned()));
        };
        let (sender, frames) = mpsc::channel(256);
        tokio::spawn(async move {
            // Buffered: a frame's length and body come with one read (the worker writes a frame whole).
            let mut stdout = tokio::io::BufReader::with_capacity(64 * 1024, stdout);
            loop {
                let mut len = [0u8; 4];
                if stdout.read_exact(&mut len).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes(len) as usize;
                if len > MAX_FRAME {
                    break;
                }
                let mut buf = vec![0u8; len];
                if stdout.read_exact(&mut buf).await.is_err() {
                    break;
                }
                let Ok(frame) = serde_json::from_slice::<FromWorker>(&buf) else { break };
                if sender.send(frame).await.is_err() {
                    break;
                }
            }
        });
        let stderr_buf = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr_buf.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut buf) = sink.lock() {
                    buf.extend_from_slice(&chunk[..n]);
                    let excess = buf.len().saturating_sub(STDERR_TAIL);
                    buf.drain(..excess);
                }
            }
        });
        let mut worker = WorkerProcess {
            child,
            stdin: ToWorkerPipe::new(stdin),
            frames,
            stderr: stderr_buf,
            memory_mb,
            known_flows: Vec::new(),
            progress: None,
            pinned: None,
        };
        match tokio::time::timeout(STARTUP_TIMEOUT, worker.frames.recv()).await {
            Ok(Some(FromWorker::Ready { .. })) => {
                // The worker opened the file before saying it is ready: the name can go (nothing is left behind
                // in the temporary folder), the open files stay.
                worker.progress = progress.map(|file| file.into_file());
                Ok(worker)
            }
            Ok(_) => Err(self
                .bury(worker, "the worker did not start".to_owned(), Limits { timeout: STARTUP_TIMEOUT, memory_mb })
                .await),
            Err(_) => Err(self
                .bury(
                    worker,
                    "the worker did not start in time".to_owned(),
                    Limits { timeout: STARTUP_TIMEOUT, memory_mb },
                )
                .await),
        }
    }
}

/// A worker's stdin, written by a task of its own. The frame loop of a run queues frames here and goes on reading
/// the worker: a worker runs its action without reading its stdin, and may write frames (requests, logs) all the
/// while, so a host that waited for its own write to finish before reading again could wait forever, the two pipes
/// full and the run's deadline never looked at.
struct ToWorkerPipe {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes queued and not yet written: at most one frame past [`MAX_FRAME`] (a worker that never reads cannot
    /// make the host hold more).
    queued: Arc<AtomicUsize>,
}

impl ToWorkerPipe {
    fn new(mut stdin: ChildStdin) -> ToWorkerPipe {
        let (frames, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let written = queued.clone();
        tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                // One write a frame, length prefix included.
                let result = match stdin.write_all(&frame).await {
                    Ok(()) => stdin.flush().await,
                    Err(e) => Err(e),
                };
                written.fetch_sub(frame.len(), Ordering::Relaxed);
                if result.is_err() {
                    break;
                }
            }
        });
        ToWorkerPipe { frames, queued }
    }
}

/// Queues one frame for the worker; an error when its stdin is closed or it has not read what was queued before.
fn send(pipe: &ToWorkerPipe, message: &ToWorker) -> std::io::Result<()> {
    let frame = encode_to_worker(message)?;
    let queued = pipe.queued.load(Ordering::Relaxed);
    if queued > 0 && queued + frame.len() > MAX_FRAME {
        return Err(std::io::Error::other(format!("the worker has not read the {queued} bytes sent to it")));
    }
    pipe.queued.fetch_add(frame.len(), Ordering::Relaxed);
    pipe.frames
        .send(frame)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the worker's stdin is closed"))
}

/// A run request as it was sent to a worker, and the code left out of it when the worker had the flow already.
struct Sent {
    /// `None` once taken back.
    message: Option<ToWorker>,
    withheld: Option<(Arc<[ActionSource]>, Arc<ModuleGraph>)>,
}

impl Sent {
    /// The request whole again, its code put back: to send it to the worker that asked for the flow, or to another
    /// worker. `None` once taken.
    fn take_request(&mut self) -> Option<Box<RunRequest>> {
        match self.message.take()? {
            ToWorker::Run(request) => Some(request),
            ToWorker::RunKnownFlow(mut request) => {
                let (actions, modules) = self.withheld.take()?;
                request.flow.actions = actions;
                request.flow.modules = modules;
                Some(request)
            }
            ToWorker::FetchResult { .. } => None,
        }
    }
}

/// What one attempt at a run needs besides its worker and its request.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    run_id: u64,
    runnable: &'a Range<usize>,
    deadline: Instant,
    limits: Limits,
    io: &'a dyn HostIo,
}

/// How one attempt at a run ended.
enum Attempted {
    /// With a report or a failure: the run is over.
    Ended(RunOutput),
    /// The worker died before it took the run up: nothing of the run ran, and it may go to another worker.
    NotTaken(Box<WorkerProcess>, Box<RunRequest>, RunOutput),
}

/// Counts a worker as busy (`gatehouse_sandbox_workers_busy`) for as long as it runs actions, whichever way the run
/// ends.
struct Busy;

impl Busy {
    fn new() -> Busy {
        metrics::gauge!("gatehouse_sandbox_workers_busy").increment(1.0);
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        metrics::gauge!("gatehouse_sandbox_workers_busy").decrement(1.0);
    }
}
