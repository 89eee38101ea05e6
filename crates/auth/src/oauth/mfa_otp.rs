//! `grant_type=http://auth0.com/oauth/grant-type/mfa-otp`: a code of the user's authenticator app (its first
//! code confirms a pending enrollment). The TOTP step is consumed atomically: a code is accepted once.

use gatehouse_types::FactorType;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};

use crate::attempts;
use crate::crypto::totp;
use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, server_error};

impl TokenEndpoint<'_> {
    pub(super) async fn verify_otp(
        &self,
        user: &User,
        code: &str,
        client: &ClientConfig,
    ) -> Result<(FactorType, Option<String>), OAuthError> {
        let list = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        // Active authenticators first, then the newest pending one (its first code confirms it).
        let mut candidates: Vec<Authenticator> =
            list.into_iter().filter(|a| matches!(a.kind, AuthenticatorKind::Otp { .. })).collect();
        candidates.sort_by_key(|a| (!a.active, std::cmp::Reverse(a.created_at.clone())));
        let Some(found) = candidates.into_iter().next() else {
            return Err(OAuthError::invalid_grant("User is not enrolled with an authenticator app."));
        };
        let authenticator = self.spend_attempt(user, &found, client).await?;
        let now = self.now();
        let step = match &authenticator.kind {
            AuthenticatorKind::Otp { secret, last_step } => totp::verify(secret, code, *last_step, now),
            _ => None,
        };
        // The step is consumed only if no parallel request used it (or a later one) first.
        let consumed = match step {
            Some(step) => attempts::settle_success(self.ctx.tenant.store.as_ref(), &authenticator, now, &|current| {
                let mut next = current.clone();
                match &mut next.kind {
                    AuthenticatorKind::Otp { last_step, .. } if *last_step < step => *last_step = step,
                    _ => return None,
                }
                Some(next)
            })
            .await
            .map_err(server_error)?,
            None => None,
        };
        let Some(stored) = consumed else { return Err(self.wrong(user, FactorType::Otp, client).await) };
        self.confirm(user, &stored, client).await?;
        Ok((FactorType::Otp, None))
    }
}
