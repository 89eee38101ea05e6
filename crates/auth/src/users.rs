//! Operations on users and their MFA enrollments, shared by the Management API, the MFA API and the CLI.

use gatehouse_store::StoreError;
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use gatehouse_types::{FactorType, JsonMap};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::attempts;
use crate::clock;
use crate::event::DATABASE_CONNECTION;
use crate::ids;
use crate::password::hash_password;
use crate::recovery;
use crate::tenant::Tenant;
use crate::totp;
use gatehouse_types::merge_metadata;

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
    tokio::task::spawn_blocking(move || hash_password(&password))
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
        && connection != DATABASE_CONNECTION
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
            return Err(UserError::BadRequest(
                "Payload validation error: 'Object didn't pass validation for format email' on property email".into(),
            ));
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

/// Starts a TOTP enrollment (MFA API `associate`): a new secret, pending until its first code is verified.
/// Returns the authenticator with its `otpauth://` URI.
pub async fn enroll_pending_otp(tenant: &Tenant, user: &User) -> UserResult<(Authenticator, String)> {
    let secret = totp::new_secret()?;
    let uri = totp::otpauth_uri(&secret, &tenant.config.friendly_name, &user.email);
    let authenticator = authenticator(user, AuthenticatorKind::Otp { secret, last_step: 0 }, false)?;
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

// ---- listing and searching users (`GET /api/v2/users`, `GET /api/v2/users-by-email`) ----

/// The fields a query term without a field name searches.
const DEFAULT_SEARCH_FIELDS: [&str; 7] =
    ["user_id", "email", "name", "nickname", "given_name", "family_name", "phone_number"];

/// How `GET /api/v2/users` selects, orders and pages users.
#[derive(Clone, Debug, Default)]
pub struct UserSearch {
    /// A query in the subset of Auth0's user search syntax that [`UserQuery`] understands.
    pub q: Option<String>,
    /// Only the user with this email (case-insensitive).
    pub email: Option<String>,
    /// Only users of this connection.
    pub connection: Option<String>,
    /// `field:1` (ascending) or `field:-1` (descending).
    pub sort: Option<String>,
    /// Zero-based page.
    pub page: usize,
    /// Page size (1 to 100).
    pub per_page: usize,
}

/// One page of users.
#[derive(Clone, Debug)]
pub struct UserPage {
    /// The users of the page.
    pub users: Vec<User>,
    /// Index of the first one among all matches.
    pub start: usize,
    /// The page size asked for.
    pub limit: usize,
    /// How many users match in all.
    pub total: usize,
}

/// Users matching `search`, one page of them.
pub async fn search_users(tenant: &Tenant, search: &UserSearch) -> UserResult<UserPage> {
    if search.per_page == 0 || search.per_page > 100 {
        return Err(UserError::BadRequest("per_page must be between 1 and 100".into()));
    }
    let query = UserQuery::parse(search.q.as_deref().unwrap_or_default())?;
    let sort = search.sort.as_deref().map(parse_sort).transpose()?;
    let email = search.email.as_deref().map(|e| e.trim().to_lowercase());
    let mut matching: Vec<(User, Value)> = Vec::new();
    for user in tenant.store.list_users().await? {
        if email.as_ref().is_some_and(|e| *e != user.email)
            || search.connection.as_ref().is_some_and(|c| *c != user.connection)
        {
            continue;
        }
        let view = user_view(&user);
        if query.matches(&view) {
            matching.push((user, view));
        }
    }
    if let Some((field, ascending)) = sort {
        matching.sort_by(|(_, a), (_, b)| {
            let order = compare_values(first_value(a, &field).as_deref(), first_value(b, &field).as_deref());
            if ascending { order } else { order.reverse() }
        });
    }
    let total = matching.len();
    let start = search.page.saturating_mul(search.per_page);
    let users = matching.into_iter().skip(start).take(search.per_page).map(|(user, _)| user).collect();
    Ok(UserPage { users, start, limit: search.per_page, total })
}

/// Every user with this email (case-insensitive): Gatehouse has one connection, so at most one.
pub async fn find_users_by_email(tenant: &Tenant, email: &str) -> UserResult<Vec<User>> {
    Ok(tenant.store.find_user_by_email(&email.trim().to_lowercase()).await?.into_iter().collect())
}

fn parse_sort(sort: &str) -> UserResult<(String, bool)> {
    match sort.rsplit_once(':') {
        Some((field, "1")) if !field.is_empty() => Ok((field.to_owned(), true)),
        Some((field, "-1")) if !field.is_empty() => Ok((field.to_owned(), false)),
        _ => Err(UserError::BadRequest(format!("sort must be <field>:1 or <field>:-1, not {sort}"))),
    }
}

/// A user search query: the part of Auth0's Lucene-based user search syntax Gatehouse understands.
///
/// Terms are `field:value`, `field:"quoted value"`, `field:prefix*` (`*` and `?` wildcards), `field:[low TO high]`
/// (inclusive, `*` for open; `{low TO high}` exclusive), `_exists_:field` or `field:*`, and bare words (searched in
/// user_id, email, name, nickname, given and family name and phone number). Fields are the user's properties,
/// dotted into objects and arrays (`app_metadata.plan`, `identities.connection`). Terms are joined by `AND`
/// (also implied by a space) and `OR`, which binds weaker; `NOT` or a leading `-` negates a term. Matching ignores
/// case. Parentheses are not supported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserQuery {
    /// Alternatives (`OR`), each a conjunction (`AND`) of terms.
    alternatives: Vec<Vec<Term>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Term {
    negate: bool,
    field: Option<String>,
    pattern: Pattern,
}

#[derive(Clone, Debug, PartialEq)]
enum Pattern {
    Exists,
    Text { text: String, quoted: bool },
    Range { low: Option<String>, high: Option<String>, inclusive: bool },
}

enum Token {
    And,
    Or,
    Not,
    Term(Term),
}

impl UserQuery {
    /// Parses `q`; an empty query matches every user.
    pub fn parse(q: &str) -> UserResult<UserQuery> {
        let bad = |why: &str| UserError::BadRequest(format!("Invalid query: {why}"));
        let tokens = tokenize(q).map_err(|why| bad(&why))?;
        let mut alternatives: Vec<Vec<Term>> = vec![Vec::new()];
        let mut negate_next = false;
        let mut after_operator = true;
        for token in tokens {
            match token {
                Token::Or | Token::And if after_operator => return Err(bad("AND/OR needs a term on each side")),
                Token::Or => {
                    alternatives.push(Vec::new());
                    after_operator = true;
                }
                Token::And => after_operator = true,
                Token::Not => {
                    negate_next = !negate_next;
                    after_operator = true;
                }
                Token::Term(mut term) => {
                    term.negate ^= negate_next;
                    negate_next = false;
                    after_operator = false;
                    if let Some(current) = alternatives.last_mut() {
                        current.push(term);
                    }
                }
            }
        }
        if after_operator && (alternatives.len() > 1 || negate_next) {
            return Err(bad("the query ends with an operator"));
        }
        if alternatives.len() == 1 && alternatives.first().is_some_and(Vec::is_empty) {
            alternatives.clear();
        }
        Ok(UserQuery { alternatives })
    }

    /// Whether a user, as [`user_view`] shows them, matches.
    pub fn matches(&self, view: &Value) -> bool {
        self.alternatives.is_empty()
            || self.alternatives.iter().any(|terms| terms.iter().all(|term| term.matches(view) != term.negate))
    }
}

impl Term {
    fn matches(&self, view: &Value) -> bool {
        let values: Vec<String> = match &self.field {
            Some(field) => leaf_values(view, field),
            None => DEFAULT_SEARCH_FIELDS.iter().flat_map(|f| leaf_values(view, f)).collect(),
        };
        match &self.pattern {
            Pattern::Exists => !values.is_empty(),
            Pattern::Text { text, quoted } => {
                let text = text.to_lowercase();
                values.iter().any(|value| {
                    let value = value.to_lowercase();
                    if !quoted && (text.contains('*') || text.contains('?')) {
                        glob(&text, &value)
                    } else if self.field.is_none() {
                        value.contains(&text)
                    } else {
                        value == text
                    }
                })
            }
            Pattern::Range { low, high, inclusive } => values.iter().any(|value| {
                let above = low.as_deref().is_none_or(|low| {
                    let order = compare_values(Some(value), Some(low));
                    order.is_gt() || (*inclusive && order.is_eq())
                });
                let below = high.as_deref().is_none_or(|high| {
                    let order = compare_values(Some(value), Some(high));
                    order.is_lt() || (*inclusive && order.is_eq())
                });
                above && below
            }),
        }
    }
}

fn tokenize(q: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' || c == ')' {
            return Err("parentheses are not supported".into());
        }
        let mut negate = false;
        if c == '-' || c == '+' {
            negate = c == '-';
            i += 1;
        }
        // A field name, or a bare word.
        let mut word = String::new();
        let mut quoted_bare = None;
        if chars.get(i) == Some(&'"') {
            let (text, next) = read_quoted(&chars, i)?;
            quoted_bare = Some(text);
            i = next;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ':' {
                if chars[i] == '(' || chars[i] == ')' {
                    return Err("parentheses are not supported".into());
                }
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                word.push(chars[i]);
                i += 1;
            }
        }
        if let Some(text) = quoted_bare {
            tokens.push(Token::Term(Term { negate, field: None, pattern: Pattern::Text { text, quoted: true } }));
            continue;
        }
        if chars.get(i) != Some(&':') {
            let keyword = match word.as_str() {
                "AND" | "&&" if !negate => Some(Token::And),
                "OR" | "||" if !negate => Some(Token::Or),
                "NOT" | "!" if !negate => Some(Token::Not),
                _ => None,
            };
            tokens.push(keyword.unwrap_or(Token::Term(Term {
                negate,
                field: None,
                pattern: Pattern::Text { text: word, quoted: false },
            })));
            continue;
        }
        i += 1; // ':'
        if word.is_empty() {
            return Err("a term has an empty field name".into());
        }
        let pattern = match chars.get(i) {
            Some('"') => {
                let (text, next) = read_quoted(&chars, i)?;
                i = next;
                Pattern::Text { text, quoted: true }
            }
            Some(open @ ('[' | '{')) => {
                let close = if *open == '[' { ']' } else { '}' };
                let inclusive = *open == '[';
                let end = chars[i..].iter().position(|c| *c == close).ok_or("a range is not closed")? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                i = end + 1;
                let parts: Vec<&str> = inner.split_whitespace().collect();
                let [low, "TO", high] = parts.as_slice() else { return Err("ranges are written [low TO high]".into()) };
                let bound = |b: &str| (b != "*").then(|| b.trim_matches('"').to_owned());
                Pattern::Range { low: bound(low), high: bound(high), inclusive }
            }
            _ => {
                let mut value = String::new();
                while i < chars.len() && !chars[i].is_whitespace() {
                    if chars[i] == '(' || chars[i] == ')' {
                        return Err("parentheses are not supported".into());
                    }
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                if value.is_empty() {
                    return Err(format!("{word}: has no value"));
                }
                if value == "*" { Pattern::Exists } else { Pattern::Text { text: value, quoted: false } }
            }
        };
        let (field, pattern) = match (word.as_str(), pattern) {
            ("_exists_", Pattern::Text { text, .. }) => (text, Pattern::Exists),
            (_, pattern) => (word, pattern),
        };
        tokens.push(Token::Term(Term { negate, field: Some(field), pattern }));
    }
    Ok(tokens)
}

/// The text of a quoted string starting at `start` (a `"`), and the index after its closing quote.
fn read_quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err("a quoted string is not closed".into())
}

/// `*` matches any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The scalar values at a dotted path (arrays are searched element by element), as text.
fn leaf_values(view: &Value, path: &str) -> Vec<String> {
    let mut current = vec![view];
    for part in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            let value = match value {
                Value::Array(items) => items.iter().filter_map(|item| item.get(part)).collect::<Vec<_>>(),
                other => other.get(part).into_iter().collect(),
            };
            next.extend(value);
        }
        current = next;
    }
    let mut out = Vec::new();
    for value in current {
        match value {
            Value::Array(items) => out.extend(items.iter().filter_map(scalar_text)),
            other => out.extend(scalar_text(other)),
        }
    }
    out
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn first_value(view: &Value, path: &str) -> Option<String> {
    leaf_values(view, path).into_iter().next()
}

/// Numbers compare as numbers, anything else as text (ISO dates sort by time); missing values sort last.
fn compare_values(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.to_lowercase().cmp(&b.to_lowercase()),
        },
    }
}

// ---- authentication methods (`/api/v2/users/{id}/authentication-methods`) ----

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
            if totp::current_code(&secret, clock::now()).is_err() {
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
    let authenticator = authenticator(user, kind, true)?;
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

fn is_method(authenticator: &Authenticator, method_id: &str) -> bool {
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

#[cfg(test)]
mod tests {
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
            connection: DATABASE_CONNECTION.into(),
            roles: Vec::new(),
            app_metadata: JsonMap::new(),
            user_metadata: JsonMap::new(),
            created_at: "2025-01-01T00:00:00.000Z".into(),
            updated_at: "2025-01-01T00:00:00.000Z".into(),
            last_login: None,
            logins_count: 0,
            last_password_reset: None,
            blocked: false,
        };
        assert!(!user_view(&user).to_string().contains("argon2"));
        let otp = authenticator(
            &user,
            AuthenticatorKind::Otp { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(), last_step: 3 },
            true,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let recovery = authenticator(&user, AuthenticatorKind::RecoveryCode { hash: "$argon2id$code".into() }, true)
            .unwrap_or_else(|e| panic!("{e}"));
        for a in [&otp, &recovery] {
            let text = format!("{}{:?}", authentication_method_view(a), enrollment_view(a));
            assert!(!text.contains("JBSWY3DP") && !text.contains("argon2") && !text.contains("attempts"), "{text}");
        }
        let phone = authenticator(
            &user,
            AuthenticatorKind::Phone { phone_number: "+14155550100".into(), method: "voice".into() },
            true,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let view = authentication_method_view(&phone);
        assert!(view["id"].as_str().is_some_and(|id| id.starts_with("phone|dev_")), "{view}");
        assert_eq!(view["authentication_methods"][0]["id"], phone.id);
        assert!(is_method(&phone, view["id"].as_str().unwrap_or_default()) && is_method(&phone, &phone.id));
        assert_eq!(enrollment_view(&phone).map(|e| e["status"].clone()), Some(json!("confirmed")));
    }
}
