//! The sandbox worker: the process that runs actions.
//!
//! `gatehouse sandbox-worker` starts here. It caps its own memory (`RLIMIT_DATA`), then serves run requests from
//! its stdin until the host closes it. A runaway action cannot be interrupted inside Boa, so the host kills the
//! whole process at the deadline; everything the worker keeps (compiled contexts) can be rebuilt by the next one.

mod commands;
mod event;
mod executor;
pub(crate) mod host;
mod inbox;
mod json;
mod node_crypto;
mod realm;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Mutex;

use crate::placement;
use crate::protocol::{FlowSpec, FromWorker, Progress, RunReport, RunRequest, ToWorker, write_frame};
use host::Outbox;
pub(crate) use inbox::Inbox;
use inbox::StdinInbox;
use realm::FlowContext;

/// Contexts a worker keeps, one per flow version (the post-login flow, the phone provider...).
const MAX_CONTEXTS: usize = 4;

/// A context is rebuilt after this many runs, bounding whatever the engine might retain between runs.
const MAX_RUNS_PER_CONTEXT: u64 = 5_000;

/// Flow versions whose code a worker keeps, so the host can send later runs without it.
const MAX_FLOWS: usize = 8;

/// Serves run requests with cached contexts.
pub(crate) struct Worker {
    outbox: Rc<dyn Outbox>,
    inbox: Box<dyn Inbox>,
    contexts: Vec<FlowContext>,
    /// The context of the last run, until [`Worker::settle`] resets it.
    used: Option<FlowContext>,
    /// The flows received in full, most recent first.
    flows: Vec<FlowSpec>,
    /// Runs a context serves before it is replaced ([`MAX_RUNS_PER_CONTEXT`]; tests lower it).
    max_runs: u64,
    /// This process gave itself every CPU since its last report ([`placement::widen`]).
    widened: bool,
}

impl Worker {
    pub(crate) fn new(outbox: Rc<dyn Outbox>, inbox: Box<dyn Inbox>) -> Self {
        Worker {
            outbox,
            inbox,
            contexts: Vec::new(),
            used: None,
            flows: Vec::new(),
            max_runs: MAX_RUNS_PER_CONTEXT,
            widened: false,
        }
    }

    /// Serves requests until the inbox closes.
    pub(crate) fn serve(&mut self) {
        while let Ok(message) = self.inbox.recv() {
            match message {
                ToWorker::Run(request) => {
                    if let Some(i) = self.flows.iter().position(|f| f.hash == request.flow.hash) {
                        self.flows.remove(i);
                    }
                    self.flows.insert(0, request.flow.clone());
                    self.flows.truncate(MAX_FLOWS);
                    let run_id = request.run_id;
                    let report = self.run(*request);
                    self.report(run_id, report);
                    self.settle();
                }
                ToWorker::RunKnownFlow(mut request) => {
                    let run_id = request.run_id;
                    if !self.contexts.iter().any(|c| c.hash() == request.flow.hash) {
                        // No context to reuse: the code is needed to build one.
                        match self.flows.iter().find(|f| f.hash == request.flow.hash) {
                            Some(flow) => request.flow = flow.clone(),
                            None => {
                                self.outbox.send(&FromWorker::NeedFlow { run_id });
                                continue;
                            }
                        }
                    }
                    let report = self.run(*request);
                    self.report(run_id, report);
                    self.settle();
                }
                // An answer for a run that already ended (it failed before the request came back).
                ToWorker::FetchResult { .. } => {}
            }
        }
    }

    fn run(&mut self, request: RunRequest) -> RunReport {
        self.outbox.accepted(request.run_id, request.start);
        self.settle();
        let position = self.contexts.iter().position(|c| c.hash() == request.flow.hash);
        let mut context = match position {
            Some(i) => self.contexts.remove(i),
            None => match FlowContext::new(&request.flow, self.outbox.clone()) {
                Ok(context) => context,
                Err(message) => return RunReport::failed_before(request.start, message),
            },
        };
        let report = context.run(request, &mut *self.inbox);
        self.used = Some(context);
        report
    }

    /// Sends a run's report, saying whether this process has every CPU after it widened its mask since its last
    /// report: only then does the host forget the CPU it pinned it to (`placement`).
    fn report(&mut self, run_id: u64, report: RunReport) {
        let on_every_cpu = std::mem::take(&mut self.widened) && placement::on_every_cpu();
        self.outbox.send(&FromWorker::Done { run_id, report, on_every_cpu });
    }

    /// Resets the context of the run whose report was just sent, and keeps it for the next run of its flow if the
    /// reset proved it clean. Done after the report rather than before: the host goes on with the login while this
    /// worker resets, and the worker reads no next request before it is done.
    ///
    /// A context that is done (tainted, or past its run count) is replaced here too, from the flow's code when the
    /// worker holds it: building one takes tens of milliseconds, which would otherwise fall on the next login's
    /// path. That is work outside any run, so the worker first gives itself every CPU: its host may have left it
    /// pinned beside one of its threads, and the host's 2 ms bound covers runs only.
    fn settle(&mut self) {
        let Some(mut context) = self.used.take() else { return };
        context.reset();
        let context = if !context.tainted && context.runs < self.max_runs {
            context
        } else {
            let flow = self.flows.iter().find(|f| f.hash == context.hash());
            drop(context);
            // Otherwise built by the next run of the flow, which reports what failed.
            let Some(flow) = flow.filter(|_| placement::widen()) else { return };
            self.widened = true;
            match FlowContext::new(flow, self.outbox.clone()) {
                Ok(fresh) => fresh,
                Err(_) => return,
            }
        };
        self.contexts.insert(0, context);
        self.contexts.truncate(MAX_CONTEXTS);
    }
}

struct StdoutOutbox {
    out: Mutex<BufWriter<io::Stdout>>,
    /// Where "action N started" goes ([`Progress`]), when the host gave one.
    progress: Option<File>,
}

impl Outbox for StdoutOutbox {
    fn send(&self, message: &FromWorker) {
        let Ok(mut out) = self.out.lock() else { std::process::exit(1) };
        if write_frame(&mut *out, message).and_then(|()| out.flush()).is_err() {
            // The host is gone: nothing left to do.
            std::process::exit(0);
        }
    }

    fn started(&self, run_id: u64, index: usize) {
        let written = self.progress.as_ref().map(|file| file.write_all_at(&Progress { run_id, index }.encode(), 0));
        if !matches!(written, Some(Ok(()))) {
            self.send(&FromWorker::ActionStarted { run_id, index });
        }
    }

    fn accepted(&self, run_id: u64, index: usize) {
        if let Some(file) = &self.progress {
            // Had the write failed, the file would still name the last run and the host could take this one for
            // never started: a frame says it instead.
            if file.write_all_at(&Progress { run_id, index }.encode(), 0).is_err() {
                self.send(&FromWorker::ActionStarted { run_id, index });
            }
        }
    }
}

/// The entry point of `gatehouse sandbox-worker --memory-mb N [--progress-file PATH]`.
pub fn run_process(memory_mb: u64, progress_file: Option<&Path>) -> io::Result<()> {
    let bytes = memory_mb.saturating_mul(1024 * 1024);
    rlimit::setrlimit(rlimit::Resource::DATA, bytes, bytes)?;
    rlimit::setrlimit(rlimit::Resource::CORE, 0, 0)?;

    // Before `Ready`: the host pins a worker only for a run.
    placement::worker_started();
    // Opened before `Ready`: the host removes the file's name once the worker says it is ready.
    let progress = progress_file.map(|path| OpenOptions::new().write(true).open(path)).transpose()?;
    let outbox = Rc::new(StdoutOutbox { out: Mutex::new(BufWriter::new(io::stdout())), progress });
    outbox.send(&FromWorker::Ready { pid: std::process::id() });
    Worker::new(outbox, Box::new(StdinInbox::new())).serve();
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_account;
#[cfg(test)]
mod tests_modules;
