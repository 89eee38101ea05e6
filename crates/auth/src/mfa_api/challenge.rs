//! `POST /mfa/challenge`: which authenticator answers, and for an out-of-band one, the code sent.

use gatehouse_types::records::{Authenticator, AuthenticatorKind};
use serde_json::{Map, Value, json};

use crate::client_auth::{self};
use crate::error::OAuthError;
use crate::mfa_ticket::{self};

use crate::mfa_api::{MfaApi, OobDelivery, client_credentials};
use crate::phone;
use crate::phone::templates::PhoneTemplate;
use gatehouse_types::phone::DeliveryMethod;

impl MfaApi<'_> {
    /// `POST /mfa/challenge`: the client authenticates as at the token endpoint (a confidential client with its
    /// secret). `basic` is the request's HTTP Basic client credentials, if any.
    pub async fn challenge(&self, body: &Map<String, Value>, basic: Option<(&str, &str)>) -> Result<Value, OAuthError> {
        let token = body
            .get("mfa_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: mfa_token"))?;
        let credentials = client_credentials(body, basic);
        if credentials.client_id.is_none() && credentials.basic.is_none() {
            return Err(OAuthError::invalid_request("Missing required parameter: client_id"));
        }
        let client = client_auth::authenticate_client(&self.ctx.tenant.config, credentials)?;
        let client_id = client.client_id.as_str();
        let (_, ticket) = mfa_ticket::verify(self.ctx.tenant, token, self.now()).await?;
        if ticket.client_id != client_id {
            return Err(OAuthError::invalid_request("mfa_token not issued to this client"));
        }
        let user = self.user(&ticket.user_id).await?;
        let authenticators: Vec<Authenticator> =
            self.authenticators(&user).await?.into_iter().filter(|a| a.active).collect();
        let usable: Vec<&Authenticator> = authenticators
            .iter()
            .filter(|a| !matches!(a.kind, AuthenticatorKind::RecoveryCode { .. }))
            .filter(|a| self.enabled(a.kind.factor()))
            .collect();
        if usable.is_empty() {
            return Err(OAuthError::association_required(
                "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator.",
            ));
        }
        let types: Vec<String> = body
            .get("challenge_type")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["otp".to_owned(), "oob".to_owned()]);
        let kind_of = |a: &Authenticator| if matches!(a.kind, AuthenticatorKind::Otp { .. }) { "otp" } else { "oob" };
        let chosen = match body.get("authenticator_id").and_then(Value::as_str) {
            Some(id) => {
                let Some(a) = usable.iter().find(|a| a.id == id) else {
                    return Err(OAuthError::invalid_request("The authenticator does not exist or is not active."));
                };
                if !types.iter().any(|t| t == kind_of(a)) {
                    return Err(unsupported(&types, kind_of(a)));
                }
                *a
            }
            None => match types.iter().find_map(|t| usable.iter().find(|a| kind_of(a) == t)) {
                Some(a) => *a,
                None => return Err(unsupported(&types, usable.first().map(|a| kind_of(a)).unwrap_or("otp"))),
            },
        };
        self.log("gd_start_auth", "Second factor started", Some(client_id), Some(&user)).await;
        match &chosen.kind {
            AuthenticatorKind::Otp { .. } => Ok(json!({ "challenge_type": "otp" })),
            AuthenticatorKind::Email { email } => {
                let oob_code = self.send_oob(&user, chosen, client_id, OobDelivery::Email(email.clone())).await?;
                Ok(json!({ "challenge_type": "oob", "oob_code": oob_code, "binding_method": "prompt" }))
            }
            AuthenticatorKind::Phone { phone_number, method } => {
                // `oob_channel` picks text or voice where the tenant offers both; else the enrolled method.
                let enabled = &self.ctx.tenant.config.mfa.phone.delivery_methods;
                let asked = match body.get("oob_channel").and_then(Value::as_str) {
                    Some("sms") => Some(DeliveryMethod::Text),
                    Some("voice") => Some(DeliveryMethod::Voice),
                    Some(other) => {
                        return Err(OAuthError::invalid_request(format!(
                            "oob_channel must be sms or voice for a phone authenticator (not {other})"
                        )));
                    }
                    None => None,
                };
                let method = asked
                    .or_else(|| phone::enrolled_method(method))
                    .filter(|m| enabled.contains(m))
                    .or_else(|| enabled.first().copied())
                    .ok_or_else(|| unsupported(&types, "otp"))?;
                let delivery =
                    OobDelivery::Phone { number: phone_number.clone(), method, which: PhoneTemplate::Verification };
                let oob_code = self.send_oob(&user, chosen, client_id, delivery).await?;
                Ok(json!({ "challenge_type": "oob", "oob_code": oob_code, "binding_method": "prompt" }))
            }
            _ => Err(unsupported(&types, "otp")),
        }
    }
}

fn unsupported(types: &[String], supported: &str) -> OAuthError {
    let what = if types.len() == 1 { "the requested challenge type" } else { "any of the requested challenge types" };
    OAuthError::unsupported_challenge_type(format!(
        "The user does not support {what} ({}). Supported type: {supported}.",
        types.join(", ")
    ))
    .with_status(401)
}
