//! ID tokens, access tokens and refresh tokens from a [`Grant`].
//!
//! ID token: `iss`, `sub`, `aud`, `azp`, `exp`, `iat`, `nonce`, `auth_time`, `sid`, `acr`/`amr` after MFA, profile
//! claims by scope, and the actions' custom claims. Access token: `iss`, `sub`, `aud` (the API, plus `/userinfo`
//! when `openid` was granted), `iat`, `exp`, `scope`, `azp`, `gty` where Auth0 sets it, and custom claims. Both are
//! RS256 JWTs signed with the tenant's active key.

use gatehouse_store::secret_key;
use gatehouse_types::config::{ClientConfig, TenantConfig};
use gatehouse_types::outcome::ScopeChanges;
use gatehouse_types::records::{Grant, RefreshToken, User};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::authorization;
use crate::directory::Directory;
use crate::error::AuthResult;
use crate::ids;
use crate::tenant::Tenant;

/// `acr_values` that demand MFA: the PAPE policy Auth0 documents, and the value seed 000's client sends.
pub const MFA_ACR_VALUES: [&str; 2] =
    ["http://schemas.openid.net/pape/policies/2007/06/multi-factor", "http://schemas.openid.net/pfi/2021/04/acr/mfa"];

/// The `acr` Auth0 puts in ID tokens after MFA.
pub const PAPE_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// Scopes of OpenID Connect (and `offline_access`) every client may ask for.
pub const OIDC_SCOPES: [&str; 6] = ["openid", "profile", "email", "phone", "address", "offline_access"];

/// The token endpoint's success body.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// The ID token, when `openid` was granted to a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// A refresh token, when `offline_access` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Access token lifetime, seconds.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// A recovery code replacing the one just used (MFA API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// The scopes a user grant receives: requested OIDC scopes and the requested scopes the API defines (with the
/// API's `enforce_policies`, only those the user's `roles` give a permission for), then the actions' changes (a
/// later add or remove wins, over RBAC too, as in Auth0). `offline_access` only when the client may refresh and
/// the API allows it.
pub fn granted_scopes(
    config: &TenantConfig,
    directory: &Directory,
    client: &ClientConfig,
    requested: &[String],
    audience: Option<&str>,
    roles: &[String],
    changes: &ScopeChanges,
) -> Vec<String> {
    let api = audience.and_then(|a| directory.api(a));
    let mfa_api = audience == Some(config.mfa_audience().as_str());
    let held = match api {
        Some(api) if api.enforce_policies => Some(directory.permissions(roles, &api.identifier)),
        _ => None,
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested {
        let allowed = match scope.as_str() {
            s if mfa_api && crate::scope::MFA_SCOPES.contains(&s) => true,
            "offline_access" => client.allows_grant("refresh_token") && api.is_none_or(|a| a.allow_offline_access),
            s if OIDC_SCOPES.contains(&s) => true,
            s => {
                api.is_some_and(|a| a.scopes.iter().any(|x| x == s))
                    && held.as_ref().is_none_or(|held| held.iter().any(|p| p == s))
            }
        };
        if allowed && !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    scopes.retain(|s| !changes.removed.contains(s));
    for added in &changes.added {
        if !scopes.contains(added) {
            scopes.push(added.clone());
        }
    }
    scopes
}

/// Profile claims by scope (OIDC Core §5.4).
fn profile_claims(user: &User, scopes: &[String], claims: &mut Map<String, Value>) {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            claims.insert(name.to_owned(), value);
        }
    };
    if has("profile") {
        put("name", user.name.clone().map(Value::from));
        put("nickname", user.nickname.clone().map(Value::from));
        put("given_name", user.given_name.clone().map(Value::from));
        put("family_name", user.family_name.clone().map(Value::from));
        put("picture", user.picture.clone().map(Value::from));
        // OIDC Core §5.1: seconds since the epoch (Auth0 sends a string, which strict clients reject).
        put("updated_at", crate::clock::parse_iso(&user.updated_at).map(Value::from));
    }
    if has("email") {
        put("email", Some(Value::from(user.email.clone())));
        put("email_verified", Some(Value::from(user.email_verified)));
    }
    if has("phone") {
        put("phone_number", user.phone_number.clone().map(Value::from));
        put("phone_number_verified", user.phone_number.as_ref().map(|_| Value::from(user.phone_verified)));
    }
}

pub use crate::scope::scopes_of;

/// The profile `/userinfo` returns for a grant's scopes.
pub fn userinfo(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from(user.user_id.clone()));
    profile_claims(user, scopes, &mut claims);
    claims
}

/// Signs an ID token for `grant`.
pub fn id_token(tenant: &Tenant, client: &ClientConfig, user: &User, grant: &Grant, now: i64) -> AuthResult<String> {
    let mut claims = Map::new();
    for (k, v) in &grant.id_token_claims {
        claims.insert(k.clone(), v.clone());
    }
    profile_claims(user, &grant.scope, &mut claims);
    let registered = json!({
        "iss": tenant.config.issuer,
        "sub": user.user_id,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + tenant.config.sessions.id_token_lifetime as i64,
        "auth_time": grant.auth_time,
    });
    if let Value::Object(registered) = registered {
        claims.extend(registered);
    }
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), Value::from(nonce.clone()));
    }
    if let Some(sid) = &grant.session_id {
        claims.insert("sid".into(), Value::from(sid.clone()));
    }
    if let Some(acr) = &grant.acr {
        claims.insert("acr".into(), Value::from(acr.clone()));
    }
    if !grant.amr.is_empty() {
        claims.insert("amr".into(), json!(grant.amr));
    }
    organization_claims(&tenant.config, &tenant.directory(), grant, &mut claims);
    tenant.key_ring()?.sign(&Value::Object(claims))
}

/// Signs an access token in its API's dialect. `subject` is the user id, or `<client_id>@clients` for client
/// credentials; `permissions` what an `*_authz` dialect lists (the user's permissions for the API, or a client's
/// granted scopes); `jti` is chosen by the caller when it must be able to revoke the token later, else random.
pub fn access_token(
    tenant: &Tenant,
    subject: &str,
    grant: &Grant,
    gty: Option<&str>,
    permissions: &[String],
    jti: Option<&str>,
    now: i64,
) -> AuthResult<(String, u64)> {
    let config = &tenant.config;
    let directory = tenant.directory();
    let api = grant.audience.as_deref().and_then(|a| directory.api(a));
    let dialect = api.map(|a| a.dialect()).unwrap_or_default();
    let userinfo = format!("{}userinfo", config.issuer);
    let lifetime = api
        .map(|a| a.token_lifetime)
        .unwrap_or(if grant.audience.as_deref() == Some(config.mfa_audience().as_str()) { 600 } else { 86_400 });
    let audience: Value = match (&grant.audience, grant.scope.iter().any(|s| s == "openid")) {
        (Some(api), true) => json!([api, userinfo]),
        (Some(api), false) => json!(api),
        (None, _) => json!(userinfo),
    };
    let mut claims = Map::new();
    for (k, v) in &grant.access_token_claims {
        claims.insert(k.clone(), v.clone());
    }
    let registered = json!({
        "iss": config.issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime as i64,
        "scope": grant.scope.join(" "),
        "azp": grant.client_id,
        "jti": match jti {
            Some(jti) => jti.to_owned(),
            None => ids::hex(16)?,
        },
    });
    if let Value::Object(registered) = registered {
        claims.extend(registered);
    }
    if let Some(gty) = gty {
        claims.insert("gty".into(), Value::from(gty));
    }
    organization_claims(config, &directory, grant, &mut claims);
    if dialect.with_permissions() {
        claims.insert("permissions".into(), json!(permissions));
    }
    let ring = tenant.key_ring()?;
    let token = if dialect.rfc9068() {
        // RFC 9068 §2.2: `client_id` names the client; the header says what the token is.
        claims.insert("client_id".into(), Value::from(grant.client_id.clone()));
        claims.remove("azp");
        ring.sign_with_typ(&Value::Object(claims), "at+jwt")?
    } else {
        ring.sign(&Value::Object(claims))?
    };
    Ok((token, lifetime))
}

/// `org_id` of a grant through an organization, and `org_name` when the tenant puts names in tokens.
fn organization_claims(config: &TenantConfig, directory: &Directory, grant: &Grant, claims: &mut Map<String, Value>) {
    let Some(id) = &grant.organization else { return };
    claims.insert("org_id".into(), Value::from(id.clone()));
    if config.organization_names_in_tokens
        && let Some(org) = directory.organization(id)
    {
        claims.insert("org_name".into(), Value::from(org.name.clone()));
    }
}

/// The longest lifetime of any access token this tenant issues (a revocation must outlive every token it names).
pub fn longest_access_token_lifetime(directory: &Directory) -> i64 {
    directory.apis.iter().map(|a| a.token_lifetime as i64).chain([86_400]).max().unwrap_or(86_400)
}

/// Whether the access token with these (verified) claims was revoked before its expiry (its authorization code
/// was replayed). Store failures are returned: the caller refuses the token.
pub async fn is_revoked(tenant: &Tenant, claims: &Map<String, Value>) -> AuthResult<bool> {
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else { return Ok(false) };
    let revoked =
        tenant.store.get_ephemeral(gatehouse_store::Ephemeral::RevokedToken, &secret_key(jti), tenant.now()).await?;
    Ok(revoked.is_some())
}

/// Stores a new refresh token for `grant` (in `family`, or a new family) and returns the secret.
pub async fn new_refresh_token(
    tenant: &Tenant,
    grant: &Grant,
    family: Option<(String, i64)>,
    now: i64,
) -> AuthResult<String> {
    let secret = ids::secret()?;
    let (family, expires_at) =
        family.unwrap_or((ids::public_id("rtf_")?, now + tenant.config.sessions.refresh_token_lifetime as i64));
    let record = RefreshToken {
        id: ids::public_id("rt_")?,
        family,
        grant: grant.clone(),
        created_at: now,
        expires_at,
        used_at: None,
    };
    tenant.store.save_refresh_token(&secret_key(&secret), &record).await?;
    Ok(secret)
}

/// How [`issue_user_tokens`] issues: the defaults (a random `jti`, a new refresh family) suit most grants.
#[derive(Clone, Debug, Default)]
pub struct Issue {
    /// The access token's `jti` (an authorization code exchange picks it, to revoke it if the code is replayed).
    pub access_jti: Option<String>,
    /// The refresh family and its expiry: renewing keeps the family; a code exchange names a new one.
    pub family: Option<(String, i64)>,
}

/// Issues the tokens of a user grant: access token, ID token when `openid` is granted, refresh token when
/// `offline_access` is.
pub async fn issue_user_tokens(
    tenant: &Tenant,
    client: &ClientConfig,
    user: &User,
    grant: &Grant,
    issue: Issue,
    now: i64,
) -> AuthResult<TokenResponse> {
    let Issue { access_jti, family } = issue;
    let directory = tenant.directory();
    let roles = authorization::roles(&directory, user, grant.organization.as_deref());
    let permissions =
        grant.audience.as_deref().map(|audience| directory.permissions(&roles, audience)).unwrap_or_default();
    let (access_token, expires_in) =
        access_token(tenant, &user.user_id, grant, None, &permissions, access_jti.as_deref(), now)?;
    let id_token = if grant.scope.iter().any(|s| s == "openid") {
        Some(id_token(tenant, client, user, grant, now)?)
    } else {
        None
    };
    let refresh_token = if grant.scope.iter().any(|s| s == "offline_access") {
        Some(new_refresh_token(tenant, grant, family, now).await?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        id_token,
        refresh_token,
        scope: grant.scope.join(" "),
        expires_in,
        token_type: "Bearer",
        recovery_code: None,
    })
}
