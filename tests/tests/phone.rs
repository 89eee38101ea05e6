//! Phone codes through `[mfa.phone]`'s provider, in-process with a real sled store and the real sandbox: the
//! default provider's outbox and its 100-message lifetime cap (in parallel), the user's hourly limit, and a
//! custom-phone-provider action posting to a real HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use gatehouse_auth::clock::ManualClock;
use gatehouse_auth::context::RequestInfo;
use gatehouse_auth::phone::delivery::{CodeMessage, DeliveryError, send_code};
use gatehouse_auth::phone::templates::PhoneTemplate;
use gatehouse_auth::tenant::Tenant;
use gatehouse_store::{LogQuery, SledStore};
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
    let clock = Arc::new(ManualClock::starting_now());
    let text = config(
        "factors = [\"otp\", \"phone\"]",
        &format!("[mfa.phone]\n{phone}\n[outbound]\nallow_private_networks = true\n"),
    );
    let tenant = open_tenant(&text, dir, Arc::new(SledStore::temporary().unwrap()), clock.clone()).await;
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
            Ok(()) => sent += 1,
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

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// The seed's SMS endpoint, recording what it received (the `Authorization` header and the JSON body) and answering
/// `status`.
fn recording_provider(status: u16, received: Received) -> axum::Router {
    axum::Router::new().route(
        "/sms/3/messages",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let received = received.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let body = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default();
                received.lock().unwrap().push(serde_json::json!({ "authorization": auth, "body": body }));
                (http::StatusCode::from_u16(status).unwrap(), "{}")
            }
        }),
    )
}

/// A provider on 127.0.0.1 over plain HTTP.
async fn provider(status: u16) -> (String, Received) {
    let received = Received::default();
    let app = recording_provider(status, received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), received)
}

/// A certificate authority made for this test (rcgen), written to `dir/test-ca.pem`, and an HTTPS provider on
/// 127.0.0.1 whose certificate for `localhost` it signed.
async fn https_provider(dir: &std::path::Path) -> (String, Received) {
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
    let app = recording_provider(200, received.clone());
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
    (format!("https://localhost:{port}"), received)
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
    )
    // A real port: with port 0 the outbound policy takes every port-less resolution of 127.0.0.1 for the server.
    .replace("127.0.0.1:0", "127.0.0.1:3999");
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
async fn a_provider_error_is_a_failed_delivery_never_a_success() {
    let (url, received) = provider(500).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = custom_tenant(&url, dir.path()).await;
    let user = jane(&tenant).await;
    let request = request();
    let result = send_code(&tenant, message(&user, &request, "482913")).await;
    match result {
        Err(DeliveryError::NotDelivered(reason)) => assert!(reason.contains("provider answered 500"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(received.lock().unwrap().len(), 1);
    let logs = tenant.store.list_logs(&LogQuery::default()).await.unwrap();
    let failure = logs.iter().find(|l| l.kind == "gd_send_sms_failure").expect("gd_send_sms_failure");
    assert!(failure.description.contains("provider answered 500"), "{}", failure.description);
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

#[tokio::test]
async fn a_provider_that_never_answers_is_cut_by_the_deadline_and_the_delivery_fails() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
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
