//! Sending a one-time code by SMS or voice through `[mfa.phone]`'s provider.
//!
//! In order: the user's hourly limit (10 messages, counted atomically in the store, reference §6.3), the delivery
//! method (one of `delivery_methods`), the message (the templates, rendered for text and voice), then the provider:
//! - `default`, Gatehouse's evaluation provider as Auth0's: text only, 100 messages in the tenant's lifetime
//!   (counted atomically in the store, so every process shares the count), each message written to the outbox
//!   folder as a `.sms` file;
//! - `custom-phone-provider`: the action gets `event.notification` and decides with `api.notification`;
//! - `send-phone-message`: the actions get `event.message_options`.
//!
//! Each message is logged with Auth0's codes (`gd_send_sms`, `gd_send_voice` and their `_failure`), the number
//! masked; a failed, dropped or refused delivery is an error the caller shows as "we could not send the code",
//! never a success.

use gatehouse_store::{RateDecision, RateLimit};
use gatehouse_types::Trigger;
use gatehouse_types::config::{ClientConfig, PhoneProvider, is_e164};
use gatehouse_types::phone::{DeliveryMethod, NotificationResult, PhoneMessageType};
use gatehouse_types::records::User;
use serde_json::{Value, json};

use crate::context::RequestInfo;
use crate::limits::{self, Channel};
use crate::logs;
use crate::mask::mask_phone;
use crate::phone::retry::PendingDelivery;
use crate::phone::templates::{MessageContext, PhoneTemplate, RenderedMessage};
use crate::tenant::Tenant;

/// The default provider's allowance: 100 messages in the tenant's lifetime, as Auth0's (a bucket that never
/// refills in practice).
pub const DEFAULT_PROVIDER_CAP: RateLimit = RateLimit { capacity: 100, window_secs: i64::MAX / 4 };
const DEFAULT_PROVIDER_KEY: &str = "phone-default-provider\0tenant";

/// One code to send.
#[derive(Clone, Copy, Debug)]
pub struct CodeMessage<'a> {
    /// The user.
    pub user: &'a User,
    /// Their number, E.164.
    pub recipient: &'a str,
    /// Text or voice.
    pub method: DeliveryMethod,
    /// Enrollment or verification.
    pub which: PhoneTemplate,
    /// The code.
    pub code: &'a str,
    /// The user's language (`ja`, `en`...).
    pub locale: &'a str,
    /// The application, when known.
    pub client: Option<&'a ClientConfig>,
    /// The HTTP request that caused the message.
    pub request: &'a RequestInfo,
}

/// Why a code was not sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    /// The user's 10 messages an hour are spent.
    #[error("Too many phone messages: try again in {retry_after} seconds")]
    TooMany {
        /// Seconds until one more may be sent.
        retry_after: i64,
    },
    /// The default provider's 100 messages are spent.
    #[error(
        "The default phone provider has sent its 100 messages; configure [mfa.phone] provider = \"custom-phone-provider\""
    )]
    DefaultProviderExhausted,
    /// The number or the delivery method cannot be used.
    #[error("{0}")]
    Refused(String),
    /// The provider did not deliver (the action dropped, asked for a retry, or failed; the outbox could not be
    /// written).
    #[error("The code could not be sent: {0}")]
    NotDelivered(String),
}

/// What became of a code that was not refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The provider took it.
    Sent,
    /// The action asked for a retry: the message waits in the store ([`crate::phone::retry`]) and is tried again
    /// in `retry_in` seconds. The code stays valid; the user may be told it is delayed.
    Queued {
        /// The action's reason.
        reason: String,
        /// Seconds to the next try.
        retry_in: i64,
    },
}

/// Sends `message` through the tenant's phone provider.
pub async fn send_code(tenant: &Tenant, message: CodeMessage<'_>) -> Result<Delivery, DeliveryError> {
    let result = deliver(tenant, &message).await;
    let to = mask_phone(message.recipient);
    let (kind, description) = match &result {
        Ok(Delivery::Sent) => (log_kind(message.method, true), format!("MFA {} sent to {to}", what(message.method))),
        Ok(Delivery::Queued { reason, retry_in }) => (
            log_kind(message.method, false),
            format!(
                "MFA {} to {to} not sent: the action asked for a retry: {reason}; trying again in {retry_in} s (retry 1 of {})",
                what(message.method),
                crate::phone::retry::MAX_RETRIES
            ),
        ),
        Err(e) => (log_kind(message.method, false), format!("MFA {} to {to} not sent: {e}", what(message.method))),
    };
    tenant.log(logs::entry(&kind, description, message.request, message.client, Some(message.user))).await;
    result
}

/// `gd_send_sms`, `gd_send_voice`, and their `_failure`.
pub(crate) fn log_kind(method: DeliveryMethod, sent: bool) -> String {
    let kind = match method {
        DeliveryMethod::Text => "gd_send_sms",
        DeliveryMethod::Voice => "gd_send_voice",
    };
    if sent { kind.to_owned() } else { format!("{kind}_failure") }
}

/// "SMS" or "voice call", for log descriptions.
pub(crate) fn what(method: DeliveryMethod) -> &'static str {
    match method {
        DeliveryMethod::Text => "SMS",
        DeliveryMethod::Voice => "voice call",
    }
}

async fn deliver(tenant: &Tenant, message: &CodeMessage<'_>) -> Result<Delivery, DeliveryError> {
    let phone = &tenant.config.mfa.phone;
    if !is_e164(message.recipient) {
        return Err(DeliveryError::Refused(format!("{} is not an E.164 phone number", mask_phone(message.recipient))));
    }
    if !phone.delivery_methods.contains(&message.method) {
        return Err(DeliveryError::Refused(
            "this delivery method is not enabled ([mfa.phone] delivery_methods)".into(),
        ));
    }
    let store_error = |e: gatehouse_store::StoreError| DeliveryError::NotDelivered(format!("store: {e}"));
    // A store that cannot count fails closed: nothing is sent.
    if let Some(retry_after) =
        limits::spend_send(tenant.store.as_ref(), &message.user.user_id, Channel::Phone, tenant.now())
            .await
            .map_err(store_error)?
    {
        return Err(DeliveryError::TooMany { retry_after });
    }
    let user = crate::users::user_view(message.user);
    let rendered = tenant
        .phone_templates
        .render(
            message.which,
            &MessageContext {
                code: message.code,
                locale: message.locale,
                friendly_name: &tenant.config.friendly_name,
                user: Some(&user),
                client: message.client.map(|c| (c.name.as_str(), c.client_id.as_str())),
            },
        )
        .map_err(DeliveryError::NotDelivered)?;
    match phone.provider {
        PhoneProvider::Default => {
            if message.method != DeliveryMethod::Text {
                return Err(DeliveryError::Refused("the default provider sends text only".into()));
            }
            match tenant
                .store
                .hit_rate_limit(DEFAULT_PROVIDER_KEY, DEFAULT_PROVIDER_CAP, 0)
                .await
                .map_err(store_error)?
            {
                RateDecision::Allowed { .. } => {}
                RateDecision::Limited { .. } => return Err(DeliveryError::DefaultProviderExhausted),
            }
            let from = phone.from_text.as_deref().unwrap_or("Gatehouse");
            tenant
                .outbox
                .send_sms(from, message.recipient, &rendered.as_text)
                .await
                .map(|_| Delivery::Sent)
                .map_err(|e| DeliveryError::NotDelivered(format!("outbox: {e}")))
        }
        PhoneProvider::CustomPhoneProvider | PhoneProvider::SendPhoneMessage => {
            let trigger = phone.provider.trigger().unwrap_or(Trigger::CustomPhoneProvider);
            let event = trigger_event(tenant, message, trigger, &rendered, user);
            let outcome = tenant.actions.deliver_phone(trigger, with_secrets(tenant, event.clone())).await;
            let reason = outcome.reason.clone().unwrap_or_default();
            match outcome.result {
                NotificationResult::Sent => Ok(Delivery::Sent),
                NotificationResult::Dropped => {
                    Err(DeliveryError::NotDelivered(format!("dropped by the action: {reason}")))
                }
                NotificationResult::Retry => {
                    let pending = PendingDelivery::first(trigger, event, message, tenant.now());
                    let retry_in = pending.next_at - tenant.now();
                    match crate::phone::retry::enqueue(tenant, &pending).await {
                        Ok(()) => Ok(Delivery::Queued { reason, retry_in }),
                        // A message that cannot be kept for its retry failed: the user is told so.
                        Err(e) => Err(DeliveryError::NotDelivered(format!(
                            "the action asked for a retry ({reason}) and the retry could not be stored: {e}"
                        ))),
                    }
                }
                NotificationResult::Failed => Err(DeliveryError::NotDelivered(format!("the action failed: {reason}"))),
            }
        }
    }
}

/// The event with the tenant's secrets, added at each run: a message kept for a retry is stored without them.
pub(crate) fn with_secrets(tenant: &Tenant, mut event: Value) -> Value {
    if let Some(object) = event.as_object_mut() {
        object.insert("secrets".into(), json!(tenant.secrets));
    }
    event
}

/// The phone trigger's event: `notification` (custom-phone-provider) or `message_options` (send-phone-message),
/// with the client, the request, the tenant, the user and the secrets.
fn trigger_event(
    tenant: &Tenant,
    message: &CodeMessage<'_>,
    trigger: Trigger,
    rendered: &RenderedMessage,
    user: Value,
) -> Value {
    let phone = &tenant.config.mfa.phone;
    let client = message
        .client
        .map_or(Value::Null, |c| json!({ "client_id": c.client_id, "name": c.name, "metadata": c.metadata }));
    let request = json!({
        "ip": message.request.ip,
        "method": message.request.method,
        "hostname": message.request.hostname,
        "user_agent": message.request.user_agent,
        "language": message.locale,
    });
    let mut event = json!({
        "client": client,
        "request": request,
        "tenant": { "id": tenant.config.tenant.clone().unwrap_or_else(|| "gatehouse".into()),
                    "friendly_name": tenant.config.friendly_name },
        "user": user,
        "transaction": {},
    });
    let (key, part) = if trigger == Trigger::SendPhoneMessage {
        let text = match message.method {
            DeliveryMethod::Text => &rendered.as_text,
            DeliveryMethod::Voice => &rendered.as_voice,
        };
        (
            "message_options",
            json!({
                "action": match message.which {
                    PhoneTemplate::Enrollment => "enrollment",
                    PhoneTemplate::Verification => "second-factor-authentication",
                },
                "code": message.code,
                "message_type": match message.method { DeliveryMethod::Text => "sms", DeliveryMethod::Voice => "voice" },
                "recipient": message.recipient,
                "text": text,
            }),
        )
    } else {
        let from = match message.method {
            DeliveryMethod::Text => phone.from_text.clone(),
            DeliveryMethod::Voice => phone.from_voice.clone(),
        };
        (
            "notification",
            json!({
                "as_text": rendered.as_text,
                "as_voice": rendered.as_voice,
                "code": message.code,
                "delivery_method": message.method,
                "from": from.unwrap_or_default(),
                "locale": message.locale,
                "message_type": match message.which {
                    PhoneTemplate::Enrollment => PhoneMessageType::OtpEnroll,
                    PhoneTemplate::Verification => PhoneMessageType::OtpVerify,
                },
                "recipient": message.recipient,
            }),
        )
    };
    if let Some(object) = event.as_object_mut() {
        object.insert(key.into(), part);
    }
    event
}
