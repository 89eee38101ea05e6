//! Client authentication (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, or `none` for public
//! clients, shared by the token endpoint and the MFA API.

use gatehouse_types::config::{ClientConfig, TenantConfig};
use subtle::ConstantTimeEq;

use crate::error::OAuthError;

/// What a request presented to identify its client.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientCredentials<'a> {
    /// `Authorization: Basic` id and secret.
    pub basic: Option<(&'a str, &'a str)>,
    /// `client_id` in the body.
    pub client_id: Option<&'a str>,
    /// `client_secret` in the body.
    pub client_secret: Option<&'a str>,
}

impl ClientCredentials<'_> {
    /// Whether the request presented anything at all.
    pub fn is_empty(&self) -> bool {
        self.basic.is_none() && self.client_id.is_none() && self.client_secret.is_none()
    }
}

/// Identifies and authenticates the client. A confidential client must present its secret (compared in constant
/// time); a request may use only one authentication method ("The client MUST NOT use more than one authentication
/// method in each request", RFC 6749 §2.3).
pub fn authenticate_client(config: &TenantConfig, given: ClientCredentials<'_>) -> Result<ClientConfig, OAuthError> {
    let (client_id, secret) = match given.basic {
        Some((id, secret)) => {
            if given.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Client authentication must use only one method: HTTP Basic or client_secret in the body, not both",
                ));
            }
            if given.client_id.is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request("client_id does not match the HTTP Basic credentials"));
            }
            (id, Some(secret))
        }
        None => (given.client_id.unwrap_or_default(), given.client_secret),
    };
    if client_id.is_empty() {
        return Err(OAuthError::invalid_client("Missing client_id"));
    }
    let Some(client) = config.client(client_id) else {
        return Err(OAuthError::invalid_client("Unknown client."));
    };
    match (&client.client_secret, secret) {
        (Some(expected), Some(given)) if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) => Ok(client.clone()),
        (Some(_), _) => Err(OAuthError::invalid_client("Client authentication failed.")),
        (None, _) => Ok(client.clone()),
    }
}
