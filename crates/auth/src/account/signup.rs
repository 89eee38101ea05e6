//! Sign-up to the database connection: `POST /dbconnections/signup` and the hosted `/u/signup` page.
//!
//! In order: the connection and client, `disable_signup`, the per-IP limit (log `limit_mu`), the address and
//! username, the password policy, the `pre-user-registration` actions (which may refuse, or set metadata), then
//! the user is stored (log `ss`). What follows, the verification email and the `post-user-registration` actions,
//! runs after the answer ([`AfterSignup`], as Auth0 runs that trigger asynchronously); its failure is logged and
//! never undoes the sign-up. Every refusal after the limit is logged `fs`.
//!
//! A taken address answers Auth0's `invalid_signup` ("Invalid sign up"), the same as other refusals of the
//! request, and only after the password was hashed, so neither the answer nor its timing tells whether an address
//! has an account.

use gatehouse_store::{Collection, RateDecision, RateLimit, StoreError};
use gatehouse_types::account::AccountResult;
use gatehouse_types::records::User;
use gatehouse_types::{JsonMap, Trigger};
use serde_json::{Value, json};

use crate::account::{
    AccountError, check_connection, client, connection_event, request_event, user_event, verification,
};
use crate::context::{RequestContext, RequestInfo};
use crate::crypto::password::{hash_password, run_argon2};
use crate::ids;
use crate::tenant::Tenant;
use crate::users::password_policy::{PasswordPolicy, PersonalInfo};
use crate::users::valid_email;

/// A sign-up request, as `/dbconnections/signup` takes it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SignupRequest {
    /// The application.
    #[serde(default)]
    pub client_id: String,
    /// The address, the login name.
    #[serde(default)]
    pub email: String,
    /// The password.
    #[serde(default)]
    pub password: String,
    /// Must name the database connection.
    #[serde(default)]
    pub connection: Option<String>,
    /// Required when the connection has `requires_username`.
    #[serde(default)]
    pub username: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Nickname.
    #[serde(default)]
    pub nickname: Option<String>,
    /// Picture URL.
    #[serde(default)]
    pub picture: Option<String>,
    /// `user_metadata` (string values, as Auth0 requires on sign-up).
    #[serde(default)]
    pub user_metadata: Option<JsonMap>,
}

/// The longest a name field may be (Auth0 caps profile strings too).
const MAX_FIELD: usize = 300;

fn sign_ups_per_hour(ctx: &RequestContext<'_>) -> RateLimit {
    RateLimit { capacity: ctx.tenant.config.attack_protection.signups_per_ip_per_hour.max(1), window_secs: 3600 }
}

/// A username Auth0 accepts by default: 1 to 15 characters of letters, digits and `_ . - + ! # $ ' ^ ` ~ @`,
/// not shaped like an address.
fn valid_username(username: &str) -> bool {
    let length = username.chars().count();
    (1..=15).contains(&length)
        && username.chars().all(|c| c.is_ascii_alphanumeric() || "_.-+!#$'^`~".contains(c))
        && !username.contains('@')
}

fn check_fields(request: &SignupRequest) -> Result<(), AccountError> {
    let fields = [&request.given_name, &request.family_name, &request.name, &request.nickname, &request.picture];
    for value in fields.into_iter().flatten() {
        if value.chars().count() > MAX_FIELD || value.chars().any(char::is_control) {
            return Err(AccountError::bad(
                "invalid_signup",
                "A profile field is too long or holds control characters.",
            ));
        }
    }
    if let Some(metadata) = &request.user_metadata {
        if metadata.len() > 10 || metadata.values().any(|v| !v.is_string()) {
            return Err(AccountError::bad(
                "invalid_signup",
                "user_metadata takes at most 10 properties, each a string.",
            ));
        }
        if Value::Object(metadata.clone()).to_string().len() > 16 * 1024 {
            return Err(AccountError::bad("invalid_signup", "user_metadata is too large."));
        }
    }
    Ok(())
}

/// What a successful sign-up answers (Auth0's body: `_id` without the `auth0|` prefix).
pub fn signup_view(user: &User) -> Value {
    let mut view = json!({
        "_id": user.user_id.trim_start_matches("auth0|"),
        "email_verified": user.email_verified,
        "email": user.email,
    });
    if let Some(map) = view.as_object_mut() {
        for (key, value) in [
            ("username", &user.username),
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
            ("name", &user.name),
            ("nickname", &user.nickname),
            ("picture", &user.picture),
        ] {
            if let Some(value) = value {
                map.insert(key.to_owned(), Value::from(value.clone()));
            }
        }
        if !user.user_metadata.is_empty() {
            map.insert("user_metadata".into(), Value::Object(user.user_metadata.clone()));
        }
    }
    view
}

/// What follows a sign-up, after the answer: the verification email and the `post-user-registration` actions.
#[derive(Clone, Debug)]
pub struct AfterSignup {
    /// The new user.
    pub user: User,
    /// The application signed up through.
    pub client_id: String,
    /// The language of the email and of the event.
    pub lang: String,
    /// The sign-up request's facts (for the event and the logs).
    pub request: RequestInfo,
}

impl AfterSignup {
    /// Mails the verification link and runs `post-user-registration`; failures are logged, nothing is undone.
    pub async fn run(self, tenant: &Tenant) {
        let AfterSignup { user, client_id, lang, request } = self;
        match verification::send(tenant, &user, Some(&client_id), &lang).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(user_id = %user.user_id, "verification email not sent: limit reached"),
            Err(e) => tracing::error!(user_id = %user.user_id, error = %e, "could not send the verification email"),
        }
        let ctx = RequestContext { tenant, request: &request };
        post_registration(&ctx, &user, &lang).await;
    }
}

/// Signs a user up. `lang` is the language of the verification email and of the actions' `event.transaction`.
/// The caller runs the returned [`AfterSignup`] once it has answered.
pub async fn sign_up(
    ctx: &RequestContext<'_>,
    request: SignupRequest,
    lang: &str,
) -> Result<(User, AfterSignup), AccountError> {
    let tenant = ctx.tenant;
    let connection = &tenant.config.connection;
    check_connection(ctx, request.connection.as_deref())?;
    let app = client(ctx, &request.client_id)?;
    if connection.disable_signup {
        return Err(AccountError::SignupDisabled);
    }
    let refuse = |description: String, user_name: Option<&str>| {
        let mut entry = crate::logs::entry("fs", description, ctx.request, Some(app), None);
        entry.user_name = user_name.map(str::to_owned);
        entry.connection = Some(connection.name.clone());
        tenant.log(entry)
    };
    let bucket = format!("signup-ip\0{}", ctx.request.ip);
    match tenant.store.hit_rate_limit(&bucket, sign_ups_per_hour(ctx), tenant.now()).await {
        Ok(RateDecision::Allowed { .. }) => {}
        Ok(RateDecision::Limited { retry_after }) => {
            let entry =
                crate::logs::entry("limit_mu", "Too many sign-ups from this IP address", ctx.request, Some(app), None);
            tenant.log(entry).await;
            return Err(AccountError::Limited {
                description: "Too many sign-ups from this IP address. Try again later.".into(),
                retry_after,
            });
        }
        Err(e) => return Err(AccountError::internal(e)),
    }

    let email = request.email.trim().to_lowercase();
    if email.is_empty() {
        refuse("Sign-up refused: missing email".into(), None).await;
        return Err(AccountError::bad("invalid_signup", "Missing email."));
    }
    if !valid_email(&email) {
        refuse("Sign-up refused: invalid email".into(), None).await;
        return Err(AccountError::bad("invalid_signup", "Invalid email address."));
    }
    let username = match (connection.requires_username, request.username.as_deref().map(str::trim)) {
        (true, None | Some("")) => {
            refuse("Sign-up refused: missing username".into(), Some(&email)).await;
            return Err(AccountError::bad("invalid_signup", "Missing username."));
        }
        (true, Some(name)) if !valid_username(name) => {
            refuse("Sign-up refused: invalid username".into(), Some(&email)).await;
            return Err(AccountError::bad(
                "invalid_signup",
                "A username is 1 to 15 letters, digits or _ . - + ! # $ ' ^ ` ~, and not an email address.",
            ));
        }
        (true, Some(name)) => Some(name.to_owned()),
        // Auth0 ignores a username the connection does not use.
        (false, _) => None,
    };
    if let Err(e) = check_fields(&request) {
        refuse("Sign-up refused: invalid profile fields".into(), Some(&email)).await;
        return Err(e);
    }
    if request.password.is_empty() {
        refuse("Sign-up refused: missing password".into(), Some(&email)).await;
        return Err(AccountError::bad("invalid_signup", "Missing password."));
    }
    let policy = PasswordPolicy::from_config(connection);
    let info = PersonalInfo {
        email: &email,
        username: username.as_deref(),
        name: request.name.as_deref(),
        given_name: request.given_name.as_deref(),
        family_name: request.family_name.as_deref(),
        nickname: request.nickname.as_deref(),
    };
    if let Err(refusal) = policy.check(&request.password, &info) {
        refuse(format!("Sign-up refused: {}", refusal.message), Some(&email)).await;
        return Err(AccountError::Password(Box::new(refusal)));
    }

    // pre-user-registration: the actions may refuse the sign-up or set metadata.
    let mut user_metadata = request.user_metadata.clone().unwrap_or_default();
    let mut app_metadata = JsonMap::new();
    let event = json!({
        "user": {
            "email": email,
            "username": username,
            "name": request.name,
            "given_name": request.given_name,
            "family_name": request.family_name,
            "nickname": request.nickname,
            "picture": request.picture,
            "user_metadata": user_metadata,
            "app_metadata": {},
        },
        "connection": connection_event(ctx),
        "client": { "client_id": app.client_id, "name": app.name, "metadata": app.metadata },
        "request": request_event(ctx, lang),
        "transaction": { "locale": lang, "ui_locales": [lang] },
        "tenant": { "id": tenant.config.tenant_name() },
        "secrets": tenant.secrets,
    });
    let outcome = tenant.actions.run_account_trigger(Trigger::PreUserRegistration, event).await;
    match outcome.result {
        AccountResult::Allow => {
            gatehouse_types::merge_metadata(&mut user_metadata, &outcome.user_metadata);
            gatehouse_types::merge_metadata(&mut app_metadata, &outcome.app_metadata);
        }
        AccountResult::Deny => {
            let reason = outcome.reason.clone().unwrap_or_default();
            let action = outcome.failed_action.as_deref().unwrap_or("an action");
            refuse(format!("Sign-up denied by {action}: {reason}"), Some(&email)).await;
            return Err(match outcome.code {
                Some(code) => AccountError::BadRequest {
                    code,
                    description: outcome.user_message.unwrap_or_else(|| "Sign-up refused.".into()),
                },
                None => AccountError::BadRequest {
                    code: "extensibility_error".into(),
                    description: outcome.user_message.unwrap_or_else(|| "Sign-up refused.".into()),
                },
            });
        }
        _ => {
            let reason = outcome.reason.clone().unwrap_or_default();
            let action = outcome.failed_action.as_deref().unwrap_or("an action");
            refuse(format!("The pre-user-registration flow failed in {action}: {reason}"), Some(&email)).await;
            return Err(AccountError::bad("extensibility_error", "Sign-up failed. Please try again later."));
        }
    }

    // The password is hashed before the address is checked, so a taken address answers as slowly as a new one.
    let password = request.password.clone();
    let hash = match run_argon2(move || hash_password(&password)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return Err(AccountError::internal(e)),
        Err(e) => return Err(AccountError::internal(e)),
    };
    let now = tenant.now_iso();
    let user = User {
        user_id: ids::user_id().map_err(AccountError::internal)?,
        email: email.clone(),
        username: username.clone(),
        email_verified: false,
        name: request.name.clone().or_else(|| Some(email.clone())),
        nickname: request.nickname.clone().or_else(|| email.split('@').next().map(str::to_owned)),
        given_name: request.given_name.clone(),
        family_name: request.family_name.clone(),
        picture: request.picture.clone(),
        phone_number: None,
        phone_verified: false,
        password_hash: Some(hash),
        connection: connection.name.clone(),
        roles: Vec::new(),
        app_metadata,
        user_metadata,
        created_at: now.clone(),
        updated_at: now,
        last_login: None,
        logins_count: 0,
        last_password_reset: None,
        blocked: false,
        attributes: JsonMap::new(),
    };
    // A username is claimed first, atomically: of two sign-ups with one name exactly one gets it.
    let claimed = match &username {
        Some(name) => {
            let key = name.to_lowercase();
            match tenant.store.create_document(Collection::Username, &key, user.user_id.as_bytes()).await {
                Ok(true) => Some(key),
                Ok(false) => {
                    refuse("Sign-up refused: the username is taken".into(), Some(&email)).await;
                    return Err(AccountError::bad(
                        "username_exists",
                        "The username you are attempting to sign up with is already in use.",
                    ));
                }
                Err(e) => return Err(AccountError::internal(e)),
            }
        }
        None => None,
    };
    match tenant.store.create_user(&user).await {
        Ok(()) => {}
        Err(e) => {
            if let Some(key) = &claimed
                && let Err(release) = tenant.store.delete_document(Collection::Username, key).await
            {
                tracing::error!(error = %release, "could not release the username of a failed sign-up");
            }
            return Err(match e {
                StoreError::Conflict(_) => {
                    refuse("Sign-up refused: the user already exists".into(), Some(&email)).await;
                    AccountError::bad("invalid_signup", "Invalid sign up")
                }
                other => AccountError::internal(other),
            });
        }
    }
    tenant.log(crate::logs::entry("ss", "Successful signup", ctx.request, Some(app), Some(&user))).await;
    let after = AfterSignup {
        user: user.clone(),
        client_id: app.client_id.clone(),
        lang: lang.to_owned(),
        request: ctx.request.clone(),
    };
    Ok((user, after))
}

/// Runs `post-user-registration`; its failure is logged (`actions_execution_failed`) and changes nothing.
async fn post_registration(ctx: &RequestContext<'_>, user: &User, lang: &str) {
    let tenant = ctx.tenant;
    let event = json!({
        "user": user_event(user),
        "connection": connection_event(ctx),
        "request": request_event(ctx, lang),
        "transaction": { "locale": lang },
        "tenant": { "id": tenant.config.tenant_name() },
        "secrets": tenant.secrets,
    });
    let outcome = tenant.actions.run_account_trigger(Trigger::PostUserRegistration, event).await;
    if outcome.result != AccountResult::Allow {
        let action = outcome.failed_action.as_deref().unwrap_or("an action");
        let reason = outcome.reason.unwrap_or_default();
        let entry = crate::logs::entry(
            "actions_execution_failed",
            format!("The post-user-registration flow failed in {action}: {reason}"),
            ctx.request,
            None,
            Some(user),
        );
        tenant.log(entry).await;
    }
}
