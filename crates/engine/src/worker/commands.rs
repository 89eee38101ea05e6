//! Validation of `api.*` calls, with the messages Auth0's wrapper throws, and the calls that answer directly
//! (cache reads, transaction metadata, session tokens).
//!
//! Everything here runs synchronously inside the call, so an invalid argument throws at the line that passed it,
//! as it does on Auth0.

use std::time::{SystemTime, UNIX_EPOCH};

use boa_engine::{Context, JsResult, JsString, JsValue};
use gatehouse_types::command::{MetadataTarget, TokenKind};
use gatehouse_types::{Command, FactorSelector, FactorType, MfaProvider, ScopeChange};
use serde_json::{Value, json};

use crate::protocol::{CacheOp, CacheRecord};
use crate::worker::host::{HostState, arg_string, error, to_json, type_error};

/// Cache limits (reference §2.8): key and value sizes, the total of keys and values, entries per trigger,
/// default and longest lifetimes, and the number of writes one execution may make.
const CACHE_MAX_KEY_BYTES: usize = 64;
const CACHE_MAX_VALUE_BYTES: usize = 4096;
const CACHE_MAX_TOTAL_BYTES: usize = 8192;
const CACHE_MAX_ENTRIES: usize = 20;
const CACHE_DEFAULT_TTL_MS: i64 = 15 * 60 * 1000;
const CACHE_MAX_TTL_MS: i64 = 24 * 60 * 60 * 1000;
const CACHE_MAX_WRITES: u32 = 20;

/// Transaction metadata limits (reference §2.9).
const TX_MAX_KEY_CHARS: usize = 64;
const TX_MAX_VALUE_BYTES: usize = 8 * 1024;
const TX_MAX_TOTAL_BYTES: usize = 16 * 1024;

/// Scope limits of Auth0's wrapper.
const MAX_SCOPE_CHARS: usize = 280;
const MAX_ADDED_SCOPES: u32 = 1000;

const MAX_PRIMARY_USER_ID: usize = 128;

const SESSION_TOKEN_DEFAULT_TTL: i64 = 900;

/// Runs one `api.*` call.
pub(crate) fn dispatch(name: &str, args: &[JsValue], host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match name {
        "access.deny" => {
            let reason = arg_string(args, 0, context)?;
            record(host, Command::Deny { reason })
        }
        "accessToken.setCustomClaim" => custom_claim(TokenKind::Access, &arg(0), &arg(1), host, context),
        "idToken.setCustomClaim" => custom_claim(TokenKind::Id, &arg(0), &arg(1), host, context),
        "accessToken.addScope" => scope(ScopeChange::Add, &arg(0), host),
        "accessToken.removeScope" => scope(ScopeChange::Remove, &arg(0), host),
        "multifactor.enable" => multifactor(&arg(0), &arg(1), host, context),
        "authentication.challengeWith" | "authentication.enrollWith" => {
            let factor = selector(&to_json(&arg(0), host, context)?.unwrap_or(Value::Null))?;
            let options = to_json(&arg(1), host, context)?.unwrap_or(Value::Null);
            let additional_factors = match options.get("additionalFactors") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list.iter().map(selector).collect::<JsResult<_>>()?,
                Some(_) => return Err(type_error("additionalFactors must be an array of factor selectors.")),
            };
            let command = if name.ends_with("challengeWith") {
                Command::ChallengeWith { factor, additional_factors }
            } else {
                Command::EnrollWith { factor, additional_factors }
            };
            record(host, command)
        }
        "authentication.challengeWithAny" | "authentication.enrollWithAny" => {
            let factors = match to_json(&arg(0), host, context)? {
                Some(Value::Array(list)) => list.iter().map(selector).collect::<JsResult<Vec<_>>>()?,
                _ => return Err(type_error("The factors must be an array of factor selectors.")),
            };
            let command = if name.ends_with("challengeWithAny") {
                Command::ChallengeWithAny { factors }
            } else {
                Command::EnrollWithAny { factors }
            };
            record(host, command)
        }
        "authentication.recordMethod" => {
            if !host.run.borrow().is_continue {
                return Err(error("api.authentication.recordMethod can only be called in onContinuePostLogin."));
            }
            let url = arg_string(args, 0, context)?;
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => record(host, Command::RecordMethod { url }),
                _ => Err(type_error("The provider URL must be an http or https URL.")),
            }
        }
        "authentication.setPrimaryUser" => {
            if host.run.borrow().primary_user_set {
                return Err(error("The primary user can only be altered once per transaction"));
            }
            let user_id = match arg(0).as_string() {
                Some(s) if !s.is_empty() => s.to_std_string_escaped(),
                _ => return Err(error("The provided primary_user_id must be a non-empty string")),
            };
            if user_id.chars().count() > MAX_PRIMARY_USER_ID {
                return Err(error("The provided primary_user_id exceeds the maximum length."));
            }
            host.run.borrow_mut().primary_user_set = true;
            record(host, Command::SetPrimaryUser { user_id })
        }
        "user.setAppMetadata" => metadata(MetadataTarget::App, &arg(0), &arg(1), host, context),
        "user.setUserMetadata" => metadata(MetadataTarget::User, &arg(0), &arg(1), host, context),
        "redirect.sendUserTo" => send_user_to(&arg(0), &arg(1), host, context),
        "redirect.encodeToken" => encode_token(&arg(0), host, context),
        "redirect.validateToken" => validate_token(&arg(0), host, context),
        "redirect.canRedirect" => {
            let run = host.run.borrow();
            let prompt_none = run.event.pointer("/request/query/prompt").and_then(Value::as_str) == Some("none");
            let protocol = run.event.pointer("/transaction/protocol").and_then(Value::as_str).unwrap_or("");
            let no_redirect = matches!(
                protocol,
                "oauth2-resource-owner" | "oauth2-refresh-token" | "oauth2-password" | "oauth2-webauthn"
            );
            Ok(JsValue::from(!prompt_none && !no_redirect))
        }
        "transaction.setMetadata" => transaction_metadata(&arg(0), &arg(1), host, context),
        "transaction.addTargetScope" | "transaction.removeTargetScope" => {
            let scope = scope_value(&arg(0))?;
            let mut next = host.run.borrow().target_scopes.clone();
            next.retain(|s| *s != scope);
            if name == "transaction.addTargetScope" {
                next.push(scope);
            }
            target_scopes(next, host)
        }
        "transaction.setTargetScopes" => {
            let list = to_json(&arg(0), host, context)?.unwrap_or(Value::Null);
            let Value::Array(items) = list else {
                return Err(type_error("setTargetScopes takes an array of scope strings."));
            };
            let mut next: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(raw) = item else {
                    return Err(type_error("setTargetScopes takes an array of scope strings."));
                };
                let scope = check_scope(&raw)?;
                if !next.contains(&scope) {
                    next.push(scope);
                }
            }
            target_scopes(next, host)
        }
        "transaction.clearTargetScopes" => target_scopes(Vec::new(), host),
        "notification.drop" | "notification.retry" => {
            // The reason is optional; Auth0 keeps its first 1,024 characters. The last call of a run wins.
            let reason = if arg(0).is_null_or_undefined() { String::new() } else { arg_string(args, 0, context)? };
            // Cut here too, so a huge reason does not cross the pipe; cut again after redaction by the host.
            let reason = crate::flow::cap_reason(reason);
            let command = if name == "notification.drop" {
                Command::DropNotification { reason }
            } else {
                Command::RetryNotification { reason }
            };
            record(host, command)
        }
        "credentials.deny" => {
            let code = arg_string(args, 0, context)?;
            if !matches!(code.as_str(), "invalid_scope" | "invalid_request" | "server_error") {
                return Err(type_error("The code must be one of: invalid_scope, invalid_request, server_error."));
            }
            let reason = if arg(1).is_null_or_undefined() { String::new() } else { arg_string(args, 1, context)? };
            record(host, Command::DenyCredentials { code, reason: crate::flow::cap_reason(reason) })
        }
        "registration.deny" => {
            // Cut here so a huge text does not cross the pipe; the host cuts again after redaction.
            let reason = crate::flow::cap_reason(arg_string(args, 0, context)?);
            let user_message = if arg(1).is_null_or_undefined() {
                None
            } else {
                Some(crate::flow::cap_reason(arg_string(args, 1, context)?))
            };
            record(host, Command::DenyRegistration { reason, user_message })
        }
        "registration.validationError" => {
            let code = to_json(&arg(0), host, context)?.unwrap_or(Value::Null);
            let message = to_json(&arg(1), host, context)?.unwrap_or(Value::Null);
            let (code, message) = validation_error_args(&code, &message)?;
            record(host, Command::ValidationError { code, message })
        }
        name if is_recorded_call(name) => record_call(name, args, host, context),
        "cache.get" => cache_get(&arg(0), host, context),
        "cache.set" => cache_set(&arg(0), &arg(1), &arg(2), host, context),
        "cache.delete" => cache_delete(&arg(0), host, context),
        _ => Err(error(format!("unknown host command '{name}'"))),
    }
}

/// The calls of reference §2.10 to §2.14 that [`record_call`] handles.
fn is_recorded_call(name: &str) -> bool {
    name.starts_with("session.")
        || name.starts_with("refreshToken.")
        || name.starts_with("samlResponse.")
        || name == "prompt.render"
        || name == "validation.error"
}

const SESSION_METADATA_KEYS: usize = 25;
const SAML_MAX_ATTRIBUTES: usize = 100;
const PROMPT_MAX_OPTIONS_BYTES: usize = 24 * 1024;

/// `api.session.*`, `api.refreshToken.*`, `api.prompt.render`, `api.samlResponse.*` and `api.validation.error`
/// (reference §2.10 to §2.14), with the argument checks of Auth0's wrapper. Each is recorded in the outcome
/// ([`Command::Record`]); `session.revoke`, `validation.error`, and `refreshToken.revoke` during a refresh token
/// exchange also deny the login (the flow stops after the action), which is all Gatehouse can apply of them: it
/// has no enterprise session store, Forms or SAML responses.
fn record_call(name: &str, args: &[JsValue], host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(to_json(arg, host, context)?.unwrap_or(Value::Null));
    }
    let value = |i: usize| values.get(i).cloned().unwrap_or(Value::Null);
    let string = |i: usize, what: &str| -> JsResult<String> {
        value(i).as_str().map(str::to_owned).ok_or_else(|| type_error(format!("{what} must be a string.")))
    };
    let metadata_key = |key: &str| -> JsResult<()> {
        let ok =
            (1..=255).contains(&key.len()) && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok { Ok(()) } else { Err(type_error("Metadata keys are 1 to 255 characters of a-z, A-Z, 0-9, _ and -.")) }
    };
    let same_calls = |api: &str| {
        host.run.borrow().commands.iter().filter(|c| matches!(c, Command::Record { api: a, .. } if a == api)).count()
    };
    let mut deny = None;
    let (namespace, method) = name.split_once('.').unwrap_or((name, ""));
    match (namespace, method) {
        ("session" | "refreshToken", "revoke") => {
            let reason = string(0, "The reason")?;
            if namespace == "session" {
                match value(1) {
                    Value::Null => {}
                    Value::Object(options) => match options.get("preserveRefreshTokens") {
                        None | Some(Value::Null | Value::Bool(_)) => {}
                        Some(_) => return Err(type_error("preserveRefreshTokens must be a boolean.")),
                    },
                    _ => return Err(type_error("The options must be an object.")),
                }
                deny = Some(reason);
            } else {
                let run = host.run.borrow();
                if run.event.pointer("/transaction/protocol").and_then(Value::as_str) == Some("oauth2-refresh-token") {
                    deny = Some(reason);
                }
            }
        }
        ("session" | "refreshToken", "setExpiresAt" | "setIdleExpiresAt") => {
            if !value(0).as_f64().is_some_and(|ms| ms.is_finite() && ms > 0.0) {
                return Err(type_error("The expiry must be a time in milliseconds since the epoch."));
            }
        }
        ("session", "setCookieMode") => {
            let mode = string(0, "The cookie mode")?;
            if mode != "persistent" && mode != "non-persistent" {
                return Err(type_error("The cookie mode must be 'persistent' or 'non-persistent'."));
            }
        }
        ("session" | "refreshToken", "setMetadata") => {
            let key = string(0, "The metadata key")?;
            metadata_key(&key)?;
            match value(1) {
                Value::Null => {}
                Value::String(v) if v.chars().count() <= 255 => {}
                _ => return Err(type_error("Metadata values are strings of at most 255 characters, or null.")),
            }
            if same_calls(name) >= SESSION_METADATA_KEYS {
                return Err(error(format!("At most {SESSION_METADATA_KEYS} metadata keys may be set.")));
            }
        }
        ("session" | "refreshToken", "deleteMetadata") => metadata_key(&string(0, "The metadata key")?)?,
        ("session" | "refreshToken", "evictMetadata") => {}
        ("prompt", "render") => {
            if string(0, "The prompt id")?.is_empty() {
                return Err(type_error("The prompt id must be a non-empty string."));
            }
            match value(1) {
                Value::Null => {}
                Value::Object(options) => {
                    for part in ["fields", "vars"] {
                        if !matches!(options.get(part), None | Some(Value::Null | Value::Object(_))) {
                            return Err(type_error(format!("options.{part} must be an object.")));
                        }
                    }
                    if serde_json::to_vec(&options).map_or(0, |b| b.len()) > PROMPT_MAX_OPTIONS_BYTES {
                        return Err(error("The prompt options exceed 24 KiB."));
                    }
                }
                _ => return Err(type_error("The options must be an object.")),
            }
            if same_calls(name) > 0 {
                return Err(error("api.prompt.render can be called once per action."));
            }
            if host.run.borrow().commands.iter().any(|c| matches!(c, Command::Redirect { .. })) {
                return Err(error("api.prompt.render cannot be combined with api.redirect.sendUserTo in one action."));
            }
        }
        ("validation", "error") => {
            let (_, message) = validation_error_args(&value(0), &value(1))?;
            deny = Some(message);
        }
        ("samlResponse", "setAttribute") => {
            let attribute = string(0, "The attribute name")?;
            if attribute.is_empty() || attribute.len() > 1024 {
                return Err(type_error("The attribute name is 1 to 1024 bytes."));
            }
            if serde_json::to_vec(&value(1)).map_or(0, |b| b.len()) > 2048 {
                return Err(type_error("The attribute value is at most 2048 bytes."));
            }
            if same_calls(name) >= SAML_MAX_ATTRIBUTES {
                return Err(error(format!("At most {SAML_MAX_ATTRIBUTES} SAML attributes may be changed.")));
            }
        }
        ("samlResponse", setter) => saml_setter(setter, &value(0))?,
        _ => return Err(error(format!("unknown host command '{name}'"))),
    }
    if name == "samlResponse.setKey" {
        values = vec![json!("[redacted]")];
    }
    let mut run = host.run.borrow_mut();
    if let Some(reason) = deny {
        run.commands.push(Command::Deny { reason });
    }
    run.commands.push(Command::Record { api: name.to_owned(), args: values });
    Ok(JsValue::undefined())
}

/// The arguments of `api.validation.error(code, message)`, checked as Auth0's wrapper checks them: two strings of at
/// most 100 characters each. Post-login records the call and denies the login with the message; pre-user-registration
/// refuses the sign-up with both ([`Command::ValidationError`]).
fn validation_error_args(code: &Value, message: &Value) -> JsResult<(String, String)> {
    let Some(code) = code.as_str() else { return Err(type_error("The error code must be a string.")) };
    let Some(message) = message.as_str() else { return Err(type_error("The error message must be a string.")) };
    if code.chars().count() > 100 || message.chars().count() > 100 {
        return Err(type_error("The error code and message are at most 100 characters each."));
    }
    Ok((code.to_owned(), message.to_owned()))
}

/// The `api.samlResponse` configuration setters and the argument each takes.
fn saml_setter(setter: &str, value: &Value) -> JsResult<()> {
    let enumerated = |allowed: &[&str]| -> JsResult<()> {
        match value.as_str() {
            Some(v) if allowed.contains(&v) => Ok(()),
            _ => Err(type_error(format!("The value must be one of {}.", allowed.join(", ")))),
        }
    };
    match setter {
        "setAudience"
        | "setRecipient"
        | "setDestination"
        | "setNameIdentifierFormat"
        | "setAuthnContextClassRef"
        | "setSigningCert"
        | "setEncryptionCert"
        | "setEncryptionPublicKey"
        | "setCert"
        | "setKey"
        | "setRelayState"
        | "setIssuer" => {
            if value.is_string() {
                Ok(())
            } else {
                Err(type_error("The value must be a string."))
            }
        }
        "setCreateUpnClaim"
        | "setPassthroughClaimsWithNoMapping"
        | "setMapUnknownClaimsAsIs"
        | "setMapIdentities"
        | "setSignResponse"
        | "setIncludeAttributeNameFormat"
        | "setTypedAttributes" => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(type_error("The value must be a boolean."))
            }
        }
        "setLifetimeInSeconds" => match value.as_f64() {
            Some(s) if s.is_finite() && s > 0.0 => Ok(()),
            _ => Err(type_error("The lifetime must be a positive number of seconds.")),
        },
        "setNameIdentifierProbes" => match value.as_array() {
            Some(list) if list.iter().all(Value::is_string) => Ok(()),
            _ => Err(type_error("The probes must be an array of strings.")),
        },
        "setSignatureAlgorithm" => enumerated(&["rsa-sha256", "rsa-sha1"]),
        "setDigestAlgorithm" => enumerated(&["sha256", "sha1"]),
        "setEncryptionAlgorithm" => enumerated(&["aes256-gcm", "aes256-cbc"]),
        _ => Err(error(format!("unknown host command 'samlResponse.{setter}'"))),
    }
}

fn record(host: &HostState, command: Command) -> JsResult<JsValue> {
    host.run.borrow_mut().commands.push(command);
    Ok(JsValue::undefined())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn custom_claim(
    token: TokenKind,
    key: &JsValue,
    value: &JsValue,
    host: &HostState,
    context: &mut Context,
) -> JsResult<JsValue> {
    let Some(name) = key.as_string().map(|s| s.to_std_string_escaped()) else {
        return Err(type_error("The claim name must be a string."));
    };
    if name == "scope" {
        return Err(error("The \"scope\" claim cannot be set."));
    }
    let value = to_json(value, host, context)?.unwrap_or(Value::Null);
    record(host, Command::SetCustomClaim { token, name, value })
}

/// Replaces the run's target scopes (credentials-exchange) and records the new set.
fn target_scopes(next: Vec<String>, host: &HostState) -> JsResult<JsValue> {
    if next.len() > MAX_ADDED_SCOPES as usize {
        return Err(error(format!("The number of scopes exceeds the allowed maximum of {MAX_ADDED_SCOPES}.")));
    }
    {
        let mut run = host.run.borrow_mut();
        run.target_scopes = next.clone();
        run.target_scopes_object = None;
    }
    record(host, Command::SetTargetScopes { scopes: next })
}

fn scope(change: ScopeChange, value: &JsValue, host: &HostState) -> JsResult<JsValue> {
    let scope = scope_value(value)?;
    if change == ScopeChange::Add {
        let mut run = host.run.borrow_mut();
        run.added_scopes += 1;
        if run.added_scopes > MAX_ADDED_SCOPES {
            return Err(error(format!("The number of scopes exceeds the allowed maximum of {MAX_ADDED_SCOPES}.")));
        }
    }
    record(host, Command::ModifyScope { change, scope })
}

/// A scope an action names: a string, trimmed, non-empty, without whitespace, at most 280 characters.
fn scope_value(value: &JsValue) -> JsResult<String> {
    let Some(raw) = value.as_string() else {
        return Err(type_error("The value for the scope must be a string."));
    };
    check_scope(&raw.to_std_string_escaped())
}

fn check_scope(raw: &str) -> JsResult<String> {
    let scope = raw.trim().to_owned();
    if scope.is_empty() {
        return Err(error("The value for the scope is required."));
    }
    if scope.encode_utf16().count() > MAX_SCOPE_CHARS {
        return Err(error(format!(
            "The value for the scope exceeds the allowed maximum of {MAX_SCOPE_CHARS} characters."
        )));
    }
    if scope.chars().any(char::is_whitespace) {
        return Err(error("The value for the scope must not have whitespace."));
    }
    Ok(scope)
}

fn multifactor(provider: &JsValue, options: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let name = provider.as_string().map(|s| s.to_std_string_escaped()).unwrap_or_default();
    let Some(provider) = MfaProvider::parse(&name) else {
        return Err(type_error(format!(
            "Invalid MFA provider '{name}'. Expected one of: any, guardian, google-authenticator, duo, none."
        )));
    };
    let options = to_json(options, host, context)?.unwrap_or(Value::Null);
    let allow_remember_browser = match options.get("allowRememberBrowser") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(type_error("allowRememberBrowser must be a boolean.")),
    };
    record(host, Command::EnableMultifactor { provider, allow_remember_browser })
}

/// Parses a factor selector `{ type, options? }`, validating the options Auth0 documents.
fn selector(value: &Value) -> JsResult<FactorSelector> {
    let Some(object) = value.as_object() else {
        return Err(type_error("A factor selector must be an object like { type: 'otp' }."));
    };
    let name = object.get("type").and_then(Value::as_str).unwrap_or_default();
    let Some(kind) = FactorType::parse(name) else {
        return Err(type_error(format!(
            "Invalid factor type '{name}'. Expected one of: otp, email, push-notification, push, phone, \
             webauthn-platform, webauthn-roaming, recovery-code."
        )));
    };
    let options = match object.get("options") {
        None | Some(Value::Null) => None,
        Some(Value::Object(options)) => Some(options.clone()),
        Some(_) => return Err(type_error("Factor options must be an object.")),
    };
    if let Some(options) = &options {
        match kind {
            FactorType::Phone => {
                if let Some(method) = options.get("preferredMethod")
                    && !matches!(method.as_str(), Some("sms" | "voice" | "both"))
                {
                    return Err(type_error("preferredMethod must be one of: sms, voice, both."));
                }
            }
            FactorType::PushNotification => {
                if let Some(fallback) = options.get("otpFallback")
                    && !fallback.is_boolean()
                {
                    return Err(type_error("otpFallback must be a boolean."));
                }
            }
            _ => {}
        }
    }
    Ok(FactorSelector { kind, options })
}

fn metadata(
    target: MetadataTarget,
    key: &JsValue,
    value: &JsValue,
    host: &HostState,
    context: &mut Context,
) -> JsResult<JsValue> {
    let Some(key) = key.as_string().map(|s| s.to_std_string_escaped()) else {
        return Err(type_error("The metadata key must be a string."));
    };
    let value = to_json(value, host, context)?.unwrap_or(Value::Null);
    record(host, Command::SetMetadata { target, key, value })
}

fn send_user_to(url: &JsValue, options: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let text = url.to_string(context)?.to_std_string_escaped();
    let mut parsed = url::Url::parse(&text).map_err(|_| type_error(format!("Invalid URL: {text}")))?;
    let options = to_json(options, host, context)?.unwrap_or(Value::Null);
    if let Some(query) = options.get("query").and_then(Value::as_object) {
        for (name, value) in query {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| k != name)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(kept).append_pair(name, &value);
        }
    }
    record(host, Command::Redirect { url: parsed.to_string() })
}

fn encode_token(options: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let options = to_json(options, host, context)?.unwrap_or(Value::Null);
    let secret = match options.get("secret").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => return Err(type_error("encodeToken: the secret must be a non-empty string.")),
    };
    let issued_at = now_ms() / 1000;
    let expires_in = options.get("expiresInSeconds").and_then(Value::as_i64).unwrap_or(SESSION_TOKEN_DEFAULT_TTL);
    let mut claims = {
        let run = host.run.borrow();
        json!({
            "iat": issued_at,
            "iss": run.event.pointer("/request/hostname").cloned().unwrap_or(Value::Null),
            "sub": run.event.pointer("/user/user_id").cloned().unwrap_or(Value::Null),
            "exp": issued_at + expires_in,
            "ip": run.event.pointer("/request/ip").cloned().unwrap_or(Value::Null),
        })
    };
    if let (Some(claims), Some(payload)) = (claims.as_object_mut(), options.get("payload").and_then(Value::as_object)) {
        for (k, v) in payload {
            claims.insert(k.clone(), v.clone());
        }
    }
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| error(format!("encodeToken: {e}")))?;
    Ok(JsString::from(token).into())
}

fn validate_token(options: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let options = to_json(options, host, context)?.unwrap_or(Value::Null);
    let secret = match options.get("secret").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => return Err(type_error("validateToken: the secret must be a non-empty string.")),
    };
    let parameter = match options.get("tokenParameterName").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "session_token".to_owned(),
    };
    let (token, state, subject, issuer) = {
        let run = host.run.borrow();
        let param = |name: &str| {
            run.event
                .pointer(&format!("/request/body/{name}"))
                .or_else(|| run.event.pointer(&format!("/request/query/{name}")))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        (
            param(&parameter),
            param("state"),
            run.event.pointer("/user/user_id").and_then(Value::as_str).map(str::to_owned),
            run.event.pointer("/request/hostname").and_then(Value::as_str).map(str::to_owned),
        )
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(error(format!(
            "There is no parameter called '{parameter}' available in either the POST body or query string."
        )));
    };
    let invalid = |reason: &str| error(format!("The session token is invalid: {reason}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.required_spec_claims.insert("exp".to_owned());
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => invalid("the token has expired"),
        jsonwebtoken::errors::ErrorKind::InvalidSignature => invalid("the signature does not match"),
        _ => invalid("the token is malformed"),
    })?;
    let claims = data.claims;
    if claims.get("state").and_then(Value::as_str) != state.as_deref() {
        return Err(invalid("the state claim does not match the state parameter"));
    }
    if claims.get("sub").and_then(Value::as_str) != subject.as_deref() {
        return Err(invalid("the subject does not match the user"));
    }
    if issuer.is_some() && claims.get("iss").and_then(Value::as_str) != issuer.as_deref() {
        return Err(invalid("the issuer does not match this tenant"));
    }
    JsValue::from_json(&Value::Object(claims), context)
}

fn transaction_metadata(key: &JsValue, value: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let Some(key) = key.as_string().map(|s| s.to_std_string_escaped()) else {
        return Err(type_error("The transaction metadata key must be a string."));
    };
    if key.is_empty() || key.chars().count() > TX_MAX_KEY_CHARS {
        return Err(type_error(format!("The transaction metadata key must be 1 to {TX_MAX_KEY_CHARS} characters.")));
    }
    let value = match to_json(value, host, context)? {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Number(n)) => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() > 9_007_199_254_740_991.0
            {
                return Err(type_error("Transaction metadata numbers must be safe integers or finite decimals."));
            }
            Value::Number(n)
        }
        Some(v @ (Value::String(_) | Value::Bool(_))) => v,
        Some(_) => {
            return Err(type_error(
                "Transaction metadata values must be a string, number, boolean or null; JSON.stringify objects first.",
            ));
        }
    };
    if value.to_string().len() > TX_MAX_VALUE_BYTES {
        return Err(type_error(format!("The transaction metadata value exceeds {TX_MAX_VALUE_BYTES} bytes.")));
    }
    let mut run = host.run.borrow_mut();
    let mut next = run.tx_metadata.clone();
    if value.is_null() {
        next.remove(&key);
    } else {
        next.insert(key, value);
    }
    if Value::Object(next.clone()).to_string().len() > TX_MAX_TOTAL_BYTES {
        return Err(type_error(format!("The transaction metadata exceeds {TX_MAX_TOTAL_BYTES} bytes in total.")));
    }
    run.tx_metadata = next;
    run.tx_metadata_object = None;
    Ok(JsValue::undefined())
}

fn cache_key(key: &JsValue, context: &mut Context) -> JsResult<String> {
    Ok(key.to_string(context)?.to_std_string_escaped())
}

fn cache_get(key: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let key = cache_key(key, context)?;
    let record = host.run.borrow().cache.get(&key).cloned();
    match record {
        Some(record) if record.expires_at >= now_ms() => {
            JsValue::from_json(&json!({ "value": record.value, "expires_at": record.expires_at }), context)
        }
        _ => Ok(JsValue::undefined()),
    }
}

fn cache_error(code: &str, context: &mut Context) -> JsResult<JsValue> {
    JsValue::from_json(&json!({ "type": "error", "code": code }), context)
}

fn cache_set(
    key: &JsValue,
    value: &JsValue,
    options: &JsValue,
    host: &HostState,
    context: &mut Context,
) -> JsResult<JsValue> {
    let key = cache_key(key, context)?;
    let value = value.to_string(context)?.to_std_string_escaped();
    let options = to_json(options, host, context)?.unwrap_or(Value::Null);
    let now = now_ms();
    if key.len() > CACHE_MAX_KEY_BYTES {
        return cache_error("CacheKeySizeExceeded", context);
    }
    if value.len() > CACHE_MAX_VALUE_BYTES {
        return cache_error("CacheValueSizeExceeded", context);
    }
    let mut run = host.run.borrow_mut();
    run.cache.retain(|_, r| r.expires_at >= now);
    let others: usize = run.cache.iter().filter(|(k, _)| **k != key).map(|(k, r)| k.len() + r.value.len()).sum();
    if others + key.len() + value.len() > CACHE_MAX_TOTAL_BYTES
        || (!run.cache.contains_key(&key) && run.cache.len() >= CACHE_MAX_ENTRIES)
    {
        drop(run);
        return cache_error("CacheSizeExceeded", context);
    }
    let finite = |v: &Value| v.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64);
    let mut expires_at = None;
    if let Some(ttl) = options.get("ttl").filter(|v| !v.is_null()) {
        let Some(ttl) = finite(ttl) else {
            drop(run);
            return cache_error("InvalidExpiry", context);
        };
        expires_at = Some(now + ttl);
    }
    if let Some(at) = options.get("expires_at").filter(|v| !v.is_null()) {
        let Some(at) = finite(at) else {
            drop(run);
            return cache_error("InvalidExpiry", context);
        };
        expires_at = Some(expires_at.map_or(at, |e: i64| e.min(at)));
    }
    let expires_at = expires_at.unwrap_or(now + CACHE_DEFAULT_TTL_MS).min(now + CACHE_MAX_TTL_MS);
    if expires_at <= now {
        drop(run);
        return cache_error("ItemAlreadyExpired", context);
    }
    run.cache_writes += 1;
    if run.cache_writes > CACHE_MAX_WRITES {
        drop(run);
        return cache_error("MaxSideEffectsExceeded", context);
    }
    let record = CacheRecord { value, expires_at };
    run.cache.insert(key.clone(), record.clone());
    run.cache_ops.push(CacheOp::Set { key, record: record.clone() });
    drop(run);
    JsValue::from_json(
        &json!({ "type": "success", "record": { "value": record.value, "expires_at": record.expires_at } }),
        context,
    )
}

fn cache_delete(key: &JsValue, host: &HostState, context: &mut Context) -> JsResult<JsValue> {
    let key = cache_key(key, context)?;
    let mut run = host.run.borrow_mut();
    if !run.cache.contains_key(&key) {
        drop(run);
        return cache_error("CacheKeyDoesNotExist", context);
    }
    run.cache_writes += 1;
    if run.cache_writes > CACHE_MAX_WRITES {
        drop(run);
        return cache_error("MaxSideEffectsExceeded", context);
    }
    run.cache.remove(&key);
    run.cache_ops.push(CacheOp::Delete { key });
    drop(run);
    JsValue::from_json(&json!({ "type": "success" }), context)
}
