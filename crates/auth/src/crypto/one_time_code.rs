//! Six-digit one-time codes sent by email or SMS, kept only as hashes bound to their context.
//!
//! The hash covers a context (say `user_id` and authenticator id) as well as the code, so a stored hash copied onto
//! another user's pending challenge does not verify there. Six digits are easy to brute-force offline, so the hash
//! protects against casual disclosure only; what protects the code is its 5-minute life and the attempts bucket
//! ([`crate::attempts`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::random;
use crate::error::AuthResult;

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Lifetime of a code sent by email or SMS, in seconds (Auth0: 5 minutes, not configurable).
pub const LIFETIME_SECS: i64 = 300;

const RANGE: u32 = 1_000_000;
/// The largest multiple of `RANGE` that fits in a `u32`: draws at or above it are redrawn, so every code is
/// equally likely (plain `% RANGE` would favour codes under 967,296).
const ACCEPT_BELOW: u32 = u32::MAX - u32::MAX % RANGE;

/// A fresh code, `000000` to `999999`, uniform (rejection sampling over the OS CSPRNG).
pub fn new_code() -> AuthResult<String> {
    loop {
        let draw = random::u32()?;
        if draw < ACCEPT_BELOW {
            return Ok(format!("{:06}", draw % RANGE));
        }
    }
}

/// Hex SHA-256 of the context and the code, framed so that no (context, code) pair collides with another
/// (the context's length comes first).
pub fn code_hash(code: &str, context: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"gatehouse one-time code v1\0");
    hasher.update((context.len() as u64).to_be_bytes());
    hasher.update(context.as_bytes());
    hasher.update(code.trim().as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `candidate` (surrounding whitespace ignored) is the code behind `expected_hash` for this context,
/// compared in constant time.
pub fn codes_match(expected_hash: &str, candidate: &str, context: &str) -> bool {
    let actual = code_hash(candidate, context);
    actual.as_bytes().ct_eq(expected_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_bound_is_the_largest_multiple() {
        assert_eq!(ACCEPT_BELOW % RANGE, 0);
        assert!(u64::from(ACCEPT_BELOW) + u64::from(RANGE) > u64::from(u32::MAX));
        assert_eq!(ACCEPT_BELOW, 4_294_000_000);
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = new_code().unwrap();
            assert_eq!(code.len(), DIGITS, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn codes_spread_over_the_range() {
        // Leading digits of 2,000 codes: about 200 each. Under 100 is more than seven standard deviations off
        // for a fair sampler, and what a constant or stuck generator would give.
        let mut seen = [0u32; 10];
        for _ in 0..2000 {
            let code = new_code().unwrap();
            seen[usize::from(code.as_bytes()[0] - b'0')] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    #[test]
    fn hash_is_hex_sha256_and_hides_the_code() {
        let hash = code_hash("123456", "auth0|abc/email|dev_1");
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!hash.contains("123456"));
        assert_eq!(hash, code_hash("123456", "auth0|abc/email|dev_1"));
    }

    #[test]
    fn matching_code_and_context_verify() {
        let hash = code_hash("042137", "auth0|abc/email|dev_1");
        assert!(codes_match(&hash, "042137", "auth0|abc/email|dev_1"));
        assert!(codes_match(&hash, " 042137\n", "auth0|abc/email|dev_1"));
    }

    #[test]
    fn wrong_code_or_context_is_refused() {
        let hash = code_hash("042137", "auth0|abc/email|dev_1");
        assert!(!codes_match(&hash, "042138", "auth0|abc/email|dev_1"));
        assert!(!codes_match(&hash, "42137", "auth0|abc/email|dev_1"));
        assert!(!codes_match(&hash, "", "auth0|abc/email|dev_1"));
        // Same code, another user's challenge: the hash cannot be swapped.
        assert!(!codes_match(&hash, "042137", "auth0|xyz/email|dev_1"));
        assert!(!codes_match("", "042137", "auth0|abc/email|dev_1"));
    }

    #[test]
    fn context_and_code_cannot_shift_into_each_other() {
        // Without framing, ("ctx1", "23456") and ("ctx", "123456") would hash the same bytes.
        assert_ne!(code_hash("23456", "ctx1"), code_hash("123456", "ctx"));
    }
}

/// A stored out-of-band challenge: what an `oob_code` names (MFA API `/mfa/challenge`, the `mfa-oob` grant).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OobChallenge {
    /// The user.
    pub user_id: String,
    /// The client the challenge was made for.
    pub client_id: String,
    /// The authenticator the code went to.
    pub authenticator_id: String,
    /// The hash of the code sent, bound to the `oob_code`.
    pub code_hash: String,
    /// Expiry (epoch seconds).
    pub expires_at: i64,
}
