//! The secrets of a tenant and how they are checked: signing keys, password hashes, TOTP, recovery codes and
//! one-time codes, over one random source. Nothing here knows about requests or the store's layout.

pub mod keys;
pub mod one_time_code;
pub mod password;
pub(crate) mod random;
pub mod recovery;
pub mod totp;
