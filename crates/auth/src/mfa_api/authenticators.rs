//! `GET /mfa/authenticators` and `DELETE /mfa/authenticators/{id}`.

use gatehouse_types::records::{Authenticator, AuthenticatorKind};
use serde_json::{Value, json};

use crate::error::OAuthError;

use crate::mfa_api::{MfaApi, MfaCaller, server_error};

impl MfaApi<'_> {
    /// `GET /mfa/authenticators`.
    pub async fn list(&self, caller: &MfaCaller) -> Result<Value, OAuthError> {
        if let MfaCaller::Access { .. } = caller
            && !caller.has_scope("read:authenticators")
        {
            return Err(OAuthError::insufficient_scope("Insufficient scope, expected: read:authenticators"));
        }
        let user = self.user(caller.user_id()).await?;
        let list: Vec<Value> = self.authenticators(&user).await?.iter().map(authenticator_view).collect();
        Ok(Value::Array(list))
    }

    /// `DELETE /mfa/authenticators/{id}` (an access token with `remove:authenticators`; an mfa_token is not enough).
    pub async fn delete(&self, caller: &MfaCaller, id: &str) -> Result<(), OAuthError> {
        if !caller.has_scope("remove:authenticators") {
            return Err(OAuthError::insufficient_scope("Insufficient scope, expected: remove:authenticators"));
        }
        let user = self.user(caller.user_id()).await?;
        let list = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        let Some(target) = list.iter().find(|a| a.id == id) else {
            return Err(OAuthError::not_found("Authenticator not found"));
        };
        if matches!(&target.kind, AuthenticatorKind::Email { email } if *email == user.email && user.email_verified) {
            return Err(OAuthError::invalid_request("Email authenticators of a verified email cannot be deleted."));
        }
        self.ctx.tenant.store.delete_authenticator(&user.user_id, id).await.map_err(server_error)?;
        self.log("gd_unenroll", format!("Authenticator {} removed", target.kind.id_prefix()), None, Some(&user)).await;
        Ok(())
    }
}

/// An authenticator as `GET /mfa/authenticators` shows it.
pub fn authenticator_view(a: &Authenticator) -> Value {
    match &a.kind {
        AuthenticatorKind::Otp { .. } => json!({ "id": a.id, "authenticator_type": "otp", "active": a.active }),
        AuthenticatorKind::RecoveryCode { .. } => {
            json!({ "id": a.id, "authenticator_type": "recovery-code", "active": a.active })
        }
        AuthenticatorKind::Email { email } => json!({
            "id": a.id, "authenticator_type": "oob", "active": a.active, "oob_channel": "email", "name": crate::mask::mask_email(email)
        }),
        AuthenticatorKind::Phone { phone_number, method } => {
            json!({ "id": a.id, "authenticator_type": "oob", "active": a.active, "oob_channel": method, "name": crate::mask::mask_phone(phone_number) })
        }
    }
}
