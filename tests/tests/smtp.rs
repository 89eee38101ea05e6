//! End-to-end: `[email]` through SMTP. A real `gatehouse serve` sends the email MFA code of a hosted login to a
//! real SMTP server on 127.0.0.1 (`gatehouse_tests::smtp`): STARTTLS then AUTH, implicit TLS, plain only to
//! loopback; a relay that does not offer STARTTLS gets nothing, a mute one costs a bounded wait, and `serve` refuses
//! a clear-text relay elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use gatehouse_tests::smtp::{SinkMode, SmtpMessage, SmtpSink};
use gatehouse_tests::{
    Browser, MFA_DEFAULT, Page, SPA_CALLBACK, Server, callback_code, config, exchange_code, gatehouse_bin, pkce,
    web_password_login,
};
use serde_json::{Value, json};

/// Every login is challenged with the email factor.
const EMAIL_CHALLENGE: &str =
    "exports.onExecutePostLogin = async (event, api) => { api.authentication.challengeWith({ type: 'email' }); };";

/// Puts the names of `event.secrets` in the ID token.
const SECRET_NAMES: &str = "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://gatehouse.test/secrets', Object.keys(event.secrets)); };";

/// How long a test waits for a message the server already said it sent.
const DELIVERED: Duration = Duration::from_secs(10);

/// The configuration sending mail through `[email]` `lines`, with the relay password in `[secrets]`.
fn mail_config(lines: &str) -> String {
    config(MFA_DEFAULT, &format!("[secrets]\nSMTP_PASSWORD = \"relay-password-123\"\n\n[email]\n{lines}\n"))
}

/// `smtp_url` and the sink's CA.
fn relay(url: &str, sink: &SmtpSink) -> String {
    format!("smtp_url = \"{url}\"\nca_files = [{:?}]\n", sink.ca_pem().display().to_string())
}

/// Starts a login of jane (extra authorize parameters `extra`) and submits her password: the page that follows.
async fn login(browser: &Browser, server: &Server, extra: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=app-state&nonce=n-1\
         &code_challenge={challenge}&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(SPA_CALLBACK.as_bytes()).collect::<String>()
    ));
    let page = browser.follow(browser.get(&url).await).await;
    assert!(page.body.contains("name=\"password\""), "expected the login form: {}", page.body);
    let page = browser
        .submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")])
        .await;
    (page, verifier)
}

/// The 6-digit code after `marker` in the message's body.
fn code_in(message: &SmtpMessage, marker: &str) -> String {
    let at = message.body.find(marker).unwrap_or_else(|| panic!("no {marker:?} in the body: {}", message.body));
    let code: String = message.body[at + marker.len()..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "a 6-digit code: {}", message.body);
    code
}

/// Enters `code` on the email challenge and exchanges the authorization code: the login completes; its tokens.
async fn complete(browser: &Browser, server: &Server, page: &Page, code: &str, verifier: &str) -> Value {
    let page = browser.submit(page, "/u/mfa", &[("code", code)]).await;
    let tokens = exchange_code(server, &callback_code(&page), verifier).await;
    assert!(tokens["id_token"].is_string(), "{tokens}");
    tokens
}

/// No email was written to the outbox: with a relay configured, nothing falls back to it.
fn assert_outbox_empty(server: &Server) {
    let emails = std::fs::read_dir(server.outbox())
        .map(|entries| entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count())
        .unwrap_or(0);
    assert_eq!(emails, 0, "no email goes to the outbox when a relay is configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_code_of_a_login_arrives_through_starttls_with_auth_and_completes_it() {
    let sink = SmtpSink::start(SinkMode::StartTls, Some(("mailer", "relay-password-123"))).await;
    let email = format!(
        "{}smtp_username = \"mailer\"\nsmtp_password_secret = \"SMTP_PASSWORD\"\n",
        relay(&format!("smtp://127.0.0.1:{}", sink.port()), &sink)
    );
    let server =
        Server::start(&mail_config(&email), &[("10-email.js", EMAIL_CHALLENGE), ("20-secrets.js", SECRET_NAMES)]);
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "").await;
    assert!(page.body.contains("j***@example.com") && page.body.contains("name=\"code\""), "{}", page.body);

    let message = sink.next_message(DELIVERED).await;
    // TLS first, then the credentials, then the message: nothing of it crossed the network in clear.
    let position = |verb: &str| message.commands.iter().position(|c| c == verb);
    assert_eq!(message.commands.first().map(String::as_str), Some("EHLO"), "{:?}", message.commands);
    let (starttls, auth) = (position("STARTTLS").unwrap(), position("AUTH").unwrap());
    assert!(starttls < auth && auth < position("MAIL").unwrap(), "{:?}", message.commands);
    assert!(message.encrypted, "the message came over TLS");
    assert_eq!(message.auth, Some(("mailer".to_owned(), "relay-password-123".to_owned())));
    assert_eq!(
        (message.mail_from.as_str(), message.rcpt_to.as_slice()),
        ("no-reply@127.0.0.1", &["jane@example.com".to_owned()][..])
    );
    // The default From: the tenant's friendly name at the issuer's host (lettre quotes a name with a space).
    assert_eq!(message.header("From"), Some("\"Gatehouse Test\" <no-reply@127.0.0.1>"));
    assert_eq!(message.header("To"), Some("jane@example.com"));
    assert_eq!(message.header("Subject"), Some("Your Gatehouse Test verification code"));
    // Text with an HTML alternative; the same code in both.
    assert!(message.header("Content-Type").unwrap().starts_with("multipart/alternative"), "{:?}", message.headers);
    assert!(message.body.contains("It expires in 5 minutes."), "{}", message.body);
    let code = code_in(&message, "Your verification code is: ");
    let html = message.html.clone().expect("an HTML part");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(&format!(">{code}<")), "{html}");
    assert_outbox_empty(&server);

    let tokens = complete(&browser, &server, &page, &code, &verifier).await;
    assert_eq!(sink.messages().len(), 1, "one code, one message");
    // The relay's password is the mailer's alone: actions do not find it in event.secrets.
    let id_token = gatehouse_tests::jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["https://gatehouse.test/secrets"], json!([]), "{id_token}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_delivers_the_japanese_message_of_a_japanese_login_from_the_configured_address() {
    let sink = SmtpSink::start(SinkMode::ImplicitTls, None).await;
    let email = format!(
        "{}from = \"Gatehouse アカウント <accounts@example.com>\"\n",
        relay(&format!("smtps://localhost:{}", sink.port()), &sink)
    );
    let server = Server::start(&mail_config(&email), &[("10-email.js", EMAIL_CHALLENGE)]);
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "&ui_locales=ja").await;
    assert!(page.body.contains("j***@example.com"), "{}", page.body);

    let message = sink.next_message(DELIVERED).await;
    assert!(message.encrypted && !message.commands.iter().any(|c| c == "STARTTLS"), "{:?}", message.commands);
    assert_eq!(message.mail_from, "accounts@example.com");
    assert_eq!(message.header("From"), Some("Gatehouse アカウント <accounts@example.com>"));
    assert_eq!(message.header("Subject"), Some("Gatehouse Test の確認コード"));
    assert!(message.body.contains("このコードは5分間有効です。"), "{}", message.body);
    let code = code_in(&message, "確認コード: ");
    let html = message.html.clone().expect("an HTML part");
    assert!(html.contains("lang=\"ja\"") && html.contains("このコードは5分間有効です。"), "{html}");
    complete(&browser, &server, &page, &code, &verifier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_none_is_accepted_for_a_relay_on_loopback() {
    let sink = SmtpSink::start(SinkMode::Plain, None).await;
    let email = format!("smtp_url = \"smtp://127.0.0.1:{}?tls=none\"\n", sink.port());
    let server = Server::start(&mail_config(&email), &[("10-email.js", EMAIL_CHALLENGE)]);
    let browser = Browser::new(&server);
    let (page, verifier) = login(&browser, &server, "").await;
    let message = sink.next_message(DELIVERED).await;
    assert!(!message.encrypted);
    let code = code_in(&message, "Your verification code is: ");
    complete(&browser, &server, &page, &code, &verifier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_does_not_offer_starttls_gets_neither_the_password_nor_the_code() {
    let sink = SmtpSink::start(SinkMode::Plain, Some(("mailer", "relay-password-123"))).await;
    let email = format!(
        "{}smtp_username = \"mailer\"\nsmtp_password_secret = \"SMTP_PASSWORD\"\n",
        relay(&format!("smtp://127.0.0.1:{}", sink.port()), &sink)
    );
    let server = Server::start(&mail_config(&email), &[("10-email.js", EMAIL_CHALLENGE)]);
    let browser = Browser::new(&server);
    let (page, _) = login(&browser, &server, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("We could not send the code"), "the delivery failure is shown: {}", page.body);

    let sessions = sink.sessions();
    assert!(!sessions.is_empty(), "the server did connect");
    for commands in &sessions {
        assert!(
            !commands.iter().any(|c| ["AUTH", "MAIL", "RCPT", "DATA"].contains(&c.as_str())),
            "nothing but EHLO (and QUIT) in clear: {commands:?}"
        );
    }
    assert!(sink.messages().is_empty());
    assert_outbox_empty(&server);

    // Asking again fails the same way: the code that was never delivered is not pending either.
    let page = browser.submit(&page, "/u/mfa/resend", &[]).await;
    assert!(page.body.contains("We could not send the code"), "{}", page.body);
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_never_answers_fails_the_send_within_the_bound() {
    let sink = SmtpSink::start(SinkMode::Silent, None).await;
    let email = relay(&format!("smtp://127.0.0.1:{}", sink.port()), &sink);
    let server = Server::start(&mail_config(&email), &[("10-email.js", EMAIL_CHALLENGE)]);
    let browser = Browser::new(&server);
    let started = Instant::now();
    let (page, _) = login(&browser, &server, "").await;
    let waited = started.elapsed();
    assert!(page.body.contains("We could not send the code"), "{}", page.body);
    assert_eq!(sink.sessions().len(), 1, "one connection, to a relay that said nothing");
    // The send is bounded at 10 s; the login itself takes well under the rest.
    assert!(waited < Duration::from_secs(25), "the page came after {waited:?}");
}

/// An oob challenge of the MFA API for jane (MFA always, her verified email as the factor), asking for
/// `accept_language`: the `mfa_token` and the answer.
async fn mfa_api_email_challenge(server: &Server, accept_language: &str) -> (String, u16, Value) {
    let http = reqwest::Client::new();
    let (status, body) = web_password_login(&http, server, "jane@example.com", "correct-horse-battery").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("mfa_required")), "{body}");
    let token = body["mfa_token"].as_str().unwrap().to_owned();
    let response = http
        .post(server.url("mfa/challenge"))
        .header("accept-language", accept_language)
        .json(&json!({
            "mfa_token": token, "client_id": "test-web", "client_secret": "test-web-secret-0123456789",
            "challenge_type": "oob",
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (token, status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mfa_api_mails_its_code_through_the_relay_or_answers_502() {
    let always = "factors = [\"otp\", \"recovery-code\", \"email\"]\npolicy = \"always\"";
    let sink = SmtpSink::start(SinkMode::StartTls, None).await;
    let email = format!("[email]\n{}", relay(&format!("smtp://127.0.0.1:{}", sink.port()), &sink));
    let server = Server::start(&config(always, &email), &[]);
    let (token, status, challenge) = mfa_api_email_challenge(&server, "ja-JP,ja;q=0.9").await;
    assert_eq!(status, 200, "{challenge}");
    let message = sink.next_message(DELIVERED).await;
    assert!(message.encrypted);
    assert_eq!(message.header("Subject"), Some("Gatehouse Test の確認コード"));
    let code = code_in(&message, "確認コード: ");
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "http://auth0.com/oauth/grant-type/mfa-oob"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("mfa_token", &token),
            ("oob_code", challenge["oob_code"].as_str().unwrap()),
            ("binding_code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", response.text().await.unwrap());

    // A relay that does not offer STARTTLS: nothing is sent, and the caller is told so (no oob_code to wait on).
    let plain = SmtpSink::start(SinkMode::Plain, None).await;
    let email = format!("[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\n", plain.port());
    let server = Server::start(&config(always, &email), &[]);
    let (_, status, body) = mfa_api_email_challenge(&server, "en").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error_description"], "The code could not be sent. Try again later, or use another factor.");
    assert!(body.get("oob_code").is_none(), "{body}");
    assert!(plain.messages().is_empty() && !plain.sessions().is_empty(), "{:?}", plain.sessions());
}

#[tokio::test]
async fn serve_refuses_tls_none_to_a_relay_that_is_not_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, mail_config("smtp_url = \"smtp://mail.example.com:25?tls=none\"\n")).unwrap();
    let child = tokio::process::Command::new(gatehouse_bin())
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env("GATEHOUSE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("serve stops at once on a bad [email]")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("email.smtp_url") && l.contains("tls=none") && l.contains("mail.example.com")),
        "the key and the reason are named: {stderr}"
    );
    assert!(!dir.path().join("data").join("store").exists(), "nothing is created for a refused configuration");
}
