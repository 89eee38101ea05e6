//! Running the `credentials-exchange` trigger (reference §9.4): one sandbox run per `client_credentials` request,
//! every action in order until one denies or fails.
//!
//! `api.access.deny(code, reason)` refuses the request with that OAuth error; an action that throws (or a limit
//! that stops the run) fails the request closed; otherwise the token is issued with the actions'
//! `api.accessToken.setCustomClaim` claims, restricted names and Auth0 namespaces dropped with a warning as in the
//! post-login flow.

use gatehouse_types::command::TokenKind;
use gatehouse_types::credentials::{CredentialsOutcome, CredentialsResult};
use gatehouse_types::{Command, ConsoleLog, JsonMap, TenantLog};
use serde_json::Value;

use crate::flow::outcome::is_auth0_namespace;
use crate::flow::{CacheStore, MAX_CLAIMS_BYTES, RESTRICTED_CLAIMS, cap_reason, secret_redactor};
use crate::protocol::{Entry, FlowSpec, RunRequest};
use crate::sandbox::{HostIo, Limits, RunOutput, Sandbox};

/// Runs the credentials-exchange actions through the sandbox.
pub struct CredentialsRunner<'a> {
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

impl CredentialsRunner<'_> {
    /// Runs the actions for one request. `event` has the trigger's shape (`client`, `resource_server`,
    /// `request`, `transaction`, `tenant`, `secrets`).
    pub async fn exchange(&self, event: Value) -> CredentialsOutcome {
        let secrets = event.get("secrets").and_then(Value::as_object);
        let redact = secret_redactor(
            secrets.into_iter().flat_map(|s| s.values().filter_map(Value::as_str).map(str::to_owned)).collect(),
        );
        let mut outcome = CredentialsOutcome {
            result: CredentialsResult::Allow,
            code: None,
            reason: None,
            failed_action: None,
            access_token_claims: JsonMap::new(),
            tenant_logs: Vec::new(),
            executed: Vec::new(),
            logs: Vec::new(),
            requests: Vec::new(),
        };
        if self.flow.actions.is_empty() {
            return outcome;
        }
        let request = RunRequest {
            run_id: 0,
            flow: self.flow.clone(),
            start: 0,
            entry: Entry::Execute,
            event: event.into(),
            cache: self.cache.load(self.flow.trigger),
        };
        let RunOutput { report, last_started, logs, requests } = self.sandbox.run(request, self.limits, self.io).await;
        outcome.logs = logs
            .into_iter()
            .map(|(index, level, message)| ConsoleLog { action: self.name(index), level, message: redact(message) })
            .collect();
        outcome.requests = requests
            .into_iter()
            .map(|record| {
                let action = self.name(record.action);
                record.recorded(action, &redact)
            })
            .collect();
        let report = match report {
            Ok(report) => report,
            Err(failure) => {
                let index = last_started.unwrap_or(0);
                outcome.executed = (0..=index).map(|i| self.name(i)).collect();
                outcome.result = CredentialsResult::Failed;
                outcome.reason = Some(cap_reason(redact(failure.to_string())));
                outcome.failed_action = Some(self.name(index));
                return outcome;
            }
        };
        self.cache.apply(self.flow.trigger, &report.cache_ops);
        for action in &report.actions {
            let name = self.name(action.index);
            outcome.executed.push(name.clone());
            for command in &action.commands {
                match command {
                    Command::SetCustomClaim { token: TokenKind::Access, name: claim, value } => {
                        outcome.access_token_claims.insert(claim.clone(), value.clone());
                    }
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
                let location = match (error.line, error.column) {
                    (Some(line), Some(column)) => format!(" ({name}:{line}:{column})"),
                    (Some(line), None) => format!(" ({name}:{line})"),
                    _ => String::new(),
                };
                outcome.result = CredentialsResult::Failed;
                outcome.code = None;
                outcome.reason = Some(cap_reason(redact(format!("{}{location}", error.message))));
                outcome.failed_action = Some(name);
                return outcome;
            }
            if outcome.result == CredentialsResult::Deny {
                return outcome;
            }
        }
        let mut warnings = Vec::new();
        outcome.access_token_claims.retain(|name, _| {
            let restricted = RESTRICTED_CLAIMS.contains(&name.as_str());
            let auth0_namespace = is_auth0_namespace(name);
            if restricted || auth0_namespace {
                let why = if restricted { "is a restricted claim name" } else { "uses an Auth0 namespace" };
                warnings.push(TenantLog::new(
                    "w",
                    format!("Custom claim '{name}' {why} and was not added to the access token."),
                ));
            }
            !restricted && !auth0_namespace
        });
        outcome.tenant_logs = warnings;
        let size = Value::Object(outcome.access_token_claims.clone()).to_string().len();
        if size > MAX_CLAIMS_BYTES {
            outcome.result = CredentialsResult::Failed;
            outcome.reason = Some(format!(
                "The custom claims of the access token are {size} bytes; the limit is {MAX_CLAIMS_BYTES}"
            ));
        }
        outcome
    }

    fn name(&self, index: usize) -> String {
        self.flow.actions.get(index).map(|a| a.name.clone()).unwrap_or_else(|| format!("action #{index}"))
    }
}
