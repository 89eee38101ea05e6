//! Limits on what a user can make Gatehouse send, as Auth0 sets them: "OTP flows via email or authenticators are
//! limited to five requests every five minutes" and "a single user [may] send up to 10 SMS or voice messages per
//! hour" (reference §6.3). Counted atomically in the store, so parallel requests and several processes share one
//! count.

use gatehouse_store::{RateDecision, RateLimit, Store, StoreResult};

/// Email one-time codes per user.
pub const EMAIL_SENDS: RateLimit = RateLimit { capacity: 5, window_secs: 300 };
/// SMS and voice messages per user.
pub const PHONE_MESSAGES: RateLimit = RateLimit { capacity: 10, window_secs: 3600 };

/// What is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// An email code.
    Email,
    /// An SMS or voice message.
    Phone,
}

/// Counts one message to `user_id` on `channel` at `now`: `None` when it may be sent, or the seconds until one
/// may be sent again (nothing was counted).
pub async fn spend_send(store: &dyn Store, user_id: &str, channel: Channel, now: i64) -> StoreResult<Option<i64>> {
    let (name, limit) = match channel {
        Channel::Email => ("send-email", EMAIL_SENDS),
        Channel::Phone => ("send-phone", PHONE_MESSAGES),
    };
    match store.hit_rate_limit(&format!("{name}\0{user_id}"), limit, now).await? {
        RateDecision::Allowed { .. } => Ok(None),
        RateDecision::Limited { retry_after } => Ok(Some(retry_after)),
    }
}
