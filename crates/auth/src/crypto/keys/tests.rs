use gatehouse_store::SledStore;

use jsonwebtoken::{EncodingKey, Header};

use super::*;

/// jsonwebtoken's key for the ring's active key (PKCS#8 PEM), to forge tokens the ring must refuse.
fn encoding_of(ring: &KeyRing) -> jsonwebtoken::EncodingKey {
    let record = ring.active();
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in record.private_pkcs8.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

/// A fresh temporary store (sled in memory).
fn key_store() -> SledStore {
    SledStore::temporary().unwrap()
}

const ISSUER: &str = "https://tenant.example.com/";
const AUDIENCE: &str = "https://api.example.com/";

fn claims(exp_in: i64) -> Value {
    let now = unix_now();
    json!({
        "iss": ISSUER,
        "sub": "auth0|0123456789abcdef01234567",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + exp_in,
        "https://example.com/roles": ["admin"],
    })
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

fn reason(result: AuthResult<Map<String, Value>>) -> String {
    match result {
        Err(AuthError::InvalidToken(reason)) => reason,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

#[tokio::test]
async fn first_start_creates_one_key_and_later_starts_reuse_it() {
    let store = key_store();
    let ring = KeyRing::load_or_create(&store).await.unwrap();
    let again = KeyRing::load_or_create(&store).await.unwrap();
    assert_eq!(store.list_signing_keys().await.unwrap().len(), 1);
    assert_eq!(ring.active(), again.active());
    assert_eq!(ring.active().retired_at, None);
}

#[tokio::test]
async fn generated_key_has_the_documented_shape() {
    let key = generate_key(1_700_000_000).unwrap();
    // PKCS#8 DER, standard base64.
    let pair = KeyPair::from_pkcs8(&STANDARD.decode(&key.private_pkcs8).unwrap()).unwrap();
    assert_eq!(pair.public_modulus_len(), 256, "RSA-2048");
    // JWK n / e: base64url without padding; e = 65537 = AQAB.
    assert_eq!(key.e, "AQAB");
    assert_eq!(URL_SAFE_NO_PAD.decode(&key.n).unwrap().len(), 256);
    assert!(!key.n.contains(['=', '+', '/']));
    // kid: base64url of the first 16 bytes of SHA-256 of the SubjectPublicKeyInfo.
    let spki = pair.public_key().as_der().unwrap();
    assert_eq!(key.kid, URL_SAFE_NO_PAD.encode(&Sha256::digest(spki.as_ref())[..16]));
    assert_eq!(key.kid.len(), 22);
    assert_eq!(key.created_at, 1_700_000_000);
}

#[tokio::test]
async fn sign_verify_round_trip() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let claims = claims(600);
    let token = ring.sign(&claims).unwrap();
    assert_eq!(header_of(&token), json!({ "typ": "JWT", "alg": "RS256", "kid": ring.active().kid }));
    let verified = ring.verify(&token, ISSUER, Some(AUDIENCE)).unwrap();
    assert_eq!(Value::Object(verified), claims);
    // Without an audience to check, the token is accepted as well.
    assert!(ring.verify(&token, ISSUER, None).is_ok());
}

#[tokio::test]
async fn sign_with_typ_sets_the_header() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let token = ring.sign_with_typ(&claims(600), "at+jwt").unwrap();
    assert_eq!(header_of(&token)["typ"], "at+jwt");
    assert!(ring.verify(&token, ISSUER, Some(AUDIENCE)).is_ok());
}

#[tokio::test]
async fn audience_may_be_an_array() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let mut claims = claims(600);
    claims["aud"] = json!([AUDIENCE, "https://tenant.example.com/userinfo"]);
    let token = ring.sign(&claims).unwrap();
    assert!(ring.verify(&token, ISSUER, Some(AUDIENCE)).is_ok());
    assert!(ring.verify(&token, ISSUER, Some("https://tenant.example.com/userinfo")).is_ok());
    assert_eq!(reason(ring.verify(&token, ISSUER, Some("https://other.example.com/"))), "wrong audience");
}

#[tokio::test]
async fn claims_are_checked() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let token = ring.sign(&claims(600)).unwrap();
    assert_eq!(reason(ring.verify(&token, "https://evil.example.com/", None)), "wrong issuer");
    assert_eq!(reason(ring.verify(&token, ISSUER, Some("https://other.example.com/"))), "wrong audience");

    // Expired one second ago: refused, no leeway.
    let expired = ring.sign(&claims(-1)).unwrap();
    assert_eq!(reason(ring.verify(&expired, ISSUER, None)), "expired");

    // Missing claims.
    let mut no_exp = claims(600);
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(reason(ring.verify(&ring.sign(&no_exp).unwrap(), ISSUER, None)), "missing claim exp");
    let mut no_iss = claims(600);
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(reason(ring.verify(&ring.sign(&no_iss).unwrap(), ISSUER, None)), "missing claim iss");
    let mut no_aud = claims(600);
    no_aud.as_object_mut().unwrap().remove("aud");
    let no_aud = ring.sign(&no_aud).unwrap();
    assert_eq!(reason(ring.verify(&no_aud, ISSUER, Some(AUDIENCE))), "missing claim aud");
    assert!(ring.verify(&no_aud, ISSUER, None).is_ok());

    // Not yet valid.
    let mut future = claims(600);
    future["nbf"] = json!(unix_now() + 300);
    assert_eq!(reason(ring.verify(&ring.sign(&future).unwrap(), ISSUER, None)), "not yet valid");
}

#[tokio::test]
async fn tampered_payload_fails() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let token = ring.sign(&claims(600)).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims(600);
    forged["sub"] = json!("auth0|ffffffffffffffffffffffff");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(reason(ring.verify(&tampered, ISSUER, None)), "bad signature");
    // A flipped signature bit fails too.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
    assert_eq!(reason(ring.verify(&flipped, ISSUER, None)), "bad signature");
    // Garbage.
    assert_eq!(reason(ring.verify("not.a.token", ISSUER, None)), "malformed");
    assert_eq!(reason(ring.verify("", ISSUER, None)), "malformed");
}

#[tokio::test]
async fn token_from_a_key_outside_the_ring_fails() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let stranger = KeyRing::load_or_create(&key_store()).await.unwrap();
    let token = stranger.sign(&claims(600)).unwrap();
    assert_eq!(reason(ring.verify(&token, ISSUER, None)), "unknown kid");

    // The stranger's key under our kid: found by kid, refused by signature.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(ring.active().kid.clone());
    let forged = jsonwebtoken::encode(&header, &claims(600), &encoding_of(&stranger)).unwrap();
    assert_eq!(reason(ring.verify(&forged, ISSUER, None)), "bad signature");

    // No kid at all.
    let anonymous = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(600), &encoding_of(&ring)).unwrap();
    assert_eq!(reason(ring.verify(&anonymous, ISSUER, None)), "no kid");
}

#[tokio::test]
async fn other_algorithms_are_refused() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let kid = ring.active().kid.clone();
    // HS256 keyed with the public modulus (the classic RS/HS confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.clone());
    let hs =
        jsonwebtoken::encode(&header, &claims(600), &EncodingKey::from_secret(ring.active().n.as_bytes())).unwrap();
    assert_eq!(reason(ring.verify(&hs, ISSUER, None)), "algorithm not allowed");
    // alg "none", unsigned.
    let none_header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "kid": kid }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims(600).to_string());
    assert!(ring.verify(&format!("{none_header}.{payload}."), ISSUER, None).is_err());
}

#[tokio::test]
async fn retired_key_still_verifies_after_rotation() {
    let store = key_store();
    let mut ring = KeyRing::load_or_create(&store).await.unwrap();
    let old_kid = ring.active().kid.clone();
    let old_token = ring.sign(&claims(600)).unwrap();

    let new_key = ring.rotate(&store, 1_800_000_000).await.unwrap();
    assert_ne!(new_key.kid, old_kid);
    assert_eq!(ring.active(), &new_key);
    let stored = store.list_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored.iter().find(|k| k.kid == old_kid).unwrap().retired_at, Some(1_800_000_000));
    assert_eq!(stored.iter().find(|k| k.kid == new_key.kid).unwrap().retired_at, None);

    assert!(ring.verify(&old_token, ISSUER, Some(AUDIENCE)).is_ok());
    let new_token = ring.sign(&claims(600)).unwrap();
    assert_eq!(header_of(&new_token)["kid"], json!(new_key.kid));
    assert!(ring.verify(&new_token, ISSUER, Some(AUDIENCE)).is_ok());
}

#[tokio::test]
async fn jwks_lists_active_first_and_drops_old_retired_keys() {
    let store = key_store();
    let mut ring = KeyRing::load_or_create(&store).await.unwrap();
    let first = ring.active().clone();
    let jwks = ring.jwks(0, 3600);
    assert_eq!(
        jwks,
        json!({ "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": first.kid, "n": first.n, "e": "AQAB" }] })
    );

    let t = 1_800_000_000;
    let second = ring.rotate(&store, t).await.unwrap();
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(kids(&ring.jwks(t, 3600)), [second.kid.as_str(), first.kid.as_str()]);
    assert_eq!(kids(&ring.jwks(t + 3599, 3600)), [second.kid.as_str(), first.kid.as_str()]);
    assert_eq!(kids(&ring.jwks(t + 3600, 3600)), [second.kid.as_str()]);

    // A third key: the most recently retired comes right after the active one.
    let third = ring.rotate(&store, t + 60).await.unwrap();
    assert_eq!(kids(&ring.jwks(t + 60, 3600)), [third.kid, second.kid, first.kid]);
}

#[tokio::test]
async fn jwk_alone_verifies_a_token() {
    // What a relying party does: build the public key from the JWKS entry only.
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let token = ring.sign(&claims(600)).unwrap();
    let jwks = ring.jwks(unix_now(), 0);
    let jwk = &jwks["keys"][0];
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(&token, &key, &validation).unwrap();
    assert_eq!(data.header.kid.as_deref(), Some(jwk["kid"].as_str().unwrap()));
    assert_eq!(data.claims["sub"], "auth0|0123456789abcdef01234567");

    // And through jsonwebtoken's own JWK type, as JWKS clients parse it.
    let parsed: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let key = DecodingKey::from_jwk(&parsed.keys[0]).unwrap();
    assert!(jsonwebtoken::decode::<Map<String, Value>>(&token, &key, &validation).is_ok());
}

#[tokio::test]
async fn reload_picks_up_a_rotation_from_another_process() {
    let store = key_store();
    let mut server = KeyRing::load_or_create(&store).await.unwrap();
    let mut cli = KeyRing::load(&store).await.unwrap();
    let new_key = cli.rotate(&store, unix_now()).await.unwrap();
    assert_ne!(server.active().kid, new_key.kid);
    let token = cli.sign(&claims(600)).unwrap();
    assert_eq!(reason(server.verify(&token, ISSUER, None)), "unknown kid");

    assert!(server.reload(&store).await.unwrap(), "a rotation is a change");
    assert_eq!(server.active().kid, new_key.kid);
    assert!(server.verify(&token, ISSUER, None).is_ok());
    assert!(!server.reload(&store).await.unwrap(), "nothing new: the keys are not parsed again");
    assert!(server.verify(&token, ISSUER, None).is_ok());
}

#[tokio::test]
async fn rotation_works_from_the_store_not_a_stale_ring() {
    let store = key_store();
    let mut stale = KeyRing::load_or_create(&store).await.unwrap();
    let mut other = KeyRing::load(&store).await.unwrap();
    let second = other.rotate(&store, 1_800_000_000).await.unwrap();
    // The stale ring rotates again: the second key, which it never saw, is retired too.
    let third = stale.rotate(&store, 1_800_000_100).await.unwrap();
    let stored = store.list_signing_keys().await.unwrap();
    let active: Vec<&str> = stored.iter().filter(|k| k.retired_at.is_none()).map(|k| k.kid.as_str()).collect();
    assert_eq!(active, [third.kid.as_str()]);
    assert!(stale.keys().any(|k| k.kid == second.kid));
}

#[tokio::test]
async fn load_without_keys_fails_and_reload_keeps_the_ring() {
    let empty = key_store();
    assert!(matches!(KeyRing::load(&empty).await, Err(AuthError::NoSigningKey)));
    let mut ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let kid = ring.active().kid.clone();
    assert!(ring.reload(&empty).await.is_err());
    assert_eq!(ring.active().kid, kid);
}

#[tokio::test]
async fn interrupted_rotation_leaves_the_newest_key_active() {
    // A crash after saving the new key but before retiring the old one.
    let old = generate_key(1_700_000_000).unwrap();
    let new = generate_key(1_700_000_500).unwrap();
    let ring = KeyRing::from_records(vec![old.clone(), new.clone()]).unwrap();
    assert_eq!(ring.active().kid, new.kid);
    // Both are published: the old one may have signed tokens.
    assert_eq!(ring.jwks(1_700_000_600, 0)["keys"].as_array().unwrap().len(), 2);
    // All retired: no active key.
    let mut retired = old;
    retired.retired_at = Some(1_700_000_000);
    assert!(matches!(KeyRing::from_records(vec![retired.clone()]), Err(AuthError::NoSigningKey)));
    // load_or_create then makes a fresh one.
    let store = key_store();
    store.save_signing_key(&retired).await.unwrap();
    let ring = KeyRing::load_or_create(&store).await.unwrap();
    assert_ne!(ring.active().kid, retired.kid);
    assert_eq!(ring.keys().count(), 2);
}

#[tokio::test]
async fn damaged_key_records_are_found_at_load() {
    let good = generate_key(1_700_000_000).unwrap();
    let other = generate_key(1_700_000_000).unwrap();
    let cases = [
        SigningKey { n: other.n.clone(), ..good.clone() },
        SigningKey { e: "AQAA".to_owned(), ..good.clone() },
        SigningKey { private_pkcs8: "%%%".to_owned(), ..good.clone() },
        SigningKey { private_pkcs8: STANDARD.encode(b"not a key"), ..good.clone() },
    ];
    for bad in cases {
        match KeyRing::from_records(vec![bad]) {
            Err(AuthError::CorruptKey { kid, .. }) => assert_eq!(kid, good.kid),
            other => panic!("expected CorruptKey, got {other:?}"),
        }
    }
}

#[test]
fn debug_output_has_no_private_material() {
    let key = generate_key(1_700_000_000).unwrap();
    let ring = KeyRing::from_records(vec![key.clone()]).unwrap();
    let debug = format!("{ring:?}");
    assert!(debug.contains(&key.kid));
    assert!(!debug.contains(&key.private_pkcs8[..40]));
}

mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The JWT reader refuses arbitrary text, and arbitrary base64url segments in JWT shape, without panicking.
        #[test]
        fn the_jwt_reader_refuses_arbitrary_input(
            text in ".{0,300}",
            header in proptest::collection::vec(any::<u8>(), 0..120),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let ring = runtime.block_on(KeyRing::load_or_create(&key_store())).unwrap();
            prop_assert!(ring.verify(&text, ISSUER, Some(AUDIENCE)).is_err());
            let shaped = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(&header), URL_SAFE_NO_PAD.encode(&payload), "c2ln");
            prop_assert!(ring.verify(&shaped, ISSUER, Some(AUDIENCE)).is_err());
            let _ = jsonwebtoken::decode_header(&shaped);
        }
    }
}

/// The ring's own RS256 signatures verify with jsonwebtoken and the public JWK alone, and match what jsonwebtoken
/// itself produces for the same header and claims (RS256 is deterministic).
#[tokio::test]
async fn signatures_match_jsonwebtoken_byte_for_byte() {
    let ring = KeyRing::load_or_create(&key_store()).await.unwrap();
    let claims = claims(600);
    let ours = ring.sign(&claims).unwrap();
    let key = ring.active();
    let decoding = DecodingKey::from_rsa_components(&key.n, &key.e).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(&ours, &decoding, &validation).unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(ours.split('.').next().unwrap()).unwrap()).unwrap();
    let mut theirs_header = Header::new(Algorithm::RS256);
    theirs_header.typ = Some("JWT".to_owned());
    theirs_header.kid = Some(key.kid.clone());
    assert_eq!(header, json!({ "alg": "RS256", "typ": "JWT", "kid": key.kid }));
    // Same signing input, same key: the same signature.
    let signing_input = ours.rsplit_once('.').unwrap().0;
    let theirs = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &encoding_of(&ring), Algorithm::RS256).unwrap();
    assert_eq!(ours.rsplit_once('.').unwrap().1, theirs);
}
