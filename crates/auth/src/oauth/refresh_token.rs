//! `grant_type=refresh_token` (RFC 6749 §6): rotation within a family, reuse detection that revokes the family,
//! the post-login flow run again, scopes only narrowed.

use gatehouse_store::{RefreshUse, secret_key};
use gatehouse_types::config::ClientConfig;
use gatehouse_types::{AuthMethod, MfaProvider};

use crate::claims::{self, Issue, TokenResponse};
use crate::clock;
use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, TokenRequest, apply_outcome, requested_scopes, server_error};

impl TokenEndpoint<'_> {
    pub(super) async fn refresh_token(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
    ) -> Result<TokenResponse, OAuthError> {
        let token = req.require("refresh_token")?;
        let key = secret_key(token);
        let invalid = OAuthError::invalid_grant("Unknown or invalid refresh token.");
        let now = self.now();
        // Another client's token is refused before it is touched: marking it used would make its rightful
        // client's next exchange look like a replay and revoke the family.
        let found = match self.ctx.tenant.store.find_refresh_token(&key, now).await.map_err(server_error)? {
            Some(record) if record.grant.client_id == client.client_id => record,
            Some(_) => {
                self.log("fertft", "Refresh token of another client", Some(client), None).await;
                return Err(invalid);
            }
            None => {
                self.log("fertft", "Unknown or expired refresh token", Some(client), None).await;
                return Err(invalid);
            }
        };
        // The request is validated before the token is spent: a refused request must not burn it (the next,
        // correct request would then look like a replay and revoke the family).
        let asked = match req.get("scope") {
            Some(scope) => Some(requested_scopes(scope)?),
            None => None,
        };
        if let Some(asked) = &asked
            && let Some(extra) = asked.iter().find(|s| !found.grant.scope.contains(s))
        {
            return Err(OAuthError::invalid_scope(format!("The scope {extra} was not granted")));
        }
        let record = match self.ctx.tenant.store.use_refresh_token(&key, now).await.map_err(server_error)? {
            RefreshUse::Fresh(record) => record,
            RefreshUse::Reused(record) => {
                // A rotated token presented again: someone has a copy. Revoke the whole family.
                let revoked =
                    self.ctx.tenant.store.revoke_refresh_family(&record.family).await.map_err(server_error)?;
                self.log(
                    "fertft",
                    format!("Refresh token reused; {revoked} token(s) of its family revoked"),
                    Some(client),
                    None,
                )
                .await;
                return Err(invalid);
            }
            RefreshUse::Missing => {
                self.log("fertft", "Unknown or expired refresh token", Some(client), None).await;
                return Err(invalid);
            }
        };
        let user = self.user(&record.grant.user_id).await?;
        // Tokens issued through an organization are refreshed only while the user is still a member of it: a
        // removed member must not keep getting tokens that name the organization.
        if let Some(org_id) = record.grant.organization.as_deref() {
            let member = self.ctx.tenant.directory().membership(org_id, &user.user_id).is_some();
            if !member {
                self.log(
                    "fertft",
                    format!("The user is no longer a member of the organization {org_id}"),
                    Some(client),
                    Some(&user),
                )
                .await;
                return Err(invalid);
            }
        }
        let mut grant = record.grant.clone();
        // A refresh may narrow the scopes, never widen them (checked above, against the same record).
        if let Some(asked) = asked {
            if let Some(extra) = asked.iter().find(|s| !grant.scope.contains(s)) {
                return Err(OAuthError::invalid_scope(format!("The scope {extra} was not granted")));
            }
            grant.scope = asked;
        }
        let mut methods = vec![AuthMethod { name: "pwd".into(), timestamp: clock::iso(grant.auth_time), kind: None }];
        if grant.mfa {
            methods.push(AuthMethod { name: "mfa".into(), timestamp: clock::iso(grant.auth_time), kind: None });
        }
        let mut event = self
            .token_event(client, &user, &methods, grant.audience.as_deref(), &grant.scope, "oauth2-refresh-token", req)
            .await?;
        // A refresh stays in the organization the tokens were issued for.
        crate::event::set_organization(&self.ctx.tenant.directory(), &mut event, &user, grant.organization.as_deref());
        let outcome = self.run_flow(event, client, &user).await?;
        if outcome.multifactor.as_ref().is_some_and(|m| m.provider != MfaProvider::None) && !grant.mfa {
            return Err(OAuthError::mfa_required("Multifactor authentication required"));
        }
        let roles = crate::authorization::roles(&self.ctx.tenant.directory(), &user, grant.organization.as_deref());
        apply_outcome(&mut grant, &outcome, self.ctx.tenant, client, &roles);
        // Amr is absent on tokens from refresh (Auth0).
        grant.amr.clear();
        grant.acr = None;
        self.save_metadata(&user, &outcome).await?;
        let issue = Issue { access_jti: None, family: Some((record.family.clone(), record.expires_at)) };
        let response = claims::issue_user_tokens(self.ctx.tenant, client, &user, &grant, issue, now)
            .await
            .map_err(server_error)?;
        self.log_flow("sertft", "Successful exchange of refresh token", client, &user, &outcome).await;
        Ok(response)
    }
}
