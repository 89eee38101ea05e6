//! Signing keys: the RS256 key ring behind ID tokens, access tokens and the JWKS endpoint.
//!
//! Keys live in the store, so every process of a tenant (the server, `gatehouse keys rotate`) sees the same ring.
//! The active key is the newest one not retired; rotation adds a key and retires the previous one, which stays in
//! the ring (verification) and in the JWKS for as long as its tokens may be valid. Private keys are stored as
//! PKCS#8 DER (base64); each key is checked against its public half when loaded, so a damaged record is found at
//! start-up, not at the first signature. RSA comes from aws-lc-rs, also jsonwebtoken's backend.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gatehouse_store::Store;
use gatehouse_types::records::SigningKey;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{AuthError, AuthResult};

/// The signing keys of a tenant, ready to sign and verify.
#[derive(Clone)]
pub struct KeyRing {
    /// Every key of the store, in store order (oldest first).
    keys: Vec<LoadedKey>,
    /// Index of the active key in `keys`.
    active: usize,
    /// The active key's private half, parsed and validated once. jsonwebtoken 11 parses the whole DER key inside
    /// every signature (`RsaKeyPair::from_der` in its aws-lc backend), which profiling put at over half the token
    /// endpoint's CPU; signing here with the parsed key pair skips that. jsonwebtoken still reads and verifies.
    signer: Arc<KeyPair>,
}

#[derive(Clone)]
struct LoadedKey {
    record: SigningKey,
    decoding: DecodingKey,
}

impl fmt::Debug for KeyRing {
    /// Kids only: never private material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active().kid)
            .field("kids", &self.keys.iter().map(|k| k.record.kid.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// The ring of the store; on first start (no active key), generates an RSA-2048 key and saves it first.
    pub async fn load_or_create(store: &dyn Store) -> AuthResult<KeyRing> {
        let mut records = store.list_signing_keys().await?;
        if !records.iter().any(|k| k.retired_at.is_none()) {
            let key = generate_key(unix_now())?;
            store.save_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, "generated a signing key");
            records.push(key);
        }
        KeyRing::from_records(records)
    }

    /// The ring of the store; [`AuthError::NoSigningKey`] if it has no active key.
    pub async fn load(store: &dyn Store) -> AuthResult<KeyRing> {
        KeyRing::from_records(store.list_signing_keys().await?)
    }

    /// Re-reads the store, to pick up a rotation made by another process; returns whether anything changed. The
    /// keys are parsed again only then (the server checks every second). On error the ring is left as it was.
    pub async fn reload(&mut self, store: &dyn Store) -> AuthResult<bool> {
        let records = store.list_signing_keys().await?;
        let same = records.len() == self.keys.len() && records.iter().zip(&self.keys).all(|(r, k)| *r == k.record);
        if same {
            return Ok(false);
        }
        *self = KeyRing::from_records(records)?;
        Ok(true)
    }

    /// Generates a new active key and retires, at `now`, every key that was still active. Works from the store's
    /// current keys, not this ring's (another process may have rotated meanwhile), then reloads the ring.
    ///
    /// The new key is saved before the old one is retired: a crash in between leaves two unretired keys, of which
    /// the newer is active, and no moment without an active key.
    pub async fn rotate(&mut self, store: &dyn Store, now: i64) -> AuthResult<SigningKey> {
        let mut records = store.list_signing_keys().await?;
        let key = generate_key(now)?;
        store.save_signing_key(&key).await?;
        for record in records.iter_mut().filter(|k| k.retired_at.is_none()) {
            record.retired_at = Some(now);
            store.save_signing_key(record).await?;
        }
        records.push(key.clone());
        *self = KeyRing::from_records(records)?;
        tracing::info!(kid = %key.kid, "rotated the signing key");
        Ok(key)
    }

    /// Builds a ring from stored keys, checking each one.
    pub fn from_records(records: Vec<SigningKey>) -> AuthResult<KeyRing> {
        let keys = records.into_iter().map(LoadedKey::new).collect::<AuthResult<Vec<_>>>()?;
        // The newest unretired key; on equal times the later in store order.
        let active = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.record.retired_at.is_none())
            .max_by_key(|(i, k)| (k.record.created_at, *i))
            .map(|(i, _)| i)
            .ok_or(AuthError::NoSigningKey)?;
        let signer = Arc::new(signing_pair(&keys[active].record)?);
        Ok(KeyRing { keys, active, signer })
    }

    /// The key that signs.
    pub fn active(&self) -> &SigningKey {
        &self.keys[self.active].record
    }

    /// Every key of the ring, in store order.
    pub fn keys(&self) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().map(|k| &k.record)
    }

    /// The JWKS document (`/.well-known/jwks.json`): the active key first, then keys retired less than
    /// `keep_retired_for_secs` before `now` (tokens they signed may still be valid), newest first.
    pub fn jwks(&self, now: i64, keep_retired_for_secs: i64) -> Value {
        let mut published: Vec<&SigningKey> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(i, k)| {
                *i != self.active && k.record.retired_at.is_none_or(|at| at.saturating_add(keep_retired_for_secs) > now)
            })
            .map(|(_, k)| &k.record)
            .collect();
        published.sort_by_key(|k| std::cmp::Reverse((k.retired_at.unwrap_or(i64::MAX), k.created_at)));
        published.insert(0, self.active());
        let keys: Vec<Value> = published
            .into_iter()
            .map(|k| json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": k.n, "e": k.e }))
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` with the active key: RS256, header `{"alg":"RS256","typ":"JWT","kid":...}`.
    pub fn sign(&self, claims: &Value) -> AuthResult<String> {
        self.sign_with_typ(claims, "JWT")
    }

    /// Signs `claims` with the active key and the given `typ` header (`at+jwt` for RFC 9068 access tokens).
    pub fn sign_with_typ(&self, claims: &Value, typ: &str) -> AuthResult<String> {
        let header = json!({ "alg": "RS256", "typ": typ, "kid": self.active().kid });
        let header = serde_json::to_vec(&header).map_err(|e| AuthError::Crypto(format!("token header: {e}")))?;
        let payload = serde_json::to_vec(claims).map_err(|e| AuthError::Crypto(format!("token claims: {e}")))?;
        let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 350);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        // RSASSA-PKCS1-v1_5 with SHA-256 (RS256) is deterministic: the random source is not used for it.
        let mut signature = vec![0u8; self.signer.public_modulus_len()];
        self.signer
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), token.as_bytes(), &mut signature)
            .map_err(|_| AuthError::Crypto("signing a token".to_owned()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    /// Verifies a token signed by any key of the ring (found by `kid`): RS256 only, `iss` equal to `issuer`,
    /// `exp` required and not past (no leeway), `nbf` respected if present, and when `audience` is given, an `aud`
    /// claim (a string or an array) that contains it. Returns the claims.
    pub fn verify(&self, token: &str, issuer: &str, audience: Option<&str>) -> AuthResult<Map<String, Value>> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.kind()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::InvalidToken("algorithm not allowed".to_owned()));
        }
        let kid = header.kid.ok_or_else(|| AuthError::InvalidToken("no kid".to_owned()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.record.kid == kid)
            .ok_or_else(|| AuthError::InvalidToken("unknown kid".to_owned()))?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| invalid(e.kind()))
    }
}

impl LoadedKey {
    /// Parses and checks a stored key: its private half must give the stored `n` and `e`.
    fn new(record: SigningKey) -> AuthResult<LoadedKey> {
        let corrupt = |reason| AuthError::CorruptKey { kid: record.kid.clone(), reason };
        let der = STANDARD.decode(&record.private_pkcs8).map_err(|_| corrupt("private key is not base64"))?;
        let pair = KeyPair::from_pkcs8(&der).map_err(|_| corrupt("private key is not PKCS#8 RSA"))?;
        let (n, e) = public_components(&pair);
        if n != record.n || e != record.e {
            return Err(corrupt("public key does not match the private key"));
        }
        let decoding =
            DecodingKey::from_rsa_components(&record.n, &record.e).map_err(|_| corrupt("public key is unusable"))?;
        Ok(LoadedKey { record, decoding })
    }
}

/// A new RSA-2048 signing key created at `now`.
pub fn generate_key(now: i64) -> AuthResult<SigningKey> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| AuthError::Crypto("RSA key generation".to_owned()))?;
    let pkcs8 = pair.as_der().map_err(|_| AuthError::Crypto("PKCS#8 encoding".to_owned()))?;
    let (n, e) = public_components(&pair);
    Ok(SigningKey {
        kid: kid_of(&pair)?,
        private_pkcs8: STANDARD.encode(pkcs8.as_ref()),
        n,
        e,
        created_at: now,
        retired_at: None,
    })
}

/// JWK `n` and `e`: base64url (no padding) of the big-endian modulus and exponent without leading zeros.
fn public_components(pair: &KeyPair) -> (String, String) {
    let public = pair.public_key();
    (
        URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    )
}

/// `kid`: base64url of the first 16 bytes of SHA-256 of the public key (X.509 SubjectPublicKeyInfo DER).
fn kid_of(pair: &KeyPair) -> AuthResult<String> {
    let spki = pair.public_key().as_der().map_err(|_| AuthError::Crypto("public key encoding".to_owned()))?;
    let digest = Sha256::digest(spki.as_ref());
    Ok(URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// The active key's private half as an aws-lc-rs key pair (PKCS#8 DER, validated once here).
fn signing_pair(record: &SigningKey) -> AuthResult<KeyPair> {
    let corrupt = || AuthError::CorruptKey { kid: record.kid.clone(), reason: "private key is unusable for signing" };
    let der = STANDARD.decode(record.private_pkcs8.as_bytes()).map_err(|_| corrupt())?;
    KeyPair::from_pkcs8(&der).map_err(|_| corrupt())
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A fixed description of a jsonwebtoken error: its own messages can quote parts of the token (serde errors).
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::ExpiredSignature => "expired".to_owned(),
        ErrorKind::ImmatureSignature => "not yet valid".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
            "algorithm not allowed".to_owned()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed claim {claim}"),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::RsaFailedSigning | ErrorKind::Signing(_) => "RSA failure".to_owned(),
        _ => "malformed".to_owned(),
    }
}

fn invalid(kind: &ErrorKind) -> AuthError {
    AuthError::InvalidToken(describe(kind))
}

#[cfg(test)]
mod tests;
