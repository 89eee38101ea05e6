//! Phone codes through `[mfa.phone]`'s provider, in-process with a real store and the real sandbox: the default
//! provider's outbox and its 100-message lifetime cap (in parallel on sled, and shared by two servers on PostgreSQL),
//! the user's hourly limit, and a custom-phone-provider action posting to a real HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use gatehouse_auth::clock::ManualClock;
use gatehouse_auth::context::RequestInfo;
use gatehouse_auth::phone::delivery::{CodeMessage, DeliveryError, send_code};
use gatehouse_auth::phone::templates::PhoneTemplate;
use gatehouse_auth::tenant::Tenant;
use gatehouse_store::{LogQuery, PgStore, SledStore, Store};
use gatehouse_tests::{config, open_tenant};
use gatehouse_types::phone::DeliveryMethod;
use gatehouse_types::records::User;

fn request() -> RequestInfo {
    RequestInfo {
        ip: "203.0.113.9".into(),
        user_agent: Some("test".into()),
        accept_language: Some("ja".into()),
        hostname: None,
        method: "POST".into(),
    }
}

async fn tenant(phone: &str, dir: &std::path::Path) -> (Tenant, Arc<ManualClock>) {
    tenant_on(phone, dir, Arc::new(SledStore::temporary().unwrap())).await
}

async fn tenant_on(phone: &str, dir: &std::path::Path, store: Arc<dyn Store>) -> (Tenant, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let text = config(
        "factors = [\"otp\", \"phone\"]",
        &format!("[mfa.phone]\n{phone}\n[outbound]\nallow_private_networks = true\n"),
    );
    let tenant = open_tenant(&text, dir, store, clock.clone()).await;
    (tenant, clock)
}

async fn jane(tenant: &Tenant) -> User {
    tenant.store.find_user_by_email("jane@example.com").await.unwrap().unwrap()
}

fn message<'a>(user: &'a User, request: &'a RequestInfo, code: &'a str) -> CodeMessage<'a> {
    CodeMessage {
        user,
        recipient: "+819012345678",
        method: DeliveryMethod::Text,
        which: PhoneTemplate::Verification,
        code,
        locale: "ja",
        client: None,
        request,
    }
}

fn outbox_sms(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("data").join("outbox")) else { return Vec::new() };
    let mut files: Vec<_> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "sms")).collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

#[tokio::test]
async fn the_default_provider_writes_the_rendered_sms_to_the_outbox_and_logs_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, _) = tenant("from_text = \"+81300000001\"", dir.path()).await;
    let user = jane(&tenant).await;
    let request = request();
    send_code(&tenant, message(&user, &request, "482913")).await.unwrap();
    let sms = outbox_sms(dir.path());
    assert_eq!(sms.len(), 1);
    assert!(sms[0].starts_with("To: +819012345678\r\nFrom: +81300000001\r\n"), "{}", sms[0]);
    assert!(sms[0].contains("の確認コードは 482913 です"), "Japanese verification text: {}", sms[0]);
    // Voice is not the default provider's.
    let voice = CodeMessage { method: DeliveryMethod::Voice, ..message(&user, &request, "1") };
    assert!(matches!(send_code(&tenant, voice).await, Err(DeliveryError::Refused(_))));
    let logs = tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    let sent = logs.iter().find(|l| l.kind == "gd_send_sms").expect("gd_send_sms");
    assert!(
        sent.description.contains("XXXXXXXX5678") && !sent.description.contains("9012345678"),
        "{}",
        sent.description
    );
    assert!(logs.iter().any(|l| l.kind == "gd_send_voice_failure"));
    assert!(!logs.iter().any(|l| l.description.contains("482913")), "no code in the logs");
}

#[tokio::test]
async fn ten_messages_an_hour_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, clock) = tenant("", dir.path()).await;
    let user = jane(&tenant).await;
    let request = request();
    for _ in 0..10 {
        send_code(&tenant, message(&user, &request, "111111")).await.unwrap();
    }
    let refused = send_code(&tenant, message(&user, &request, "111111")).await;
    assert!(matches!(refused, Err(DeliveryError::TooMany { retry_after }) if retry_after > 0), "{refused:?}");
    clock.advance(3600);
    send_code(&tenant, message(&user, &request, "111111")).await.unwrap();
    assert_eq!(outbox_sms(dir.path()).len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_provider_sends_100_messages_in_the_tenants_lifetime_even_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, clock) = tenant("", dir.path()).await;
    let tenant = Arc::new(tenant);
    let jane = jane(&tenant).await;
    // 12 users, 10 messages each, all at once: 120 tries for 100 messages.
    let mut users = Vec::new();
    for i in 0..12 {
        let user = User { user_id: format!("auth0|phone{i}"), email: format!("phone{i}@example.com"), ..jane.clone() };
        tenant.store.create_user(&user).await.unwrap();
        users.push(user);
    }
    let mut tasks = Vec::new();
    for user in users.clone() {
        for _ in 0..10 {
            let tenant = tenant.clone();
            let user = user.clone();
            tasks.push(tokio::spawn(async move {
                let request = request();
                send_code(&tenant, message(&user, &request, "222222")).await
            }));
        }
    }
    let mut sent = 0;
    let mut exhausted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => sent += 1,
            Err(DeliveryError::DefaultProviderExhausted) => exhausted += 1,
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((sent, exhausted), (100, 20));
    assert_eq!(outbox_sms(dir.path()).len(), 100);
    // A day later, with every hourly limit refilled: still nothing.
    clock.advance(86_400);
    let request = request();
    let refused = send_code(&tenant, message(&users[0], &request, "333333")).await;
    assert_eq!(refused, Err(DeliveryError::DefaultProviderExhausted));
}

/// The cap is the database's, not a process's: two servers (two tenants, each with its own connection pool, as two
/// processes have) on one PostgreSQL schema share the 100 messages, 120 tries split between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_providers_100_messages_are_shared_by_two_servers_on_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let url = gatehouse_tests::pg_schema().await;
    let (a, _) = tenant_on("", dir.path(), Arc::new(PgStore::connect(&url, 8).await.unwrap())).await;
    let (b, _) = tenant_on("", dir.path(), Arc::new(PgStore::connect(&url, 8).await.unwrap())).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let jane = jane(&a).await;
    let mut users = Vec::new();
    for i in 0..12 {
        let user = User { user_id: format!("auth0|phone{i}"), email: format!("phone{i}@example.com"), ..jane.clone() };
        a.store.create_user(&user).await.unwrap();
        users.push(user);
    }
    let mut tasks = Vec::new();
    for (i, user) in users.iter().enumerate() {
        for j in 0..10 {
            let tenant = if (i + j) % 2 == 0 { a.clone() } else { b.clone() };
            let user = user.clone();
            tasks.push(tokio::spawn(async move {
                let request = request();
                send_code(&tenant, message(&user, &request, "222222")).await
            }));
        }
    }
    let (mut sent, mut exhausted) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => sent += 1,
            Err(DeliveryError::DefaultProviderExhausted) => exhausted += 1,
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((sent, exhausted), (100, 20));
    assert_eq!(outbox_sms(dir.path()).len(), 100);
}

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// The key the fake provider expects in `Authorization: App <key>`.
const PROVIDER_KEY: &str = "key-0123456789";

/// The seed's two endpoints (`POST /sms/3/messages`, `POST /tts/3/advanced`), recording what they received (which
/// endpoint, the `Authorization` header, the JSON body) and answering `status` (401 without the right key).
fn recording_provider(status: Arc<AtomicU16>, received: Received) -> axum::Router {
    let endpoint = |kind: &'static str| {
        let (status, received) = (status.clone(), received.clone());
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let (status, received) = (status.clone(), received.clone());
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let body = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default();
                let authorized = auth == format!("App {PROVIDER_KEY}");
                received
                    .lock()
                    .unwrap()
                    .push(serde_json::json!({ "endpoint": kind, "authorization": auth, "body": body }));
                let status = if authorized { status.load(Ordering::SeqCst) } else { 401 };
                (
                    http::StatusCode::from_u16(status).unwrap(),
                    "{\"messages\":[{\"status\":{\"groupName\":\"PENDING\"}}]}",
                )
            }
        })
    };
    axum::Router::new().route("/sms/3/messages", endpoint("sms")).route("/tts/3/advanced", endpoint("voice"))
}

/// A provider on 127.0.0.1 over plain HTTP.
async fn provider(status: u16) -> (String, Received) {
    let (url, received, _) = provider_answering(status).await;
    (url, received)
}

/// [`provider`] answering `status` until the test changes it.
async fn provider_answering(status: u16) -> (String, Received, Arc<AtomicU16>) {
    let received = Received::default();
    let status = Arc::new(AtomicU16::new(status));
    let app = recording_provider(status.clone(), received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), received, status)
}

/// A certificate authority made for this test (rcgen), written to `dir/test-ca.pem`, and an HTTPS provider on
/// 127.0.0.1 whose certificate for `localhost` it signed.
async fn https_provider(dir: &std::path::Path) -> (String, Received) {
    let (url, received, _) = https_provider_answering(dir, 200).await;
    (url, received)
}

/// [`https_provider`] answering `status` until the test changes it.
async fn https_provider_answering(dir: &std::path::Path, status: u16) -> (String, Received, Arc<AtomicU16>) {
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("test-ca.pem"), ca_cert.pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der());
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key.into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let received = Received::default();
    let status = Arc::new(AtomicU16::new(status));
    let app = recording_provider(status.clone(), received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else { return };
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper_util::service::TowerToHyperService::new(app),
                    )
                    .await;
            });
        }
    });
    (format!("https://localhost:{port}"), received, status)
}

const ACTION: &str = r#"
exports.onExecuteCustomPhoneProvider = async (event, api) => {
  const n = event.notification;
  const answer = await fetch(event.secrets.PROVIDER_URL + '/sms/3/messages', {
    method: 'POST',
    headers: { Authorization: 'App ' + event.secrets.PROVIDER_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ sender: n.from, destinations: [{ to: n.recipient }], content: { text: n.as_text } }],
                           method: n.delivery_method, type: n.message_type, locale: n.locale, voice: n.as_voice }),
  });
  if (answer.status >= 500) api.notification.retry('provider answered ' + answer.status);
};
"#;

async fn custom_tenant(url: &str, dir: &std::path::Path) -> Tenant {
    custom_tenant_with(url, dir, "").await
}

async fn custom_tenant_with(url: &str, dir: &std::path::Path, outbound: &str) -> Tenant {
    let actions = dir.join("actions").join("custom-phone-provider");
    std::fs::create_dir_all(&actions).unwrap();
    std::fs::write(actions.join("provider.js"), ACTION).unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let text = config(
        "factors = [\"otp\", \"phone\"]",
        &format!(
            "[mfa.phone]\nprovider = \"custom-phone-provider\"\ndelivery_methods = [\"text\", \"voice\"]\n\
             from_text = \"+81300000001\"\n[outbound]\nallow_private_networks = true\n{outbound}\n\
             [secrets]\nPROVIDER_URL = \"{url}\"\nPROVIDER_KEY = \"key-0123456789\"\n"
        ),
    );
    open_tenant(&text, dir, Arc::new(SledStore::temporary().unwrap()), clock).await
}

#[tokio::test]
async fn a_custom_phone_provider_action_reaches_a_real_provider() {
    let (url, received) = provider(200).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = custom_tenant(&url, dir.path()).await;
    let user = jane(&tenant).await;
    let request = request();
    let enroll = CodeMessage { which: PhoneTemplate::Enrollment, locale: "en", ..message(&user, &request, "482913") };
    send_code(&tenant, enroll).await.unwrap();
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["authorization"], "App key-0123456789");
    let body = &got[0]["body"];
    assert_eq!(body["messages"][0]["sender"], "+81300000001");
    assert_eq!(body["messages"][0]["destinations"][0]["to"], "+819012345678");
    assert_eq!(body["type"], "otp_enroll");
    assert_eq!(body["method"], "text");
    assert_eq!(body["locale"], "en");
    assert!(body["messages"][0]["content"]["text"].as_str().unwrap().starts_with("482913 is your"), "{body}");
    assert!(body["voice"].as_str().unwrap().contains("4. 8. 2. 9. 1. 3"), "{body}");
    assert!(outbox_sms(dir.path()).is_empty(), "the custom provider does not use the outbox");
}

#[tokio::test]
async fn a_provider_error_with_retry_is_logged_as_a_failure_and_queued_never_a_success() {
    let (url, received) = provider(500).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = custom_tenant(&url, dir.path()).await;
    let user = jane(&tenant).await;
    let request = request();
    let result = send_code(&tenant, message(&user, &request, "482913")).await;
    match result {
        Ok(gatehouse_auth::phone::delivery::Delivery::Queued { reason, retry_in }) => {
            assert!(reason.contains("provider answered 500"), "{reason}");
            assert_eq!(retry_in, 5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(received.lock().unwrap().len(), 1);
    let logs = tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    let failure = logs.iter().find(|l| l.kind == "gd_send_sms_failure").expect("gd_send_sms_failure");
    assert!(failure.description.contains("provider answered 500"), "{}", failure.description);
    assert!(!logs.iter().any(|l| l.kind == "gd_send_sms"), "never logged as sent");
}

#[tokio::test]
async fn an_https_provider_behind_the_operators_ca_is_reached_through_outbound_ca_files() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = https_provider(dir.path()).await;
    let tenant = custom_tenant_with(&url, dir.path(), "ca_files = [\"test-ca.pem\"]").await;
    let user = jane(&tenant).await;
    let request = request();
    send_code(&tenant, message(&user, &request, "482913")).await.unwrap();
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["authorization"], "App key-0123456789");
}

#[tokio::test]
async fn without_the_ca_the_https_provider_is_not_trusted_and_the_delivery_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = https_provider(dir.path()).await;
    let tenant = custom_tenant(&url, dir.path()).await;
    let user = jane(&tenant).await;
    let request = request();
    let result = send_code(&tenant, message(&user, &request, "482913")).await;
    match result {
        Err(DeliveryError::NotDelivered(reason)) => {
            assert!(reason.to_lowercase().contains("certificate"), "refused for its certificate: {reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(received.lock().unwrap().is_empty(), "nothing reached the untrusted server");
}

/// A provider on 127.0.0.1 that accepts connections and never answers.
async fn silent_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

#[tokio::test]
async fn a_provider_that_never_answers_is_cut_by_the_deadline_and_the_delivery_fails() {
    let url = silent_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = custom_tenant_with(&url, dir.path(), "[actions]\ntimeout_ms = 1500").await;
    let user = jane(&tenant).await;
    let request = request();
    let started = std::time::Instant::now();
    let result = send_code(&tenant, message(&user, &request, "482913")).await;
    let took = started.elapsed();
    match result {
        Err(DeliveryError::NotDelivered(reason)) => {
            assert!(reason.contains("exceeded the 1500 ms time limit"), "stopped by the deadline: {reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(took < std::time::Duration::from_secs(10), "the 1.5 s deadline held: {took:?}");
    let logs = tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "gd_send_sms_failure"));
}

// ---------------------------------------------------------------------------------------------------------------
// The phone factor end to end: the hosted pages and the MFA API, served in-process on a real port, with the seed's
// action posting to a real HTTPS provider on 127.0.0.1, each code read from what the provider received.

use gatehouse_server::AppState;
use gatehouse_tests::{Browser, Page, SPA_CALLBACK, Server, callback_code, exchange_code, pkce};
use serde_json::{Value, json};

/// A tenant served in-process on a real port.
struct Served {
    server: Server,
    tenant: Arc<Tenant>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// Serves the test configuration with `mfa` and `extra`, the actions (`trigger folder`, file, code) written first.
async fn serve(dir: tempfile::TempDir, mfa: &str, extra: &str, actions: &[(&str, &str, &str)]) -> Served {
    for (trigger, name, code) in actions {
        let folder = dir.path().join("actions").join(trigger);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), code).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = config(mfa, extra).replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let clock = Arc::new(ManualClock::starting_now());
    let store = Arc::new(SledStore::temporary().unwrap());
    let tenant = Arc::new(open_tenant(&text, dir.path(), store, clock.clone()).await);
    tokio::spawn(gatehouse_server::serve(AppState { tenant: tenant.clone() }, listener, std::future::pending()));
    Served { server: Server::attach(&format!("http://127.0.0.1:{port}/")), tenant, clock, _dir: dir }
}

/// MFA on every login; the phone is the only factor to enroll.
const PHONE_ALWAYS: &str = "factors = [\"phone\", \"recovery-code\"]\npolicy = \"always\"";

/// Seed 002's action as written (its constants read from secrets), against an HTTPS provider trusted through
/// `[outbound] ca_files`.
async fn seed_tenant(methods: &str) -> (Served, Received, Arc<AtomicU16>) {
    let dir = tempfile::tempdir().unwrap();
    let (url, received, status) = https_provider_answering(dir.path(), 200).await;
    let base_url = url.trim_start_matches("https://");
    let extra = format!(
        "[mfa.phone]\nprovider = \"custom-phone-provider\"\ndelivery_methods = {methods}\n\
         [outbound]\nallow_private_networks = true\nca_files = [\"test-ca.pem\"]\n\
         [secrets]\nNTT_CPAAS_API_KEY = \"{PROVIDER_KEY}\"\nNTT_CPAAS_BASE_URL = \"{base_url}\"\n\
         NTT_CPAAS_SMS_FROM = \"+81300000001\"\nNTT_CPAAS_VOICE_FROM = \"+81300000002\"\n"
    );
    let seed = Server::action("actions/examples/ntt-cpaas-phone-provider.js");
    let served = serve(dir, PHONE_ALWAYS, &extra, &[("custom-phone-provider", "ntt-cpaas.js", &seed)]).await;
    (served, received, status)
}

fn authorize_url(server: &Server, challenge: &str, extra: &str) -> String {
    server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=app-state&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(SPA_CALLBACK.as_bytes()).collect::<String>()
    ))
}

/// Logs in with a password; returns the page after the form and the PKCE verifier.
async fn password_login(browser: &Browser, server: &Server, email: &str) -> (Page, String) {
    password_login_with(browser, server, email, "").await
}

/// [`password_login`] with more `/authorize` parameters (`&ui_locales=ja`).
async fn password_login_with(browser: &Browser, server: &Server, email: &str, extra: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let page = browser.follow(browser.get(&authorize_url(server, &challenge, extra)).await).await;
    assert!(page.body.contains("name=\"password\""), "the login form: {}", page.body);
    let page = browser.submit(&page, "/u/login", &[("email", email), ("password", "correct-horse-battery")]).await;
    (page, verifier)
}

/// The first run of exactly six digits in `text`.
fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < digits.len() {
        let run: String = digits[i..].iter().take_while(|c| c.is_ascii_digit()).collect();
        if run.len() == 6 {
            return run;
        }
        i += run.len().max(1);
    }
    panic!("no 6-digit code in {text:?}")
}

/// The n-th message the provider received: its endpoint, recipient and code (the seed sends `as_text` to both).
fn message_at(received: &Received, n: usize) -> (String, String, String) {
    let got = received.lock().unwrap().clone();
    let message = got.get(n).unwrap_or_else(|| panic!("message {n} not received: {got:?}"));
    assert_eq!(message["authorization"], format!("App {PROVIDER_KEY}"));
    let body = &message["body"]["messages"][0];
    let endpoint = message["endpoint"].as_str().unwrap().to_owned();
    let text = if endpoint == "sms" { &body["content"]["text"] } else { &body["text"] };
    (endpoint, body["destinations"][0]["to"].as_str().unwrap().to_owned(), code_in(text.as_str().unwrap()))
}

/// Waits until the provider has received `n` messages: the seed's action does not await its fetch, so the request
/// may land just after the page answered.
async fn wait_for(received: &Received, n: usize) {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the provider received {} messages, expected {n}", received.lock().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_enrollment_and_login_by_text_and_voice_through_the_hosted_pages() {
    let (served, received, _) = seed_tenant("[\"text\", \"voice\"]").await;
    let server = &served.server;

    // Enrollment: the number (as people type it) and text or voice.
    let browser = Browser::new(server);
    let (page, verifier) = password_login(&browser, server, "jane@example.com").await;
    assert!(page.body.contains("name=\"phone_number\""), "the phone enrollment page: {}", page.body);
    assert!(page.body.contains("value=\"voice\"") && page.body.contains("value=\"text\""), "{}", page.body);
    let bad = browser.submit(&page, "/u/mfa/phone", &[("phone_number", "090-1234-5678"), ("method", "text")]).await;
    assert!(bad.body.contains("country code"), "a number without its country code is refused: {}", bad.body);
    assert!(received.lock().unwrap().is_empty(), "nothing sent to a refused number");
    let page = browser.submit(&bad, "/u/mfa/phone", &[("phone_number", "+81 90-1234-5678"), ("method", "text")]).await;
    assert!(page.body.contains("XXXXXXXX5678") && page.body.contains("name=\"code\""), "{}", page.body);
    assert!(page.body.contains("Call me instead"), "voice is offered too: {}", page.body);
    assert!(page.body.contains("Use a different number"), "{}", page.body);
    assert!(!page.body.contains("Try another method"), "the phone is the only factor to enroll: {}", page.body);
    wait_for(&received, 1).await;
    let (endpoint, to, code) = message_at(&received, 0);
    assert_eq!((endpoint.as_str(), to.as_str()), ("sms", "+819012345678"));
    let sms = received.lock().unwrap()[0]["body"]["messages"][0].clone();
    assert_eq!(sms["sender"], "+81300000001");
    // A wrong code, then the right one.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let page = browser.submit(&page, "/u/mfa", &[("code", wrong)]).await;
    assert!(page.body.contains("invalid"), "{}", page.body);
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    assert!(page.body.contains("id=\"recovery-code\""), "a recovery code with the first factor: {}", page.body);
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    let tokens = exchange_code(server, &callback_code(&page), &verifier).await;
    assert!(tokens["id_token"].is_string());
    let user = jane(&served.tenant).await;
    let enrolled = served.tenant.store.find_authenticators(&user.user_id).await.unwrap();
    assert!(
        enrolled.iter().any(|a| a.active
            && matches!(&a.kind, gatehouse_types::records::AuthenticatorKind::Phone { phone_number, method }
                if phone_number == "+819012345678" && method == "sms")),
        "{enrolled:?}"
    );

    // The next login: a code by text at once; "Call me instead" calls, and only the newest code works.
    let browser = Browser::new(server);
    let (page, verifier) = password_login(&browser, server, "jane@example.com").await;
    assert!(page.body.contains("We've sent a text message"), "{}", page.body);
    wait_for(&received, 2).await;
    let (endpoint, _, sms_code) = message_at(&received, 1);
    assert_eq!(endpoint, "sms");
    let page = browser.submit(&page, "/u/mfa/resend", &[("method", "voice")]).await;
    assert!(page.body.contains("We're calling you"), "{}", page.body);
    assert!(page.body.contains("Send a text message instead"), "{}", page.body);
    wait_for(&received, 3).await;
    let (endpoint, to, voice_code) = message_at(&received, 2);
    assert_eq!((endpoint.as_str(), to.as_str()), ("voice", "+819012345678"));
    let call = received.lock().unwrap()[2]["body"]["messages"][0].clone();
    assert_eq!((call["from"].as_str(), call["language"].as_str()), (Some("+81300000002"), Some("en")));
    if sms_code != voice_code {
        let page = browser.submit(&page, "/u/mfa", &[("code", &sms_code)]).await;
        assert!(page.body.contains("invalid"), "the replaced text code no longer works: {}", page.body);
    }
    let page = browser.submit(&page, "/u/mfa", &[("code", &voice_code)]).await;
    let tokens = exchange_code(server, &callback_code(&page), &verifier).await;
    assert_eq!(jwt_amr(&tokens), vec!["mfa"]);
    let logs = served.tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    for kind in ["gd_send_sms", "gd_send_voice", "gd_enrollment_complete", "gd_auth_succeed"] {
        assert!(logs.iter().any(|l| l.kind == kind), "{kind} logged");
    }
    assert!(!logs.iter().any(|l| l.description.contains(&voice_code)), "no code in the logs");

    // Enrollment by voice, in Japanese: the page, the call's language and the message.
    let browser = Browser::new(server);
    let (page, verifier) = password_login_with(&browser, server, "taro@example.com", "&ui_locales=ja").await;
    assert!(page.body.contains("電話番号を登録") && page.body.contains("音声通話"), "{}", page.body);
    let page =
        browser.submit(&page, "/u/mfa/phone", &[("phone_number", "+81 80 0000 1234"), ("method", "voice")]).await;
    assert!(page.body.contains("音声通話でお伝えします") && page.body.contains("XXXXXXXX1234"), "{}", page.body);
    assert!(page.body.contains("SMS で受け取る"), "text is offered instead: {}", page.body);
    wait_for(&received, 4).await;
    let (endpoint, to, code) = message_at(&received, 3);
    assert_eq!((endpoint.as_str(), to.as_str()), ("voice", "+818000001234"));
    let call = received.lock().unwrap()[3]["body"]["messages"][0].clone();
    assert_eq!(call["language"], "ja");
    assert!(call["text"].as_str().unwrap().contains("の登録コードは"), "the Japanese enrollment message: {call}");
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    exchange_code(server, &callback_code(&page), &verifier).await;
    let taro = served.tenant.store.find_user_by_email("taro@example.com").await.unwrap().unwrap();
    let enrolled = served.tenant.store.find_authenticators(&taro.user_id).await.unwrap();
    assert!(enrolled.iter().any(|a| matches!(&a.kind,
        gatehouse_types::records::AuthenticatorKind::Phone { method, .. } if method == "voice")));
}

fn jwt_amr(tokens: &Value) -> Vec<String> {
    let claims = gatehouse_tests::jwt_payload(tokens["id_token"].as_str().unwrap());
    claims["amr"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_code_waits_out_the_cooldown_and_ten_an_hour_is_the_limit() {
    let (served, received, _) = seed_tenant("[\"text\"]").await;
    let server = &served.server;
    let user = jane(&served.tenant).await;
    enroll_directly(&served.tenant, &user, "sms").await;
    let browser = Browser::new(server);
    let (page, _) = password_login(&browser, server, "jane@example.com").await;
    assert!(page.body.contains("XXXXXXXX5678"), "{}", page.body);
    assert!(!page.body.contains("Call me instead"), "voice is not enabled: {}", page.body);
    assert!(page.body.contains("You can ask for a new code in 30 seconds"), "the cooldown is shown: {}", page.body);
    wait_for(&received, 1).await;
    // At once: refused, nothing sent.
    let page = browser.submit(&page, "/u/mfa/resend", &[]).await;
    assert!(page.body.contains("Wait a few seconds"), "{}", page.body);
    // After each cooldown a new code goes, up to ten an hour (one comes back every 6 minutes: 11 x 31 s is less).
    let mut page = page;
    for _ in 0..11 {
        served.clock.advance(31);
        page = browser.submit(&page, "/u/mfa/resend", &[]).await;
    }
    assert!(page.body.contains("Too many codes were sent"), "the 11th message is refused: {}", page.body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(received.lock().unwrap().len(), 10, "ten messages an hour");
    let logs = served.tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "gd_send_sms_failure" && l.description.contains("Too many")));
}

/// Enrolls jane's +819012345678 as the Management API would.
async fn enroll_directly(tenant: &Tenant, user: &User, method: &str) {
    let body = json!({ "type": "phone", "phone_number": "+819012345678", "preferred_authentication_method": method });
    gatehouse_auth::users::create_authentication_method(tenant, user, serde_json::from_value(body).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_with_preferred_method_voice_calls_and_offers_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received, _) = https_provider_answering(dir.path(), 200).await;
    let extra = format!(
        "[mfa.phone]\nprovider = \"custom-phone-provider\"\ndelivery_methods = [\"text\", \"voice\"]\n\
         [outbound]\nallow_private_networks = true\nca_files = [\"test-ca.pem\"]\n\
         [secrets]\nNTT_CPAAS_API_KEY = \"{PROVIDER_KEY}\"\nNTT_CPAAS_BASE_URL = \"{}\"\n",
        url.trim_start_matches("https://")
    );
    // Seed 001's factor choice: the phone by voice only.
    let choose = "exports.onExecutePostLogin = async (event, api) => {\n  \
                  api.authentication.challengeWith({ type: 'phone', options: { preferredMethod: 'voice' } });\n};\n";
    let seed = Server::action("actions/examples/ntt-cpaas-phone-provider.js");
    let served = serve(
        dir,
        "factors = [\"phone\", \"otp\"]\npolicy = \"never\"\ncustomize_with_actions = true",
        &extra,
        &[("post-login", "10-voice.js", choose), ("custom-phone-provider", "ntt-cpaas.js", &seed)],
    )
    .await;
    let user = jane(&served.tenant).await;
    enroll_directly(&served.tenant, &user, "sms").await;
    let browser = Browser::new(&served.server);
    let (page, verifier) = password_login(&browser, &served.server, "jane@example.com").await;
    assert!(page.body.contains("We're calling you"), "{}", page.body);
    assert!(!page.body.contains("Send a text message instead"), "text is not offered: {}", page.body);
    wait_for(&received, 1).await;
    let (endpoint, _, code) = message_at(&received, 0);
    assert_eq!(endpoint, "voice", "the enrolled method was sms; the action asked for voice");
    // Asking for text anyway is not honoured.
    served.clock.advance(31);
    let page = browser.submit(&page, "/u/mfa/resend", &[("method", "text")]).await;
    wait_for(&received, 2).await;
    let (endpoint, _, code2) = message_at(&received, 1);
    assert_eq!(endpoint, "voice");
    let _ = code;
    let page = browser.submit(&page, "/u/mfa", &[("code", &code2)]).await;
    exchange_code(&served.server, &callback_code(&page), &verifier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_is_told_to_the_user_with_a_way_out() {
    let url = silent_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[mfa.phone]\nprovider = \"custom-phone-provider\"\n[actions]\ntimeout_ms = 1500\n\
         [outbound]\nallow_private_networks = true\n\
         [secrets]\nPROVIDER_URL = \"{url}\"\nPROVIDER_KEY = \"{PROVIDER_KEY}\"\n"
    );
    let served = serve(
        dir,
        "factors = [\"phone\", \"otp\"]\npolicy = \"always\"",
        &extra,
        &[("custom-phone-provider", "provider.js", ACTION)],
    )
    .await;
    let browser = Browser::new(&served.server);
    let (page, _) = password_login(&browser, &served.server, "jane@example.com").await;
    // Two factors to enroll: the picker, then the phone.
    assert!(page.body.contains("value=\"phone\""), "{}", page.body);
    let page = browser.submit(&page, "/u/mfa/choose", &[("factor", "phone")]).await;
    let page = browser.submit(&page, "/u/mfa/phone", &[("phone_number", "+819012345678"), ("method", "text")]).await;
    assert!(page.body.contains("We could not send the code"), "{}", page.body);
    assert!(page.body.contains("Try another method"), "another factor is offered: {}", page.body);
    assert!(page.body.contains("name=\"phone_number\""), "and the number can be entered again: {}", page.body);
    let page = browser.submit(&page, "/u/mfa/choose", &[]).await;
    assert!(page.body.contains("value=\"otp\""), "the picker: {}", page.body);
}

/// The MFA API's password-realm grant answering `mfa_required`.
async fn mfa_token(server: &Server) -> String {
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "http://auth0.com/oauth/grant-type/password-realm"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("username", "jane@example.com"),
            ("password", "correct-horse-battery"),
            ("realm", "Username-Password-Authentication"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required", "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn post_json(server: &Server, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.url(path)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn oob_grant(server: &Server, mfa_token: &str, oob_code: &str, binding_code: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "http://auth0.com/oauth/grant-type/mfa-oob"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("mfa_token", mfa_token),
            ("oob_code", oob_code),
            ("binding_code", binding_code),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mfa_api_enrolls_by_voice_and_challenges_by_sms() {
    let (served, received, _) = seed_tenant("[\"text\", \"voice\"]").await;
    let server = &served.server;
    let token = mfa_token(server).await;
    let (status, body) = post_json(
        server,
        "mfa/associate",
        Some(&token),
        json!({ "authenticator_types": ["oob"], "oob_channels": ["voice"], "phone_number": "+81 90 1234 5678" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["authenticator_type"].as_str(), body["oob_channel"].as_str()), (Some("oob"), Some("voice")));
    assert_eq!(body["binding_method"], "prompt");
    assert!(body["recovery_codes"][0].is_string(), "{body}");
    wait_for(&received, 1).await;
    let (endpoint, to, code) = message_at(&received, 0);
    assert_eq!((endpoint.as_str(), to.as_str()), ("voice", "+819012345678"));
    let oob_code = body["oob_code"].as_str().unwrap();
    let (status, answer) = oob_grant(server, &token, oob_code, &code).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["access_token"].is_string());
    // Single use.
    let (status, again) = oob_grant(server, &token, oob_code, &code).await;
    assert_eq!((status, again["error"].as_str()), (403, Some("invalid_grant")), "{again}");

    // A later login: /mfa/challenge by sms, the listing shows the phone masked.
    let token = mfa_token(server).await;
    let listing = reqwest::Client::new()
        .get(server.url("mfa/authenticators"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let phone = listing.as_array().unwrap().iter().find(|a| a["authenticator_type"] == "oob").expect("{listing}");
    assert_eq!((phone["oob_channel"].as_str(), phone["name"].as_str()), (Some("voice"), Some("XXXXXXXX5678")));
    assert_eq!(phone["active"], true);
    let (status, challenge) = post_json(
        server,
        "mfa/challenge",
        None,
        json!({ "mfa_token": token, "client_id": "test-web", "client_secret": "test-web-secret-0123456789",
                "challenge_type": "oob", "oob_channel": "sms" }),
    )
    .await;
    assert_eq!(status, 200, "{challenge}");
    assert_eq!(
        (challenge["challenge_type"].as_str(), challenge["binding_method"].as_str()),
        (Some("oob"), Some("prompt"))
    );
    wait_for(&received, 2).await;
    let (endpoint, _, code) = message_at(&received, 1);
    assert_eq!(endpoint, "sms");
    let (status, wrong) = oob_grant(server, &token, challenge["oob_code"].as_str().unwrap(), "000000").await;
    if code != "000000" {
        assert_eq!((status, wrong["error"].as_str()), (403, Some("invalid_grant")), "{wrong}");
    }
    let (status, answer) = oob_grant(server, &token, challenge["oob_code"].as_str().unwrap(), &code).await;
    assert_eq!(status, 200, "{answer}");
    // A number that is not E.164 is refused before anything is sent.
    let (status, refused) = post_json(
        server,
        "mfa/associate",
        Some(&mfa_token(server).await),
        json!({ "authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": "09012345678" }),
    )
    .await;
    assert!(status == 400 || status == 403, "{status} {refused}");
}

const LEGACY: &str = r#"
exports.onExecuteSendPhoneMessage = async (event, api) => {
  const m = event.message_options;
  const path = m.message_type === 'voice' ? '/tts/3/advanced' : '/sms/3/messages';
  const answer = await fetch(event.secrets.PROVIDER_URL + path, {
    method: 'POST',
    headers: { Authorization: 'App ' + event.secrets.PROVIDER_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ destinations: [{ to: m.recipient }], content: { text: m.text }, text: m.text,
                                        action: m.action }] }),
  });
  if (!answer.ok) throw new Error('provider answered ' + answer.status);
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_send_phone_message_trigger_enrolls_through_the_hosted_pages() {
    let (url, received) = provider(200).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[mfa.phone]\nprovider = \"send-phone-message\"\n[outbound]\nallow_private_networks = true\n\
         [secrets]\nPROVIDER_URL = \"{url}\"\nPROVIDER_KEY = \"{PROVIDER_KEY}\"\n"
    );
    let served = serve(dir, PHONE_ALWAYS, &extra, &[("send-phone-message", "legacy.js", LEGACY)]).await;
    let browser = Browser::new(&served.server);
    let (page, verifier) = password_login(&browser, &served.server, "jane@example.com").await;
    assert!(!page.body.contains("value=\"voice\""), "text only by default: {}", page.body);
    let page = browser.submit(&page, "/u/mfa/phone", &[("phone_number", "+14155550100")]).await;
    assert!(page.body.contains("XXXXXXXX0100"), "{}", page.body);
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["body"]["messages"][0]["action"], "enrollment");
    let code = code_in(got[0]["body"]["messages"][0]["text"].as_str().unwrap());
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    exchange_code(&served.server, &callback_code(&page), &verifier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_is_retried_from_the_store_and_the_code_arrives_later() {
    let (url, received, status) = provider_answering(500).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[mfa.phone]\nprovider = \"custom-phone-provider\"\n[outbound]\nallow_private_networks = true\n\
         [secrets]\nPROVIDER_URL = \"{url}\"\nPROVIDER_KEY = \"{PROVIDER_KEY}\"\n"
    );
    let served = serve(dir, PHONE_ALWAYS, &extra, &[("custom-phone-provider", "provider.js", ACTION)]).await;
    let browser = Browser::new(&served.server);
    let (page, verifier) = password_login(&browser, &served.server, "jane@example.com").await;
    let page = browser.submit(&page, "/u/mfa/phone", &[("phone_number", "+819012345678")]).await;
    assert!(page.body.contains("taking longer than usual"), "{}", page.body);
    assert!(page.body.contains("name=\"code\""), "the code field stays: {}", page.body);
    assert_eq!(received.lock().unwrap().len(), 1);
    let retry = gatehouse_auth::phone::retry::run_due;
    assert_eq!(retry(&served.tenant).await, 0, "not due before 5 s");
    served.clock.advance(5);
    // Still failing: put back for the next try.
    assert_eq!(retry(&served.tenant).await, 1);
    assert_eq!(received.lock().unwrap().len(), 2);
    status.store(200, Ordering::SeqCst);
    served.clock.advance(9);
    assert_eq!(retry(&served.tenant).await, 0, "the second retry waits 10 s");
    served.clock.advance(1);
    assert_eq!(retry(&served.tenant).await, 1);
    assert_eq!(retry(&served.tenant).await, 0, "sent: nothing left");
    let (endpoint, _, code) = message_at(&received, 2);
    assert_eq!(endpoint, "sms");
    let page = browser.submit(&page, "/u/mfa", &[("code", &code)]).await;
    let page = browser.submit(&page, "/u/mfa/recovery-saved", &[]).await;
    exchange_code(&served.server, &callback_code(&page), &verifier).await;
    let logs = served.tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "gd_send_sms_failure" && l.description.contains("trying again in 5 s")));
    assert!(logs.iter().any(|l| l.kind == "gd_send_sms_failure" && l.description.contains("trying again in 10 s")));
    assert!(logs.iter().any(|l| l.kind == "gd_send_sms" && l.description.contains("retry 2 of 5")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_for_its_retry_survives_a_restart_and_gives_up_after_five() {
    let (url, received, _) = provider_answering(500).await;
    let dir = tempfile::tempdir().unwrap();
    let actions = dir.path().join("actions").join("custom-phone-provider");
    std::fs::create_dir_all(&actions).unwrap();
    std::fs::write(actions.join("provider.js"), ACTION).unwrap();
    let text = config(
        "factors = [\"phone\"]",
        &format!(
            "[mfa.phone]\nprovider = \"custom-phone-provider\"\n[outbound]\nallow_private_networks = true\n\
             [secrets]\nPROVIDER_URL = \"{url}\"\nPROVIDER_KEY = \"{PROVIDER_KEY}\"\n"
        ),
    );
    let path = dir.path().join("store");
    let open = |clock: Arc<ManualClock>| {
        let (text, dir, path) = (text.clone(), dir.path().to_owned(), path.clone());
        async move { open_tenant(&text, &dir, Arc::new(SledStore::open(&path).unwrap()), clock).await }
    };
    let clock = Arc::new(ManualClock::starting_now());
    let first = open(clock.clone()).await;
    let user = jane(&first).await;
    let request = request();
    let queued = send_code(&first, message(&user, &request, "482913")).await.unwrap();
    assert!(matches!(queued, gatehouse_auth::phone::delivery::Delivery::Queued { retry_in: 5, .. }), "{queued:?}");
    drop(first);

    // Another process (the same store): the message is there, and is retried until the provider answers.
    let second = open(clock.clone()).await;
    clock.advance(5);
    assert_eq!(gatehouse_auth::phone::retry::run_due(&second).await, 1);
    assert_eq!(received.lock().unwrap().len(), 2, "the retry reached the provider after the restart");
    let body = received.lock().unwrap()[1]["body"].clone();
    assert!(body["messages"][0]["content"]["text"].as_str().unwrap().contains("482913"), "the same code: {body}");
    // Four more failures: 10, 20, 40, 80 s apart; then it gives up.
    for delay in [10, 20, 40, 80] {
        clock.advance(delay);
        assert_eq!(gatehouse_auth::phone::retry::run_due(&second).await, 1);
    }
    // The fifth retry came 155 s after the first try, within the code's 5 minutes; there is no sixth.
    clock.advance(200);
    assert_eq!(gatehouse_auth::phone::retry::run_due(&second).await, 0, "nothing after five retries");
    assert_eq!(received.lock().unwrap().len(), 6, "one try and five retries");
    let logs = second.store.list_logs(&LogQuery::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.kind == "gd_send_sms_failure" && l.description.contains("gave up after 5 retries")));
}
