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

use gatehouse_types::outcome::{ActionExecution, MultifactorRequest, RecordedCall, RecordedRequest};
use gatehouse_types::{
    Command, ConsoleLog, FactorType, FlowResult, JsonMap, Outcome, PostLoginEvent, Prompt, PromptCommand, ScopeChange,
    TenantLog,
};
use serde::{Deserialize, Serialize};

mod apply;
mod cache;
mod outcome;
mod plan;
mod runner;

pub(crate) use apply::{action_error_reason, cap_reason, secret_redactor};
pub use cache::{CacheStore, MemoryCache};
pub(crate) use outcome::{drop_reserved_claims, merged_size};
pub(crate) use plan::challenge_already_satisfied;
pub use runner::FlowRunner;
pub(crate) use runner::{execution, record_action_metrics};

use outcome::build_outcome;

use crate::sandbox::Limits;

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
    #[serde(default)]
    recorded: Vec<RecordedCall>,
    #[serde(default)]
    executions: Vec<ActionExecution>,
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

/// Now, as an ISO-8601 UTC timestamp with milliseconds.
pub fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use gatehouse_types::FactorSelector;
    use gatehouse_types::event::EnrolledFactor;

    use super::outcome::is_auth0_namespace;
    use super::plan::{CHALLENGE_MFAR, ENROLL_NEEDS_CHALLENGE, Planned, plan_prompt};
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
