//! The outcome of a flow: what a finished, denied or failed flow leaves to apply.

use gatehouse_types::outcome::ScopeChanges;
use gatehouse_types::{FlowResult, JsonMap, Outcome, PostLoginEvent, ScopeChange, TenantLog};

use super::*;

pub(super) fn fail(state: PausedFlow, reason: String, action: Option<String>) -> Outcome {
    build_outcome(FlowResult::Error, Some(reason), action, state.acc, &state.event)
}

/// Ends a flow whose actions all ran: applies the end-of-flow rules.
pub(super) fn finish(state: PausedFlow) -> Outcome {
    let mut acc = state.acc;
    if acc.mfa_commands > 0 {
        acc.multifactor = None;
    }
    let mut warnings = drop_reserved_claims(&mut acc.id_token_claims, "ID");
    warnings.extend(drop_reserved_claims(&mut acc.access_token_claims, "access"));
    acc.tenant_logs.extend(warnings);
    let sizes = [
        ("ID", serde_json::Value::Object(acc.id_token_claims.clone()).to_string().len()),
        ("access", serde_json::Value::Object(acc.access_token_claims.clone()).to_string().len()),
    ];
    for (token, size) in sizes {
        if size > MAX_CLAIMS_BYTES {
            let reason =
                format!("The custom claims of the {token} token are {size} bytes; the limit is {MAX_CLAIMS_BYTES}");
            return build_outcome(FlowResult::Error, Some(reason), None, acc, &state.event);
        }
    }
    let sizes = [
        ("app_metadata", merged_size(&acc.app_metadata, &state.event.user.app_metadata)),
        ("user_metadata", merged_size(&acc.user_metadata, &state.event.user.user_metadata)),
    ];
    for (kind, size) in sizes {
        if size > MAX_METADATA_BYTES {
            let reason = format!("The user's {kind} would be {size} bytes; the limit is {MAX_METADATA_BYTES}");
            return build_outcome(FlowResult::Error, Some(reason), None, acc, &state.event);
        }
    }
    build_outcome(FlowResult::Allow, None, None, acc, &state.event)
}

/// Size in bytes of `current` once `changes` are applied.
pub(crate) fn merged_size(changes: &JsonMap, current: &JsonMap) -> usize {
    let mut merged = current.clone();
    for (k, v) in changes {
        if v.is_null() {
            merged.remove(k);
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    serde_json::Value::Object(merged).to_string().len()
}

/// Removes the custom claims Auth0 would not add to the `token` token (restricted names, Auth0's namespaces): "the
/// transaction won't fail, but your custom claim won't be added", with a `w` warning for each.
pub(crate) fn drop_reserved_claims(claims: &mut JsonMap, token: &str) -> Vec<TenantLog> {
    let mut warnings = Vec::new();
    claims.retain(|name, _| {
        let restricted = RESTRICTED_CLAIMS.contains(&name.as_str());
        let auth0_namespace = is_auth0_namespace(name);
        if restricted || auth0_namespace {
            let why = if restricted { "is a restricted claim name" } else { "uses an Auth0 namespace" };
            warnings.push(TenantLog::new(
                "w",
                format!("Custom claim '{name}' {why} and was not added to the {token} token."),
            ));
        }
        !restricted && !auth0_namespace
    });
    warnings
}

/// Whether a claim name uses a namespace Auth0 reserves (`auth0.com`, `webtask.io`, `webtask.run`, `urn:auth0`).
pub(super) fn is_auth0_namespace(name: &str) -> bool {
    if name.starts_with("urn:auth0") {
        return true;
    }
    let Ok(url) = url::Url::parse(name) else { return false };
    let Some(host) = url.host_str() else { return false };
    ["auth0.com", "webtask.io", "webtask.run"].iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The outcome of a flow. What a denied flow leaves to apply is its metadata changes (Auth0 applies them); a
/// failed flow leaves nothing; no tokens follow either, so neither keeps claims, scopes or a deferred MFA request.
pub(super) fn build_outcome(
    result: FlowResult,
    reason: Option<String>,
    failed_action: Option<String>,
    mut acc: Accumulated,
    event: &PostLoginEvent,
) -> Outcome {
    if matches!(result, FlowResult::Deny | FlowResult::Error) {
        acc.id_token_claims.clear();
        acc.access_token_claims.clear();
        acc.scope_changes.clear();
        acc.multifactor = None;
        acc.primary_user_id = None;
    }
    if result == FlowResult::Error {
        acc.app_metadata.clear();
        acc.user_metadata.clear();
    }
    let mut scopes = ScopeChanges::default();
    for (scope, change) in acc.scope_changes {
        match change {
            ScopeChange::Add => scopes.added.push(scope),
            ScopeChange::Remove => scopes.removed.push(scope),
        }
    }
    Outcome {
        result,
        reason,
        failed_action,
        executed: acc.executed,
        prompts: acc.prompts,
        multifactor: acc.multifactor,
        id_token_claims: acc.id_token_claims,
        access_token_claims: acc.access_token_claims,
        scopes,
        app_metadata: acc.app_metadata,
        user_metadata: acc.user_metadata,
        methods: event.authentication.methods.clone(),
        enrolled: acc.enrolled,
        redirect: None,
        primary_user_id: acc.primary_user_id,
        tenant_logs: acc.tenant_logs,
        logs: acc.logs,
        requests: acc.requests,
        recorded: acc.recorded,
        executions: acc.executions,
    }
}
