//! Account links: the single-use, expiring secrets in an email-verification or password-reset link.
//!
//! A link carries a random secret; the store keeps only its SHA-256 under [`Ephemeral::AccountTicket`], prefixed
//! with the link's kind, so a verification link never opens a reset form. Completing a link takes it atomically
//! ([`take`]): of two parallel completions exactly one succeeds. Showing a form only reads it ([`peek`]).

use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::records::User;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AuthError, AuthResult};
use crate::ids;
use crate::tenant::Tenant;

/// What a link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Marks the address verified.
    VerifyEmail,
    /// Lets the user choose a new password.
    ResetPassword,
}

impl TicketKind {
    fn prefix(self) -> &'static str {
        match self {
            TicketKind::VerifyEmail => "verify",
            TicketKind::ResetPassword => "reset",
        }
    }
}

/// What the store keeps of a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// What the link does.
    pub kind: TicketKind,
    /// Whose account.
    pub user_id: String,
    /// The address the link was sent to: a verification link verifies only that address, and a reset link dies
    /// when the account's address changed since.
    pub email: String,
    /// The application the user came from, when known (where "continue" goes afterwards).
    #[serde(default)]
    pub client_id: Option<String>,
    /// `en` or `ja`: the pages the link opens speak the language of the email.
    pub lang: String,
    /// A reset link: a digest of the password hash when it was sent, so every outstanding link dies once the
    /// password changed by any means.
    #[serde(default)]
    pub password_stamp: Option<String>,
    /// Epoch seconds.
    pub expires_at: i64,
    /// A reset link: the `password-reset-post-challenge` actions ran and allowed the reset.
    #[serde(default)]
    pub post_challenge_passed: bool,
    /// A reset link: whether completing it marks the address verified. An emailed link does (following it proved
    /// the mailbox); a Management API ticket only with `mark_email_as_verified`, since it may be handed over
    /// another way.
    #[serde(default = "yes")]
    pub marks_email_verified: bool,
    /// Where the browser goes once the link did its work (a Management API ticket's `result_url`).
    #[serde(default)]
    pub result: Option<ResultUrl>,
}

fn yes() -> bool {
    true
}

/// A Management API ticket's `result_url`: the browser is sent there with Auth0's `success`, `code` and `message`
/// (and `email`, with `includeEmailInRedirect`) once the link did its work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultUrl {
    /// An absolute http(s) URL, checked when the ticket was made.
    pub url: String,
    /// Adds `email=<the account's address>`.
    pub include_email: bool,
}

impl ResultUrl {
    /// The URL with Auth0's result parameters added (`message` as Auth0 words it).
    pub fn with_result(&self, message: &str, email: &str) -> String {
        let Ok(mut url) = url::Url::parse(&self.url) else { return self.url.clone() };
        {
            let mut query = url.query_pairs_mut();
            if self.include_email {
                query.append_pair("email", email);
            }
            query.append_pair("message", message).append_pair("success", "true").append_pair("code", "success");
        }
        url.to_string()
    }
}

impl Ticket {
    /// A new link's ticket for `user`'s current address (a reset link: and current password), valid `lifetime`
    /// seconds from `now`; marks the address verified when completed (an emailed link), with no `result_url`.
    pub fn new(kind: TicketKind, user: &User, client_id: Option<&str>, lang: &str, lifetime: u64, now: i64) -> Self {
        Ticket {
            kind,
            user_id: user.user_id.clone(),
            email: user.email.clone(),
            client_id: client_id.map(str::to_owned),
            lang: lang.to_owned(),
            password_stamp: match kind {
                TicketKind::ResetPassword => password_stamp(user.password_hash.as_deref()),
                TicketKind::VerifyEmail => None,
            },
            expires_at: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            post_challenge_passed: false,
            marks_email_verified: true,
            result: None,
        }
    }
}

/// The digest of a stored password hash a reset link is bound to (`None`: the account has no password yet).
pub fn password_stamp(password_hash: Option<&str>) -> Option<String> {
    password_hash.map(|hash| hex::encode(Sha256::digest(hash.as_bytes())))
}

/// Where the store keeps the ticket behind `secret`: a digest of it, so the key opens nothing by itself.
pub fn key(kind: TicketKind, secret: &str) -> String {
    format!("{}\0{}", kind.prefix(), secret_key(secret))
}

fn decode(raw: &[u8], kind: TicketKind) -> AuthResult<Option<Ticket>> {
    let ticket: Ticket =
        serde_json::from_slice(raw).map_err(|e| AuthError::Setup(format!("unreadable account ticket: {e}")))?;
    Ok((ticket.kind == kind).then_some(ticket))
}

/// Stores `ticket` and returns the secret its link carries.
pub async fn issue(tenant: &Tenant, ticket: &Ticket) -> AuthResult<String> {
    let secret = ids::secret()?;
    let bytes = serde_json::to_vec(ticket).map_err(|e| AuthError::Setup(e.to_string()))?;
    tenant.store.put_ephemeral(Ephemeral::AccountTicket, &key(ticket.kind, &secret), &bytes, ticket.expires_at).await?;
    Ok(secret)
}

/// Stores a changed ticket under its link again (same secret, same expiry).
pub async fn update(tenant: &Tenant, secret: &str, ticket: &Ticket) -> AuthResult<()> {
    let bytes = serde_json::to_vec(ticket).map_err(|e| AuthError::Setup(e.to_string()))?;
    tenant.store.put_ephemeral(Ephemeral::AccountTicket, &key(ticket.kind, secret), &bytes, ticket.expires_at).await?;
    Ok(())
}

/// The ticket behind `secret`, if it is of `kind`, unused and unexpired; it stays usable.
pub async fn peek(tenant: &Tenant, kind: TicketKind, secret: &str) -> AuthResult<Option<Ticket>> {
    if secret.is_empty() || secret.len() > 256 {
        return Ok(None);
    }
    match tenant.store.get_ephemeral(Ephemeral::AccountTicket, &key(kind, secret), tenant.now()).await? {
        Some(raw) => decode(&raw, kind),
        None => Ok(None),
    }
}

/// Spends the ticket stored under `key` (see [`key`]): of two parallel calls exactly one gets it. A reset paused
/// for an MFA challenge keeps only the key, never the link's secret.
pub async fn take_key(tenant: &Tenant, kind: TicketKind, key: &str) -> AuthResult<Option<Ticket>> {
    match tenant.store.take_ephemeral(Ephemeral::AccountTicket, key, tenant.now()).await? {
        Some(raw) => decode(&raw, kind),
        None => Ok(None),
    }
}

/// Spends the ticket behind `secret`: of two parallel calls exactly one gets it.
pub async fn take(tenant: &Tenant, kind: TicketKind, secret: &str) -> AuthResult<Option<Ticket>> {
    if secret.is_empty() || secret.len() > 256 {
        return Ok(None);
    }
    match tenant.store.take_ephemeral(Ephemeral::AccountTicket, &key(kind, secret), tenant.now()).await? {
        Some(raw) => decode(&raw, kind),
        None => Ok(None),
    }
}
