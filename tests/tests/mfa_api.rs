//! End-to-end: the MFA API, starting with seed 003's curl sequence as written (only `{yourDomain}` and the
//! placeholders are filled in).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{Server, config, jwt_payload};
use serde_json::{Value, json};

/// MFA always, with the email factor: a verified email is already a factor (no association with an mfa_token).
const ALWAYS: &str = "factors = [\"otp\", \"recovery-code\", \"email\"]\npolicy = \"always\"";
/// MFA always, authenticator apps and recovery codes: seed 003's tenant, where a user starts with no factor.
const OTP_ALWAYS: &str = "factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"";
const WEB: &str = "test-web";
const WEB_SECRET: &str = "test-web-secret-0123456789";

/// Runs curl with the seed's arguments; returns the JSON body.
fn curl(args: &[&str]) -> Value {
    let output =
        Command::new("curl").arg("--silent").arg("--show-error").args(args).output().expect("curl is installed");
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The password-realm grant that answers `mfa_required` (the tenant requires MFA always).
async fn mfa_token(server: &Server, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "http://auth0.com/oauth/grant-type/password-realm"),
            ("client_id", WEB),
            ("client_secret", WEB_SECRET),
            ("username", email),
            ("password", "correct-horse-battery"),
            ("realm", "Username-Password-Authentication"),
            ("scope", "openid profile"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    assert_eq!(body["error_description"], "Multifactor authentication required");
    body["mfa_token"].as_str().unwrap().to_owned()
}

fn totp_of(secret: &str, offset: i64) -> String {
    gatehouse_tests::totp(secret, offset)
}

#[tokio::test]
async fn seed_003_curl_sequence_as_written() {
    let server = Server::start(&config(OTP_ALWAYS, ""), &[]);
    let domain = server.url("").trim_end_matches('/').to_owned();

    // Enroll with OTP: POST /mfa/associate with the mfa_token as bearer (the seed sends no client_id).
    let token = mfa_token(&server, "jane@example.com").await;
    let associate = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/mfa/associate"),
        "--header",
        &format!("authorization: Bearer {token}"),
        "--header",
        "content-type: application/json",
        "--data",
        r#"{ "authenticator_types": ["otp"] }"#,
    ]);
    assert_eq!(associate["authenticator_type"], "otp");
    let secret = associate["secret"].as_str().unwrap().to_owned();
    let barcode = associate["barcode_uri"].as_str().unwrap();
    assert!(barcode.starts_with("otpauth://totp/Gatehouse%20Test:jane%40example.com?secret="), "{barcode}");
    assert!(barcode.ends_with("&issuer=Gatehouse%20Test&algorithm=SHA1&digits=6&period=30"), "{barcode}");
    let recovery = associate["recovery_codes"][0].as_str().unwrap().to_owned();
    assert_eq!(recovery.len(), 24);

    // Before confirmation the authenticator is listed inactive.
    let list = curl(&[
        "--request",
        "GET",
        "--url",
        &format!("{domain}/mfa/authenticators"),
        "--header",
        &format!("authorization: Bearer {token}"),
        "--header",
        "content-type: application/json",
    ]);
    let otp = list.as_array().unwrap().iter().find(|a| a["authenticator_type"] == "otp").unwrap().clone();
    assert_eq!(otp["active"], false);

    // Confirm the enrollment with the first code.
    let code = totp_of(&secret, 0);
    let tokens = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/oauth/token"),
        "--header",
        "content-type: application/x-www-form-urlencoded",
        "--data",
        "grant_type=http://auth0.com/oauth/grant-type/mfa-otp",
        "--data",
        &format!("client_id={WEB}"),
        "--data",
        &format!("mfa_token={token}"),
        "--data",
        &format!("client_secret={WEB_SECRET}"),
        "--data",
        &format!("otp={code}"),
    ]);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile");
    assert!(tokens["id_token"].is_string() && tokens["access_token"].is_string(), "{tokens}");
    assert_eq!(jwt_payload(tokens["id_token"].as_str().unwrap())["amr"], json!(["mfa"]));

    // Challenge with OTP: a new mfa_token from the password grant, the authenticator list, then the code.
    let token = mfa_token(&server, "jane@example.com").await;
    let list = curl(&[
        "--request",
        "GET",
        "--url",
        &format!("{domain}/mfa/authenticators"),
        "--header",
        &format!("authorization: Bearer {token}"),
        "--header",
        "content-type: application/json",
    ]);
    let kinds: Vec<(&str, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["authenticator_type"].as_str().unwrap(), a["active"].as_bool().unwrap()))
        .collect();
    assert!(kinds.contains(&("otp", true)) && kinds.contains(&("recovery-code", true)), "{list}");
    assert!(list.as_array().unwrap().iter().any(|a| a["id"].as_str().unwrap().starts_with("totp|dev_")), "{list}");
    let challenge = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/mfa/challenge"),
        "--header",
        "content-type: application/json",
        "--data",
        &json!({ "mfa_token": token, "client_id": WEB, "client_secret": WEB_SECRET, "challenge_type": "otp" })
            .to_string(),
    ]);
    assert_eq!(challenge, json!({ "challenge_type": "otp" }));
    let code = totp_of(&secret, 1);
    let tokens = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/oauth/token"),
        "--header",
        "content-type: application/x-www-form-urlencoded",
        "--data",
        "grant_type=http://auth0.com/oauth/grant-type/mfa-otp",
        "--data",
        &format!("client_id={WEB}"),
        "--data",
        &format!("client_secret={WEB_SECRET}"),
        "--data",
        &format!("mfa_token={token}"),
        "--data",
        &format!("otp={code}"),
    ]);
    assert!(tokens["access_token"].is_string(), "{tokens}");

    // The same code a second time is refused (a TOTP code is used once).
    let again = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/oauth/token"),
        "--data",
        "grant_type=http://auth0.com/oauth/grant-type/mfa-otp",
        "--data",
        &format!("client_id={WEB}"),
        "--data",
        &format!("client_secret={WEB_SECRET}"),
        "--data",
        &format!("mfa_token={token}"),
        "--data",
        &format!("otp={code}"),
    ]);
    assert_eq!(again["error"], "invalid_grant");
    assert_eq!(again["error_description"], "Invalid otp_code.");

    // The recovery code works once, and the answer carries its replacement.
    let token = mfa_token(&server, "jane@example.com").await;
    let tokens = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/oauth/token"),
        "--data",
        "grant_type=http://auth0.com/oauth/grant-type/mfa-recovery-code",
        "--data",
        &format!("client_id={WEB}"),
        "--data",
        &format!("client_secret={WEB_SECRET}"),
        "--data",
        &format!("mfa_token={token}"),
        "--data",
        &format!("recovery_code={recovery}"),
    ]);
    let replacement = tokens["recovery_code"].as_str().expect("a new recovery code").to_owned();
    assert_ne!(replacement, recovery);
    let reused = curl(&[
        "--request",
        "POST",
        "--url",
        &format!("{domain}/oauth/token"),
        "--data",
        "grant_type=http://auth0.com/oauth/grant-type/mfa-recovery-code",
        "--data",
        &format!("client_id={WEB}"),
        "--data",
        &format!("client_secret={WEB_SECRET}"),
        "--data",
        &format!("mfa_token={token}"),
        "--data",
        &format!("recovery_code={recovery}"),
    ]);
    assert_eq!(reused["error"], "invalid_grant");
}

async fn post_json(server: &Server, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.url(path)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_form(server: &Server, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().post(server.url("oauth/token")).form(fields).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn fields<'a>(pairs: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn mfa_grant(kind: &str, token: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("grant_type", format!("http://auth0.com/oauth/grant-type/{kind}")),
        ("client_id", WEB.to_owned()),
        ("client_secret", WEB_SECRET.to_owned()),
        ("mfa_token", token.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    pairs
}

#[tokio::test]
async fn errors_of_the_mfa_api_without_email() {
    let server = Server::start(&config("factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"", ""), &[]);
    let token = mfa_token(&server, "taro@example.com").await;

    // A tampered mfa_token.
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let pairs = mfa_grant("mfa-otp", &tampered, &[("otp", "123456")]);
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_description"].as_str()),
        (403, Some("invalid_grant"), Some("Malformed mfa_token"))
    );

    // Issued to another client.
    let (status, body) =
        post_json(&server, "mfa/challenge", None, json!({ "mfa_token": token, "client_id": "test-spa" })).await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("mfa_token not issued to this client")));

    // Nothing enrolled (email is not a factor on this tenant).
    let (status, body) = post_json(
        &server,
        "mfa/challenge",
        None,
        json!({ "mfa_token": token, "client_id": WEB, "client_secret": WEB_SECRET }),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("association_required")), "{body}");

    // Email cannot be associated where it is not enabled.
    let (status, body) = post_json(
        &server,
        "mfa/associate",
        Some(&token),
        json!({ "authenticator_types": ["oob"], "oob_channels": ["email"] }),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_challenge_type")), "{body}");

    // Enroll OTP, then: a new mfa_token cannot associate more ("User is already enrolled."), and an oob challenge
    // is unsupported for a user who only has OTP.
    let (_, associate) =
        post_json(&server, "mfa/associate", Some(&token), json!({ "authenticator_types": ["otp"] })).await;
    let secret = associate["secret"].as_str().unwrap().to_owned();
    let code = totp_of(&secret, 0);
    let pairs = mfa_grant("mfa-otp", &token, &[("otp", &code)]);
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!(status, 200, "{body}");
    let token = mfa_token(&server, "taro@example.com").await;
    let (status, body) =
        post_json(&server, "mfa/associate", Some(&token), json!({ "authenticator_types": ["otp"] })).await;
    assert_eq!((status, body["error_description"].as_str()), (403, Some("User is already enrolled.")), "{body}");
    let (status, body) = post_json(
        &server,
        "mfa/challenge",
        None,
        json!({ "mfa_token": token, "client_id": WEB, "client_secret": WEB_SECRET, "challenge_type": "oob" }),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unsupported_challenge_type")), "{body}");
    assert_eq!(
        body["error_description"],
        "The user does not support the requested challenge type (oob). Supported type: otp."
    );
}

#[tokio::test]
async fn email_challenges_need_the_binding_code_once() {
    let server = Server::start(&config(ALWAYS, ""), &[]);
    // jane's verified email is an (implicit) authenticator.
    let token = mfa_token(&server, "jane@example.com").await;
    let (status, challenge) = post_json(
        &server,
        "mfa/challenge",
        None,
        json!({ "mfa_token": token, "client_id": WEB, "client_secret": WEB_SECRET, "challenge_type": "oob" }),
    )
    .await;
    assert_eq!(status, 200, "{challenge}");
    assert_eq!(challenge["challenge_type"], "oob");
    assert_eq!(challenge["binding_method"], "prompt");
    let oob_code = challenge["oob_code"].as_str().unwrap().to_owned();

    let pairs = mfa_grant("mfa-oob", &token, &[("oob_code", &oob_code)]);
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("binding_code is required")));
    let pairs = mfa_grant("mfa-oob", &token, &[("oob_code", &oob_code), ("binding_code", "000000")]);
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")));
    let code = server.latest_email_code();
    let pairs = mfa_grant("mfa-oob", &token, &[("oob_code", &oob_code), ("binding_code", &code)]);
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_payload(body["id_token"].as_str().unwrap())["amr"], json!(["mfa"]));
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "single use: {body}");
}

#[tokio::test]
async fn ten_wrong_codes_block_the_factor() {
    let server = Server::start(&config(OTP_ALWAYS, ""), &[]);
    let token = mfa_token(&server, "jane@example.com").await;
    let (_, associate) =
        post_json(&server, "mfa/associate", Some(&token), json!({ "authenticator_types": ["otp"] })).await;
    let secret = associate["secret"].as_str().unwrap().to_owned();
    let wrong = if totp_of(&secret, 0) == "000000" { "111111" } else { "000000" };
    for _ in 0..10 {
        let pairs = mfa_grant("mfa-otp", &token, &[("otp", wrong)]);
        let (status, body) = post_form(&server, &fields(&pairs)).await;
        assert_eq!((status, body["error_description"].as_str()), (403, Some("Invalid otp_code.")));
    }
    let right = totp_of(&secret, 0);
    let pairs = mfa_grant("mfa-otp", &token, &[("otp", &right)]);
    let (status, body) = post_form(&server, &fields(&pairs)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_attempts")),
        "the right code is refused while blocked"
    );
}

#[tokio::test]
async fn an_expired_mfa_token_is_refused() {
    let mut server = Server::start(&config(ALWAYS, ""), &[]);
    let token = mfa_token(&server, "jane@example.com").await;
    // Sign, with the tenant's own key, a token like the server's but already expired: stop the server (sled
    // allows one process), open its store, sign, start it again.
    server.kill9();
    let claims = gatehouse_tests::jwt_payload(&token);
    let expired = {
        let store = gatehouse_store::SledStore::open(&server.dir.path().join("data").join("store")).unwrap();
        let ring = gatehouse_auth::crypto::keys::KeyRing::load(&store).await.unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut claims = claims.clone();
        claims["iat"] = json!(now - 700);
        claims["exp"] = json!(now - 100);
        ring.sign_with_typ(&claims, "mfa+jwt").unwrap()
    };
    server.restart();
    let (status, body) = post_json(
        &server,
        "mfa/challenge",
        None,
        json!({ "mfa_token": expired, "client_id": WEB, "client_secret": WEB_SECRET }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_description"].as_str()),
        (403, Some("expired_token"), Some("mfa_token is expired"))
    );
    // The genuine one still works after the restart (its ticket is in the store).
    let (status, body) = post_json(
        &server,
        "mfa/challenge",
        None,
        json!({ "mfa_token": token, "client_id": WEB, "client_secret": WEB_SECRET }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
