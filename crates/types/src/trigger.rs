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
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 4] =
        [Trigger::PostLogin, Trigger::CustomPhoneProvider, Trigger::CredentialsExchange, Trigger::SendPhoneMessage];

    /// The trigger id Auth0 uses, also the folder name under `actions/`.
    pub fn id(self) -> &'static str {
        match self {
            Trigger::PostLogin => "post-login",
            Trigger::CustomPhoneProvider => "custom-phone-provider",
            Trigger::CredentialsExchange => "credentials-exchange",
            Trigger::SendPhoneMessage => "send-phone-message",
        }
    }

    /// The exported handler that starts an execution.
    pub fn handler(self) -> &'static str {
        match self {
            Trigger::PostLogin => "onExecutePostLogin",
            Trigger::CustomPhoneProvider => "onExecuteCustomPhoneProvider",
            Trigger::CredentialsExchange => "onExecuteCredentialsExchange",
            Trigger::SendPhoneMessage => "onExecuteSendPhoneMessage",
        }
    }

    /// The exported handler that resumes after a redirect, for triggers that can redirect.
    pub fn continue_handler(self) -> Option<&'static str> {
        match self {
            Trigger::PostLogin => Some("onContinuePostLogin"),
            Trigger::CustomPhoneProvider | Trigger::CredentialsExchange | Trigger::SendPhoneMessage => None,
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
