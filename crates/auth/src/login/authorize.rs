//! `/authorize`: validating the request, and either continuing an SSO session or showing the login page.

use gatehouse_store::secret_key;
use gatehouse_types::JsonMap;
use gatehouse_types::config::{OrganizationPrompt, OrganizationUsage};
use gatehouse_types::records::User;
use serde_json::Value;

use crate::error::AuthResult;
use crate::ids;
use crate::login::step::{AuthStep, CookieChange, ErrorPage, LoginResponse, ResponseMode};
use crate::login::tx::{AuthorizeRequest, LoginTx};
use crate::login::{Login, NewTx, app_error, internal};
use crate::scope::{self, SeparatorError};

/// Why `/authorize` refused a request.
#[derive(Debug)]
pub enum Refusal {
    /// The redirect URI cannot be trusted: show a page.
    Page(String, String),
    /// Tell the application: `error`, `error_description`.
    App(Box<AuthorizeRequest>, String, String),
}

fn param<'a>(query: &'a JsonMap, name: &str) -> Option<&'a str> {
    query.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A space-separated parameter (RFC 6749 §3.3: `%x20` only; see [`crate::scope`]).
fn words(query: &JsonMap, name: &'static str) -> Result<Vec<String>, SeparatorError> {
    param(query, name).map(|s| scope::parse_list(name, s)).transpose().map(Option::unwrap_or_default)
}

/// The page language: the first of `ui_locales` Gatehouse speaks, else the `Accept-Language` entry with the highest
/// `q` Gatehouse speaks (RFC 9110 §12.5.4; `q=0` means "not this one"), else English.
pub fn language(ui_locales: &[String], accept_language: Option<&str>) -> String {
    let pick = |tag: &str| {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_lowercase();
        matches!(primary.as_str(), "en" | "ja").then_some(primary)
    };
    if let Some(found) = ui_locales.iter().find_map(|l| pick(l)) {
        return found;
    }
    let mut ranked: Vec<(f32, usize, String)> = Vec::new();
    for (position, entry) in accept_language.unwrap_or_default().split(',').enumerate() {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(|v| v.trim().parse::<f32>().unwrap_or(0.0)))
            .unwrap_or(1.0);
        if let Some(language) = pick(tag)
            && q > 0.0
        {
            ranked.push((q, position, language));
        }
    }
    // Highest q first; among equals, the order the browser sent.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().next().map(|(_, _, language)| language).unwrap_or_else(|| "en".to_owned())
}

/// Validates an authorization request against the tenant's clients and APIs.
pub fn authorize_request(tenant: &crate::tenant::Tenant, query: &JsonMap) -> Result<AuthorizeRequest, Refusal> {
    let config = &tenant.config;
    let directory = tenant.directory();
    let Some(client_id) = param(query, "client_id") else {
        return Err(Refusal::Page("invalid_request".into(), "Missing required parameter: client_id".into()));
    };
    let Some(client) = config.client(client_id) else {
        return Err(Refusal::Page("invalid_request".into(), format!("Unknown client: {client_id}")));
    };
    let redirect_uri = match param(query, "redirect_uri") {
        Some(uri) => uri.to_owned(),
        None if client.callbacks.len() == 1 => client.callbacks[0].clone(),
        None => return Err(Refusal::Page("invalid_request".into(), "Missing required parameter: redirect_uri".into())),
    };
    if !client.callbacks.contains(&redirect_uri) {
        return Err(Refusal::Page(
            "Callback URL mismatch".into(),
            format!("The provided redirect_uri is not in the list of allowed callback URLs of {}.", client.name),
        ));
    }
    let response_mode = match param(query, "response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some("web_message") => ResponseMode::WebMessage,
        Some(other) => {
            return Err(Refusal::Page("invalid_request".into(), format!("Unsupported response_mode: {other}")));
        }
    };
    let (scope, acr_values, prompt, ui_locales) =
        (words(query, "scope"), words(query, "acr_values"), words(query, "prompt"), words(query, "ui_locales"));
    let request = AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri,
        redirect_uri_sent: param(query, "redirect_uri").is_some(),
        response_mode,
        scope: scope.clone().unwrap_or_default(),
        audience: param(query, "audience").map(str::to_owned),
        state: param(query, "state").map(str::to_owned),
        nonce: param(query, "nonce").map(str::to_owned),
        code_challenge: param(query, "code_challenge").map(str::to_owned),
        acr_values: acr_values.clone().unwrap_or_default(),
        prompt: prompt.clone().unwrap_or_default(),
        max_age: None,
        login_hint: param(query, "login_hint").map(str::to_owned),
        ui_locales: ui_locales.clone().unwrap_or_default(),
        query: query.clone(),
        organization: None,
    };
    let refuse =
        |error: &str, description: String| Err(Refusal::App(Box::new(request.clone()), error.to_owned(), description));
    if response_mode == ResponseMode::WebMessage {
        let origin = origin_of(&request.redirect_uri);
        if !client.allowed_origins.iter().any(|o| o.trim_end_matches('/') == origin) {
            return Err(Refusal::Page(
                "invalid_request".into(),
                format!("response_mode=web_message needs {origin} in the allowed origins of {}", client.name),
            ));
        }
    }
    // The scope list actions see is the one tokens get: a list that cannot be read one way is refused.
    if let Err(e) = scope {
        return refuse("invalid_scope", e.to_string());
    }
    for parsed in [acr_values, prompt, ui_locales] {
        if let Err(e) = parsed {
            return refuse("invalid_request", e.to_string());
        }
    }
    match param(query, "response_type") {
        Some("code") => {}
        Some(other) => return refuse("unsupported_response_type", format!("Unsupported response type: {other}")),
        None => return refuse("invalid_request", "Missing required parameter: response_type".into()),
    }
    if !client.allows_grant("authorization_code") {
        return refuse("unauthorized_client", "The client is not allowed to use the authorization code grant".into());
    }
    match (param(query, "code_challenge"), param(query, "code_challenge_method")) {
        (Some(challenge), Some("S256")) if crate::pkce::is_valid_challenge(challenge) => {}
        (Some(_), Some("S256")) => {
            return refuse(
                "invalid_request",
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636)".into(),
            );
        }
        (Some(_), None | Some(_)) => {
            return refuse("invalid_request", "code_challenge_method must be S256".into());
        }
        (None, _) if client.app_type.is_public() => {
            return refuse(
                "invalid_request",
                "Parameter 'code_challenge' is required for public clients (PKCE S256)".into(),
            );
        }
        (None, _) => {}
    }
    if let Some(audience) = &request.audience
        && directory.api(audience).is_none()
    {
        return refuse("access_denied", format!("Service not found: {audience}"));
    }
    for prompt in &request.prompt {
        if !matches!(prompt.as_str(), "none" | "login" | "consent" | "select_account") {
            return refuse("invalid_request", format!("Unsupported prompt value: {prompt}"));
        }
    }
    // Organizations (reference §9.3): named by id or name, as the client's organization_usage allows.
    let organization = match (param(query, "organization"), client.organization_usage) {
        (Some(_), OrganizationUsage::Deny) => {
            return refuse("invalid_request", "parameter organization is not allowed for this client".into());
        }
        (Some(named), _) => match directory.organization(named) {
            // Auth0 logs members in only through the connections an organization enables.
            Some(org)
                if !org.enabled_connections.iter().any(|c| c.connection_id == crate::event::DATABASE_CONNECTION_ID) =>
            {
                return refuse(
                    "invalid_request",
                    format!("the organization {} has no enabled connection to log in with", org.id),
                );
            }
            Some(org) => Some(org.id.clone()),
            None => {
                return refuse(
                    "invalid_request",
                    "parameter organization is invalid: no organization found by that name or identifier".into(),
                );
            }
        },
        // A page asks for it: its name before the login page, or a picker after the password.
        (None, OrganizationUsage::Require) if client.organization_require_behavior != OrganizationPrompt::NoPrompt => {
            None
        }
        (None, OrganizationUsage::Require) => {
            return refuse("invalid_request", "parameter organization is required for this client".into());
        }
        (None, _) => None,
    };
    let max_age = match param(query, "max_age") {
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return refuse("invalid_request", "max_age must be a non-negative integer".into()),
        },
        None => None,
    };
    Ok(AuthorizeRequest { max_age, organization, ..request })
}

fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => String::new(),
    }
}

impl Login<'_> {
    /// `GET /authorize`.
    pub async fn authorize(&self, query: &JsonMap) -> LoginResponse {
        let lang = language(&[], self.ctx.request.accept_language.as_deref());
        if let Some(Value::String(client_id)) = query.get("client_id") {
            self.know_client(client_id);
        }
        let request = match authorize_request(self.ctx.tenant, query) {
            Ok(request) => request,
            Err(Refusal::Page(title, detail)) => {
                return LoginResponse::new(AuthStep::Error(ErrorPage { lang, title, detail, start_again: None }));
            }
            Err(Refusal::App(request, error, description)) => {
                return LoginResponse::new(app_error(&request, &error, &description));
            }
        };
        let lang = language(&request.ui_locales, self.ctx.request.accept_language.as_deref());
        let mut response = LoginResponse::new(AuthStep::Redirect(String::new()));
        let device = match &self.cookies.device {
            Some(d) if d.len() >= 32 => d.clone(),
            _ => {
                let Ok(d) = ids::secret() else { return internal(&lang, "random source failed") };
                response.cookies.push(CookieChange::SetDevice { value: d.clone() });
                d
            }
        };
        let Ok(NewTx { state, binding, mut tx, cookie }) = self.new_tx(request, &lang, secret_key(&device)) else {
            return internal(&lang, "random source failed");
        };
        response.cookies.push(cookie);

        // An SSO session continues without a password, unless the application asks for a fresh login.
        let forced = tx.request.prompt.iter().any(|p| p == "login");
        let session_user = if forced {
            None
        } else {
            match self.session_user(&tx).await {
                Ok(found) => found,
                // A store that cannot say whether a session exists is not a "no session": fail closed.
                Err(e) => return internal(&lang, e),
            }
        };
        match session_user {
            Some((key, session, user)) => {
                tx.session_key = Some(key);
                tx.methods = session.methods.clone();
                tx.auth_time = Some(session.authenticated_at);
                tx.user_id = Some(user.user_id.clone());
                if let Err(e) = self.save(&state, &tx).await {
                    return internal(&lang, e);
                }
                // The binding cookie is not in this request yet: continue with a view of this browser that has it.
                let mut cookies = self.cookies.clone();
                cookies.bindings.insert(tx.slot.clone(), binding);
                let login = Login::new(self.ctx, &cookies);
                let next = login.after_first_factor(&state, tx, user).await;
                // Hosted pages live under /u/: show them there, so reloads and form posts have a stable URL.
                response.step = match next.step {
                    AuthStep::Challenge(_)
                    | AuthStep::Picker(_)
                    | AuthStep::EnrollOtp(_)
                    | AuthStep::EnrollPhone(_)
                    | AuthStep::Organizations(_)
                    | AuthStep::RecoveryCode(_) => AuthStep::Redirect(format!("/u/mfa?state={state}")),
                    other => other,
                };
                response.cookies.extend(next.cookies);
                response
            }
            None if tx.request.is_silent() => {
                response.step = app_error(&tx.request, "login_required", "Login required");
                response.cookies.retain(|c| !matches!(c, CookieChange::SetBinding { .. }));
                response
            }
            None => {
                if let Err(e) = self.save(&state, &tx).await {
                    return internal(&lang, e);
                }
                // Auth0's `screen_hint=signup` opens the sign-up form instead of the login form.
                let signup = tx.request.query.get("screen_hint").and_then(Value::as_str) == Some("signup")
                    && !self.ctx.tenant.config.connection.disable_signup;
                let page = if signup { "signup" } else { "login" };
                response.step = AuthStep::Redirect(format!("/u/{page}?state={state}"));
                response
            }
        }
    }

    /// The user of a valid SSO session in this browser, honouring `max_age`.
    async fn session_user(
        &self,
        tx: &LoginTx,
    ) -> AuthResult<Option<(String, gatehouse_types::records::Session, User)>> {
        let Some(cookie) = self.cookies.session.as_ref() else { return Ok(None) };
        let key = secret_key(cookie);
        let now = self.now();
        let Some(session) = self.ctx.tenant.store.find_session(&key, now).await? else { return Ok(None) };
        let idle = self.ctx.tenant.config.sessions.idle_lifetime as i64;
        if now - session.last_active > idle {
            return Ok(None);
        }
        // OIDC Core: max_age=0 means "authenticate again now", like prompt=login.
        if let Some(max_age) = tx.request.max_age
            && (max_age == 0 || now - session.authenticated_at > max_age)
        {
            return Ok(None);
        }
        let Some(user) = self.ctx.tenant.store.find_user(&session.user_id).await? else { return Ok(None) };
        if user.blocked {
            return Ok(None);
        }
        Ok(Some((key, session, user)))
    }
}

/// Ends the SSO session behind a cookie (logout); returns its user. A store failure is returned: the caller must
/// not tell the user they are logged out when the session may still be there.
pub async fn end_session(tenant: &crate::tenant::Tenant, cookie: &str) -> AuthResult<Option<String>> {
    let key = secret_key(cookie);
    let session = tenant.store.find_session(&key, tenant.now()).await?;
    tenant.store.delete_session(&key).await?;
    Ok(session.map(|s| s.user_id))
}

#[cfg(test)]
mod tests {
    use super::language;

    #[test]
    fn accept_language_honours_q_values() {
        assert_eq!(language(&[], Some("en;q=0.5, ja;q=0.9")), "ja");
        assert_eq!(language(&[], Some("fr, ja-JP;q=0.8, en;q=0.7")), "ja");
        assert_eq!(language(&[], Some("ja;q=0, en;q=0.1")), "en");
        assert_eq!(language(&[], Some("ja, en")), "ja");
        assert_eq!(language(&[], Some("de")), "en");
        assert_eq!(language(&[], None), "en");
        assert_eq!(language(&["ja".to_owned()], Some("en")), "ja", "ui_locales win");
    }
}
