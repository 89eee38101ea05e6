//! The post-login flow: Auth0's ordering, pausing and aggregation rules over the commands actions record.
//!
//! Scripts only record commands; this module decides what they mean (reference §3 and §4):
//! - `access.deny` stops the flow after the action that called it; its metadata changes still apply.
//! - each `challengeWith`/`challengeWithAny`/`enrollWith`/`enrollWithAny` pauses after its action, one prompt per
//!   command in call order; completing a prompt appends `{name: 'mfa', type, timestamp}` to
//!   `event.authentication.methods` (an enrollment also to `user.enrolledFactors`) and the next action sees it;
//!   at most 4 such commands per flow.
//! - `multifactor.enable` is deferred to the end and dropped when any challenge or enroll command was issued.
//! - claims: a later write wins; metadata changes are aggregated per key; scopes: a later add/remove wins.
//!
//! A paused flow is plain data ([`PausedFlow`]): store it anywhere, resume it on any process.

use std::collections::{BTreeMap, BTreeSet};

use gatehouse_types::command::{MetadataTarget, TokenKind};
use gatehouse_types::event::EnrolledFactor;
use gatehouse_types::outcome::{MultifactorRequest, RecordedRequest, ScopeChanges};
use gatehouse_types::{
    AuthMethod, Command, ConsoleLog, FactorSelector, FactorType, FlowResult, JsonMap, Outcome, PostLoginEvent, Prompt,
    PromptCommand, ScopeChange, TenantLog, Trigger,
};
use serde::{Deserialize, Serialize};

use crate::protocol::{ActionReport, CacheOp, CacheRecord, Entry, EventJson, FlowSpec, RunRequest};
use crate::sandbox::{HostIo, Limits, RunOutput, Sandbox};

/// Most MFA commands (challenge or enroll) one flow may issue.
pub const MAX_MFA_COMMANDS: u32 = 4;
/// Largest custom-claims payload per token.
pub const MAX_CLAIMS_BYTES: usize = 100 * 1024;
/// Largest metadata object a flow may leave behind, per kind.
pub const MAX_METADATA_BYTES: usize = 32 * 1024;

/// Claim names Auth0 reserves (reference §9.2): a custom claim with one of these names is dropped.
pub const RESTRICTED_CLAIMS: &[&str] = &[
    "acr",
    "act",
    "active",
    "amr",
    "at_hash",
    "ath",
    "attest",
    "aud",
    "auth_time",
    "authorization_details",
    "azp",
    "c_hash",
    "client_id",
    "cnf",
    "cty",
    "dest",
    "entitlements",
    "events",
    "exp",
    "groups",
    "gty",
    "htm",
    "htu",
    "iat",
    "internalService",
    "iss",
    "jcard",
    "jku",
    "jti",
    "jwe",
    "jwk",
    "kid",
    "may_act",
    "mky",
    "nbf",
    "nonce",
    "object_id",
    "org_id",
    "org_name",
    "orig",
    "origid",
    "permissions",
    "roles",
    "rph",
    "s_hash",
    "sid",
    "sip_callid",
    "sip_cseq_num",
    "sip_date",
    "sip_from_tag",
    "sip_via_branch",
    "sub",
    "sub_jwk",
    "toe",
    "txn",
    "typ",
    "uuid",
    "vot",
    "vtm",
    "x5t#S256",
    "scope",
];

/// The tenant settings a flow depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSettings {
    /// Factors enabled on the tenant.
    pub factors_enabled: BTreeSet<FactorType>,
    /// "Customize MFA Factors using Actions": required for `challengeWith*`/`enrollWith*`.
    pub customize_with_actions: bool,
    /// Limits of each trigger execution.
    #[serde(skip)]
    pub limits: Limits,
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            factors_enabled: FactorType::ALL.into_iter().collect(),
            customize_with_actions: true,
            limits: Limits::default(),
        }
    }
}

/// Where the trigger's `api.cache` lives between executions.
pub trait CacheStore: Send + Sync {
    /// The cache as an execution starts.
    fn load(&self, trigger: Trigger) -> BTreeMap<String, CacheRecord>;
    /// Applies an execution's changes.
    fn apply(&self, trigger: Trigger, ops: &[CacheOp]);
}

/// A process-local cache (what Auth0 documents: reliable within one execution only).
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: std::sync::Mutex<BTreeMap<Trigger, BTreeMap<String, CacheRecord>>>,
}

impl CacheStore for MemoryCache {
    fn load(&self, trigger: Trigger) -> BTreeMap<String, CacheRecord> {
        self.entries.lock().map(|e| e.get(&trigger).cloned().unwrap_or_default()).unwrap_or_default()
    }

    fn apply(&self, trigger: Trigger, ops: &[CacheOp]) {
        if let Ok(mut entries) = self.entries.lock() {
            let cache = entries.entry(trigger).or_default();
            for op in ops {
                match op {
                    CacheOp::Set { key, record } => {
                        cache.insert(key.clone(), record.clone());
                    }
                    CacheOp::Delete { key } => {
                        cache.remove(key);
                    }
                }
            }
        }
    }
}

/// An MFA command or redirect recorded by an action, waiting for its turn. Commands are planned (usable factors
/// decided) only when their turn comes, so each sees what the prompts before it changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Queued {
    action: usize,
    name: String,
    command: Command,
}

/// What the flow has gathered so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Accumulated {
    executed: Vec<String>,
    prompts: Vec<Prompt>,
    id_token_claims: JsonMap,
    access_token_claims: JsonMap,
    scope_changes: BTreeMap<String, ScopeChange>,
    app_metadata: JsonMap,
    user_metadata: JsonMap,
    multifactor: Option<MultifactorRequest>,
    mfa_commands: u32,
    completed: BTreeSet<FactorType>,
    enrolled: Vec<FactorType>,
    primary_user_id: Option<String>,
    tenant_logs: Vec<TenantLog>,
    logs: Vec<ConsoleLog>,
    requests: Vec<RecordedRequest>,
}

/// A flow waiting for the user: serializable, resumable on any process that has the same flow loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PausedFlow {
    /// The flow version it started with.
    pub flow_hash: String,
    /// Names of the flow's actions when it paused (to detect a flow that changed meanwhile).
    pub action_names: Vec<String>,
    /// The event as the next action will see it.
    pub event: PostLoginEvent,
    /// Index of the next action to run once the prompts are done.
    pub next_action: usize,
    /// Action waiting in `onContinuePostLogin` (after `api.redirect.sendUserTo`).
    pub continue_action: Option<usize>,
    current: Option<Prompt>,
    queue: Vec<Queued>,
    acc: Accumulated,
}

impl PausedFlow {
    /// The prompt the user must complete now.
    pub fn prompt(&self) -> Option<&Prompt> {
        self.current.as_ref()
    }

    /// The outcome so far, as if the user abandoned here.
    pub fn abandon(self) -> Outcome {
        let mut acc = self.acc;
        let redirect =
            self.current.as_ref().filter(|p| p.command == PromptCommand::SendUserTo).and_then(|p| p.url.clone());
        acc.prompts.extend(self.current);
        Outcome { redirect, ..build_outcome(FlowResult::Paused, None, None, acc, &self.event) }
    }
}

/// How a flow step ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The flow finished (allow, deny or error).
    Done(Box<Outcome>),
    /// The flow waits for the user.
    Paused(Box<PausedFlow>),
}

/// What the user did at a pause.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// Completed (or enrolled) this factor.
    Factor(FactorType),
    /// Came back to `/continue` after a redirect, with this request.
    Continue {
        /// Query of the `/continue` request.
        query: JsonMap,
        /// Form body of the `/continue` request.
        body: JsonMap,
    },
}

/// Why a paused flow could not be resumed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The flow is not waiting for anything.
    #[error("the flow is not paused")]
    NotPaused,
    /// The completion does not answer the prompt.
    #[error("{0} was not offered at this prompt (offered: {1})")]
    NotOffered(String, String),
}

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
            };
            entry = Entry::Execute;
            // Fair shares per user: one user's logins that run away cannot take every worker.
            let key = Some(state.event.user.user_id.as_str()).filter(|id| !id.is_empty());
            let output = self.sandbox.run_for(key, request, self.settings.limits, self.io).await;
            let RunOutput { report, last_started, logs, requests } = output;
            let redact = redactor(&state.event);
            for (index, level, message) in logs {
                state.acc.logs.push(ConsoleLog { action: self.name(index), level, message: redact(message) });
            }
            for record in requests {
                state.acc.requests.push(RecordedRequest {
                    action: self.name(record.action),
                    method: record.request.method,
                    url: redact(record.request.url),
                    headers: record
                        .request
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), redact(v)))
                        .collect(),
                    body: record.request.body.map(&redact),
                    status: record.status,
                });
            }
            let report = match report {
                Ok(report) => report,
                Err(failure) => {
                    let index = last_started.unwrap_or(state.next_action);
                    let name = self.name(index);
                    for ran in state.next_action..=index {
                        state.acc.executed.push(self.name(ran));
                    }
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

    fn name(&self, index: usize) -> String {
        self.flow.actions.get(index).map(|a| a.name.clone()).unwrap_or_else(|| format!("action #{index}"))
    }

    /// Applies one action's commands; returns the step when the action ends the flow.
    fn apply(
        &self,
        state: &mut PausedFlow,
        name: &str,
        report: &ActionReport,
        redact: &dyn Fn(String) -> String,
    ) -> Option<Step> {
        if let Some(error) = &report.error {
            let location = match (error.line, error.column) {
                (Some(line), Some(column)) => format!(" ({name}:{line}:{column})"),
                (Some(line), None) => format!(" ({name}:{line})"),
                _ => String::new(),
            };
            // Redacted first, then cut: a cut could leave half a secret that the redaction would no longer find.
            let reason = cap_reason(redact(format!("{}{location}", error.message)));
            state
                .acc
                .tenant_logs
                .push(TenantLog::new("actions_execution_failed", format!("Action {name} failed: {reason}")));
            return Some(Step::Done(Box::new(fail(state.clone(), reason, Some(name.to_owned())))));
        }
        // A deny ends the flow after this action whatever else it asked for: its MFA and redirect commands are
        // ignored, its metadata changes still apply.
        let deny = report.commands.iter().find_map(|c| match c {
            Command::Deny { reason } => Some(cap_reason(reason.clone())),
            _ => None,
        });
        let mut queued = Vec::new();
        let mut has_mfa_step = false;
        let mut has_redirect = false;
        for command in &report.commands {
            match command {
                Command::Deny { .. } => {}
                Command::SetCustomClaim { token, name: claim, value } => {
                    let claims = match token {
                        TokenKind::Id => &mut state.acc.id_token_claims,
                        TokenKind::Access => &mut state.acc.access_token_claims,
                    };
                    claims.insert(claim.clone(), value.clone());
                }
                Command::ModifyScope { change, scope } => {
                    state.acc.scope_changes.insert(scope.clone(), *change);
                }
                Command::EnableMultifactor { provider, allow_remember_browser } => {
                    state.acc.multifactor = Some(MultifactorRequest {
                        provider: *provider,
                        allow_remember_browser: *allow_remember_browser,
                    });
                }
                Command::ChallengeWith { .. }
                | Command::ChallengeWithAny { .. }
                | Command::EnrollWith { .. }
                | Command::EnrollWithAny { .. } => {
                    if deny.is_some() {
                        continue;
                    }
                    has_mfa_step = true;
                    state.acc.mfa_commands += 1;
                    if !self.settings.customize_with_actions {
                        let reason = "api.authentication challenge and enroll commands need the \"Customize MFA Factors \
                                      using Actions\" setting (mfa.customize_with_actions = true)";
                        state.acc.tenant_logs.push(TenantLog::new("mfar", reason));
                        return Some(Step::Done(Box::new(fail(
                            state.clone(),
                            reason.to_owned(),
                            Some(name.to_owned()),
                        ))));
                    }
                    if state.acc.mfa_commands > MAX_MFA_COMMANDS {
                        let reason = format!(
                            "The flow issued more than {MAX_MFA_COMMANDS} MFA challenge or enrollment commands; at most \
                             {MAX_MFA_COMMANDS} are allowed per login"
                        );
                        return Some(Step::Done(Box::new(fail(state.clone(), reason, Some(name.to_owned())))));
                    }
                    queued.push(Queued { action: report.index, name: name.to_owned(), command: command.clone() });
                }
                Command::RecordMethod { url } => {
                    state.event.authentication.methods.push(AuthMethod {
                        name: url.clone(),
                        timestamp: now_iso(),
                        kind: None,
                    });
                }
                Command::SetPrimaryUser { user_id } => state.acc.primary_user_id = Some(user_id.clone()),
                Command::SetMetadata { target, key, value } => {
                    let map = match target {
                        MetadataTarget::App => &mut state.acc.app_metadata,
                        MetadataTarget::User => &mut state.acc.user_metadata,
                    };
                    map.insert(key.clone(), value.clone());
                }
                Command::Redirect { .. } => {
                    if deny.is_none() && !has_redirect {
                        has_redirect = true;
                        queued.push(Queued { action: report.index, name: name.to_owned(), command: command.clone() });
                    }
                }
            }
        }
        if let Some(reason) = deny {
            let acc = std::mem::take(&mut state.acc);
            return Some(Step::Done(Box::new(Outcome {
                failed_action: Some(name.to_owned()),
                ..build_outcome(FlowResult::Deny, Some(reason), None, acc, &state.event)
            })));
        }
        if has_redirect && has_mfa_step {
            let reason = "api.redirect.sendUserTo cannot be used in the same action as an MFA challenge or \
                          enrollment: move the redirect to its own action"
                .to_owned();
            return Some(Step::Done(Box::new(fail(state.clone(), reason, Some(name.to_owned())))));
        }
        state.queue.extend(queued);
        None
    }
}

/// Replaces the values of `event.secrets` (4 characters or more) in captured text.
/// Longest deny reason or action error message kept, in characters (Auth0 cuts provider reasons at 1,024 too):
/// what an action says goes into a response, a tenant log and the store, and must not grow them without bound.
pub const MAX_REASON_CHARS: usize = 1024;

/// `reason`, cut to [`MAX_REASON_CHARS`] characters.
fn cap_reason(mut reason: String) -> String {
    if let Some((at, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(at);
    }
    reason
}

fn redactor(event: &PostLoginEvent) -> impl Fn(String) -> String + use<> {
    let secrets: Vec<String> = event.secrets.values().filter(|s| s.len() >= 4).cloned().collect();
    move |text: String| secrets.iter().fold(text, |t, s| t.replace(s.as_str(), "[REDACTED]"))
}

enum Planned {
    Prompt(Prompt, Vec<TenantLog>),
    Skip(Vec<TenantLog>),
    Fail(String, Vec<TenantLog>),
}

const CHALLENGE_MFAR: &str = "An MFA challenge is used in a PostLogin action but the requested factors are not properly \
     set up. To perform MFA, enable the requested factors and ensure the user is enrolled with them.";
const ENROLL_MFAR: &str = "An MFA enrollment is used in a PostLogin action but the requested factors are not properly \
     set up. To perform MFA, enable the requested factors and ensure the user is not already enrolled with them.";
const ENROLL_NEEDS_CHALLENGE: &str = "An MFA enrollment was requested but the user is already enrolled in MFA. \
     Challenge with at least one existing factor before enrolling a new one.";

fn challenge_warning(factor: FactorType) -> TenantLog {
    TenantLog::new(
        "w",
        format!(
            "An MFA challenge is used in a PostLogin action, but the requested factor {factor} is not properly set up. \
             Enable the requested factor and ensure the user is enrolled with it."
        ),
    )
}

fn enroll_warning(factor: FactorType) -> TenantLog {
    TenantLog::new(
        "w",
        format!(
            "An MFA enrollment is used in a PostLogin action, but the requested factor {factor} is not properly set up. \
             Enable the requested factor and ensure the user is not already enrolled with it."
        ),
    )
}

/// Decides what one MFA command asks of the user, given what is enabled, enrolled and already done.
fn plan_prompt(
    command: &Command,
    event: &PostLoginEvent,
    acc: &Accumulated,
    enabled: &BTreeSet<FactorType>,
) -> Planned {
    let (kind, requested): (PromptCommand, Vec<FactorSelector>) = match command {
        Command::ChallengeWith { factor, additional_factors } => {
            (PromptCommand::ChallengeWith, std::iter::once(factor.clone()).chain(additional_factors.clone()).collect())
        }
        Command::ChallengeWithAny { factors } => (PromptCommand::ChallengeWithAny, factors.clone()),
        Command::EnrollWith { factor, additional_factors } => {
            (PromptCommand::EnrollWith, std::iter::once(factor.clone()).chain(additional_factors.clone()).collect())
        }
        Command::EnrollWithAny { factors } => (PromptCommand::EnrollWithAny, factors.clone()),
        _ => return Planned::Skip(Vec::new()),
    };
    let mut usable: Vec<FactorSelector> = Vec::new();
    let mut warnings = Vec::new();
    if kind.is_enrollment() {
        let has_enrollments = !event.user.enrolled_factors.is_empty();
        let only_email = event.user.enrolled_factors.iter().all(|f| f.kind == FactorType::Email);
        if has_enrollments && !only_email && acc.completed.is_empty() {
            return Planned::Fail(ENROLL_NEEDS_CHALLENGE.to_owned(), Vec::new());
        }
        let mut already = 0;
        for factor in requested.iter() {
            let enrolled = event.is_enrolled(factor.kind) || acc.enrolled.contains(&factor.kind);
            if !enabled.contains(&factor.kind) || factor.kind == FactorType::Email {
                warnings.push(enroll_warning(factor.kind));
            } else if enrolled {
                already += 1;
                warnings.push(enroll_warning(factor.kind));
            } else if !usable.iter().any(|u| u.kind == factor.kind) {
                usable.push(factor.clone());
            }
        }
        if usable.is_empty() {
            return if already > 0 && already == requested.len() {
                Planned::Skip(warnings)
            } else {
                Planned::Fail(ENROLL_MFAR.to_owned(), warnings)
            };
        }
    } else {
        if requested.iter().any(|f| acc.completed.contains(&f.kind)) {
            return Planned::Skip(Vec::new());
        }
        for factor in requested.iter() {
            if !enabled.contains(&factor.kind) || !event.is_enrolled(factor.kind) {
                warnings.push(challenge_warning(factor.kind));
            } else if !usable.iter().any(|u| u.kind == factor.kind) {
                usable.push(factor.clone());
            }
        }
        if usable.is_empty() {
            return Planned::Fail(CHALLENGE_MFAR.to_owned(), warnings);
        }
    }
    let (factors, additional_factors) = match kind {
        PromptCommand::ChallengeWith | PromptCommand::EnrollWith => {
            let mut rest = usable;
            let first = rest.remove(0);
            (vec![first], rest)
        }
        _ => (usable, Vec::new()),
    };
    Planned::Prompt(
        Prompt { action: String::new(), command: kind, factors, additional_factors, url: None, completed_with: None },
        warnings,
    )
}

fn fail(state: PausedFlow, reason: String, action: Option<String>) -> Outcome {
    build_outcome(FlowResult::Error, Some(reason), action, state.acc, &state.event)
}

/// Ends a flow whose actions all ran: applies the end-of-flow rules.
fn finish(state: PausedFlow) -> Outcome {
    let mut acc = state.acc;
    if acc.mfa_commands > 0 {
        acc.multifactor = None;
    }
    let mut warnings = Vec::new();
    for (token, claims) in [("ID", &mut acc.id_token_claims), ("access", &mut acc.access_token_claims)] {
        claims.retain(|name, _| {
            let restricted = RESTRICTED_CLAIMS.contains(&name.as_str());
            let auth0_namespace = is_auth0_namespace(name);
            if restricted || auth0_namespace {
                let why = if restricted { "is a restricted claim name" } else { "uses an Auth0 namespace" };
                warnings.push(TenantLog::new(
                    "w",
                    format!("Custom claim '{name}' {why} and was not added to the {token} token."),
                ));
            }
            !restricted && !auth0_namespace
        });
    }
    acc.tenant_logs.extend(warnings);
    let sizes = [
        ("ID", serde_json::Value::Object(acc.id_token_claims.clone()).to_string().len()),
        ("access", serde_json::Value::Object(acc.access_token_claims.clone()).to_string().len()),
    ];
    for (token, size) in sizes {
        if size > MAX_CLAIMS_BYTES {
            let reason =
                format!("The custom claims of the {token} token are {size} bytes; the limit is {MAX_CLAIMS_BYTES}");
            return build_outcome(FlowResult::Error, Some(reason), None, acc, &state.event);
        }
    }
    let sizes = [
        ("app_metadata", merged_size(&acc.app_metadata, &state.event.user.app_metadata)),
        ("user_metadata", merged_size(&acc.user_metadata, &state.event.user.user_metadata)),
    ];
    for (kind, size) in sizes {
        if size > MAX_METADATA_BYTES {
            let reason = format!("The user's {kind} would be {size} bytes; the limit is {MAX_METADATA_BYTES}");
            return build_outcome(FlowResult::Error, Some(reason), None, acc, &state.event);
        }
    }
    build_outcome(FlowResult::Allow, None, None, acc, &state.event)
}

/// Size in bytes of `current` once `changes` are applied.
fn merged_size(changes: &JsonMap, current: &JsonMap) -> usize {
    let mut merged = current.clone();
    for (k, v) in changes {
        if v.is_null() {
            merged.remove(k);
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    serde_json::Value::Object(merged).to_string().len()
}

/// Whether a claim name uses a namespace Auth0 reserves (`auth0.com`, `webtask.io`, `webtask.run`, `urn:auth0`).
fn is_auth0_namespace(name: &str) -> bool {
    if name.starts_with("urn:auth0") {
        return true;
    }
    let Ok(url) = url::Url::parse(name) else { return false };
    let Some(host) = url.host_str() else { return false };
    ["auth0.com", "webtask.io", "webtask.run"].iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The outcome of a flow. What a denied flow leaves to apply is its metadata changes (Auth0 applies them); a
/// failed flow leaves nothing; no tokens follow either, so neither keeps claims, scopes or a deferred MFA request.
fn build_outcome(
    result: FlowResult,
    reason: Option<String>,
    failed_action: Option<String>,
    mut acc: Accumulated,
    event: &PostLoginEvent,
) -> Outcome {
    if matches!(result, FlowResult::Deny | FlowResult::Error) {
        acc.id_token_claims.clear();
        acc.access_token_claims.clear();
        acc.scope_changes.clear();
        acc.multifactor = None;
        acc.primary_user_id = None;
    }
    if result == FlowResult::Error {
        acc.app_metadata.clear();
        acc.user_metadata.clear();
    }
    let mut scopes = ScopeChanges::default();
    for (scope, change) in acc.scope_changes {
        match change {
            ScopeChange::Add => scopes.added.push(scope),
            ScopeChange::Remove => scopes.removed.push(scope),
        }
    }
    Outcome {
        result,
        reason,
        failed_action,
        executed: acc.executed,
        prompts: acc.prompts,
        multifactor: acc.multifactor,
        id_token_claims: acc.id_token_claims,
        access_token_claims: acc.access_token_claims,
        scopes,
        app_metadata: acc.app_metadata,
        user_metadata: acc.user_metadata,
        methods: event.authentication.methods.clone(),
        enrolled: acc.enrolled,
        redirect: None,
        primary_user_id: acc.primary_user_id,
        tenant_logs: acc.tenant_logs,
        logs: acc.logs,
        requests: acc.requests,
    }
}

/// Now, as an ISO-8601 UTC timestamp with milliseconds.
pub fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_with(factors: &[FactorType]) -> PostLoginEvent {
        let mut event = PostLoginEvent::default();
        event.user.enrolled_factors = factors.iter().map(|&kind| EnrolledFactor { kind, options: None }).collect();
        event
    }

    fn challenge_any(kinds: &[FactorType]) -> Command {
        Command::ChallengeWithAny { factors: kinds.iter().map(|&k| FactorSelector::of(k)).collect() }
    }

    #[test]
    fn unusable_factor_among_usable_ones_is_dropped_with_a_warning() {
        let event = event_with(&[FactorType::Otp]);
        let enabled = FactorType::ALL.into_iter().collect();
        let planned = plan_prompt(
            &challenge_any(&[FactorType::Otp, FactorType::Phone]),
            &event,
            &Accumulated::default(),
            &enabled,
        );
        let Planned::Prompt(prompt, warnings) = planned else { panic!("expected a prompt") };
        assert_eq!(prompt.factors, vec![FactorSelector::of(FactorType::Otp)]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, "w");
        assert!(warnings[0].description.contains("requested factor phone is not properly set up"));
    }

    #[test]
    fn no_usable_factor_fails_with_mfar() {
        let event = event_with(&[FactorType::Otp]);
        let enabled: BTreeSet<_> = [FactorType::Email].into_iter().collect();
        let planned = plan_prompt(&challenge_any(&[FactorType::Otp]), &event, &Accumulated::default(), &enabled);
        assert!(matches!(planned, Planned::Fail(ref m, _) if m == CHALLENGE_MFAR));
    }

    #[test]
    fn a_factor_completed_earlier_in_the_transaction_satisfies_the_command() {
        let event = event_with(&[FactorType::Otp, FactorType::Phone]);
        let enabled = FactorType::ALL.into_iter().collect();
        let acc = Accumulated { completed: [FactorType::Phone].into_iter().collect(), ..Accumulated::default() };
        let planned = plan_prompt(&challenge_any(&[FactorType::Phone, FactorType::Otp]), &event, &acc, &enabled);
        assert!(matches!(planned, Planned::Skip(ref w) if w.is_empty()));
    }

    #[test]
    fn enrolling_needs_a_prior_challenge_when_the_user_has_factors() {
        let event = event_with(&[FactorType::Otp]);
        let enabled = FactorType::ALL.into_iter().collect();
        let enroll =
            Command::EnrollWith { factor: FactorSelector::of(FactorType::Phone), additional_factors: Vec::new() };
        let planned = plan_prompt(&enroll, &event, &Accumulated::default(), &enabled);
        assert!(matches!(planned, Planned::Fail(ref m, _) if m == ENROLL_NEEDS_CHALLENGE));
        let acc = Accumulated { completed: [FactorType::Otp].into_iter().collect(), ..Accumulated::default() };
        assert!(matches!(plan_prompt(&enroll, &event, &acc, &enabled), Planned::Prompt(..)));
    }

    #[test]
    fn auth0_namespaces_are_recognised() {
        assert!(is_auth0_namespace("https://auth0.com/claims/x"));
        assert!(is_auth0_namespace("https://tenant.auth0.com/roles"));
        assert!(is_auth0_namespace("urn:auth0:x"));
        assert!(!is_auth0_namespace("https://example.com/roles"));
        assert!(!is_auth0_namespace("roles_x"));
    }
}
