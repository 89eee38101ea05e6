//! Commands an action records through `api`.
//!
//! Scripts never change login state directly: every `api.*` call is validated by the host and recorded as one
//! of these. The flow (in the engine) applies them after the action finished, with Auth0's ordering rules.

use serde::{Deserialize, Serialize};

use crate::factor::FactorSelector;

/// One recorded `api` call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// A call Gatehouse checks and keeps but has nothing to apply to (`api.session.setExpiresAt`,
    /// `api.refreshToken.setMetadata`, `api.samlResponse.*`, `api.prompt.render`, ...): recorded in the outcome
    /// and logged, never an error.
    Record {
        /// The call, e.g. `session.setExpiresAt`.
        api: String,
        /// Its arguments as JSON (a key's material is replaced by `"[redacted]"`).
        args: Vec<serde_json::Value>,
    },
    /// `api.access.deny(reason)`: stop the flow after this action.
    Deny {
        /// Reason given to the application as `error_description`.
        reason: String,
    },
    /// `api.idToken.setCustomClaim` / `api.accessToken.setCustomClaim`.
    SetCustomClaim {
        /// Which token.
        token: TokenKind,
        /// Claim name.
        name: String,
        /// Claim value (JSON).
        value: serde_json::Value,
    },
    /// `api.accessToken.addScope` / `removeScope`.
    ModifyScope {
        /// Add or remove.
        change: ScopeChange,
        /// The scope.
        scope: String,
    },
    /// `api.multifactor.enable(provider, { allowRememberBrowser })`: MFA at the end of the flow.
    EnableMultifactor {
        /// Provider.
        provider: MfaProvider,
        /// Whether the MFA page may offer "remember this browser".
        #[serde(rename = "allowRememberBrowser")]
        allow_remember_browser: bool,
    },
    /// `api.authentication.challengeWith(factor, { additionalFactors })`.
    ChallengeWith {
        /// Default factor.
        factor: FactorSelector,
        /// Alternatives behind "Try another method".
        additional_factors: Vec<FactorSelector>,
    },
    /// `api.authentication.challengeWithAny(factors)`.
    ChallengeWithAny {
        /// Factors for the picker.
        factors: Vec<FactorSelector>,
    },
    /// `api.authentication.enrollWith(factor, { additionalFactors })`.
    EnrollWith {
        /// Default factor.
        factor: FactorSelector,
        /// Alternatives.
        additional_factors: Vec<FactorSelector>,
    },
    /// `api.authentication.enrollWithAny(factors)`.
    EnrollWithAny {
        /// Factors for the picker.
        factors: Vec<FactorSelector>,
    },
    /// `api.authentication.recordMethod(url)` (only in `onContinuePostLogin`).
    RecordMethod {
        /// Custom method URL.
        url: String,
    },
    /// `api.authentication.setPrimaryUser(user_id)`.
    SetPrimaryUser {
        /// The primary user.
        user_id: String,
    },
    /// `api.user.setAppMetadata` / `setUserMetadata`; a `null` value removes the key.
    SetMetadata {
        /// Which metadata.
        target: MetadataTarget,
        /// Key.
        key: String,
        /// Value, `null` to remove.
        value: serde_json::Value,
    },
    /// `api.redirect.sendUserTo(url, { query })`, with the query already merged into `url`.
    Redirect {
        /// Where to send the browser.
        url: String,
    },
    /// `api.access.deny(code, reason)` (credentials-exchange): the token request is refused with the OAuth error
    /// `code` (`invalid_scope`, `invalid_request` or `server_error`).
    DenyCredentials {
        /// The OAuth error code.
        code: String,
        /// Why (at most 1,024 characters).
        reason: String,
    },
    /// `api.transaction.addTargetScope`, `removeTargetScope`, `setTargetScopes` or `clearTargetScopes`
    /// (credentials-exchange): the target set of scopes after the call. The last one of a run is the target; scopes
    /// the client grant does not authorize are dropped from it when the token is issued.
    SetTargetScopes {
        /// The whole target set, in order.
        scopes: Vec<String>,
    },
    /// `api.access.deny(reason, userMessage)` (pre-user-registration): the sign-up is refused.
    DenyRegistration {
        /// Why, for the logs (at most 1,024 characters).
        reason: String,
        /// What the user is shown, when the action gave it (at most 1,024 characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_message: Option<String>,
    },
    /// `api.validation.error(code, message)` (pre-user-registration): the sign-up is refused with this error.
    ValidationError {
        /// The action's error code (at most 100 characters).
        code: String,
        /// The message shown to the user (at most 100 characters).
        message: String,
    },
    /// `api.notification.drop(reason)` (custom-phone-provider): the message is not delivered, and is not tried again.
    DropNotification {
        /// Why (at most 1,024 characters).
        reason: String,
    },
    /// `api.notification.retry(reason)` (custom-phone-provider): this try failed; deliver it again later.
    RetryNotification {
        /// Why (at most 1,024 characters).
        reason: String,
    },
}

impl Command {
    /// Whether this is one of the four MFA commands that pause the flow and count toward its cap of 4.
    pub fn is_mfa_step(&self) -> bool {
        matches!(
            self,
            Command::ChallengeWith { .. }
                | Command::ChallengeWithAny { .. }
                | Command::EnrollWith { .. }
                | Command::EnrollWithAny { .. }
        )
    }

    /// What the call was and what it named, never the values it set (a claim may hold a token, metadata PII):
    /// `idToken.setCustomClaim(https://example.com/roles)`, `authentication.challengeWith(otp)`. For logs.
    pub fn summary(&self) -> String {
        let factors = |list: &[FactorSelector]| list.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>().join(", ");
        match self {
            Command::Record { api, .. } => api.clone(),
            Command::Deny { .. } => "access.deny".to_owned(),
            Command::SetCustomClaim { token: TokenKind::Id, name, .. } => format!("idToken.setCustomClaim({name})"),
            Command::SetCustomClaim { token: TokenKind::Access, name, .. } => {
                format!("accessToken.setCustomClaim({name})")
            }
            Command::ModifyScope { change: ScopeChange::Add, scope } => format!("accessToken.addScope({scope})"),
            Command::ModifyScope { change: ScopeChange::Remove, scope } => format!("accessToken.removeScope({scope})"),
            Command::EnableMultifactor { provider, .. } => {
                let provider = serde_json::to_value(provider).ok().and_then(|v| v.as_str().map(str::to_owned));
                format!("multifactor.enable({})", provider.unwrap_or_default())
            }
            Command::ChallengeWith { factor, additional_factors } => {
                format!(
                    "authentication.challengeWith({})",
                    factors(&[vec![factor.clone()], additional_factors.clone()].concat())
                )
            }
            Command::ChallengeWithAny { factors: list } => {
                format!("authentication.challengeWithAny({})", factors(list))
            }
            Command::EnrollWith { factor, additional_factors } => {
                format!(
                    "authentication.enrollWith({})",
                    factors(&[vec![factor.clone()], additional_factors.clone()].concat())
                )
            }
            Command::EnrollWithAny { factors: list } => format!("authentication.enrollWithAny({})", factors(list)),
            Command::RecordMethod { .. } => "authentication.recordMethod".to_owned(),
            Command::SetPrimaryUser { .. } => "authentication.setPrimaryUser".to_owned(),
            Command::SetMetadata { target: MetadataTarget::App, key, .. } => format!("user.setAppMetadata({key})"),
            Command::SetMetadata { target: MetadataTarget::User, key, .. } => format!("user.setUserMetadata({key})"),
            Command::Redirect { .. } => "redirect.sendUserTo".to_owned(),
            Command::DenyCredentials { code, .. } => format!("access.deny({code})"),
            Command::SetTargetScopes { .. } => "transaction.setTargetScopes".to_owned(),
            Command::DenyRegistration { .. } => "access.deny".to_owned(),
            Command::ValidationError { code, .. } => format!("validation.error({code})"),
            Command::DropNotification { .. } => "notification.drop".to_owned(),
            Command::RetryNotification { .. } => "notification.retry".to_owned(),
        }
    }

    /// Whether the flow stops or pauses after the action that recorded this command.
    pub fn stops_after_action(&self) -> bool {
        self.is_mfa_step()
            || matches!(
                self,
                Command::Deny { .. }
                    | Command::DenyCredentials { .. }
                    | Command::DenyRegistration { .. }
                    | Command::ValidationError { .. }
                    | Command::Redirect { .. }
            )
    }
}

/// The token a custom claim goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// The ID token.
    Id,
    /// The access token.
    Access,
}

/// Add or remove a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeChange {
    /// `addScope`.
    Add,
    /// `removeScope`.
    Remove,
}

/// Which user metadata a `SetMetadata` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataTarget {
    /// `app_metadata`.
    App,
    /// `user_metadata`.
    User,
}

/// Provider of `api.multifactor.enable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MfaProvider {
    /// Any enabled factor (recommended).
    Any,
    /// Guardian factors (legacy).
    Guardian,
    /// OTP apps (legacy).
    GoogleAuthenticator,
    /// Duo (not offered by Gatehouse: treated as `any`, see docs).
    Duo,
    /// Skip MFA for this login.
    None,
}

impl MfaProvider {
    /// Parses the provider string an action passes.
    pub fn parse(name: &str) -> Option<MfaProvider> {
        match name {
            "any" => Some(MfaProvider::Any),
            "guardian" => Some(MfaProvider::Guardian),
            "google-authenticator" => Some(MfaProvider::GoogleAuthenticator),
            "duo" => Some(MfaProvider::Duo),
            "none" => Some(MfaProvider::None),
            _ => None,
        }
    }
}
