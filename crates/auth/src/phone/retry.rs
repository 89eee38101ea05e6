//! Phone messages whose action asked for a retry (`api.notification.retry(reason)`, reference §6.2): kept in the
//! store and tried again up to 5 times, 5, 10, 20, 40 then 80 seconds apart (all within the code's 5 minutes), by
//! whichever process finds them due ([`run_due`], called every second by `gatehouse serve`).
//!
//! A due message is taken from the store before it is tried, so of two processes only one sends it; one that
//! needs another try is put back. A restart loses nothing but a try in progress at the moment of the crash. The
//! record holds the trigger's event (with the code, never the secrets, which are added at each try) and expires
//! with the code.

use gatehouse_store::{Ephemeral, StoreResult};
use gatehouse_types::Trigger;
use gatehouse_types::phone::{DeliveryMethod, NotificationResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::RequestInfo;
use crate::crypto::one_time_code;
use crate::logs;
use crate::mask::mask_phone;
use crate::phone::delivery::{CodeMessage, log_kind, what, with_secrets};
use crate::tenant::Tenant;

/// Retries after the first try.
pub const MAX_RETRIES: u32 = 5;
/// Seconds before each retry.
const DELAYS: [i64; MAX_RETRIES as usize] = [5, 10, 20, 40, 80];
/// Messages looked at per scan.
const SCAN: usize = 64;

/// A message waiting for its next try.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// The phone trigger.
    pub trigger: Trigger,
    /// The trigger's event, without `secrets`.
    pub event: Value,
    /// Retries made so far.
    pub retries: u32,
    /// When the next try is due (epoch seconds).
    pub next_at: i64,
    /// When the code expires: no try after that.
    pub expires_at: i64,
    /// The user.
    pub user_id: String,
    /// The number, E.164 (masked in logs).
    pub recipient: String,
    /// Text or voice.
    pub method: DeliveryMethod,
    /// The application.
    pub client_id: Option<String>,
    /// The request that caused the message, for the tenant log.
    pub request: RequestInfo,
}

impl PendingDelivery {
    /// The first retry of `message`, whose first try just asked for one.
    pub(crate) fn first(trigger: Trigger, event: Value, message: &CodeMessage<'_>, now: i64) -> Self {
        PendingDelivery {
            trigger,
            event,
            retries: 0,
            next_at: now + DELAYS[0],
            expires_at: now + one_time_code::LIFETIME_SECS,
            user_id: message.user.user_id.clone(),
            recipient: message.recipient.to_owned(),
            method: message.method,
            client_id: message.client.map(|c| c.client_id.clone()),
            request: message.request.clone(),
        }
    }
}

/// Stores a message for its next try.
pub(crate) async fn enqueue(tenant: &Tenant, pending: &PendingDelivery) -> StoreResult<()> {
    let key = crate::ids::secret().map_err(|e| gatehouse_store::StoreError::Backend(e.to_string()))?;
    let bytes = serde_json::to_vec(pending).map_err(|e| gatehouse_store::StoreError::Backend(e.to_string()))?;
    tenant.store.put_ephemeral(Ephemeral::PhoneDelivery, &key, &bytes, pending.expires_at).await
}

/// Tries every message that is due once; returns how many were tried.
pub async fn run_due(tenant: &Tenant) -> usize {
    let now = tenant.now();
    let list = match tenant.store.list_ephemeral(Ephemeral::PhoneDelivery, now, SCAN).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "phone retries: the store could not be read");
            return 0;
        }
    };
    let mut tried = 0;
    for (key, raw) in list {
        let pending = match serde_json::from_slice::<PendingDelivery>(&raw) {
            Ok(pending) => pending,
            Err(_) => {
                tracing::warn!("phone retries: an unreadable record was removed");
                let _ = tenant.store.delete_ephemeral(Ephemeral::PhoneDelivery, &key).await;
                continue;
            }
        };
        if pending.next_at > now {
            continue;
        }
        // Claimed by taking it: of two processes, one gets it.
        match tenant.store.take_ephemeral(Ephemeral::PhoneDelivery, &key, now).await {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "phone retries: a message could not be claimed");
                continue;
            }
        }
        tried += 1;
        retry_once(tenant, pending, now).await;
    }
    tried
}

async fn retry_once(tenant: &Tenant, mut pending: PendingDelivery, now: i64) {
    let outcome = tenant.actions.deliver_phone(pending.trigger, with_secrets(tenant, pending.event.clone())).await;
    pending.retries += 1;
    let n = pending.retries;
    let to = mask_phone(&pending.recipient);
    let what = what(pending.method);
    let reason = outcome.reason.clone().unwrap_or_default();
    let (sent, description) = match outcome.result {
        NotificationResult::Sent => (true, format!("MFA {what} sent to {to} (retry {n} of {MAX_RETRIES})")),
        NotificationResult::Retry => {
            let next = DELAYS.get(n as usize).map(|delay| now + delay).filter(|at| *at < pending.expires_at);
            match next {
                Some(at) => {
                    pending.next_at = at;
                    let kept = enqueue(tenant, &pending).await;
                    match kept {
                        Ok(()) => (
                            false,
                            format!(
                                "MFA {what} to {to} not sent: the action asked for a retry: {reason}; trying again in {} s (retry {n} of {MAX_RETRIES})",
                                at - now
                            ),
                        ),
                        Err(e) => (
                            false,
                            format!("MFA {what} to {to} not sent: {reason}; the next retry could not be stored: {e}"),
                        ),
                    }
                }
                None => (false, format!("MFA {what} to {to} not sent: {reason}; gave up after {n} retries")),
            }
        }
        NotificationResult::Dropped => (false, format!("MFA {what} to {to} not sent: dropped by the action: {reason}")),
        NotificationResult::Failed => (false, format!("MFA {what} to {to} not sent: the action failed: {reason}")),
    };
    let user = tenant.store.find_user(&pending.user_id).await.ok().flatten();
    let client = pending.client_id.as_deref().and_then(|id| tenant.config.client(id));
    let kind = log_kind(pending.method, sent);
    tenant.log(logs::entry(&kind, description, &pending.request, client, user.as_ref())).await;
}
