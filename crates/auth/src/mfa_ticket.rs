//! The `mfa_token`: what a password grant that needs MFA hands the application, and what the MFA API and the
//! MFA grants accept. An RS256 JWT (`typ: mfa+jwt`, audience `<issuer>mfa/`, 10 minutes) naming a stored
//! [`MfaTicket`]: the grant the password request asked for, bound to user, client, audience and scope. Tampering
//! breaks the signature ("Malformed mfa_token"); after `exp` it is "mfa_token is expired".

use gatehouse_store::{Ephemeral, secret_key};
use gatehouse_types::FactorType;
use gatehouse_types::JsonMap;
use gatehouse_types::records::Grant;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{AuthResult, OAuthError};
use crate::ids;
use crate::tenant::Tenant;

/// Lifetime of an `mfa_token` (Auth0: 10 minutes, not configurable).
pub const MFA_TOKEN_LIFETIME: i64 = 600;

/// What an `mfa_token` stands for: the grant waiting for MFA, kept in the store under the token's `jti`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaTicket {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The grant to issue once MFA is done (scopes, audience, claims).
    pub grant: Grant,
    /// The grant type that asked for MFA.
    pub grant_type: String,
    /// Factors the flow asked for (empty: any enrolled factor).
    pub factors: Vec<FactorType>,
    /// Metadata changes to apply when tokens are issued.
    pub app_metadata: JsonMap,
    /// Metadata changes to apply when tokens are issued.
    pub user_metadata: JsonMap,
    /// Expiry (epoch seconds).
    pub expires_at: i64,
    /// Whether an MFA grant with this token succeeded (the token then allows enrolling more factors).
    #[serde(default)]
    pub mfa_passed: bool,
}

/// Stores `ticket` and signs the `mfa_token` that names it (a JWT; tampering breaks its signature).
pub async fn issue(tenant: &Tenant, ticket: &MfaTicket, now: i64) -> AuthResult<String> {
    let jti = ids::secret()?;
    let bytes = serde_json::to_vec(ticket).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
    tenant.store.put_ephemeral(Ephemeral::MfaTicket, &secret_key(&jti), &bytes, ticket.expires_at).await?;
    let claims = json!({
        "iss": tenant.config.issuer,
        "sub": ticket.user_id,
        "aud": tenant.config.mfa_audience(),
        "azp": ticket.client_id,
        "iat": now,
        "exp": ticket.expires_at,
        "jti": jti,
    });
    tenant.key_ring()?.sign_with_typ(&claims, "mfa+jwt")
}

/// Checks an `mfa_token` and loads its ticket: `(jti, ticket)`.
pub async fn verify(tenant: &Tenant, token: &str, now: i64) -> Result<(String, MfaTicket), OAuthError> {
    let malformed = || OAuthError::invalid_grant("Malformed mfa_token");
    let header = jsonwebtoken::decode_header(token).map_err(|_| malformed())?;
    if header.typ.as_deref() != Some("mfa+jwt") {
        return Err(malformed());
    }
    let ring = tenant.key_ring().map_err(OAuthError::server_error)?;
    let claims = match ring.verify(token, &tenant.config.issuer, Some(&tenant.config.mfa_audience())) {
        Ok(claims) => claims,
        Err(crate::AuthError::InvalidToken(reason)) if reason == "expired" => {
            return Err(OAuthError::expired_token("mfa_token is expired"));
        }
        Err(_) => return Err(malformed()),
    };
    let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(malformed)?.to_owned();
    let raw = tenant
        .store
        .get_ephemeral(Ephemeral::MfaTicket, &secret_key(&jti), now)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::expired_token("mfa_token is expired"))?;
    let ticket: MfaTicket = serde_json::from_slice(&raw).map_err(|_| malformed())?;
    if ticket.expires_at <= now {
        return Err(OAuthError::expired_token("mfa_token is expired"));
    }
    Ok((jti, ticket))
}

/// Stores `ticket` again under its `jti` (after a challenge passed, to let it enroll more factors).
pub async fn save(tenant: &Tenant, jti: &str, ticket: &MfaTicket) -> AuthResult<()> {
    let bytes = serde_json::to_vec(ticket).map_err(|e| crate::AuthError::Setup(e.to_string()))?;
    tenant.store.put_ephemeral(Ephemeral::MfaTicket, &secret_key(jti), &bytes, ticket.expires_at).await?;
    Ok(())
}
