//! Published npm packages in actions (issue 14): the versions real Auth0 actions require, installed from the
//! registry by scripts/e2e-deps.sh into tests/npm/node_modules (pinned by tests/npm/package-lock.json), loaded by
//! Gatehouse's resolver and run in the sandbox unmodified: axios through its fetch adapter against a real HTTP
//! server, jsonwebtoken HS256 and RS256, lodash, uuid, ua-parser-js, and the `auth0` package's ManagementClient
//! against Gatehouse's own Management API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gatehouse_tests::{
    MFA_DEFAULT, Server, config, free_port, gatehouse_bin, jwt_payload, m2m_management_token, repo_root,
    web_password_login,
};
use serde_json::{Value, json};

/// tests/npm/node_modules, which scripts/e2e-deps.sh installs.
fn node_modules() -> PathBuf {
    let dir = repo_root().join("tests/npm/node_modules");
    assert!(
        dir.join("axios/package.json").is_file(),
        "tests/npm/node_modules is missing: run scripts/e2e-deps.sh (make test does)"
    );
    dir
}

/// An actions folder whose `node_modules` is the installed packages, as `gatehouse actions install` leaves it.
fn actions_folder(actions: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(node_modules(), dir.path().join("node_modules")).unwrap();
    std::fs::create_dir(dir.path().join("post-login")).unwrap();
    for (name, code) in actions {
        std::fs::write(dir.path().join("post-login").join(name), code).unwrap();
    }
    dir
}

/// A real HTTP server on 127.0.0.1 that echoes what it receives; `/slow` answers after two seconds.
async fn echo_server() -> String {
    use axum::routing::get;
    let echo = |method: http::Method, uri: http::Uri, headers: http::HeaderMap, body: String| async move {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        axum::Json(json!({
            "method": method.as_str(),
            "path": uri.to_string(),
            "content_type": header("content-type"),
            "x_test": header("x-test"),
            "body": body,
        }))
    };
    let app = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        )
        .fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// An RSA key pair as PEM (PKCS#8, SPKI), made by openssl (installed by scripts/e2e-deps.sh).
fn rsa_pem(dir: &Path) -> (String, String) {
    let key = dir.join("key.pem");
    let status = Command::new("openssl").args(["genrsa", "-out"]).arg(&key).arg("2048").output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let public = Command::new("openssl").args(["rsa", "-pubout", "-in"]).arg(&key).output().unwrap();
    assert!(public.status.success());
    (std::fs::read_to_string(&key).unwrap(), String::from_utf8(public.stdout).unwrap())
}

const PACKAGES: &str = r#"
const _ = require('lodash');
const { v4: uuidv4, validate } = require('uuid');
const UAParser = require('ua-parser-js');
const jwt = require('jsonwebtoken');

exports.onExecutePostLogin = async (event, api) => {
  const ua = new UAParser(event.request.user_agent).getResult();
  api.idToken.setCustomClaim('browser', `${ua.browser.name} ${ua.browser.major} on ${ua.os.name}`);
  api.idToken.setCustomClaim('uuid_valid', validate(uuidv4()));
  api.idToken.setCustomClaim('lodash', _.chain(event.user.app_metadata.roles).map(_.upperFirst).sortBy().join(',').value());

  const hs = jwt.sign({ sub: event.user.user_id, aud: 'partner' }, event.secrets.HS_SECRET, { expiresIn: '5m' });
  const decoded = jwt.verify(hs, event.secrets.HS_SECRET, { audience: 'partner' });
  let wrongSecret;
  try { jwt.verify(hs, 'another-secret'); } catch (e) { wrongSecret = `${e.name}: ${e.message}`; }

  const rs = jwt.sign({ sub: event.user.user_id }, event.secrets.RSA_PRIVATE, { algorithm: 'RS256', keyid: 'k1', expiresIn: 60 });
  const header = jwt.decode(rs, { complete: true }).header;
  const verified = jwt.verify(rs, event.secrets.RSA_PUBLIC, { algorithms: ['RS256'] });
  let tampered;
  try { jwt.verify(rs.slice(0, -4) + 'AAAA', event.secrets.RSA_PUBLIC); } catch (e) { tampered = e.message; }
  let expired;
  try { jwt.verify(jwt.sign({ exp: 1 }, event.secrets.HS_SECRET), event.secrets.HS_SECRET); } catch (e) { expired = e.name; }
  api.idToken.setCustomClaim('jwt', {
    hs256: decoded.sub, wrongSecret, rs256: verified.sub, header, tampered, expired,
  });
};
"#;

const AXIOS: &str = r#"
const axios = require('axios');

exports.onExecutePostLogin = async (event, api) => {
  const base = event.secrets.ECHO;
  const got = await axios.get(`${base}/users`, { params: { q: 'jane doe' }, headers: { 'X-Test': 'get' } });
  const posted = await axios.post(`${base}/events`, { user: event.user.user_id, n: 1 });
  const client = axios.create({ baseURL: base, timeout: 2000, headers: { 'X-Test': 'instance' } });
  const form = await client.post('/form', new URLSearchParams({ a: '1', b: 'two words' }));
  let timeout;
  try { await client.get('/slow', { timeout: 300 }); } catch (e) { timeout = e.code; }
  let aborted;
  try { await fetch(`${base}/slow`, { signal: AbortSignal.timeout(200) }); } catch (e) { aborted = e.name; }
  api.idToken.setCustomClaim('axios', {
    get: got.data, status: got.status, posted: posted.data, form: form.data, timeout, aborted,
  });
};
"#;

/// `gatehouse run` over actions that require lodash, uuid, ua-parser-js, jsonwebtoken (HS256 and RS256) and axios
/// (GET, POST, an instance, a timeout) against a real HTTP server: every package runs unmodified.
#[tokio::test]
async fn published_packages_run_unmodified_in_actions() {
    let echo = echo_server().await;
    let dir = actions_folder(&[("10-packages.js", PACKAGES), ("20-axios.js", AXIOS)]);
    let (private, public) = rsa_pem(dir.path());
    let secrets = json!({ "HS_SECRET": "a-shared-secret-of-32-characters!", "RSA_PRIVATE": private, "RSA_PUBLIC": public, "ECHO": echo });
    std::fs::write(dir.path().join("secrets.json"), secrets.to_string()).unwrap();
    let event = json!({
        "user": { "user_id": "auth0|jane", "app_metadata": { "roles": ["writer", "admin"] } },
        "request": { "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36" }
    });
    std::fs::write(dir.path().join("event.json"), event.to_string()).unwrap();
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || {
            Command::new(gatehouse_bin())
                .current_dir(&dir)
                .args(["run", "--actions", "post-login", "--event", "event.json", "--secrets", "secrets.json"])
                .arg("--allow-private-networks")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["result"], "allow", "{outcome:#}");
    let claims = &outcome["id_token_claims"];
    assert_eq!(claims["browser"], "Chrome 120 on Windows");
    assert_eq!(claims["uuid_valid"], true, "{outcome:#}");
    assert_eq!(claims["lodash"], "Admin,Writer");

    let jwt = &claims["jwt"];
    assert_eq!(jwt["hs256"], "auth0|jane");
    assert_eq!(jwt["wrongSecret"], "JsonWebTokenError: invalid signature");
    assert_eq!(jwt["rs256"], "auth0|jane");
    assert_eq!(jwt["header"], json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" }));
    assert_eq!(jwt["tampered"], "invalid signature");
    assert_eq!(jwt["expired"], "TokenExpiredError");

    let axios = &claims["axios"];
    assert_eq!(axios["status"], 200);
    assert_eq!(axios["get"]["path"], "/users?q=jane+doe");
    assert_eq!(axios["get"]["x_test"], "get");
    assert_eq!(axios["posted"]["method"], "POST");
    assert_eq!(axios["posted"]["content_type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(axios["posted"]["body"].as_str().unwrap()).unwrap(),
        json!({ "user": "auth0|jane", "n": 1 })
    );
    assert_eq!(axios["form"]["body"], "a=1&b=two+words");
    assert_eq!(axios["form"]["x_test"], "instance");
    assert!(axios["form"]["content_type"].as_str().unwrap().starts_with("application/x-www-form-urlencoded"));
    assert_eq!(axios["timeout"], "ETIMEDOUT");
    assert_eq!(axios["aborted"], "TimeoutError");
}

/// The `auth0` package's ManagementClient in an action, as Auth0's docs show it (the client credentials in the
/// action's secrets), updates the user's metadata through Gatehouse's own Management API while the user logs in.
/// Its token request runs the credentials-exchange actions with the server out of their reach, so actions never
/// chain; every other route of its own server stays refused to an action.
#[tokio::test]
async fn the_auth0_management_client_updates_a_user_through_gatehouses_management_api() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/");
    let extra = format!(
        "[[client_grants]]\nclient_id = \"test-m2m\"\naudience = \"{issuer}api/v2/\"\nscopes = [\"read:users\", \"update:users\"]\n\n\
         [secrets]\nDOMAIN = \"127.0.0.1:{port}\"\nCLIENT_ID = \"test-m2m\"\nCLIENT_SECRET = \"test-m2m-secret-0123456789\"\n"
    );
    let text = config(MFA_DEFAULT, &extra).replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let server = Server::start(&text, &[]);
    let actions = server.dir.path().join("actions");
    std::os::unix::fs::symlink(node_modules(), actions.join("node_modules")).unwrap();
    // A credentials-exchange action that tries to reach its server from a request an action made.
    std::fs::create_dir_all(actions.join("credentials-exchange")).unwrap();
    std::fs::write(
        actions.join("credentials-exchange/10-nested.js"),
        r#"exports.onExecuteCredentialsExchange = async (event, api) => {
  let nested = 'reached';
  try { await fetch(`http://${event.secrets.DOMAIN}/api/v2/users`); } catch (e) { nested = e.message; }
  api.accessToken.setCustomClaim('https://gatehouse.test/nested', nested);
};"#,
    )
    .unwrap();
    let action = r#"
const { ManagementClient } = require('auth0');

exports.onExecutePostLogin = async (event, api) => {
  const management = new ManagementClient({
    domain: event.secrets.DOMAIN,
    clientId: event.secrets.CLIENT_ID,
    clientSecret: event.secrets.CLIENT_SECRET,
    // The SDK builds https:// URLs and audience; this test server speaks plain http on 127.0.0.1.
    audience: `http://${event.secrets.DOMAIN}/api/v2/`,
    fetch: (url, init) => fetch(String(url).replace(/^https:/, 'http:'), init),
  });
  await management.users.update({ id: event.user.user_id }, { user_metadata: { favourite_colour: 'teal' } });
  const { data } = await management.users.get({ id: event.user.user_id });
  api.idToken.setCustomClaim('https://gatehouse.test/colour', data.user_metadata.favourite_colour);

  // What the token's credentials-exchange action met when it tried to reach the server.
  const token = await fetch(`http://${event.secrets.DOMAIN}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: event.secrets.CLIENT_ID,
      client_secret: event.secrets.CLIENT_SECRET, audience: `http://${event.secrets.DOMAIN}/api/v2/` }),
  }).then((r) => r.json());
  const claims = JSON.parse(Buffer.from(token.access_token.split('.')[1], 'base64url').toString());
  api.idToken.setCustomClaim('https://gatehouse.test/nested', claims['https://gatehouse.test/nested']);

  // A login inside a login stays refused.
  const password = await fetch(`http://${event.secrets.DOMAIN}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: 'test-web', username: 'jane@example.com', password: 'x' }),
  });
  let authorize;
  try { await fetch(`http://${event.secrets.DOMAIN}/authorize?client_id=test-spa`); } catch (e) { authorize = e.message; }
  api.idToken.setCustomClaim('https://gatehouse.test/refused', [password.status, authorize]);
};
"#;
    server.set_actions(&[("10-management.js", action)]);

    let http = reqwest::Client::new();
    let (status, body) = web_password_login(&http, &server, "jane@example.com", "correct-horse-battery").await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_payload(body["id_token"].as_str().unwrap());
    assert_eq!(claims["https://gatehouse.test/colour"], "teal");
    let nested = claims["https://gatehouse.test/nested"].as_str().unwrap();
    assert!(nested.contains("not allowed"), "{nested}");
    let refused = &claims["https://gatehouse.test/refused"];
    assert_eq!(refused[0], 508, "the server refuses any other grant from an action");
    assert!(refused[1].as_str().unwrap().contains("are not allowed"), "other routes never leave the host: {refused}");

    // The change is in the store, as the Management API shows it.
    let token = m2m_management_token(&http, &server).await;
    let users: Value = http
        .get(server.url("api/v2/users-by-email?email=jane%40example.com"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users[0]["user_metadata"]["favourite_colour"], "teal", "{users}");
}
