//! The host side of the `crypto` built-in (`node.js`): hashes, HMAC and RSA PKCS#1 v1.5 signatures, computed by
//! aws-lc-rs (and md-5 for MD5, which aws-lc-rs does not offer) on bytes the script hands over as typed arrays.
//! Keys arrive as PEM text; nothing here keeps a key between calls.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, PublicKey, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding, RsaParameters};
use aws_lc_rs::{digest, hmac};
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsUint8Array;
use boa_engine::property::Attribute;
use boa_engine::{Context, JsResult, JsString, JsValue, js_string};
use md5::{Digest, Md5};

use crate::worker::host::{arg_string, error, type_error};

/// Largest input hashed or signed at once (a script cannot make the host copy more than this per call).
const MAX_INPUT: usize = 16 * 1024 * 1024;

/// A digest the host computes.
#[derive(Clone, Copy)]
enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// Node's names: `sha256`, `SHA256`, `sha-256`, `RSA-SHA256`.
    fn parse(name: &str) -> Option<Algorithm> {
        let lower = name.to_ascii_lowercase();
        let bare = lower.strip_prefix("rsa-").unwrap_or(&lower).replace('-', "");
        Some(match bare.as_str() {
            "md5" => Algorithm::Md5,
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn digest(self) -> Option<&'static digest::Algorithm> {
        match self {
            Algorithm::Md5 => None,
            Algorithm::Sha1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            Algorithm::Sha256 => Some(&digest::SHA256),
            Algorithm::Sha384 => Some(&digest::SHA384),
            Algorithm::Sha512 => Some(&digest::SHA512),
        }
    }

    fn hmac(self) -> Option<hmac::Algorithm> {
        match self {
            Algorithm::Md5 => None,
            Algorithm::Sha1 => Some(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            Algorithm::Sha256 => Some(hmac::HMAC_SHA256),
            Algorithm::Sha384 => Some(hmac::HMAC_SHA384),
            Algorithm::Sha512 => Some(hmac::HMAC_SHA512),
        }
    }

    fn rsa_signing(self) -> Option<&'static dyn RsaEncoding> {
        match self {
            Algorithm::Sha256 => Some(&signature::RSA_PKCS1_SHA256),
            Algorithm::Sha384 => Some(&signature::RSA_PKCS1_SHA384),
            Algorithm::Sha512 => Some(&signature::RSA_PKCS1_SHA512),
            _ => None,
        }
    }

    fn rsa_verification(self) -> Option<&'static RsaParameters> {
        match self {
            Algorithm::Sha256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::Sha384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::Sha512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            _ => None,
        }
    }
}

fn algorithm(args: &[JsValue], context: &mut Context) -> JsResult<Algorithm> {
    let name = arg_string(args, 0, context)?;
    Algorithm::parse(&name).ok_or_else(|| error(format!("Digest method not supported: {name}")))
}

fn bytes(args: &[JsValue], i: usize, context: &mut Context) -> JsResult<Vec<u8>> {
    let object = args.get(i).and_then(JsValue::as_object).ok_or_else(|| type_error("expected a Uint8Array"))?;
    let array = JsUint8Array::from_object(object).map_err(|_| type_error("expected a Uint8Array"))?;
    let bytes = array.to_vec(context)?;
    if bytes.len() > MAX_INPUT {
        return Err(error(format!("crypto: inputs are limited to {MAX_INPUT} bytes in actions")));
    }
    Ok(bytes)
}

fn uint8_array(bytes: &[u8], context: &mut Context) -> JsResult<JsValue> {
    Ok(JsUint8Array::from_iter(bytes.iter().copied(), context)?.into())
}

/// `host.digestAlgorithm(name)`: the canonical name, or Node's error for an unknown digest.
pub(crate) fn host_digest_algorithm(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    Ok(JsString::from(algorithm(args, context)?.name()).into())
}

/// `host.digest(algorithm, bytes)`.
pub(crate) fn host_digest(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let algorithm = algorithm(args, context)?;
    let data = bytes(args, 1, context)?;
    match algorithm.digest() {
        Some(digest_algorithm) => uint8_array(digest::digest(digest_algorithm, &data).as_ref(), context),
        None => uint8_array(&Md5::digest(&data), context),
    }
}

/// `host.hmac(algorithm, key, bytes)`.
pub(crate) fn host_hmac(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let algorithm = algorithm(args, context)?;
    let key = bytes(args, 1, context)?;
    let data = bytes(args, 2, context)?;
    match algorithm.hmac() {
        Some(hmac_algorithm) => {
            let key = hmac::Key::new(hmac_algorithm, &key);
            uint8_array(hmac::sign(&key, &data).as_ref(), context)
        }
        None => uint8_array(&hmac_md5(&key, &data), context),
    }
}

/// HMAC-MD5 (RFC 2104), for the legacy integrations that still ask for it.
fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..16].copy_from_slice(&Md5::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Md5::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// An RSA key read from PEM.
enum RsaKey {
    Private(KeyPair),
    Public(PublicKey),
}

fn not_a_key() -> boa_engine::JsError {
    error("error:1E08010C:DECODER routines::unsupported (actions accept RSA keys as PEM: PKCS#8, PKCS#1 or SPKI)")
}

fn read_key(text: &str) -> JsResult<RsaKey> {
    let pem = pem::parse(text.trim()).map_err(|_| not_a_key())?;
    let der = pem.contents();
    let key = match pem.tag() {
        "PRIVATE KEY" => KeyPair::from_pkcs8(der).map(RsaKey::Private),
        "RSA PRIVATE KEY" => KeyPair::from_der(der).map(RsaKey::Private),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => PublicKey::from_der(der).map(RsaKey::Public),
        "ENCRYPTED PRIVATE KEY" => return Err(error("Encrypted private keys are not available in actions")),
        "EC PRIVATE KEY" => return Err(error("Only RSA keys are available in actions")),
        "CERTIFICATE" => return Err(error("Certificates are not available as keys in actions; use the public key")),
        _ => return Err(not_a_key()),
    };
    key.map_err(|e| error(format!("the RSA key was rejected: {e}")))
}

fn public_pem(public: &PublicKey) -> JsResult<String> {
    let der: PublicKeyX509Der<'static> = public.as_der().map_err(|_| error("could not encode the public key"))?;
    Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", der.as_ref().to_vec())))
}

/// `host.parseKey(kind, pem)`: checks an RSA key and answers `{ pem, modulusLength, publicExponent }`. For
/// `kind == 'public'`, a private key gives its public key (as Node's `createPublicKey` does).
pub(crate) fn host_parse_key(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let kind = arg_string(args, 0, context)?;
    let text = arg_string(args, 1, context)?;
    let key = read_key(&text)?;
    let (pem, public) = match (kind.as_str(), &key) {
        ("private", RsaKey::Private(pair)) => {
            let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| error("could not encode the private key"))?;
            (pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec())), pair.public_key())
        }
        ("private", RsaKey::Public(_)) => {
            return Err(type_error(
                "error:1E08010C:DECODER routines::unsupported (a public key where a private key is needed)",
            ));
        }
        (_, RsaKey::Private(pair)) => (public_pem(pair.public_key())?, pair.public_key()),
        (_, RsaKey::Public(public)) => (public_pem(public)?, public),
    };
    let components = PublicKeyComponents::<Vec<u8>>::from(public);
    let exponent = components.e.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let mut info = ObjectInitializer::new(context);
    info.property(js_string!("pem"), JsString::from(pem), Attribute::all())
        .property(js_string!("modulusLength"), (public.modulus_len() * 8) as u32, Attribute::all())
        .property(js_string!("publicExponent"), exponent as f64, Attribute::all());
    Ok(info.build().into())
}

/// `host.keyJwk(pem)`: an RSA public key as a JWK.
pub(crate) fn host_key_jwk(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    use base64::Engine as _;
    let text = arg_string(args, 0, context)?;
    let key = read_key(&text)?;
    let public = match &key {
        RsaKey::Private(pair) => pair.public_key(),
        RsaKey::Public(public) => public,
    };
    let components = PublicKeyComponents::<Vec<u8>>::from(public);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = serde_json::json!({ "kty": "RSA", "n": b64.encode(&components.n), "e": b64.encode(&components.e) });
    JsValue::from_json(&jwk, context)
}

/// `host.rsaSign(algorithm, privatePem, bytes)`: an RSASSA-PKCS1-v1_5 signature.
pub(crate) fn host_rsa_sign(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let algorithm = algorithm(args, context)?;
    let encoding = algorithm
        .rsa_signing()
        .ok_or_else(|| error(format!("RSA signatures with {} are not available in actions", algorithm.name())))?;
    let text = arg_string(args, 1, context)?;
    let data = bytes(args, 2, context)?;
    let RsaKey::Private(pair) = read_key(&text)? else {
        return Err(type_error("error:1E08010C:DECODER routines::unsupported (signing needs a private key)"));
    };
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(encoding, &SystemRandom::new(), &data, &mut signature).map_err(|_| error("RSA signing failed"))?;
    uint8_array(&signature, context)
}

/// `host.rsaVerify(algorithm, pem, bytes, signature)`: whether the signature is valid (false for any bad input).
pub(crate) fn host_rsa_verify(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let algorithm = algorithm(args, context)?;
    let parameters = algorithm
        .rsa_verification()
        .ok_or_else(|| error(format!("RSA signatures with {} are not available in actions", algorithm.name())))?;
    let text = arg_string(args, 1, context)?;
    let data = bytes(args, 2, context)?;
    let signature = bytes(args, 3, context)?;
    let public = match read_key(&text)? {
        RsaKey::Private(pair) => pair.public_key().as_ref().to_vec(),
        RsaKey::Public(public) => public.as_ref().to_vec(),
    };
    let valid = signature::UnparsedPublicKey::new(parameters, public).verify(&data, &signature).is_ok();
    Ok(valid.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_md5_matches_rfc_2202() {
        let mac = hmac_md5(&[0x0b; 16], b"Hi There");
        assert_eq!(hex::encode(mac), "9294727a3638bb1c13f48ef8158bfc9d");
        let mac = hmac_md5(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "750c783e6ab0b503eaa86e310a5db738");
    }

    #[test]
    fn algorithm_names_follow_node() {
        for name in ["sha256", "SHA256", "sha-256", "RSA-SHA256"] {
            assert_eq!(Algorithm::parse(name).map(Algorithm::name), Some("sha256"));
        }
        assert!(Algorithm::parse("whirlpool").is_none());
    }
}
