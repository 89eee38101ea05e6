//! Running the account triggers: `pre-user-registration`, `post-user-registration`, `post-change-password` and
//! `password-reset-post-challenge`, every action in order until one refuses, fails or pauses.
//!
//! What each can decide ([`AccountResult`]):
//! - pre-user-registration: `api.access.deny(reason, userMessage)` and `api.validation.error(code, message)` refuse
//!   the sign-up; `api.user.setUserMetadata`/`setAppMetadata` changes go to the user being created, within the same
//!   32 KiB per metadata object as post-login.
//! - post-user-registration and post-change-password: nothing but `api.cache`; an action that throws fails the run,
//!   which the caller only logs (the user is already stored).
//! - password-reset-post-challenge: `api.access.deny(reason)` refuses the reset; `api.authentication.challengeWith*`
//!   and `api.redirect.sendUserTo` end the run after their action, as post-login's pauses do. The caller performs the
//!   challenge or the redirect and resumes from [`AccountOutcome::resume`]: after a challenge with the next action
//!   (the completed factor added to `event.authentication.methods`, [`complete_challenge`]), after a redirect in the
//!   redirecting action's `onContinuePostChallenge` ([`continue_after_redirect`]). A challenge whose factor was already
//!   completed in this reset is skipped, as Auth0 skips it.
//!
//! Whatever the trigger, an action that throws or a limit that stops the run fails it closed, with the reason
//! redacted of the event's secrets and cut to 1,024 characters.

use std::collections::BTreeMap;

use gatehouse_types::account::{AccountOutcome, AccountResult, AccountResume};
use gatehouse_types::command::MetadataTarget;
use gatehouse_types::outcome::ActionExecution;
use gatehouse_types::{Command, FactorType, JsonMap, Prompt, PromptCommand, TenantLog, Trigger};
use serde_json::{Value, json};

use crate::flow::{
    MAX_METADATA_BYTES, action_error_reason, cap_reason, execution, merged_size, now_iso, record_action_metrics,
};
use crate::protocol::{ActionReport, Entry};
use crate::trigger_run::{Ran, TriggerRunner};

/// What an action's commands did to the run.
enum Applied {
    /// Go on with the next action.
    Next,
    /// The run ends here with the outcome as it is (refused or paused).
    Stop,
    /// The run fails: the action asked for something that cannot be honoured.
    Fail(String),
}

impl TriggerRunner<'_> {
    /// Runs an account trigger's actions from the first. `event` has the trigger's shape (see [`default_event`]).
    pub async fn account(&self, event: Value) -> AccountOutcome {
        self.account_from(event, 0, Entry::Execute).await
    }

    /// Resumes a password-reset-post-challenge run that paused on a challenge or a redirect, with the event as the
    /// action to run next must see it ([`complete_challenge`], [`continue_after_redirect`]). A flow that changed since
    /// the pause fails closed.
    pub async fn resume_account(&self, event: Value, resume: &AccountResume) -> AccountOutcome {
        if resume.flow_hash != self.flow.hash {
            let mut outcome = AccountOutcome::new(AccountResult::Failed);
            outcome.reason = Some(format!(
                "The {} actions changed while this request was paused; please start again.",
                self.flow.trigger
            ));
            return outcome;
        }
        let entry = if resume.is_continue { Entry::Continue } else { Entry::Execute };
        self.account_from(event, resume.next_action, entry).await
    }

    async fn account_from(&self, event: Value, mut start: usize, mut entry: Entry) -> AccountOutcome {
        let mut outcome = AccountOutcome::new(AccountResult::Allow);
        while start < self.flow.actions.len() {
            let Ran { report, logs, requests, redact } = self.run_from(event.clone(), start, entry).await;
            outcome.logs.extend(logs);
            outcome.requests.extend(requests);
            let report = match report {
                Ok(report) => report,
                Err(stopped) => {
                    outcome.executed.extend(stopped.executed);
                    outcome.executions.push(ActionExecution {
                        action: stopped.action.clone(),
                        started_at: None,
                        duration_ms: 0.0,
                        commands: Vec::new(),
                        error: Some(stopped.reason.clone()),
                    });
                    return fail(outcome, stopped.reason, Some(stopped.action));
                }
            };
            let mut last = start;
            for action in &report.actions {
                last = action.index;
                let name = self.name(action.index);
                outcome.executed.push(name.clone());
                let execution = execution(&name, action, &redact);
                record_action_metrics(&execution, self.flow.trigger.id());
                outcome.executions.push(execution);
                if let Some(error) = &action.error {
                    let reason = action_error_reason(&name, error, &redact);
                    return fail(outcome, reason, Some(name));
                }
                match self.apply_account(&mut outcome, &name, action, &event, &redact) {
                    Applied::Next => {}
                    Applied::Stop => return outcome,
                    Applied::Fail(reason) => return fail(outcome, reason, Some(name)),
                }
            }
            // The run ran to the end, or stopped after a challenge already satisfied: go on after its last action.
            start = last + 1;
            entry = Entry::Execute;
        }
        let sizes = [
            ("user_metadata", merged_size(&outcome.user_metadata, &user_part(&event, "user_metadata"))),
            ("app_metadata", merged_size(&outcome.app_metadata, &user_part(&event, "app_metadata"))),
        ];
        for (kind, size) in sizes {
            if size > MAX_METADATA_BYTES {
                let reason = format!("The user's {kind} would be {size} bytes; the limit is {MAX_METADATA_BYTES}");
                return fail(outcome, reason, None);
            }
        }
        outcome
    }

    /// Applies one action's commands to `outcome`.
    fn apply_account(
        &self,
        outcome: &mut AccountOutcome,
        name: &str,
        report: &ActionReport,
        event: &Value,
        redact: &dyn Fn(String) -> String,
    ) -> Applied {
        let shown = |text: &str| cap_reason(redact(text.to_owned()));
        let mut challenges = Vec::new();
        let mut redirect = None;
        for command in &report.commands {
            match command {
                // password-reset-post-challenge: the reason is what the user is shown.
                Command::Deny { reason } => return deny(outcome, name, shown(reason), Some(shown(reason)), None),
                Command::DenyRegistration { reason, user_message } => {
                    return deny(outcome, name, shown(reason), user_message.as_deref().map(shown), None);
                }
                Command::ValidationError { code, message } => {
                    return deny(outcome, name, shown(message), Some(shown(message)), Some(code.clone()));
                }
                Command::SetMetadata { target, key, value } => {
                    let map = match target {
                        MetadataTarget::App => &mut outcome.app_metadata,
                        MetadataTarget::User => &mut outcome.user_metadata,
                    };
                    map.insert(key.clone(), value.clone());
                }
                Command::ChallengeWith { factor, additional_factors } => challenges.push(Prompt {
                    action: name.to_owned(),
                    command: PromptCommand::ChallengeWith,
                    factors: vec![factor.clone()],
                    additional_factors: additional_factors.clone(),
                    url: None,
                    completed_with: None,
                }),
                Command::ChallengeWithAny { factors } => challenges.push(Prompt {
                    action: name.to_owned(),
                    command: PromptCommand::ChallengeWithAny,
                    factors: factors.clone(),
                    additional_factors: Vec::new(),
                    url: None,
                    completed_with: None,
                }),
                Command::Redirect { url } => {
                    redirect.get_or_insert_with(|| url.clone());
                }
                // The other triggers' commands: these triggers' api cannot record them.
                _ => {}
            }
        }
        if let Some(url) = redirect {
            if !challenges.is_empty() {
                return Applied::Fail(
                    "api.redirect.sendUserTo cannot be used in the same action as an MFA challenge: move the redirect \
                     to its own action"
                        .to_owned(),
                );
            }
            outcome.result = AccountResult::Redirect;
            outcome.redirect = Some(url);
            outcome.resume = Some(self.resume_at(report.index, true));
            return Applied::Stop;
        }
        let completed = completed_factors(event);
        let mut pending = challenges.into_iter().filter(|p| !p.offered().any(|f| completed.contains(&f)));
        if let Some(challenge) = pending.next() {
            for dropped in pending {
                outcome.tenant_logs.push(TenantLog::new(
                    "w",
                    format!(
                        "Action {name} asked for more than one challenge; {} was not performed: ask for one challenge \
                         per action",
                        challenge_summary(&dropped)
                    ),
                ));
            }
            outcome.result = AccountResult::Challenge;
            outcome.challenge = Some(challenge);
            outcome.resume = Some(self.resume_at(report.index + 1, false));
            return Applied::Stop;
        }
        Applied::Next
    }

    fn resume_at(&self, next_action: usize, is_continue: bool) -> AccountResume {
        AccountResume { next_action, is_continue, flow_hash: self.flow.hash.clone() }
    }
}

/// A challenge as a warning names it: `challengeWith(otp, email)`.
fn challenge_summary(challenge: &Prompt) -> String {
    let kinds: Vec<&str> = challenge.offered().map(FactorType::as_str).collect();
    let command = match challenge.command {
        PromptCommand::ChallengeWithAny => "challengeWithAny",
        _ => "challengeWith",
    };
    format!("{command}({})", kinds.join(", "))
}

/// Ends the run refused: nothing the actions set is kept.
fn deny(
    outcome: &mut AccountOutcome,
    name: &str,
    reason: String,
    user_message: Option<String>,
    code: Option<String>,
) -> Applied {
    outcome.result = AccountResult::Deny;
    outcome.reason = Some(reason);
    outcome.user_message = user_message.filter(|m| !m.is_empty());
    outcome.code = code;
    outcome.failed_action = Some(name.to_owned());
    outcome.user_metadata.clear();
    outcome.app_metadata.clear();
    Applied::Stop
}

/// Ends the run failed: nothing the actions set is kept.
fn fail(mut outcome: AccountOutcome, reason: String, action: Option<String>) -> AccountOutcome {
    outcome.result = AccountResult::Failed;
    outcome.reason = Some(reason);
    outcome.user_message = None;
    outcome.code = None;
    outcome.failed_action = action;
    outcome.user_metadata.clear();
    outcome.app_metadata.clear();
    outcome.challenge = None;
    outcome.redirect = None;
    outcome.resume = None;
    outcome
}

/// `event.user.<part>` as an object (empty when absent).
fn user_part(event: &Value, part: &str) -> JsonMap {
    event.pointer(&format!("/user/{part}")).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// The factors completed so far: `event.authentication.methods` entries named `mfa`.
fn completed_factors(event: &Value) -> Vec<FactorType> {
    event
        .pointer("/authentication/methods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.get("name").and_then(Value::as_str) == Some("mfa"))
        .filter_map(|m| m.get("type").and_then(Value::as_str).and_then(FactorType::parse))
        .collect()
}

/// Records in `event` that the user completed a challenge with `factor`: `{name: "mfa", type, timestamp}` appended to
/// `event.authentication.methods`, as the next action of a password-reset-post-challenge run must see it.
pub fn complete_challenge(event: &mut Value, factor: FactorType) {
    let method = json!({ "name": "mfa", "type": factor.as_str(), "timestamp": now_iso() });
    let Some(object) = event.as_object_mut() else { return };
    let authentication = object.entry("authentication").or_insert_with(|| json!({}));
    if !authentication.is_object() {
        *authentication = json!({});
    }
    if let Some(authentication) = authentication.as_object_mut() {
        let methods = authentication.entry("methods").or_insert_with(|| json!([]));
        match methods.as_array_mut() {
            Some(list) => list.push(method),
            None => *methods = json!([method]),
        }
    }
}

/// Records in `event` the request that came back from a redirect (its query and form body), as the redirecting
/// action's `onContinuePostChallenge` reads it (`api.redirect.validateToken` looks there).
pub fn continue_after_redirect(event: &mut Value, query: JsonMap, body: JsonMap) {
    let Some(object) = event.as_object_mut() else { return };
    let request = object.entry("request").or_insert_with(|| json!({}));
    if !request.is_object() {
        *request = json!({});
    }
    if let Some(request) = request.as_object_mut() {
        request.insert("query".to_owned(), Value::Object(query));
        request.insert("body".to_owned(), Value::Object(body));
    }
}

/// The default event of an account trigger's fixture, before the fixture's `event` is merged in: a sign-up of
/// `new.user@example.com` (pre- and post-user-registration), or Jane Doe changing (post-change-password) or resetting
/// (password-reset-post-challenge, email verified by the reset link, enrolled in OTP) her password.
pub fn default_event(trigger: Trigger, secrets: &BTreeMap<String, String>) -> Value {
    // The same application, connection, place and user as a post-login fixture's (`fixture::default_event`).
    let login = crate::fixture::default_event();
    let client = login["client"].clone();
    let connection = login["connection"].clone();
    let geoip = login["request"]["geoip"].clone();
    let request = |method: &str| {
        json!({
            "ip": "203.0.113.7",
            "hostname": "login.example.com",
            "method": method,
            "language": "en",
            "user_agent": "Mozilla/5.0 (fixture)",
            "geoip": geoip,
        })
    };
    let tenant = login["tenant"].clone();
    let transaction = json!({
        "locale": "en",
        "ui_locales": [],
        "protocol": "oidc-basic-profile",
        "requested_scopes": ["openid", "profile", "email"],
        "redirect_uri": "https://app.example.com/callback",
    });
    // Jane Doe, email verified by the reset link, enrolled in OTP.
    let mut jane = login["user"].clone();
    if let Some(user) = jane.as_object_mut() {
        user.remove("multifactor");
    }
    match trigger {
        Trigger::PreUserRegistration => {
            let mut request = request("POST");
            if let Some(object) = request.as_object_mut() {
                object.insert("query".to_owned(), json!({}));
                object.insert(
                    "body".to_owned(),
                    json!({ "email": "new.user@example.com", "connection": "Username-Password-Authentication" }),
                );
            }
            json!({
                "client": client,
                "connection": connection,
                "request": request,
                "tenant": tenant,
                "transaction": transaction,
                "user": {
                    "email": "new.user@example.com",
                    "name": "new.user@example.com",
                    "nickname": "new.user",
                    "picture": "https://example.com/new-user.png",
                    "user_metadata": {},
                    "app_metadata": {},
                },
                "secrets": secrets,
            })
        }
        Trigger::PostUserRegistration => json!({
            "connection": connection,
            "request": request("POST"),
            "tenant": tenant,
            "transaction": transaction,
            "user": {
                "user_id": "auth0|new-user",
                "email": "new.user@example.com",
                "email_verified": false,
                "name": "new.user@example.com",
                "nickname": "new.user",
                "picture": "https://example.com/new-user.png",
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
                "user_metadata": {},
                "app_metadata": {},
            },
            "secrets": secrets,
        }),
        Trigger::PostChangePassword => json!({
            "connection": connection,
            "request": request("POST"),
            "tenant": tenant,
            "user": {
                "user_id": "auth0|fixture-user",
                "email": "jane@example.com",
                "email_verified": true,
                "phone_number": "+81312345678",
                "phone_verified": true,
                "last_password_reset": "2026-01-01T00:00:00.000Z",
            },
            "secrets": secrets,
        }),
        _ => {
            let mut request = request("GET");
            if let Some(object) = request.as_object_mut() {
                object.insert("query".to_owned(), json!({}));
                object.insert("body".to_owned(), json!({}));
            }
            json!({
                "authentication": { "methods": [{ "name": "email", "timestamp": "2026-01-01T00:00:00.000Z" }] },
                "authorization": { "roles": [] },
                "client": client,
                "connection": connection,
                "request": request,
                "stats": { "logins_count": 5 },
                "tenant": tenant,
                "transaction": { "locale": "en", "ui_locales": [] },
                "user": jane,
                "secrets": secrets,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_challenge_is_added_to_the_methods() {
        let mut event = default_event(Trigger::PasswordResetPostChallenge, &BTreeMap::new());
        complete_challenge(&mut event, FactorType::Otp);
        let methods = event.pointer("/authentication/methods").and_then(Value::as_array).cloned().unwrap();
        assert_eq!(methods.len(), 2);
        assert_eq!(methods[1]["name"], "mfa");
        assert_eq!(methods[1]["type"], "otp");
        assert_eq!(completed_factors(&event), vec![FactorType::Otp]);

        let mut bare = json!({});
        complete_challenge(&mut bare, FactorType::Email);
        assert_eq!(completed_factors(&bare), vec![FactorType::Email]);
    }

    #[test]
    fn coming_back_from_a_redirect_replaces_query_and_body() {
        let mut event = default_event(Trigger::PasswordResetPostChallenge, &BTreeMap::new());
        let query: JsonMap = [("state".to_owned(), json!("s1"))].into_iter().collect();
        continue_after_redirect(&mut event, query, JsonMap::new());
        assert_eq!(event.pointer("/request/query/state"), Some(&json!("s1")));
        assert_eq!(event.pointer("/request/body"), Some(&json!({})));
    }

    #[test]
    fn the_default_events_have_the_documented_parts() {
        for trigger in [
            Trigger::PreUserRegistration,
            Trigger::PostUserRegistration,
            Trigger::PostChangePassword,
            Trigger::PasswordResetPostChallenge,
        ] {
            let event = default_event(trigger, &BTreeMap::new());
            for part in ["connection", "request", "tenant", "user", "secrets"] {
                assert!(event.get(part).is_some(), "{trigger} has no {part}");
            }
        }
        let pre = default_event(Trigger::PreUserRegistration, &BTreeMap::new());
        assert!(pre.pointer("/user/user_id").is_none(), "no user_id before the user is stored");
        let reset = default_event(Trigger::PasswordResetPostChallenge, &BTreeMap::new());
        assert!(reset.pointer("/authentication/methods").is_some());
    }
}
