use super::*;

/// RFC 6238 Appendix B: the 20-byte ASCII secret "12345678901234567890", base32.
const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// RFC 6238 Appendix B, SHA-1 column: (time, 8-digit TOTP).
const RFC_VECTORS: [(i64, &str); 6] = [
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];

#[test]
fn rfc_secret_is_the_rfc_bytes() {
    assert_eq!(Secret::try_from_base32(RFC_SECRET).unwrap().as_bytes(), b"12345678901234567890");
}

#[test]
fn rfc6238_sha1_vectors() {
    // A 6-digit code is the 8-digit value mod 10^6: its last six digits.
    for (time, eight) in RFC_VECTORS {
        let six = &eight[2..];
        assert_eq!(current_code(RFC_SECRET, time).unwrap(), six, "t={time}");
        assert_eq!(verify(RFC_SECRET, six, 0, time), Some(step_at(time)), "t={time}");
    }
}

#[test]
fn rfc6238_sha1_vectors_with_eight_digits() {
    // The same secret through totp-rs with 8 digits gives the RFC's full values: our secret handling is right.
    let totp = Builder::new().with_secret(Secret::try_from_base32(RFC_SECRET).unwrap()).with_digits(8).build().unwrap();
    for (time, eight) in RFC_VECTORS {
        assert_eq!(totp.generate(u64::try_from(time).unwrap()).to_string(), eight, "t={time}");
    }
}

/// Codes of the RFC secret around a fixed time: deterministic, so the tests cannot fail by coincidence.
fn codes_around(now: i64) -> [String; 5] {
    let codes = [-2, -1, 0, 1, 2].map(|offset| current_code(RFC_SECRET, now + offset * 30).unwrap());
    for (i, a) in codes.iter().enumerate() {
        for b in &codes[i + 1..] {
            assert_ne!(a, b, "pick another time: two steps share a code");
        }
    }
    codes
}

#[test]
fn accepts_one_step_of_skew_either_way_and_no_more() {
    let now = 1_700_000_015; // mid-step
    let step = step_at(now);
    let [before2, before, current, after, after2] = codes_around(now);
    assert_eq!(verify(RFC_SECRET, &current, 0, now), Some(step));
    assert_eq!(verify(RFC_SECRET, &before, 0, now), Some(step - 1));
    assert_eq!(verify(RFC_SECRET, &after, 0, now), Some(step + 1));
    assert_eq!(verify(RFC_SECRET, &before2, 0, now), None);
    assert_eq!(verify(RFC_SECRET, &after2, 0, now), None);
    // Step boundaries: the last second of a step and the first of the next.
    let start = step_at(now) * 30;
    let start = i64::try_from(start).unwrap();
    assert_eq!(verify(RFC_SECRET, &before, 0, start + 29), Some(step - 1));
    assert_eq!(verify(RFC_SECRET, &before, 0, start + 30), None);
}

#[test]
fn a_code_is_accepted_once() {
    let now = 1_700_000_000;
    let [_, previous, code, next, _] = codes_around(now);
    let step = verify(RFC_SECRET, &code, 0, now).unwrap();
    assert_eq!(step, step_at(now));
    // The caller stores `step` as `last_step`: the same code is now refused, even seconds later.
    assert_eq!(verify(RFC_SECRET, &code, step, now), None);
    assert_eq!(verify(RFC_SECRET, &code, step, now + 29), None);
    // The code of the previous step is refused too: it is older than one already used.
    assert_eq!(verify(RFC_SECRET, &previous, step, now), None);
    // The next step's code is fine, once.
    assert_eq!(verify(RFC_SECRET, &next, step, now + 30), Some(step + 1));
    assert_eq!(verify(RFC_SECRET, &next, step + 1, now + 30), None);
    // A code from the future window used early moves `last_step` ahead: the current code is then refused.
    assert_eq!(verify(RFC_SECRET, &next, 0, now), Some(step + 1));
    assert_eq!(verify(RFC_SECRET, &code, step + 1, now), None);
}

#[test]
fn wrong_or_malformed_codes_are_refused() {
    let now = 1_111_111_109;
    let good = current_code(RFC_SECRET, now).unwrap();
    assert_eq!(good, "081804");
    for bad in ["081805", "000000", "81804", "0818040", "08180a", "", "+81804", "-81804", "０８１８０４"] {
        assert_eq!(verify(RFC_SECRET, bad, 0, now), None, "{bad:?}");
    }
    // Spaces are tolerated, as people type codes the way apps show them.
    assert_eq!(verify(RFC_SECRET, " 081 804 ", 0, now), Some(step_at(now)));
}

#[test]
fn bad_secrets_never_match() {
    // Not base32.
    assert_eq!(verify("not base32!", "123456", 0, 59), None);
    assert!(matches!(current_code("not base32!", 59), Err(AuthError::BadSecret(_))));
    // 80 bits: under RFC 4226's 128-bit minimum, refused by totp-rs.
    assert!(matches!(current_code("GEZDGNBVGY3TQOJQ", 59), Err(AuthError::BadSecret(_))));
    // Before 1970.
    assert_eq!(verify(RFC_SECRET, "287082", 0, -1), None);
}

#[test]
fn secret_tolerates_lowercase_spaces_and_padding() {
    let spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
    assert_eq!(current_code(spaced, 59).unwrap(), "287082");
    let padded = format!("{RFC_SECRET}====");
    assert_eq!(current_code(&padded, 59).unwrap(), "287082");
}

#[test]
fn new_secrets_are_160_bit_base32_and_differ() {
    let a = new_secret().unwrap();
    let b = new_secret().unwrap();
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)), "{a}");
    assert_eq!(Secret::try_from_base32(&a).unwrap().as_bytes().len(), 20);
    assert_ne!(a, b);
}

#[test]
fn otpauth_uri_has_auth0_barcode_uri_shape() {
    let uri = otpauth_uri(RFC_SECRET, "my-tenant", "alice@example.com");
    assert_eq!(
        uri,
        "otpauth://totp/my-tenant:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=my-tenant&algorithm=SHA1&digits=6&period=30"
    );
}

#[test]
fn otpauth_uri_encodes_awkward_names() {
    let uri = otpauth_uri(RFC_SECRET, "Acme & Co", "bob smith:x/y?z#");
    assert_eq!(
        uri,
        "otpauth://totp/Acme%20%26%20Co:bob%20smith%3Ax%2Fy%3Fz%23?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=Acme%20%26%20Co&algorithm=SHA1&digits=6&period=30"
    );
}

#[test]
fn otpauth_uri_parses_with_an_independent_parser() {
    // totp-rs's own otpauth:// parser reads back what an authenticator app would.
    let uri = otpauth_uri(RFC_SECRET, "Acme Co", "alice@example.com");
    let parsed = Totp::from_url(&uri).unwrap();
    assert_eq!(parsed.issuer(), Some("Acme Co"));
    assert_eq!(parsed.account_name(), "alice@example.com");
    assert_eq!(parsed.secret().as_bytes(), b"12345678901234567890");
    assert_eq!((parsed.digits(), parsed.step(), parsed.algorithm()), (6, 30, Algorithm::SHA1));
    assert_eq!(parsed.generate(59).to_string(), "287082");
}

#[test]
fn qr_svg_is_a_self_contained_svg() {
    let uri = otpauth_uri(RFC_SECRET, "my-tenant", "alice@example.com");
    let svg = qr_svg(&uri).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{}", &svg[..80]);
    assert!(svg.ends_with("</svg>"));
    for forbidden in ["<?xml", "href", "<script", "<image", "url(", "<foreignObject"] {
        assert!(!svg.contains(forbidden), "{forbidden}");
    }
    // The URI (and so the secret) is not written out as text: it is in the modules only.
    assert!(!svg.contains(RFC_SECRET));
    // Drawn modules exist.
    assert!(svg.contains("<path") && svg.contains("M"));
}

#[test]
fn qr_svg_refuses_text_that_cannot_fit() {
    assert!(matches!(qr_svg(&"x".repeat(5000)), Err(AuthError::Qr(_))));
}
