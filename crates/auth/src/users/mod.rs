//! Operations on users and their MFA enrollments, shared by the Management API, the MFA API and the CLI.

use gatehouse_store::StoreError;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use gatehouse_types::{FactorType, JsonMap};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::attempts;
use crate::clock;
use crate::crypto::password::hash_password;
use crate::crypto::recovery;
use crate::crypto::totp;
use crate::ids;
use crate::tenant::Tenant;
use gatehouse_types::merge_metadata;

mod authentication_methods;
pub mod password_policy;
mod search;

pub use authentication_methods::*;
pub use search::*;

/// What can go wrong managing users.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// No such user or enrollment.
    #[error("{0}")]
    NotFound(String),
    /// Already exists.
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// Storage or crypto failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => UserError::Conflict(m),
            other => UserError::Internal(other.to_string()),
        }
    }
}

impl From<crate::AuthError> for UserError {
    fn from(e: crate::AuthError) -> Self {
        match e {
            crate::AuthError::Store(s) => s.into(),
            other => UserError::Internal(other.to_string()),
        }
    }
}

/// Result of user operations.
pub type UserResult<T> = Result<T, UserError>;

/// A new user (`POST /api/v2/users`, `gatehouse users add`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Email, the login name.
    pub email: String,
    /// Password (at least 8 characters).
    pub password: Option<String>,
    /// Must be `Username-Password-Authentication` when given.
    #[serde(default)]
    pub connection: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Nickname.
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
    /// Whether the email is verified (default false).
    #[serde(default)]
    pub email_verified: bool,
    /// Whether the phone number is verified.
    #[serde(default)]
    pub phone_verified: bool,
    /// Blocked.
    #[serde(default)]
    pub blocked: bool,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `app_metadata`.
    #[serde(default)]
    pub app_metadata: JsonMap,
    /// `user_metadata`.
    #[serde(default)]
    pub user_metadata: JsonMap,
    /// Ignored (Auth0 sends verification emails; Gatehouse does not).
    #[serde(default)]
    pub verify_email: Option<bool>,
}

/// Changes to a user (`PATCH /api/v2/users/{id}`); metadata objects are merged, `null` values remove keys.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New email.
    #[serde(default)]
    pub email: Option<String>,
    /// New password.
    #[serde(default)]
    pub password: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Nickname.
    #[serde(default)]
    pub nickname: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Picture.
    #[serde(default)]
    pub picture: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Email verified.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Phone verified.
    #[serde(default)]
    pub phone_verified: Option<bool>,
    /// Blocked.
    #[serde(default)]
    pub blocked: Option<bool>,
    /// Role names (replaces the list).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Merged into `app_metadata`.
    #[serde(default)]
    pub app_metadata: Option<JsonMap>,
    /// Merged into `user_metadata`.
    #[serde(default)]
    pub user_metadata: Option<JsonMap>,
    /// Ignored.
    #[serde(default)]
    pub connection: Option<String>,
    /// Ignored.
    #[serde(default)]
    pub verify_email: Option<bool>,
}

/// An address Gatehouse stores and mails: one `@`, a dotted domain, at most 254 characters, and no whitespace,
/// control or invisible formatting character (a NUL, a line break that could inject a mail header, a
/// right-to-left override that makes `moc.evil@x` read as another address in a log or an admin page).
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else { return false };
    let hidden = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(hidden)
}

async fn hash(password: String) -> UserResult<String> {
    if password.chars().count() < 8 {
        return Err(UserError::BadRequest(
            "PasswordStrengthError: Password is too weak (at least 8 characters)".into(),
        ));
    }
    crate::crypto::password::run_argon2(move || hash_password(&password))
        .await
        .map_err(|e| UserError::Internal(e.to_string()))?
        .map_err(UserError::from)
}

/// Creates a user in the database connection.
pub async fn create_user(tenant: &Tenant, new: NewUser) -> UserResult<User> {
    let email = new.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(UserError::BadRequest(
            "Payload validation error: 'Object didn't pass validation for format email' on property email".into(),
        ));
    }
    if let Some(connection) = &new.connection
        && *connection != tenant.config.connection.name
    {
        return Err(UserError::BadRequest(format!("The connection does not exist: {connection}")));
    }
    let password = match new.password {
        Some(p) => Some(hash(p).await?),
        None => {
            return Err(UserError::BadRequest(
                "Payload validation error: 'Missing required property: password'".into(),
            ));
        }
    };
    let now = tenant.now_iso();
    let user = User {
        user_id: ids::user_id()?,
        email: email.clone(),
        email_verified: new.email_verified,
        name: new.name.or_else(|| Some(email.clone())),
        nickname: new.nickname.or_else(|| email.split('@').next().map(str::to_owned)),
        given_name: new.given_name,
        family_name: new.family_name,
        picture: new.picture,
        phone_number: new.phone_number,
        phone_verified: new.phone_verified,
        password_hash: password,
        connection: tenant.config.connection.name.clone(),
        roles: new.roles,
        app_metadata: new.app_metadata,
        user_metadata: new.user_metadata,
        created_at: now.clone(),
        updated_at: now,
        last_login: None,
        logins_count: 0,
        last_password_reset: None,
        blocked: new.blocked,
        username: None,
        attributes: Default::default(),
    };
    match tenant.store.create_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(UserError::Conflict("The user already exists.".into())),
        Err(e) => Err(e.into()),
    }
}

/// `user` with actions' metadata changes merged in (`null` removes a key), as one atomic
/// [`gatehouse_store::Store::update_user`] change applies them: a concurrent change of the user (a password reset)
/// is kept.
pub fn with_metadata(user: &User, app_metadata: &JsonMap, user_metadata: &JsonMap, now: &str) -> User {
    let mut next = user.clone();
    merge_metadata(&mut next.app_metadata, app_metadata);
    merge_metadata(&mut next.user_metadata, user_metadata);
    next.updated_at = now.to_owned();
    next
}

/// A user by id.
pub async fn find_user(tenant: &Tenant, user_id: &str) -> UserResult<User> {
    tenant.store.find_user(user_id).await?.ok_or_else(|| UserError::NotFound("The user does not exist.".into()))
}

/// A user by id or email (the CLI's way of naming users).
pub async fn find_user_by_id_or_email(tenant: &Tenant, who: &str) -> UserResult<User> {
    let found = if who.contains('@') && !who.starts_with("auth0|") {
        tenant.store.find_user_by_email(who).await?
    } else {
        tenant.store.find_user(who).await?
    };
    found.ok_or_else(|| UserError::NotFound(format!("No user {who}")))
}

/// Applies a patch (Management API `PATCH /api/v2/users/{id}`, the CLI).
///
/// The whole patch, a new address included, is one atomic change of the stored user
/// ([`Store::update_user_with_email`]): a login's count, a reset or an action's metadata landing meanwhile is
/// neither lost nor overwritten, two patches of different metadata keys both stay, and a new address moves the
/// email index in the same write (refused, with nothing changed, when another account has it).
///
/// [`Store::update_user_with_email`]: gatehouse_store::Store::update_user_with_email
pub async fn update_user(tenant: &Tenant, user_id: &str, patch: UserPatch) -> UserResult<User> {
    // An unknown user is answered before a password is hashed for it.
    find_user(tenant, user_id).await?;
    let email = match patch.email {
        Some(email) => {
            let email = email.trim().to_lowercase();
            if !valid_email(&email) {
                return Err(UserError::BadRequest(
                    "Payload validation error: 'Object didn't pass validation for format email' on property email"
                        .into(),
                ));
            }
            Some(email)
        }
        None => None,
    };
    // Hashed before the change: the change itself must be pure (the store may run it again).
    let password_hash = match patch.password {
        Some(password) => Some(hash(password).await?),
        None => None,
    };
    let now = tenant.now_iso();
    let apply = |stored: &User| {
        let mut user = stored.clone();
        if let Some(email) = &email {
            user.email = email.clone();
        }
        if let Some(hash) = &password_hash {
            user.password_hash = Some(hash.clone());
            user.last_password_reset = Some(now.clone());
        }
        let set = |target: &mut Option<String>, value: &Option<String>| {
            if let Some(v) = value {
                *target = Some(v.clone());
            }
        };
        set(&mut user.name, &patch.name);
        set(&mut user.nickname, &patch.nickname);
        set(&mut user.given_name, &patch.given_name);
        set(&mut user.family_name, &patch.family_name);
        set(&mut user.picture, &patch.picture);
        set(&mut user.phone_number, &patch.phone_number);
        if let Some(v) = patch.email_verified {
            user.email_verified = v;
        }
        if let Some(v) = patch.phone_verified {
            user.phone_verified = v;
        }
        if let Some(v) = patch.blocked {
            user.blocked = v;
        }
        if let Some(roles) = &patch.roles {
            user.roles = roles.clone();
        }
        if let Some(changes) = &patch.app_metadata {
            merge_metadata(&mut user.app_metadata, changes);
        }
        if let Some(changes) = &patch.user_metadata {
            merge_metadata(&mut user.user_metadata, changes);
        }
        user.updated_at = now.clone();
        Some(user)
    };
    let user = match tenant.store.update_user_with_email(user_id, &apply).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(UserError::NotFound("The user does not exist.".into())),
        Err(StoreError::Conflict(_)) => {
            return Err(UserError::Conflict("The specified new email already exists".into()));
        }
        Err(e) => return Err(e.into()),
    };
    if password_hash.is_some() {
        // A password change unblocks brute-force blocks (Auth0 does the same).
        tenant.store.clear_login_attempts(&user.email, None).await?;
    }
    Ok(user)
}

/// Deletes a user, their authenticators, sessions, refresh tokens, consents and memberships.
pub async fn delete_user(tenant: &Tenant, user_id: &str) -> UserResult<()> {
    tenant.store.delete_user_sessions(user_id).await?;
    tenant.store.revoke_user_refresh_tokens(user_id, None).await?;
    crate::directory::consents::delete_user_consents(tenant, user_id)
        .await
        .map_err(|e| UserError::Internal(e.to_string()))?;
    let orgs: Vec<String> = tenant.directory().organizations_of(user_id).iter().map(|o| o.id.clone()).collect();
    for org in orgs {
        crate::directory::organizations::remove_members(tenant, &org, &[user_id.to_owned()])
            .await
            .map_err(|e| UserError::Internal(e.to_string()))?;
    }
    tenant.store.delete_user(user_id).await?;
    Ok(())
}

/// A new active (or pending) authenticator for `user`.
pub fn authenticator(user: &User, kind: AuthenticatorKind, active: bool, now: i64) -> UserResult<Authenticator> {
    Ok(Authenticator {
        id: ids::authenticator_id(kind.id_prefix())?,
        user_id: user.user_id.clone(),
        kind,
        active,
        created_at: clock::iso(now),
        last_auth_at: None,
        attempts_left: attempts::CAPACITY,
        attempts_updated: now,
    })
}

/// Starts a TOTP enrollment (MFA API `associate`): a new secret, pending until its first code is verified.
/// Returns the authenticator with its `otpauth://` URI.
pub async fn enroll_pending_otp(tenant: &Tenant, user: &User) -> UserResult<(Authenticator, String)> {
    let secret = totp::new_secret()?;
    let uri = totp::otpauth_uri(&secret, &tenant.config.friendly_name, &user.email);
    let authenticator = authenticator(user, AuthenticatorKind::Otp { secret, last_step: 0 }, false, tenant.now())?;
    tenant.store.save_authenticator(&authenticator).await?;
    Ok((authenticator, uri))
}

/// Replaces the user's recovery code with a new one; returns the code (shown once).
pub async fn regenerate_recovery_code(tenant: &Tenant, user: &User) -> UserResult<String> {
    let (code, hash) = recovery::new_hashed_recovery_code().await?;
    let existing = tenant.store.find_authenticators(&user.user_id).await?;
    for old in existing.iter().filter(|a| matches!(a.kind, AuthenticatorKind::RecoveryCode { .. })) {
        tenant.store.delete_authenticator(&user.user_id, &old.id).await?;
    }
    let authenticator = authenticator(user, AuthenticatorKind::RecoveryCode { hash }, true, tenant.now())?;
    tenant.store.save_authenticator(&authenticator).await?;
    Ok(code)
}

/// Removes every MFA enrollment of a user; returns how many.
pub async fn reset_mfa(tenant: &Tenant, user: &User) -> UserResult<usize> {
    let existing = tenant.store.find_authenticators(&user.user_id).await?;
    let mut removed = 0;
    for authenticator in &existing {
        if tenant.store.delete_authenticator(&user.user_id, &authenticator.id).await? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// A user as the Management API shows it (never the password hash).
pub fn user_view(user: &User) -> Value {
    let mut view = json!({
        "user_id": user.user_id,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
        "nickname": user.nickname,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "identities": [{
            "connection": user.connection,
            "provider": "auth0",
            "user_id": user.user_id.trim_start_matches("auth0|"),
            "isSocial": false,
        }],
        "app_metadata": user.app_metadata,
        "user_metadata": user.user_metadata,
        "logins_count": user.logins_count,
        "blocked": user.blocked,
    });
    if let Some(map) = view.as_object_mut() {
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                map.insert(k.to_owned(), v);
            }
        };
        put("username", user.username.clone().map(Value::from));
        put("given_name", user.given_name.clone().map(Value::from));
        put("family_name", user.family_name.clone().map(Value::from));
        put("picture", user.picture.clone().map(Value::from));
        put("phone_number", user.phone_number.clone().map(Value::from));
        put("phone_verified", user.phone_number.as_ref().map(|_| Value::from(user.phone_verified)));
        put("last_login", user.last_login.clone().map(Value::from));
        put("last_password_reset", user.last_password_reset.clone().map(Value::from));
        put("roles", (!user.roles.is_empty()).then(|| json!(user.roles)));
    }
    view
}

/// The factors a user is enrolled in, for display.
pub fn factor_of(authenticator: &Authenticator) -> FactorType {
    authenticator.kind.factor()
}

// ---- listing and searching users (`GET /api/v2/users`, `GET /api/v2/users-by-email`) ----

#[cfg(test)]
mod tests {
    use super::authentication_methods::is_method;
    use super::search::glob;
    use super::*;

    #[test]
    fn emails_with_control_or_invisible_characters_are_refused() {
        assert!(valid_email("jane@example.com"));
        assert!(valid_email("山田@example.jp"));
        for bad in [
            "jane\u{0}@example.com",
            "jane@example.com\r\nBcc: x@evil.example",
            "jane\u{202e}moc.live@example.com",
            "jane\u{200b}@example.com",
            "jane @example.com",
            "jane@example.com.",
            "a@b@example.com",
            "@example.com",
            "jane@example",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
        assert!(!valid_email(&format!("{}@example.com", "a".repeat(250))));
    }

    fn view() -> Value {
        json!({
            "user_id": "auth0|abc",
            "email": "jane@example.com",
            "email_verified": true,
            "name": "Jane Doe",
            "logins_count": 7,
            "created_at": "2025-03-01T10:00:00.000Z",
            "identities": [{ "connection": "Username-Password-Authentication", "provider": "auth0" }],
            "app_metadata": { "plan": "gold", "tags": ["beta", "staff"], "org": { "id": "o1" } },
        })
    }

    fn hit(q: &str) -> bool {
        UserQuery::parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).matches(&view())
    }

    #[test]
    fn terms_fields_and_wildcards() {
        assert!(hit(""));
        assert!(hit("email:jane@example.com"));
        assert!(hit("email:\"JANE@example.com\""));
        assert!(!hit("email:jane"));
        assert!(hit("email:jane*"));
        assert!(hit("email:*@example.?om"));
        assert!(hit("name:\"Jane Doe\""));
        assert!(hit("app_metadata.plan:gold"));
        assert!(hit("app_metadata.tags:staff"));
        assert!(hit("app_metadata.org.id:o1"));
        assert!(hit("identities.connection:\"Username-Password-Authentication\""));
        assert!(hit("email_verified:true"));
        assert!(hit("jan"), "a bare word searches the default fields");
        assert!(hit("\"jane doe\""));
        assert!(!hit("nobody"));
    }

    #[test]
    fn existence_and_ranges() {
        assert!(hit("_exists_:app_metadata.plan"));
        assert!(hit("app_metadata.plan:*"));
        assert!(!hit("_exists_:given_name"));
        assert!(hit("logins_count:[7 TO 10]"));
        assert!(!hit("logins_count:{7 TO 10}"));
        assert!(hit("logins_count:[5 TO *]"));
        assert!(!hit("logins_count:[8 TO *]"));
        assert!(hit("created_at:[2025-01-01 TO 2025-12-31]"));
        assert!(!hit("created_at:[2025-04-01 TO *]"));
    }

    #[test]
    fn boolean_operators() {
        assert!(hit("email:jane@example.com AND app_metadata.plan:gold"));
        assert!(hit("email:jane@example.com app_metadata.plan:gold"));
        assert!(!hit("email:jane@example.com AND app_metadata.plan:silver"));
        assert!(hit("app_metadata.plan:silver OR email:jane*"));
        assert!(!hit("NOT email:jane*"));
        assert!(!hit("-email:jane*"));
        assert!(hit("-app_metadata.plan:silver"));
        assert!(hit("app_metadata.plan:silver OR -email:bob* email:jane*"), "AND binds tighter than OR");
    }

    #[test]
    fn malformed_queries_are_refused() {
        for q in [
            "(email:a)",
            "email:\"open",
            "logins_count:[1 TO",
            "logins_count:[1 2]",
            "OR email:a",
            "email:a OR",
            ":a",
            "email:",
        ] {
            assert!(matches!(UserQuery::parse(q), Err(UserError::BadRequest(_))), "{q}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("j*e", "jane"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b", "aXc"));
        assert!(glob("?", "x"));
        assert!(!glob("?", ""));
    }

    #[test]
    fn views_never_show_secrets() {
        let user = User {
            user_id: "auth0|abc".into(),
            email: "jane@example.com".into(),
            email_verified: true,
            name: None,
            nickname: None,
            given_name: None,
            family_name: None,
            picture: None,
            phone_number: None,
            phone_verified: false,
            password_hash: Some("$argon2id$secret".into()),
            connection: gatehouse_types::config::DEFAULT_CONNECTION.into(),
            roles: Vec::new(),
            app_metadata: JsonMap::new(),
            user_metadata: JsonMap::new(),
            created_at: "2025-01-01T00:00:00.000Z".into(),
            updated_at: "2025-01-01T00:00:00.000Z".into(),
            last_login: None,
            logins_count: 0,
            last_password_reset: None,
            blocked: false,
            username: None,
            attributes: Default::default(),
        };
        assert!(!user_view(&user).to_string().contains("argon2"));
        let otp = authenticator(
            &user,
            AuthenticatorKind::Otp { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(), last_step: 3 },
            true,
            1_700_000_000,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let recovery = authenticator(
            &user,
            AuthenticatorKind::RecoveryCode { hash: "$argon2id$code".into() },
            true,
            1_700_000_000,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for a in [&otp, &recovery] {
            let text = format!("{}{:?}", authentication_method_view(a), enrollment_view(a));
            assert!(!text.contains("JBSWY3DP") && !text.contains("argon2") && !text.contains("attempts"), "{text}");
        }
        let phone = authenticator(
            &user,
            AuthenticatorKind::Phone { phone_number: "+14155550100".into(), method: "voice".into() },
            true,
            1_700_000_000,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let view = authentication_method_view(&phone);
        assert!(view["id"].as_str().is_some_and(|id| id.starts_with("phone|dev_")), "{view}");
        assert_eq!(view["authentication_methods"][0]["id"], phone.id);
        assert!(is_method(&phone, view["id"].as_str().unwrap_or_default()) && is_method(&phone, &phone.id));
        assert_eq!(enrollment_view(&phone).map(|e| e["status"].clone()), Some(json!("confirmed")));
    }
}
