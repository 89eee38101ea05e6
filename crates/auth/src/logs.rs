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
