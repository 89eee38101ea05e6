//! What the store keeps: users, their authenticators, sessions, codes, tokens, keys and tenant logs.
//!
//! Bearer secrets (session cookies, authorization codes, refresh tokens, login transaction ids) are never stored
//! as given: records are keyed by the SHA-256 of the secret, so a copy of the database cannot be replayed.

use serde::{Deserialize, Serialize};

use crate::JsonMap;
use crate::event::AuthMethod;
use crate::factor::FactorType;

/// A user of the `Username-Password-Authentication` database connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `auth0|<24 hex>`.
    pub user_id: String,
    /// Email address, the login name.
    pub email: String,
    /// The username, on a connection with `requires_username` (unique, case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Nickname (defaults to the email's local part).
    #[serde(default)]
    pub nickname: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Picture URL.
    #[serde(default)]
    pub picture: Option<String>,
    /// Phone number (E.164).
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified.
    #[serde(default)]
    pub phone_verified: bool,
    /// argon2id PHC string.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// The connection.
    pub connection: String,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `app_metadata`.
    #[serde(default)]
    pub app_metadata: JsonMap,
    /// `user_metadata`.
    #[serde(default)]
    pub user_metadata: JsonMap,
    /// Creation time (ISO-8601).
    pub created_at: String,
    /// Last update (ISO-8601).
    pub updated_at: String,
    /// Last successful login (ISO-8601).
    #[serde(default)]
    pub last_login: Option<String>,
    /// Successful logins.
    #[serde(default)]
    pub logins_count: u64,
    /// Last password change (ISO-8601).
    #[serde(default)]
    pub last_password_reset: Option<String>,
    /// Blocked by an administrator.
    #[serde(default)]
    pub blocked: bool,
    /// Other root attributes an identity provider supplied (an enterprise directory's `groups`, SAML or social
    /// profile attributes), kept as they are; actions read them on `event.user`.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub attributes: JsonMap,
}

/// What kind of authenticator, with its secret material (redacted from `Debug`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuthenticatorKind {
    /// A TOTP app.
    Otp {
        /// Base32 secret.
        secret: String,
        /// Highest time step accepted so far: a code is never accepted twice.
        #[serde(default)]
        last_step: u64,
    },
    /// A recovery code, stored as a hash.
    RecoveryCode {
        /// argon2id PHC string of the code.
        hash: String,
    },
    /// Codes sent by email.
    Email {
        /// Address.
        email: String,
    },
    /// Codes sent by SMS or voice.
    Phone {
        /// E.164 number.
        phone_number: String,
        /// `sms`, `voice` or `both`.
        #[serde(default = "sms")]
        method: String,
    },
}

impl std::fmt::Debug for AuthenticatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthenticatorKind::Otp { last_step, .. } => {
                f.debug_struct("Otp").field("secret", &"[redacted]").field("last_step", last_step).finish()
            }
            AuthenticatorKind::RecoveryCode { .. } => {
                f.debug_struct("RecoveryCode").field("hash", &"[redacted]").finish()
            }
            AuthenticatorKind::Email { email } => f.debug_struct("Email").field("email", email).finish(),
            AuthenticatorKind::Phone { phone_number, method } => {
                f.debug_struct("Phone").field("phone_number", phone_number).field("method", method).finish()
            }
        }
    }
}

fn sms() -> String {
    "sms".to_owned()
}

impl AuthenticatorKind {
    /// The factor type (`methods[].type`, `enrolledFactors[].type`).
    pub fn factor(&self) -> FactorType {
        match self {
            AuthenticatorKind::Otp { .. } => FactorType::Otp,
            AuthenticatorKind::RecoveryCode { .. } => FactorType::RecoveryCode,
            AuthenticatorKind::Email { .. } => FactorType::Email,
            AuthenticatorKind::Phone { .. } => FactorType::Phone,
        }
    }

    /// The id prefix Auth0 uses: `totp|dev_...`, `recovery-code|dev_...`.
    pub fn id_prefix(&self) -> &'static str {
        match self {
            AuthenticatorKind::Otp { .. } => "totp",
            AuthenticatorKind::RecoveryCode { .. } => "recovery-code",
            AuthenticatorKind::Email { .. } => "email",
            AuthenticatorKind::Phone { method, .. } if method == "voice" => "voice",
            AuthenticatorKind::Phone { .. } => "sms",
        }
    }
}

/// An enrolled (or enrolling) MFA authenticator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authenticator {
    /// `totp|dev_...`.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Kind and secret.
    pub kind: AuthenticatorKind,
    /// Confirmed (an enrollment becomes active when its first code verifies).
    pub active: bool,
    /// Enrollment time (ISO-8601).
    pub created_at: String,
    /// Last successful use (ISO-8601).
    #[serde(default)]
    pub last_auth_at: Option<String>,
    /// Failed-verification bucket: attempts left (refills over time, see the auth crate).
    #[serde(default = "full_bucket")]
    pub attempts_left: f64,
    /// When the bucket was last updated (epoch seconds).
    #[serde(default)]
    pub attempts_updated: i64,
}

fn full_bucket() -> f64 {
    10.0
}

/// An SSO session (the `gatehouse_session` cookie).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Public id (`sid` claim).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Methods completed in this session (`pwd`, `mfa`...).
    pub methods: Vec<AuthMethod>,
    /// When the first factor was completed (epoch seconds): `auth_time`.
    pub authenticated_at: i64,
    /// Creation (epoch seconds).
    pub created_at: i64,
    /// Last use (epoch seconds).
    pub last_active: i64,
    /// Absolute expiry (epoch seconds).
    pub expires_at: i64,
    /// Clients that obtained tokens in this session.
    #[serde(default)]
    pub clients: Vec<String>,
}

/// Everything a token request needs to know about how the user logged in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Scopes granted (OIDC and API).
    pub scope: Vec<String>,
    /// API audience, if any.
    #[serde(default)]
    pub audience: Option<String>,
    /// SSO session id (`sid`).
    #[serde(default)]
    pub session_id: Option<String>,
    /// `auth_time` (epoch seconds).
    pub auth_time: i64,
    /// `nonce` of the authorization request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// `acr` to put in the ID token.
    #[serde(default)]
    pub acr: Option<String>,
    /// `amr` to put in the ID token.
    #[serde(default)]
    pub amr: Vec<String>,
    /// Custom claims for the ID token, from actions.
    #[serde(default)]
    pub id_token_claims: JsonMap,
    /// Custom claims for the access token, from actions.
    #[serde(default)]
    pub access_token_claims: JsonMap,
    /// Organization id, if any.
    #[serde(default)]
    pub organization: Option<String>,
    /// Whether MFA was completed for this grant (refresh exchanges inherit it).
    #[serde(default)]
    pub mfa: bool,
}

/// An authorization code: single use, short-lived, bound to client, redirect URI and PKCE challenge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    /// The grant it stands for.
    pub grant: Grant,
    /// The redirect URI it was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request named the redirect URI (the token request must then repeat it).
    #[serde(default)]
    pub redirect_uri_sent: bool,
    /// PKCE challenge (S256), if any.
    #[serde(default)]
    pub code_challenge: Option<String>,
    /// Expiry (epoch seconds).
    pub expires_at: i64,
}

/// A refresh token (rotating).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Public id.
    pub id: String,
    /// Rotation family: a reused token revokes its whole family.
    pub family: String,
    /// The grant it renews.
    pub grant: Grant,
    /// Creation (epoch seconds).
    pub created_at: i64,
    /// Absolute expiry of the family (epoch seconds).
    pub expires_at: i64,
    /// Set once it has been exchanged: a second exchange is a reuse.
    #[serde(default)]
    pub used_at: Option<i64>,
}

/// A signing key (the private half is redacted from `Debug`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    /// `kid`.
    pub kid: String,
    /// PKCS#8 DER of the RSA private key, base64.
    pub private_pkcs8: String,
    /// Modulus, base64url (JWK `n`).
    pub n: String,
    /// Exponent, base64url (JWK `e`).
    pub e: String,
    /// Creation (epoch seconds).
    pub created_at: i64,
    /// When it stopped signing (epoch seconds); kept in JWKS until its tokens expire.
    #[serde(default)]
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_pkcs8", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// A tenant log entry, in Auth0's shape (`GET /api/v2/logs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Sortable id.
    pub log_id: String,
    /// ISO-8601 time.
    pub date: String,
    /// Event code (`s`, `f`, `fp`, `mfar`, `gd_auth_succeed`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    pub description: String,
    /// Client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Client name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Originating IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// User agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Extra details.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub details: JsonMap,
}

/// Failed logins of one user from one IP.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginAttempts {
    /// Consecutive failures.
    pub failures: u32,
    /// Last failure (epoch seconds).
    pub last_failure: i64,
}
