//! `grant_type=password` and Auth0's `password-realm`: the password check with its lockout, the post-login flow,
//! and `mfa_required` with an `mfa_token` when the flow or the policy asks for MFA.

use gatehouse_engine::flow::Step;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::Grant;
use gatehouse_types::{AuthMethod, FactorType, FlowResult, JsonMap, MfaProvider};
use serde_json::{Value, json};

use crate::claims::{self, Issue, TokenResponse};
use crate::credentials::{self, PasswordCheck};
use crate::error::OAuthError;
use crate::mfa_ticket::{self, MfaTicket};
use crate::oauth::{TokenEndpoint, TokenRequest, apply_outcome, requested_scopes, server_error};

impl TokenEndpoint<'_> {
    pub(super) async fn password(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
        grant_type: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let username = req.require("username")?.trim().to_lowercase();
        let password = req.require("password")?.to_owned();
        if grant_type != "password"
            && let Some(realm) = req.get("realm")
            && realm != self.ctx.tenant.config.connection.name
        {
            return Err(OAuthError::invalid_request(format!("Unknown realm: {realm}")));
        }
        let audience = req.get("audience").map(str::to_owned);
        let mfa_api = audience.as_deref() == Some(self.ctx.tenant.config.mfa_audience().as_str());
        if let Some(a) = &audience
            && self.ctx.tenant.directory().api(a).is_none()
            && !mfa_api
        {
            return Err(OAuthError::access_denied(format!("Service not found: {a}")));
        }
        let ip = self.ctx.request.ip.clone();
        let blocked = || {
            OAuthError::too_many_attempts(
                "Your account has been blocked after multiple consecutive login attempts. We've sent you an email with instructions on how to unblock it.",
            )
        };
        let now = self.now();
        let checked = credentials::check_password(self.ctx.tenant, &username, &ip, &password, now).await;
        let user = match checked.map_err(server_error)? {
            PasswordCheck::Blocked => return Err(blocked()),
            PasswordCheck::Valid(user) => *user,
            PasswordCheck::Wrong { failures, now_blocked, .. } => {
                self.log("fp", "Wrong email or password.", Some(client), None).await;
                self.log("fepft", "Wrong email or password.", Some(client), None).await;
                if now_blocked {
                    self.log("limit_wc", format!("Blocked: {failures} failed logins from {ip}"), Some(client), None)
                        .await;
                    return Err(blocked());
                }
                return Err(OAuthError::invalid_grant("Wrong email or password."));
            }
        };
        if user.blocked {
            return Err(OAuthError::unauthorized("user is blocked"));
        }
        let scope = requested_scopes(req.get("scope").unwrap_or("openid"))?;
        let methods = vec![AuthMethod { name: "pwd".into(), timestamp: self.ctx.tenant.now_iso(), kind: None }];
        let event =
            self.token_event(client, &user, &methods, audience.as_deref(), &scope, "oauth2-password", req).await?;
        let step = self.ctx.tenant.actions.start_post_login(event).await;
        let mut grant = Grant {
            user_id: user.user_id.clone(),
            client_id: client.client_id.clone(),
            scope: scope.clone(),
            audience: audience.clone(),
            session_id: None,
            auth_time: now,
            nonce: None,
            acr: None,
            amr: Vec::new(),
            id_token_claims: JsonMap::new(),
            access_token_claims: JsonMap::new(),
            organization: None,
            mfa: false,
        };
        let (outcome, factors) = match step {
            Step::Done(outcome) => (*outcome, Vec::new()),
            Step::Paused(paused)
                if paused.prompt().is_some_and(|p| p.command == gatehouse_types::PromptCommand::SendUserTo) =>
            {
                let reason = "The post-login flow redirects the browser (api.redirect.sendUserTo), which the password grant cannot do";
                self.log("f", reason, Some(client), Some(&user)).await;
                self.log("fepft", reason, Some(client), Some(&user)).await;
                return Err(OAuthError::interaction_required(reason));
            }
            Step::Paused(paused) => {
                // The flow asks for a factor: the MFA API completes it (the flow's later actions do not run in
                // this grant; see docs).
                let factors: Vec<FactorType> = paused.prompt().map(|p| p.offered().collect()).unwrap_or_default();
                (paused.abandon(), factors)
            }
        };
        for log in &outcome.tenant_logs {
            self.log(&log.kind, log.description.clone(), Some(client), Some(&user)).await;
        }
        match outcome.result {
            FlowResult::Deny | FlowResult::Error => {
                let reason = outcome.reason.clone().unwrap_or_else(|| "Access denied".into());
                self.save_metadata(&user, &outcome).await?;
                self.log_flow("f", reason.clone(), client, &user, &outcome).await;
                self.log("fepft", reason.clone(), Some(client), Some(&user)).await;
                return Err(OAuthError::access_denied(reason));
            }
            FlowResult::Allow | FlowResult::Paused => {}
        }
        let roles = crate::authorization::roles(&self.ctx.tenant.directory(), &user, grant.organization.as_deref());
        apply_outcome(&mut grant, &outcome, self.ctx.tenant, client, &roles);
        let paused = outcome.result == FlowResult::Paused;
        let by_action = outcome.multifactor.as_ref().is_some_and(|m| m.provider != MfaProvider::None);
        let by_policy = matches!(self.ctx.tenant.config.mfa.policy, gatehouse_types::config::MfaPolicy::Always)
            && outcome.multifactor.as_ref().is_none_or(|m| m.provider != MfaProvider::None);
        // The MFA API's own audience is only granted after MFA.
        if paused || by_action || by_policy || mfa_api {
            let ticket = MfaTicket {
                user_id: user.user_id.clone(),
                client_id: client.client_id.clone(),
                grant,
                grant_type: grant_type.to_owned(),
                factors: factors.clone(),
                app_metadata: outcome.app_metadata.clone(),
                user_metadata: outcome.user_metadata.clone(),
                expires_at: now + mfa_ticket::MFA_TOKEN_LIFETIME,
                mfa_passed: false,
            };
            let mfa_token = mfa_ticket::issue(self.ctx.tenant, &ticket, now).await.map_err(server_error)?;
            self.log("mfar", "Multifactor authentication required", Some(client), Some(&user)).await;
            let mut error = OAuthError::mfa_required("Multifactor authentication required");
            error.extra.insert("mfa_token".into(), Value::from(mfa_token));
            if !factors.is_empty() {
                let challenge: Vec<Value> = factors.iter().map(|f| json!({ "type": f.as_str() })).collect();
                error.extra.insert("mfa_requirements".into(), json!({ "challenge": challenge }));
            }
            return Err(error);
        }
        self.save_metadata(&user, &outcome).await?;
        let response = claims::issue_user_tokens(self.ctx.tenant, client, &user, &grant, Issue::default(), now)
            .await
            .map_err(server_error)?;
        self.log_flow("sepft", "Successful exchange of password for access token", client, &user, &outcome).await;
        Ok(response)
    }
}
