//! What the three MFA grants share (`mfa-otp`, `mfa-oob`, `mfa-recovery-code`, for applications that draw their
//! own screens): the `mfa_token`, the attempt bucket spent before a code is checked, the confirmation of a pending
//! enrollment by its first code, and the tokens issued once MFA passed, with `amr: ["mfa"]`.

use gatehouse_types::FactorType;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};

use crate::attempts;
use crate::claims::{self, Issue, PAPE_MFA, TokenResponse};
use crate::error::OAuthError;
use crate::mfa_ticket;
use crate::oauth::{TokenEndpoint, TokenRequest, server_error};

impl TokenEndpoint<'_> {
    /// The `mfa-otp`, `mfa-oob` and `mfa-recovery-code` grants.
    pub(super) async fn mfa_grant(
        &self,
        req: &TokenRequest,
        client: &ClientConfig,
        grant_type: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let field = |name: &str| req.fields.get(name).map(String::as_str).filter(|s| !s.is_empty());
        let token =
            field("mfa_token").ok_or_else(|| OAuthError::invalid_request("Missing required parameter: mfa_token"))?;
        let (jti, mut ticket) = mfa_ticket::verify(self.ctx.tenant, token, self.now()).await?;
        if ticket.client_id != client.client_id {
            return Err(OAuthError::invalid_request("mfa_token not issued to this client"));
        }
        let user = self.user(&ticket.user_id).await?;
        let (success_log, failure_log) = match grant_type {
            "http://auth0.com/oauth/grant-type/mfa-otp" => ("seotpft", "feotpft"),
            "http://auth0.com/oauth/grant-type/mfa-oob" => ("seoobft", "feoobft"),
            _ => ("sercft", "fercft"),
        };
        let verified = match grant_type {
            "http://auth0.com/oauth/grant-type/mfa-otp" => {
                let otp = field("otp").ok_or_else(|| OAuthError::invalid_request("Missing required parameter: otp"))?;
                self.verify_otp(&user, otp, client).await
            }
            "http://auth0.com/oauth/grant-type/mfa-oob" => {
                let oob = field("oob_code")
                    .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: oob_code"))?;
                self.verify_oob(&user, oob, field("binding_code"), client).await
            }
            _ => {
                let code = field("recovery_code")
                    .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: recovery_code"))?;
                self.verify_recovery(&user, code, client).await
            }
        };
        let (factor, new_recovery_code) = match verified {
            Ok(done) => done,
            Err(error) => {
                self.log(failure_log, error.description.clone(), Some(client), Some(&user)).await;
                return Err(error);
            }
        };
        self.log(
            if factor == FactorType::RecoveryCode { "gd_recovery_succeed" } else { "gd_auth_succeed" },
            format!("MFA completed with {factor}"),
            Some(client),
            Some(&user),
        )
        .await;
        // The mfa_token stays valid until it expires, now as proof that a challenge passed (to enroll more).
        ticket.mfa_passed = true;
        mfa_ticket::save(self.ctx.tenant, &jti, &ticket).await.map_err(server_error)?;
        if !ticket.app_metadata.is_empty() || !ticket.user_metadata.is_empty() {
            let now = self.ctx.tenant.now_iso();
            let change = |current: &User| {
                Some(crate::users::with_metadata(current, &ticket.app_metadata, &ticket.user_metadata, &now))
            };
            self.ctx.tenant.store.update_user(&user.user_id, &change).await.map_err(server_error)?;
        }
        let mut grant = ticket.grant.clone();
        grant.mfa = true;
        grant.amr = vec!["mfa".to_owned()];
        grant.acr = Some(PAPE_MFA.to_owned());
        let mut response =
            claims::issue_user_tokens(self.ctx.tenant, client, &user, &grant, Issue::default(), self.now())
                .await
                .map_err(server_error)?;
        response.recovery_code = new_recovery_code;
        self.log(success_log, "Successful MFA exchange for access token", Some(client), Some(&user)).await;
        Ok(response)
    }

    /// Spends one attempt of `found`'s bucket before its code is checked (429 `too_many_attempts` when empty).
    pub(super) async fn spend_attempt(
        &self,
        user: &User,
        found: &Authenticator,
        client: &ClientConfig,
    ) -> Result<Authenticator, OAuthError> {
        match attempts::spend(self.ctx.tenant.store.as_ref(), found, self.now()).await.map_err(server_error)? {
            attempts::Spend::Spent(stored) => Ok(*stored),
            attempts::Spend::Blocked { retry_after } => {
                let kind = if found.kind.factor() == FactorType::RecoveryCode {
                    "gd_recovery_rate_limit_exceed"
                } else {
                    "gd_otp_rate_limit_exceed"
                };
                self.log(kind, "Too many failed MFA attempts", Some(client), Some(user)).await;
                Err(OAuthError::too_many_attempts(format!(
                    "Too many failed attempts. Try again in {} minutes.",
                    retry_after.div_euclid(60) + 1
                )))
            }
            attempts::Spend::Missing => Err(wrong_code(found.kind.factor())),
        }
    }

    /// A code that did not match (or was already used): logged, and answered as Auth0 does per factor.
    pub(super) async fn wrong(&self, user: &User, factor: FactorType, client: &ClientConfig) -> OAuthError {
        let failed = if factor == FactorType::RecoveryCode { "gd_recovery_failed" } else { "gd_auth_failed" };
        self.log(failed, format!("Wrong {factor} code"), Some(client), Some(user)).await;
        wrong_code(factor)
    }

    /// Marks an enrollment (and the recovery code issued with it) confirmed.
    pub(super) async fn confirm(
        &self,
        user: &User,
        authenticator: &Authenticator,
        client: &ClientConfig,
    ) -> Result<(), OAuthError> {
        if authenticator.active {
            return Ok(());
        }
        let activate = |current: &Authenticator| Some(Authenticator { active: true, ..current.clone() });
        let store = self.ctx.tenant.store.as_ref();
        store.update_authenticator(&user.user_id, &authenticator.id, &activate).await.map_err(server_error)?;
        let list = store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        for pending in list.iter().filter(|a| !a.active && matches!(a.kind, AuthenticatorKind::RecoveryCode { .. })) {
            store.update_authenticator(&user.user_id, &pending.id, &activate).await.map_err(server_error)?;
        }
        // One phone per user: a confirmed new number replaces the old one.
        if matches!(authenticator.kind, AuthenticatorKind::Phone { .. }) {
            for old in
                list.iter().filter(|a| a.id != authenticator.id && matches!(a.kind, AuthenticatorKind::Phone { .. }))
            {
                store.delete_authenticator(&user.user_id, &old.id).await.map_err(server_error)?;
            }
        }
        self.log(
            "gd_enrollment_complete",
            format!("{} enrollment confirmed", authenticator.kind.factor()),
            Some(client),
            Some(user),
        )
        .await;
        Ok(())
    }
}

/// The answer to a wrong code, per factor (Auth0's strings).
pub(super) fn wrong_code(factor: FactorType) -> OAuthError {
    match factor {
        FactorType::Otp => OAuthError::invalid_grant("Invalid otp_code."),
        FactorType::RecoveryCode => OAuthError::invalid_grant("Invalid recovery_code."),
        _ => OAuthError::invalid_grant("MFA Invalid binding code."),
    }
}
