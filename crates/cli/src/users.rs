//! `gatehouse users`: the operator's quick path to the Management API's user operations.
//!
//! With the server stopped the commands open the store; while it runs (sled allows one process), they call its
//! Management API with a client the configuration grants the scopes.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use gatehouse_auth::tenant::{Tenant, TenantOptions};
use gatehouse_auth::users::{self, NewUser};
use gatehouse_engine::sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::config;
use crate::output;
use crate::serve::open_store;

/// What to do.
pub enum UsersCommand {
    /// Create a user.
    Add { email: String, password: String, name: Option<String>, roles: Vec<String> },
    /// List users.
    List,
    /// Show one user with their enrollments.
    Show { who: String },
    /// Enroll an authenticator app for a user: prints the otpauth URI and a QR code.
    EnrollOtp { who: String },
    /// Enroll a phone number (`sms`, `voice` or `both`).
    EnrollPhone { who: String, number: String, method: String },
    /// Remove every MFA enrollment of a user.
    ResetMfa { who: String },
    /// Mail a user a password-reset link (the email `/dbconnections/change_password` sends).
    ResetPassword { who: String },
}

pub(crate) enum Backend {
    Offline(Arc<Tenant>),
    Online {
        issuer: String,
        token: String,
        /// The CLI's client (its `[[client_grants]]` entry), for the Authentication API calls it makes.
        client_id: String,
    },
}

pub(crate) async fn backend(config_path: &Path, scopes: &[&str]) -> Result<Backend, String> {
    let loaded = config::load(config_path, None, None)?;
    match open_store(&loaded.base_dir, &loaded.config).await {
        Ok((store, data_dir)) => {
            let sandbox = SandboxConfig::current_exe().map_err(|e| e.to_string())?;
            let tenant = Tenant::open(TenantOptions {
                config: loaded.config,
                base_dir: loaded.base_dir,
                sandbox,
                store,
                data_dir,
                clock: Arc::new(gatehouse_auth::clock::SystemClock),
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok(Backend::Offline(Arc::new(tenant)))
        }
        Err(e) if e.to_lowercase().contains("lock") => {
            let token = crate::admin::management_token(&loaded, scopes).await?;
            let (_, client) = crate::admin::management_client(&loaded.config, scopes)?;
            Ok(Backend::Online { issuer: loaded.config.issuer.clone(), token, client_id: client.client_id.clone() })
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn call(
    issuer: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = reqwest::Client::new().request(method, format!("{issuer}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| format!("cannot reach the server at {issuer}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let value: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!("the server refused: {} [{}]", crate::output::api_error(&value), status.as_u16()))
    }
}

pub(crate) fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

pub(crate) async fn find_online(issuer: &str, token: &str, who: &str) -> Result<Value, String> {
    if who.contains('@') {
        let found =
            call(issuer, token, reqwest::Method::GET, &format!("api/v2/users-by-email?email={}", encode(who)), None)
                .await?;
        found.as_array().and_then(|a| a.first().cloned()).ok_or_else(|| format!("no user {who}"))
    } else {
        call(issuer, token, reqwest::Method::GET, &format!("api/v2/users/{}", encode(who)), None).await
    }
}

fn print_user(user: &Value) {
    let field = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    output::line(&format!("{}  {}  {}", field("user_id"), field("email"), field("name")));
}

/// Runs a `gatehouse users` command.
pub async fn run(config_path: &Path, command: UsersCommand) -> ExitCode {
    // Users are named by email or id, so every command but `add` reads users first.
    let scopes: &[&str] = match &command {
        UsersCommand::Add { .. } => &["create:users"],
        UsersCommand::List | UsersCommand::Show { .. } => &["read:users"],
        UsersCommand::EnrollOtp { .. } => &["read:users", "create:authentication_methods"],
        UsersCommand::ResetMfa { .. } => &["read:users", "delete:guardian_enrollments"],
        UsersCommand::ResetPassword { .. } => &["read:users"],
        UsersCommand::EnrollPhone { .. } => &["read:users", "create:authentication_methods"],
    };
    let result = async {
        let backend = backend(config_path, scopes).await?;
        match (command, backend) {
            (UsersCommand::Add { email, password, name, roles }, Backend::Offline(tenant)) => {
                let user = users::create_user(&tenant, NewUser { email, password: Some(password), name, roles, email_verified: true, ..NewUser::default() })
                    .await
                    .map_err(|e| e.to_string())?;
                print_user(&users::user_view(&user));
            }
            (UsersCommand::Add { email, password, name, roles }, Backend::Online { issuer, token, .. }) => {
                let body = json!({ "email": email, "password": password, "name": name, "roles": roles, "email_verified": true,
                                   "connection": gatehouse_auth::DATABASE_CONNECTION });
                print_user(&call(&issuer, &token, reqwest::Method::POST, "api/v2/users", Some(body)).await?);
            }
            (UsersCommand::List, Backend::Offline(tenant)) => {
                for user in tenant.store.list_users().await.map_err(|e| e.to_string())? {
                    print_user(&users::user_view(&user));
                }
            }
            (UsersCommand::List, Backend::Online { issuer, token, .. }) => {
                let list = call(&issuer, &token, reqwest::Method::GET, "api/v2/users?per_page=100", None).await?;
                for user in list.as_array().cloned().unwrap_or_default() {
                    print_user(&user);
                }
            }
            (UsersCommand::Show { who }, Backend::Offline(tenant)) => {
                let user = users::find_user_by_id_or_email(&tenant, &who).await.map_err(|e| e.to_string())?;
                let mut view = users::user_view(&user);
                let enrollments: Vec<Value> = tenant
                    .store
                    .find_authenticators(&user.user_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(gatehouse_auth::mfa_api::authenticator_view)
                    .collect();
                if let Some(map) = view.as_object_mut() {
                    map.insert("authenticators".into(), Value::Array(enrollments));
                }
                output::line(&serde_json::to_string_pretty(&view).unwrap_or_default());
            }
            (UsersCommand::Show { who }, Backend::Online { issuer, token, .. }) => {
                let mut user = find_online(&issuer, &token, &who).await?;
                // As offline: the user and their authenticators (the client's grant needs read:authentication_methods).
                let id = user.get("user_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                let path = format!("api/v2/users/{}/authentication-methods", encode(&id));
                let methods = match call(&issuer, &token, reqwest::Method::GET, &path, None).await {
                    Ok(methods) => methods,
                    Err(e) => Value::String(format!("not shown: {e}")),
                };
                if let Some(map) = user.as_object_mut() {
                    map.insert("authenticators".into(), methods);
                }
                output::line(&serde_json::to_string_pretty(&user).unwrap_or_default());
            }
            (UsersCommand::EnrollOtp { who }, backend) => {
                let secret = gatehouse_auth::crypto::totp::new_secret().map_err(|e| e.to_string())?;
                let (email, uri) = match backend {
                    Backend::Offline(tenant) => {
                        let user = users::find_user_by_id_or_email(&tenant, &who).await.map_err(|e| e.to_string())?;
                        // The same rules as POST /api/v2/users/{id}/authentication-methods (one authenticator app).
                        let method = serde_json::from_value(json!({ "type": "totp", "totp_secret": secret }))
                            .map_err(|e| e.to_string())?;
                        users::create_authentication_method(&tenant, &user, method).await.map_err(|e| e.to_string())?;
                        let uri = gatehouse_auth::crypto::totp::otpauth_uri(&secret, &tenant.config.friendly_name, &user.email);
                        (user.email, uri)
                    }
                    Backend::Online { issuer, token, .. } => {
                        let user = find_online(&issuer, &token, &who).await?;
                        let id = user.get("user_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let body = json!({ "type": "totp", "totp_secret": secret, "name": "gatehouse users enroll" });
                        call(&issuer, &token, reqwest::Method::POST, &format!("api/v2/users/{}/authentication-methods", encode(&id)), Some(body))
                            .await?;
                        let email = user.get("email").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let name = crate::config::load(config_path, None, None).map(|l| l.config.friendly_name).unwrap_or_default();
                        (email.clone(), gatehouse_auth::crypto::totp::otpauth_uri(&secret, &name, &email))
                    }
                };
                output::line(&format!("Enrolled an authenticator app for {email}. Scan this QR code, or add the URI by hand:"));
                output::line(&terminal_qr(&uri));
                output::line(&uri);
            }
            (UsersCommand::EnrollPhone { who, number, method }, backend) => {
                // The same rules as POST /api/v2/users/{id}/authentication-methods (one phone, E.164).
                let body = json!({ "type": "phone", "phone_number": number, "preferred_authentication_method": method, "name": "gatehouse users enroll" });
                let (email, shown) = match backend {
                    Backend::Offline(tenant) => {
                        let user = users::find_user_by_id_or_email(&tenant, &who).await.map_err(|e| e.to_string())?;
                        let new = serde_json::from_value(body).map_err(|e| e.to_string())?;
                        let created = users::create_authentication_method(&tenant, &user, new).await.map_err(|e| e.to_string())?;
                        (user.email, users::authentication_method_view(&created.authenticator))
                    }
                    Backend::Online { issuer, token, .. } => {
                        let user = find_online(&issuer, &token, &who).await?;
                        let id = user.get("user_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let created = call(&issuer, &token, reqwest::Method::POST, &format!("api/v2/users/{}/authentication-methods", encode(&id)), Some(body))
                            .await?;
                        (user.get("email").and_then(Value::as_str).unwrap_or_default().to_owned(), created)
                    }
                };
                let masked = gatehouse_auth::mask::mask_phone(&number);
                output::line(&format!("Enrolled phone {masked} ({method}) for {email}:"));
                output::line(&serde_json::to_string_pretty(&shown).unwrap_or_default());
            }
            (UsersCommand::ResetMfa { who }, Backend::Offline(tenant)) => {
                let user = users::find_user_by_id_or_email(&tenant, &who).await.map_err(|e| e.to_string())?;
                let removed = users::reset_mfa(&tenant, &user).await.map_err(|e| e.to_string())?;
                output::line(&format!("Removed {removed} enrollment(s) of {}", user.email));
            }
            (UsersCommand::ResetMfa { who }, Backend::Online { issuer, token, .. }) => {
                let user = find_online(&issuer, &token, &who).await?;
                let id = user.get("user_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                call(&issuer, &token, reqwest::Method::DELETE, &format!("api/v2/users/{}/authenticators", encode(&id)), None).await?;
                output::line(&format!("Removed every enrollment of {id}"));
            }
            (UsersCommand::ResetPassword { who }, Backend::Offline(tenant)) => {
                let user = users::find_user_by_id_or_email(&tenant, &who).await.map_err(|e| e.to_string())?;
                gatehouse_auth::account::password_reset::issue_and_mail(&tenant, &user, None, "en")
                    .await
                    .map_err(|e| e.to_string())?;
                let request = gatehouse_auth::context::RequestInfo { ip: "127.0.0.1".into(), method: "CLI".into(), ..Default::default() };
                let entry = gatehouse_auth::logs::entry("scpr", "Password reset email sent (gatehouse users reset-password)", &request, None, Some(&user));
                tenant.log(entry).await;
                output::line(&format!("Sent a password-reset link to {}", user.email));
            }
            (UsersCommand::ResetPassword { who }, Backend::Online { issuer, token, client_id }) => {
                let user = find_online(&issuer, &token, &who).await?;
                let email = user.get("email").and_then(Value::as_str).unwrap_or_default().to_owned();
                let connection = user
                    .pointer("/identities/0/connection")
                    .and_then(Value::as_str)
                    .unwrap_or(gatehouse_types::config::DEFAULT_CONNECTION)
                    .to_owned();
                let body = json!({ "client_id": client_id, "email": email, "connection": connection });
                let response = reqwest::Client::new()
                    .post(format!("{issuer}dbconnections/change_password"))
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("cannot reach the server at {issuer}: {e}"))?;
                if !response.status().is_success() {
                    let status = response.status().as_u16();
                    let value: Value = response.json().await.unwrap_or(Value::Null);
                    return Err(format!("the server refused: {} [{status}]", output::api_error(&value)));
                }
                output::line(&format!("Sent a password-reset link to {email}"));
            }
        }
        Ok::<(), String>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fatal(&e),
    }
}

/// A QR code drawn with half-block characters, readable by phone cameras from a terminal.
fn terminal_qr(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(cannot draw a QR code: {e})"),
    }
}

/// The new user's password: asked twice without echo at a terminal, or one line from a pipe
/// (`printf '%s\n' "$PASSWORD" | gatehouse users add ...`).
pub fn ask_password(email: &str) -> Result<String, String> {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            return Err("no password: pass --password, or type it when asked, or pipe it on stdin".to_owned());
        }
        return Ok(password);
    }
    let first = rpassword::prompt_password(format!("Password for {email}: ")).map_err(|e| e.to_string())?;
    let second = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
    if first != second {
        return Err("the two passwords differ".to_owned());
    }
    Ok(first)
}
