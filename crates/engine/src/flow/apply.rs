//! Applying one action's commands to the flow: deny, claims, scopes, metadata, MFA commands and redirects.

use gatehouse_types::command::{MetadataTarget, TokenKind};
use gatehouse_types::outcome::{MultifactorRequest, RecordedCall};
use gatehouse_types::{AuthMethod, Command, FlowResult, Outcome, PostLoginEvent, TenantLog};

use crate::protocol::{ActionError, ActionReport};

use super::outcome::{build_outcome, fail};
use super::*;

impl FlowRunner<'_> {
    /// Applies one action's commands; returns the step when the action ends the flow.
    pub(super) fn apply(
        &self,
        state: &mut PausedFlow,
        name: &str,
        report: &ActionReport,
        redact: &dyn Fn(String) -> String,
    ) -> Option<Step> {
        if let Some(error) = &report.error {
            let reason = action_error_reason(name, error, redact);
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
                Command::Record { api, args } => {
                    tracing::info!(action = %name, api = %api, "api.{api} recorded: Gatehouse has nothing to apply it to");
                    state.acc.recorded.push(RecordedCall {
                        action: name.to_owned(),
                        api: api.clone(),
                        args: args.clone(),
                    });
                }
                // Other triggers' commands; the post-login api has no way to record them.
                Command::DropNotification { .. }
                | Command::RetryNotification { .. }
                | Command::DenyCredentials { .. }
                | Command::DenyRegistration { .. }
                | Command::ValidationError { .. }
                | Command::SetTargetScopes { .. } => {}
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

/// An action's error as a reason: its message with `(file:line:column)` when known, redacted, then cut (a cut
/// first could leave half a secret that the redaction would no longer find).
pub(crate) fn action_error_reason(name: &str, error: &ActionError, redact: &dyn Fn(String) -> String) -> String {
    let location = match (error.line, error.column) {
        (Some(line), Some(column)) => format!(" ({name}:{line}:{column})"),
        (Some(line), None) => format!(" ({name}:{line})"),
        _ => String::new(),
    };
    cap_reason(redact(format!("{}{location}", error.message)))
}

/// Longest deny reason or action error message kept, in characters (Auth0 cuts provider reasons at 1,024 too):
/// what an action says goes into a response, a tenant log and the store, and must not grow them without bound.
pub const MAX_REASON_CHARS: usize = 1024;

/// `reason`, cut to [`MAX_REASON_CHARS`] characters (deny reasons, action errors, phone-trigger reasons).
pub(crate) fn cap_reason(mut reason: String) -> String {
    if let Some((at, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(at);
    }
    reason
}

/// Replaces the values of `event.secrets` (4 characters or more) in captured text.
pub(super) fn redactor(event: &PostLoginEvent) -> impl Fn(String) -> String + use<> {
    secret_redactor(event.secrets.values().cloned().collect())
}

/// Replaces each of `secrets` (4 characters or more) in captured text with `[REDACTED]`: one rule for every
/// trigger's console output, requests and reasons.
pub(crate) fn secret_redactor(mut secrets: Vec<String>) -> impl Fn(String) -> String + use<> {
    secrets.retain(|s| s.len() >= 4);
    move |text: String| secrets.iter().fold(text, |t, s| t.replace(s.as_str(), "[REDACTED]"))
}
