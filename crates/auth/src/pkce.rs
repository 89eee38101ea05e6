//! PKCE (RFC 7636): the shape of `code_challenge` and `code_verifier`.
//!
//! Both are 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (§4.1; an S256 challenge is
//! the 43-character base64url of a SHA-256). A shorter challenge is refused at `/authorize`: a one-character
//! challenge gives an attacker who sees it nothing to compute, but it would also accept a brute-forced verifier.

/// Whether `value` has the length and alphabet of a PKCE verifier or challenge.
pub fn is_valid_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `value` can be an S256 `code_challenge` (same alphabet and bounds as a verifier).
pub fn is_valid_challenge(value: &str) -> bool {
    is_valid_verifier(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_alphabet() {
        assert!(is_valid_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_challenge("x"));
        assert!(!is_valid_challenge(&"a".repeat(42)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(42))));
        assert!(!is_valid_verifier(&format!("{}=", "a".repeat(43))));
    }
}
