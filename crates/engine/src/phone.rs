//! Running the phone triggers (`custom-phone-provider`, `send-phone-message`): one sandbox run per message, every
//! action in order, no pauses.
//!
//! The run ends when the handlers have returned and the requests they started have answered (within the deadline),
//! so an action that calls `fetch` without `await`, as seed 002's does, still reaches its provider. What the run
//! decided ([`NotificationResult`]): `api.notification.drop` or `retry`, the last call of the run winning; an action
//! that throws fails the delivery; otherwise the message counts as sent.

use std::collections::BTreeMap;

use gatehouse_types::Command;
use gatehouse_types::phone::{NotificationOutcome, NotificationResult};
use serde_json::Value;

use crate::flow::{action_error_reason, cap_reason};
use crate::trigger_run::{Ran, TriggerRunner};

impl TriggerRunner<'_> {
    /// Runs a phone trigger's actions for one message. `event` has the trigger's shape (`notification` or
    /// `message_options`, with `client`, `request`, `tenant`, `user`, `secrets`...).
    pub async fn deliver(&self, event: Value) -> NotificationOutcome {
        let Ran { report, logs, requests, redact } = self.run(event).await;
        let mut outcome = NotificationOutcome {
            result: NotificationResult::Sent,
            reason: None,
            failed_action: None,
            executed: Vec::new(),
            logs,
            requests,
        };
        let report = match report {
            Ok(report) => report,
            Err(stopped) => {
                outcome.executed = stopped.executed;
                outcome.result = NotificationResult::Failed;
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
                outcome.result = NotificationResult::Failed;
                outcome.reason = Some(action_error_reason(&name, error, &redact));
                outcome.failed_action = Some(name);
                break;
            }
        }
        if outcome.reason.as_deref() == Some("") {
            outcome.reason = None;
        }
        outcome
    }
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
