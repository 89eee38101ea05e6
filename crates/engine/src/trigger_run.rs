//! One sandbox run of a trigger outside post-login (the phone triggers, credentials-exchange, the account triggers):
//! every action in order from a start index, the run's console output and requests with the event's secrets
//! redacted, its cache changes applied. What the actions' commands mean is each trigger's own (`crate::phone`,
//! `crate::credentials`, `crate::account`).

use gatehouse_types::ConsoleLog;
use gatehouse_types::outcome::RecordedRequest;
use serde_json::Value;

use crate::flow::{CacheStore, cap_reason, secret_redactor};
use crate::protocol::{Entry, FlowSpec, RunReport, RunRequest};
use crate::sandbox::{HostIo, Limits, RunOutput, Sandbox};

/// Runs a trigger's actions through the sandbox, once per event.
pub struct TriggerRunner<'a> {
    /// The trigger's actions.
    pub flow: &'a FlowSpec,
    /// Deadline and memory of the run.
    pub limits: Limits,
    /// The sandbox pool.
    pub sandbox: &'a Sandbox,
    /// Performs `fetch`.
    pub io: &'a dyn HostIo,
    /// The trigger's cache.
    pub cache: &'a dyn CacheStore,
}

/// A run that ended before its actions did (a limit, the deadline, a crashed worker).
pub(crate) struct Stopped {
    /// Why, redacted and cut.
    pub reason: String,
    /// The action that was running.
    pub action: String,
    /// The actions that started, in order.
    pub executed: Vec<String>,
}

/// What one run left: the report (its cache changes already applied) or why there is none, and the run's output.
pub(crate) struct Ran {
    pub report: Result<RunReport, Stopped>,
    pub logs: Vec<ConsoleLog>,
    pub requests: Vec<RecordedRequest>,
    /// Replaces the event's secrets in text the run produced.
    pub redact: Box<dyn Fn(String) -> String + Send + Sync>,
}

impl TriggerRunner<'_> {
    /// Runs every action once for `event`, whose `secrets` are redacted from what the run produced.
    pub(crate) async fn run(&self, event: Value) -> Ran {
        self.run_from(event, 0, Entry::Execute).await
    }

    /// Runs the actions from index `start` (its handler chosen by `entry`, the rest's `onExecute*`) until one stops
    /// the run or all ran.
    pub(crate) async fn run_from(&self, event: Value, start: usize, entry: Entry) -> Ran {
        let secrets = event.get("secrets").and_then(Value::as_object);
        let redact = secret_redactor(
            secrets.into_iter().flat_map(|s| s.values().filter_map(Value::as_str).map(str::to_owned)).collect(),
        );
        let request = RunRequest {
            run_id: 0,
            flow: self.flow.clone(),
            start,
            entry,
            event: event.into(),
            cache: self.cache.load(self.flow.trigger),
            run_on: Default::default(),
        };
        let RunOutput { report, last_started, logs, requests } = self.sandbox.run(request, self.limits, self.io).await;
        let logs = logs
            .into_iter()
            .map(|(index, level, message)| ConsoleLog { action: self.name(index), level, message: redact(message) })
            .collect();
        let requests = requests
            .into_iter()
            .map(|record| {
                let action = self.name(record.action);
                record.recorded(action, &redact)
            })
            .collect();
        let report = match report {
            Ok(report) => {
                self.cache.apply(self.flow.trigger, &report.cache_ops);
                Ok(report)
            }
            Err(failure) => {
                let index = last_started.unwrap_or(start).max(start);
                Err(Stopped {
                    reason: cap_reason(redact(failure.to_string())),
                    action: self.name(index),
                    executed: (start..=index).map(|i| self.name(i)).collect(),
                })
            }
        };
        Ran { report, logs, requests, redact: Box::new(redact) }
    }

    /// The file name of the action at `index`.
    pub(crate) fn name(&self, index: usize) -> String {
        self.flow.actions.get(index).map(|a| a.name.clone()).unwrap_or_else(|| format!("action #{index}"))
    }
}
