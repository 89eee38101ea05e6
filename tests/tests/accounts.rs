//! Accounts (issue 16): sign-up through Auth0's `/dbconnections/signup` and the hosted page, email verification,
//! password reset through `/dbconnections/change_password` and the page its link opens, with the connection's
//! password policy, the limits, the tenant logs and the account triggers, against a real `gatehouse serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_tests::{
    Browser, MFA_DEFAULT, SPA_CALLBACK, Server, callback_code, config, free_port, hidden_fields, join_all,
    m2m_management_token, pkce, web_password_login,
};
use serde_json::{Value, json};

const STRONG: &str = "Sunflower-Meadow-42";

/// A tenant on a fixed port (the Management API grant names its audience), with `extra` configuration.
fn tenant(port: u16, top: &str, extra: &str) -> String {
    let issuer = format!("http://127.0.0.1:{port}/");
    let extra = format!(
        "[[client_grants]]\nclient_id = \"test-m2m\"\naudience = \"{issuer}api/v2/\"\nscopes = [\"read:logs\", \"read:users\", \"update:users\"]\n\n{extra}"
    );
    format!("{top}\n{}", config(MFA_DEFAULT, &extra).replace("127.0.0.1:0", &format!("127.0.0.1:{port}")))
}

async fn signup(http: &reqwest::Client, server: &Server, body: Value) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = http.post(server.url("dbconnections/signup")).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
}

fn signup_body(email: &str, password: &str) -> Value {
    json!({
        "client_id": "test-spa",
        "email": email,
        "password": password,
        "connection": "Username-Password-Authentication",
    })
}

async fn logs(http: &reqwest::Client, server: &Server) -> Vec<Value> {
    let token = m2m_management_token(http, server).await;
    let entries: Value =
        http.get(server.url("api/v2/logs?take=100")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    entries.as_array().unwrap_or_else(|| panic!("logs: {entries}")).clone()
}

fn has_log(entries: &[Value], kind: &str, needle: &str) -> bool {
    entries.iter().any(|e| e["type"] == kind && e.to_string().contains(needle))
}

/// Waits for a log entry written after the answer (what follows a sign-up or a password change).
async fn wait_for_log(http: &reqwest::Client, server: &Server, kind: &str, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let entries = logs(http, server).await;
        if has_log(&entries, kind, needle) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no {kind} log with {needle}: {entries:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The link to `path` in an email body.
fn link(body: &str, path: &str) -> String {
    let at = body.find(path).unwrap_or_else(|| panic!("no {path} link in: {body}"));
    let start = body[..at].rfind("http").unwrap();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn user_by_email(http: &reqwest::Client, server: &Server, email: &str) -> Value {
    let token = m2m_management_token(http, server).await;
    let found: Value = http
        .get(server.url(&format!("api/v2/users-by-email?email={email}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    found[0].clone()
}

#[tokio::test]
async fn sign_up_then_verify_the_address() {
    let port = free_port();
    let server = Server::start(&tenant(port, "", ""), &[]);
    let http = reqwest::Client::new();

    let (status, body, _) = signup(
        &http,
        &server,
        json!({
            "client_id": "test-spa", "email": "Mika@Example.com", "password": STRONG,
            "connection": "Username-Password-Authentication", "given_name": "Mika", "family_name": "Tanaka",
            "user_metadata": { "plan": "free" },
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Auth0's answer: the id without its `auth0|` prefix, the address as stored, unverified.
    assert_eq!(body["email"], "mika@example.com");
    assert_eq!(body["email_verified"], false);
    assert_eq!(body["given_name"], "Mika");
    assert_eq!(body["user_metadata"], json!({ "plan": "free" }));
    let id = body["_id"].as_str().unwrap();
    assert!(id.len() == 24 && !id.contains('|'), "{body}");

    // The new user logs in at once; the verification email follows the answer.
    assert_eq!(web_password_login(&http, &server, "mika@example.com", STRONG).await.0, 200);
    wait_for_emails(&server, 1).await;
    let (to, subject, text) = server.latest_email();
    assert_eq!(to, "mika@example.com");
    assert!(subject.contains("Verify your email"), "{subject}");
    let url = link(&text, "/u/email-verification?ticket=");
    assert_eq!(user_by_email(&http, &server, "mika@example.com").await["email_verified"], false);

    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Your email address is verified"));
    assert_eq!(user_by_email(&http, &server, "mika@example.com").await["email_verified"], true);
    // Single use.
    let again = http.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("This link does not work"));
    // A forged ticket does nothing either.
    let forged = http.get(server.url("u/email-verification?ticket=not-a-ticket")).send().await.unwrap();
    assert_eq!(forged.status(), 400);

    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "ss", "mika@example.com"), "{entries:?}");
    assert!(has_log(&entries, "sv", "mika@example.com"), "{entries:?}");
    assert!(entries.iter().filter(|e| e["type"] == "fv").count() >= 2, "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(STRONG), "a password reached the tenant log");
    assert!(!text.contains(url.split("ticket=").nth(1).unwrap()), "a link's secret reached the tenant log");
}

#[tokio::test]
async fn sign_up_refusals_answer_auth0s_shapes() {
    let port = free_port();
    let server = Server::start(&tenant(port, "", "[connection]\npassword_policy = \"good\"\n"), &[]);
    let http = reqwest::Client::new();

    // Too weak for "good": the rules, as password-sheriff describes them, and the policy text.
    let (status, body, _) = signup(&http, &server, signup_body("weak@example.com", "abcdefgh")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["name"], "PasswordStrengthError");
    assert_eq!(body["code"], "invalid_password");
    assert_eq!(body["statusCode"], 400);
    assert!(body["policy"].as_str().unwrap().contains("* At least 8 characters in length"), "{body}");
    assert_eq!(body["description"]["verified"], false);

    // Common: strong enough by the rules, refused by the dictionary.
    let (status, body, _) = signup(&http, &server, signup_body("common@example.com", "Password1")).await;
    assert_eq!((status, body["name"].as_str()), (400, Some("PasswordDictionaryError")), "{body}");
    // The address's local part in the password.
    let (status, body, _) = signup(&http, &server, signup_body("mika.tanaka@example.com", "Mika.Tanaka-2024")).await;
    assert_eq!((status, body["name"].as_str()), (400, Some("PasswordNoUserInfoError")), "{body}");

    // A taken address is answered like any other invalid sign-up: nothing tells it is taken.
    let (status, taken, _) = signup(&http, &server, signup_body("jane@example.com", STRONG)).await;
    assert_eq!(status, 400);
    assert_eq!(
        taken,
        json!({ "name": "BadRequestError", "code": "invalid_signup", "description": "Invalid sign up", "statusCode": 400 })
    );

    for (body, code) in [
        (
            json!({ "client_id": "test-spa", "email": "x@example.com", "password": STRONG, "connection": "Other" }),
            "invalid_connection",
        ),
        (json!({ "client_id": "test-spa", "email": "x@example.com", "password": STRONG }), "invalid_connection"),
        (
            json!({ "client_id": "nobody", "email": "x@example.com", "password": STRONG, "connection": "Username-Password-Authentication" }),
            "invalid_request",
        ),
        (
            json!({ "client_id": "test-spa", "email": "not-an-address", "password": STRONG, "connection": "Username-Password-Authentication" }),
            "invalid_signup",
        ),
        (
            json!({ "client_id": "test-spa", "email": "x@example.com", "connection": "Username-Password-Authentication" }),
            "invalid_signup",
        ),
        (
            json!({ "client_id": "test-spa", "email": "x@example.com", "password": STRONG, "connection": "Username-Password-Authentication", "user_metadata": { "n": 1 } }),
            "invalid_signup",
        ),
    ] {
        let (status, answer, _) = signup(&http, &server, body.clone()).await;
        assert_eq!((status, answer["code"].as_str()), (400, Some(code)), "{body} -> {answer}");
    }
    // Malformed bodies.
    let raw = http
        .post(server.url("dbconnections/signup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.json::<Value>().await.unwrap()["code"], "invalid_body");

    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "fs", "the user already exists"), "{entries:?}");
    assert!(!serde_json::to_string(&entries).unwrap().contains(STRONG));
}

#[tokio::test]
async fn sign_up_can_be_disabled_and_is_limited_per_ip() {
    let port = free_port();
    let off = Server::start(&tenant(port, "", "[connection]\ndisable_signup = true\n"), &[]);
    let http = reqwest::Client::new();
    let (status, body, _) = signup(&http, &off, signup_body("new@example.com", STRONG)).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "operation_not_supported");
    assert_eq!(body["description"], "public signup is disabled");

    let port = free_port();
    let limited = Server::start(&tenant(port, "", "[attack_protection]\nsignups_per_ip_per_hour = 3\n"), &[]);
    // Ten sign-ups at once from one address: exactly three get through, the rest are told to wait.
    let attempts = join_all((0..10).map(|i| {
        let http = http.clone();
        let url = limited.url("dbconnections/signup");
        async move {
            let response =
                http.post(url).json(&signup_body(&format!("user{i}@example.com"), STRONG)).send().await.unwrap();
            (response.status().as_u16(), response.headers().get("retry-after").is_some())
        }
    }))
    .await;
    assert_eq!(attempts.iter().filter(|(s, _)| *s == 200).count(), 3, "{attempts:?}");
    assert!(attempts.iter().filter(|(s, _)| *s == 429).all(|(_, retry)| *retry), "{attempts:?}");
    assert_eq!(attempts.iter().filter(|(s, _)| *s == 429).count(), 7, "{attempts:?}");
    let entries = logs(&http, &limited).await;
    assert!(has_log(&entries, "limit_mu", "Too many sign-ups"), "{entries:?}");
}

#[tokio::test]
async fn usernames_are_required_and_unique_under_races() {
    let port = free_port();
    let server = Server::start(&tenant(port, "", "[connection]\nrequires_username = true\n"), &[]);
    let http = reqwest::Client::new();
    let (status, body, _) = signup(&http, &server, signup_body("nouser@example.com", STRONG)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_signup")), "{body}");

    let tries = join_all((0..6).map(|i| {
        let http = http.clone();
        let url = server.url("dbconnections/signup");
        async move {
            let mut body = signup_body(&format!("racer{i}@example.com"), STRONG);
            body["username"] = json!(if i % 2 == 0 { "racer" } else { "RACER" });
            let response = http.post(url).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let won: Vec<_> = tries.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{tries:?}");
    assert!(
        tries.iter().filter(|(s, _)| *s != 200).all(|(s, b)| *s == 400 && b["code"] == "username_exists"),
        "{tries:?}"
    );
    assert!(won[0].1["username"].as_str().unwrap().eq_ignore_ascii_case("racer"));
}

const DOMAIN_ONLY: &str = r#"exports.onExecutePreUserRegistration = async (event, api) => {
  if (!event.user.email.endsWith('@example.com')) {
    api.access.deny('domain not allowed: ' + event.user.email, 'Only example.com addresses may sign up.');
    return;
  }
  if (event.user.email.startsWith('invalid')) {
    api.validation.error('invalid_invite', 'You need an invitation to sign up.');
    return;
  }
  if (event.user.email.startsWith('boom')) throw new Error('the directory is down');
  api.user.setUserMetadata('signed_up_via', event.client.name);
  api.user.setAppMetadata('plan', 'trial');
};"#;

const POST_FAILS: &str = r#"exports.onExecutePostUserRegistration = async (event, api) => {
  throw new Error('the CRM is down for ' + event.user.email);
};"#;

#[tokio::test]
async fn pre_and_post_user_registration_actions() {
    let port = free_port();
    let server = Server::start_with_triggers(
        &tenant(port, "", ""),
        &[("pre-user-registration", "10-domain.js", DOMAIN_ONLY), ("post-user-registration", "10-crm.js", POST_FAILS)],
    );
    let http = reqwest::Client::new();

    let (status, body, _) = signup(&http, &server, signup_body("someone@elsewhere.test", STRONG)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "extensibility_error");
    assert_eq!(body["description"], "Only example.com addresses may sign up.");
    let (status, body, _) = signup(&http, &server, signup_body("invalid@example.com", STRONG)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_invite")), "{body}");
    assert_eq!(body["description"], "You need an invitation to sign up.");
    // An action that throws fails the sign-up closed; nothing is stored.
    let (status, body, _) = signup(&http, &server, signup_body("boom@example.com", STRONG)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("extensibility_error")), "{body}");
    assert!(!body.to_string().contains("directory is down"), "the cause stays in the log: {body}");
    assert_eq!(web_password_login(&http, &server, "boom@example.com", STRONG).await.0, 403);

    // Allowed: the actions' metadata is stored; the failing post-user-registration action undoes nothing.
    let (status, body, _) = signup(&http, &server, signup_body("ok@example.com", STRONG)).await;
    assert_eq!(status, 200, "{body}");
    let user = user_by_email(&http, &server, "ok@example.com").await;
    assert_eq!(user["user_metadata"]["signed_up_via"], "Test SPA");
    assert_eq!(user["app_metadata"]["plan"], "trial");
    assert_eq!(web_password_login(&http, &server, "ok@example.com", STRONG).await.0, 200);

    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "fs", "domain not allowed: someone@elsewhere.test"), "{entries:?}");
    assert!(has_log(&entries, "fs", "the directory is down"), "{entries:?}");
    assert!(has_log(&entries, "ss", "ok@example.com"), "{entries:?}");
    wait_for_log(&http, &server, "actions_execution_failed", "the CRM is down").await;
}

async fn change_password(http: &reqwest::Client, server: &Server, email: &str) -> (u16, String) {
    let response = http
        .post(server.url("dbconnections/change_password"))
        .json(&json!({ "client_id": "test-spa", "email": email, "connection": "Username-Password-Authentication" }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Posts a new password (twice the same) to a reset link's page.
async fn post_reset(http: &reqwest::Client, server: &Server, ticket: &str, password: &str) -> reqwest::Response {
    let fields = [("ticket", ticket), ("password", password), ("password_confirm", password)];
    http.post(server.url("u/reset-password")).form(&fields).send().await.unwrap()
}

/// Waits for the outbox to hold `count` emails (the reset email is sent after the answer).
async fn wait_for_emails(server: &Server, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.email_count() < count {
        assert!(std::time::Instant::now() < deadline, "expected {count} emails, have {}", server.email_count());
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn password_reset_by_email_link() {
    let port = free_port();
    let post_change = r#"exports.onExecutePostChangePassword = async (event, api) => {
  console.log('password changed for', event.user.email, 'on', event.connection.name);
};"#;
    let server = Server::start_with_triggers(
        &tenant(port, "", "[connection]\npassword_policy = \"good\"\n"),
        &[("post-change-password", "10-notify.js", post_change)],
    );
    let http = reqwest::Client::new();
    let (status, first) = web_password_login(&http, &server, "jane@example.com", "correct-horse-battery").await;
    assert_eq!(status, 200, "{first}");

    // The answer is the same sentence for an unknown address, and sends nothing.
    let (status, unknown) = change_password(&http, &server, "nobody@example.com").await;
    assert_eq!((status, unknown.as_str()), (200, "We've just sent you an email to reset your password."));
    let (status, known) = change_password(&http, &server, "jane@example.com").await;
    assert_eq!((status, known.as_str()), (200, unknown.as_str()));
    wait_for_emails(&server, 1).await;
    let (to, subject, body) = server.latest_email();
    assert_eq!(to, "jane@example.com");
    assert!(subject.contains("Reset your"), "{subject}");
    let url = link(&body, "/u/reset-password?ticket=");
    let ticket = url.split("ticket=").nth(1).unwrap().to_owned();

    // The form, its rules; a weak password and a mismatch are refused without spending the link.
    let form = http.get(&url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let csp = form.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let form = form.text().await.unwrap();
    assert!(form.contains("jane@example.com") && form.contains("At least 8 characters"), "{form}");
    let post = |password: &str, confirm: &str| {
        let fields =
            [("ticket", ticket.clone()), ("password", password.to_owned()), ("password_confirm", confirm.to_owned())];
        let http = http.clone();
        let url = server.url("u/reset-password");
        async move {
            let response = http.post(url).form(&fields).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, page) = post("short", "short").await;
    assert_eq!(status, 200);
    assert!(page.contains("class=\"notice\""), "{page}");
    let (_, page) = post(STRONG, "Different-Meadow-42").await;
    assert!(page.contains("The two passwords differ."), "{page}");

    // Two submissions at once: exactly one changes the password.
    let results = join_all((0..4).map(|_| post(STRONG, STRONG))).await;
    let done = results.iter().filter(|(s, p)| *s == 200 && p.contains("Your password was changed")).count();
    assert_eq!(done, 1, "{results:?}");
    assert!(results.iter().filter(|(s, _)| *s != 200).all(|(s, _)| *s == 400), "{results:?}");

    assert_eq!(web_password_login(&http, &server, "jane@example.com", "correct-horse-battery").await.0, 403);
    assert_eq!(web_password_login(&http, &server, "jane@example.com", STRONG).await.0, 200);
    let (status, _) = post("Another-Meadow-43", "Another-Meadow-43").await;
    assert_eq!(status, 400, "a used link");

    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "scpr", "jane@example.com"), "{entries:?}");
    assert!(has_log(&entries, "fcpr", "nobody@example.com"), "{entries:?}");
    assert!(has_log(&entries, "scp", "jane@example.com"), "{entries:?}");
    assert!(has_log(&entries, "fcp", "invalid, used or expired"), "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&ticket) && !text.contains(STRONG), "a secret reached the tenant log");
}

#[tokio::test]
async fn a_completed_reset_revokes_refresh_tokens_and_older_links() {
    let port = free_port();
    let server = Server::start(&tenant(port, "", ""), &[]);
    let http = reqwest::Client::new();
    // A refresh token of the password grant (offline_access).
    let response: Value = http
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("username", "taro@example.com"),
            ("password", "correct-horse-battery"),
            ("scope", "openid offline_access"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = response["refresh_token"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned();

    change_password(&http, &server, "taro@example.com").await;
    wait_for_emails(&server, 1).await;
    let older = link(&server.latest_email().2, "/u/reset-password?ticket=");
    change_password(&http, &server, "taro@example.com").await;
    wait_for_emails(&server, 2).await;
    let newer = link(&server.latest_email().2, "/u/reset-password?ticket=");
    assert_ne!(older, newer);
    let ticket = newer.split("ticket=").nth(1).unwrap();
    let done = post_reset(&http, &server, ticket, STRONG).await;
    assert_eq!(done.status(), 200);
    // The other link died with the old password.
    assert_eq!(http.get(&older).send().await.unwrap().status(), 400);
    let refreshed = http
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("refresh_token", &refresh),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 403, "the refresh token was revoked");
}

#[tokio::test]
async fn reset_emails_are_limited_per_account() {
    let port = free_port();
    let server = Server::start(&tenant(port, "", "[attack_protection]\npassword_resets_per_user_per_hour = 2\n"), &[]);
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let (status, _) = change_password(&http, &server, "jane@example.com").await;
        assert_eq!(status, 200, "the answer never changes");
    }
    wait_for_emails(&server, 2).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let entries = logs(&http, &server).await;
        if entries.iter().filter(|e| e["type"] == "fcpr").count() == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "three refused requests are logged: {entries:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(server.email_count(), 2);
}

#[tokio::test]
async fn sign_up_in_the_browser_continues_the_login() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let authorize = format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={SPA_CALLBACK}&scope=openid%20email&state=app-state\
         &code_challenge={challenge}&code_challenge_method=S256&screen_hint=signup&ui_locales=ja"
    );
    let page = browser.follow(browser.get(&authorize).await).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("アカウントを作成") && page.body.contains("id=\"rules\""), "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");

    // A refusal shows the form again with the reason, in the page's language.
    let refused = browser.submit(&page, "/u/signup", &[("email", "ken@example.com"), ("password", "password")]).await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("class=\"notice\""), "{}", refused.body);
    let done = browser.submit(&refused, "/u/signup", &[("email", "ken@example.com"), ("password", STRONG)]).await;
    let code = callback_code(&done);
    let tokens = gatehouse_tests::exchange_code(&server, &code, &verifier).await;
    let id_token = gatehouse_tests::jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], "ken@example.com");
    assert_eq!(id_token["email_verified"], false);
    wait_for_emails(&server, 1).await;
    let (_, subject, _) = server.latest_email();
    assert!(subject.contains("メールアドレスの確認"), "the verification email in the login's language: {subject}");

    // The login page links to sign-up and to "forgot your password?".
    let browser = Browser::new(&server);
    let login = browser.follow(browser.get(&authorize.replace("&screen_hint=signup", "")).await).await;
    assert!(login.body.contains("/u/signup?state=") && login.body.contains("/u/reset-password/request?state="));
    let form = browser.get(&format!("/u/reset-password/request?state={}", login.hidden()["state"])).await;
    let sent = browser.submit(&form, "/u/reset-password/request", &[("email", "nobody@example.com")]).await;
    assert!(sent.body.contains("新しいパスワードを設定するリンクを送信しました"), "{}", sent.body);
    assert!(!hidden_fields(&sent.body).contains_key("csrf"), "the sent page has no form");
}

#[tokio::test]
async fn the_management_api_sends_verification_emails() {
    let port = free_port();
    let server = Server::start(&tenant(port, "", ""), &[]);
    let http = reqwest::Client::new();
    let (status, body, _) = signup(&http, &server, signup_body("late@example.com", STRONG)).await;
    assert_eq!(status, 200, "{body}");
    wait_for_emails(&server, 1).await;
    let before = server.email_count();
    let token = m2m_management_token(&http, &server).await;
    let job = http
        .post(server.url("api/v2/jobs/verification-email"))
        .bearer_auth(&token)
        .json(&json!({ "user_id": format!("auth0|{}", body["_id"].as_str().unwrap()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), 201);
    let job: Value = job.json().await.unwrap();
    assert_eq!(job["type"], "verification_email");
    assert!(job["id"].as_str().unwrap().starts_with("job_"), "{job}");
    assert_eq!(server.email_count(), before + 1);
    let missing = http
        .post(server.url("api/v2/jobs/verification-email"))
        .bearer_auth(&token)
        .json(&json!({ "user_id": "auth0|000000000000000000000000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

const POST_CHALLENGE: &str = r#"exports.onExecutePostChallenge = async (event, api) => {
  if (event.user.email.startsWith('taro')) {
    api.access.deny('Ask your administrator to reset it.');
  }
};"#;

#[tokio::test]
async fn password_reset_post_challenge_actions_may_refuse_the_reset() {
    let port = free_port();
    let server = Server::start_with_triggers(
        &tenant(port, "", ""),
        &[("password-reset-post-challenge", "10-admins.js", POST_CHALLENGE)],
    );
    let http = reqwest::Client::new();
    change_password(&http, &server, "taro@example.com").await;
    wait_for_emails(&server, 1).await;
    let taro = link(&server.latest_email().2, "/u/reset-password?ticket=");
    let page = http.get(&taro).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("Ask your administrator to reset it."));
    // Posting a password without the form (the actions never allowed it) fails closed.
    let ticket = taro.split("ticket=").nth(1).unwrap();
    let post = post_reset(&http, &server, ticket, STRONG).await;
    assert_eq!(post.status(), 403);
    assert_eq!(web_password_login(&http, &server, "taro@example.com", "correct-horse-battery").await.0, 200);

    change_password(&http, &server, "jane@example.com").await;
    wait_for_emails(&server, 2).await;
    let jane = link(&server.latest_email().2, "/u/reset-password?ticket=");
    assert_eq!(http.get(&jane).send().await.unwrap().status(), 200);
    let ticket = jane.split("ticket=").nth(1).unwrap();
    let done = post_reset(&http, &server, ticket, STRONG).await;
    assert_eq!(done.status(), 200);
    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "fcp", "Password reset denied by 10-admins.js"), "{entries:?}");
}

const OTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// A tenant whose Management API grant may also create authentication methods.
fn mfa_tenant(port: u16) -> String {
    tenant(port, "", "").replace("\"update:users\"]", "\"update:users\", \"create:authentication_methods\"]")
}

/// Enrolls `email`'s account in an authenticator app with a known secret, as an operator would.
async fn enroll_otp(http: &reqwest::Client, server: &Server, email: &str) {
    let token = m2m_management_token(http, server).await;
    let id = user_by_email(http, server, email).await["user_id"].as_str().unwrap().replace('|', "%7C");
    let response = http
        .post(server.url(&format!("api/v2/users/{id}/authentication-methods")))
        .bearer_auth(token)
        .json(&json!({ "type": "totp", "name": "OTP Application", "totp_secret": OTP_SECRET }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Asks for a reset of `email`'s password and returns the emailed link.
async fn reset_link(http: &reqwest::Client, server: &Server, email: &str) -> String {
    let before = server.email_count();
    change_password(http, server, email).await;
    wait_for_emails(server, before + 1).await;
    link(&server.latest_email().2, "/u/reset-password?ticket=")
}

#[tokio::test]
async fn a_reset_that_an_action_makes_require_mfa() {
    let port = free_port();
    // Auth0's pattern, as shipped in actions/examples: users with an authenticator app confirm with it (or a recovery
    // code) before they may choose a new password.
    let action = Server::action("actions/examples/require-otp-password-reset-post-challenge.js");
    let server =
        Server::start_with_triggers(&mfa_tenant(port), &[("password-reset-post-challenge", "10-otp.js", &action)]);
    let http = reqwest::Client::new();
    enroll_otp(&http, &server, "jane@example.com").await;
    let url = reset_link(&http, &server, "jane@example.com").await;
    let emailed = url.split("ticket=").nth(1).unwrap().to_owned();

    // The link opens the OTP challenge, not the form; the password cannot be posted around it.
    let browser = Browser::new(&server);
    let challenge = browser.get(&url).await;
    assert_eq!(challenge.status, 200, "{}", challenge.body);
    assert!(
        challenge.body.contains("name=\"code\"") && !challenge.body.contains("password_confirm"),
        "{}",
        challenge.body
    );
    assert_eq!(post_reset(&http, &server, &emailed, STRONG).await.status(), 403);

    // Another browser cannot use this browser's challenge, even with the right code.
    let stranger = Browser::new(&server);
    let stolen = stranger.submit(&challenge, "/u/mfa", &[("code", &gatehouse_tests::totp(OTP_SECRET, 0))]).await;
    assert!(stolen.body.contains("another browser"), "{}", stolen.body);

    // A wrong code is refused; the right one leads to the form, under a fresh link.
    let wrong = browser.submit(&challenge, "/u/mfa", &[("code", "000000")]).await;
    assert!(wrong.body.contains("name=\"code\"") && wrong.body.contains("role=\"alert\""), "{}", wrong.body);
    let form = browser.submit(&challenge, "/u/mfa", &[("code", &gatehouse_tests::totp(OTP_SECRET, 0))]).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("password_confirm"), "expected the new-password form: {}", form.body);
    let fresh = hidden_fields(&form.body)["ticket"].clone();
    assert_ne!(fresh, emailed);
    // The emailed link was spent by the challenge.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
    let done = post_reset(&http, &server, &fresh, STRONG).await;
    assert_eq!(done.status(), 200);
    assert_eq!(web_password_login(&http, &server, "jane@example.com", STRONG).await.0, 200);

    // A user without an authenticator app goes straight to the form (the action asks for nothing).
    let url = reset_link(&http, &server, "taro@example.com").await;
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("password_confirm"), "{page}");

    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "gd_start_auth", "password reset"), "{entries:?}");
    assert!(has_log(&entries, "gd_auth_failed", "jane@example.com"), "{entries:?}");
    assert!(has_log(&entries, "gd_auth_succeed", "jane@example.com"), "{entries:?}");
    assert!(has_log(&entries, "scp", "jane@example.com"), "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&emailed) && !text.contains(&fresh), "a link reached the tenant log");
}

#[tokio::test]
async fn reset_challenges_by_email_then_a_redirect_and_what_cannot_be_met() {
    let port = free_port();
    let challenge = r#"exports.onExecutePostChallenge = async (event, api) => {
  if (event.user.email === 'taro@example.com') {
    api.authentication.challengeWith({ type: 'otp' });
    return;
  }
  // A factor the tenant does not enable is ignored, as Auth0 ignores it: the user gets the email code.
  api.authentication.challengeWith({ type: 'webauthn-roaming' }, { additionalFactors: [{ type: 'email' }] });
};"#;
    let redirect = r#"exports.onExecutePostChallenge = async (event, api) => {
  const seen = event.authentication.methods.map((m) => m.name + (m.type ? ':' + m.type : '')).join(',');
  api.redirect.sendUserTo('https://verify.example.com/check', { query: { seen } });
};
exports.onContinuePostChallenge = async (event, api) => {
  if (event.request.query.answer !== 'yes') {
    api.access.deny('The identity check said no.');
  }
};"#;
    let server = Server::start_with_triggers(
        &mfa_tenant(port),
        &[
            ("password-reset-post-challenge", "10-email.js", challenge),
            ("password-reset-post-challenge", "20-check.js", redirect),
        ],
    );
    let http = reqwest::Client::new();

    // Email code, then the redirect; the next action saw both the link and the code.
    let url = reset_link(&http, &server, "jane@example.com").await;
    let browser = Browser::new(&server);
    let page = browser.get(&url).await;
    assert!(page.body.contains("name=\"code\"") && page.body.contains("***@"), "{}", page.body);
    let out = browser.submit(&page, "/u/mfa", &[("code", &server.latest_email_code())]).await;
    assert_eq!(out.status, 302, "{}", out.body);
    let params = out.location_params();
    assert!(out.location.as_deref().unwrap().starts_with("https://verify.example.com/check?"), "{:?}", out.location);
    assert_eq!(params["seen"], "email,mfa:email");
    let back = browser.follow(browser.get(&format!("/continue?state={}&answer=yes", params["state"])).await).await;
    assert!(back.body.contains("password_confirm"), "{}", back.body);
    // The state is spent with its transaction.
    let again = browser.get(&format!("/continue?state={}&answer=yes", params["state"])).await;
    assert_eq!(again.status, 400, "{}", again.body);

    // The check says no: the action's reason is shown, and logged.
    let url = reset_link(&http, &server, "jane@example.com").await;
    let browser = Browser::new(&server);
    let page = browser.get(&url).await;
    let out = browser.submit(&page, "/u/mfa", &[("code", &server.latest_email_code())]).await;
    let state = out.location_params()["state"].clone();
    let refused = browser.get(&format!("/continue?state={state}&answer=no")).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("The identity check said no."), "{}", refused.body);

    // A challenge the user cannot meet (no authenticator app) fails the reset closed.
    let url = reset_link(&http, &server, "taro@example.com").await;
    let refused = Browser::new(&server).get(&url).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("The password cannot be reset"), "{}", refused.body);
    assert_eq!(web_password_login(&http, &server, "taro@example.com", "correct-horse-battery").await.0, 200);

    let entries = logs(&http, &server).await;
    assert!(has_log(&entries, "fcp", "The identity check said no."), "{entries:?}");
    assert!(has_log(&entries, "fcp", "has not enrolled"), "{entries:?}");
}

#[tokio::test]
async fn management_api_tickets_verify_and_reset_then_go_to_the_result_url() {
    let port = free_port();
    let server = Server::start(
        &tenant(port, "", "").replace("\"update:users\"]", "\"update:users\", \"create:user_tickets\"]"),
        &[],
    );
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (status, _, _) = signup(&http, &server, signup_body("ticket@example.com", STRONG)).await;
    assert_eq!(status, 200);
    // The sign-up's verification email goes out after the answer: counted before the tickets' "not mailed" checks.
    wait_for_emails(&server, 1).await;
    let user = user_by_email(&http, &server, "ticket@example.com").await;
    let id = user["user_id"].as_str().unwrap().to_owned();
    let token = m2m_management_token(&http, &server).await;
    let ticket = |path: &str, body: Value| {
        let request = http.post(server.url(&format!("api/v2/tickets/{path}"))).bearer_auth(&token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };

    // Refusals in Auth0's shape.
    let app = "https://app.example.com/done";
    for (path, body, status) in [
        ("email-verification", json!({}), 400),
        ("email-verification", json!({ "user_id": "auth0|nobody" }), 404),
        ("email-verification", json!({ "user_id": id, "result_url": "javascript:alert(1)" }), 400),
        ("email-verification", json!({ "user_id": id, "result_url": app, "client_id": "test-spa" }), 400),
        ("email-verification", json!({ "user_id": id, "ttl_sec": 99_999_999 }), 400),
        ("password-change", json!({ "email": "ticket@example.com" }), 400),
        ("password-change", json!({ "email": "ticket@example.com", "connection_id": "con_other" }), 400),
        ("password-change", json!({ "user_id": id, "surprise": true }), 400),
    ] {
        let (got, answer) = ticket(path, body.clone()).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert_eq!(answer["statusCode"], status, "{answer}");
    }

    // A verification ticket: not mailed; used once, it verifies and goes to the result URL with Auth0's parameters.
    let emails = server.email_count();
    let (status, made) = ticket(
        "email-verification",
        json!({ "user_id": id, "result_url": app, "includeEmailInRedirect": true, "ttl_sec": 600 }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let link = made["ticket"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&server.url("u/email-verification?ticket=")), "{link}");
    assert_eq!(server.email_count(), emails, "a ticket is not mailed");
    let used = http.get(&link).send().await.unwrap();
    assert_eq!(used.status(), 303);
    let location = url::Url::parse(used.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(app), "{location}");
    let query: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["success"], "true");
    assert_eq!(query["email"], "ticket@example.com");
    assert!(query["message"].contains("verified"), "{query:?}");
    assert_eq!(user_by_email(&http, &server, "ticket@example.com").await["email_verified"], true);
    assert_eq!(http.get(&link).send().await.unwrap().status(), 400, "a used ticket");

    // A password-change ticket by email and connection: the form, then the result URL; it leaves email_verified
    // as it is unless asked.
    let patch = http
        .patch(server.url(&format!("api/v2/users/{}", id.replace('|', "%7C"))))
        .bearer_auth(&token)
        .json(&json!({ "email_verified": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let (status, made) = ticket(
        "password-change",
        json!({ "email": "Ticket@Example.com", "connection_id": "con_gatehouse_database", "result_url": app }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let link = made["ticket"].as_str().unwrap().to_owned();
    let form = http.get(&link).header("accept-language", "ja").send().await.unwrap().text().await.unwrap();
    assert!(form.contains("password_confirm") && form.contains("新しいパスワード"), "{form}");
    let secret = link.split("ticket=").nth(1).unwrap();
    let done = post_reset(&http, &server, secret, "Brand-New-Meadow-77").await;
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(app) && location.contains("success=true") && !location.contains("email="),
        "{location}"
    );
    assert_eq!(web_password_login(&http, &server, "ticket@example.com", "Brand-New-Meadow-77").await.0, 200);
    assert_eq!(user_by_email(&http, &server, "ticket@example.com").await["email_verified"], false);
    let entries = logs(&http, &server).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(secret), "a ticket reached the tenant log");
}
