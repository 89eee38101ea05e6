//! The phone factor of a browser login: enrolling a number, codes by text or voice through
//! [`crate::phone::delivery`], switching method, and the resend cooldown.
//!
//! What a prompt offers: `challengeWith({type: 'phone', options: {preferredMethod}})` narrows the methods to `sms`,
//! `voice` or `both`; without it every method of `[mfa.phone] delivery_methods` is offered. The first code goes by
//! the enrolled method when it is offered (else the first offered one); the page offers the others ("Call me
//! instead"). A code lives 5 minutes, is bound to this transaction, the user and the number, and is single use. A
//! new code may be asked for every 30 seconds (switching method is not held back by the cooldown); every message
//! counts against the user's 10 an hour, in the store.

use gatehouse_store::{Ephemeral, RateDecision, RateLimit, secret_key};
use gatehouse_types::phone::DeliveryMethod;
use gatehouse_types::records::{AuthenticatorKind, User};
use gatehouse_types::{FactorType, Prompt};
use serde::{Deserialize, Serialize};

use crate::crypto::one_time_code;
use crate::error::AuthResult;
use crate::login::step::{AuthStep, ChallengePage, EnrollPhonePage, LoginResponse, Notice, PhoneChallenge};
use crate::login::tx::{LoginTx, MfaState, PhoneTarget};
use crate::login::{Login, error_page, internal};
use crate::mask::mask_phone;
use crate::phone::delivery::{self, CodeMessage, Delivery, DeliveryError};
use crate::phone::templates::PhoneTemplate;
use crate::phone::{enrolled_method, method_name, normalize_number};

/// Seconds between two codes by the same method.
pub const RESEND_COOLDOWN_SECS: i64 = 30;

/// Wrong codes while enrolling a number, per user: 10, one back every 6 minutes (the phone factor's own limit,
/// reference §7.7), so the 6-digit code cannot be guessed to enroll a number one does not hold.
const ENROLLMENT_ATTEMPTS: RateLimit = RateLimit { capacity: 10, window_secs: 3600 };

/// A phone code waiting in the store.
#[derive(Serialize, Deserialize)]
struct PendingPhoneCode {
    hash: String,
}

/// What happened to a phone code.
pub(crate) enum PhoneSent {
    Sent,
    /// The user's hourly limit.
    Limited,
    /// Asked again within the cooldown.
    TooSoon,
    /// The provider did not deliver.
    NotSent,
    /// The default provider's 100 messages are spent.
    Exhausted,
    /// The provider asked for a retry: the code will come later.
    Delayed,
}

impl PhoneSent {
    pub(crate) fn notice(&self) -> Option<Notice> {
        match self {
            PhoneSent::Sent => None,
            PhoneSent::Limited => Some(Notice::TooManySends),
            PhoneSent::TooSoon => Some(Notice::ResendTooSoon),
            PhoneSent::NotSent => Some(Notice::NotSent),
            PhoneSent::Exhausted => Some(Notice::ProviderExhausted),
            PhoneSent::Delayed => Some(Notice::Delayed),
        }
    }
}

/// The methods a prompt's phone selector allows (`preferredMethod`); empty when it does not narrow them.
pub(crate) fn preferred_methods(prompt: &Prompt) -> Vec<DeliveryMethod> {
    let selector = prompt.factors.iter().chain(&prompt.additional_factors).find(|f| f.kind == FactorType::Phone);
    let preferred = selector.and_then(|s| s.options.as_ref()).and_then(|o| o.get("preferredMethod"));
    match preferred.and_then(|v| v.as_str()) {
        Some("sms") => vec![DeliveryMethod::Text],
        Some("voice") => vec![DeliveryMethod::Voice],
        _ => Vec::new(),
    }
}

fn mfa_of(tx: &mut LoginTx) -> Option<&mut MfaState> {
    tx.stage.mfa_mut()
}

fn code_key(tx: &LoginTx) -> String {
    secret_key(&format!("phone-code\0{}", tx.public_id))
}

fn code_context(public_id: &str, user: &User, number: &str) -> String {
    format!("{public_id}\0{}\0{number}", user.user_id)
}

impl Login<'_> {
    /// The methods this prompt offers: its `preferredMethod`, within the tenant's `delivery_methods`.
    fn offered_methods(&self, mfa: &MfaState) -> Vec<DeliveryMethod> {
        let enabled = &self.ctx.tenant.config.mfa.phone.delivery_methods;
        enabled.iter().copied().filter(|m| mfa.phone_methods.is_empty() || mfa.phone_methods.contains(m)).collect()
    }

    /// Shows the phone factor: the enrollment form, or the code form after sending a code when none is live.
    pub(crate) async fn show_phone(
        &self,
        state: &str,
        tx: &mut LoginTx,
        user: &User,
        mut notice: Option<Notice>,
        alternatives: bool,
    ) -> LoginResponse {
        let lang = tx.lang.clone();
        let Some(mfa) = mfa_of(tx) else { return error_page(&lang, "invalid_request", "Nothing to verify.") };
        let methods = self.offered_methods(mfa);
        if methods.is_empty() {
            return error_page(
                &lang,
                "unsupported_factor",
                "The phone delivery method this login asks for is not enabled on this server.",
            );
        }
        if mfa.phone.is_none() {
            if mfa.enrolling {
                let page =
                    EnrollPhonePage { ctx: self.page_context(state, tx), methods, number: None, alternatives, notice };
                if let Err(e) = self.save(state, tx).await {
                    return internal(&lang, e);
                }
                return LoginResponse::new(AuthStep::EnrollPhone(page));
            }
            let enrolled = match self.ctx.tenant.store.find_authenticators(&user.user_id).await {
                Ok(list) => list.into_iter().find_map(|a| match a.kind {
                    AuthenticatorKind::Phone { phone_number, method } if a.active => Some((phone_number, method)),
                    _ => None,
                }),
                Err(e) => return internal(&lang, e),
            };
            let Some((number, method)) = enrolled else {
                return error_page(&lang, "access_denied", "This account has no phone number enrolled.");
            };
            let method = enrolled_method(&method).filter(|m| methods.contains(m)).unwrap_or(methods[0]);
            mfa.phone = Some(PhoneTarget { number, method });
        }
        let live = match self.ctx.tenant.store.get_ephemeral(Ephemeral::OneTimeCode, &code_key(tx), self.now()).await {
            Ok(found) => found.is_some(),
            Err(e) => return internal(&lang, e),
        };
        if !live {
            match self.send_phone_code(tx, user, None, false).await {
                Ok(sent) => notice = sent.notice().or(notice),
                Err(e) => return internal(&lang, e),
            }
        }
        if let Err(e) = self.save(state, tx).await {
            return internal(&lang, e);
        }
        self.phone_challenge_page(state, tx, notice, alternatives)
    }

    fn phone_challenge_page(
        &self,
        state: &str,
        tx: &mut LoginTx,
        notice: Option<Notice>,
        alternatives: bool,
    ) -> LoginResponse {
        let now = self.now();
        let ctx = self.page_context(state, tx);
        let Some(mfa) = mfa_of(tx) else { return error_page(&ctx.lang, "invalid_request", "Nothing to verify.") };
        let methods = self.offered_methods(mfa);
        let Some(target) = mfa.phone.clone() else {
            return error_page(&ctx.lang, "invalid_request", "Nothing to verify.");
        };
        let resend_in =
            mfa.last_sent_at.map_or(0, |at| (at + RESEND_COOLDOWN_SECS - now).clamp(0, RESEND_COOLDOWN_SECS));
        // A failed delivery always leaves a way out: another factor (and, while enrolling, another number).
        let alternatives = alternatives
            || notice.is_some_and(|n| {
                matches!(n, Notice::NotSent | Notice::ProviderExhausted | Notice::TooManySends | Notice::Delayed)
            });
        LoginResponse::new(AuthStep::Challenge(ChallengePage {
            ctx,
            factor: FactorType::Phone,
            destination: Some(mask_phone(&target.number)),
            alternatives,
            notice,
            phone: Some(PhoneChallenge {
                method: target.method,
                switch_to: methods.into_iter().filter(|m| *m != target.method).collect(),
                resend_in,
                change_number: mfa.enrolling,
            }),
        }))
    }

    /// Sends a new code to the prompt's number, by `switch_to` when given (and offered), within the cooldown
    /// unless the method changes.
    pub(crate) async fn send_phone_code(
        &self,
        tx: &mut LoginTx,
        user: &User,
        switch_to: Option<DeliveryMethod>,
        resend: bool,
    ) -> AuthResult<PhoneSent> {
        let now = self.now();
        let key = code_key(tx);
        // What the message needs of the transaction, read before its MFA state is borrowed.
        let public_id = tx.public_id.clone();
        let locale = tx.lang.clone();
        let client = self.ctx.tenant.config.client(&tx.request.client_id);
        let Some(mfa) = mfa_of(tx) else { return Ok(PhoneSent::NotSent) };
        let offered = self.offered_methods(mfa);
        let enrolling = mfa.enrolling;
        let Some(target) = mfa.phone.as_mut() else { return Ok(PhoneSent::NotSent) };
        let switching = match switch_to {
            Some(method) if method != target.method && offered.contains(&method) => {
                target.method = method;
                true
            }
            _ => false,
        };
        if resend
            && !switching
            && let Some(at) = mfa.last_sent_at
            && now < at + RESEND_COOLDOWN_SECS
        {
            return Ok(PhoneSent::TooSoon);
        }
        let target = target.clone();
        let code = one_time_code::new_code()?;
        let pending =
            PendingPhoneCode { hash: one_time_code::code_hash(&code, &code_context(&public_id, user, &target.number)) };
        let bytes = serde_json::to_vec(&pending).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
        // The new code replaces the old one before it is sent: only the last code sent works.
        self.ctx
            .tenant
            .store
            .put_ephemeral(Ephemeral::OneTimeCode, &key, &bytes, now + one_time_code::LIFETIME_SECS)
            .await?;
        let result = delivery::send_code(
            self.ctx.tenant,
            CodeMessage {
                user,
                recipient: &target.number,
                method: target.method,
                which: if enrolling { PhoneTemplate::Enrollment } else { PhoneTemplate::Verification },
                code: &code,
                locale: &locale,
                client,
                request: self.ctx.request,
            },
        )
        .await;
        let sent = match result {
            Ok(Delivery::Sent) => {
                mfa.last_sent_at = Some(now);
                return Ok(PhoneSent::Sent);
            }
            // The code stays: it is on its way.
            Ok(Delivery::Queued { .. }) => {
                mfa.last_sent_at = Some(now);
                return Ok(PhoneSent::Delayed);
            }
            Err(DeliveryError::TooMany { .. }) => PhoneSent::Limited,
            Err(DeliveryError::DefaultProviderExhausted) => PhoneSent::Exhausted,
            Err(DeliveryError::Refused(_) | DeliveryError::NotDelivered(_)) => PhoneSent::NotSent,
        };
        // Nothing went out: the code is withdrawn, so the page offers to send one again rather than wait for it.
        self.ctx.tenant.store.take_ephemeral(Ephemeral::OneTimeCode, &key, now).await?;
        Ok(sent)
    }

    /// `POST /u/mfa/phone`: the number (and method) to enroll; a code is sent to it.
    pub async fn enroll_phone(&self, state: &str, csrf: &str, number: &str, method: Option<&str>) -> LoginResponse {
        let (mut tx, user) = match self.load_with_user(state).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        let lang = tx.lang.clone();
        if !Self::csrf_ok(&tx, csrf) {
            return self.show_mfa(state, &mut tx, &user, Some(Notice::FormExpired)).await;
        }
        let Some(mfa) = mfa_of(&mut tx) else { return self.show(state).await };
        if !(mfa.enrolling && mfa.current == Some(FactorType::Phone)) {
            return self.show_mfa(state, &mut tx, &user, None).await;
        }
        let methods = self.offered_methods(mfa);
        let alternatives = mfa.offered.len() > 1;
        let chosen = match method {
            Some("voice") => Some(DeliveryMethod::Voice),
            Some("text" | "sms") => Some(DeliveryMethod::Text),
            _ => None,
        };
        let chosen = chosen.filter(|m| methods.contains(m)).or_else(|| methods.first().copied());
        let (Some(number), Some(method)) = (normalize_number(number), chosen) else {
            let page = EnrollPhonePage {
                ctx: self.page_context(state, &tx),
                methods,
                number: Some(number.chars().take(32).collect()),
                alternatives,
                notice: Some(Notice::InvalidPhoneNumber),
            };
            return LoginResponse::new(AuthStep::EnrollPhone(page));
        };
        mfa.phone = Some(PhoneTarget { number, method });
        mfa.last_sent_at = None;
        match self.send_phone_code(&mut tx, &user, None, false).await {
            Ok(sent @ (PhoneSent::Sent | PhoneSent::Delayed)) => {
                self.write_log("gd_start_enroll", "MFA enrollment started (phone)", Some(&tx), Some(&user)).await;
                if let Err(e) = self.save(state, &tx).await {
                    return internal(&lang, e);
                }
                self.phone_challenge_page(state, &mut tx, sent.notice(), alternatives)
            }
            Ok(failed) => {
                // The number is not kept: the user may fix it or choose another factor.
                if let Some(mfa) = mfa_of(&mut tx) {
                    mfa.phone = None;
                }
                if let Err(e) = self.save(state, &tx).await {
                    return internal(&lang, e);
                }
                let page = EnrollPhonePage {
                    ctx: self.page_context(state, &tx),
                    methods,
                    number: None,
                    alternatives: true,
                    notice: failed.notice(),
                };
                LoginResponse::new(AuthStep::EnrollPhone(page))
            }
            Err(e) => internal(&lang, e),
        }
    }

    /// Checks an enrollment's code: on success the number is enrolled (with a recovery code on a first factor,
    /// as for an authenticator app) and the login moves on.
    pub(crate) async fn confirm_phone_enrollment(
        &self,
        state: &str,
        mut tx: LoginTx,
        user: User,
        code: &str,
    ) -> LoginResponse {
        let lang = tx.lang.clone();
        let now = self.now();
        let Some(target) = mfa_of(&mut tx).and_then(|m| m.phone.clone()) else {
            return self.show_mfa(state, &mut tx, &user, None).await;
        };
        let store = self.ctx.tenant.store.as_ref();
        match store.hit_rate_limit(&format!("phone-enroll\0{}", user.user_id), ENROLLMENT_ATTEMPTS, now).await {
            Ok(RateDecision::Allowed { .. }) => {}
            Ok(RateDecision::Limited { .. }) => {
                self.write_log(
                    "gd_otp_rate_limit_exceed",
                    "Too many wrong phone enrollment codes",
                    Some(&tx),
                    Some(&user),
                )
                .await;
                return self.show_mfa(state, &mut tx, &user, Some(Notice::FactorBlocked)).await;
            }
            Err(e) => return internal(&lang, e),
        }
        let key = code_key(&tx);
        let pending = match store.get_ephemeral(Ephemeral::OneTimeCode, &key, now).await {
            Ok(Some(raw)) => serde_json::from_slice::<PendingPhoneCode>(&raw).ok(),
            Ok(None) => None,
            Err(e) => return internal(&lang, e),
        };
        let Some(pending) = pending else {
            return self.show_mfa(state, &mut tx, &user, Some(Notice::CodeExpired)).await;
        };
        let matched =
            one_time_code::codes_match(&pending.hash, code, &code_context(&tx.public_id, &user, &target.number));
        let taken = matched
            && match store.take_ephemeral(Ephemeral::OneTimeCode, &key, now).await {
                Ok(found) => found.is_some(),
                Err(e) => return internal(&lang, e),
            };
        if !taken {
            self.write_log("gd_auth_failed", "Wrong code while enrolling a phone", Some(&tx), Some(&user)).await;
            let mfa_alternatives = mfa_of(&mut tx).is_some_and(|m| m.offered.len() > 1);
            return self.phone_challenge_page(state, &mut tx, Some(Notice::InvalidCode), mfa_alternatives);
        }
        let existing = match store.find_authenticators(&user.user_id).await {
            Ok(list) => list,
            Err(e) => return internal(&lang, e),
        };
        for old in existing.iter().filter(|a| matches!(a.kind, AuthenticatorKind::Phone { .. })) {
            if let Err(e) = store.delete_authenticator(&user.user_id, &old.id).await {
                return internal(&lang, e);
            }
        }
        let kind =
            AuthenticatorKind::Phone { phone_number: target.number.clone(), method: method_name(target.method).into() };
        let authenticator = match crate::login::mfa::new_authenticator(&user, kind, now) {
            Ok(a) => a,
            Err(e) => return internal(&lang, e),
        };
        if let Err(e) = store.save_authenticator(&authenticator).await {
            return internal(&lang, e);
        }
        self.write_log(
            "gd_enrollment_complete",
            format!("Phone {} enrolled", mask_phone(&target.number)),
            Some(&tx),
            Some(&user),
        )
        .await;
        self.after_enrollment(state, tx, user, FactorType::Phone).await
    }
}

/// Checks a login's phone code against the live one; single use. `None`: no live code.
pub(crate) async fn check_phone_code(
    store: &dyn gatehouse_store::Store,
    tx: &LoginTx,
    user: &User,
    number: &str,
    code: &str,
    now: i64,
) -> AuthResult<Option<bool>> {
    let key = code_key(tx);
    let Some(raw) = store.get_ephemeral(Ephemeral::OneTimeCode, &key, now).await? else { return Ok(None) };
    let pending: PendingPhoneCode = serde_json::from_slice(&raw).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
    Ok(Some(
        one_time_code::codes_match(&pending.hash, code, &code_context(&tx.public_id, user, number))
            && store.take_ephemeral(Ephemeral::OneTimeCode, &key, now).await?.is_some(),
    ))
}
