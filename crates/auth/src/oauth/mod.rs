//! `POST /oauth/token`: one file per grant (`authorization_code`, `refresh_token`, `password` with Auth0's
//! `password-realm`, `client_credentials`; the MFA grants are in `mfa_api`), and what they share here: the request,
//! client authentication, the user, the post-login flow where no page can be shown. Errors have Auth0's
//! `{error, error_description}` shape.

mod authorization_code;
mod client_credentials;
mod mfa;
mod mfa_oob;
mod mfa_otp;
mod mfa_recovery_code;
mod password;
mod refresh_token;
mod revoke;

use std::collections::HashMap;

use gatehouse_engine::flow::Step;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{Grant, User};
use gatehouse_types::{AuthMethod, FlowResult, JsonMap, Outcome, PostLoginEvent};
use serde_json::Value;

use crate::claims::{TokenResponse, granted_scopes};
use crate::client_auth::{self, ClientCredentials};
use crate::context::RequestContext;
use crate::error::OAuthError;
use crate::event::{self, RequestFacts, TransactionFacts};
use crate::scope;
use crate::tenant::Tenant;

pub(crate) fn server_error(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::server_error(e)
}

/// A token request: form or JSON fields, and HTTP Basic credentials if sent.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// Body fields.
    pub fields: HashMap<String, String>,
    /// `Authorization: Basic` credentials.
    pub basic: Option<(String, String)>,
    /// Made by one of this server's own actions (`client_credentials` only): the credentials-exchange actions it
    /// runs cannot reach the server.
    pub from_own_action: bool,
}

impl TokenRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("Missing required parameter: {name}")))
    }
}

impl<'a> TokenEndpoint<'a> {
    /// A token endpoint for one request.
    pub fn new(ctx: RequestContext<'a>) -> Self {
        TokenEndpoint { ctx }
    }
}

/// The token endpoint for one request.
pub struct TokenEndpoint<'a> {
    ctx: RequestContext<'a>,
}

impl TokenEndpoint<'_> {
    /// Answers a token request.
    pub async fn token(&self, req: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let grant_type = req.require("grant_type")?.to_owned();
        let client = self.authenticate_client(req)?;
        if !client.allows_grant(&grant_type) {
            return Err(OAuthError::unauthorized_client(format!(
                "Grant type '{grant_type}' not allowed for the client."
            )));
        }
        match grant_type.as_str() {
            "authorization_code" => self.authorization_code(req, &client).await,
            "refresh_token" => self.refresh_token(req, &client).await,
            "password" | "http://auth0.com/oauth/grant-type/password-realm" => {
                self.password(req, &client, &grant_type).await
            }
            "client_credentials" => self.client_credentials(req, &client).await,
            "http://auth0.com/oauth/grant-type/mfa-otp"
            | "http://auth0.com/oauth/grant-type/mfa-oob"
            | "http://auth0.com/oauth/grant-type/mfa-recovery-code" => self.mfa_grant(req, &client, &grant_type).await,
            other => Err(OAuthError::unsupported_grant_type(format!("Unsupported grant type: {other}"))),
        }
    }

    fn now(&self) -> i64 {
        self.ctx.tenant.now()
    }

    /// [`Self::log`] with the login's actions in `details.actions`.
    async fn log_flow(
        &self,
        kind: &str,
        description: impl Into<String>,
        client: &ClientConfig,
        user: &User,
        outcome: &Outcome,
    ) {
        let mut entry = crate::logs::entry(kind, description, self.ctx.request, Some(client), Some(user));
        crate::logs::add_actions(&mut entry, outcome);
        self.ctx.tenant.log(entry).await;
    }

    async fn log(
        &self,
        kind: &str,
        description: impl Into<String>,
        client: Option<&ClientConfig>,
        user: Option<&User>,
    ) {
        self.ctx.tenant.log(crate::logs::entry(kind, description, self.ctx.request, client, user)).await;
    }

    /// Identifies the client: `client_secret_basic`, `client_secret_post`, or `none` for public clients.
    pub fn authenticate_client(&self, req: &TokenRequest) -> Result<ClientConfig, OAuthError> {
        let credentials = ClientCredentials {
            basic: req.basic.as_ref().map(|(id, secret)| (id.as_str(), secret.as_str())),
            client_id: req.get("client_id"),
            client_secret: req.get("client_secret"),
        };
        client_auth::authenticate_client(&self.ctx.tenant.config, credentials)
    }

    async fn user(&self, user_id: &str) -> Result<User, OAuthError> {
        match self.ctx.tenant.store.find_user(user_id).await.map_err(server_error)? {
            Some(user) if !user.blocked => Ok(user),
            Some(_) => Err(OAuthError::unauthorized("user is blocked")),
            None => Err(OAuthError::invalid_grant("The user no longer exists")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn token_event(
        &self,
        client: &ClientConfig,
        user: &User,
        methods: &[AuthMethod],
        audience: Option<&str>,
        scope: &[String],
        protocol: &str,
        req: &TokenRequest,
    ) -> Result<PostLoginEvent, OAuthError> {
        let authenticators = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let mut body = JsonMap::new();
        for (k, v) in &req.fields {
            // Never hand credentials to actions.
            if !matches!(k.as_str(), "password" | "client_secret" | "refresh_token" | "code" | "code_verifier") {
                body.insert(k.clone(), Value::from(v.clone()));
            }
        }
        Ok(event::post_login_event(
            &self.ctx.tenant.config,
            &self.ctx.tenant.secrets,
            client,
            user,
            &authenticators,
            methods,
            audience,
            RequestFacts {
                ip: self.ctx.request.ip.clone(),
                method: "POST".into(),
                query: JsonMap::new(),
                body,
                hostname: self.ctx.request.hostname.clone(),
                language: None,
                user_agent: self.ctx.request.user_agent.clone(),
            },
            TransactionFacts {
                id: None,
                requested_scopes: scope.to_vec(),
                protocol: protocol.to_owned(),
                ..TransactionFacts::default()
            },
            None,
            None,
        ))
    }

    /// Runs the post-login flow where no prompt can be shown (refresh): a pause means MFA is needed.
    async fn run_flow(&self, event: PostLoginEvent, client: &ClientConfig, user: &User) -> Result<Outcome, OAuthError> {
        match self.ctx.tenant.actions.start_post_login(event).await {
            Step::Done(outcome) => {
                for log in &outcome.tenant_logs {
                    self.log(&log.kind, log.description.clone(), Some(client), Some(user)).await;
                }
                match outcome.result {
                    FlowResult::Allow => Ok(*outcome),
                    _ => {
                        let reason = outcome.reason.clone().unwrap_or_else(|| "Access denied".into());
                        self.save_metadata(user, &outcome).await?;
                        self.log_flow("fertft", reason.clone(), client, user, &outcome).await;
                        Err(OAuthError::access_denied(reason))
                    }
                }
            }
            Step::Paused(_) => Err(OAuthError::mfa_required("Multifactor authentication required")),
        }
    }

    async fn save_metadata(&self, user: &User, outcome: &Outcome) -> Result<(), OAuthError> {
        if outcome.app_metadata.is_empty() && outcome.user_metadata.is_empty() {
            return Ok(());
        }
        let now = self.ctx.tenant.now_iso();
        let change = |current: &User| {
            Some(crate::users::with_metadata(current, &outcome.app_metadata, &outcome.user_metadata, &now))
        };
        self.ctx.tenant.store.update_user(&user.user_id, &change).await.map(drop).map_err(server_error)
    }
}

/// The `scope` of a token request (RFC 6749 §3.3: separated by `%x20` only; anything else is `invalid_scope`).
pub(crate) fn requested_scopes(value: &str) -> Result<Vec<String>, OAuthError> {
    scope::parse_list("scope", value).map_err(|e| OAuthError::invalid_scope(e.to_string()).with_status(400))
}

/// Puts the flow's claims and scope changes into a grant (RBAC with the user's current `roles`).
pub(crate) fn apply_outcome(
    grant: &mut Grant,
    outcome: &Outcome,
    tenant: &Tenant,
    client: &ClientConfig,
    roles: &[String],
) {
    grant.scope = granted_scopes(
        &tenant.config,
        &tenant.directory(),
        client,
        &grant.scope,
        grant.audience.as_deref(),
        roles,
        &outcome.scopes,
    );
    grant.id_token_claims = outcome.id_token_claims.clone();
    grant.access_token_claims = outcome.access_token_claims.clone();
}
