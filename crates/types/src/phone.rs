//! The phone triggers: what `custom-phone-provider` and `send-phone-message` actions receive and what they decide.
//!
//! Gatehouse sends a one-time code by SMS or voice through one of these triggers (reference §6). The event's other
//! parts (`client`, `request`, `tenant`, `user`, `secrets`, `transaction`) have the post-login shapes; what is
//! particular to the phone is `event.notification` (custom-phone-provider) or `event.message_options`
//! (send-phone-message), typed here.

use serde::{Deserialize, Serialize};

use crate::outcome::{ConsoleLog, RecordedRequest};

/// How a message reaches the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// SMS.
    Text,
    /// A voice call that reads the message.
    Voice,
}

/// Why a message is sent (`event.notification.message_type`, reference §6.1). Gatehouse sends the two OTP types;
/// the others are Auth0's, kept so an action's `switch` over them reads the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneMessageType {
    /// The code of an enrollment.
    OtpEnroll,
    /// The code of a login's challenge.
    OtpVerify,
    /// The account was blocked.
    BlockedAccount,
    /// A password change.
    ChangePassword,
    /// The password was found in a breach.
    PasswordBreach,
}

/// `event.notification` of `custom-phone-provider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhoneNotification {
    /// The message rendered for SMS.
    pub as_text: String,
    /// The message rendered for a voice call (the code spoken digit by digit).
    pub as_voice: String,
    /// The one-time code.
    pub code: String,
    /// Text or voice.
    pub delivery_method: DeliveryMethod,
    /// The sender number configured for this delivery method, empty when none is.
    pub from: String,
    /// The user's language, e.g. `ja`.
    pub locale: String,
    /// Why the message is sent.
    pub message_type: PhoneMessageType,
    /// The phone number, E.164.
    pub recipient: String,
}

/// `event.message_options` of `send-phone-message`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageOptions {
    /// What the code is for: `enrollment` or `second-factor-authentication`.
    pub action: String,
    /// The one-time code.
    pub code: String,
    /// `sms` or `voice`.
    pub message_type: String,
    /// The phone number, E.164.
    pub recipient: String,
    /// The rendered message.
    pub text: String,
}

/// What a phone trigger's run decided about one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationResult {
    /// The actions ran to the end without dropping or asking to retry: the message is handed to the provider.
    Sent,
    /// `api.notification.drop(reason)` was the last call: not delivered, not tried again.
    Dropped,
    /// `api.notification.retry(reason)` was the last call: tried again later, up to 5 times.
    Retry,
    /// An action threw, or the run failed (deadline, memory): not delivered.
    Failed,
}

/// Everything a phone trigger's run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationOutcome {
    /// What happens to the message.
    pub result: NotificationResult,
    /// The reason given to `drop` or `retry`, or the error of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The action that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_action: Option<String>,
    /// Actions that ran, in order.
    pub executed: Vec<String>,
    /// `console.*` output, secrets redacted.
    pub logs: Vec<ConsoleLog>,
    /// `fetch` calls, secrets redacted.
    pub requests: Vec<RecordedRequest>,
}
