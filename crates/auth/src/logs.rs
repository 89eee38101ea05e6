//! Tenant log entries, shaped once for every place that writes one.

use gatehouse_types::JsonMap;
use gatehouse_types::config::ClientConfig;
use gatehouse_types::records::{LogEntry, User};

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
