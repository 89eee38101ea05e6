//! Password hashing: argon2id with OWASP's recommended parameters, stored as PHC strings.
//!
//! Hashing and verifying each cost tens of milliseconds of CPU on purpose: async callers should run them in
//! `tokio::task::spawn_blocking`. [`burn_password_check`] spends the same time for a login name that matches no
//! account, so response times do not tell an attacker which accounts exist.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AuthError, AuthResult};

/// Memory cost in KiB (OWASP password storage cheat sheet: 19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations (OWASP: 2 with 19 MiB).
pub const ITERATIONS: u32 = 2;
/// Lanes (OWASP: 1).
pub const PARALLELISM: u32 = 1;

fn hasher() -> AuthResult<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| AuthError::Crypto(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password (or any low-entropy secret) to an argon2id PHC string with a fresh random salt.
pub fn hash_password(password: &str) -> AuthResult<String> {
    let hash = hasher()?.hash_password(password.as_bytes()).map_err(|e| AuthError::Crypto(format!("argon2: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `candidate` matches the PHC string `hash`.
///
/// The parameters come from the hash itself, so hashes made with older parameters keep verifying. The final
/// comparison is constant-time (argon2's `Output` compares with `ctutils`). A hash that cannot be parsed never
/// matches, and still costs the time of a verification.
pub fn verify_password(hash: &str, candidate: &str) -> bool {
    let Ok(argon2) = hasher() else {
        return false;
    };
    match argon2.verify_password(candidate.as_bytes(), hash) {
        Ok(()) => true,
        Err(argon2::password_hash::Error::PasswordInvalid) => false,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is unusable");
            burn_password_check();
            false
        }
    }
}

/// Spends the time of one [`verify_password`] against a hash made by [`hash_password`], and returns nothing.
///
/// Call it when the login name matches no account (or an account without a password), so that the answer takes
/// as long as a wrong password for an existing account.
pub fn burn_password_check() {
    let Ok(argon2) = hasher() else {
        return;
    };
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    // A fixed salt is fine: the output is thrown away; only the work matters.
    let _ = argon2.hash_password_into(b"gatehouse: no such account", b"gatehouse-burn-salt", &mut out);
    std::hint::black_box(&out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn hash_is_argon2id_phc_with_owasp_parameters() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        // A fresh salt each time.
        assert_ne!(hash, hash_password("correct horse battery staple").unwrap());
    }

    #[test]
    fn verify_accepts_the_password_and_refuses_others() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(verify_password(&hash, "correct horse battery staple"));
        assert!(!verify_password(&hash, "correct horse battery stapl"));
        assert!(!verify_password(&hash, "Correct horse battery staple"));
        assert!(!verify_password(&hash, ""));
    }

    #[test]
    fn verify_handles_unicode_and_empty_passwords() {
        let hash = hash_password("pässwörd 🔑").unwrap();
        assert!(verify_password(&hash, "pässwörd 🔑"));
        let empty = hash_password("").unwrap();
        assert!(verify_password(&empty, ""));
        assert!(!verify_password(&empty, " "));
    }

    #[test]
    fn garbage_hash_never_matches() {
        assert!(!verify_password("", ""));
        assert!(!verify_password("not a phc string", "not a phc string"));
        assert!(!verify_password("$argon2id$v=19$m=19456,t=2,p=1$", "x"));
    }

    #[test]
    fn hashes_from_other_parameters_still_verify() {
        // A hash made with weaker parameters (say, before a parameter bump) verifies with its own parameters.
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let old =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password(b"hunter2").unwrap().to_string();
        assert!(old.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
        assert!(verify_password(&old, "hunter2"));
        assert!(!verify_password(&old, "hunter3"));
    }

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    #[test]
    fn burn_costs_about_as_much_as_a_verification() {
        // Not a benchmark: a guard against `burn_password_check` silently becoming a no-op (say, after a
        // parameter change that breaks `hasher()`), which would reveal which accounts exist. Samples are
        // interleaved so that load from other tests hits both sides alike, and the bounds are wide.
        let hash = hash_password("pw").unwrap();
        let (mut verify, mut burn) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let start = Instant::now();
            assert!(!verify_password(&hash, "wrong"));
            verify.push(start.elapsed());
            let start = Instant::now();
            burn_password_check();
            burn.push(start.elapsed());
        }
        let (verify, burn) = (median(verify), median(burn));
        assert!(burn * 3 > verify, "burn {burn:?} vs verify {verify:?}");
        assert!(burn < verify * 3, "burn {burn:?} vs verify {verify:?}");
    }
}
