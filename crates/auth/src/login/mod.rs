//! The browser login: `/authorize`, the hosted pages, and `/continue`.
//!
//! Every handler loads the transaction, checks that this browser owns it, moves it one step, saves it, and
//! answers with an [`AuthStep`] the server renders. The steps: credentials (or an SSO session) → the post-login
//! flow, pausing for each prompt it asks for → MFA still required by the policy, `multifactor.enable` or
//! `acr_values` → an authorization code for the application.

mod authorize;
mod consent;
mod mfa;
mod organization;
pub mod phone;
mod reset;
pub mod signup;
pub mod step;
pub mod tx;

use std::collections::HashMap;

use gatehouse_engine::flow::Step;
use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::config::{ClientConfig, TenantConfig};
use gatehouse_types::records::{AuthorizationCode, Grant, LogEntry, Session, User};
use gatehouse_types::{AuthMethod, FactorType, FlowResult, JsonMap, MfaProvider, Outcome, PromptCommand};
use subtle::ConstantTimeEq;

use crate::claims::PAPE_MFA;
use crate::context::RequestContext;
use crate::credentials::{self, PasswordCheck};
use crate::error::AuthResult;
use crate::event;
use crate::ids;
use crate::login::step::{
    AppResponse, AuthStep, CookieChange, ErrorPage, LoginPage, LoginResponse, Notice, PageContext, ResponseMode,
};
use crate::login::tx::{LoginTx, MfaState, Stage};
use crate::mask::mask_email;

pub use authorize::{authorize_request, end_session, language};

/// How long an authorization code is valid.
const CODE_LIFETIME: i64 = 120;
/// How long a device stays "known" for adaptive MFA.
const KNOWN_DEVICE_LIFETIME: i64 = 30 * 86_400;

/// Gatehouse's cookies, as the browser sent them.
#[derive(Clone, Debug, Default)]
pub struct BrowserCookies {
    /// The SSO session cookie.
    pub session: Option<String>,
    /// Transaction binding cookies, by slot.
    pub bindings: HashMap<String, String>,
    /// The device cookie.
    pub device: Option<String>,
}

/// One request of a browser login.
pub struct Login<'a> {
    /// The tenant and the request.
    pub ctx: RequestContext<'a>,
    /// Its cookies.
    pub cookies: &'a BrowserCookies,
    /// The configured client this login is for, once known: error pages link to its login route.
    client_id: std::sync::OnceLock<String>,
}

impl<'a> Login<'a> {
    /// A browser login step of `ctx` with the browser's cookies.
    pub fn new(ctx: RequestContext<'a>, cookies: &'a BrowserCookies) -> Self {
        Login { ctx, cookies, client_id: std::sync::OnceLock::new() }
    }

    /// Remembers the login's client when the configuration knows it (never a client id taken on trust).
    fn know_client(&self, client_id: &str) {
        if self.ctx.tenant.config.client(client_id).is_some() {
            let _ = self.client_id.set(client_id.to_owned());
        }
    }

    /// Gives an error page its "Start again" link: the known client's `initiate_login_uri`, else the tenant's
    /// `default_redirection_uri` (as Auth0 does). Both come from the configuration, never from the request.
    pub fn with_start_again(&self, mut response: LoginResponse) -> LoginResponse {
        if let AuthStep::Error(page) = &mut response.step
            && page.start_again.is_none()
        {
            page.start_again = start_again_url(&self.ctx.tenant.config, self.client_id.get().map(String::as_str));
        }
        response
    }
}

/// Where "Start again" (or "Continue") sends the browser: the configured client's `initiate_login_uri`, else the
/// tenant's `default_redirection_uri` (as Auth0 does). Both come from the configuration, never from the request.
pub fn start_again_url(config: &TenantConfig, client_id: Option<&str>) -> Option<String> {
    client_id
        .and_then(|id| config.client(id))
        .and_then(|client| client.initiate_login_uri.clone())
        .or_else(|| config.default_redirection_uri.clone())
}

/// Where an error goes: back to the application when its redirect URI is trusted, else a page.
pub(crate) fn app_error(tx_request: &tx::AuthorizeRequest, error: &str, description: &str) -> AuthStep {
    let mut params =
        vec![("error".to_owned(), error.to_owned()), ("error_description".to_owned(), description.to_owned())];
    if let Some(state) = &tx_request.state {
        params.push(("state".to_owned(), state.clone()));
    }
    AuthStep::Respond(AppResponse {
        redirect_uri: tx_request.redirect_uri.clone(),
        mode: tx_request.response_mode,
        params,
    })
}

/// An error page.
pub(crate) fn error_page(lang: &str, title: &str, detail: &str) -> LoginResponse {
    LoginResponse::new(AuthStep::Error(ErrorPage {
        lang: lang.to_owned(),
        title: title.to_owned(),
        detail: detail.to_owned(),
        start_again: None,
    }))
}

fn internal(lang: &str, e: impl std::fmt::Display) -> LoginResponse {
    let cause = e.to_string();
    let mut page = if gatehouse_store::is_unavailable(&cause) {
        error_page(lang, "temporarily_unavailable", "The service is briefly unavailable. Please try again in a moment.")
    } else {
        error_page(lang, "server_error", "Something went wrong on our side. Please try again.")
    };
    page.cause = Some(cause);
    page
}

impl Login<'_> {
    fn now(&self) -> i64 {
        self.ctx.tenant.now()
    }

    fn log(&self, kind: &str, description: impl Into<String>, tx: Option<&LoginTx>, user: Option<&User>) -> LogEntry {
        let client = tx.and_then(|t| self.ctx.tenant.config.client(&t.request.client_id));
        crate::logs::entry(kind, description, self.ctx.request, client, user)
    }

    async fn write_log(&self, kind: &str, description: impl Into<String>, tx: Option<&LoginTx>, user: Option<&User>) {
        let entry = self.log(kind, description, tx, user);
        self.ctx.tenant.log(entry).await;
    }

    fn page_context(&self, state: &str, tx: &LoginTx) -> PageContext {
        let client_name =
            self.ctx.tenant.config.client(&tx.request.client_id).map(|c| c.name.clone()).unwrap_or_default();
        PageContext {
            state: state.to_owned(),
            csrf: tx.csrf.clone(),
            lang: tx.lang.clone(),
            client_name,
            tenant_name: self.ctx.tenant.config.friendly_name.clone(),
        }
    }

    /// Loads the transaction behind `state`, checking that this browser owns it.
    async fn load(&self, state: &str) -> Result<LoginTx, LoginResponse> {
        let lang = crate::login::authorize::language(&[], self.ctx.request.accept_language.as_deref());
        let expired = || {
            error_page(
                &lang,
                "Transaction has expired",
                "This login took too long or was already completed. Go back to the application and start again.",
            )
        };
        let raw =
            match self.ctx.tenant.store.get_ephemeral(Ephemeral::Transaction, &secret_key(state), self.now()).await {
                Ok(Some(raw)) => raw,
                Ok(None) => return Err(expired()),
                Err(e) => return Err(internal(&lang, e)),
            };
        let tx: LoginTx = serde_json::from_slice(&raw).map_err(|e| internal(&lang, e))?;
        self.know_client(&tx.request.client_id);
        let owned = self
            .cookies
            .bindings
            .get(&tx.slot)
            .map(|value| bool::from(secret_key(value).as_bytes().ct_eq(tx.binding_hash.as_bytes())))
            .unwrap_or(false);
        if !owned {
            return Err(error_page(
                &tx.lang,
                "invalid_request",
                "This login was started in another browser (or its cookie was lost). Go back to the application and start again.",
            ));
        }
        Ok(tx)
    }

    /// Loads the transaction and its (known) user: the start of every MFA-page handler.
    async fn load_with_user(&self, state: &str) -> Result<(LoginTx, User), LoginResponse> {
        let tx = self.load(state).await?;
        match self.user(&tx).await {
            Ok(Some(user)) => Ok((tx, user)),
            Ok(None) => Err(error_page(&tx.lang, "access_denied", "The user no longer exists.")),
            Err(e) => Err(internal(&tx.lang, e)),
        }
    }

    /// A new transaction for `request` in `lang`, bound to this browser: its handle (the hosted pages' `state`), the
    /// binding cookie's value (set it with [`CookieChange::SetBinding`] for `tx.slot`, `tx.expires_at - now`
    /// seconds), and the transaction at [`Stage::Credentials`], not saved yet. Only the `/authorize` request and a
    /// paused password reset start one.
    fn new_tx(&self, request: tx::AuthorizeRequest, lang: &str, device_hash: String) -> AuthResult<NewTx> {
        let now = self.now();
        let (state, binding, csrf, public_id) =
            (ids::secret()?, ids::secret()?, ids::secret()?, ids::public_id("tx_")?);
        let lifetime = self.ctx.tenant.config.sessions.transaction_lifetime as i64;
        let slot = public_id.trim_start_matches("tx_")[..8].to_owned();
        let tx = LoginTx {
            public_id,
            binding_hash: secret_key(&binding),
            slot: slot.clone(),
            csrf,
            request,
            lang: lang.to_owned(),
            created_at: now,
            expires_at: now + lifetime,
            user_id: None,
            methods: Vec::new(),
            auth_time: None,
            session_key: None,
            mfa_done: false,
            known_device: false,
            device_hash,
            client_ip: self.ctx.request.ip.clone(),
            user_agent: self.ctx.request.user_agent.clone(),
            stage: Stage::Credentials,
            consented: false,
        };
        let cookie = CookieChange::SetBinding { slot, value: binding.clone(), max_age: lifetime };
        Ok(NewTx { state, binding, tx, cookie })
    }

    async fn save(&self, state: &str, tx: &LoginTx) -> AuthResult<()> {
        let bytes = serde_json::to_vec(tx).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
        self.ctx.tenant.store.put_ephemeral(Ephemeral::Transaction, &secret_key(state), &bytes, tx.expires_at).await?;
        Ok(())
    }

    async fn finish_tx(&self, state: &str, tx: &LoginTx, mut response: LoginResponse) -> LoginResponse {
        if let Err(e) = self.ctx.tenant.store.delete_ephemeral(Ephemeral::Transaction, &secret_key(state)).await {
            tracing::warn!(error = %e, "could not delete a finished login transaction");
        }
        response.cookies.push(CookieChange::ClearBinding { slot: tx.slot.clone() });
        response
    }

    fn csrf_ok(tx: &LoginTx, csrf: &str) -> bool {
        bool::from(tx.csrf.as_bytes().ct_eq(csrf.as_bytes()))
    }

    async fn user(&self, tx: &LoginTx) -> AuthResult<Option<User>> {
        match &tx.user_id {
            Some(id) => Ok(self.ctx.tenant.store.find_user(id).await?),
            None => Ok(None),
        }
    }

    /// `GET /u/login` and `GET /u/mfa`: shows the transaction's current stage.
    pub async fn show(&self, state: &str) -> LoginResponse {
        let mut tx = match self.load(state).await {
            Ok(tx) => tx,
            Err(page) => return page,
        };
        match &tx.stage {
            Stage::Credentials if self.needs_organization_name(&tx) => self.organization_name_page(state, &tx, None),
            Stage::Credentials => LoginResponse::new(AuthStep::Login(LoginPage {
                ctx: self.page_context(state, &tx),
                email: tx.request.login_hint.clone(),
                notice: None,
                signup: !self.ctx.tenant.config.connection.disable_signup,
            })),
            Stage::Redirect { paused } => {
                let url = paused.prompt().and_then(|p| p.url.clone()).unwrap_or_default();
                LoginResponse::new(AuthStep::Redirect(with_state(&url, state)))
            }
            Stage::ResetRedirect { pause } => {
                LoginResponse::new(AuthStep::Redirect(with_state(pause.redirect.as_deref().unwrap_or_default(), state)))
            }
            Stage::Consent { outcome, scopes } => {
                let (outcome, scopes) = (outcome.clone(), scopes.clone());
                let lang = tx.lang.clone();
                match self.user(&tx).await {
                    Ok(Some(user)) => self.show_consent(state, tx, &user, *outcome, scopes).await,
                    Ok(None) => error_page(&lang, "access_denied", "The user no longer exists."),
                    Err(e) => internal(&lang, e),
                }
            }
            Stage::OrganizationPicker => {
                let lang = tx.lang.clone();
                match self.user(&tx).await {
                    Ok(Some(user)) => self.show_organizations(state, tx, &user).await,
                    Ok(None) => error_page(&lang, "access_denied", "The user no longer exists."),
                    Err(e) => internal(&lang, e),
                }
            }
            Stage::Flow { .. }
            | Stage::FinalMfa { .. }
            | Stage::ResetChallenge { .. }
            | Stage::RecoveryShown { .. } => {
                let lang = tx.lang.clone();
                match self.user(&tx).await {
                    Ok(Some(user)) => self.show_mfa(state, &mut tx, &user, None).await,
                    Ok(None) => error_page(&lang, "access_denied", "The user no longer exists."),
                    Err(e) => internal(&lang, e),
                }
            }
        }
    }

    /// `POST /u/login`: checks the password, then runs the post-login flow.
    pub async fn submit_credentials(&self, state: &str, csrf: &str, email: &str, password: &str) -> LoginResponse {
        let mut tx = match self.load(state).await {
            Ok(tx) => tx,
            Err(page) => return page,
        };
        let lang = tx.lang.clone();
        let form_again = |notice: Notice, email: &str, tx: &LoginTx| {
            LoginResponse::new(AuthStep::Login(LoginPage {
                ctx: self.page_context(state, tx),
                email: Some(email.to_owned()),
                notice: Some(notice),
                signup: !self.ctx.tenant.config.connection.disable_signup,
            }))
        };
        if !Self::csrf_ok(&tx, csrf) {
            return form_again(Notice::FormExpired, email, &tx);
        }
        // Not before the organization is known (pre_login_prompt), nor at another stage.
        if !matches!(tx.stage, Stage::Credentials) || self.needs_organization_name(&tx) {
            return self.show(state).await;
        }
        let login = email.trim().to_lowercase();
        let now = self.now();
        let checked = credentials::check_password(self.ctx.tenant, &login, &self.ctx.request.ip, password, now).await;
        let user = match checked {
            Err(e) => return internal(&lang, e),
            Ok(PasswordCheck::Blocked) => return form_again(Notice::LoginBlocked, email, &tx),
            Ok(PasswordCheck::Valid(user)) => *user,
            Ok(PasswordCheck::Wrong { known, failures, now_blocked }) => {
                match &known {
                    Some(u) => self.write_log("fp", "Wrong email or password.", Some(&tx), Some(u)).await,
                    None => {
                        let description = format!("Wrong email or password. ({})", mask_email(&login));
                        self.write_log("fu", description, Some(&tx), None).await
                    }
                }
                if !now_blocked {
                    return form_again(Notice::WrongCredentials, email, &tx);
                }
                let minutes = self.ctx.tenant.config.attack_protection.block_seconds / 60;
                let mut entry = self.log(
                    "limit_wc",
                    format!(
                        "Blocked: {failures} failed logins for this account from this IP; retry after {minutes} minutes"
                    ),
                    Some(&tx),
                    known.as_deref(),
                );
                entry.user_name = Some(login.clone());
                self.ctx.tenant.log(entry).await;
                return form_again(Notice::LoginBlocked, email, &tx);
            }
        };
        if user.blocked {
            self.write_log("f", "user is blocked", Some(&tx), Some(&user)).await;
            return form_again(Notice::UserBlocked, email, &tx);
        }
        // A password login starts a new session: methods of an earlier session no longer count.
        tx.session_key = None;
        tx.methods = vec![AuthMethod { name: "pwd".to_owned(), timestamp: self.ctx.tenant.now_iso(), kind: None }];
        tx.auth_time = Some(now);
        tx.user_id = Some(user.user_id.clone());
        self.after_first_factor(state, tx, user).await
    }

    /// Runs the post-login flow once the user is known.
    pub(crate) async fn after_first_factor(&self, state: &str, mut tx: LoginTx, user: User) -> LoginResponse {
        let lang = tx.lang.clone();
        let authenticators = match self.ctx.tenant.store.find_authenticators(&user.user_id).await {
            Ok(a) => a,
            Err(e) => return internal(&lang, e),
        };
        let known = self.is_known_device(&user, &tx).await;
        tx.known_device = known;
        let Some(client) = self.ctx.tenant.config.client(&tx.request.client_id).cloned() else {
            return error_page(&lang, "unauthorized_client", "The application is no longer configured.");
        };
        if self.needs_organization(&tx) {
            return self.show_organizations(state, tx, &user).await;
        }
        // A login through an organization is for its members only (Auth0 answers access_denied to the callback).
        if let Some(org_id) = &tx.request.organization {
            let member = self.ctx.tenant.directory().membership(org_id, &user.user_id).is_some();
            if !member {
                let reason = format!("User is not a member of the organization {org_id}");
                self.write_log("f", reason.clone(), Some(&tx), Some(&user)).await;
                let step = app_error(&tx.request, "access_denied", &reason);
                return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
            }
        }
        let event = self.flow_event(&tx, &client, &user, &authenticators);
        let step = self.ctx.tenant.actions.start_post_login(event).await;
        self.after_flow_step(state, tx, user, step).await
    }

    fn flow_event(
        &self,
        tx: &LoginTx,
        client: &ClientConfig,
        user: &User,
        authenticators: &[gatehouse_types::records::Authenticator],
    ) -> gatehouse_types::PostLoginEvent {
        let config = &self.ctx.tenant.config;
        let risk = event::risk_assessment(tx.known_device, user.logins_count == 0);
        let mut event = event::post_login_event(
            config,
            &self.ctx.tenant.secrets,
            client,
            user,
            authenticators,
            &tx.methods,
            tx.request.audience.as_deref(),
            event::RequestFacts {
                ip: tx.client_ip.clone(),
                method: "GET".to_owned(),
                query: tx.request.query.clone(),
                body: JsonMap::new(),
                hostname: self.ctx.request.hostname.clone(),
                language: self
                    .ctx
                    .request
                    .accept_language
                    .as_deref()
                    .and_then(|l| l.split([',', ';']).next())
                    .map(str::to_owned),
                user_agent: tx.user_agent.clone(),
            },
            event::TransactionFacts {
                id: Some(tx.public_id.clone()),
                acr_values: tx.request.acr_values.clone(),
                requested_scopes: tx.request.scope.clone(),
                prompt: tx.request.prompt.clone(),
                protocol: "oidc-basic-profile".to_owned(),
                redirect_uri: Some(tx.request.redirect_uri.clone()),
                state: tx.request.state.clone(),
                ui_locales: tx.request.ui_locales.clone(),
                login_hint: tx.request.login_hint.clone(),
                response_mode: Some(response_mode_name(tx.request.response_mode).to_owned()),
                response_type: vec!["code".to_owned()],
                locale: Some(tx.lang.clone()),
            },
            Some(risk),
            None,
        );
        event::set_organization(&self.ctx.tenant.directory(), &mut event, user, tx.request.organization.as_deref());
        event
    }

    /// Turns a flow step into the next page.
    pub(crate) async fn after_flow_step(&self, state: &str, mut tx: LoginTx, user: User, step: Step) -> LoginResponse {
        let lang = tx.lang.clone();
        match step {
            Step::Paused(paused) => {
                let Some(prompt) = paused.prompt().cloned() else {
                    return internal(&lang, "paused flow without a prompt");
                };
                if tx.request.is_silent() {
                    self.write_log(
                        "f",
                        "Interaction required by the post-login flow with prompt=none",
                        Some(&tx),
                        Some(&user),
                    )
                    .await;
                    let step = app_error(&tx.request, "interaction_required", "Interaction required");
                    return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
                }
                if prompt.command == PromptCommand::SendUserTo {
                    let url = prompt.url.clone().unwrap_or_default();
                    tx.stage = Stage::Redirect { paused };
                    if let Err(e) = self.save(state, &tx).await {
                        return internal(&lang, e);
                    }
                    return LoginResponse::new(AuthStep::Redirect(with_state(&url, state)));
                }
                let offered: Vec<FactorType> = prompt.offered().collect();
                let phone_methods = phone::preferred_methods(&prompt);
                let enrolling = prompt.command.is_enrollment();
                let current = match prompt.command {
                    PromptCommand::ChallengeWith | PromptCommand::EnrollWith => offered.first().copied(),
                    _ if offered.len() == 1 => offered.first().copied(),
                    _ => None,
                };
                tx.stage = Stage::Flow {
                    paused,
                    mfa: MfaState { offered, enrolling, current, phone_methods, ..MfaState::default() },
                };
                self.write_log("gd_start_auth", "Second factor started", Some(&tx), Some(&user)).await;
                self.show_mfa(state, &mut tx, &user, None).await
            }
            Step::Done(outcome) => match outcome.result {
                FlowResult::Allow => self.after_allow(state, tx, user, *outcome).await,
                FlowResult::Deny | FlowResult::Error | FlowResult::Paused => {
                    let reason = outcome.reason.clone().unwrap_or_else(|| "Access denied".to_owned());
                    for log in &outcome.tenant_logs {
                        self.write_log(&log.kind, log.description.clone(), Some(&tx), Some(&user)).await;
                    }
                    if let Err(e) = self.apply_metadata(&user, &outcome).await {
                        return internal(&lang, e);
                    }
                    let mut entry = self.log("f", reason.clone(), Some(&tx), Some(&user));
                    crate::logs::add_actions(&mut entry, &outcome);
                    self.ctx.tenant.log(entry).await;
                    let step = app_error(&tx.request, "access_denied", &reason);
                    self.finish_tx(state, &tx, LoginResponse::new(step)).await
                }
            },
        }
    }

    /// The flow allowed the login: MFA the flow left to the end, then the code.
    async fn after_allow(&self, state: &str, mut tx: LoginTx, user: User, outcome: Outcome) -> LoginResponse {
        let lang = tx.lang.clone();
        for log in &outcome.tenant_logs {
            self.write_log(&log.kind, log.description.clone(), Some(&tx), Some(&user)).await;
        }
        let authenticators = match self.ctx.tenant.store.find_authenticators(&user.user_id).await {
            Ok(a) => a,
            Err(e) => return internal(&lang, e),
        };
        let required = self.final_mfa_required(&tx, &outcome);
        let satisfied = tx.mfa_done || tx.methods.iter().any(|m| m.name == "mfa");
        if required && !satisfied {
            if tx.request.is_silent() {
                let step = app_error(&tx.request, "interaction_required", "Multifactor authentication required");
                return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
            }
            let provider = outcome.multifactor.as_ref().map(|m| m.provider);
            let mfa = self.final_mfa_state(&user, &authenticators, provider);
            let Some(mfa) = mfa else {
                let reason = "Multifactor authentication is required but no factor is available for this user";
                self.write_log("mfar", reason, Some(&tx), Some(&user)).await;
                let step = app_error(&tx.request, "access_denied", reason);
                return self.finish_tx(state, &tx, LoginResponse::new(step)).await;
            };
            tx.stage = Stage::FinalMfa { outcome: Box::new(outcome), mfa };
            self.write_log("gd_start_auth", "Second factor started", Some(&tx), Some(&user)).await;
            return self.show_mfa(state, &mut tx, &user, None).await;
        }
        self.complete(state, tx, user, outcome).await
    }

    /// Whether MFA is still owed at the end of the flow: the tenant policy, `multifactor.enable`, or an MFA
    /// `acr_values` (the application's demand, honoured even when an action said `none`).
    fn final_mfa_required(&self, tx: &LoginTx, outcome: &Outcome) -> bool {
        use gatehouse_types::config::MfaPolicy;
        let by_acr = tx.request.requires_mfa_acr().is_some();
        let by_action = match &outcome.multifactor {
            Some(m) if m.provider == MfaProvider::None => return by_acr,
            Some(_) => true,
            None => false,
        };
        let by_policy = match self.ctx.tenant.config.mfa.policy {
            MfaPolicy::Never => false,
            MfaPolicy::Always => true,
            MfaPolicy::Adaptive => !tx.known_device,
        };
        by_acr || by_action || by_policy
    }

    /// The factors end-of-flow MFA offers, or an OTP enrollment when the user has none.
    fn final_mfa_state(
        &self,
        user: &User,
        authenticators: &[gatehouse_types::records::Authenticator],
        provider: Option<MfaProvider>,
    ) -> Option<MfaState> {
        let enabled = &self.ctx.tenant.config.mfa.factors;
        let mut enrolled: Vec<FactorType> = event::enrolled_factors(&self.ctx.tenant.config, user, authenticators)
            .into_iter()
            .filter(|f| enabled.contains(f))
            .collect();
        let has_email = enrolled.contains(&FactorType::Email);
        if provider == Some(MfaProvider::GoogleAuthenticator) {
            enrolled.retain(|f| *f == FactorType::Otp);
        }
        let order = [FactorType::Otp, FactorType::Phone, FactorType::Email, FactorType::RecoveryCode];
        enrolled.sort_by_key(|f| order.iter().position(|o| o == f));
        let strong = enrolled.iter().any(|f| *f != FactorType::Email);
        let enrollable = self.enrollable_factors();
        if !strong && let Some(first) = enrollable.first().copied() {
            if has_email {
                // The verified email is a factor the user has: it is passed first, and only then is a factor
                // enrolled. Otherwise a stolen password alone could enroll the attacker's app or number.
                return Some(MfaState {
                    offered: vec![FactorType::Email],
                    current: Some(FactorType::Email),
                    then_enroll: Some(first),
                    ..MfaState::default()
                });
            }
            // No factor at all: enroll one (the picker when several can be).
            return Some(Self::enrollment_state(enrollable));
        }
        if enrolled.is_empty() {
            return None;
        }
        let current = enrolled.first().copied();
        Some(MfaState { offered: enrolled, current, ..MfaState::default() })
    }

    /// The factors a user without one enrolls at the end of the flow: an authenticator app, a phone.
    pub(crate) fn enrollable_factors(&self) -> Vec<FactorType> {
        let enabled = &self.ctx.tenant.config.mfa.factors;
        [FactorType::Otp, FactorType::Phone].into_iter().filter(|f| enabled.contains(f)).collect()
    }

    /// A prompt enrolling one of `factors` (straight to it when there is one).
    pub(crate) fn enrollment_state(factors: Vec<FactorType>) -> MfaState {
        let current = if factors.len() == 1 { factors.first().copied() } else { None };
        MfaState { offered: factors, enrolling: true, current, ..MfaState::default() }
    }

    /// Saves the actions' metadata changes; a store failure is returned so the login does not go on as if they
    /// had been saved.
    async fn apply_metadata(&self, user: &User, outcome: &Outcome) -> AuthResult<()> {
        if outcome.app_metadata.is_empty() && outcome.user_metadata.is_empty() {
            return Ok(());
        }
        let now = self.ctx.tenant.now_iso();
        let change = |current: &User| {
            Some(crate::users::with_metadata(current, &outcome.app_metadata, &outcome.user_metadata, &now))
        };
        self.ctx.tenant.store.update_user(&user.user_id, &change).await?;
        Ok(())
    }

    /// Issues the code: metadata, session, grant, code, log, answer.
    async fn complete(&self, state: &str, tx: LoginTx, user: User, outcome: Outcome) -> LoginResponse {
        let lang = tx.lang.clone();
        let now = self.now();
        let Some(client) = self.ctx.tenant.config.client(&tx.request.client_id).cloned() else {
            return error_page(&lang, "unauthorized_client", "The application is no longer configured.");
        };
        if self.needs_organization(&tx) {
            return self.show_organizations(state, tx, &user).await;
        }
        match self.consent_needed(&tx, &client, &user, &outcome).await {
            Ok(Some(scopes)) => return self.show_consent(state, tx, &user, outcome, scopes).await,
            Ok(None) => {}
            Err(e) => return internal(&lang, e),
        }
        if let Err(e) = self.apply_metadata(&user, &outcome).await {
            return internal(&lang, e);
        }
        // Counted atomically on the stored user: a login finishing while the password is reset never writes the
        // old password back.
        let last_login = self.ctx.tenant.now_iso();
        let count = |u: &User| {
            Some(User { logins_count: u.logins_count + 1, last_login: Some(last_login.clone()), ..u.clone() })
        };
        let fresh = match self.ctx.tenant.store.update_user(&user.user_id, &count).await {
            Ok(Some(u)) => u,
            Ok(None) => return error_page(&lang, "access_denied", "The user no longer exists."),
            Err(e) => return internal(&lang, e),
        };
        let mut response = LoginResponse::new(AuthStep::Error(ErrorPage::default_for(&lang)));

        // The SSO session: continue the one this transaction came from, or start one.
        let existing = match &tx.session_key {
            Some(key) => match self.ctx.tenant.store.find_session(key, now).await {
                Ok(found) => found.filter(|s| s.user_id == fresh.user_id),
                Err(e) => return internal(&lang, e),
            },
            None => None,
        };
        let (session_key, mut session) = match existing {
            Some(session) => (tx.session_key.clone().unwrap_or_default(), session),
            None => {
                let cookie = match ids::secret() {
                    Ok(c) => c,
                    Err(e) => return internal(&lang, e),
                };
                let sid = match ids::public_id("") {
                    Ok(sid) => sid,
                    Err(e) => return internal(&lang, e),
                };
                let lifetime = self.ctx.tenant.config.sessions.lifetime as i64;
                response.cookies.push(CookieChange::SetSession { value: cookie.clone(), max_age: lifetime });
                let session = Session {
                    id: sid,
                    user_id: fresh.user_id.clone(),
                    methods: Vec::new(),
                    authenticated_at: tx.auth_time.unwrap_or(now),
                    created_at: now,
                    last_active: now,
                    expires_at: now + lifetime,
                    clients: Vec::new(),
                };
                (secret_key(&cookie), session)
            }
        };
        for method in &tx.methods {
            if !session
                .methods
                .iter()
                .any(|m| m.name == method.name && m.kind == method.kind && m.timestamp == method.timestamp)
            {
                session.methods.push(method.clone());
            }
        }
        session.last_active = now;
        if !session.clients.contains(&client.client_id) {
            session.clients.push(client.client_id.clone());
        }
        if let Err(e) = self.ctx.tenant.store.save_session(&session_key, &session).await {
            return internal(&lang, e);
        }

        let mfa = tx.methods.iter().any(|m| m.name == "mfa");
        let show_amr = tx.mfa_done || (mfa && !tx.request.is_silent());
        let scope = self.login_scopes(&tx, &client, &fresh, &outcome);
        let grant = Grant {
            user_id: fresh.user_id.clone(),
            client_id: client.client_id.clone(),
            scope,
            audience: tx.request.audience.clone(),
            session_id: Some(session.id.clone()),
            auth_time: session.authenticated_at,
            nonce: tx.request.nonce.clone(),
            acr: show_amr.then(|| tx.request.requires_mfa_acr().unwrap_or(PAPE_MFA).to_owned()),
            amr: if show_amr { vec!["mfa".to_owned()] } else { Vec::new() },
            id_token_claims: outcome.id_token_claims.clone(),
            access_token_claims: outcome.access_token_claims.clone(),
            organization: tx.request.organization.clone(),
            mfa,
        };
        let code = match ids::secret() {
            Ok(c) => c,
            Err(e) => return internal(&lang, e),
        };
        let record = AuthorizationCode {
            grant,
            redirect_uri: tx.request.redirect_uri.clone(),
            redirect_uri_sent: tx.request.redirect_uri_sent,
            code_challenge: tx.request.code_challenge.clone(),
            expires_at: now + CODE_LIFETIME,
        };
        if let Err(e) = self.ctx.tenant.store.create_code(&secret_key(&code), &record).await {
            return internal(&lang, e);
        }
        self.remember_device(&fresh, &tx).await;
        let mut entry = self.log("s", "Successful login", Some(&tx), Some(&fresh));
        entry.details.insert("mfa".into(), serde_json::Value::from(mfa));
        entry.details.insert("session_id".into(), serde_json::Value::from(session.id.clone()));
        crate::logs::add_actions(&mut entry, &outcome);
        self.ctx.tenant.log(entry).await;

        let mut params = vec![("code".to_owned(), code)];
        if let Some(app_state) = &tx.request.state {
            params.push(("state".to_owned(), app_state.clone()));
        }
        response.step = AuthStep::Respond(AppResponse {
            redirect_uri: tx.request.redirect_uri.clone(),
            mode: tx.request.response_mode,
            params,
        });
        self.finish_tx(state, &tx, response).await
    }

    async fn is_known_device(&self, user: &User, tx: &LoginTx) -> bool {
        let key = secret_key(&format!("{}\0{}", user.user_id, tx.device_hash));
        matches!(self.ctx.tenant.store.get_ephemeral(Ephemeral::KnownDevice, &key, self.now()).await, Ok(Some(_)))
    }

    async fn remember_device(&self, user: &User, tx: &LoginTx) {
        let key = secret_key(&format!("{}\0{}", user.user_id, tx.device_hash));
        let expires = self.now() + KNOWN_DEVICE_LIFETIME;
        if let Err(e) = self.ctx.tenant.store.put_ephemeral(Ephemeral::KnownDevice, &key, b"1", expires).await {
            tracing::warn!(error = %e, "could not remember a device");
        }
    }
}

/// A transaction just made ([`Login::new_tx`]).
struct NewTx {
    /// Its handle.
    state: String,
    /// The binding cookie's value.
    binding: String,
    /// The transaction.
    tx: LoginTx,
    /// The binding cookie to set.
    cookie: CookieChange,
}

impl ErrorPage {
    fn default_for(lang: &str) -> ErrorPage {
        ErrorPage { lang: lang.to_owned(), title: "server_error".to_owned(), detail: String::new(), start_again: None }
    }
}

/// Appends `state=<handle>` to an action's redirect URL, as Auth0 does.
fn with_state(url: &str, state: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.query_pairs_mut().append_pair("state", state);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

fn response_mode_name(mode: ResponseMode) -> &'static str {
    match mode {
        ResponseMode::Query => "query",
        ResponseMode::FormPost => "form_post",
        ResponseMode::WebMessage => "web_message",
    }
}
