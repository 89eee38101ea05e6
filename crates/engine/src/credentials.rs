//! Running the `credentials-exchange` trigger (reference §9.4): one sandbox run per `client_credentials` request,
//! every action in order until one denies or fails.
//!
//! `api.access.deny(code, reason)` refuses the request with that OAuth error; an action that throws (or a limit
//! that stops the run) fails the request closed; otherwise the token is issued with the actions'
//! `api.accessToken.setCustomClaim` claims, restricted names and Auth0 namespaces dropped with a warning as in the
//! post-login flow.

use gatehouse_types::command::TokenKind;
use gatehouse_types::credentials::{CredentialsOutcome, CredentialsResult};
use gatehouse_types::{Command, JsonMap};
use serde_json::Value;

use crate::flow::{MAX_CLAIMS_BYTES, action_error_reason, cap_reason, drop_reserved_claims};
use crate::trigger_run::{Ran, TriggerRunner};

impl TriggerRunner<'_> {
    /// Runs the credentials-exchange actions for one request. `event` has the trigger's shape (`client`,
    /// `resource_server`, `request`, `transaction`, `tenant`, `secrets`).
    pub async fn exchange(&self, event: Value) -> CredentialsOutcome {
        let mut outcome = CredentialsOutcome {
            result: CredentialsResult::Allow,
            code: None,
            reason: None,
            failed_action: None,
            access_token_claims: JsonMap::new(),
            target_scopes: None,
            tenant_logs: Vec::new(),
            executed: Vec::new(),
            logs: Vec::new(),
            requests: Vec::new(),
        };
        if self.flow.actions.is_empty() {
            return outcome;
        }
        let Ran { report, logs, requests, redact } = self.run(event).await;
        outcome.logs = logs;
        outcome.requests = requests;
        let report = match report {
            Ok(report) => report,
            Err(stopped) => {
                outcome.executed = stopped.executed;
                outcome.result = CredentialsResult::Failed;
                outcome.reason = Some(stopped.reason);
                outcome.failed_action = Some(stopped.action);
                return outcome;
            }
        };
        for action in &report.actions {
            let name = self.name(action.index);
            outcome.executed.push(name.clone());
            for command in &action.commands {
                match command {
                    Command::SetCustomClaim { token: TokenKind::Access, name: claim, value } => {
                        outcome.access_token_claims.insert(claim.clone(), value.clone());
                    }
                    Command::SetTargetScopes { scopes } => outcome.target_scopes = Some(scopes.clone()),
                    Command::DenyCredentials { code, reason } => {
                        outcome.result = CredentialsResult::Deny;
                        outcome.code = Some(code.clone());
                        outcome.reason = Some(cap_reason(redact(reason.clone())));
                        outcome.failed_action = Some(name.clone());
                    }
                    _ => {}
                }
            }
            if let Some(error) = &action.error {
                outcome.result = CredentialsResult::Failed;
                outcome.code = None;
                outcome.reason = Some(action_error_reason(&name, error, &redact));
                outcome.failed_action = Some(name);
                return outcome;
            }
            if outcome.result == CredentialsResult::Deny {
                return outcome;
            }
        }
        outcome.tenant_logs = drop_reserved_claims(&mut outcome.access_token_claims, "access");
        let size = Value::Object(outcome.access_token_claims.clone()).to_string().len();
        if size > MAX_CLAIMS_BYTES {
            outcome.result = CredentialsResult::Failed;
            outcome.reason = Some(format!(
                "The custom claims of the access token are {size} bytes; the limit is {MAX_CLAIMS_BYTES}"
            ));
        }
        outcome
    }
}
