//! Tenant log entries, shaped once for every place that writes one.

use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{LogEntry, User};
use gatehouse_types::{JsonMap, Outcome};
use serde_json::{Value, json};

use crate::clock;
use crate::context::RequestInfo;

/// An entry of event `kind` about a request, its client and its user (never a secret: callers pass descriptions
/// written for logs).
pub fn entry(
    kind: &str,
    description: impl Into<String>,
    request: &RequestInfo,
    client: Option<&ClientConfig>,
    user: Option<&User>,
) -> LogEntry {
    LogEntry {
        log_id: String::new(),
        date: clock::now_iso(),
        kind: kind.to_owned(),
        description: description.into(),
        client_id: client.map(|c| c.client_id.clone()),
        client_name: client.map(|c| c.name.clone()),
        ip: Some(request.ip.clone()),
        user_agent: request.user_agent.clone(),
        user_id: user.map(|u| u.user_id.clone()),
        user_name: user.map(|u| u.email.clone()),
        connection: user.map(|u| u.connection.clone()),
        details: JsonMap::new(),
    }
}

/// Every tenant log event code Gatehouse writes (Auth0's codes, reference §10).
pub const CODES: &[&str] = &[
    "s",
    "f",
    "fp",
    "fu",
    "w",
    "mfar",
    "actions_execution_failed",
    "limit_wc",
    "sapi",
    "srrt",
    "frrt",
    "seacft",
    "feacft",
    "seccft",
    "feccft",
    "sepft",
    "fepft",
    "sertft",
    "fertft",
    "seotpft",
    "feotpft",
    "seoobft",
    "feoobft",
    "sercft",
    "fercft",
    "gd_auth_succeed",
    "gd_auth_failed",
    "gd_enrollment_complete",
    "gd_enrollment_failed",
    "gd_otp_rate_limit_exceed",
    "gd_recovery_succeed",
    "gd_recovery_failed",
    "gd_recovery_rate_limit_exceed",
    "gd_send_email",
    "gd_send_email_failure",
    "gd_send_sms",
    "gd_send_sms_failure",
    "gd_send_voice",
    "gd_send_voice_failure",
    "gd_start_auth",
    "gd_start_enroll",
    "gd_unenroll",
    "ss",
    "fs",
    "limit_mu",
    "sv",
    "fv",
    "scpr",
    "fcpr",
    "scp",
    "fcp",
];

/// The codes a `type` filter stands for: a code itself, or one of Auth0's groupings (`f`: every failed login,
/// `f`, `fp` and `fu`); `None` for a code Gatehouse does not know.
pub fn codes_for(filter: &str) -> Option<Vec<&'static str>> {
    match filter {
        "f" => Some(vec!["f", "fp", "fu"]),
        code => CODES.iter().find(|c| **c == code).map(|c| vec![*c]),
    }
}

/// Console output one log entry keeps of a login's actions, in bytes of message text (Auth0 caps an execution's
/// logs too); what is cut is said.
const MAX_ACTION_OUTPUT: usize = 16 * 1024;

/// Adds `details.actions` to a login's entry: each action that ran, when and how long, the `api.*` calls it made
/// (named, never with the values they set), its error and its console output, which the flow already redacted of
/// the actions' secrets.
pub fn add_actions(entry: &mut LogEntry, outcome: &Outcome) {
    if outcome.executions.is_empty() {
        return;
    }
    let mut budget = MAX_ACTION_OUTPUT;
    let mut seen = std::collections::BTreeSet::new();
    let executions: Vec<Value> = outcome
        .executions
        .iter()
        .map(|execution| {
            // An action that ran twice (onContinuePostLogin) shows its output with its first run.
            let logs: Vec<Value> = if seen.insert(execution.action.as_str()) {
                outcome
                    .logs
                    .iter()
                    .filter(|line| line.action == execution.action)
                    .filter_map(|line| {
                        if budget == 0 {
                            return None;
                        }
                        let mut message = line.message.clone();
                        if message.len() > budget {
                            let mut cut = budget;
                            while !message.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            message.truncate(cut);
                            message.push_str("... (truncated: a login's entry keeps 16 KB of action output)");
                        }
                        budget = budget.saturating_sub(line.message.len());
                        Some(json!({ "level": line.level, "message": message }))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut value = json!({
                "action_name": execution.action,
                "duration_ms": execution.duration_ms,
                "commands": execution.commands,
                "logs": logs,
            });
            if let Some(started_at) = &execution.started_at {
                value["started_at"] = json!(started_at);
            }
            if let Some(error) = &execution.error {
                value["error"] = json!({ "message": error });
            }
            value
        })
        .collect();
    entry.details.insert("actions".into(), json!({ "executions": executions }));
}

/// Whether an entry of event `kind` may be group-committed (durable within the store's flush interval rather than
/// before the request is answered): only the success lines of a login or a token exchange (`s`, `se…ft`), the
/// common path. Failures, warnings, limits and MFA events are the security team's audit trail and are flushed before
/// the request is answered.
pub fn may_group_commit(kind: &str) -> bool {
    kind == "s" || (kind.starts_with("se") && kind.ends_with("ft"))
}

#[cfg(test)]
mod tests {
    use super::may_group_commit;

    #[test]
    fn only_success_lines_are_group_committed() {
        for kind in ["s", "seacft", "seccft", "sepft", "sertft", "seoobft", "seotpft", "sercft"] {
            assert!(may_group_commit(kind), "{kind}");
        }
        let durable =
            "f fp fu feacft feccft fepft fertft limit_wc mfar gd_auth_failed gd_auth_succeed gd_unenroll sapi ss w";
        for kind in durable.split(' ') {
            assert!(!may_group_commit(kind), "{kind}");
        }
    }
}
