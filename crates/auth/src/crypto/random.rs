//! The one source of randomness of the crate: the operating system's CSPRNG.

use crate::error::{AuthError, AuthResult};

/// Fills `buf` from the OS CSPRNG (`getrandom`).
pub(crate) fn fill(buf: &mut [u8]) -> AuthResult<()> {
    getrandom::fill(buf).map_err(|e| AuthError::Crypto(format!("OS random source: {e}")))
}

/// A uniform `u32` from the OS CSPRNG.
pub(crate) fn u32() -> AuthResult<u32> {
    let mut bytes = [0u8; 4];
    fill(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}
