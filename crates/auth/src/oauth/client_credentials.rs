//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client's own token for an API it has a
//! client grant for.

use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::Grant;

use crate::claims::{self, TokenResponse};
use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, TokenRequest, requested_scopes, server_error};

impl TokenEndpoint<'_> {
    pub(super) async fn client_credentials(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
    ) -> Result<TokenResponse, OAuthError> {
        if client.client_secret.is_none() {
            return Err(OAuthError::invalid_client("Client credentials need a confidential client."));
        }
        let Some(audience) = req.get("audience") else {
            self.log("feccft", "Missing audience", Some(client), None).await;
            return Err(OAuthError::access_denied(
                "No audience parameter was provided, and no default audience has been configured",
            ));
        };
        let config = &self.ctx.tenant.config;
        let Some(client_grant) =
            config.client_grants.iter().find(|g| g.client_id == client.client_id && g.audience == audience)
        else {
            self.log("feccft", format!("Client is not authorized to access {audience}"), Some(client), None).await;
            return Err(OAuthError::access_denied(format!(
                "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
            )));
        };
        let scope: Vec<String> = match req.get("scope") {
            Some(asked) => {
                let asked = requested_scopes(asked)?;
                if let Some(extra) = asked.iter().find(|s| !client_grant.scopes.contains(s)) {
                    return Err(OAuthError::access_denied(format!("Client has not been granted scopes: {extra}")));
                }
                asked
            }
            None => client_grant.scopes.clone(),
        };
        let now = self.now();
        let grant = Grant {
            user_id: String::new(),
            client_id: client.client_id.clone(),
            scope,
            audience: Some(audience.to_owned()),
            session_id: None,
            auth_time: now,
            ..Grant::default()
        };
        let subject = format!("{}@clients", client.client_id);
        let (access_token, expires_in) = claims::access_token(
            self.ctx.tenant,
            &subject,
            &grant,
            Some("client-credentials"),
            &grant.scope,
            None,
            now,
        )
        .map_err(server_error)?;
        self.log("seccft", "Client Credentials for Access Token", Some(client), None).await;
        Ok(TokenResponse {
            access_token,
            id_token: None,
            refresh_token: None,
            scope: grant.scope.join(" "),
            expires_in,
            token_type: "Bearer",
            recovery_code: None,
        })
    }
}
