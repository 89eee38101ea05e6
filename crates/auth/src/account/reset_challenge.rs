//! A password reset its `password-reset-post-challenge` actions paused: an MFA challenge
//! (`api.authentication.challengeWith/challengeWithAny`) or a redirect (`api.redirect.sendUserTo`) before the new
//! password may be chosen.
//!
//! The pause travels in a hosted-login transaction bound to the browser that followed the link
//! (`login::reset`), so the challenge pages, their factors, attempt limits, code sending and logs are the login's
//! own. The pause keeps the link's store key (a digest), never its secret. Once every action allowed the reset, the
//! link is spent atomically and a fresh one, marked as having passed the actions, opens the new-password form: a
//! link copied while the challenge was pending no longer works, and of two browsers completing the challenge for
//! the same link only one gets a form.
//!
//! As Auth0: a requested factor that the tenant does not enable or the user has not enrolled is ignored, a factor
//! already completed in this reset is skipped (by the engine), and a challenge left with no factor fails the reset.

use gatehouse_engine::account::{complete_challenge, continue_after_redirect};
use gatehouse_engine::flow::Completion;
use gatehouse_types::account::{AccountOutcome, AccountResult, AccountResume};
use gatehouse_types::records::{Authenticator, User};
use gatehouse_types::{FactorType, Prompt, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::ticket::{self, Ticket, TicketKind, password_stamp};
use crate::account::verification::LinkRefused;
use crate::tenant::Tenant;

/// A reset waiting for the user to complete a challenge or come back from a redirect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResetPause {
    /// The store key of the link's ticket ([`ticket::key`]): a digest, which opens nothing by itself.
    pub ticket_key: String,
    /// The ticket as it was when the actions ran.
    pub ticket: Ticket,
    /// The post-challenge event as the next action must see it.
    pub event: Value,
    /// Where the run goes on.
    pub resume: AccountResume,
    /// The challenge asked for (a challenge pause).
    pub challenge: Option<Prompt>,
    /// Where the browser was sent, query applied (a redirect pause).
    pub redirect: Option<String>,
}

impl ResetPause {
    /// The pause `outcome` describes, if it paused (a challenge or a redirect with where to resume).
    pub fn from_outcome(ticket_key: String, ticket: Ticket, event: Value, outcome: &AccountOutcome) -> Option<Self> {
        let paused = matches!(outcome.result, AccountResult::Challenge | AccountResult::Redirect);
        let resume = outcome.resume.clone().filter(|_| paused)?;
        Some(ResetPause {
            ticket_key,
            ticket,
            event,
            resume,
            challenge: outcome.challenge.clone().filter(|_| outcome.result == AccountResult::Challenge),
            redirect: outcome.redirect.clone().filter(|_| outcome.result == AccountResult::Redirect),
        })
    }

    /// Resumes the actions after `completion` (a factor completed, or the browser back from the redirect). When
    /// they pause again, the returned pause replaces this one.
    pub async fn resume(&self, tenant: &Tenant, completion: Completion) -> (AccountOutcome, Option<ResetPause>) {
        let mut event = self.event.clone();
        match completion {
            Completion::Factor(factor) => complete_challenge(&mut event, factor),
            Completion::Continue { query, body } => continue_after_redirect(&mut event, query, body),
        }
        let outcome = tenant
            .actions
            .resume_account_trigger(Trigger::PasswordResetPostChallenge, event.clone(), &self.resume)
            .await;
        let next = ResetPause::from_outcome(self.ticket_key.clone(), self.ticket.clone(), event, &outcome);
        (outcome, next)
    }

    /// Every action allowed the reset: spends the link and returns the secret of a fresh one that opens the
    /// new-password form (same account, password stamp and expiry). Refused when the link was used, expired, or
    /// the account's address or password changed meanwhile.
    pub async fn passed(&self, tenant: &Tenant) -> Result<String, LinkRefused> {
        let internal = |e: crate::AuthError| LinkRefused::Internal(e.to_string());
        let mut ticket = ticket::take_key(tenant, TicketKind::ResetPassword, &self.ticket_key)
            .await
            .map_err(internal)?
            .ok_or(LinkRefused::Invalid)?;
        if ticket.user_id != self.ticket.user_id {
            return Err(LinkRefused::Invalid);
        }
        account_of(tenant, &ticket).await?;
        ticket.post_challenge_passed = true;
        ticket::issue(tenant, &ticket).await.map_err(internal)
    }
}

/// The account of a reset link's ticket, if the ticket still fits it: same address, same password, not blocked.
pub(crate) async fn account_of(tenant: &Tenant, ticket: &Ticket) -> Result<User, LinkRefused> {
    let user = tenant
        .store
        .find_user(&ticket.user_id)
        .await
        .map_err(|e| LinkRefused::Internal(e.to_string()))?
        .ok_or(LinkRefused::Invalid)?;
    let fits = user.email.eq_ignore_ascii_case(&ticket.email)
        && password_stamp(user.password_hash.as_deref()) == ticket.password_stamp
        && !user.blocked;
    if fits { Ok(user) } else { Err(LinkRefused::Invalid) }
}

/// The factors a reset challenge offers: those the prompt asks for (the default first) that the tenant enables
/// and the user has enrolled. Empty: the challenge cannot be met and the reset fails.
pub fn offered_factors(
    tenant: &Tenant,
    user: &User,
    authenticators: &[Authenticator],
    prompt: &Prompt,
) -> Vec<FactorType> {
    let enabled = &tenant.config.mfa.factors;
    let enrolled = crate::event::enrolled_factors(&tenant.config, user, authenticators);
    let mut offered: Vec<FactorType> = Vec::new();
    for factor in prompt.offered() {
        if enabled.contains(&factor) && enrolled.contains(&factor) && !offered.contains(&factor) {
            offered.push(factor);
        }
    }
    offered
}
