//! What the `credentials-exchange` trigger decided for one `client_credentials` request (reference §9.4).

use serde::{Deserialize, Serialize};

use crate::JsonMap;
use crate::outcome::{ConsoleLog, RecordedRequest, TenantLog};

/// The decision of a credentials-exchange run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsResult {
    /// The token is issued (with the actions' claims).
    Allow,
    /// `api.access.deny(code, reason)`: the request is refused with that OAuth error.
    Deny,
    /// An action threw or a limit stopped the run: the request fails closed.
    Failed,
}

/// The outcome of a credentials-exchange run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CredentialsOutcome {
    /// The decision.
    pub result: CredentialsResult,
    /// The OAuth error code of a denial: `invalid_scope`, `invalid_request` or `server_error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The denial's reason, or the error of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The action that denied or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_action: Option<String>,
    /// `api.accessToken.setCustomClaim` claims kept (restricted names and Auth0 namespaces dropped with a warning).
    pub access_token_claims: JsonMap,
    /// The target scopes after the actions' `api.transaction` calls, when they made any (before the client grant
    /// filters them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_scopes: Option<Vec<String>>,
    /// Warnings for the tenant log.
    pub tenant_logs: Vec<TenantLog>,
    /// Actions that ran, in order.
    pub executed: Vec<String>,
    /// `console.*` output, secrets redacted.
    pub logs: Vec<ConsoleLog>,
    /// `fetch` calls, secrets redacted.
    pub requests: Vec<RecordedRequest>,
}
