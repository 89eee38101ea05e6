//! The outcome document of a flow: what `gatehouse run` prints and fixtures match against.

use serde::{Deserialize, Serialize};

use crate::JsonMap;
use crate::command::MfaProvider;
use crate::event::AuthMethod;
use crate::factor::{FactorSelector, FactorType};

/// How a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowResult {
    /// Every action ran; tokens may be issued.
    Allow,
    /// An action called `api.access.deny`.
    Deny,
    /// An action threw, timed out, ran out of memory, or a command could not be honoured.
    Error,
    /// The flow waits for the user (an MFA prompt or a redirect) that was not completed.
    Paused,
}

/// The outcome document (see README "The outcome document").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// How the flow ended.
    pub result: FlowResult,
    /// Deny reason or error message.
    pub reason: Option<String>,
    /// The action file that denied or failed.
    pub failed_action: Option<String>,
    /// Action file names that ran, in order.
    pub executed: Vec<String>,
    /// Every pause, in order.
    pub prompts: Vec<Prompt>,
    /// `api.multifactor.enable` still in force at the end of the flow.
    pub multifactor: Option<MultifactorRequest>,
    /// Custom claims for the ID token.
    pub id_token_claims: JsonMap,
    /// Custom claims for the access token.
    pub access_token_claims: JsonMap,
    /// Scope changes.
    pub scopes: ScopeChanges,
    /// `app_metadata` changes to persist (`null` removes a key).
    pub app_metadata: JsonMap,
    /// `user_metadata` changes to persist (`null` removes a key).
    pub user_metadata: JsonMap,
    /// The final `event.authentication.methods`.
    pub methods: Vec<AuthMethod>,
    /// Factors enrolled during the flow.
    pub enrolled: Vec<FactorType>,
    /// Where a redirect sent the user, when the flow ended paused on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// `api.authentication.setPrimaryUser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_user_id: Option<String>,
    /// Tenant log entries the flow produced.
    pub tenant_logs: Vec<TenantLog>,
    /// `console.*` output, per action.
    pub logs: Vec<ConsoleLog>,
    /// `fetch` calls made, in order.
    pub requests: Vec<RecordedRequest>,
    /// Calls kept but not applied: Gatehouse has no enterprise session store, Forms or SAML responses to apply
    /// them to (`api.session.*`, `api.refreshToken.*`, `api.prompt.render`, `api.samlResponse.*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recorded: Vec<RecordedCall>,
    /// Each action run, in order: when, how long, what it asked for, how it failed.
    #[serde(default)]
    pub executions: Vec<ActionExecution>,
}

/// One run of one action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionExecution {
    /// Action file name.
    pub action: String,
    /// When it started (ISO-8601), when the sandbox reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// How long it ran, milliseconds.
    pub duration_ms: f64,
    /// Its `api.*` calls, summarized without the values they set ([`crate::Command::summary`]).
    pub commands: Vec<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One `api.*` call recorded without an effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// Action file name.
    pub action: String,
    /// The call, e.g. `session.setExpiresAt`.
    pub api: String,
    /// Its arguments.
    pub args: Vec<serde_json::Value>,
}

impl Outcome {
    /// An empty outcome with the given result.
    pub fn new(result: FlowResult) -> Self {
        Outcome {
            result,
            reason: None,
            failed_action: None,
            executed: Vec::new(),
            prompts: Vec::new(),
            multifactor: None,
            id_token_claims: JsonMap::new(),
            access_token_claims: JsonMap::new(),
            scopes: ScopeChanges::default(),
            app_metadata: JsonMap::new(),
            user_metadata: JsonMap::new(),
            methods: Vec::new(),
            enrolled: Vec::new(),
            redirect: None,
            primary_user_id: None,
            tenant_logs: Vec::new(),
            logs: Vec::new(),
            requests: Vec::new(),
            recorded: Vec::new(),
            executions: Vec::new(),
        }
    }
}

/// Which of the four MFA commands (or a redirect) caused a pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromptCommand {
    /// `challengeWith`.
    #[serde(rename = "challengeWith")]
    ChallengeWith,
    /// `challengeWithAny`.
    #[serde(rename = "challengeWithAny")]
    ChallengeWithAny,
    /// `enrollWith`.
    #[serde(rename = "enrollWith")]
    EnrollWith,
    /// `enrollWithAny`.
    #[serde(rename = "enrollWithAny")]
    EnrollWithAny,
    /// `redirect.sendUserTo`.
    #[serde(rename = "sendUserTo")]
    SendUserTo,
}

impl PromptCommand {
    /// Whether the prompt enrolls a new factor.
    pub fn is_enrollment(self) -> bool {
        matches!(self, PromptCommand::EnrollWith | PromptCommand::EnrollWithAny)
    }
}

/// One pause of the flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// The action that asked for it.
    pub action: String,
    /// The command.
    pub command: PromptCommand,
    /// Usable factors offered first (for `challengeWith`, the default factor; for `*Any`, the picker's list).
    pub factors: Vec<FactorSelector>,
    /// Usable factors behind "Try another method".
    pub additional_factors: Vec<FactorSelector>,
    /// The redirect URL, for `sendUserTo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What the user completed (`otp`, `continue`, ...), or `null` when abandoned.
    pub completed_with: Option<String>,
}

impl Prompt {
    /// Every factor the user may complete this prompt with.
    pub fn offered(&self) -> impl Iterator<Item = FactorType> + '_ {
        self.factors.iter().chain(&self.additional_factors).map(|f| f.kind)
    }
}

/// `api.multifactor.enable` in force at the end of the flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultifactorRequest {
    /// Provider.
    pub provider: MfaProvider,
    /// Whether "remember this browser" may be offered.
    #[serde(rename = "allowRememberBrowser")]
    pub allow_remember_browser: bool,
}

/// Scope changes from `addScope` / `removeScope` (a later call on the same scope wins).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeChanges {
    /// Scopes added.
    pub added: Vec<String>,
    /// Scopes removed.
    pub removed: Vec<String>,
}

/// A tenant log entry (reference §10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantLog {
    /// Event code: `s`, `f`, `w`, `mfar`, `gd_*`...
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    pub description: String,
}

impl TenantLog {
    /// A new entry.
    pub fn new(kind: &str, description: impl Into<String>) -> Self {
        TenantLog { kind: kind.to_owned(), description: description.into() }
    }
}

/// One `console.*` call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsoleLog {
    /// Action file name.
    pub action: String,
    /// `log`, `info`, `warn`, `error`, `debug`.
    pub level: String,
    /// The formatted message.
    pub message: String,
}

/// One `fetch` call an action made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Action file name.
    pub action: String,
    /// HTTP method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Request headers, names lower-cased.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Request body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Response status, or `null` when the request failed.
    pub status: Option<u16>,
}
