//! Email verification: a single-use link valid for `[connection] verification_link_lifetime` (5 days, as Auth0),
//! sent at sign-up and by `POST /api/v2/jobs/verification-email`. Following it marks that address verified (log
//! `sv`); a used, expired or foreign link changes nothing (log `fv`). The email MFA factor only ever mails a
//! verified address, so verification is what makes an address a factor.

use gatehouse_store::{RateDecision, RateLimit};
use gatehouse_types::records::User;

use crate::account::mail;
use crate::account::ticket::{self, ResultUrl, Ticket, TicketKind};
use crate::context::RequestContext;
use crate::error::AuthResult;
use crate::tenant::Tenant;

/// Verification emails per account (sign-up, the Management API's job, the CLI).
pub const VERIFICATION_EMAILS: RateLimit = RateLimit { capacity: 5, window_secs: 3600 };

/// A verification link made by the Management API (`POST /api/v2/tickets/email-verification`): answered to the
/// caller, not mailed, and outside the email limit. Returns the link.
pub async fn issue_ticket(
    tenant: &Tenant,
    user: &User,
    client_id: Option<&str>,
    lifetime: u64,
    result: Option<ResultUrl>,
) -> AuthResult<String> {
    let ticket = Ticket { result, ..Ticket::new(TicketKind::VerifyEmail, user, client_id, "", lifetime, tenant.now()) };
    let secret = ticket::issue(tenant, &ticket).await?;
    Ok(mail::link_url(tenant, TicketKind::VerifyEmail, &secret))
}

/// Sends a verification link for `user`'s current address. `false` when the account's limit of verification
/// emails was reached (nothing sent).
pub async fn send(tenant: &Tenant, user: &User, client_id: Option<&str>, lang: &str) -> AuthResult<bool> {
    let now = tenant.now();
    let bucket = format!("verify-email\0{}", user.user_id);
    if let RateDecision::Limited { .. } = tenant.store.hit_rate_limit(&bucket, VERIFICATION_EMAILS, now).await? {
        return Ok(false);
    }
    let lifetime = tenant.config.connection.verification_link_lifetime;
    let ticket = Ticket::new(TicketKind::VerifyEmail, user, client_id, lang, lifetime, tenant.now());
    let secret = ticket::issue(tenant, &ticket).await?;
    let url = mail::link_url(tenant, TicketKind::VerifyEmail, &secret);
    mail::send_link(tenant, TicketKind::VerifyEmail, user, lang, &url, lifetime).await?;
    Ok(true)
}

/// What following a verification link did.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The account, now verified.
    pub user: User,
    /// The application the user signed up through, if known.
    pub client_id: Option<String>,
    /// The language of the email (the browser's, for a Management API ticket).
    pub lang: String,
    /// Where the browser goes now (a Management API ticket's `result_url`).
    pub result: Option<ResultUrl>,
}

/// Why a link did nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkRefused {
    /// Unknown, used or expired.
    Invalid,
    /// The store failed (the link may still work later).
    Internal(String),
}

/// Follows a verification link: spends it and marks the address verified.
pub async fn verify(ctx: &RequestContext<'_>, secret: &str) -> Result<Verified, LinkRefused> {
    let tenant = ctx.tenant;
    let fail = |description: &str, user: Option<&User>| {
        let entry = crate::logs::entry("fv", description, ctx.request, None, user);
        tenant.log(entry)
    };
    let taken = ticket::take(tenant, TicketKind::VerifyEmail, secret)
        .await
        .map_err(|e| LinkRefused::Internal(e.to_string()))?;
    let Some(ticket) = taken else {
        fail("Email verification failed: the link is invalid, used or expired", None).await;
        return Err(LinkRefused::Invalid);
    };
    let found = tenant.store.find_user(&ticket.user_id).await.map_err(|e| LinkRefused::Internal(e.to_string()))?;
    let Some(mut user) = found else {
        fail("Email verification failed: the user no longer exists", None).await;
        return Err(LinkRefused::Invalid);
    };
    if !user.email.eq_ignore_ascii_case(&ticket.email) {
        fail("Email verification failed: the account's address changed after the link was sent", Some(&user)).await;
        return Err(LinkRefused::Invalid);
    }
    if !user.email_verified {
        // Atomically, and only while the address is still the one the link was sent to.
        let now = tenant.now_iso();
        let verify = |current: &User| {
            current.email.eq_ignore_ascii_case(&ticket.email).then(|| User {
                email_verified: true,
                updated_at: now.clone(),
                ..current.clone()
            })
        };
        user = match tenant.store.update_user(&user.user_id, &verify).await {
            Ok(Some(verified)) => verified,
            Ok(None) => {
                fail("Email verification failed: the account's address changed meanwhile", Some(&user)).await;
                return Err(LinkRefused::Invalid);
            }
            Err(e) => return Err(LinkRefused::Internal(e.to_string())),
        };
    }
    let client = ticket.client_id.as_deref().and_then(|id| tenant.config.client(id));
    tenant.log(crate::logs::entry("sv", "Email verified", ctx.request, client, Some(&user))).await;
    let lang = if ticket.lang.is_empty() {
        crate::login::language(&[], ctx.request.accept_language.as_deref())
    } else {
        ticket.lang
    };
    Ok(Verified { user, client_id: ticket.client_id, lang, result: ticket.result })
}
