//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client's own token for an API it has a
//! client grant for.

use gatehouse_types::config::{ClientConfig, OrganizationUsage};
use gatehouse_types::directory::ClientGrant;
use gatehouse_types::records::Grant;

use gatehouse_types::JsonMap;
use gatehouse_types::credentials::CredentialsResult;
use serde_json::{Value, json};

use crate::claims::{self, TokenResponse};
use crate::error::{ErrorCode, OAuthError};
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
        let directory = self.ctx.tenant.directory();
        let Some(client_grant) = directory.client_grant(&client.client_id, audience) else {
            self.log("feccft", format!("Client is not authorized to access {audience}"), Some(client), None).await;
            return Err(OAuthError::access_denied(format!(
                "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
            )));
        };
        let scope: Vec<String> = match req.get("scope") {
            Some(asked) => {
                let asked = requested_scopes(asked)?;
                if let Some(extra) = asked.iter().find(|s| !client_grant.scope.contains(s)) {
                    return Err(OAuthError::access_denied(format!("Client has not been granted scopes: {extra}")));
                }
                asked
            }
            None => client_grant.scope.clone(),
        };
        let organization = self.organization_of(req, client, client_grant).await?;
        let now = self.now();
        let mut grant = Grant {
            user_id: String::new(),
            client_id: client.client_id.clone(),
            scope,
            audience: Some(audience.to_owned()),
            session_id: None,
            auth_time: now,
            organization,
            ..Grant::default()
        };
        let (claims, target) =
            self.credentials_exchange(req, client, audience, &grant.scope, grant.organization.as_deref()).await?;
        grant.access_token_claims = claims;
        if let Some(target) = target {
            // The actions' target set, filtered by what the client grant authorizes (an unauthorized addition is
            // dropped silently, as Auth0 does).
            grant.scope = target.into_iter().filter(|s| client_grant.scope.contains(s)).collect();
        }
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

    /// The organization a `client_credentials` request names, as its client grant allows (reference §9.3).
    async fn organization_of(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
        client_grant: &ClientGrant,
    ) -> Result<Option<String>, OAuthError> {
        let directory = self.ctx.tenant.directory();
        let refused = match (req.get("organization"), client_grant.organization_usage) {
            (None, OrganizationUsage::Require) => {
                OAuthError::invalid_request("The organization parameter is required for this client grant")
            }
            (None, _) => return Ok(None),
            (Some(_), OrganizationUsage::Deny) => {
                OAuthError::invalid_request("The organization parameter is not allowed for this client grant")
            }
            (Some(named), _) => match directory.organization(named) {
                None => OAuthError::invalid_request(
                    "parameter organization is invalid: no organization found by that name or identifier",
                ),
                Some(org) if client_grant.allow_any_organization || client_grant.organizations.contains(&org.id) => {
                    return Ok(Some(org.id.clone()));
                }
                Some(org) => {
                    OAuthError::access_denied(format!("Client is not authorized to access the organization {}", org.id))
                }
            },
        };
        self.log("feccft", refused.description.clone(), Some(client), None).await;
        Err(refused)
    }

    /// Runs the `credentials-exchange` actions: a denial answers the action's OAuth error, a failure fails the
    /// request closed (its cause goes to the log, not to the client); otherwise the actions' access-token claims and
    /// their target scopes (when an action changed them through `api.transaction`).
    async fn credentials_exchange(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
        audience: &str,
        scope: &[String],
        organization: Option<&str>,
    ) -> Result<(JsonMap, Option<Vec<String>>), OAuthError> {
        let tenant = self.ctx.tenant;
        let mut body = JsonMap::new();
        for (k, v) in &req.fields {
            // Never hand credentials to actions.
            if !matches!(k.as_str(), "client_secret" | "client_assertion") {
                body.insert(k.clone(), Value::from(v.clone()));
            }
        }
        let request = self.ctx.request;
        let event = json!({
            "accessToken": { "customClaims": {}, "scope": scope },
            "client": { "client_id": client.client_id, "name": client.name, "metadata": client.metadata },
            "request": {
                "ip": request.ip,
                "hostname": request.hostname,
                "method": request.method,
                "user_agent": request.user_agent,
                "language": request.accept_language.as_deref().map(|l| crate::login::language(&[], Some(l))),
                "body": body,
            },
            "resource_server": { "identifier": audience },
            "tenant": { "id": tenant.config.tenant_name() },
            "transaction": { "requested_scopes": scope, "target_scopes": scope },
            "secrets": tenant.secrets,
        });
        let mut event = event;
        if let Some(org) = organization.and_then(|id| tenant.directory().organization(id).cloned())
            && let Some(object) = event.as_object_mut()
        {
            object.insert(
                "organization".into(),
                json!({ "id": org.id, "name": org.name, "display_name": org.display_name, "metadata": org.metadata }),
            );
        }
        let outcome = tenant.actions.exchange_credentials(event, req.from_own_action).await;
        for log in &outcome.tenant_logs {
            self.log(&log.kind, log.description.clone(), Some(client), None).await;
        }
        let reason = outcome.reason.clone().unwrap_or_default();
        match outcome.result {
            CredentialsResult::Allow => Ok((outcome.access_token_claims, outcome.target_scopes)),
            CredentialsResult::Deny => {
                let code = outcome.code.as_deref().unwrap_or("invalid_request");
                self.log(
                    "feccft",
                    format!("Denied by the credentials-exchange flow ({code}): {reason}"),
                    Some(client),
                    None,
                )
                .await;
                let code = match code {
                    "invalid_scope" => ErrorCode::InvalidScope,
                    "server_error" => ErrorCode::ServerError,
                    _ => ErrorCode::InvalidRequest,
                };
                Err(OAuthError::of(code, reason))
            }
            CredentialsResult::Failed => {
                let action = outcome.failed_action.as_deref().unwrap_or("an action");
                self.log(
                    "feccft",
                    format!("The credentials-exchange flow failed in {action}: {reason}"),
                    Some(client),
                    None,
                )
                .await;
                Err(server_error(format!("credentials-exchange flow failed in {action}: {reason}")))
            }
        }
    }
}
