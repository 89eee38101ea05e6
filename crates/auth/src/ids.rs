//! Identifiers and bearer secrets, all from the OS CSPRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::random;
use crate::error::AuthResult;

/// A bearer secret: 32 random bytes, base64url (session cookies, codes, refresh tokens, transaction ids).
pub fn secret() -> AuthResult<String> {
    let mut bytes = [0u8; 32];
    random::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `n` random bytes as lower-case hex.
pub fn hex(n: usize) -> AuthResult<String> {
    let mut bytes = vec![0u8; n];
    random::fill(&mut bytes)?;
    Ok(::hex::encode(bytes))
}

/// A new user id: `auth0|` and 24 hex digits, as Auth0's database users have.
pub fn user_id() -> AuthResult<String> {
    Ok(format!("auth0|{}", hex(12)?))
}

/// A new authenticator id: `<prefix>|dev_` and 16 random base62-ish characters, as Auth0's.
pub fn authenticator_id(prefix: &str) -> AuthResult<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 16];
    random::fill(&mut bytes)?;
    let text: String = bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    Ok(format!("{prefix}|dev_{text}"))
}

/// A public id with a prefix (`sid`, transaction ids, refresh token ids).
pub fn public_id(prefix: &str) -> AuthResult<String> {
    Ok(format!("{prefix}{}", hex(12)?))
}
