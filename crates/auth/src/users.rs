//! Operations on users and their MFA enrollments, shared by the Management API, the MFA API and the CLI.

use gatehouse_store::StoreError;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use gatehouse_types::{FactorType, JsonMap};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::attempts;
use crate::clock;
use crate::ids;
use crate::login::event::DATABASE_CONNECTION;
use crate::login::merge_metadata;
use crate::password::hash_password;
use crate::recovery;
use crate::tenant::Tenant;
use crate::totp;

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

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !email.chars().any(char::is_whitespace)
}

async fn hash(password: String) -> UserResult<String> {
    if password.chars().count() < 8 {
        return Err(UserError::BadRequest("PasswordStrengthError: Password is too weak (at least 8 characters)".into()));
    }
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| UserError::Internal(e.to_string()))?
        .map_err(UserError::from)
}

/// Creates a user in the database connection.
pub async fn create_user(tenant: &Tenant, new: NewUser) -> UserResult<User> {
    let email = new.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(UserError::BadRequest("Payload validation error: 'Object didn't pass validation for format email' on property email".into()));
    }
    if let Some(connection) = &new.connection
        && connection != DATABASE_CONNECTION
    {
        return Err(UserError::BadRequest(format!("The connection does not exist: {connection}")));
    }
    let password = match new.password {
        Some(p) => Some(hash(p).await?),
        None => return Err(UserError::BadRequest("Payload validation error: 'Missing required property: password'".into())),
    };
    let now = clock::now_iso();
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
        connection: DATABASE_CONNECTION.to_owned(),
        roles: new.roles,
        app_metadata: new.app_metadata,
        user_metadata: new.user_metadata,
        created_at: now.clone(),
        updated_at: now,
        last_login: None,
        logins_count: 0,
        last_password_reset: None,
        blocked: new.blocked,
    };
    match tenant.store.create_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(UserError::Conflict("The user already exists.".into())),
        Err(e) => Err(e.into()),
    }
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

/// Applies a patch.
pub async fn update_user(tenant: &Tenant, user_id: &str, patch: UserPatch) -> UserResult<User> {
    let mut user = find_user(tenant, user_id).await?;
    if let Some(email) = patch.email {
        let email = email.trim().to_lowercase();
        if !valid_email(&email) {
            return Err(UserError::BadRequest("Payload validation error: 'Object didn't pass validation for format email' on property email".into()));
        }
        user.email = email;
    }
    if let Some(password) = patch.password {
        user.password_hash = Some(hash(password).await?);
        user.last_password_reset = Some(clock::now_iso());
        // A password change unblocks brute-force blocks (Auth0 does the same).
        tenant.store.clear_login_attempts(&user.email, None).await?;
    }
    let set = |target: &mut Option<String>, value: Option<String>| {
        if let Some(v) = value {
            *target = Some(v);
        }
    };
    set(&mut user.name, patch.name);
    set(&mut user.nickname, patch.nickname);
    set(&mut user.given_name, patch.given_name);
    set(&mut user.family_name, patch.family_name);
    set(&mut user.picture, patch.picture);
    set(&mut user.phone_number, patch.phone_number);
    if let Some(v) = patch.email_verified {
        user.email_verified = v;
    }
    if let Some(v) = patch.phone_verified {
        user.phone_verified = v;
    }
    if let Some(v) = patch.blocked {
        user.blocked = v;
    }
    if let Some(roles) = patch.roles {
        user.roles = roles;
    }
    if let Some(changes) = patch.app_metadata {
        merge_metadata(&mut user.app_metadata, &changes);
    }
    if let Some(changes) = patch.user_metadata {
        merge_metadata(&mut user.user_metadata, &changes);
    }
    user.updated_at = clock::now_iso();
    match tenant.store.save_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(UserError::Conflict("The specified new email already exists".into())),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a user, their authenticators, sessions and refresh tokens.
pub async fn delete_user(tenant: &Tenant, user_id: &str) -> UserResult<()> {
    tenant.store.delete_user_sessions(user_id).await?;
    tenant.store.revoke_user_refresh_tokens(user_id, None).await?;
    tenant.store.delete_user(user_id).await?;
    Ok(())
}

/// A new active (or pending) authenticator for `user`.
pub fn authenticator(user: &User, kind: AuthenticatorKind, active: bool) -> UserResult<Authenticator> {
    let now = clock::now();
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

/// Enrolls a TOTP authenticator (a new secret unless one is given); returns it with its `otpauth://` URI.
pub async fn enroll_otp(tenant: &Tenant, user: &User, secret: Option<String>, active: bool) -> UserResult<(Authenticator, String)> {
    let secret = match secret {
        Some(s) => {
            let s = s.replace(' ', "").to_uppercase();
            if totp::current_code(&s, clock::now()).is_err() {
                return Err(UserError::BadRequest("totp_secret must be base32 and at least 128 bits".into()));
            }
            s
        }
        None => totp::new_secret()?,
    };
    let uri = totp::otpauth_uri(&secret, &tenant.config.friendly_name, &user.email);
    let authenticator = authenticator(user, AuthenticatorKind::Otp { secret, last_step: 0 }, active)?;
    tenant.store.save_authenticator(&authenticator).await?;
    Ok((authenticator, uri))
}

/// Replaces the user's recovery code with a new one; returns the code (shown once).
pub async fn regenerate_recovery_code(tenant: &Tenant, user: &User) -> UserResult<String> {
    let code = recovery::new_recovery_code()?;
    let hash = recovery::hash_recovery_code(&code)?;
    let existing = tenant.store.find_authenticators(&user.user_id).await?;
    for old in existing.iter().filter(|a| matches!(a.kind, AuthenticatorKind::RecoveryCode { .. })) {
        tenant.store.delete_authenticator(&user.user_id, &old.id).await?;
    }
    let authenticator = authenticator(user, AuthenticatorKind::RecoveryCode { hash }, true)?;
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
