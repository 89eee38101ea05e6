//! `grant_type=authorization_code` (RFC 6749 §4.1.3): a single-use code with its client, redirect URI and PKCE
//! verifier. A replayed code revokes what its first exchange issued (§4.1.2).

use base64::Engine;
use gatehouse_store::{CodeUse, Ephemeral, secret_key};
use gatehouse_types::config::ClientConfig;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::claims::{self, Issue, TokenResponse};
use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, TokenRequest, server_error};
use crate::pkce;

impl TokenEndpoint<'_> {
    pub(super) async fn authorization_code(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
    ) -> Result<TokenResponse, OAuthError> {
        let code = req.require("code")?;
        let key = secret_key(code);
        let invalid = |description: &str| OAuthError::invalid_grant(description);
        let now = self.now();
        let record = match self.ctx.tenant.store.take_code(&key, now).await.map_err(server_error)? {
            CodeUse::Fresh(record) => record,
            CodeUse::Replayed => {
                // RFC 6749 §4.1.2: a code used twice revokes what its first exchange issued.
                self.revoke_code_tokens(&key).await?;
                self.log(
                    "feacft",
                    "Authorization code reused; the tokens of its first exchange were revoked",
                    Some(client),
                    None,
                )
                .await;
                return Err(invalid("Invalid authorization code"));
            }
            CodeUse::Missing => {
                self.log("feacft", "Invalid authorization code", Some(client), None).await;
                return Err(invalid("Invalid authorization code"));
            }
        };
        if record.grant.client_id != client.client_id {
            self.log("feacft", "Authorization code issued to another client", Some(client), None).await;
            return Err(invalid("Invalid authorization code"));
        }
        // RFC 6749 §4.1.3: the redirect_uri of the authorization request, if it carried one, must be repeated.
        match req.get("redirect_uri") {
            Some(uri) if uri != record.redirect_uri => {
                self.log("feacft", "redirect_uri does not match", Some(client), None).await;
                return Err(invalid("Invalid redirect URI"));
            }
            None if record.redirect_uri_sent => {
                self.log("feacft", "redirect_uri missing", Some(client), None).await;
                return Err(invalid("Parameter 'redirect_uri' is required"));
            }
            _ => {}
        }
        match (&record.code_challenge, req.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let computed =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if !pkce::is_valid_verifier(verifier) || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                    self.log("feacft", "Failed verification of code_verifier", Some(client), None).await;
                    return Err(invalid("Failed to verify code verifier"));
                }
            }
            (Some(_), None) => return Err(invalid("Parameter 'code_verifier' is required")),
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
            (None, Some(_)) => {
                self.log("feacft", "code_verifier sent for a code issued without code_challenge", Some(client), None)
                    .await;
                return Err(invalid("Failed to verify code verifier"));
            }
            (None, None) if client.client_secret.is_none() => {
                return Err(invalid("PKCE is required for public clients"));
            }
            (None, None) => {}
        }
        let user = self.user(&record.grant.user_id).await?;
        let (family, access_jti) = code_token_ids(&key);
        let issue = Issue {
            access_jti: Some(access_jti),
            family: Some((family, now + self.ctx.tenant.config.sessions.refresh_token_lifetime as i64)),
        };
        let response = claims::issue_user_tokens(self.ctx.tenant, client, &user, &record.grant, issue, now)
            .await
            .map_err(server_error)?;
        // A replay that arrived while these were being issued revoked them before they were stored: look again.
        if self.ctx.tenant.store.is_code_replayed(&key, now).await.map_err(server_error)? {
            self.revoke_code_tokens(&key).await?;
            self.log(
                "feacft",
                "Authorization code reused during its exchange; its tokens were revoked",
                Some(client),
                None,
            )
            .await;
            return Err(invalid("Invalid authorization code"));
        }
        self.log("seacft", "Authorization Code for Access Token", Some(client), Some(&user)).await;
        Ok(response)
    }

    /// Revokes the refresh family and the access token an authorization code's exchange issued.
    async fn revoke_code_tokens(&self, key: &str) -> Result<(), OAuthError> {
        let (family, access_jti) = code_token_ids(key);
        let store = &self.ctx.tenant.store;
        store.revoke_refresh_family(&family).await.map_err(server_error)?;
        let until = self.now() + claims::longest_access_token_lifetime(&self.ctx.tenant.directory());
        store.put_ephemeral(Ephemeral::RevokedToken, &secret_key(&access_jti), b"1", until).await.map_err(server_error)
    }
}

/// The refresh family and access token `jti` of an authorization code's exchange, derived from the code's store
/// key, so a replay of the code can name them without the first exchange storing anything more.
fn code_token_ids(key: &str) -> (String, String) {
    let family = format!("rtf_{}", &secret_key(&format!("code-family\0{key}"))[..24]);
    let jti = secret_key(&format!("code-access-token\0{key}"))[..32].to_owned();
    (family, jti)
}
