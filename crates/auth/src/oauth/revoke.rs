//! `POST /oauth/revoke` (RFC 7009, as Auth0 has it): a client revokes one of its refresh tokens.
//!
//! The client authenticates as at the token endpoint (a public client by its `client_id`). Auth0 treats a revoked
//! refresh token as possibly exposed, so the whole rotation family goes: the token, what it was rotated into, and
//! what it was rotated from. An unknown, expired or already revoked token is answered like a revoked one (RFC 7009
//! §2.2: nothing to learn from the answer); another client's token is refused and stays valid.

use gatehouse_store::secret_key;

use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, TokenRequest, server_error};

impl TokenEndpoint<'_> {
    /// Revokes the refresh token in `token` (and its family) for the authenticated client.
    pub async fn revoke(&self, req: &TokenRequest) -> Result<(), OAuthError> {
        let client = self.authenticate_client(req)?;
        let token = req.require("token")?;
        if let Some(hint) = req.get("token_type_hint")
            && hint != "refresh_token"
        {
            // Access tokens are self-contained JWTs Gatehouse cannot recall (Auth0: refresh tokens only).
            return Err(OAuthError::unsupported_token_type(format!(
                "Only refresh tokens can be revoked; token_type_hint '{hint}' is not supported"
            )));
        }
        let now = self.now();
        let Some(record) =
            self.ctx.tenant.store.find_refresh_token(&secret_key(token), now).await.map_err(server_error)?
        else {
            return Ok(());
        };
        if record.grant.client_id != client.client_id {
            self.log("frrt", "Refresh token of another client", Some(&client), None).await;
            return Err(OAuthError::invalid_grant("The refresh token was not issued to this client."));
        }
        let revoked = self.ctx.tenant.store.revoke_refresh_family(&record.family).await.map_err(server_error)?;
        let user = self.ctx.tenant.store.find_user(&record.grant.user_id).await.map_err(server_error)?;
        self.log("srrt", format!("Refresh token revoked ({revoked} of its family)"), Some(&client), user.as_ref())
            .await;
        Ok(())
    }
}
