//! Phone messages (SMS and voice one-time codes): what they say ([`templates`]). Delivery through the providers of
//! `[mfa.phone]` builds on this.

pub mod delivery;
pub mod templates;
