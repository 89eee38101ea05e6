//! Running the phone triggers (`custom-phone-provider`, `send-phone-message`): one sandbox run per message, every
//! action in order, no pauses.
//!
//! The run ends when the handlers have returned and the requests they started have answered (within the deadline),
//! so an action that calls `fetch` without `await`, as seed 002's does, still reaches its provider. What the run
//! decided ([`NotificationResult`]): `api.notification.drop` or `retry`, the last call of the run winning; an action
//! that throws fails the delivery; otherwise the message counts as sent.

use std::collections::BTreeMap;

use gatehouse_types::phone::{NotificationOutcome, NotificationResult};
use gatehouse_types::{Command, ConsoleLog};
use serde_json::Value;

use crate::flow::{CacheStore, cap_reason, secret_redactor};
use crate::protocol::{Entry, FlowSpec, RunRequest};
use crate::sandbox::{HostIo, Limits, RunOutput, Sandbox};

/// Runs a phone trigger's actions through the sandbox.
pub struct PhoneRunner<'a> {
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

impl PhoneRunner<'_> {
    /// Runs the actions for one message. `event` has the trigger's shape (`notification` or `message_options`,
    /// with `client`, `request`, `tenant`, `user`, `secrets`...).
    pub async fn deliver(&self, event: Value) -> NotificationOutcome {
        let redact = redactor(&event);
        let request = RunRequest {
            run_id: 0,
            flow: self.flow.clone(),
            start: 0,
            entry: Entry::Execute,
            event: event.into(),
            cache: self.cache.load(self.flow.trigger),
        };
        let RunOutput { report, last_started, logs, requests } = self.sandbox.run(request, self.limits, self.io).await;
        let mut outcome = NotificationOutcome {
            result: NotificationResult::Sent,
            reason: None,
            failed_action: None,
            executed: Vec::new(),
            logs: logs
                .into_iter()
                .map(|(index, level, message)| ConsoleLog { action: self.name(index), level, message: redact(message) })
                .collect(),
            requests: requests
                .into_iter()
                .map(|record| {
                    let action = self.name(record.action);
                    record.recorded(action, &redact)
                })
                .collect(),
        };
        let report = match report {
            Ok(report) => report,
            Err(failure) => {
                let index = last_started.unwrap_or(0);
                outcome.executed = (0..=index).map(|i| self.name(i)).collect();
                outcome.result = NotificationResult::Failed;
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
                    Command::DropNotification { reason } => {
                        outcome.result = NotificationResult::Dropped;
                        outcome.reason = Some(cap_reason(redact(reason.clone())));
                    }
                    Command::RetryNotification { reason } => {
                        outcome.result = NotificationResult::Retry;
                        outcome.reason = Some(cap_reason(redact(reason.clone())));
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
                outcome.result = NotificationResult::Failed;
                outcome.reason = Some(cap_reason(redact(format!("{}{location}", error.message))));
                outcome.failed_action = Some(name);
                break;
            }
        }
        if outcome.reason.as_deref() == Some("") {
            outcome.reason = None;
        }
        outcome
    }

    fn name(&self, index: usize) -> String {
        self.flow.actions.get(index).map(|a| a.name.clone()).unwrap_or_else(|| format!("action #{index}"))
    }
}

/// Replaces the values of `event.secrets` in captured text (the post-login rule, on the phone event's JSON).
fn redactor(event: &Value) -> impl Fn(String) -> String + use<> {
    let secrets = event.get("secrets").and_then(Value::as_object);
    secret_redactor(secrets.into_iter().flat_map(|s| s.values().filter_map(Value::as_str).map(str::to_owned)).collect())
}

/// The default event of a phone trigger's fixture, before the fixture's `event` is merged in: Jane Doe on the
/// sample tenant, a 6-digit code sent by text for a login's challenge.
pub fn default_event(trigger: gatehouse_types::Trigger, secrets: &BTreeMap<String, String>) -> Value {
    let code = "123456";
    let text = format!("Your verification code is {code}");
    let voice = "Your verification code is 1, 2, 3, 4, 5, 6".to_owned();
    let mut event = serde_json::json!({
        "client": { "client_id": "sample-web", "name": "Sample Web App", "metadata": {} },
        "request": {
            "ip": "203.0.113.7",
            "language": "en",
            "method": "POST",
            "user_agent": "Mozilla/5.0",
            "geoip": { "countryCode": "JP", "countryName": "Japan" },
        },
        "tenant": { "id": "gatehouse" },
        "user": {
            "user_id": "auth0|jane",
            "email": "jane@example.com",
            "email_verified": true,
            "name": "Jane Doe",
            "phone_number": "+819012345678",
            "phone_verified": true,
            "app_metadata": {},
            "user_metadata": {},
        },
        "transaction": { "id": "tx_fixture", "locale": "en" },
        "secrets": secrets,
    });
    let (key, part) = if trigger == gatehouse_types::Trigger::SendPhoneMessage {
        (
            "message_options",
            serde_json::json!({
                "action": "second-factor-authentication",
                "code": code,
                "message_type": "sms",
                "recipient": "+819012345678",
                "text": text,
            }),
        )
    } else {
        (
            "notification",
            serde_json::json!({
                "as_text": text,
                "as_voice": voice,
                "code": code,
                "delivery_method": "text",
                "from": "",
                "locale": "en",
                "message_type": "otp_verify",
                "recipient": "+819012345678",
            }),
        )
    };
    if let Some(object) = event.as_object_mut() {
        object.insert(key.into(), part);
    }
    event
}
