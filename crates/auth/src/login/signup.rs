//! The account pages reached from a login: sign-up (`/u/signup`, also `/authorize?screen_hint=signup`) and
//! "Forgot your password?" (`/u/reset-password/request`). A sign-up that succeeds continues the login as the new
//! user, exactly as if they had typed their new password on the login page.

use crate::account::AccountError;
use crate::account::password_reset;
use crate::account::signup::{AfterSignup, SignupRequest, sign_up};
use crate::context::RequestInfo;
use crate::login::step::{AuthStep, LoginResponse, Notice, ResetRequestPage, SignupPage};
use crate::login::tx::{LoginTx, Stage};
use crate::login::{Login, error_page};
use crate::users::password_policy::PasswordPolicy;

/// The typed fields of the sign-up form.
#[derive(Clone, Debug, Default)]
pub struct SignupForm {
    /// Address.
    pub email: String,
    /// Password.
    pub password: String,
    /// Username (connections that require one).
    pub username: Option<String>,
}

/// A reset link to mail after the page answered (so the answer's timing tells nothing about the address).
#[derive(Clone, Debug)]
pub struct ResetJob {
    /// The application of the login.
    pub client_id: String,
    /// The address typed.
    pub email: String,
    /// The login's language.
    pub lang: String,
    /// The request, for the tenant log.
    pub request: RequestInfo,
}

impl Login<'_> {
    fn signup_page(
        &self,
        state: &str,
        tx: &LoginTx,
        form: Option<&SignupForm>,
        error: Option<String>,
        notice: Option<Notice>,
    ) -> LoginResponse {
        let connection = &self.ctx.tenant.config.connection;
        let policy = PasswordPolicy::from_config(connection);
        let typed = form.map(|f| f.password.as_str()).unwrap_or_default();
        LoginResponse::new(AuthStep::Signup(SignupPage {
            ctx: self.page_context(state, tx),
            email: form.map(|f| f.email.clone()).or_else(|| tx.request.login_hint.clone()),
            username: connection.requires_username.then(|| form.and_then(|f| f.username.clone())),
            rules: policy.rules(&tx.lang, typed),
            level: connection.password_policy,
            error,
            notice,
        }))
    }

    /// Loads a login that is still at its first step (the login page), for the account pages.
    async fn at_login_page(&self, state: &str) -> Result<LoginTx, LoginResponse> {
        let tx = self.load(state).await?;
        if !matches!(tx.stage, Stage::Credentials) || self.needs_organization_name(&tx) {
            return Err(self.show(state).await);
        }
        Ok(tx)
    }

    /// `GET /u/signup`: the sign-up form (or the login page, when sign-up is off).
    pub async fn show_signup(&self, state: &str) -> LoginResponse {
        let tx = match self.at_login_page(state).await {
            Ok(tx) => tx,
            Err(page) => return page,
        };
        if self.ctx.tenant.config.connection.disable_signup {
            return error_page(&tx.lang, "signup_disabled", "Sign-up is not available here.");
        }
        self.signup_page(state, &tx, None, None, None)
    }

    /// `POST /u/signup`: creates the account, then continues the login as the new user. The caller runs the
    /// returned [`AfterSignup`] (the verification email, `post-user-registration`) after answering.
    pub async fn submit_signup(
        &self,
        state: &str,
        csrf: &str,
        form: SignupForm,
    ) -> (LoginResponse, Option<AfterSignup>) {
        let tx = match self.at_login_page(state).await {
            Ok(tx) => tx,
            Err(page) => return (page, None),
        };
        if !Self::csrf_ok(&tx, csrf) {
            return (self.signup_page(state, &tx, Some(&form), None, Some(Notice::FormExpired)), None);
        }
        let request = SignupRequest {
            client_id: tx.request.client_id.clone(),
            email: form.email.clone(),
            password: form.password.clone(),
            connection: Some(self.ctx.tenant.config.connection.name.clone()),
            username: form.username.clone(),
            ..SignupRequest::default()
        };
        match sign_up(&self.ctx, request, &tx.lang).await {
            Ok((user, after)) => (self.submit_credentials(state, csrf, &user.email, &form.password).await, Some(after)),
            Err(AccountError::SignupDisabled) => {
                (error_page(&tx.lang, "signup_disabled", "Sign-up is not available here."), None)
            }
            Err(e @ (AccountError::Internal(_) | AccountError::Unavailable)) => {
                let mut page = self.signup_page(state, &tx, Some(&form), Some(e.sentence(&tx.lang)), None);
                if let AccountError::Internal(cause) = e {
                    page.cause = Some(cause);
                }
                (page, None)
            }
            Err(e) => (self.signup_page(state, &tx, Some(&form), Some(e.sentence(&tx.lang)), None), None),
        }
    }

    /// `GET /u/reset-password/request`: asks for the address to mail a reset link to.
    pub async fn show_reset_request(&self, state: &str) -> LoginResponse {
        let tx = match self.at_login_page(state).await {
            Ok(tx) => tx,
            Err(page) => return page,
        };
        LoginResponse::new(AuthStep::ResetRequest(ResetRequestPage {
            ctx: self.page_context(state, &tx),
            email: tx.request.login_hint.clone(),
            sent: false,
            error: None,
            notice: None,
        }))
    }

    /// `POST /u/reset-password/request`: says the link is on its way whatever the address, and returns the job
    /// that mails it (run by the caller after answering).
    pub async fn submit_reset_request(
        &self,
        state: &str,
        csrf: &str,
        email: &str,
    ) -> (LoginResponse, Option<ResetJob>) {
        let tx = match self.at_login_page(state).await {
            Ok(tx) => tx,
            Err(page) => return (page, None),
        };
        let page = |sent: bool, error: Option<String>, notice: Option<Notice>| {
            LoginResponse::new(AuthStep::ResetRequest(ResetRequestPage {
                ctx: self.page_context(state, &tx),
                email: Some(email.to_owned()),
                sent,
                error,
                notice,
            }))
        };
        if !Self::csrf_ok(&tx, csrf) {
            return (page(false, None, Some(Notice::FormExpired)), None);
        }
        let connection = self.ctx.tenant.config.connection.name.clone();
        match password_reset::accept_request(&self.ctx, &tx.request.client_id, email, Some(&connection)).await {
            Ok(()) => {
                let job = ResetJob {
                    client_id: tx.request.client_id.clone(),
                    email: email.to_owned(),
                    lang: tx.lang.clone(),
                    request: self.ctx.request.clone(),
                };
                (page(true, None, None), Some(job))
            }
            Err(e) => (page(false, Some(e.sentence(&tx.lang)), None), None),
        }
    }
}
