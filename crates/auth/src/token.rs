//! `POST /oauth/token`: authorization code, refresh token (rotating), password and password-realm, client
//! credentials. Errors have Auth0's `{error, error_description}` shape.

use std::collections::HashMap;

use base64::Engine;
use gatehouse_engine::flow::Step;
use gatehouse_store::{CodeUse, Ephemeral, RefreshUse, secret_key};
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{Grant, User};
use gatehouse_types::{AuthMethod, FactorType, FlowResult, JsonMap, MfaProvider, Outcome, PostLoginEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::client_auth::{self, ClientCredentials};
use crate::clock;
use crate::credentials::{self, PasswordCheck};
use crate::ids;
use crate::login::RequestInfo;
use crate::login::event::{self, RequestFacts, TransactionFacts};
use crate::login::merge_metadata;
use crate::pkce;
use crate::scope;
use crate::tenant::Tenant;
use crate::tokens::{self, Issue, TokenResponse, granted_scopes};

/// Lifetime of an `mfa_token` (Auth0: 10 minutes, not configurable).
pub const MFA_TOKEN_LIFETIME: i64 = 600;

pub use crate::error::OAuthError;

fn server_error(e: impl std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "token endpoint failure");
    OAuthError::new(500, "server_error", "Internal error")
}

/// A token request: form or JSON fields, and HTTP Basic credentials if sent.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// Body fields.
    pub fields: HashMap<String, String>,
    /// `Authorization: Basic` credentials.
    pub basic: Option<(String, String)>,
}

impl TokenRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::new(400, "invalid_request", format!("Missing required parameter: {name}")))
    }
}

/// What an `mfa_token` stands for: the grant waiting for MFA, kept in the store under the token's `jti`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaTicket {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The grant to issue once MFA is done (scopes, audience, claims).
    pub grant: Grant,
    /// The grant type that asked for MFA.
    pub grant_type: String,
    /// Factors the flow asked for (empty: any enrolled factor).
    pub factors: Vec<FactorType>,
    /// Metadata changes to apply when tokens are issued.
    pub app_metadata: JsonMap,
    /// Metadata changes to apply when tokens are issued.
    pub user_metadata: JsonMap,
    /// Expiry (epoch seconds).
    pub expires_at: i64,
    /// Whether an MFA grant with this token succeeded (the token then allows enrolling more factors).
    #[serde(default)]
    pub mfa_passed: bool,
}

impl<'a> TokenEndpoint<'a> {
    /// A token endpoint for one request.
    pub fn new(tenant: &'a Tenant, request: &'a RequestInfo) -> Self {
        TokenEndpoint { tenant, request }
    }
}

/// The token endpoint for one request.
pub struct TokenEndpoint<'a> {
    tenant: &'a Tenant,
    request: &'a RequestInfo,
}

impl TokenEndpoint<'_> {
    /// Answers a token request.
    pub async fn token(&self, req: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let grant_type = req.require("grant_type")?.to_owned();
        let client = self.authenticate_client(req)?;
        if !client.allows_grant(&grant_type) {
            return Err(OAuthError::new(
                403,
                "unauthorized_client",
                format!("Grant type '{grant_type}' not allowed for the client."),
            ));
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
            | "http://auth0.com/oauth/grant-type/mfa-recovery-code" => {
                crate::mfa_api::MfaApi::new(self.tenant, self.request).grant(req, &client, &grant_type).await
            }
            other => Err(OAuthError::new(400, "unsupported_grant_type", format!("Unsupported grant type: {other}"))),
        }
    }

    fn now(&self) -> i64 {
        clock::now()
    }

    async fn log(
        &self,
        kind: &str,
        description: impl Into<String>,
        client: Option<&ClientConfig>,
        user: Option<&User>,
    ) {
        self.tenant.log(crate::logs::entry(kind, description, self.request, client, user)).await;
    }

    /// Identifies the client: `client_secret_basic`, `client_secret_post`, or `none` for public clients.
    pub fn authenticate_client(&self, req: &TokenRequest) -> Result<ClientConfig, OAuthError> {
        let credentials = ClientCredentials {
            basic: req.basic.as_ref().map(|(id, secret)| (id.as_str(), secret.as_str())),
            client_id: req.get("client_id"),
            client_secret: req.get("client_secret"),
        };
        client_auth::authenticate_client(&self.tenant.config, credentials)
    }

    async fn authorization_code(&self, req: &TokenRequest, client: &ClientConfig) -> Result<TokenResponse, OAuthError> {
        let code = req.require("code")?;
        let key = secret_key(code);
        let invalid = |description: &str| OAuthError::new(403, "invalid_grant", description);
        let now = self.now();
        let record = match self.tenant.store.take_code(&key, now).await.map_err(server_error)? {
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
            family: Some((family, now + self.tenant.config.sessions.refresh_token_lifetime as i64)),
        };
        let response = tokens::issue_user_tokens(self.tenant, client, &user, &record.grant, issue, now)
            .await
            .map_err(server_error)?;
        // A replay that arrived while these were being issued revoked them before they were stored: look again.
        if self.tenant.store.is_code_replayed(&key, now).await.map_err(server_error)? {
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
        let store = &self.tenant.store;
        store.revoke_refresh_family(&family).await.map_err(server_error)?;
        let until = self.now() + tokens::longest_access_token_lifetime(&self.tenant.config);
        store.put_ephemeral(Ephemeral::RevokedToken, &secret_key(&access_jti), b"1", until).await.map_err(server_error)
    }

    async fn user(&self, user_id: &str) -> Result<User, OAuthError> {
        match self.tenant.store.find_user(user_id).await.map_err(server_error)? {
            Some(user) if !user.blocked => Ok(user),
            Some(_) => Err(OAuthError::new(401, "unauthorized", "user is blocked")),
            None => Err(OAuthError::new(403, "invalid_grant", "The user no longer exists")),
        }
    }

    async fn refresh_token(&self, req: &TokenRequest, client: &ClientConfig) -> Result<TokenResponse, OAuthError> {
        let token = req.require("refresh_token")?;
        let key = secret_key(token);
        let invalid = OAuthError::new(403, "invalid_grant", "Unknown or invalid refresh token.");
        let now = self.now();
        // Another client's token is refused before it is touched: marking it used would make its rightful
        // client's next exchange look like a replay and revoke the family.
        let found = match self.tenant.store.find_refresh_token(&key, now).await.map_err(server_error)? {
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
            return Err(OAuthError::new(403, "invalid_scope", format!("The scope {extra} was not granted")));
        }
        let record = match self.tenant.store.use_refresh_token(&key, now).await.map_err(server_error)? {
            RefreshUse::Fresh(record) => record,
            RefreshUse::Reused(record) => {
                // A rotated token presented again: someone has a copy. Revoke the whole family.
                let revoked = self.tenant.store.revoke_refresh_family(&record.family).await.map_err(server_error)?;
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
        let mut grant = record.grant.clone();
        // A refresh may narrow the scopes, never widen them (checked above, against the same record).
        if let Some(asked) = asked {
            if let Some(extra) = asked.iter().find(|s| !grant.scope.contains(s)) {
                return Err(OAuthError::new(403, "invalid_scope", format!("The scope {extra} was not granted")));
            }
            grant.scope = asked;
        }
        let mut methods = vec![AuthMethod { name: "pwd".into(), timestamp: clock::iso(grant.auth_time), kind: None }];
        if grant.mfa {
            methods.push(AuthMethod { name: "mfa".into(), timestamp: clock::iso(grant.auth_time), kind: None });
        }
        let event = self
            .token_event(client, &user, &methods, grant.audience.as_deref(), &grant.scope, "oauth2-refresh-token", req)
            .await?;
        let outcome = self.run_flow(event, client, &user).await?;
        if outcome.multifactor.as_ref().is_some_and(|m| m.provider != MfaProvider::None) && !grant.mfa {
            return Err(OAuthError::new(403, "mfa_required", "Multifactor authentication required"));
        }
        apply_outcome(&mut grant, &outcome, self.tenant, client);
        // Amr is absent on tokens from refresh (Auth0).
        grant.amr.clear();
        grant.acr = None;
        self.save_metadata(&user, &outcome).await?;
        let issue = Issue { access_jti: None, family: Some((record.family.clone(), record.expires_at)) };
        let response =
            tokens::issue_user_tokens(self.tenant, client, &user, &grant, issue, now).await.map_err(server_error)?;
        self.log("sertft", "Successful exchange of refresh token", Some(client), Some(&user)).await;
        Ok(response)
    }

    async fn password(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
        grant_type: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let username = req.require("username")?.trim().to_lowercase();
        let password = req.require("password")?.to_owned();
        if grant_type != "password"
            && let Some(realm) = req.get("realm")
            && realm != event::DATABASE_CONNECTION
        {
            return Err(OAuthError::new(400, "invalid_request", format!("Unknown realm: {realm}")));
        }
        let audience = req.get("audience").map(str::to_owned);
        let mfa_api = audience.as_deref() == Some(self.tenant.config.mfa_audience().as_str());
        if let Some(a) = &audience
            && self.tenant.config.api(a).is_none()
            && !mfa_api
        {
            return Err(OAuthError::new(403, "access_denied", format!("Service not found: {a}")));
        }
        let ip = self.request.ip.clone();
        let blocked = || {
            OAuthError::new(
                429,
                "too_many_attempts",
                "Your account has been blocked after multiple consecutive login attempts. We've sent you an email with instructions on how to unblock it.",
            )
        };
        let now = self.now();
        let checked = credentials::check_password(self.tenant, &username, &ip, &password, now).await;
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
                return Err(OAuthError::new(403, "invalid_grant", "Wrong email or password."));
            }
        };
        if user.blocked {
            return Err(OAuthError::new(401, "unauthorized", "user is blocked"));
        }
        let scope = requested_scopes(req.get("scope").unwrap_or("openid"))?;
        let methods = vec![AuthMethod { name: "pwd".into(), timestamp: clock::now_iso(), kind: None }];
        let event =
            self.token_event(client, &user, &methods, audience.as_deref(), &scope, "oauth2-password", req).await?;
        let step = self.tenant.actions.start_post_login(event).await;
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
                return Err(OAuthError::new(400, "interaction_required", reason));
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
                self.log("f", reason.clone(), Some(client), Some(&user)).await;
                self.log("fepft", reason.clone(), Some(client), Some(&user)).await;
                return Err(OAuthError::new(403, "access_denied", reason));
            }
            FlowResult::Allow | FlowResult::Paused => {}
        }
        apply_outcome(&mut grant, &outcome, self.tenant, client);
        let paused = outcome.result == FlowResult::Paused;
        let by_action = outcome.multifactor.as_ref().is_some_and(|m| m.provider != MfaProvider::None);
        let by_policy = matches!(self.tenant.config.mfa.policy, gatehouse_types::config::MfaPolicy::Always)
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
                expires_at: now + MFA_TOKEN_LIFETIME,
                mfa_passed: false,
            };
            let mfa_token = self.issue_mfa_token(&ticket).await.map_err(server_error)?;
            self.log("mfar", "Multifactor authentication required", Some(client), Some(&user)).await;
            let mut error = OAuthError::new(403, "mfa_required", "Multifactor authentication required");
            error.extra.insert("mfa_token".into(), Value::from(mfa_token));
            if !factors.is_empty() {
                let challenge: Vec<Value> = factors.iter().map(|f| json!({ "type": f.as_str() })).collect();
                error.extra.insert("mfa_requirements".into(), json!({ "challenge": challenge }));
            }
            return Err(error);
        }
        self.save_metadata(&user, &outcome).await?;
        let response = tokens::issue_user_tokens(self.tenant, client, &user, &grant, Issue::default(), now)
            .await
            .map_err(server_error)?;
        self.log("sepft", "Successful exchange of password for access token", Some(client), Some(&user)).await;
        Ok(response)
    }

    /// Signs an `mfa_token` for `ticket` (a JWT naming the stored ticket; tampering breaks its signature).
    pub async fn issue_mfa_token(&self, ticket: &MfaTicket) -> crate::AuthResult<String> {
        let jti = ids::secret()?;
        let bytes = serde_json::to_vec(ticket).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
        self.tenant.store.put_ephemeral(Ephemeral::MfaTicket, &secret_key(&jti), &bytes, ticket.expires_at).await?;
        let claims = json!({
            "iss": self.tenant.config.issuer,
            "sub": ticket.user_id,
            "aud": self.tenant.config.mfa_audience(),
            "azp": ticket.client_id,
            "iat": self.now(),
            "exp": ticket.expires_at,
            "jti": jti,
        });
        self.tenant.key_ring()?.sign_with_typ(&claims, "mfa+jwt")
    }

    async fn client_credentials(&self, req: &TokenRequest, client: &ClientConfig) -> Result<TokenResponse, OAuthError> {
        if client.client_secret.is_none() {
            return Err(OAuthError::new(401, "invalid_client", "Client credentials need a confidential client."));
        }
        let Some(audience) = req.get("audience") else {
            self.log("feccft", "Missing audience", Some(client), None).await;
            return Err(OAuthError::new(
                403,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            ));
        };
        let config = &self.tenant.config;
        let Some(client_grant) =
            config.client_grants.iter().find(|g| g.client_id == client.client_id && g.audience == audience)
        else {
            self.log("feccft", format!("Client is not authorized to access {audience}"), Some(client), None).await;
            return Err(OAuthError::new(
                403,
                "access_denied",
                format!(
                    "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
                ),
            ));
        };
        let scope: Vec<String> = match req.get("scope") {
            Some(asked) => {
                let asked = requested_scopes(asked)?;
                if let Some(extra) = asked.iter().find(|s| !client_grant.scopes.contains(s)) {
                    return Err(OAuthError::new(
                        403,
                        "access_denied",
                        format!("Client has not been granted scopes: {extra}"),
                    ));
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
        let (access_token, expires_in) =
            tokens::access_token(self.tenant, &subject, &grant, Some("client-credentials"), None, now)
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
        let authenticators = self.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let mut body = JsonMap::new();
        for (k, v) in &req.fields {
            // Never hand credentials to actions.
            if !matches!(k.as_str(), "password" | "client_secret" | "refresh_token" | "code" | "code_verifier") {
                body.insert(k.clone(), Value::from(v.clone()));
            }
        }
        Ok(event::post_login_event(
            &self.tenant.config,
            &self.tenant.secrets,
            client,
            user,
            &authenticators,
            methods,
            audience,
            RequestFacts {
                ip: self.request.ip.clone(),
                method: "POST".into(),
                query: JsonMap::new(),
                body,
                hostname: self.request.hostname.clone(),
                language: None,
                user_agent: self.request.user_agent.clone(),
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
        match self.tenant.actions.start_post_login(event).await {
            Step::Done(outcome) => {
                for log in &outcome.tenant_logs {
                    self.log(&log.kind, log.description.clone(), Some(client), Some(user)).await;
                }
                match outcome.result {
                    FlowResult::Allow => Ok(*outcome),
                    _ => {
                        let reason = outcome.reason.clone().unwrap_or_else(|| "Access denied".into());
                        self.save_metadata(user, &outcome).await?;
                        self.log("fertft", reason.clone(), Some(client), Some(user)).await;
                        Err(OAuthError::new(403, "access_denied", reason))
                    }
                }
            }
            Step::Paused(_) => Err(OAuthError::new(403, "mfa_required", "Multifactor authentication required")),
        }
    }

    async fn save_metadata(&self, user: &User, outcome: &Outcome) -> Result<(), OAuthError> {
        if outcome.app_metadata.is_empty() && outcome.user_metadata.is_empty() {
            return Ok(());
        }
        let Some(mut fresh) = self.tenant.store.find_user(&user.user_id).await.map_err(server_error)? else {
            return Ok(());
        };
        merge_metadata(&mut fresh.app_metadata, &outcome.app_metadata);
        merge_metadata(&mut fresh.user_metadata, &outcome.user_metadata);
        fresh.updated_at = clock::now_iso();
        self.tenant.store.save_user(&fresh).await.map_err(server_error)
    }
}

/// The `scope` of a token request (RFC 6749 §3.3: separated by `%x20` only; anything else is `invalid_scope`).
fn requested_scopes(value: &str) -> Result<Vec<String>, OAuthError> {
    scope::parse_list("scope", value).map_err(|e| OAuthError::new(400, "invalid_scope", e.to_string()))
}

/// The refresh family and access token `jti` of an authorization code's exchange, derived from the code's store
/// key, so a replay of the code can name them without the first exchange storing anything more.
fn code_token_ids(key: &str) -> (String, String) {
    let family = format!("rtf_{}", &secret_key(&format!("code-family\0{key}"))[..24]);
    let jti = secret_key(&format!("code-access-token\0{key}"))[..32].to_owned();
    (family, jti)
}

/// Puts the flow's claims and scope changes into a grant.
fn apply_outcome(grant: &mut Grant, outcome: &Outcome, tenant: &Tenant, client: &ClientConfig) {
    grant.scope = granted_scopes(&tenant.config, client, &grant.scope, grant.audience.as_deref(), &outcome.scopes);
    grant.id_token_claims = outcome.id_token_claims.clone();
    grant.access_token_claims = outcome.access_token_claims.clone();
}
