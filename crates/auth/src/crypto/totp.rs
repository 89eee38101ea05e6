//! TOTP authenticators (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of skew either way.
//!
//! These are the parameters every authenticator app supports and the ones Auth0 advertises in its `barcode_uri`.
//! A code is accepted once: [`verify`] returns the matched time step, the caller stores it as the factor's
//! `last_step`, and later codes must match a strictly greater step (RFC 6238 §5.2).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::crypto::random;
use crate::error::{AuthError, AuthResult};

/// Digits of a code.
pub const DIGITS: u8 = 6;
/// Seconds per time step.
pub const PERIOD: u64 = 30;
/// Steps accepted before and after the current one.
pub const SKEW: u16 = 1;
/// Secret length in bytes (160 bits, RFC 4226's recommendation; Auth0's secrets are 32 base32 characters too).
pub const SECRET_BYTES: usize = 20;

/// RFC 3986 unreserved characters stay as they are; everything else in a label or issuer is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A fresh secret: 160 bits from the OS CSPRNG, base32 (RFC 4648, no padding: 32 characters).
pub fn new_secret() -> AuthResult<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    random::fill(&mut bytes)?;
    Ok(Secret::from(bytes).to_base32())
}

/// The `otpauth://` URI an authenticator app scans, in Auth0's `barcode_uri` shape:
/// `otpauth://totp/<issuer>:<account>?secret=<secret>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30`.
///
/// `issuer` and `account` are percent-encoded (RFC 3986 unreserved characters kept, so `@` becomes `%40` and a
/// space `%20`); the colon between them stays literal, as the Key URI format wants.
pub fn otpauth_uri(secret: &str, issuer: &str, account: &str) -> String {
    let issuer = utf8_percent_encode(issuer, COMPONENT).to_string();
    let account = utf8_percent_encode(account, COMPONENT);
    let secret = utf8_percent_encode(secret, COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}"
    )
}

/// The step matched by `code` at `unix_time`, if the code belongs to the current step or one step before or after
/// it, and that step is greater than `last_step` (so each code, and each earlier code, is accepted only once).
///
/// Spaces in the code are ignored (`123 456`). A malformed stored secret never matches. When a code matches two
/// steps of the window (a one-in-a-million coincidence), the later step is returned, so the same code cannot be
/// replayed against the other.
pub fn verify(secret: &str, code: &str, last_step: u64, unix_time: i64) -> Option<u64> {
    let totp = match totp(secret) {
        Ok(totp) => totp,
        Err(_) => {
            tracing::warn!("stored TOTP secret is not usable");
            return None;
        }
    };
    let now = u64::try_from(unix_time).ok()?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / PERIOD;
    let mut matched = None;
    // Every step of the window is computed and compared in constant time, whatever matches first.
    for step in (current.saturating_sub(u64::from(SKEW))..=current.saturating_add(u64::from(SKEW))).rev() {
        let expected = totp.generate(step.saturating_mul(PERIOD)).to_string();
        let is_match: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if is_match && step > last_step && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The code of the step containing `unix_time` (for tests, the CLI and diagnostics).
pub fn current_code(secret: &str, unix_time: i64) -> AuthResult<String> {
    let time = u64::try_from(unix_time).map_err(|_| AuthError::Crypto("time before 1970".to_owned()))?;
    Ok(totp(secret)?.generate(time).to_string())
}

/// The time step containing `unix_time`.
pub fn step_at(unix_time: i64) -> u64 {
    u64::try_from(unix_time).map_or(0, |t| t / PERIOD)
}

/// An SVG QR code of `text` (the `otpauth://` URI), self-contained: no scripts, links or external references, no
/// XML declaration, so it can be inlined in the hosted enrollment page.
pub fn qr_svg(text: &str) -> AuthResult<String> {
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| AuthError::Qr(e.to_string()))?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // qrcode starts with `<?xml ...?>`, which is noise inside HTML.
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    })
}

/// Parses a stored base32 secret (case, spaces and padding tolerated) into a totp-rs generator.
fn totp(secret: &str) -> AuthResult<Totp> {
    let normalized: String = secret
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let secret = Secret::try_from_base32(normalized).map_err(|_| AuthError::BadSecret("TOTP secret is not base32"))?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(PERIOD)
        .with_skew(SKEW)
        .with_secret(secret)
        .build()
        .map_err(|_| AuthError::BadSecret("TOTP secret is shorter than 128 bits"))
}

#[cfg(test)]
mod tests;
