//! A password reset paused by its `password-reset-post-challenge` actions, carried through the hosted-login pages.
//!
//! Following the link starts a transaction bound to this browser (its own binding cookie, the Universal Login
//! transaction's lifetime) whose stage holds the pause ([`ResetPause`]): a challenge shows the login's MFA pages
//! (`/u/mfa`: the same factors, attempt limits, code sending and logs), a redirect goes out with `state` and comes
//! back to `/continue`. When the actions allow the reset, the browser is sent to the new-password form with a fresh
//! link (the emailed one is spent); a deny or a failure ends it on a page, logged `fcp`.

use gatehouse_engine::flow::Completion;
use gatehouse_types::account::AccountOutcome;
use gatehouse_types::records::User;
use gatehouse_types::{AuthMethod, PromptCommand};

use crate::account::password_reset::{denied_message, refusal};
use crate::account::reset_challenge::{ResetPause, offered_factors};
use crate::account::verification::LinkRefused;
use crate::login::step::{AuthStep, LoginResponse, ResetDeniedPage};
use crate::login::tx::{AuthorizeRequest, LoginTx, MfaState, Stage};
use crate::login::{Login, NewTx, internal, phone, start_again_url, with_state};

impl Login<'_> {
    /// `GET /u/reset-password` when the actions paused the reset: starts its transaction in this browser and shows
    /// the challenge (or sends the browser to the redirect).
    pub async fn start_reset_pause(&self, pause: ResetPause, user: User) -> LoginResponse {
        let lang = pause.ticket.lang.clone();
        if let Some(client_id) = &pause.ticket.client_id {
            self.know_client(client_id);
        }
        let request = AuthorizeRequest::for_reset(pause.ticket.client_id.as_deref());
        let Ok(NewTx { state, mut tx, cookie, .. }) = self.new_tx(request, &lang, String::new()) else {
            return internal(&lang, "random source failed");
        };
        tx.user_id = Some(user.user_id.clone());
        // The link was the first factor.
        tx.methods = vec![AuthMethod { name: "email".to_owned(), timestamp: self.ctx.tenant.now_iso(), kind: None }];
        let mut response = self.reset_paused(&state, tx, user, pause).await;
        // First: a reset refused at once clears the binding again (a later Set-Cookie wins).
        response.cookies.insert(0, cookie);
        response
    }

    /// Moves a paused reset on after `completion` (a factor completed in this transaction, or the browser back from
    /// the redirect).
    pub(crate) async fn resume_reset(
        &self,
        state: &str,
        tx: LoginTx,
        user: User,
        pause: ResetPause,
        completion: Completion,
    ) -> LoginResponse {
        let (outcome, next) = pause.resume(self.ctx.tenant, completion).await;
        match next {
            Some(next) => self.reset_paused(state, tx, user, next).await,
            None => self.reset_ended(state, tx, user, &pause, &outcome).await,
        }
    }

    /// Shows what a pause asks for: the challenge's factors (those the tenant enables and the user enrolled), or
    /// the redirect.
    async fn reset_paused(&self, state: &str, mut tx: LoginTx, user: User, pause: ResetPause) -> LoginResponse {
        let lang = tx.lang.clone();
        if let Some(url) = pause.redirect.clone() {
            tx.stage = Stage::ResetRedirect { pause: Box::new(pause) };
            if let Err(e) = self.save(state, &tx).await {
                return internal(&lang, e);
            }
            return LoginResponse::new(AuthStep::Redirect(with_state(&url, state)));
        }
        let Some(prompt) = pause.challenge.clone() else {
            return self.reset_refused(state, &tx, &user, "The password reset paused without a challenge", None).await;
        };
        let authenticators = match self.ctx.tenant.store.find_authenticators(&user.user_id).await {
            Ok(list) => list,
            Err(e) => return internal(&lang, e),
        };
        let offered = offered_factors(self.ctx.tenant, &user, &authenticators, &prompt);
        if offered.is_empty() {
            let asked: Vec<&str> = prompt.offered().map(|f| f.as_str()).collect();
            let description = format!(
                "Action {} asked for an MFA challenge with {} that this user has not enrolled or the tenant does not \
                 enable: the password reset is refused",
                prompt.action,
                asked.join(", ")
            );
            return self.reset_refused(state, &tx, &user, &description, None).await;
        }
        let current = match prompt.command {
            PromptCommand::ChallengeWith => offered.first().copied(),
            _ if offered.len() == 1 => offered.first().copied(),
            _ => None,
        };
        let phone_methods = phone::preferred_methods(&prompt);
        tx.stage = Stage::ResetChallenge {
            pause: Box::new(pause),
            mfa: MfaState { offered, current, phone_methods, ..MfaState::default() },
        };
        self.write_log("gd_start_auth", "Second factor started for a password reset", Some(&tx), Some(&user)).await;
        self.show_mfa(state, &mut tx, &user, None).await
    }

    /// The actions finished: to the new-password form with a fresh link when they allowed the reset, else a page.
    async fn reset_ended(
        &self,
        state: &str,
        tx: LoginTx,
        user: User,
        pause: &ResetPause,
        outcome: &AccountOutcome,
    ) -> LoginResponse {
        if let Some(description) = refusal(outcome) {
            return self.reset_refused(state, &tx, &user, &description, denied_message(outcome)).await;
        }
        match pause.passed(self.ctx.tenant).await {
            Ok(secret) => {
                let url = format!("/u/reset-password?ticket={secret}");
                self.finish_tx(state, &tx, LoginResponse::new(AuthStep::Redirect(url))).await
            }
            Err(LinkRefused::Invalid) => {
                let description = "Password change failed: the link was used, expired or the account changed \
                                   while its challenge was pending";
                self.reset_refused(state, &tx, &user, description, None).await
            }
            Err(LinkRefused::Internal(cause)) => internal(&tx.lang, cause),
        }
    }

    /// Ends a reset the actions refused (or that cannot go on): log `fcp`, the page with the action's reason when
    /// it gave one.
    async fn reset_refused(
        &self,
        state: &str,
        tx: &LoginTx,
        user: &User,
        description: &str,
        message: Option<String>,
    ) -> LoginResponse {
        self.write_log("fcp", description, Some(tx), Some(user)).await;
        let next = start_again_url(&self.ctx.tenant.config, Some(&tx.request.client_id));
        let page = ResetDeniedPage { lang: tx.lang.clone(), message, next };
        self.finish_tx(state, tx, LoginResponse::new(AuthStep::ResetDenied(page))).await
    }
}
