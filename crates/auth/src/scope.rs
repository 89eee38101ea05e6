//! Reading a `scope` (and the other space-separated parameters: `acr_values`, `prompt`, `ui_locales`).
//!
//! RFC 6749 §3.3: scope tokens are separated by `%x20` only. Any other whitespace or control character (a tab,
//! a line feed, a no-break space) is refused rather than split on or kept: an action that splits on a space and a
//! token endpoint that split on any whitespace would otherwise see two different lists, and a step-up check in an
//! action could be walked around (`openid%09write:data`). Actions and tokens always see the list parsed here.

/// Scopes of the MFA API's own audience (`<issuer>mfa/`).
pub const MFA_SCOPES: [&str; 3] = ["enroll", "read:authenticators", "remove:authenticators"];

/// Why a space-separated parameter was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name} may only be separated by single spaces (U+0020); it contains U+{code:04X}")]
pub struct SeparatorError {
    /// The parameter.
    pub name: &'static str,
    /// The first offending character.
    pub code: u32,
}

/// The space-separated tokens of parameter `name` (empty tokens from repeated spaces are dropped, duplicates
/// kept in order once).
pub fn parse_list(name: &'static str, value: &str) -> Result<Vec<String>, SeparatorError> {
    if let Some(bad) = value.chars().find(|c| *c != ' ' && (c.is_whitespace() || c.is_control() || is_invisible(*c))) {
        return Err(SeparatorError { name, code: u32::from(bad) });
    }
    let mut tokens: Vec<String> = Vec::new();
    for token in value.split(' ').filter(|t| !t.is_empty()) {
        if !tokens.iter().any(|t| t == token) {
            tokens.push(token.to_owned());
        }
    }
    Ok(tokens)
}

/// Format characters that render as nothing and would make two different tokens look alike (zero-width space
/// and joiners, the byte-order mark, bidirectional controls).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The scopes of a verified access token: its `scope` claim, split on spaces (none when the claim is absent).
pub fn scopes_of(claims: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    claims
        .get("scope")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_separate_and_repeated_spaces_are_harmless() {
        assert_eq!(parse_list("scope", "openid  profile write:data ").unwrap(), ["openid", "profile", "write:data"]);
        assert_eq!(parse_list("scope", "").unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("scope", "openid openid").unwrap(), ["openid"]);
    }

    #[test]
    fn every_other_separator_is_refused() {
        for (value, code) in [
            ("openid\twrite:data", 0x09),
            ("openid\nwrite:data", 0x0A),
            ("openid\rwrite:data", 0x0D),
            ("openid\u{a0}write:data", 0xA0),
            ("openid\u{3000}write:data", 0x3000),
            ("openid\u{2028}write:data", 0x2028),
            ("openid\u{200b}write:data", 0x200B),
            ("openid\u{0}write:data", 0),
            ("openid\u{202e}write:data", 0x202E),
        ] {
            assert_eq!(parse_list("scope", value), Err(SeparatorError { name: "scope", code }), "{value:?}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any string is either refused or split into tokens that hold no separator, whitespace or control
        /// character: what actions see is what tokens get.
        #[test]
        fn parsed_tokens_never_hold_separators(value in "\\PC{0,64}|[ \\t\\n\\u{a0}a-z:]{0,64}") {
            if let Ok(tokens) = parse_list("scope", &value) {
                for token in tokens {
                    prop_assert!(!token.is_empty());
                    prop_assert!(!token.chars().any(|c| c.is_whitespace() || c.is_control()), "{token:?}");
                }
            }
        }
    }
}
