//! Running a flow through the sandbox: start, resume after a prompt, and advance action by action.

use gatehouse_types::event::EnrolledFactor;
use gatehouse_types::{AuthMethod, Command, ConsoleLog, FlowResult, PostLoginEvent, Prompt, PromptCommand, TenantLog};

use crate::protocol::{ActionReport, Entry, EventJson, FlowSpec, RunOn, RunRequest};
use crate::sandbox::{HostIo, RunOutput, Sandbox};

use super::apply::redactor;
use super::outcome::{build_outcome, fail, finish};
use super::plan::{Planned, plan_prompt};
use super::*;

/// Runs a trigger's flow through the sandbox.
pub struct FlowRunner<'a> {
    /// The actions.
    pub flow: &'a FlowSpec,
    /// Tenant settings.
    pub settings: &'a FlowSettings,
    /// The sandbox pool.
    pub sandbox: &'a Sandbox,
    /// Performs `fetch`.
    pub io: &'a dyn HostIo,
    /// The trigger's cache.
    pub cache: &'a dyn CacheStore,
}

impl FlowRunner<'_> {
    /// Starts the post-login flow for `event`.
    pub async fn start(&self, event: PostLoginEvent) -> Step {
        let state = PausedFlow {
            flow_hash: self.flow.hash.clone(),
            action_names: self.flow.actions.iter().map(|a| a.name.clone()).collect(),
            event,
            next_action: 0,
            continue_action: None,
            current: None,
            queue: Vec::new(),
            acc: Accumulated::default(),
        };
        self.advance(state, Entry::Execute).await
    }

    /// Resumes a paused flow with what the user did.
    pub async fn resume(&self, mut state: PausedFlow, completion: Completion) -> Result<Step, ResumeError> {
        let Some(mut prompt) = state.current.clone() else { return Err(ResumeError::NotPaused) };
        let offered: Vec<String> = if prompt.command == PromptCommand::SendUserTo {
            vec!["continue".to_owned()]
        } else {
            prompt.offered().map(|f| f.as_str().to_owned()).collect()
        };
        let current: Vec<String> = self.flow.actions.iter().map(|a| a.name.clone()).collect();
        if state.action_names.get(..state.next_action) != current.get(..state.next_action) {
            let mut acc = state.acc;
            acc.tenant_logs.push(TenantLog::new("f", "The post-login flow changed while the login was paused"));
            return Ok(Step::Done(Box::new(build_outcome(
                FlowResult::Error,
                Some("The login flow changed while this login was paused; please log in again.".to_owned()),
                None,
                acc,
                &state.event,
            ))));
        }
        match completion {
            Completion::Factor(kind) => {
                if prompt.command == PromptCommand::SendUserTo || !prompt.offered().any(|f| f == kind) {
                    return Err(ResumeError::NotOffered(kind.as_str().to_owned(), offered.join(", ")));
                }
                state.current = None;
                prompt.completed_with = Some(kind.as_str().to_owned());
                state.event.authentication.methods.push(AuthMethod {
                    name: "mfa".to_owned(),
                    timestamp: now_iso(),
                    kind: Some(kind),
                });
                if prompt.command.is_enrollment() {
                    if !state.event.is_enrolled(kind) {
                        state.event.user.enrolled_factors.push(EnrolledFactor { kind, options: None });
                    }
                    state.acc.enrolled.push(kind);
                }
                state.acc.completed.insert(kind);
                state.acc.prompts.push(prompt);
                match self.next_prompt(state) {
                    Ok(state) if state.current.is_some() => Ok(Step::Paused(Box::new(state))),
                    Ok(state) => Ok(self.advance(state, Entry::Execute).await),
                    Err(step) => Ok(step),
                }
            }
            Completion::Continue { query, body } => {
                if prompt.command != PromptCommand::SendUserTo {
                    return Err(ResumeError::NotOffered("continue".to_owned(), offered.join(", ")));
                }
                state.current = None;
                prompt.completed_with = Some("continue".to_owned());
                state.acc.prompts.push(prompt);
                state.event.request.query = query;
                state.event.request.body = body;
                state.next_action = state.continue_action.take().unwrap_or(state.next_action);
                Ok(self.advance(state, Entry::Continue).await)
            }
        }
    }

    /// Plans queued commands until one needs the user (`current` is then set) or none is left.
    fn next_prompt(&self, mut state: PausedFlow) -> Result<PausedFlow, Step> {
        while state.current.is_none() && !state.queue.is_empty() {
            let queued = state.queue.remove(0);
            if let Command::Redirect { url } = &queued.command {
                state.continue_action = Some(queued.action);
                state.current = Some(Prompt {
                    action: queued.name.clone(),
                    command: PromptCommand::SendUserTo,
                    factors: Vec::new(),
                    additional_factors: Vec::new(),
                    url: Some(url.clone()),
                    completed_with: None,
                });
                continue;
            }
            match plan_prompt(&queued.command, &state.event, &state.acc, &self.settings.factors_enabled) {
                Planned::Prompt(prompt, warnings) => {
                    state.acc.tenant_logs.extend(warnings);
                    state.current = Some(Prompt { action: queued.name.clone(), ..prompt });
                }
                Planned::Skip(warnings) => state.acc.tenant_logs.extend(warnings),
                Planned::Fail(message, warnings) => {
                    state.acc.tenant_logs.extend(warnings);
                    state.acc.tenant_logs.push(TenantLog::new("mfar", message.clone()));
                    let name = queued.name;
                    return Err(Step::Done(Box::new(fail(state, message, Some(name)))));
                }
            }
        }
        Ok(state)
    }

    /// Runs actions from `state.next_action` until the flow pauses or ends.
    async fn advance(&self, mut state: PausedFlow, mut entry: Entry) -> Step {
        loop {
            if state.next_action >= self.flow.actions.len() {
                return Step::Done(Box::new(finish(state)));
            }
            let event = match EventJson::encode(&state.event) {
                Ok(event) => event,
                Err(e) => return Step::Done(Box::new(fail(state, format!("cannot serialize the event: {e}"), None))),
            };
            let request = RunRequest {
                run_id: 0,
                flow: self.flow.clone(),
                start: state.next_action,
                entry,
                event,
                cache: self.cache.load(self.flow.trigger),
                run_on: self.run_on(&state),
            };
            entry = Entry::Execute;
            // Fair shares per user: one user's logins that run away cannot take every worker.
            let key = Some(state.event.user.user_id.as_str()).filter(|id| !id.is_empty());
            let output = self.sandbox.run_for(key, request, self.settings.limits, self.io).await;
            let RunOutput { report, last_started, logs, requests } = output;
            let redact = redactor(&state.event);
            for (index, level, message) in logs {
                let action = self.name(index);
                let message = redact(message);
                tracing::info!(action = %action, level = %level, "action console: {message}");
                state.acc.logs.push(ConsoleLog { action, level, message });
            }
            for record in requests {
                let action = self.name(record.action);
                state.acc.requests.push(record.recorded(action, &redact));
            }
            let report = match report {
                Ok(report) => report,
                Err(failure) => {
                    let index = last_started.unwrap_or(state.next_action);
                    let name = self.name(index);
                    for ran in state.next_action..=index {
                        state.acc.executed.push(self.name(ran));
                    }
                    tracing::info!(action = %name, error = %failure, "action failed");
                    state.acc.executions.push(ActionExecution {
                        action: name.clone(),
                        started_at: None,
                        duration_ms: 0.0,
                        commands: Vec::new(),
                        error: Some(failure.to_string()),
                    });
                    state
                        .acc
                        .tenant_logs
                        .push(TenantLog::new("actions_execution_failed", format!("Action {name} failed: {failure}")));
                    return Step::Done(Box::new(fail(state, failure.to_string(), Some(name))));
                }
            };
            self.cache.apply(self.flow.trigger, &report.cache_ops);
            state.event.transaction.metadata = report.transaction_metadata;
            let mut last = state.next_action;
            for action in &report.actions {
                last = action.index;
                let name = self.name(action.index);
                state.acc.executed.push(name.clone());
                let execution = execution(&name, action, &redact);
                tracing::info!(
                    action = %name,
                    duration_ms = format!("{:.1}", execution.duration_ms),
                    commands = %execution.commands.join(", "),
                    error = execution.error.as_deref().unwrap_or(""),
                    "action ran"
                );
                record_action_metrics(&execution, "post-login");
                state.acc.executions.push(execution);
                if let Some(step) = self.apply(&mut state, &name, action, &redact) {
                    return step;
                }
            }
            state.next_action = last + 1;
            state = match self.next_prompt(state) {
                Ok(state) if state.current.is_some() => return Step::Paused(Box::new(state)),
                Ok(state) => state,
                Err(step) => return step,
            };
        }
    }

    /// The challenges the next run may go past: those `plan_prompt` would skip without a trace, because one of
    /// their factors is completed (and the command is allowed at all, and within the cap).
    fn run_on(&self, state: &PausedFlow) -> RunOn {
        if !self.settings.customize_with_actions {
            return RunOn::default();
        }
        RunOn {
            completed: state.acc.completed.iter().copied().collect(),
            mfa_budget: MAX_MFA_COMMANDS.saturating_sub(state.acc.mfa_commands),
        }
    }

    fn name(&self, index: usize) -> String {
        self.flow.actions.get(index).map(|a| a.name.clone()).unwrap_or_else(|| format!("action #{index}"))
    }
}

/// What the logs keep of one action's run.
pub(crate) fn execution(name: &str, report: &ActionReport, redact: &dyn Fn(String) -> String) -> ActionExecution {
    let started_at = (report.started_at_ms > 0)
        .then(|| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(report.started_at_ms) * 1_000_000).ok())
        .flatten()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    ActionExecution {
        action: name.to_owned(),
        started_at,
        duration_ms: (report.duration_ms * 10.0).round() / 10.0,
        commands: report.commands.iter().map(Command::summary).collect(),
        error: report.error.as_ref().map(|e| super::apply::action_error_reason(name, e, redact)),
    }
}

/// `gatehouse_action_runs_total{trigger, action, result}` and `gatehouse_action_duration_seconds{trigger, action}`.
pub(crate) fn record_action_metrics(execution: &ActionExecution, trigger: &'static str) {
    let result = if execution.error.is_some() { "error" } else { "ok" };
    metrics::counter!("gatehouse_action_runs_total", "trigger" => trigger, "action" => execution.action.clone(), "result" => result)
        .increment(1);
    metrics::histogram!("gatehouse_action_duration_seconds", "trigger" => trigger, "action" => execution.action.clone())
        .record(execution.duration_ms / 1000.0);
}
