//! Recovery codes: 24 characters like Auth0's (`N3BGPZZWJ85JLCNPZBDW6QXC`), shown once, stored as argon2id hashes.
//!
//! The alphabet leaves out `0`, `1`, `I` and `O`, which are easily misread; 32 symbols make 120 bits per code.
//! What a user types is normalized (spaces and dashes dropped, case ignored) before it is hashed or checked.

use crate::crypto::password;
use crate::crypto::random;
use crate::error::{AuthError, AuthResult};

/// Characters of a recovery code.
pub const CODE_LEN: usize = 24;

/// The 32 symbols: digits 2–9 and letters without I and O.
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A fresh recovery code from the OS CSPRNG (uniform: 32 symbols, 5 bits of each random byte).
pub fn new_recovery_code() -> AuthResult<String> {
    let mut bytes = [0u8; CODE_LEN];
    random::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 0x1f)])).collect())
}

/// The code as stored and compared: without whitespace or dashes, upper case.
pub fn normalize(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect()
}

/// The argon2id PHC hash of a (normalized) recovery code, for `AuthenticatorKind::RecoveryCode { hash }`.
pub fn hash_recovery_code(code: &str) -> AuthResult<String> {
    password::hash_password(&normalize(code))
}

/// A fresh recovery code and its hash, hashed off the async threads under the argon2 bound
/// ([`password::run_argon2`]).
pub async fn new_hashed_recovery_code() -> AuthResult<(String, String)> {
    let code = new_recovery_code()?;
    let to_hash = code.clone();
    let hash = password::run_argon2(move || hash_recovery_code(&to_hash))
        .await
        .map_err(|e| AuthError::Crypto(format!("argon2: {e}")))??;
    Ok((code, hash))
}

/// Whether `candidate`, as typed, is the code behind `hash`.
pub fn verify_recovery_code(hash: &str, candidate: &str) -> bool {
    password::verify_password(hash, &normalize(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_24_unambiguous_characters_and_differ() {
        let codes: Vec<String> = (0..50).map(|_| new_recovery_code().unwrap()).collect();
        for code in &codes {
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert!(!code.contains(['0', '1', 'I', 'O']), "{code}");
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn every_symbol_is_used() {
        // 50 codes × 24 characters = 1,200 draws from 32 symbols: a missing symbol means a biased sampler
        // (the chance that a fair one misses any symbol is about 32 × (31/32)^1200, under 10^-15).
        let drawn: String = (0..50).map(|_| new_recovery_code().unwrap()).collect();
        for symbol in ALPHABET {
            assert!(drawn.as_bytes().contains(symbol), "{}", char::from(*symbol));
        }
    }

    #[test]
    fn auth0_shaped_code_round_trips() {
        let code = "N3BGPZZWJ85JLCNPZBDW6QXC";
        let hash = hash_recovery_code(code).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(code));
        assert!(verify_recovery_code(&hash, code));
    }

    #[test]
    fn typing_variations_are_accepted() {
        let code = new_recovery_code().unwrap();
        let hash = hash_recovery_code(&code).unwrap();
        let lower = code.to_lowercase();
        let grouped = code.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
        assert!(verify_recovery_code(&hash, &lower));
        assert!(verify_recovery_code(&hash, &format!("  {code}\n")));
        assert!(verify_recovery_code(&hash, &grouped.join("-")));
        assert!(verify_recovery_code(&hash, &grouped.join(" ")));
    }

    #[test]
    fn other_codes_are_refused() {
        let code = "N3BGPZZWJ85JLCNPZBDW6QXC";
        let hash = hash_recovery_code(code).unwrap();
        assert!(!verify_recovery_code(&hash, "N3BGPZZWJ85JLCNPZBDW6QXD"));
        assert!(!verify_recovery_code(&hash, "N3BGPZZWJ85JLCNPZBDW6QX"));
        assert!(!verify_recovery_code(&hash, ""));
        assert!(!verify_recovery_code("garbage", code));
    }
}
