//! Pure data shared by every Gatehouse crate.
//!
//! The Actions runtime, the login server and the fixture runner all speak about the same things: the `event`
//! an action reads, the commands it records through `api`, the factors it asks for, and the outcome of a flow.
//! Keeping those types here, with serde and nothing else, lets each crate depend on the vocabulary without
//! depending on Boa, HTTP or storage.

pub mod account;
pub mod command;
pub mod config;
pub mod credentials;
pub mod directory;
pub mod event;
pub mod factor;
pub mod outcome;
pub mod phone;
pub mod records;
pub mod trigger;

pub use command::{Command, MfaProvider, ScopeChange};
pub use event::{AuthMethod, EnrolledFactor, PostLoginEvent};
pub use factor::{FactorSelector, FactorType};
pub use outcome::{ConsoleLog, FlowResult, Outcome, Prompt, PromptCommand, TenantLog};
pub use trigger::Trigger;

/// A JSON object, the shape of metadata, claims and free-form event parts.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Applies metadata changes (`app_metadata`, `user_metadata`) to `target`: a `null` removes a key, any other value
/// replaces it. The server, the token endpoint and the MFA API all apply actions' changes this way.
pub fn merge_metadata(target: &mut JsonMap, changes: &JsonMap) {
    for (key, value) in changes {
        if value.is_null() {
            target.remove(key);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}
