//! Phone messages (SMS and voice one-time codes): what they say ([`templates`]), how they reach the phone through
//! `[mfa.phone]`'s provider ([`delivery`]), and the number and method helpers the hosted pages and the MFA API share.

pub mod delivery;
pub mod retry;
pub mod templates;

use gatehouse_types::config::is_e164;
use gatehouse_types::phone::DeliveryMethod;

/// A number as people type it (`+81 90-1234-5678`, `0081...`), in E.164, or `None`.
pub fn normalize_number(typed: &str) -> Option<String> {
    let mut number: String = typed.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{3000}')).collect();
    if let Some(rest) = number.strip_prefix("00") {
        number = format!("+{rest}");
    }
    is_e164(&number).then_some(number)
}

/// The stored method of a phone enrollment (`sms`, `voice`, `both`) as a delivery method.
pub fn enrolled_method(method: &str) -> Option<DeliveryMethod> {
    match method {
        "voice" => Some(DeliveryMethod::Voice),
        "sms" => Some(DeliveryMethod::Text),
        _ => None,
    }
}

/// How an enrollment stores a delivery method.
pub fn method_name(method: DeliveryMethod) -> &'static str {
    match method {
        DeliveryMethod::Text => "sms",
        DeliveryMethod::Voice => "voice",
    }
}
