//! Two `gatehouse serve` processes on one PostgreSQL store (issue 13), behind nothing: each test starts A and B on
//! a fresh schema with one issuer and sends the steps of one login, one code, one refresh token or one password
//! attack to both. Every guarantee must hold across the processes, by the database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use gatehouse_tests::{
    Browser, MFA_DEFAULT, SPA_CALLBACK, Server, callback_code, config, free_port, gatehouse_bin, join_all, jwt_payload,
    otp_secret, pg_schema, pkce, start_serve, totp,
};
use serde_json::Value;

const PASSWORD: &str = "correct-horse-battery";
const OTP_ALWAYS: &str = "factors = [\"otp\", \"recovery-code\"]\npolicy = \"always\"";

/// Processes A and B of one tenant: one configuration (issuer = A's address), one data folder, one store.
struct Pair {
    dir: tempfile::TempDir,
    a: Option<Child>,
    b: Option<Child>,
    /// A's address, which is also the issuer.
    a_url: String,
    b_url: String,
}

impl Pair {
    async fn start(mfa: &str, extra: &str) -> Pair {
        Pair::with_actions(mfa, extra, &[]).await
    }

    /// Both processes run these post-login actions (one `actions/` folder, as a deployment copies it to each).
    async fn with_actions(mfa: &str, extra: &str, actions: &[(&str, &str)]) -> Pair {
        let store = pg_schema().await;
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (free_port(), free_port());
        let text = config(mfa, &format!("{extra}\n[store]\nurl = \"{store}\"\npool_size = 4\n"))
            .replace("http://127.0.0.1:0/", &format!("http://127.0.0.1:{pa}/"))
            .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{pa}\""));
        std::fs::write(dir.path().join("gatehouse.toml"), text).unwrap();
        let post_login = dir.path().join("actions").join("post-login");
        std::fs::create_dir_all(&post_login).unwrap();
        for (name, code) in actions {
            std::fs::write(post_login.join(name), code).unwrap();
        }
        let mut pair = Pair {
            dir,
            a: None,
            b: None,
            a_url: format!("http://127.0.0.1:{pa}/"),
            b_url: format!("http://127.0.0.1:{pb}/"),
        };
        pair.a = Some(pair.spawn(None));
        pair.b = Some(pair.spawn(Some(pb)));
        pair
    }

    fn spawn(&self, port: Option<u16>) -> Child {
        let mut command = Command::new(gatehouse_bin());
        command.arg("serve").arg("--config").arg(self.dir.path().join("gatehouse.toml"));
        if let Some(port) = port {
            command.arg("--listen").arg(format!("127.0.0.1:{port}"));
        }
        let (child, issuer, _lines) = start_serve(&mut command);
        assert_eq!(issuer, self.a_url, "one issuer for both processes");
        child
    }

    fn a(&self) -> Server {
        Server::attach(&self.a_url)
    }

    /// Kills A with SIGKILL: nothing of its shutdown runs.
    fn kill9_a(&mut self) {
        if let Some(mut child) = self.a.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for child in [self.a.take(), self.b.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn authorize_url(scope: &str, challenge: &str) -> String {
    format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope={}&state=app-state&code_challenge={challenge}&code_challenge_method=S256",
        enc(SPA_CALLBACK),
        enc(scope)
    )
}

/// `POST /oauth/token` at `base`.
async fn token(http: &reqwest::Client, base: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = http.post(format!("{base}oauth/token")).form(fields).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The password grant of `test-web` for `username` at `base`.
async fn password_grant(http: &reqwest::Client, base: &str, username: &str, password: &str) -> (u16, Value) {
    let fields = [
        ("grant_type", "password"),
        ("client_id", "test-web"),
        ("client_secret", "test-web-secret-0123456789"),
        ("username", username),
        ("password", password),
        ("scope", "openid"),
    ];
    token(http, base, &fields).await
}

/// `client_credentials` of `test-m2m` for the test API at `base`.
async fn client_credentials(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", "test-m2m"),
        ("client_secret", "test-m2m-secret-0123456789"),
        ("audience", "https://api.example.com/"),
    ];
    token(http, base, &fields).await
}

async fn exchange(http: &reqwest::Client, base: &str, code: &str, verifier: &str) -> (u16, Value) {
    token(
        http,
        base,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", SPA_CALLBACK),
        ],
    )
    .await
}

/// A login started on A, its MFA enrollment completed on B, its recovery code acknowledged on A, its code exchanged
/// on A: the paused login lives in the store, not in a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_started_on_a_finishes_on_b_and_its_code_is_exchanged_on_a() {
    let pair = Pair::start(OTP_ALWAYS, "").await;
    let on_a = Browser::new(&pair.a());
    let on_b = on_a.with_base(&pair.b_url);
    let (verifier, challenge) = pkce();
    let page = on_a.follow(on_a.get(&authorize_url("openid offline_access", &challenge)).await).await;
    let page = on_a.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    let secret = otp_secret(&page);
    let page = on_b.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    assert!(page.body.contains("recovery"), "B took the enrollment and shows the recovery code: {}", page.body);
    let page = on_a.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let code = callback_code(&page);
    let http = reqwest::Client::new();
    let (status, tokens) = exchange(&http, &pair.a_url, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(jwt_payload(tokens["id_token"].as_str().unwrap())["amr"], serde_json::json!(["mfa"]));
    // The enrollment B made is the one A checks next time.
    let on_a = Browser::new(&pair.a());
    let (_, challenge) = pkce();
    let page = on_a.follow(on_a.get(&format!("{}&prompt=login", authorize_url("openid", &challenge))).await).await;
    let page = on_a.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    assert!(page.body.contains("name=\"code\"") && !page.body.contains("class=\"secret\""), "{}", page.body);
}

/// The same authorization code sent to A and B at once, 200 times: never two token sets. A code presented twice is
/// refused (RFC 6749 §4.1.2), and what its first exchange issued is revoked: the exchange still running when the
/// replay lands refuses too (both answer `invalid_grant`), and one that had already answered sees its access token
/// refused at `/userinfo`. Either way no usable tokens come out of a double-spent code.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_sent_to_both_processes_at_once_never_yields_two_token_sets_200_times() {
    let pair = Pair::start(MFA_DEFAULT, "").await;
    let browser = Browser::new(&pair.a());
    let http = reqwest::Client::new();
    let (_, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url("openid", &challenge)).await).await;
    browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    let (mut one, mut none) = (0, 0);
    for round in 0..200 {
        // The SSO session: a code at once, from either process.
        let (verifier, challenge) = pkce();
        let start = if round % 2 == 0 { browser.with_base(&pair.a_url) } else { browser.with_base(&pair.b_url) };
        let code = callback_code(&start.get(&authorize_url("openid", &challenge)).await);
        let (on_a, on_b) = tokio::join!(
            exchange(&http, &pair.a_url, &code, &verifier),
            exchange(&http, &pair.b_url, &code, &verifier)
        );
        for (status, body) in [&on_a, &on_b] {
            assert!(*status == 200 || (*status == 403 && body["error"] == "invalid_grant"), "round {round}: {body}");
        }
        match [&on_a, &on_b].iter().filter(|(s, _)| *s == 200).collect::<Vec<_>>().as_slice() {
            [] => none += 1,
            [(_, tokens)] => {
                one += 1;
                let access = tokens["access_token"].as_str().unwrap();
                let base = if on_a.0 == 200 { &pair.b_url } else { &pair.a_url };
                let userinfo = http.get(format!("{base}userinfo")).bearer_auth(access).send().await.unwrap();
                assert_eq!(
                    userinfo.status().as_u16(),
                    401,
                    "round {round}: the replay revoked the first exchange's token"
                );
            }
            both => panic!("round {round}: two token sets from one code: {both:?}"),
        }
    }
    assert_eq!(one + none, 200);
    eprintln!("200 rounds of one code at A and B at once: {one} answered once (then revoked), {none} refused by both");
}

/// A refresh token rotated on B and replayed on A is refused, and its whole family with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotated_on_b_and_replayed_on_a_revokes_its_family() {
    let pair = Pair::start(MFA_DEFAULT, "").await;
    let browser = Browser::new(&pair.a());
    let http = reqwest::Client::new();
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url("openid offline_access", &challenge)).await).await;
    let page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    let (_, tokens) = exchange(&http, &pair.a_url, &callback_code(&page), &verifier).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |base: String, rt: String| {
        let http = http.clone();
        async move {
            token(&http, &base, &[("grant_type", "refresh_token"), ("client_id", "test-spa"), ("refresh_token", &rt)])
                .await
        }
    };
    let (status, rotated) = refresh(pair.b_url.clone(), first.clone()).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, replay) = refresh(pair.a_url.clone(), first).await;
    assert_eq!((status, replay["error"].as_str()), (403, Some("invalid_grant")), "{replay}");
    let (status, body) = refresh(pair.a_url.clone(), second).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "the family is revoked: {body}");
}

/// 40 wrong passwords at once, alternately on A and B: the account locks at the count one process gives (nine
/// "wrong password" answers, then blocked), and the right password is refused on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_split_across_processes_lock_at_the_same_count() {
    let pair = Pair::start(MFA_DEFAULT, "").await;
    let http = reqwest::Client::new();
    let guess = |base: String, password: String| {
        let http = http.clone();
        async move { password_grant(&http, &base, "jane@example.com", &password).await }
    };
    let guesses = (0..40).map(|i| {
        let base = if i % 2 == 0 { pair.a_url.clone() } else { pair.b_url.clone() };
        guess(base, format!("wrong-{i}"))
    });
    let answers = join_all(guesses).await;
    let wrong = answers.iter().filter(|(s, b)| *s == 403 && b["error"] == "invalid_grant").count();
    let blocked = answers.iter().filter(|(s, b)| *s == 429 && b["error"] == "too_many_attempts").count();
    assert_eq!((wrong, blocked), (9, 31), "{answers:?}");
    for base in [&pair.a_url, &pair.b_url] {
        let (status, _) = guess(base.clone(), PASSWORD.to_owned()).await;
        assert_eq!(status, 429, "the right password is refused on {base} too");
    }
}

/// `gatehouse keys rotate` (here straight on the shared store) is in B's JWKS and B's new tokens within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_reaches_the_other_process_within_seconds() {
    let pair = Pair::start(MFA_DEFAULT, "").await;
    let http = reqwest::Client::new();
    let kid_of = |token: &str| -> String {
        let header = token.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    let m2m = || {
        let http = http.clone();
        let base = pair.b_url.clone();
        async move {
            let (status, body) = client_credentials(&http, &base).await;
            assert_eq!(status, 200, "{body}");
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let before = kid_of(&m2m().await);
    let output = Command::new(gatehouse_bin())
        .args(["keys", "rotate", "--config"])
        .arg(pair.dir.path().join("gatehouse.toml"))
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    let new_kid = said.split_whitespace().nth(3).unwrap().trim_end_matches(';').to_owned();
    assert_ne!(new_kid, before, "{said}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jwks: Value =
            http.get(format!("{}.well-known/jwks.json", pair.b_url)).send().await.unwrap().json().await.unwrap();
        let published = jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == new_kid.as_str());
        if published && kid_of(&m2m().await) == new_kid {
            break;
        }
        assert!(Instant::now() < deadline, "B still signs with {before} and publishes {jwks}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The old key stays published: tokens it signed are still valid.
    let jwks: Value =
        http.get(format!("{}.well-known/jwks.json", pair.b_url)).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == before.as_str()), "{jwks}");
}

/// A killed with SIGKILL in the middle of a login: what A acknowledged is on B, and B finishes the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill9_of_a_b_finishes_the_logins_a_started() {
    let mut pair = Pair::start(OTP_ALWAYS, "").await;
    let on_a = Browser::new(&pair.a());
    let (verifier, challenge) = pkce();
    let page = on_a.follow(on_a.get(&authorize_url("openid", &challenge)).await).await;
    let page = on_a.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    let secret = otp_secret(&page);
    pair.kill9_a();
    let on_b = on_a.with_base(&pair.b_url);
    let page = on_b.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    let page = on_b.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let code = callback_code(&page);
    let (status, tokens) = exchange(&reqwest::Client::new(), &pair.b_url, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(jwt_payload(tokens["id_token"].as_str().unwrap())["iss"], pair.a_url.as_str(), "one issuer");
}

/// A tenant that started on sled moves to PostgreSQL with `gatehouse store migrate`: the same server (issuer,
/// configuration) restarted on PostgreSQL takes the refresh token issued on sled, asks for the authenticator app
/// enrolled on sled, and the copy is idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_tenant_moves_to_postgresql_without_loss() {
    let mut server = Server::start(&config(OTP_ALWAYS, ""), &[]);
    let browser = Browser::new(&server);
    let http = reqwest::Client::new();
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url("openid offline_access", &challenge)).await).await;
    let page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    let secret = otp_secret(&page);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 0))]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let (status, tokens) = exchange(&http, &server.issuer, &callback_code(&page), &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    server.kill9();

    let store = pg_schema().await;
    let migrate = |dry_run: bool| {
        let mut command = Command::new(gatehouse_bin());
        command.args(["store", "migrate", "--from"]).arg(server.dir.path().join("data")).args(["--to", &store]);
        if dry_run {
            command.arg("--dry-run");
        }
        let output = command.env("GATEHOUSE_LOG", "warn").output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let said = migrate(true);
    assert!(said.starts_with("would move 2 users (0 already there), 2 authenticators, 1 signing keys"), "{said}");
    let said = migrate(false);
    assert!(said.starts_with("moved 2 users (0 already there), 2 authenticators, 1 signing keys"), "{said}");
    assert!(said.contains("1 refresh tokens") && said.contains("1 sessions"), "{said}");
    let again = migrate(false);
    assert!(again.starts_with("moved 0 users (2 already there)") && again.contains(" 0 log entries ("), "{again}");

    // The same server on PostgreSQL.
    let path = server.dir.path().join("gatehouse.toml");
    let text = std::fs::read_to_string(&path).unwrap() + &format!("\n[store]\nurl = \"{store}\"\n");
    std::fs::write(&path, text).unwrap();
    std::fs::remove_dir_all(server.dir.path().join("data").join("store")).unwrap();
    server.restart();
    let (status, body) = token(
        &http,
        &server.issuer,
        &[("grant_type", "refresh_token"), ("client_id", "test-spa"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "the refresh token issued on sled: {body}");
    let browser = Browser::new(&server);
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url("openid", &challenge)).await).await;
    let page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    assert!(!page.body.contains("class=\"secret\""), "no new enrollment: {}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &totp(&secret, 1))]).await;
    let (status, _) = exchange(&http, &server.issuer, &callback_code(&page), &verifier).await;
    assert_eq!(status, 200);
}

/// PostgreSQL drops every connection of a server in the middle of traffic (what a database restart does to it):
/// requests answer 200 or fail closed with a clean `503 temporarily_unavailable` (`Retry-After`), never anything
/// else; the pool reconnects by itself; and the refresh token acknowledged before still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_database_connections_fail_closed_and_the_pool_reconnects() {
    let store = pg_schema().await;
    let name = format!("gh_drop_{}", std::process::id());
    let store = format!("{store}&application_name={name}");
    let server = Server::start(&config(MFA_DEFAULT, &format!("[store]\nurl = \"{store}\"\npool_size = 4\n")), &[]);
    let browser = Browser::new(&server);
    let http = reqwest::Client::new();
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url("openid offline_access", &challenge)).await).await;
    let page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    let (_, tokens) = exchange(&http, &server.issuer, &callback_code(&page), &verifier).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let base = server.issuer.clone();
    let m2m = move || {
        let base = base.clone();
        async move { client_credentials(&reqwest::Client::new(), &base).await }
    };
    let (admin, connection) =
        tokio_postgres::connect(&gatehouse_tests::test_pg_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // Password grants: each reads the user and reserves a login attempt in the database.
    let base = server.issuer.clone();
    let traffic = tokio::spawn(async move {
        let http = reqwest::Client::new();
        join_all((0..8).map(|_| {
            let (http, base) = (http.clone(), base.clone());
            async move { password_grant(&http, &base, "taro@example.com", PASSWORD).await }
        }))
        .await
    });
    let killed = admin
        .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&name])
        .await
        .unwrap();
    assert!(!killed.is_empty(), "the server had connections to drop");
    let answers = traffic.await.unwrap();
    let failed = answers.iter().filter(|(status, _)| *status != 200).count();
    eprintln!("8 password logins while the connections dropped: {} answered, {failed} failed closed", 8 - failed);
    for (status, body) in answers {
        assert!(
            status == 200
                || (status == 503
                    && body["error"] == "temporarily_unavailable"
                    && body["error_description"].is_string()),
            "{status} {body}"
        );
    }
    // Reconnected: requests succeed again within seconds, without a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    while m2m().await.0 != 200 {
        assert!(Instant::now() < deadline, "the pool did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = token(
        &http,
        &server.issuer,
        &[("grant_type", "refresh_token"), ("client_id", "test-spa"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "the refresh token acknowledged before the drop: {body}");
}

/// A post-login flow paused by an action on A (`challengeWith` email) resumes on B: B verifies the code, runs the
/// next action, which sees the completed method, and issues the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_paused_by_an_action_on_a_resumes_on_b() {
    const CHALLENGE: &str = "exports.onExecutePostLogin = async (event, api) => {\n  \
        api.authentication.challengeWith({ type: 'email' });\n};\n";
    const AFTER: &str = "exports.onExecutePostLogin = async (event, api) => {\n  \
        api.idToken.setCustomClaim('https://gatehouse.test/methods', event.authentication.methods.map(m => m.name));\n};\n";
    let pair = Pair::with_actions(MFA_DEFAULT, "", &[("10-challenge.js", CHALLENGE), ("20-after.js", AFTER)]).await;
    let on_a = Browser::new(&pair.a());
    let (verifier, challenge) = pkce();
    let page = on_a.follow(on_a.get(&authorize_url("openid", &challenge)).await).await;
    let page = on_a.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    assert!(page.body.contains("name=\"code\""), "A paused the flow at the email challenge: {}", page.body);
    // The email went to the tenant's outbox (one data folder for both processes here).
    let code = latest_code(&pair.dir.path().join("data").join("outbox"));
    let on_b = on_a.with_base(&pair.b_url);
    let page = on_b.submit(&page, "/u/mfa", &[("code", &code)]).await;
    let (status, tokens) = exchange(&reqwest::Client::new(), &pair.a_url, &callback_code(&page), &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let methods = jwt_payload(tokens["id_token"].as_str().unwrap())["https://gatehouse.test/methods"].clone();
    assert_eq!(methods, serde_json::json!(["pwd", "mfa"]), "B ran the next action with the email method");
}

/// The code of the newest email in `outbox`.
fn latest_code(outbox: &std::path::Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.last().expect("an email")).unwrap();
    let at = text.find("code is: ").expect("a code");
    text[at..].chars().filter(char::is_ascii_digit).take(6).collect()
}

/// A PostgreSQL that speaks TLS only, with a certificate for `localhost` from a test CA: a proxy on 127.0.0.1 that
/// answers the client's SSLRequest, completes the TLS handshake and passes the decrypted protocol to the local
/// server (which this machine runs without a certificate a test can trust). Returns its port and the CA's PEM file.
async fn tls_only_postgres(dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse test database CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca_file = dir.join("database-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der());
    let tls =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![server_cert.der().clone()], key.into())
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = url::Url::parse(&gatehouse_tests::test_pg_url()).unwrap();
    let upstream = format!("{}:{}", upstream.host_str().unwrap(), upstream.port().unwrap_or(5432));
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // PostgreSQL's SSLRequest: length 8, code 80877103. Anything else (a plain startup) is refused.
                let mut request = [0u8; 8];
                if tcp.read_exact(&mut request).await.is_err() || request != [0, 0, 0, 8, 4, 210, 22, 47] {
                    return;
                }
                if tcp.write_all(b"S").await.is_err() {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    (port, ca_file)
}

/// `sslmode=require`: the store talks TLS, verifies the database's certificate (with `[store] ca_file` for a
/// private CA) and its name, and refuses a database it cannot verify; a server configured so serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_and_verifies_the_database() {
    use gatehouse_store::{Collection, PgStore, Store};
    let dir = tempfile::tempdir().unwrap();
    let (port, ca_file) = tls_only_postgres(dir.path()).await;
    let schema_url = pg_schema().await;
    let options = schema_url.split_once('?').unwrap().1;
    let url = format!("postgres://postgres@localhost:{port}/test?sslmode=require&{options}");

    let store = PgStore::connect_with_ca(&url, 2, Some(&ca_file)).await.unwrap();
    store.save_document(Collection::RoleName, "over-tls", b"rol_tls").await.unwrap();
    assert_eq!(store.find_document(Collection::RoleName, "over-tls").await.unwrap(), Some(b"rol_tls".to_vec()));

    // The system's roots alone do not know the test CA: refused, and said why.
    let unverified = PgStore::connect_with_ca(&url, 2, None).await.map(drop);
    let message = format!("{unverified:?}");
    assert!(unverified.is_err() && message.to_lowercase().contains("certificate"), "{message}");
    // The proxy speaks TLS only: a plain connection gets nowhere.
    let plain = url.replace("sslmode=require", "sslmode=disable");
    assert!(PgStore::connect(&plain, 2).await.is_err());

    // A server with [store] ca_file.
    let server = Server::start(
        &config(MFA_DEFAULT, &format!("[store]\nurl = \"{url}\"\nca_file = \"{}\"\n", ca_file.display())),
        &[],
    );
    let http = reqwest::Client::new();
    let (status, body) = client_credentials(&http, &server.issuer).await;
    assert_eq!(status, 200, "{body}");
}
