//! Password reset: `POST /dbconnections/change_password` mails a single-use link (`[connection]
//! reset_link_lifetime`), the hosted page behind it takes a new password under the connection's policy.
//!
//! The request always answers the same sentence, and its work (finding the account, the per-account limit, the
//! email) runs after the answer, so neither the answer nor its timing tells whether an address has an account.
//! A completed reset spends the link atomically, marks the address verified (following the link proved the
//! mailbox), clears the account's failed-login block, and, unless `[connection] revoke_sessions_on_password_change`
//! is off, revokes the user's refresh tokens and ends their SSO sessions. Every link of the account dies with the
//! old password. Logs: `scpr` (link sent), `fcpr` (no link sent), `scp` (changed), `fcp` (refused).

use gatehouse_store::{RateDecision, RateLimit};
use gatehouse_types::Trigger;
use gatehouse_types::account::{AccountOutcome, AccountResult};
use gatehouse_types::records::User;
use serde_json::{Value, json};

use crate::account::mail;
use crate::account::reset_challenge::{ResetPause, account_of};
use crate::account::ticket::{self, ResultUrl, Ticket, TicketKind, password_stamp};
use crate::account::verification::LinkRefused;
use crate::account::{AccountError, check_connection, client, connection_event, request_event, user_event};
use crate::context::{RequestContext, RequestInfo};
use crate::crypto::password::{hash_password, run_argon2};
use crate::tenant::Tenant;
use crate::users::password_policy::{PasswordPolicy, PasswordRefusal, PersonalInfo};

/// What `/dbconnections/change_password` always answers.
pub const REQUESTED: &str = "We've just sent you an email to reset your password.";

fn per_ip(tenant: &Tenant) -> RateLimit {
    RateLimit { capacity: tenant.config.attack_protection.password_resets_per_ip_per_hour.max(1), window_secs: 3600 }
}

fn per_user(tenant: &Tenant) -> RateLimit {
    RateLimit { capacity: tenant.config.attack_protection.password_resets_per_user_per_hour.max(1), window_secs: 3600 }
}

/// Checks a reset request and counts it against the IP's limit; the link itself is sent by [`send_link`], after
/// the answer.
pub async fn accept_request(
    ctx: &RequestContext<'_>,
    client_id: &str,
    email: &str,
    connection: Option<&str>,
) -> Result<(), AccountError> {
    check_connection(ctx, connection)?;
    let app = client(ctx, client_id)?;
    if email.trim().is_empty() {
        return Err(AccountError::bad("invalid_request", "Missing email."));
    }
    let bucket = format!("reset-ip\0{}", ctx.request.ip);
    match ctx.tenant.store.hit_rate_limit(&bucket, per_ip(ctx.tenant), ctx.tenant.now()).await {
        Ok(RateDecision::Allowed { .. }) => Ok(()),
        Ok(RateDecision::Limited { retry_after }) => {
            let entry = crate::logs::entry(
                "fcpr",
                "Password reset not sent: too many requests from this IP address",
                ctx.request,
                Some(app),
                None,
            );
            ctx.tenant.log(entry).await;
            Err(AccountError::Limited {
                description: "Too many password reset requests from this IP address. Try again later.".into(),
                retry_after,
            })
        }
        Err(e) => Err(AccountError::internal(e)),
    }
}

/// Mails a reset link to the account of `email`, if there is one and its limit allows; logs what happened. The
/// caller does not wait for it (see the module's note on timing).
pub async fn send_link(tenant: &Tenant, request: &RequestInfo, client_id: Option<&str>, email: &str, lang: &str) {
    let app = client_id.and_then(|id| tenant.config.client(id));
    let log = |kind: &str, description: &str, user: Option<&User>| {
        let mut entry = crate::logs::entry(kind, description, request, app, user);
        if user.is_none() {
            entry.user_name = Some(email.to_owned());
        }
        tenant.log(entry)
    };
    let email = email.trim().to_lowercase();
    let user = match tenant.store.find_user_by_email(&email).await {
        Ok(Some(user)) => user,
        Ok(None) => return log("fcpr", "Password reset not sent: no such user", None).await,
        Err(e) => {
            tracing::error!(error = %e, "password reset: cannot read the user");
            return log("fcpr", "Password reset not sent: the store failed", None).await;
        }
    };
    if user.blocked {
        return log("fcpr", "Password reset not sent: the user is blocked", Some(&user)).await;
    }
    let now = tenant.now();
    match tenant.store.hit_rate_limit(&format!("reset-user\0{}", user.user_id), per_user(tenant), now).await {
        Ok(RateDecision::Allowed { .. }) => {}
        Ok(RateDecision::Limited { .. }) => {
            return log("fcpr", "Password reset not sent: too many requests for this user", Some(&user)).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "password reset: cannot count the request");
            return log("fcpr", "Password reset not sent: the store failed", Some(&user)).await;
        }
    }
    match issue_and_mail(tenant, &user, client_id, lang).await {
        Ok(()) => log("scpr", "Password reset email sent", Some(&user)).await,
        Err(e) => {
            tracing::error!(user_id = %user.user_id, error = %e, "could not send a password reset email");
            log("fcpr", "Password reset not sent: the email could not be sent", Some(&user)).await;
        }
    }
}

/// A reset link made by the Management API (`POST /api/v2/tickets/password-change`): answered to the caller, not
/// mailed; it marks the address verified only when asked (`mark_email_as_verified`). Returns the link.
pub async fn issue_ticket(
    tenant: &Tenant,
    user: &User,
    client_id: Option<&str>,
    lifetime: u64,
    result: Option<ResultUrl>,
    marks_email_verified: bool,
) -> crate::error::AuthResult<String> {
    let ticket = Ticket {
        marks_email_verified,
        result,
        ..Ticket::new(TicketKind::ResetPassword, user, client_id, "", lifetime, tenant.now())
    };
    let secret = ticket::issue(tenant, &ticket).await?;
    Ok(mail::link_url(tenant, TicketKind::ResetPassword, &secret))
}

/// Issues a reset link for `user` and mails it (also `gatehouse users reset-password`).
pub async fn issue_and_mail(
    tenant: &Tenant,
    user: &User,
    client_id: Option<&str>,
    lang: &str,
) -> crate::error::AuthResult<()> {
    let lifetime = tenant.config.connection.reset_link_lifetime;
    let ticket = Ticket::new(TicketKind::ResetPassword, user, client_id, lang, lifetime, tenant.now());
    let secret = ticket::issue(tenant, &ticket).await?;
    let url = mail::link_url(tenant, TicketKind::ResetPassword, &secret);
    mail::send_link(tenant, TicketKind::ResetPassword, user, lang, &url, lifetime).await
}

/// An open reset link: whose account, in which language, under which policy.
#[derive(Clone, Debug)]
pub struct ResetForm {
    /// The account.
    pub user: User,
    /// The link's language.
    pub lang: String,
    /// The application the request came from, if known.
    pub client_id: Option<String>,
    /// The connection's password policy.
    pub policy: PasswordPolicy,
    /// Where the browser goes once the password is changed (a Management API ticket's `result_url`).
    pub result: Option<ResultUrl>,
}

/// The ticket and account behind a link, if the link still works (unused, unexpired, the account's address and
/// password unchanged since it was sent).
async fn open(ctx: &RequestContext<'_>, secret: &str) -> Result<(Ticket, User), LinkRefused> {
    let tenant = ctx.tenant;
    let mut ticket = ticket::peek(tenant, TicketKind::ResetPassword, secret)
        .await
        .map_err(|e| LinkRefused::Internal(e.to_string()))?
        .ok_or(LinkRefused::Invalid)?;
    let user = account_of(tenant, &ticket).await?;
    // A Management API ticket has no language of its own: the browser's.
    if ticket.lang.is_empty() {
        ticket.lang = crate::login::language(&[], ctx.request.accept_language.as_deref());
    }
    Ok((ticket, user))
}

/// What a followed reset link opens.
#[derive(Clone, Debug)]
pub enum ResetStart {
    /// The new-password form.
    Form(Box<ResetForm>),
    /// The `password-reset-post-challenge` actions asked for an MFA challenge or a redirect first: the browser goes
    /// through the hosted-login pages (`Login::start_reset_pause`) and comes back to the form with a fresh link.
    Paused {
        /// The pause.
        pause: Box<ResetPause>,
        /// The account.
        user: Box<User>,
    },
}

/// The reset form behind a link (`GET /u/reset-password`): reads the link, never spends it. The
/// `password-reset-post-challenge` actions run first (until they allowed this link): they may refuse the reset,
/// or pause it for a challenge or a redirect.
pub async fn form(ctx: &RequestContext<'_>, secret: &str) -> Result<ResetStart, ResetRefused> {
    let tenant = ctx.tenant;
    let (mut ticket, user) = open(ctx, secret).await.map_err(ResetRefused::Link)?;
    let policy = PasswordPolicy::from_config(&tenant.config.connection);
    if needs_post_challenge(tenant, &ticket) {
        let key = ticket::key(TicketKind::ResetPassword, secret);
        if let Some(pause) = post_challenge(ctx, key, &ticket, &user).await? {
            return Ok(ResetStart::Paused { pause: Box::new(pause), user: Box::new(user) });
        }
        ticket.post_challenge_passed = true;
        ticket::update(tenant, secret, &ticket)
            .await
            .map_err(|e| ResetRefused::Link(LinkRefused::Internal(e.to_string())))?;
    }
    let form = ResetForm { user, lang: ticket.lang, client_id: ticket.client_id, policy, result: ticket.result };
    Ok(ResetStart::Form(Box::new(form)))
}

fn needs_post_challenge(tenant: &Tenant, ticket: &Ticket) -> bool {
    !ticket.post_challenge_passed && !tenant.actions.flow(Trigger::PasswordResetPostChallenge).actions.is_empty()
}

/// `event` of `password-reset-post-challenge` for a reset whose link was just followed (the email was its first
/// challenge: `event.authentication.methods` starts with it).
async fn post_challenge_event(ctx: &RequestContext<'_>, ticket: &Ticket, user: &User) -> Result<Value, ResetRefused> {
    let tenant = ctx.tenant;
    let authenticators = tenant
        .store
        .find_authenticators(&user.user_id)
        .await
        .map_err(|e| ResetRefused::Link(LinkRefused::Internal(e.to_string())))?;
    let app = ticket.client_id.as_deref().and_then(|id| tenant.config.client(id));
    let mut user_part = user_event(user);
    let enrolled: Vec<Value> = crate::event::enrolled_factors(&tenant.config, user, &authenticators)
        .into_iter()
        .map(|factor| json!({ "type": factor.as_str() }))
        .collect();
    if let Some(object) = user_part.as_object_mut() {
        object.insert("enrolledFactors".to_owned(), Value::Array(enrolled));
    }
    Ok(json!({
        "user": user_part,
        "client": app.map(|c| json!({ "client_id": c.client_id, "name": c.name, "metadata": c.metadata })),
        "connection": connection_event(ctx),
        "request": request_event(ctx, &ticket.lang),
        "transaction": { "locale": ticket.lang },
        "authentication": { "methods": [{ "name": "email", "timestamp": tenant.now_iso() }] },
        "authorization": { "roles": user.roles },
        "stats": { "logins_count": user.logins_count },
        "tenant": { "id": tenant.config.tenant_name() },
        "secrets": tenant.secrets,
    }))
}

/// Runs `password-reset-post-challenge` for a reset whose link was just followed. `Ok(None)`: every action allowed
/// it; `Ok(Some(pause))`: an action asked for a challenge or a redirect. A deny refuses the reset with the action's
/// reason; a failure fails it closed.
async fn post_challenge(
    ctx: &RequestContext<'_>,
    ticket_key: String,
    ticket: &Ticket,
    user: &User,
) -> Result<Option<ResetPause>, ResetRefused> {
    let tenant = ctx.tenant;
    let event = post_challenge_event(ctx, ticket, user).await?;
    let outcome = tenant.actions.run_account_trigger(Trigger::PasswordResetPostChallenge, event.clone()).await;
    if let Some(pause) = ResetPause::from_outcome(ticket_key, ticket.clone(), event, &outcome) {
        return Ok(Some(pause));
    }
    let app = ticket.client_id.as_deref().and_then(|id| tenant.config.client(id));
    match refusal(&outcome) {
        None => Ok(None),
        Some(description) => {
            tenant.log(crate::logs::entry("fcp", description, ctx.request, app, Some(user))).await;
            Err(ResetRefused::Denied { lang: ticket.lang.clone(), message: denied_message(&outcome) })
        }
    }
}

/// What the tenant log says of a post-challenge run that did not allow the reset (`None`: it allowed it).
pub fn refusal(outcome: &AccountOutcome) -> Option<String> {
    let action = outcome.failed_action.clone().unwrap_or_else(|| "an action".into());
    let reason = outcome.reason.clone().unwrap_or_default();
    match outcome.result {
        AccountResult::Allow => None,
        AccountResult::Deny => Some(format!("Password reset denied by {action}: {reason}")),
        AccountResult::Failed => Some(format!("The password-reset-post-challenge flow failed in {action}: {reason}")),
        // A pause without where to resume cannot go on.
        AccountResult::Challenge | AccountResult::Redirect => {
            Some("The password-reset-post-challenge flow paused without a way to resume it".to_owned())
        }
    }
}

/// What the user is shown when the actions refused the reset: a deny's reason (Auth0 presents it); nothing for a
/// failure (the generic sentence).
pub fn denied_message(outcome: &AccountOutcome) -> Option<String> {
    match outcome.result {
        AccountResult::Deny => outcome.user_message.clone().or_else(|| outcome.reason.clone()),
        _ => None,
    }
}

/// Why a new password was not taken.
#[derive(Clone, Debug)]
pub enum ResetRefused {
    /// The link no longer works.
    Link(LinkRefused),
    /// The two passwords differ.
    Mismatch(ResetForm),
    /// The password does not meet the policy.
    Password(ResetForm, PasswordRefusal),
    /// The `password-reset-post-challenge` actions refused the reset (with the reason an action gave the user, if
    /// any), or failed.
    Denied {
        /// The link's language.
        lang: String,
        /// The action's reason, shown to the user (Auth0 presents it).
        message: Option<String>,
    },
}

/// Takes the new password of a reset link (`POST /u/reset-password`). The caller runs the returned
/// [`AfterPasswordChange`] once it has answered.
pub async fn complete(
    ctx: &RequestContext<'_>,
    secret: &str,
    password: &str,
    confirmation: &str,
) -> Result<(ResetForm, AfterPasswordChange), ResetRefused> {
    let tenant = ctx.tenant;
    let failed = |description: &str, user: Option<&User>| {
        tenant.log(crate::logs::entry("fcp", description, ctx.request, None, user))
    };
    let (ticket, user) = match open(ctx, secret).await {
        Ok(found) => found,
        Err(refused) => {
            if refused == LinkRefused::Invalid {
                failed("Password change failed: the link is invalid, used or expired", None).await;
            }
            return Err(ResetRefused::Link(refused));
        }
    };
    // The form is only shown once the post-challenge actions allowed it; a post without it fails closed.
    if needs_post_challenge(tenant, &ticket) {
        failed("Password change failed: the password-reset-post-challenge actions did not run", Some(&user)).await;
        return Err(ResetRefused::Denied { lang: ticket.lang.clone(), message: None });
    }
    let policy = PasswordPolicy::from_config(&tenant.config.connection);
    let form = ResetForm {
        user: user.clone(),
        lang: ticket.lang.clone(),
        client_id: ticket.client_id.clone(),
        policy,
        result: ticket.result.clone(),
    };
    if password != confirmation {
        return Err(ResetRefused::Mismatch(form));
    }
    let info = PersonalInfo {
        email: &user.email,
        username: user.username.as_deref(),
        name: user.name.as_deref(),
        given_name: user.given_name.as_deref(),
        family_name: user.family_name.as_deref(),
        nickname: user.nickname.as_deref(),
    };
    if let Err(refusal) = policy.check(password, &info) {
        failed(&format!("Password change failed: {}", refusal.message), Some(&user)).await;
        return Err(ResetRefused::Password(form, refusal));
    }
    let owned = password.to_owned();
    let hash = match run_argon2(move || hash_password(&owned)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return Err(ResetRefused::Link(LinkRefused::Internal(e.to_string()))),
        Err(e) => return Err(ResetRefused::Link(LinkRefused::Internal(e.to_string()))),
    };
    // Spend the link: of two parallel submissions exactly one changes the password.
    match ticket::take(tenant, TicketKind::ResetPassword, secret).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            failed("Password change failed: the link was used meanwhile", Some(&user)).await;
            return Err(ResetRefused::Link(LinkRefused::Invalid));
        }
        Err(e) => return Err(ResetRefused::Link(LinkRefused::Internal(e.to_string()))),
    }
    // One atomic change of the stored user, and only if its password is still the one the link was sent for: a
    // concurrent change (another reset, a login's count) is neither overwritten nor overwrites this one.
    let now = tenant.now_iso();
    let reset = |current: &User| {
        (password_stamp(current.password_hash.as_deref()) == ticket.password_stamp).then(|| User {
            password_hash: Some(hash.clone()),
            email_verified: current.email_verified || ticket.marks_email_verified,
            last_password_reset: Some(now.clone()),
            updated_at: now.clone(),
            ..current.clone()
        })
    };
    let fresh = match tenant.store.update_user(&user.user_id, &reset).await {
        Ok(Some(fresh)) => fresh,
        Ok(None) => {
            failed("Password change failed: the password changed meanwhile", Some(&user)).await;
            return Err(ResetRefused::Link(LinkRefused::Invalid));
        }
        Err(e) => return Err(ResetRefused::Link(LinkRefused::Internal(e.to_string()))),
    };
    let after = after_change(ctx, &fresh, &ticket.lang).await;
    Ok((ResetForm { user: fresh, ..form }, after))
}

/// What follows a password change after the answer: the `post-change-password` actions, which Auth0 runs
/// asynchronously (their failure is logged, nothing is undone).
#[derive(Clone, Debug)]
pub struct AfterPasswordChange {
    /// The user, with the new password.
    pub user: User,
    /// The language of the change.
    pub lang: String,
    /// The request's facts.
    pub request: RequestInfo,
}

impl AfterPasswordChange {
    /// Runs `post-change-password`.
    pub async fn run(self, tenant: &Tenant) {
        let AfterPasswordChange { user, lang, request } = self;
        let ctx = RequestContext { tenant, request: &request };
        let event = json!({
            "user": user_event(&user),
            "connection": connection_event(&ctx),
            "request": request_event(&ctx, &lang),
            "tenant": { "id": tenant.config.tenant_name() },
            "secrets": tenant.secrets,
        });
        let outcome = tenant.actions.run_account_trigger(Trigger::PostChangePassword, event).await;
        if outcome.result != AccountResult::Allow {
            let action = outcome.failed_action.as_deref().unwrap_or("an action");
            let reason = outcome.reason.unwrap_or_default();
            let entry = crate::logs::entry(
                "actions_execution_failed",
                format!("The post-change-password flow failed in {action}: {reason}"),
                &request,
                None,
                Some(&user),
            );
            tenant.log(entry).await;
        }
    }
}

/// What every password change does before it is answered: the failed-login block lifted, sessions and refresh
/// tokens revoked (when configured), log `scp`. Returns what runs after the answer.
pub async fn after_change(ctx: &RequestContext<'_>, user: &User, lang: &str) -> AfterPasswordChange {
    let tenant = ctx.tenant;
    if let Err(e) = tenant.store.clear_login_attempts(&user.email, None).await {
        tracing::error!(error = %e, "could not clear failed logins after a password change");
    }
    if tenant.config.connection.revoke_sessions_on_password_change {
        if let Err(e) = tenant.store.revoke_user_refresh_tokens(&user.user_id, None).await {
            tracing::error!(error = %e, "could not revoke refresh tokens after a password change");
        }
        if let Err(e) = tenant.store.delete_user_sessions(&user.user_id).await {
            tracing::error!(error = %e, "could not end sessions after a password change");
        }
    }
    tenant.log(crate::logs::entry("scp", "Password changed", ctx.request, None, Some(user))).await;
    AfterPasswordChange { user: user.clone(), lang: lang.to_owned(), request: ctx.request.clone() }
}
