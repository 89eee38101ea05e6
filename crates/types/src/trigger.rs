//! The triggers an action can be written for.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An Actions trigger: which folder its actions live in and which handler they export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Runs after a user authenticated, before tokens are issued.
    PostLogin,
    /// Delivers SMS and voice messages through the operator's provider.
    CustomPhoneProvider,
    /// Runs on the `client_credentials` grant.
    CredentialsExchange,
    /// Auth0's older phone trigger: delivers SMS and voice messages (`event.message_options`).
    SendPhoneMessage,
    /// Runs before a sign-up is stored: may refuse it or set the new user's metadata.
    PreUserRegistration,
    /// Runs after a sign-up is stored; its failure never undoes the sign-up.
    PostUserRegistration,
    /// Runs after a password change or reset is stored.
    PostChangePassword,
    /// Runs after the user followed a password reset link, before the new password form: may deny the reset, ask for
    /// an MFA challenge or redirect.
    PasswordResetPostChallenge,
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 8] = [
        Trigger::PostLogin,
        Trigger::CustomPhoneProvider,
        Trigger::CredentialsExchange,
        Trigger::SendPhoneMessage,
        Trigger::PreUserRegistration,
        Trigger::PostUserRegistration,
        Trigger::PostChangePassword,
        Trigger::PasswordResetPostChallenge,
    ];

    /// The trigger id Auth0 uses, also the folder name under `actions/`.
    pub fn id(self) -> &'static str {
        match self {
            Trigger::PostLogin => "post-login",
            Trigger::CustomPhoneProvider => "custom-phone-provider",
            Trigger::CredentialsExchange => "credentials-exchange",
            Trigger::SendPhoneMessage => "send-phone-message",
            Trigger::PreUserRegistration => "pre-user-registration",
            Trigger::PostUserRegistration => "post-user-registration",
            Trigger::PostChangePassword => "post-change-password",
            Trigger::PasswordResetPostChallenge => "password-reset-post-challenge",
        }
    }

    /// The exported handler that starts an execution.
    pub fn handler(self) -> &'static str {
        match self {
            Trigger::PostLogin => "onExecutePostLogin",
            Trigger::CustomPhoneProvider => "onExecuteCustomPhoneProvider",
            Trigger::CredentialsExchange => "onExecuteCredentialsExchange",
            Trigger::SendPhoneMessage => "onExecuteSendPhoneMessage",
            Trigger::PreUserRegistration => "onExecutePreUserRegistration",
            Trigger::PostUserRegistration => "onExecutePostUserRegistration",
            Trigger::PostChangePassword => "onExecutePostChangePassword",
            Trigger::PasswordResetPostChallenge => "onExecutePostChallenge",
        }
    }

    /// The exported handler that resumes after a redirect, for triggers that can redirect.
    pub fn continue_handler(self) -> Option<&'static str> {
        match self {
            Trigger::PostLogin => Some("onContinuePostLogin"),
            Trigger::PasswordResetPostChallenge => Some("onContinuePostChallenge"),
            Trigger::CustomPhoneProvider
            | Trigger::CredentialsExchange
            | Trigger::SendPhoneMessage
            | Trigger::PreUserRegistration
            | Trigger::PostUserRegistration
            | Trigger::PostChangePassword => None,
        }
    }

    /// Parses a trigger id.
    pub fn parse(id: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.id() == id)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_parses_from_its_id_and_serializes_as_it() {
        for trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(trigger.id()), Some(trigger));
            assert_eq!(serde_json::to_value(trigger).ok(), Some(serde_json::json!(trigger.id())));
            assert!(trigger.handler().starts_with("onExecute"), "{trigger}");
        }
        assert_eq!(Trigger::PasswordResetPostChallenge.handler(), "onExecutePostChallenge");
        assert_eq!(Trigger::PasswordResetPostChallenge.continue_handler(), Some("onContinuePostChallenge"));
        assert_eq!(Trigger::PreUserRegistration.continue_handler(), None);
    }
}
