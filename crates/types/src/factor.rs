//! MFA factor types and the selectors actions pass to `api.authentication.*`.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::JsonMap;

/// An MFA factor type, spelled as Auth0 spells it in `enrolledFactors[].type` and `methods[].type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactorType {
    /// A TOTP authenticator app.
    Otp,
    /// A one-time code sent by email.
    Email,
    /// Guardian push (`push` is accepted as an alias).
    #[serde(alias = "push")]
    PushNotification,
    /// SMS or voice one-time code.
    Phone,
    /// A platform authenticator (device biometrics).
    WebauthnPlatform,
    /// A roaming security key.
    WebauthnRoaming,
    /// A single-use recovery code.
    RecoveryCode,
}

impl FactorType {
    /// Every factor type, in the order pickers list them.
    pub const ALL: [FactorType; 7] = [
        FactorType::Otp,
        FactorType::PushNotification,
        FactorType::Phone,
        FactorType::Email,
        FactorType::WebauthnPlatform,
        FactorType::WebauthnRoaming,
        FactorType::RecoveryCode,
    ];

    /// The wire name (`otp`, `push-notification`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FactorType::Otp => "otp",
            FactorType::Email => "email",
            FactorType::PushNotification => "push-notification",
            FactorType::Phone => "phone",
            FactorType::WebauthnPlatform => "webauthn-platform",
            FactorType::WebauthnRoaming => "webauthn-roaming",
            FactorType::RecoveryCode => "recovery-code",
        }
    }

    /// Parses a wire name, accepting `push` for `push-notification`.
    pub fn parse(name: &str) -> Option<FactorType> {
        match name {
            "push" => Some(FactorType::PushNotification),
            _ => FactorType::ALL.into_iter().find(|f| f.as_str() == name),
        }
    }
}

impl fmt::Display for FactorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A factor an action asks for: `{ type: 'phone', options: { preferredMethod: 'voice' } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSelector {
    /// The factor type.
    #[serde(rename = "type")]
    pub kind: FactorType,
    /// Factor options as the action gave them (`preferredMethod`, `otpFallback`), already validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonMap>,
}

impl FactorSelector {
    /// A selector without options.
    pub fn of(kind: FactorType) -> Self {
        FactorSelector { kind, options: None }
    }
}
