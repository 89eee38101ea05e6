//! The MFA pages of a browser login: pickers, challenges, enrollment, recovery codes, and `/continue`.

use gatehouse_engine::flow::Completion;
use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::phone::DeliveryMethod;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use gatehouse_types::{AuthMethod, FactorType, JsonMap};
use serde::{Deserialize, Serialize};

use crate::attempts;
use crate::clock;
use crate::crypto::one_time_code;
use crate::crypto::recovery;
use crate::crypto::totp;
use crate::error::AuthResult;
use crate::ids;
use crate::limits;
use crate::login::phone;
use crate::login::step::{AuthStep, ChallengePage, EnrollOtpPage, LoginResponse, Notice, PickerPage, RecoveryCodePage};
use crate::login::tx::{LoginTx, MfaState, Stage};
use crate::login::{Login, error_page, internal};
use crate::mail::{EmailKind, EmailVars};
use crate::mask::mask_email;

/// A one-time code waiting in the store.
#[derive(Serialize, Deserialize)]
struct PendingCode {
    hash: String,
}

/// The result of checking a code.
pub(crate) enum Verified {
    /// Accepted; a replacement recovery code when one was used.
    Ok(Option<String>),
    /// Wrong code.
    Invalid,
    /// Too many failures: the factor is blocked for a while.
    Blocked,
    /// No live code (email): send a new one.
    Expired,
}

fn mfa_state(tx: &mut LoginTx) -> Option<&mut MfaState> {
    tx.stage.mfa_mut()
}

impl Login<'_> {
    /// Renders the MFA page the transaction is at (sending an email code when needed) and saves it.
    pub(crate) async fn show_mfa(
        &self,
        state: &str,
        tx: &mut LoginTx,
        user: &User,
        notice: Option<Notice>,
    ) -> LoginResponse {
        let lang = tx.lang.clone();
        let ctx = self.page_context(state, tx);
        if let Stage::RecoveryShown { .. } = tx.stage {
            // The code was shown once; a reload shows the page without it.
            return LoginResponse::new(AuthStep::RecoveryCode(RecoveryCodePage { ctx, code: String::new() }));
        }
        let Some(mfa) = mfa_state(tx) else { return error_page(&lang, "invalid_request", "Nothing to verify.") };
        let alternatives = mfa.offered.len() > 1;
        let Some(factor) = mfa.current else {
            let back = mfa.previous.filter(|f| mfa.offered.contains(f));
            let page = PickerPage { ctx, factors: mfa.offered.clone(), enrolling: mfa.enrolling, back };
            if let Err(e) = self.save(state, tx).await {
                return internal(&lang, e);
            }
            return LoginResponse::new(AuthStep::Picker(page));
        };
        let step = if mfa.enrolling {
            match factor {
                FactorType::Otp => {
                    let secret = match &mfa.pending_secret {
                        Some(secret) => secret.clone(),
                        None => match totp::new_secret() {
                            Ok(secret) => {
                                mfa.pending_secret = Some(secret.clone());
                                secret
                            }
                            Err(e) => return internal(&lang, e),
                        },
                    };
                    let uri = totp::otpauth_uri(&secret, &self.ctx.tenant.config.friendly_name, &user.email);
                    let qr_svg = match totp::qr_svg(&uri) {
                        Ok(svg) => svg,
                        Err(e) => return internal(&lang, e),
                    };
                    AuthStep::EnrollOtp(EnrollOtpPage { ctx, secret, uri, qr_svg, alternatives, notice })
                }
                FactorType::RecoveryCode => {
                    let code = match recovery::new_hashed_recovery_code().await {
                        Ok((code, hash)) => {
                            mfa.pending_secret = Some(hash);
                            code
                        }
                        Err(e) => return internal(&lang, e),
                    };
                    AuthStep::RecoveryCode(RecoveryCodePage { ctx, code })
                }
                FactorType::Email => {
                    // Email needs no enrollment: a verified address is already a factor.
                    return self.send_email_and_show(state, tx, user, notice, alternatives).await;
                }
                FactorType::Phone => return self.show_phone(state, tx, user, notice, alternatives).await,
                other => {
                    return error_page(
                        &lang,
                        "unsupported_factor",
                        &format!("Enrolling {other} is not available on this server."),
                    );
                }
            }
        } else {
            match factor {
                FactorType::Email => return self.send_email_and_show(state, tx, user, notice, alternatives).await,
                FactorType::Phone => return self.show_phone(state, tx, user, notice, alternatives).await,
                FactorType::Otp | FactorType::RecoveryCode => AuthStep::Challenge(ChallengePage {
                    ctx,
                    factor,
                    destination: None,
                    alternatives,
                    notice,
                    phone: None,
                }),
                other => {
                    return error_page(
                        &lang,
                        "unsupported_factor",
                        &format!("The {other} factor is not available on this server."),
                    );
                }
            }
        };
        if let Err(e) = self.save(state, tx).await {
            return internal(&lang, e);
        }
        LoginResponse::new(step)
    }

    /// Sends an email code unless a live one exists, and shows its form.
    async fn send_email_and_show(
        &self,
        state: &str,
        tx: &mut LoginTx,
        user: &User,
        mut notice: Option<Notice>,
        alternatives: bool,
    ) -> LoginResponse {
        let lang = tx.lang.clone();
        let destination = match email_destination(self.ctx.tenant, user).await {
            Ok(Some(destination)) => destination,
            Ok(None) => {
                return error_page(
                    &lang,
                    "access_denied",
                    "This account has no verified email address to send a code to.",
                );
            }
            Err(e) => return internal(&lang, e),
        };
        let live =
            match self.ctx.tenant.store.get_ephemeral(Ephemeral::OneTimeCode, &email_code_key(tx), self.now()).await {
                Ok(found) => found.is_some(),
                Err(e) => return internal(&lang, e),
            };
        // A delivery that just failed (resend, expired code) is not tried again within the same request.
        if !live && notice != Some(Notice::NotSent) {
            match self.send_email_code(tx, user).await {
                Ok(EmailSent::Sent) => {}
                Ok(EmailSent::Limited) => notice = Some(Notice::TooManySends),
                Ok(EmailSent::NotSent) => notice = Some(Notice::NotSent),
                Err(e) => return internal(&lang, e),
            }
        }
        if let Err(e) = self.save(state, tx).await {
            return internal(&lang, e);
        }
        LoginResponse::new(AuthStep::Challenge(ChallengePage {
            ctx: self.page_context(state, tx),
            factor: FactorType::Email,
            destination: Some(mask_email(&destination)),
            alternatives,
            notice,
            phone: None,
        }))
    }

    /// Sends a new email code to the account's verified address, within the send limit.
    async fn send_email_code(&self, tx: &LoginTx, user: &User) -> AuthResult<EmailSent> {
        let Some(to) = email_destination(self.ctx.tenant, user).await? else {
            return Err(crate::AuthError::Setup("no verified email address to send a code to".into()));
        };
        if let Some(retry_after) =
            limits::spend_send(self.ctx.tenant.store.as_ref(), &user.user_id, limits::Channel::Email, self.now())
                .await?
        {
            self.write_log(
                "gd_send_email_failure",
                format!("Email code not sent: send limit reached (retry in {retry_after} s)"),
                Some(tx),
                Some(user),
            )
            .await;
            return Ok(EmailSent::Limited);
        }
        let code = one_time_code::new_code()?;
        let pending = PendingCode { hash: one_time_code::code_hash(&code, &email_code_context(tx, user)) };
        let bytes = serde_json::to_vec(&pending).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
        let expires = self.now() + one_time_code::LIFETIME_SECS;
        self.ctx.tenant.store.put_ephemeral(Ephemeral::OneTimeCode, &email_code_key(tx), &bytes, expires).await?;
        let vars = EmailVars {
            friendly_name: self.ctx.tenant.config.friendly_name.clone(),
            email: to,
            name: user.name.clone(),
            url: None,
            code: Some(code),
            ttl_seconds: u64::try_from(one_time_code::LIFETIME_SECS).unwrap_or_default(),
        };
        if self.ctx.tenant.send_email(EmailKind::MfaCode, &tx.lang, &vars).await.is_err() {
            // Nobody received this code: it is withdrawn, so the next page sends a new one. The reason is in the
            // server log (`Tenant::send_email`).
            self.ctx.tenant.store.delete_ephemeral(Ephemeral::OneTimeCode, &email_code_key(tx)).await?;
            self.write_log("gd_send_email_failure", "Email code not sent: delivery failed", Some(tx), Some(user)).await;
            return Ok(EmailSent::NotSent);
        }
        self.write_log("gd_send_email", "MFA email sent", Some(tx), Some(user)).await;
        Ok(EmailSent::Sent)
    }

    /// `POST /u/mfa/choose`: shows the picker (`None`) or switches to `factor`.
    pub async fn choose_factor(&self, state: &str, csrf: &str, factor: Option<FactorType>) -> LoginResponse {
        let (mut tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        if !Self::csrf_ok(&tx, csrf) {
            return self.show_mfa(state, &mut tx, &user, Some(Notice::FormExpired)).await;
        }
        if let Some(mfa) = mfa_state(&mut tx) {
            match factor {
                Some(f) if mfa.offered.contains(&f) => {
                    mfa.current = Some(f);
                    // Choosing email while enrolling means verifying with email instead.
                    if mfa.enrolling && f == FactorType::Email {
                        mfa.enrolling = false;
                    }
                    // Choosing the phone again while enrolling asks for the number again (to fix a typo).
                    if mfa.enrolling && f == FactorType::Phone {
                        mfa.phone = None;
                    }
                }
                Some(_) => {}
                None => {
                    if mfa.current.is_some() {
                        mfa.previous = mfa.current;
                    }
                    mfa.current = None;
                }
            }
        }
        self.show_mfa(state, &mut tx, &user, None).await
    }

    /// `POST /u/mfa/resend`: a new email code.
    pub async fn resend(&self, state: &str, csrf: &str, method: Option<&str>) -> LoginResponse {
        let (mut tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        let lang = tx.lang.clone();
        if !Self::csrf_ok(&tx, csrf) {
            return self.show_mfa(state, &mut tx, &user, Some(Notice::FormExpired)).await;
        }
        if mfa_state(&mut tx).and_then(|m| m.current) == Some(FactorType::Phone) {
            let switch_to = match method {
                Some("voice") => Some(DeliveryMethod::Voice),
                Some("text" | "sms") => Some(DeliveryMethod::Text),
                _ => None,
            };
            let notice = match self.send_phone_code(&mut tx, &user, switch_to, true).await {
                Ok(sent) => sent.notice().unwrap_or(Notice::CodeSent),
                Err(e) => return internal(&lang, e),
            };
            return self.show_mfa(state, &mut tx, &user, Some(notice)).await;
        }
        let notice = match self.send_email_code(&tx, &user).await {
            Ok(EmailSent::Sent) => Notice::CodeSent,
            Ok(EmailSent::Limited) => Notice::TooManySends,
            Ok(EmailSent::NotSent) => Notice::NotSent,
            Err(e) => return internal(&lang, e),
        };
        self.show_mfa(state, &mut tx, &user, Some(notice)).await
    }

    /// `POST /u/mfa`: checks a code for the current factor.
    pub async fn submit_code(&self, state: &str, csrf: &str, code: &str) -> LoginResponse {
        let (mut tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        let lang = tx.lang.clone();
        if !Self::csrf_ok(&tx, csrf) {
            return self.show_mfa(state, &mut tx, &user, Some(Notice::FormExpired)).await;
        }
        let Some(mfa) = mfa_state(&mut tx).cloned() else { return self.show(state).await };
        let Some(factor) = mfa.current else { return self.show_mfa(state, &mut tx, &user, None).await };
        let now = self.now();
        if mfa.enrolling && factor == FactorType::Otp {
            let Some(secret) = mfa.pending_secret.clone() else {
                return self.show_mfa(state, &mut tx, &user, None).await;
            };
            let Some(step) = totp::verify(&secret, code, 0, now) else {
                self.write_log(
                    "gd_auth_failed",
                    "Wrong code while enrolling an authenticator app",
                    Some(&tx),
                    Some(&user),
                )
                .await;
                return self.show_mfa(state, &mut tx, &user, Some(Notice::InvalidCode)).await;
            };
            let authenticator = match new_authenticator(&user, AuthenticatorKind::Otp { secret, last_step: step }, now)
            {
                Ok(a) => a,
                Err(e) => return internal(&lang, e),
            };
            if let Err(e) = self.ctx.tenant.store.save_authenticator(&authenticator).await {
                return internal(&lang, e);
            }
            self.write_log("gd_enrollment_complete", "Authenticator app enrolled", Some(&tx), Some(&user)).await;
            return self.after_enrollment(state, tx, user, FactorType::Otp).await;
        }
        if mfa.enrolling && factor == FactorType::Phone {
            return self.confirm_phone_enrollment(state, tx, user, code).await;
        }
        match self.verify_factor(&tx, &user, factor, code).await {
            Ok(Verified::Ok(replacement)) => match replacement {
                Some(new_code) => {
                    let ctx = self.page_context(state, &tx);
                    tx.stage = Stage::RecoveryShown { after: Box::new(tx.stage.clone()), completed: factor };
                    if let Err(e) = self.save(state, &tx).await {
                        return internal(&lang, e);
                    }
                    LoginResponse::new(AuthStep::RecoveryCode(RecoveryCodePage { ctx, code: new_code }))
                }
                None => self.factor_completed(state, tx, user, factor).await,
            },
            Ok(Verified::Invalid) => self.show_mfa(state, &mut tx, &user, Some(Notice::InvalidCode)).await,
            Ok(Verified::Blocked) => self.show_mfa(state, &mut tx, &user, Some(Notice::FactorBlocked)).await,
            Ok(Verified::Expired) if factor == FactorType::Phone => {
                // show_mfa sends a new code: none is live.
                self.show_mfa(state, &mut tx, &user, Some(Notice::CodeExpired)).await
            }
            Ok(Verified::Expired) => {
                let notice = match self.send_email_code(&tx, &user).await {
                    Ok(EmailSent::Sent) => Notice::CodeExpired,
                    Ok(EmailSent::Limited) => Notice::TooManySends,
                    Ok(EmailSent::NotSent) => Notice::NotSent,
                    Err(e) => return internal(&lang, e),
                };
                self.show_mfa(state, &mut tx, &user, Some(notice)).await
            }
            Err(e) => internal(&lang, e),
        }
    }

    /// A factor was just enrolled: `multifactor.enable` enrolls a recovery code with the first factor (shown once
    /// before the login goes on); `enrollWith` does not (Auth0).
    pub(crate) async fn after_enrollment(
        &self,
        state: &str,
        tx: LoginTx,
        user: User,
        factor: FactorType,
    ) -> LoginResponse {
        let final_mfa = matches!(tx.stage, Stage::FinalMfa { .. });
        if final_mfa && self.ctx.tenant.config.mfa.factors.contains(&FactorType::RecoveryCode) {
            let has_recovery = match self.ctx.tenant.store.find_authenticators(&user.user_id).await {
                Ok(list) => list.iter().any(|a| matches!(a.kind, AuthenticatorKind::RecoveryCode { .. })),
                Err(e) => return internal(&tx.lang, e),
            };
            if !has_recovery {
                return self.issue_recovery_code(state, tx, user, factor).await;
            }
        }
        self.factor_completed(state, tx, user, factor).await
    }

    /// Generates a recovery code for a user who just enrolled their first factor, and shows it once.
    async fn issue_recovery_code(
        &self,
        state: &str,
        mut tx: LoginTx,
        user: User,
        completed: FactorType,
    ) -> LoginResponse {
        let lang = tx.lang.clone();
        let (code, hash) = match recovery::new_hashed_recovery_code().await {
            Ok(pair) => pair,
            Err(e) => return internal(&lang, e),
        };
        let authenticator = match new_authenticator(&user, AuthenticatorKind::RecoveryCode { hash }, self.now()) {
            Ok(a) => a,
            Err(e) => return internal(&lang, e),
        };
        if let Err(e) = self.ctx.tenant.store.save_authenticator(&authenticator).await {
            return internal(&lang, e);
        }
        let ctx = self.page_context(state, &tx);
        tx.stage = Stage::RecoveryShown { after: Box::new(tx.stage.clone()), completed };
        if let Err(e) = self.save(state, &tx).await {
            return internal(&lang, e);
        }
        LoginResponse::new(AuthStep::RecoveryCode(RecoveryCodePage { ctx, code }))
    }

    /// `POST /u/mfa/recovery-saved`: the user saved the recovery code shown; the login continues.
    pub async fn acknowledge_recovery(&self, state: &str, csrf: &str) -> LoginResponse {
        let (tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        let lang = tx.lang.clone();
        if !Self::csrf_ok(&tx, csrf) {
            return self.show(state).await;
        }
        // Enrolling a recovery code (enrollWith): the code was generated when the page was shown.
        if let Some(mfa) = tx.stage.mfa()
            && mfa.enrolling
            && mfa.current == Some(FactorType::RecoveryCode)
        {
            let Some(hash) = mfa.pending_secret.clone() else { return self.show(state).await };
            let authenticator = match new_authenticator(&user, AuthenticatorKind::RecoveryCode { hash }, self.now()) {
                Ok(a) => a,
                Err(e) => return internal(&lang, e),
            };
            if let Err(e) = self.ctx.tenant.store.save_authenticator(&authenticator).await {
                return internal(&lang, e);
            }
            self.write_log("gd_enrollment_complete", "Recovery code enrolled", Some(&tx), Some(&user)).await;
            return self.factor_completed(state, tx, user, FactorType::RecoveryCode).await;
        }
        self.acknowledge_recovery_inner(state, tx, user).await
    }

    async fn acknowledge_recovery_inner(&self, state: &str, mut tx: LoginTx, user: User) -> LoginResponse {
        let Stage::RecoveryShown { after, completed } = tx.stage.clone() else { return self.show(state).await };
        tx.stage = *after;
        self.factor_completed(state, tx, user, completed).await
    }

    /// A factor was completed: record it and move the login on.
    async fn factor_completed(&self, state: &str, mut tx: LoginTx, user: User, factor: FactorType) -> LoginResponse {
        let lang = tx.lang.clone();
        tx.mfa_done = true;
        tx.methods.push(AuthMethod {
            name: "mfa".to_owned(),
            timestamp: self.ctx.tenant.now_iso(),
            kind: Some(factor),
        });
        let kind = if factor == FactorType::RecoveryCode { "gd_recovery_succeed" } else { "gd_auth_succeed" };
        self.write_log(kind, format!("MFA completed with {factor}"), Some(&tx), Some(&user)).await;
        match std::mem::replace(&mut tx.stage, Stage::Credentials) {
            Stage::Flow { paused, .. } => {
                match self.ctx.tenant.actions.resume_post_login(*paused, Completion::Factor(factor)).await {
                    Ok(step) => self.after_flow_step(state, tx, user, step).await,
                    Err(e) => internal(&lang, e),
                }
            }
            Stage::ResetChallenge { pause, .. } => {
                self.resume_reset(state, tx, user, *pause, Completion::Factor(factor)).await
            }
            Stage::FinalMfa { outcome, mfa } => match mfa.then_enroll {
                // The existing factor is passed: now a factor is enrolled.
                Some(next) => {
                    let mut factors = self.enrollable_factors();
                    if !factors.contains(&next) {
                        factors = vec![next];
                    }
                    tx.stage = Stage::FinalMfa { outcome, mfa: Self::enrollment_state(factors) };
                    self.show_mfa(state, &mut tx, &user, None).await
                }
                None => self.complete(state, tx, user, *outcome).await,
            },
            other => {
                tx.stage = other;
                self.show(state).await
            }
        }
    }

    /// Checks a code against the user's authenticators of `factor`, with the attempt limit: the attempt is spent
    /// in the store before the code is compared, and a matching code is consumed (TOTP step, recovery code, email
    /// code) atomically, so neither parallel guesses nor a replayed code get through.
    pub(crate) async fn verify_factor(
        &self,
        tx: &LoginTx,
        user: &User,
        factor: FactorType,
        code: &str,
    ) -> AuthResult<Verified> {
        let now = self.now();
        let mut authenticators = self.ctx.tenant.store.find_authenticators(&user.user_id).await?;
        if factor == FactorType::Email
            && !authenticators.iter().any(|a| matches!(a.kind, AuthenticatorKind::Email { .. }))
        {
            // A verified email is an implicit authenticator; it gets a record to carry its attempt limit.
            let email = new_authenticator(user, AuthenticatorKind::Email { email: user.email.clone() }, now)?;
            self.ctx.tenant.store.save_authenticator(&email).await?;
            authenticators.push(email);
        }
        let Some(index) = authenticators.iter().position(|a| a.active && a.kind.factor() == factor) else {
            return Ok(Verified::Invalid);
        };
        let found = authenticators.swap_remove(index);
        let rate_limited = if factor == FactorType::RecoveryCode {
            "gd_recovery_rate_limit_exceed"
        } else {
            "gd_otp_rate_limit_exceed"
        };
        let authenticator = match attempts::spend(self.ctx.tenant.store.as_ref(), &found, now).await? {
            attempts::Spend::Spent(stored) => *stored,
            attempts::Spend::Blocked { .. } => {
                self.write_log(rate_limited, format!("Too many failed {factor} codes"), Some(tx), Some(user)).await;
                return Ok(Verified::Blocked);
            }
            attempts::Spend::Missing => return Ok(Verified::Invalid),
        };
        let store = self.ctx.tenant.store.as_ref();
        let accepted: Option<Option<String>> = match &authenticator.kind {
            AuthenticatorKind::Otp { secret, last_step } => match totp::verify(secret, code, *last_step, now) {
                // Consumed only if no parallel request used this step (or a later one) first.
                Some(step) => attempts::settle_success(store, &authenticator, now, &|current| {
                    let mut next = current.clone();
                    match &mut next.kind {
                        AuthenticatorKind::Otp { last_step, .. } if *last_step < step => *last_step = step,
                        _ => return None,
                    }
                    Some(next)
                })
                .await?
                .map(|_| None),
                None => None,
            },
            AuthenticatorKind::RecoveryCode { hash } => {
                let candidate = code.to_owned();
                let stored = hash.clone();
                let ok =
                    crate::crypto::password::run_argon2(move || recovery::verify_recovery_code(&stored, &candidate))
                        .await
                        .unwrap_or(false);
                if ok {
                    let (replacement, new_hash) = recovery::new_hashed_recovery_code().await?;
                    // Replaced only if it is still the code that matched: of two parallel uses, one wins.
                    let old_hash = hash.clone();
                    attempts::settle_success(store, &authenticator, now, &|current| match &current.kind {
                        AuthenticatorKind::RecoveryCode { hash } if *hash == old_hash => Some(Authenticator {
                            kind: AuthenticatorKind::RecoveryCode { hash: new_hash.clone() },
                            ..current.clone()
                        }),
                        _ => None,
                    })
                    .await?
                    .map(|_| Some(replacement))
                } else {
                    None
                }
            }
            AuthenticatorKind::Email { .. } => {
                let key = email_code_key(tx);
                let Some(raw) = store.get_ephemeral(Ephemeral::OneTimeCode, &key, now).await? else {
                    // Nothing was checked: the attempt goes back.
                    attempts::settle_success(store, &authenticator, now, &|current| Some(current.clone())).await?;
                    return Ok(Verified::Expired);
                };
                let pending: PendingCode =
                    serde_json::from_slice(&raw).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
                // Single use: only the request that removes it succeeds.
                if one_time_code::codes_match(&pending.hash, code, &email_code_context(tx, user))
                    && store.take_ephemeral(Ephemeral::OneTimeCode, &key, now).await?.is_some()
                {
                    attempts::settle_success(store, &authenticator, now, &|current| Some(current.clone()))
                        .await?
                        .map(|_| None)
                } else {
                    None
                }
            }
            AuthenticatorKind::Phone { .. } => {
                let number = tx.stage.mfa().and_then(|mfa| mfa.phone.as_ref().map(|p| p.number.clone()));
                let checked = match number {
                    Some(number) => phone::check_phone_code(store, tx, user, &number, code, now).await?,
                    None => None,
                };
                match checked {
                    Some(true) => {
                        attempts::settle_success(store, &authenticator, now, &|current| Some(current.clone()))
                            .await?
                            .map(|_| None)
                    }
                    Some(false) => None,
                    None => {
                        // Nothing was checked: the attempt goes back.
                        attempts::settle_success(store, &authenticator, now, &|current| Some(current.clone())).await?;
                        return Ok(Verified::Expired);
                    }
                }
            }
        };
        match accepted {
            Some(replacement) => Ok(Verified::Ok(replacement)),
            None => {
                let kind = if factor == FactorType::RecoveryCode { "gd_recovery_failed" } else { "gd_auth_failed" };
                self.write_log(kind, format!("Wrong {factor} code"), Some(tx), Some(user)).await;
                if attempts::is_blocked(&authenticator, now) {
                    self.write_log(rate_limited, format!("Too many failed {factor} codes"), Some(tx), Some(user)).await;
                    return Ok(Verified::Blocked);
                }
                Ok(Verified::Invalid)
            }
        }
    }

    /// `GET|POST /continue`: the browser is back from an action's redirect.
    pub async fn continue_redirect(&self, state: &str, query: JsonMap, body: JsonMap) -> LoginResponse {
        let tx = match self.load(state).await {
            Ok(tx) => tx,
            Err(page) => return page,
        };
        let lang = tx.lang.clone();
        let user = match self.user(&tx).await {
            Ok(Some(user)) => user,
            Ok(None) => return error_page(&lang, "access_denied", "The user no longer exists."),
            Err(e) => return internal(&lang, e),
        };
        let paused = match tx.stage.clone() {
            Stage::Redirect { paused } => paused,
            Stage::ResetRedirect { pause } => {
                return self.resume_reset(state, tx, user, *pause, Completion::Continue { query, body }).await;
            }
            _ => return error_page(&lang, "invalid_request", "This login is not waiting for a redirect."),
        };
        match self.ctx.tenant.actions.resume_post_login(*paused, Completion::Continue { query, body }).await {
            Ok(step) => self.after_flow_step(state, tx, user, step).await,
            Err(e) => internal(&lang, e),
        }
    }
}

/// Where email codes may go: the account's own address, and only when it is verified or was confirmed as an email
/// factor. Never another address, whatever an enrollment says: a code mailed elsewhere would hand the factor to
/// whoever chose that address.
pub(crate) async fn email_destination(tenant: &crate::tenant::Tenant, user: &User) -> AuthResult<Option<String>> {
    if user.email_verified {
        return Ok(Some(user.email.clone()));
    }
    let enrolled = tenant.store.find_authenticators(&user.user_id).await?;
    let confirmed = enrolled.iter().any(|a| {
        a.active && matches!(&a.kind, AuthenticatorKind::Email { email } if email.eq_ignore_ascii_case(&user.email))
    });
    Ok(confirmed.then(|| user.email.clone()))
}

/// Whether an email code was sent.
enum EmailSent {
    Sent,
    /// The send limit was reached; nothing was sent.
    Limited,
    /// The mailer failed (relay down, refused, timed out): no code is pending.
    NotSent,
}

/// A new active authenticator.
pub(crate) fn new_authenticator(user: &User, kind: AuthenticatorKind, now: i64) -> AuthResult<Authenticator> {
    Ok(Authenticator {
        id: ids::authenticator_id(kind.id_prefix())?,
        user_id: user.user_id.clone(),
        kind,
        active: true,
        created_at: clock::iso(now),
        last_auth_at: None,
        attempts_left: attempts::CAPACITY,
        attempts_updated: now,
    })
}

fn email_code_key(tx: &LoginTx) -> String {
    secret_key(&format!("email-code\0{}", tx.public_id))
}

fn email_code_context(tx: &LoginTx, user: &User) -> String {
    format!("{}\0{}", tx.public_id, user.user_id)
}
