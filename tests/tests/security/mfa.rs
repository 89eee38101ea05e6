//! Finding 2 (factor takeover with only the password), the MFA attempt bucket under parallel guesses, a TOTP code
//! used twice at once, and finding 8 (unlimited email resends).

use gatehouse_tests::{Browser, Server, config, join_all, totp};
use serde_json::{Value, json};

use crate::common::{EMAIL_ALWAYS, WEB_SECRET, answer, emails_sent, hosted_login, token_form, web_authorize_url};

const OTP_ONLY_ALWAYS: &str = "factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"";
const MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";

/// The `mfa_token` of a password grant that needs MFA.
async fn mfa_token(server: &Server, email: &str) -> String {
    let (status, body) = token_form(
        server,
        &[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", WEB_SECRET),
            ("username", email),
            ("password", "correct-horse-battery"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("mfa_required")), "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn associate(server: &Server, mfa_token: &str, body: Value) -> (u16, Value) {
    answer(
        reqwest::Client::new()
            .post(server.url("mfa/associate"))
            .bearer_auth(mfa_token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn mfa_otp(server: &Server, mfa_token: &str, otp: &str) -> (u16, Value) {
    token_form(
        server,
        &[
            ("grant_type", MFA_OTP),
            ("client_id", "test-web"),
            ("client_secret", WEB_SECRET),
            ("mfa_token", mfa_token),
            ("otp", otp),
        ],
    )
    .await
}

/// jane's verified email is her factor: with only her password, an attacker can neither enroll an email address
/// of theirs nor an authenticator app, and nothing is mailed anywhere.
#[tokio::test]
async fn mfa_associate_with_only_the_password_cannot_take_over_a_verified_email() {
    let server = Server::start(&config(EMAIL_ALWAYS, ""), &[]);
    let token = mfa_token(&server, "jane@example.com").await;
    let attacker_email =
        json!({ "authenticator_types": ["oob"], "oob_channels": ["email"], "email": "attacker@evil.example" });
    let attacker_app = json!({ "authenticator_types": ["otp"] });
    for body in [attacker_email, attacker_app] {
        let (status, answer) = associate(&server, &token, body).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error_description"], "User is already enrolled.");
    }
    assert_eq!(emails_sent(&server), 0, "nothing was mailed");
    // The hosted pages hold the same line: jane is challenged by email before any enrollment.
    let browser = Browser::new(&server);
    let page = hosted_login(&browser, &web_authorize_url(&server, "openid", ""), "jane@example.com").await;
    assert!(!page.body.contains("otpauth://"), "an enrollment offered before the email challenge: {}", page.body);
    assert!(page.body.contains("j***@example.com"), "expected the email challenge: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &server.latest_email_code())]).await;
    assert!(page.body.contains("otpauth://"), "after the email code, the app is enrolled: {}", page.body);
}

/// Enrolls jane's authenticator app through the MFA API (no email factor on this tenant); returns the secret and
/// an mfa_token that has passed MFA.
async fn enrolled_otp(server: &Server) -> (String, String) {
    let token = mfa_token(server, "jane@example.com").await;
    let (status, body) = associate(server, &token, json!({ "authenticator_types": ["otp"] })).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    let (status, body) = mfa_otp(server, &token, &totp(&secret, 0)).await;
    assert_eq!(status, 200, "{body}");
    (secret, mfa_token(server, "jane@example.com").await)
}

/// 40 wrong codes at once against a bucket of 10: ten are checked and refused, thirty are blocked unchecked, and
/// the right code is then blocked too.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_otp_guesses_spend_the_attempt_bucket_exactly() {
    let server = Server::start(&config(OTP_ONLY_ALWAYS, ""), &[]);
    let (secret, token) = enrolled_otp(&server).await;
    let right = totp(&secret, 0);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let guesses = (0..40).map(|_| {
        let (server, token) = (&server, &token);
        async move { mfa_otp(server, token, wrong).await }
    });
    let answers = join_all(guesses).await;
    let refused = answers.iter().filter(|(s, b)| *s == 403 && b["error"] == "invalid_grant").count();
    let blocked = answers.iter().filter(|(s, b)| *s == 429 && b["error"] == "too_many_attempts").count();
    assert_eq!((refused, blocked), (10, 30), "{answers:?}");
    let (status, body) = mfa_otp(&server, &token, &totp(&secret, 1)).await;
    assert_eq!(status, 429, "the right code once the bucket is empty: {body}");
}

/// The same valid code sent 24 times at once gives tokens once.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_totp_code_used_in_parallel_is_accepted_once() {
    let server = Server::start(&config(OTP_ONLY_ALWAYS, ""), &[]);
    let (secret, token) = enrolled_otp(&server).await;
    // The enrollment used the current step; the next one is fresh (accepted within the ±1 step window).
    let code = totp(&secret, 1);
    let tries = (0..24).map(|_| {
        let (server, token, code) = (&server, &token, &code);
        async move { mfa_otp(server, token, code).await }
    });
    let answers = join_all(tries).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(accepted, 1, "{answers:?}");
}

/// 15 resends, one after another and then in parallel, send at most five emails in five minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_resends_are_limited_to_five_per_five_minutes() {
    let server = Server::start(&config(EMAIL_ALWAYS, ""), &[]);
    let browser = Browser::new(&server);
    let page = hosted_login(&browser, &web_authorize_url(&server, "openid", ""), "jane@example.com").await;
    assert!(page.body.contains("j***@example.com"), "expected the email challenge: {}", page.body);
    assert_eq!(emails_sent(&server), 1);
    let mut last = page;
    for _ in 0..7 {
        last = browser.submit(&last, "/u/mfa/resend", &[]).await;
    }
    assert_eq!(emails_sent(&server), 5);
    assert!(last.body.contains("Too many codes were sent"), "{}", last.body);
    let resends = (0..8).map(|_| {
        let (browser, last) = (&browser, &last);
        async move { browser.submit(last, "/u/mfa/resend", &[]).await }
    });
    join_all(resends).await;
    assert_eq!(emails_sent(&server), 5, "parallel resends are counted too");
}
