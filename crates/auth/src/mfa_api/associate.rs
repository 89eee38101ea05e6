//! `POST /mfa/associate`: enrolling a factor with an `mfa_token` (only while the user has none, a verified email
//! counting as one) or with an access token carrying `enroll`; recovery codes with the first factor.

use gatehouse_types::FactorType;
use gatehouse_types::phone::DeliveryMethod;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use serde_json::{Map, Value, json};

use crate::client_auth::{self};
use crate::crypto::recovery;
use crate::error::OAuthError;
use crate::users;

use crate::mfa_api::{MfaApi, MfaCaller, OobDelivery, client_credentials, server_error};
use crate::phone;
use crate::phone::templates::PhoneTemplate;

impl MfaApi<'_> {
    /// `POST /mfa/associate`. `basic` is the request's HTTP Basic client credentials, if any.
    pub async fn associate(
        &self,
        caller: &MfaCaller,
        body: &Map<String, Value>,
        basic: Option<(&str, &str)>,
    ) -> Result<Value, OAuthError> {
        let user = self.user(caller.user_id()).await?;
        let client_id = match caller {
            MfaCaller::Ticket { ticket, .. } => {
                // Client credentials, when sent, must be right (a confidential client's secret included). Without
                // any, the mfa_token alone is accepted, as seed 003's request has it: the token is bound to the
                // client, which authenticated to obtain it.
                let credentials = client_credentials(body, basic);
                if !credentials.is_empty() {
                    let client = client_auth::authenticate_client(&self.ctx.tenant.config, credentials)?;
                    if client.client_id != ticket.client_id {
                        return Err(OAuthError::invalid_request("mfa_token not issued to this client"));
                    }
                }
                Some(ticket.client_id.clone())
            }
            MfaCaller::Access { .. } => {
                if !caller.has_scope("enroll") {
                    return Err(OAuthError::insufficient_scope("Insufficient scope, expected: enroll"));
                }
                body.get("client_id").and_then(Value::as_str).map(str::to_owned)
            }
        };
        let existing = self.ctx.tenant.store.find_authenticators(&user.user_id).await.map_err(server_error)?;
        // Recovery codes come with the first factor beyond email.
        let enrolled = existing.iter().any(|a| a.active && !matches!(a.kind, AuthenticatorKind::Email { .. }));
        // With only an mfa_token (the password), a factor may be added only while the user has none: a verified
        // email counts as one (Auth0), so a stolen password cannot enroll the attacker's factor.
        let has_factor = !crate::event::enrolled_factors(&self.ctx.tenant.config, &user, &existing).is_empty();
        if let MfaCaller::Ticket { ticket, .. } = caller
            && has_factor
            && !ticket.mfa_passed
        {
            self.log(
                "gd_enrollment_failed",
                "Enrollment refused: the user already has a factor and did not pass it",
                client_id.as_deref(),
                Some(&user),
            )
            .await;
            return Err(OAuthError::access_denied("User is already enrolled."));
        }
        let types: Vec<String> = body
            .get("authenticator_types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let first = !enrolled;
        match types.first().map(String::as_str) {
            Some("otp") => {
                if !self.enabled(FactorType::Otp) {
                    return Err(OAuthError::unsupported_challenge_type(
                        "The otp factor is not enabled on this tenant.",
                    ));
                }
                // A new association replaces a pending (unconfirmed) one.
                for pending in existing.iter().filter(|a| !a.active && matches!(a.kind, AuthenticatorKind::Otp { .. }))
                {
                    self.ctx
                        .tenant
                        .store
                        .delete_authenticator(&user.user_id, &pending.id)
                        .await
                        .map_err(server_error)?;
                }
                let (authenticator, uri) =
                    users::enroll_pending_otp(self.ctx.tenant, &user).await.map_err(server_error)?;
                let AuthenticatorKind::Otp { secret, .. } = &authenticator.kind else {
                    return Err(server_error("otp kind"));
                };
                let mut answer = json!({ "authenticator_type": "otp", "secret": secret, "barcode_uri": uri });
                self.attach_recovery_codes(&user, first, &existing, &mut answer).await?;
                self.log("gd_start_enroll", "MFA enrollment started (otp)", client_id.as_deref(), Some(&user)).await;
                Ok(answer)
            }
            Some("oob") => {
                let channels: Vec<String> = body
                    .get("oob_channels")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                let channel = match channels.as_slice() {
                    [] => {
                        return Err(OAuthError::invalid_request(
                            "oob_channels is required for the oob authenticator type",
                        ));
                    }
                    [one] if matches!(one.as_str(), "email" | "sms" | "voice") => one.as_str(),
                    _ => {
                        return Err(OAuthError::unsupported_challenge_type(format!(
                            "Unsupported oob channel: {}. This server offers one of: sms, voice, email.",
                            channels.join(", ")
                        )));
                    }
                };
                let (kind, delivery) = if channel == "email" {
                    if !self.enabled(FactorType::Email) {
                        return Err(OAuthError::unsupported_challenge_type(
                            "The email factor is not enabled on this tenant.",
                        ));
                    }
                    let email = body.get("email").and_then(Value::as_str).unwrap_or(&user.email).to_owned();
                    // Codes go only to the account's own address: enrolling another one would hand the factor to
                    // whoever owns it.
                    if !email.eq_ignore_ascii_case(&user.email) {
                        return Err(OAuthError::invalid_request(
                            "email must be the user's own email address; MFA codes are only sent there",
                        ));
                    }
                    (AuthenticatorKind::Email { email: email.clone() }, OobDelivery::Email(email))
                } else {
                    let method = if channel == "voice" { DeliveryMethod::Voice } else { DeliveryMethod::Text };
                    if !self.enabled(FactorType::Phone) {
                        return Err(OAuthError::unsupported_challenge_type(
                            "The phone factor is not enabled on this tenant.",
                        ));
                    }
                    if !self.ctx.tenant.config.mfa.phone.delivery_methods.contains(&method) {
                        return Err(OAuthError::unsupported_challenge_type(format!(
                            "The {channel} channel is not enabled on this tenant ([mfa.phone] delivery_methods)."
                        )));
                    }
                    let typed = body.get("phone_number").and_then(Value::as_str).ok_or_else(|| {
                        OAuthError::invalid_request("phone_number is required for the sms and voice channels")
                    })?;
                    let number = phone::normalize_number(typed).ok_or_else(|| {
                        OAuthError::invalid_request("phone_number must be an E.164 number such as +819012345678")
                    })?;
                    (
                        AuthenticatorKind::Phone { phone_number: number.clone(), method: channel.to_owned() },
                        OobDelivery::Phone { number, method, which: PhoneTemplate::Enrollment },
                    )
                };
                // A new association replaces a pending (unconfirmed) one of the same kind.
                for pending in existing.iter().filter(|a| !a.active && a.kind.factor() == kind.factor()) {
                    self.ctx
                        .tenant
                        .store
                        .delete_authenticator(&user.user_id, &pending.id)
                        .await
                        .map_err(server_error)?;
                }
                let authenticator = users::authenticator(&user, kind, false, self.now()).map_err(server_error)?;
                self.ctx.tenant.store.save_authenticator(&authenticator).await.map_err(server_error)?;
                let client = client_id.as_deref().unwrap_or_default();
                let oob_code = match self.send_oob(&user, &authenticator, client, delivery).await {
                    Ok(code) => code,
                    Err(e) => {
                        // Nothing reached the user: the pending authenticator goes too.
                        let _ = self.ctx.tenant.store.delete_authenticator(&user.user_id, &authenticator.id).await;
                        return Err(e);
                    }
                };
                let mut answer = json!({ "authenticator_type": "oob", "binding_method": "prompt", "oob_channel": channel, "oob_code": oob_code });
                self.attach_recovery_codes(&user, first, &existing, &mut answer).await?;
                self.log(
                    "gd_start_enroll",
                    format!("MFA enrollment started ({channel})"),
                    client_id.as_deref(),
                    Some(&user),
                )
                .await;
                Ok(answer)
            }
            Some(other) => {
                Err(OAuthError::unsupported_challenge_type(format!("Unsupported authenticator type: {other}")))
            }
            None => Err(OAuthError::invalid_request("authenticator_types is required")),
        }
    }

    /// On a user's first enrollment, a pending recovery code (confirmed with the enrollment).
    async fn attach_recovery_codes(
        &self,
        user: &User,
        first: bool,
        existing: &[Authenticator],
        answer: &mut Value,
    ) -> Result<(), OAuthError> {
        if !first || !self.enabled(FactorType::RecoveryCode) {
            return Ok(());
        }
        for old in existing.iter().filter(|a| matches!(a.kind, AuthenticatorKind::RecoveryCode { .. })) {
            self.ctx.tenant.store.delete_authenticator(&user.user_id, &old.id).await.map_err(server_error)?;
        }
        let (code, hash) = recovery::new_hashed_recovery_code().await.map_err(server_error)?;
        let authenticator = users::authenticator(user, AuthenticatorKind::RecoveryCode { hash }, false, self.now())
            .map_err(server_error)?;
        self.ctx.tenant.store.save_authenticator(&authenticator).await.map_err(server_error)?;
        if let Some(map) = answer.as_object_mut() {
            map.insert("recovery_codes".into(), json!([code]));
        }
        Ok(())
    }
}
