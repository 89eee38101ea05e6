//! Support for the end-to-end tests: a real `gatehouse serve` process on port 0 with a temporary data folder, a
//! cookie-keeping browser for the hosted pages, and small helpers (PKCE, JWT payloads, the email outbox, an SMTP
//! server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr, missing_docs)]

pub mod smtp;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Starts `command` (a `gatehouse serve ...`) with quiet logs, waits for its first stdout line ("gatehouse listening
/// on ... (issuer URL)") and returns the child, the issuer it announced, and its later stdout lines (action
/// reloads are announced there).
pub fn start_serve(command: &mut Command) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = command
        .env("GATEHOUSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gatehouse serve");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = BufReader::new(stdout).lines();
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let line = receiver.recv_timeout(Duration::from_secs(60)).expect("gatehouse serve did not start within 60 s");
    let issuer = line.split("(issuer ").nth(1).unwrap().trim_end_matches(')').to_owned();
    (child, issuer, receiver)
}

/// The redirect URI of the `test-spa` client in [`config`].
pub const SPA_CALLBACK: &str = "https://spa.example.com/callback";

/// The authorization code of a redirect back to the application, checking that `state` came back as `app-state`.
pub fn callback_code(page: &Page) -> String {
    assert_eq!(page.status, 302, "expected the redirect to the application, got {}: {}", page.status, page.body);
    let params = page.location_params();
    assert_eq!(params.get("state").map(String::as_str), Some("app-state"));
    params.get("code").cloned().unwrap_or_else(|| panic!("no code in {:?}", page.location))
}

/// Exchanges an authorization code of `test-spa` (PKCE `verifier`) and returns the token response, which must be
/// a success.
pub async fn exchange_code(server: &Server, code: &str, verifier: &str) -> Value {
    let response = reqwest::Client::new()
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "test-spa"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", SPA_CALLBACK),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "token exchange failed: {body}");
    body
}

/// A password grant of `test-web` (its secret from [`config`]) for `email`, scope `openid`: the status and body.
pub async fn web_password_login(http: &reqwest::Client, server: &Server, email: &str, password: &str) -> (u16, Value) {
    let response = http
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "test-web"),
            ("client_secret", "test-web-secret-0123456789"),
            ("username", email),
            ("password", password),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A Management API token of `test-m2m` (its secret from [`config`]; the test grants it the scopes).
pub async fn m2m_management_token(http: &reqwest::Client, server: &Server) -> String {
    let body: Value = http
        .post(server.url("oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "test-m2m"),
            ("client_secret", "test-m2m-secret-0123456789"),
            ("audience", &server.url("api/v2/")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("no management token: {body}")).to_owned()
}

/// The `gatehouse` binary built next to this test (`make test` builds it first).
pub fn gatehouse_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("gatehouse");
    assert!(bin.exists(), "{} is missing: run `cargo build --bins` first (make test does)", bin.display());
    bin
}

/// A sandbox pool of at most `max_workers` of [`gatehouse_bin`]'s workers (one kept idle, 5 s per `fetch`).
pub fn sandbox_config(max_workers: usize) -> gatehouse_engine::sandbox::SandboxConfig {
    gatehouse_engine::sandbox::SandboxConfig {
        program: gatehouse_bin(),
        args: vec!["sandbox-worker".to_owned()],
        max_workers,
        max_idle: 1,
        fetch_timeout: Duration::from_secs(5),
        colocate: Some(gatehouse_engine::placement::SEATED_FOR),
    }
}

/// A post-login flow of `codes`, one action file each (`0.js`, `1.js`...).
pub fn post_login_flow(codes: &[&str]) -> gatehouse_engine::protocol::FlowSpec {
    let sources = codes
        .iter()
        .enumerate()
        .map(|(i, code)| gatehouse_engine::protocol::ActionSource {
            name: format!("{i}.js"),
            path: format!("actions/{i}.js"),
            code: (*code).to_owned(),
        })
        .collect();
    gatehouse_engine::actions::flow_spec(gatehouse_types::Trigger::PostLogin, sources)
}

/// A request to run `flow` from its first action with an empty event, as the sandbox tests send it.
pub fn run_request(flow: gatehouse_engine::protocol::FlowSpec) -> gatehouse_engine::protocol::RunRequest {
    gatehouse_engine::protocol::RunRequest {
        run_id: 0,
        flow,
        start: 0,
        entry: gatehouse_engine::protocol::Entry::Execute,
        event: serde_json::json!({}).into(),
        cache: Default::default(),
        run_on: Default::default(),
    }
}

/// A tenant opened in-process from the configuration `text`, with `dir` as its folder (an empty
/// `actions/post-login` is created there), over `store` and `clock`, its actions run by [`gatehouse_bin`]'s workers.
pub async fn open_tenant(
    text: &str,
    dir: &Path,
    store: std::sync::Arc<dyn gatehouse_store::Store>,
    clock: std::sync::Arc<dyn gatehouse_auth::clock::Clock>,
) -> gatehouse_auth::tenant::Tenant {
    std::fs::create_dir_all(dir.join("actions").join("post-login")).unwrap();
    let sandbox = sandbox_config(2);
    gatehouse_auth::tenant::Tenant::open(gatehouse_auth::tenant::TenantOptions {
        config: toml::from_str(text).unwrap(),
        base_dir: dir.to_owned(),
        sandbox,
        store,
        data_dir: dir.join("data"),
        clock,
    })
    .await
    .unwrap()
}

/// A tenant configuration for tests: port 0, the sample clients, API and users. `extra` is appended.
pub fn config(mfa: &str, extra: &str) -> String {
    format!(
        r#"issuer = "http://127.0.0.1:0/"
listen = "127.0.0.1:0"
data_dir = "data"
actions_dir = "actions"
friendly_name = "Gatehouse Test"

[mfa]
{mfa}

[[clients]]
client_id = "test-spa"
name = "Test SPA"
app_type = "spa"
callbacks = ["https://spa.example.com/callback", "http://localhost:9/callback"]
allowed_origins = ["http://127.0.0.1:9", "https://spa.example.com"]
allowed_logout_urls = ["http://127.0.0.1:9/"]

[[clients]]
client_id = "test-web"
name = "Test Web"
app_type = "regular_web"
client_secret = "test-web-secret-0123456789"
callbacks = ["https://web.example.com/callback"]
grant_types = ["authorization_code", "refresh_token", "password", "http://auth0.com/oauth/grant-type/password-realm", "http://auth0.com/oauth/grant-type/mfa-otp", "http://auth0.com/oauth/grant-type/mfa-oob", "http://auth0.com/oauth/grant-type/mfa-recovery-code"]

[[clients]]
client_id = "test-m2m"
name = "Test M2M"
app_type = "non_interactive"
client_secret = "test-m2m-secret-0123456789"

[[apis]]
identifier = "https://api.example.com/"
name = "Test API"
scopes = ["read:data", "write:data"]

[[client_grants]]
client_id = "test-m2m"
audience = "https://api.example.com/"
scopes = ["read:data"]

[[users]]
email = "jane@example.com"
password = "correct-horse-battery"
name = "Jane Doe"
roles = ["admin"]

[[users]]
email = "taro@example.com"
password = "correct-horse-battery"
name = "Taro"
roles = ["viewer"]

{extra}
"#
    )
}

/// The default `[mfa]` section: OTP, recovery codes and email, policy never.
pub const MFA_DEFAULT: &str =
    "factors = [\"otp\", \"recovery-code\", \"email\"]\npolicy = \"never\"\ncustomize_with_actions = true";

/// A running `gatehouse serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>/`.
    pub issuer: String,
    /// The bound port.
    pub port: u16,
    /// The temporary folder (config, data, actions).
    pub dir: tempfile::TempDir,
    /// The server's stdout after its listening line.
    lines: Option<std::sync::Mutex<std::sync::mpsc::Receiver<String>>>,
    /// Serves https with `cert.pem`/`key.pem` of its folder.
    tls: bool,
}

impl Server {
    /// Writes `config` and the actions (file name, code) into a temporary folder and starts the server.
    pub fn start(config: &str, actions: &[(&str, &str)]) -> Server {
        let mut server = Server::start_stopped(config, actions);
        server.spawn(None);
        server
    }

    /// Like [`Server::start`], serving https itself (`--tls-cert`/`--tls-key`) with a certificate for 127.0.0.1
    /// from a throwaway CA ([`Server::ca_pem`]), on a free port its `https://` issuer names.
    pub fn start_tls(config: &str, actions: &[(&str, &str)]) -> Server {
        let port = free_port();
        let config = config
            .replace("issuer = \"http://127.0.0.1:0/\"", &format!("issuer = \"https://127.0.0.1:{port}/\""))
            .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
        let mut server = Server::start_stopped(&config, actions);
        test_certificates(server.dir.path());
        server.tls = true;
        server.spawn(None);
        server
    }

    /// Like [`Server::start`], with actions of other triggers too: `(trigger folder, file name, code)`, e.g.
    /// `("pre-user-registration", "10-domain.js", "...")`.
    pub fn start_with_triggers(config: &str, actions: &[(&str, &str, &str)]) -> Server {
        let mut server = Server::start_stopped(config, &[]);
        for (trigger, name, code) in actions {
            let folder = server.dir.path().join("actions").join(trigger);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(name), code).unwrap();
        }
        server.spawn(None);
        server
    }

    /// The newest email in the outbox: its `To`, `Subject` and body.
    pub fn latest_email(&self) -> (String, String, String) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.outbox())
            .expect("outbox exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        let text = std::fs::read_to_string(files.last().expect("an email was sent")).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let header = |name: &str| {
            head.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_default().trim().to_owned()
        };
        (header("To"), header("Subject"), body.to_owned())
    }

    /// How many emails the outbox holds.
    pub fn email_count(&self) -> usize {
        std::fs::read_dir(self.outbox())
            .map(|dir| {
                dir.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))).count()
            })
            .unwrap_or(0)
    }

    fn start_stopped(config: &str, actions: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gatehouse.toml"), config).unwrap();
        let post_login = dir.path().join("actions").join("post-login");
        std::fs::create_dir_all(&post_login).unwrap();
        for (name, code) in actions {
            std::fs::write(post_login.join(name), code).unwrap();
        }
        Server { child: None, issuer: String::new(), port: 0, dir, lines: None, tls: false }
    }

    /// The PEM of the CA that signed a [`Server::start_tls`] server's certificate.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A handle on a server started by the test itself (in-process) at `issuer`: the URL helpers, no process.
    pub fn attach(issuer: &str) -> Server {
        let port = url::Url::parse(issuer).unwrap().port().unwrap();
        Server {
            child: None,
            issuer: issuer.to_owned(),
            port,
            dir: tempfile::tempdir().unwrap(),
            lines: None,
            tls: false,
        }
    }

    /// Replaces the post-login actions and waits until the server announces that it took them (or refused them,
    /// keeping the previous version): its reload poll runs every second.
    pub fn set_actions(&self, actions: &[(&str, &str)]) {
        let lines = self.lines.as_ref().expect("a server this test started").lock().unwrap();
        while lines.try_recv().is_ok() {}
        let post_login = self.dir.path().join("actions").join("post-login");
        // Each file appears whole (written beside the folder, then renamed in, over the file of the same name): the
        // server's reload poll may run between two writes, and must never read half a file. Files left out of the
        // new set go only afterwards: removed first, a poll in between could see an empty folder and take it as
        // the operator's new (empty) flow, which a broken file that follows would then never replace.
        for (name, code) in actions {
            let staged = self.dir.path().join(format!(".staged-{name}"));
            std::fs::write(&staged, code).unwrap();
            std::fs::rename(&staged, post_login.join(name)).unwrap();
        }
        for entry in std::fs::read_dir(&post_login).unwrap() {
            let path = entry.unwrap().path();
            let kept =
                path.file_name().and_then(|n| n.to_str()).is_some_and(|n| actions.iter().any(|(name, _)| *name == n));
            if !kept {
                std::fs::remove_file(path).unwrap();
            }
        }
        // The reload of exactly these files (a poll between two renames announces a partial set), or a refusal.
        let mut names: Vec<&str> = actions.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        let expected = format!("post-login actions reloaded: {}", names.join(", "));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line == expected || line.starts_with("post-login actions not reloaded") => return,
                Ok(_) => {}
                Err(_) => panic!("the server did not announce a reload of the new actions within 30 s ({expected})"),
            }
        }
    }

    /// A repository action file's contents (e.g. `actions/examples/step-up-by-scope.js`).
    pub fn action(path: &str) -> String {
        std::fs::read_to_string(repo_root().join(path)).unwrap()
    }

    fn spawn(&mut self, port: Option<u16>) {
        let mut command = Command::new(gatehouse_bin());
        command.arg("serve").arg("--config").arg(self.dir.path().join("gatehouse.toml"));
        if self.tls {
            command.arg("--tls-cert").arg(self.dir.path().join("cert.pem"));
            command.arg("--tls-key").arg(self.dir.path().join("key.pem"));
        }
        if let Some(port) = port {
            command.arg("--listen").arg(format!("127.0.0.1:{port}"));
            // Same issuer as before the restart.
            let config = std::fs::read_to_string(self.dir.path().join("gatehouse.toml")).unwrap();
            let fixed = config.replace("http://127.0.0.1:0/", &format!("http://127.0.0.1:{port}/"));
            std::fs::write(self.dir.path().join("gatehouse.toml"), fixed).unwrap();
        }
        let (child, issuer, lines) = start_serve(&mut command);
        self.port = url::Url::parse(&issuer).unwrap().port().unwrap();
        self.issuer = issuer;
        self.child = Some(child);
        self.lines = Some(std::sync::Mutex::new(lines));
    }

    /// Kills the server with SIGKILL (no shutdown code runs).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the server again on the same port, data and configuration.
    pub fn restart(&mut self) {
        self.kill9();
        let port = self.port;
        self.spawn(Some(port));
    }

    /// `<issuer><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path.trim_start_matches('/'))
    }

    /// The email outbox folder.
    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("data").join("outbox")
    }

    /// The 6-digit code of the newest email in the outbox.
    pub fn latest_email_code(&self) -> String {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.outbox())
            .expect("outbox exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        let text = std::fs::read_to_string(files.last().expect("an email was sent")).unwrap();
        let at = text.find("code is: ").or_else(|| text.find("確認コード: ")).expect("a code in the email");
        text[at..].chars().filter(|c| c.is_ascii_digit()).take(6).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The hidden inputs of the first form (state, csrf...).
    pub fn hidden(&self) -> HashMap<String, String> {
        hidden_fields(&self.body)
    }

    /// Query parameters of the `Location` header.
    pub fn location_params(&self) -> HashMap<String, String> {
        let location = self.location.as_deref().expect("a redirect");
        url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
    }
}

/// A browser: keeps cookies, does not follow redirects by itself.
pub struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    /// A new browser for a server.
    pub fn new(server: &Server) -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            // No pooled connections: a test may restart the server between two requests of one browser.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Browser { client, base: server.issuer.clone() }
    }

    /// The same browser (its cookies) talking to another server: a load balancer sending the next request of a
    /// login to another process.
    pub fn with_base(&self, base: &str) -> Browser {
        Browser { client: self.client.clone(), base: base.to_owned() }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") { url.to_owned() } else { format!("{}{}", self.base, url.trim_start_matches('/')) }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers.get("location").map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Page { status, location, body, headers }
    }

    /// GET.
    pub async fn get(&self, url: &str) -> Page {
        Self::page(self.client.get(self.absolute(url)).send().await.unwrap()).await
    }

    /// POST a form.
    pub async fn post(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(self.client.post(self.absolute(url)).form(fields).send().await.unwrap()).await
    }

    /// Follows redirects that stay on the server; stops at the first page or at a redirect elsewhere.
    pub async fn follow(&self, mut page: Page) -> Page {
        for _ in 0..10 {
            match &page.location {
                Some(location)
                    if page.status == 302 && (location.starts_with('/') || location.starts_with(&self.base)) =>
                {
                    page = self.get(location).await;
                }
                _ => return page,
            }
        }
        page
    }

    /// When `page` is the email challenge (a user whose only factor is a verified email passes it before enrolling
    /// an authenticator app), enters the newest emailed code; otherwise returns `page` as it is.
    pub async fn pass_email_challenge(&self, server: &Server, page: Page) -> Page {
        if page.body.contains("***@") && page.body.contains("name=\"code\"") {
            return self.submit(&page, "/u/mfa", &[("code", &server.latest_email_code())]).await;
        }
        page
    }

    /// Submits the page's form with its hidden fields plus `fields`.
    pub async fn submit(&self, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
        // Every hosted form carries the transaction's state and CSRF token; other fields come from the caller.
        let hidden = page.hidden();
        let mut all: Vec<(&str, &str)> = hidden
            .iter()
            .filter(|(k, _)| *k == "state" || *k == "csrf")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(fields);
        let answer = self.post(action, &all).await;
        self.follow(answer).await
    }
}

/// The hidden inputs of the first form in `html`.
pub fn hidden_fields(html: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for tag in html.split("<input").skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).map(|i| {
                let rest = &tag[i + key.len()..];
                unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
            })
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.entry(name).or_insert(value);
        }
    }
    fields
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}-{}", std::process::id(), rand_suffix());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{nanos:x}abcdefghijklmnopqrstuvwxyz0123456789")
}

/// The payload of a JWT, unverified (tests verify signatures separately).
pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The TOTP secret in an enrollment page.
pub fn otp_secret(page: &Page) -> String {
    let start =
        page.body.find("class=\"secret\">").expect("the secret on the enrollment page") + "class=\"secret\">".len();
    page.body[start..].split('<').next().unwrap().trim().to_owned()
}

/// The current TOTP code of `secret`, at `offset_steps` steps from now.
pub fn totp(secret: &str, offset_steps: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    gatehouse_auth::crypto::totp::current_code(secret, now + offset_steps * 30).unwrap()
}

/// Runs futures concurrently on the calling task (parallel requests in the attack tests, without a `futures`
/// dependency) and returns their outputs in order.
pub async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).enumerate().collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                outputs[*i] = Some(out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

/// The PostgreSQL the tests use: `GATEHOUSE_TEST_PG_URL`, else the development machines' (trust authentication,
/// database `test`). `scripts/e2e-deps.sh` starts one where none answers.
pub fn test_pg_url() -> String {
    std::env::var("GATEHOUSE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty schema in the test database, as a store URL selecting it (`options=-c search_path=...`): each
/// test gets its own tenant, as with a temporary sled folder. Fails (never skips) when PostgreSQL does not answer.
pub async fn pg_schema() -> String {
    let base = test_pg_url();
    gatehouse_store::create_schema(&base, "gh_e2e_").await.unwrap_or_else(|e| {
        panic!("PostgreSQL does not answer at {base}: {e}; run scripts/e2e-deps.sh (make test does) to start one")
    })
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throwaway CA, and a certificate and key for 127.0.0.1 and localhost signed by it, written as `ca.pem`,
/// `cert.pem` and `key.pem` into `dir`; returns the CA's PEM (for a client to trust).
pub fn test_certificates(dir: &std::path::Path) -> String {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse TLS test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    ca.pem()
}
