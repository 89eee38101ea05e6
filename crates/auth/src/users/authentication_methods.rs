//! A user's authentication methods as the Management API shows and changes them
//! (`/api/v2/users/{id}/authentication-methods`, `/enrollments`, recovery-code regeneration).

use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::totp;
use crate::tenant::Tenant;

use super::*;

/// An authentication method an administrator creates (`POST /api/v2/users/{id}/authentication-methods`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAuthenticationMethod {
    /// `totp`, `email` or `phone` (`webauthn-roaming` and `passkey` are Auth0 types Gatehouse refuses).
    #[serde(rename = "type")]
    pub kind: String,
    /// A label; accepted for compatibility, not stored.
    #[serde(default)]
    pub name: Option<String>,
    /// `totp`: the base32 secret (at least 128 bits); a new one is generated when absent.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// `email`: the address.
    #[serde(default)]
    pub email: Option<String>,
    /// `phone`: the E.164 number.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// `phone`: `sms` (default) or `voice`.
    #[serde(default)]
    pub preferred_authentication_method: Option<String>,
    /// WebAuthn (refused).
    #[serde(default)]
    pub key_id: Option<Value>,
    /// WebAuthn (refused).
    #[serde(default)]
    pub public_key: Option<Value>,
    /// WebAuthn (refused).
    #[serde(default)]
    pub relying_party_identifier: Option<Value>,
}

/// Changes to an authentication method (`PATCH /api/v2/users/{id}/authentication-methods/{method_id}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationMethodPatch {
    /// A label; accepted for compatibility, not stored.
    #[serde(default)]
    pub name: Option<String>,
    /// `phone` only: `sms` or `voice`.
    #[serde(default)]
    pub preferred_authentication_method: Option<String>,
}

/// A created authentication method.
#[derive(Clone, Debug)]
pub struct CreatedMethod {
    /// The enrollment (active: an administrator vouches for it).
    pub authenticator: Authenticator,
    /// The TOTP secret when the server generated it: shown once, in the creation response, never again.
    pub generated_secret: Option<String>,
}

fn valid_phone(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (6..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

fn phone_method(preferred: Option<&str>) -> UserResult<String> {
    match preferred {
        None | Some("sms") => Ok("sms".to_owned()),
        Some("voice") => Ok("voice".to_owned()),
        Some(other) => Err(UserError::BadRequest(format!(
            "Payload validation error: 'preferred_authentication_method' must be sms or voice, not {other}"
        ))),
    }
}

/// Creates an active authentication method for `user`. One TOTP app and one phone per user (the login checks the
/// first of each); a second is a `Conflict`, as is an email method for an address already enrolled. A pending
/// (unconfirmed) enrollment of the same kind is replaced.
pub async fn create_authentication_method(
    tenant: &Tenant,
    user: &User,
    new: NewAuthenticationMethod,
) -> UserResult<CreatedMethod> {
    let mut generated_secret = None;
    let kind = match new.kind.as_str() {
        "totp" => {
            let secret = match new.totp_secret {
                Some(s) => s.replace(' ', "").to_uppercase(),
                None => {
                    let s = totp::new_secret()?;
                    generated_secret = Some(s.clone());
                    s
                }
            };
            if totp::current_code(&secret, tenant.now()).is_err() {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'totp_secret' must be base32 and at least 128 bits".into(),
                ));
            }
            AuthenticatorKind::Otp { secret, last_step: 0 }
        }
        "email" => {
            let Some(email) = new.email.map(|e| e.trim().to_lowercase()) else {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'Missing required property: email'.".into(),
                ));
            };
            if !valid_email(&email) {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'Object didn't pass validation for format email' on property email"
                        .into(),
                ));
            }
            // MFA codes go only to the account's own address (see login::mfa::email_destination).
            if email != user.email.to_lowercase() {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'email' must be the user's own email address; MFA codes are only sent there"
                        .into(),
                ));
            }
            AuthenticatorKind::Email { email }
        }
        "phone" => {
            let Some(number) =
                new.phone_number.map(|p| p.chars().filter(|c| !matches!(c, ' ' | '-')).collect::<String>())
            else {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'Missing required property: phone_number'.".into(),
                ));
            };
            if !valid_phone(&number) {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'phone_number' must be an E.164 number such as +14155550100".into(),
                ));
            }
            AuthenticatorKind::Phone {
                phone_number: number,
                method: phone_method(new.preferred_authentication_method.as_deref())?,
            }
        }
        "webauthn-roaming" | "webauthn_roaming" | "webauthn-platform" | "passkey" => {
            return Err(UserError::BadRequest(format!(
                "Authentication methods of type {} are not supported by Gatehouse",
                new.kind
            )));
        }
        other => {
            return Err(UserError::BadRequest(format!(
                "Payload validation error: 'type' must be one of phone, email, totp (not {other})"
            )));
        }
    };
    for old in tenant.store.find_authenticators(&user.user_id).await? {
        let same = match (&old.kind, &kind) {
            (AuthenticatorKind::Otp { .. }, AuthenticatorKind::Otp { .. })
            | (AuthenticatorKind::Phone { .. }, AuthenticatorKind::Phone { .. }) => true,
            (AuthenticatorKind::Email { email: a }, AuthenticatorKind::Email { email: b }) => a == b,
            _ => false,
        };
        if !same {
            continue;
        }
        if old.active {
            return Err(UserError::Conflict(format!(
                "The user already has a confirmed {} authentication method ({}); delete it first",
                new.kind,
                method_public_id(&old)
            )));
        }
        tenant.store.delete_authenticator(&user.user_id, &old.id).await?;
    }
    let authenticator = authenticator(user, kind, true, tenant.now())?;
    tenant.store.save_authenticator(&authenticator).await?;
    Ok(CreatedMethod { authenticator, generated_secret })
}

/// The id the Management API shows: phones are `phone|dev_...` (their SMS/voice channel keeps `sms|`/`voice|`).
pub fn method_public_id(authenticator: &Authenticator) -> String {
    match &authenticator.kind {
        AuthenticatorKind::Phone { .. } => match authenticator.id.split_once('|') {
            Some((_, rest)) => format!("phone|{rest}"),
            None => authenticator.id.clone(),
        },
        _ => authenticator.id.clone(),
    }
}

pub(super) fn is_method(authenticator: &Authenticator, method_id: &str) -> bool {
    authenticator.id == method_id || method_public_id(authenticator) == method_id
}

/// One of the user's authentication methods, by its id (`totp|dev_...`, `phone|dev_...` or `sms|dev_...`).
pub async fn find_authentication_method(tenant: &Tenant, user: &User, method_id: &str) -> UserResult<Authenticator> {
    tenant
        .store
        .find_authenticators(&user.user_id)
        .await?
        .into_iter()
        .find(|a| is_method(a, method_id))
        .ok_or_else(|| UserError::NotFound("The authentication method does not exist.".into()))
}

/// Applies a patch: a phone's preferred method; the name is accepted and not stored.
pub async fn update_authentication_method(
    tenant: &Tenant,
    user: &User,
    method_id: &str,
    patch: AuthenticationMethodPatch,
) -> UserResult<Authenticator> {
    let mut authenticator = find_authentication_method(tenant, user, method_id).await?;
    if let Some(preferred) = patch.preferred_authentication_method.as_deref() {
        let AuthenticatorKind::Phone { method, .. } = &mut authenticator.kind else {
            return Err(UserError::BadRequest(
                "preferred_authentication_method applies to phone authentication methods only".into(),
            ));
        };
        *method = phone_method(Some(preferred))?;
        tenant.store.save_authenticator(&authenticator).await?;
    }
    Ok(authenticator)
}

/// Deletes one authentication method; returns it.
pub async fn delete_authentication_method(tenant: &Tenant, user: &User, method_id: &str) -> UserResult<Authenticator> {
    let authenticator = find_authentication_method(tenant, user, method_id).await?;
    if !tenant.store.delete_authenticator(&user.user_id, &authenticator.id).await? {
        return Err(UserError::NotFound("The authentication method does not exist.".into()));
    }
    Ok(authenticator)
}

/// `POST /api/v2/users/{id}/recovery-code-regeneration`: a new recovery code for a user enrolled in MFA (the old
/// one stops working). A user with no confirmed factor other than a recovery code gets `BadRequest`.
pub async fn regenerate_recovery_code_if_enrolled(tenant: &Tenant, user: &User) -> UserResult<String> {
    let enrolled = tenant
        .store
        .find_authenticators(&user.user_id)
        .await?
        .iter()
        .any(|a| a.active && !matches!(a.kind, AuthenticatorKind::RecoveryCode { .. }));
    if !enrolled {
        return Err(UserError::BadRequest("The user is not enrolled in multi-factor authentication.".into()));
    }
    regenerate_recovery_code(tenant, user).await
}

/// An authentication method as the Management API shows it: never a secret, a recovery-code hash or attempt counts.
pub fn authentication_method_view(authenticator: &Authenticator) -> Value {
    let mut view = json!({
        "id": method_public_id(authenticator),
        "type": match &authenticator.kind {
            AuthenticatorKind::Otp { .. } => "totp",
            AuthenticatorKind::RecoveryCode { .. } => "recovery-code",
            AuthenticatorKind::Email { .. } => "email",
            AuthenticatorKind::Phone { .. } => "phone",
        },
        "confirmed": authenticator.active,
        "created_at": authenticator.created_at,
    });
    if let Some(map) = view.as_object_mut() {
        match &authenticator.kind {
            AuthenticatorKind::Email { email } => {
                map.insert("email".into(), json!(email));
            }
            AuthenticatorKind::Phone { phone_number, method } => {
                map.insert("phone_number".into(), json!(phone_number));
                map.insert("preferred_authentication_method".into(), json!(method));
                map.insert("authentication_methods".into(), json!([{ "id": authenticator.id, "type": method }]));
            }
            AuthenticatorKind::Otp { .. } | AuthenticatorKind::RecoveryCode { .. } => {}
        }
        if let Some(at) = &authenticator.last_auth_at {
            map.insert("last_auth_at".into(), json!(at));
        }
    }
    view
}

/// A Guardian enrollment (`GET /api/v2/users/{id}/enrollments`): authenticator apps and phones. Email and recovery
/// codes are not Guardian enrollments, so they have none.
pub fn enrollment_view(authenticator: &Authenticator) -> Option<Value> {
    let status = if authenticator.active { "confirmed" } else { "pending" };
    let mut view = match &authenticator.kind {
        AuthenticatorKind::Otp { .. } => json!({
            "id": authenticator.id,
            "status": status,
            "type": "authenticator",
            "auth_method": "authenticator",
            "enrolled_at": authenticator.created_at,
        }),
        AuthenticatorKind::Phone { phone_number, method } => json!({
            "id": authenticator.id,
            "status": status,
            "type": method,
            "name": phone_number,
            "phone_number": phone_number,
            "auth_method": "sms",
            "enrolled_at": authenticator.created_at,
        }),
        AuthenticatorKind::Email { .. } | AuthenticatorKind::RecoveryCode { .. } => return None,
    };
    if let (Some(map), Some(at)) = (view.as_object_mut(), &authenticator.last_auth_at) {
        map.insert("last_auth".into(), json!(at));
    }
    Some(view)
}
