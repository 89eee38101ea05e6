//! `grant_type=http://auth0.com/oauth/grant-type/mfa-oob`: the `oob_code` of a challenge and the `binding_code` the
//! user received; single use.

use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::FactorType;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::User;

use crate::attempts;
use crate::crypto::one_time_code::{self, OobChallenge};
use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, server_error};

impl TokenEndpoint<'_> {
    pub(super) async fn verify_oob(
        &self,
        user: &User,
        oob_code: &str,
        binding_code: Option<&str>,
        client: &ClientConfig,
    ) -> Result<(FactorType, Option<String>), OAuthError> {
        let now = self.now();
        let key = secret_key(oob_code);
        let raw = self
            .ctx
            .tenant
            .store
            .get_ephemeral(Ephemeral::OneTimeCode, &key, now)
            .await
            .map_err(server_error)?
            .ok_or_else(|| OAuthError::invalid_grant("Invalid oob_code."))?;
        let challenge: OobChallenge = serde_json::from_slice(&raw).map_err(server_error)?;
        if challenge.user_id != user.user_id || challenge.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("Invalid oob_code."));
        }
        if challenge.expires_at <= now {
            return Err(OAuthError::expired_token("oob_code is expired"));
        }
        let binding_code = binding_code.ok_or_else(|| OAuthError::invalid_request("binding_code is required"))?;
        let list = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let found = list
            .into_iter()
            .find(|a| a.id == challenge.authenticator_id)
            .ok_or_else(|| OAuthError::invalid_grant("Invalid oob_code."))?;
        let factor = found.kind.factor();
        let authenticator = self.spend_attempt(user, &found, client).await?;
        let matched = one_time_code::codes_match(&challenge.code_hash, binding_code, oob_code);
        // Single use: of two requests with the right code, only the one that removes it wins.
        let taken = matched
            && self
                .ctx
                .tenant
                .store
                .take_ephemeral(Ephemeral::OneTimeCode, &key, now)
                .await
                .map_err(server_error)?
                .is_some();
        if !taken {
            return Err(self.wrong(user, factor, client).await);
        }
        let stored = attempts::settle_success(self.ctx.tenant.store.as_ref(), &authenticator, now, &|current| {
            Some(current.clone())
        })
        .await
        .map_err(server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("Invalid oob_code."))?;
        self.confirm(user, &stored, client).await?;
        Ok((factor, None))
    }
}
