//! `grant_type=http://auth0.com/oauth/grant-type/mfa-recovery-code`: a recovery code, replaced in the same atomic
//! write that accepts it; the new one goes back in the answer.

use gatehouse_types::FactorType;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};

use crate::attempts;
use crate::crypto::recovery;
use crate::error::OAuthError;
use crate::oauth::{TokenEndpoint, server_error};

impl TokenEndpoint<'_> {
    pub(super) async fn verify_recovery(
        &self,
        user: &User,
        code: &str,
        client: &ClientConfig,
    ) -> Result<(FactorType, Option<String>), OAuthError> {
        let list = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let Some(found) =
            list.into_iter().find(|a| a.active && matches!(a.kind, AuthenticatorKind::RecoveryCode { .. }))
        else {
            return Err(OAuthError::invalid_grant("User does not have a recovery code."));
        };
        let authenticator = self.spend_attempt(user, &found, client).await?;
        let AuthenticatorKind::RecoveryCode { hash } = authenticator.kind.clone() else {
            return Err(server_error("kind"));
        };
        let candidate = code.to_owned();
        let stored = hash.clone();
        let matched = crate::crypto::password::run_argon2(move || recovery::verify_recovery_code(&stored, &candidate))
            .await
            .unwrap_or(false);
        if !matched {
            return Err(self.wrong(user, FactorType::RecoveryCode, client).await);
        }
        // A recovery code is single use: it is replaced in the same atomic write that accepts it (of two parallel
        // uses, one wins), and the new one goes back in the answer.
        let (fresh, fresh_hash) = recovery::new_hashed_recovery_code().await.map_err(server_error)?;
        let replaced =
            attempts::settle_success(self.ctx.tenant.store.as_ref(), &authenticator, self.now(), &|current| {
                match &current.kind {
                    AuthenticatorKind::RecoveryCode { hash: now_stored } if *now_stored == hash => {
                        Some(Authenticator {
                            kind: AuthenticatorKind::RecoveryCode { hash: fresh_hash.clone() },
                            ..current.clone()
                        })
                    }
                    _ => None,
                }
            })
            .await
            .map_err(server_error)?;
        if replaced.is_none() {
            return Err(self.wrong(user, FactorType::RecoveryCode, client).await);
        }
        Ok((FactorType::RecoveryCode, Some(fresh)))
    }
}
