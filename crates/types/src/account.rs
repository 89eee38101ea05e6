//! What the account triggers decided: `pre-user-registration`, `post-user-registration`, `post-change-password` and
//! `password-reset-post-challenge`.
//!
//! The sign-up, email verification and password reset flows run these triggers and act on one [`AccountOutcome`].
//! Only `password-reset-post-challenge` can pause (a challenge or a redirect); the caller then performs what was
//! asked and resumes the run from [`AccountOutcome::resume`], so the outcome is plain data it can store anywhere.

use serde::{Deserialize, Serialize};

use crate::JsonMap;
use crate::outcome::{ActionExecution, ConsoleLog, Prompt, RecordedRequest, TenantLog};

/// How a run of an account trigger ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountResult {
    /// Every action ran: the sign-up is stored (with the metadata changes), the reset goes on to the new password form.
    Allow,
    /// `api.access.deny` or (pre-user-registration) `api.validation.error`: the sign-up or reset is refused.
    Deny,
    /// An action threw, a limit stopped the run, or what the actions asked for could not be honoured: the sign-up or
    /// reset fails closed. After a sign-up or a password change (the post-* triggers) nothing is undone: the caller
    /// logs it.
    Failed,
    /// password-reset-post-challenge: an action asked for an MFA challenge ([`AccountOutcome::challenge`]); the run
    /// resumes from [`AccountOutcome::resume`] once the user completed it.
    Challenge,
    /// password-reset-post-challenge: an action called `api.redirect.sendUserTo` ([`AccountOutcome::redirect`]); the
    /// run resumes in that action's `onContinuePostChallenge` when the user comes back.
    Redirect,
}

/// Where a paused password-reset-post-challenge run goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountResume {
    /// Index of the action to run next: after a challenge, the one after the action that asked for it; after a
    /// redirect, the redirecting action itself.
    pub next_action: usize,
    /// Whether that action resumes in `onContinuePostChallenge` (after a redirect) rather than `onExecutePostChallenge`.
    pub is_continue: bool,
    /// The version of the flow that paused: a resume against another version (the actions were edited meanwhile)
    /// fails closed rather than skipping or repeating actions.
    pub flow_hash: String,
}

/// Everything a run of an account trigger produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountOutcome {
    /// How the run ended.
    pub result: AccountResult,
    /// For the logs: the deny reason, `validation.error`'s message, or why the run failed. Secrets redacted, at most
    /// 1,024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For the user: `api.access.deny`'s `userMessage` (pre-user-registration), its `reason` (password reset), or
    /// `api.validation.error`'s message. Secrets redacted. `None`: show a generic message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_message: Option<String>,
    /// `api.validation.error`'s error code (pre-user-registration); `None` for every other result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The action that denied or failed (a pause names its action in `challenge.action`, or by `resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_action: Option<String>,
    /// `api.user.setUserMetadata` changes for the user being created (pre-user-registration; `null` removes a key):
    /// apply them with [`crate::merge_metadata`]. Empty unless the result is `allow`.
    pub user_metadata: JsonMap,
    /// `api.user.setAppMetadata` changes, likewise.
    pub app_metadata: JsonMap,
    /// The challenge asked for, as the action asked for it (result `challenge`): the caller keeps the factors the user
    /// has enrolled and the tenant enabled, and fails the reset when none is left, as Auth0 does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Prompt>,
    /// Where to send the browser, query applied (result `redirect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// Where the run goes on (results `challenge` and `redirect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<AccountResume>,
    /// Warnings for the tenant log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_logs: Vec<TenantLog>,
    /// Actions that ran, in order.
    pub executed: Vec<String>,
    /// `console.*` output, secrets redacted.
    pub logs: Vec<ConsoleLog>,
    /// `fetch` calls, secrets redacted.
    pub requests: Vec<RecordedRequest>,
    /// Each action run: when, how long, what it asked for, how it failed (the tenant log's `details.actions`).
    #[serde(default)]
    pub executions: Vec<ActionExecution>,
}

impl AccountOutcome {
    /// An outcome with `result` and nothing else.
    pub fn new(result: AccountResult) -> Self {
        AccountOutcome {
            result,
            reason: None,
            user_message: None,
            code: None,
            failed_action: None,
            user_metadata: JsonMap::new(),
            app_metadata: JsonMap::new(),
            challenge: None,
            redirect: None,
            resume: None,
            tenant_logs: Vec::new(),
            executed: Vec::new(),
            logs: Vec::new(),
            requests: Vec::new(),
            executions: Vec::new(),
        }
    }

    /// Whether the sign-up or reset may go on: every action ran without refusing it.
    pub fn is_allowed(&self) -> bool {
        self.result == AccountResult::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_use_snake_case_and_unknown_ones_are_refused() {
        assert_eq!(serde_json::to_value(AccountResult::Challenge).ok(), Some(serde_json::json!("challenge")));
        assert!(serde_json::from_value::<AccountResult>(serde_json::json!("maybe")).is_err());
    }

    #[test]
    fn an_outcome_round_trips_and_leaves_out_what_is_empty() {
        let mut outcome = AccountOutcome::new(AccountResult::Redirect);
        outcome.redirect = Some("https://example.com/verify?state=x".to_owned());
        outcome.resume = Some(AccountResume { next_action: 1, is_continue: true, flow_hash: "abc".to_owned() });
        let json = serde_json::to_value(&outcome).unwrap();
        assert!(json.get("code").is_none() && json.get("challenge").is_none(), "{json}");
        assert_eq!(json["resume"]["next_action"], 1);
        assert_eq!(serde_json::from_value::<AccountOutcome>(json).unwrap(), outcome);
    }
}
