//! End-to-end: what a hostile action file cannot do to the host (issue 8): crash it with deeply nested source,
//! close the function it runs in, or grow responses, logs and the store with a huge deny reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{
    Browser, MFA_DEFAULT, Server, config, gatehouse_bin, join_all, pkce, post_login_flow, run_request, sandbox_config,
};

const ALLOW: &str = "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://gatehouse.test/ok', true); };";

fn authorize(server: &Server) -> String {
    let (_, challenge) = pkce();
    server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri=https%3A%2F%2Fspa.example.com%2Fcallback&scope=openid&state=s1&code_challenge={challenge}&code_challenge_method=S256"
    ))
}

async fn login(server: &Server) -> gatehouse_tests::Page {
    let browser = Browser::new(server);
    let page = browser.follow(browser.get(&authorize(server)).await).await;
    browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")]).await
}

/// 100,000 nested brackets, parentheses and blocks (left open: closed, they would pass the 100 KB file limit,
/// which is checked first), 10,000 arrows and 100,000 negations, dropped into a running server's actions folder:
/// the reload refuses them with file:line, the server keeps serving the last good flow.
#[tokio::test]
async fn deeply_nested_action_files_never_crash_the_server() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-allow.js", ALLOW)]);
    let depth = 100_000;
    let shapes = [
        format!("exports.x = {}", "[".repeat(depth)),
        format!("exports.x = {}1", "(".repeat(depth)),
        "{".repeat(depth),
        format!("exports.x = {}1;", "x => ".repeat(depth / 10)),
        format!("exports.x = {}1;", "!".repeat(depth)),
    ];
    for shape in &shapes {
        server.set_actions(&[("10-allow.js", ALLOW), ("20-deep.js", shape)]);
        let page = login(&server).await;
        assert_eq!(page.status, 302, "the server still logs users in with the last good flow: {}", page.body);
        assert!(page.location.as_deref().unwrap().contains("code="), "{:?}", page.location);
    }
}

/// `gatehouse run` on a nested file answers with the file and line, and exits 1, never 134 (abort).
#[test]
fn gatehouse_run_refuses_deep_nesting_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for depth in [300usize, 100_000] {
        let file = dir.path().join(format!("deep-{depth}.js"));
        // Depth 300 closed; depth 100,000 left open (closed it would exceed the 100 KB file limit).
        let code = if depth < 1000 {
            format!("exports.x = {}{};", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("exports.x = {}", "[".repeat(depth))
        };
        std::fs::write(&file, code).unwrap();
        let output = Command::new(gatehouse_bin()).arg("run").arg("--actions").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "depth {depth}: {stderr}");
        assert!(stderr.contains(&format!("deep-{depth}.js:1:")), "{stderr}");
        assert!(stderr.contains("nested more than"), "{stderr}");
    }
}

/// A file that closes the CommonJS wrapper itself is refused at load and at hot reload; its module-level state can
/// never outlive a login.
#[tokio::test]
async fn an_action_that_closes_its_wrapper_is_refused() {
    let break_out = "exports.onExecutePostLogin = async () => {};\n});\nlet __seen = [];\n(function (exports, require, module, __filename, __dirname) {\nexports.onExecutePostLogin = async (event, api) => { __seen.push(event.user.email); api.idToken.setCustomClaim('https://gatehouse.test/seen', __seen.join(',')); };";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("break-out.js");
    std::fs::write(&file, break_out).unwrap();
    let output = Command::new(gatehouse_bin()).arg("run").arg("--actions").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("closes the function it runs in"), "{stderr}");

    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-allow.js", ALLOW)]);
    server.set_actions(&[("10-break-out.js", break_out)]);
    for _ in 0..2 {
        let page = login(&server).await;
        assert_eq!(page.status, 302, "{}", page.body);
        assert!(page.location.as_deref().unwrap().contains("code="), "the last good flow runs: {:?}", page.location);
    }
}

/// A 2 MB deny reason reaches the application, the log and the store cut to 1,024 characters.
#[tokio::test]
async fn a_huge_deny_reason_is_cut() {
    let deny = "exports.onExecutePostLogin = async (event, api) => { api.access.deny('x'.repeat(2_000_000)); };";
    let server = Server::start(&config(MFA_DEFAULT, ""), &[("10-deny.js", deny)]);
    let page = login(&server).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let params = page.location_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["error_description"].len(), 1024);
    let thrown = "exports.onExecutePostLogin = async () => { throw new Error('y'.repeat(2_000_000)); };";
    server.set_actions(&[("10-throw.js", thrown)]);
    let page = login(&server).await;
    let description = &page.location_params()["error_description"];
    assert!(description.len() <= 1024 && description.starts_with("Error: yyy"), "{}", description.len());
}

/// A local HTTP server that counts requests: it answers `ok` after `delay`, or redirects to `redirect`.
async fn local_server(
    bind: &str,
    delay: std::time::Duration,
    redirect: Option<String>,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let redirect = redirect.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                tokio::time::sleep(delay).await;
                let answer = match redirect {
                    Some(to) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    None => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned(),
                };
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

/// An action that fetches each URL of `urls` and puts what happened in an ID token claim.
fn probing_action(urls: &[String]) -> String {
    format!(
        r#"exports.onExecutePostLogin = async (event, api) => {{
  const urls = {};
  const results = [];
  for (const url of urls) {{
    try {{ const r = await fetch(url); results.push(url + ' ' + r.status); }}
    catch (e) {{ results.push(url + ' refused: ' + e.message); }}
  }}
  api.idToken.setCustomClaim('https://gatehouse.test/probes', results);
}};"#,
        serde_json::to_string(urls).unwrap()
    )
}

/// `fetch` from actions refuses the server itself, loopback, private and link-local addresses (after DNS
/// resolution, for IP literals and on redirects) unless `[outbound]` allows them; the server's own address stays
/// refused even then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_cannot_reach_the_server_or_the_local_network() {
    let (canary, hits) = local_server("127.0.0.1:0", std::time::Duration::ZERO, None).await;
    let (redirector, _) =
        local_server("127.0.0.2:0", std::time::Duration::ZERO, Some(format!("http://127.0.0.1:{canary}/"))).await;
    let probes = |issuer: &str| {
        vec![
            format!("http://127.0.0.1:{canary}/"),
            format!("http://localhost:{canary}/"),
            format!("http://[::1]:{canary}/"),
            format!("http://[::ffff:127.0.0.1]:{canary}/"),
            format!("http://0.0.0.0:{canary}/"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            format!("{issuer}.well-known/openid-configuration"),
            format!("http://127.0.0.2:{redirector}/"),
        ]
    };
    // The redirector is allowed by name; where it sends the request is not.
    let extra = "[outbound]\nallow_hosts = [\"127.0.0.2\"]";
    let mut server = Server::start(&config(MFA_DEFAULT, extra), &[]);
    server.set_actions(&[("10-probe.js", &probing_action(&probes(&server.issuer)))]);
    let probes_seen = outcome_claim(&mut server).await;
    let lines: Vec<&str> = probes_seen.iter().map(|v| v.as_str().unwrap()).collect();
    for line in &lines[..7] {
        assert!(line.contains("refused: ") && line.contains("not allowed"), "{line}");
    }
    assert!(lines[7].contains("refused: ") && lines[7].contains("127.0.0.1"), "the redirect: {}", lines[7]);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing reached the local server");

    // An operator who allows private networks reaches the local server, but never the server itself.
    let (canary, hits) = local_server("127.0.0.1:0", std::time::Duration::ZERO, None).await;
    let mut open = Server::start(&config(MFA_DEFAULT, "[outbound]\nallow_private_networks = true"), &[]);
    // A server elsewhere on the network that redirects back to this one by name.
    let (bouncer, _) = local_server(
        "127.0.0.1:0",
        std::time::Duration::ZERO,
        Some(format!("http://localhost:{}/.well-known/openid-configuration", open.port)),
    )
    .await;
    let urls = vec![
        format!("http://127.0.0.1:{canary}/"),
        format!("{}.well-known/openid-configuration", open.issuer),
        // By a name that resolves to it: the connection is made, and the server refuses its own action's request.
        format!("http://localhost:{}/.well-known/openid-configuration", open.port),
        // Through a redirect: the Via header follows, and is refused the same way.
        format!("http://127.0.0.1:{bouncer}/"),
    ];
    open.set_actions(&[("10-probe.js", &probing_action(&urls))]);
    let seen = outcome_claim(&mut open).await;
    assert!(seen[0].as_str().unwrap().ends_with(" 200"), "{seen:?}");
    assert!(seen[1].as_str().unwrap().contains("refused: "), "the server's own address: {seen:?}");
    assert!(seen[2].as_str().unwrap().ends_with(" 508"), "the server by another name: {seen:?}");
    assert!(seen[3].as_str().unwrap().ends_with(" 508"), "the server through a redirect: {seen:?}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// One execution holds at most 8 requests in flight; more are refused at once rather than queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_per_execution_are_capped() {
    let (slow, hits) = local_server("127.0.0.1:0", std::time::Duration::from_millis(300), None).await;
    let action = format!(
        r#"exports.onExecutePostLogin = async (event, api) => {{
  const all = await Promise.allSettled(Array.from({{ length: 20 }}, () => fetch('http://127.0.0.1:{slow}/')));
  api.idToken.setCustomClaim('https://gatehouse.test/probes', all.map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.message));
}};"#
    );
    let mut server = Server::start(&config(MFA_DEFAULT, "[outbound]\nallow_private_networks = true"), &[]);
    server.set_actions(&[("10-many.js", &action)]);
    let seen = outcome_claim(&mut server).await;
    let ok = seen.iter().filter(|v| *v == "ok").count();
    let refused = seen.iter().filter(|v| v.as_str().unwrap().contains("too many requests in flight")).count();
    assert_eq!((ok, refused), (8, 12), "{seen:?}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 8);
}

/// Logs jane in through test-spa with PKCE and returns the `https://gatehouse.test/probes` claim of her ID token.
async fn outcome_claim(server: &mut Server) -> Vec<serde_json::Value> {
    let browser = Browser::new(server);
    let (verifier, challenge) = pkce();
    let url = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri=https%3A%2F%2Fspa.example.com%2Fcallback&scope=openid&state=app-state&code_challenge={challenge}&code_challenge_method=S256"
    ));
    let page = browser.follow(browser.get(&url).await).await;
    let page = browser
        .submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", "correct-horse-battery")])
        .await;
    let code = gatehouse_tests::callback_code(&page);
    let tokens = gatehouse_tests::exchange_code(server, &code, &verifier).await;
    let id = gatehouse_tests::jwt_payload(tokens["id_token"].as_str().unwrap());
    id["https://gatehouse.test/probes"].as_array().cloned().unwrap_or_else(|| panic!("no probes claim: {id}"))
}

/// 24 logins of one user whose action hangs (until the 8 s limit) cannot starve another user: that user holds at
/// most two workers, so jane's login, started once the hanging ones run, finishes before any of them does. (The
/// action waits rather than spins, so the test measures workers, not the two CPU cores.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_running_away_cannot_starve_another() {
    use std::sync::atomic::Ordering;
    let (canary, running) = local_server("127.0.0.1:0", std::time::Duration::ZERO, None).await;
    let runaway = format!(
        "exports.onExecutePostLogin = async (event) => {{\n  if (event.user.email === 'taro@example.com') {{\n    await fetch('http://127.0.0.1:{canary}/');\n    await new Promise((resolve) => setTimeout(resolve, 60000));\n  }}\n}};"
    );
    // 24 logins of one user from one IP at once would otherwise trip the brute-force reservation (each attempt is
    // counted before its password is checked).
    let extra = "[outbound]\nallow_private_networks = true\n\n[actions]\ntimeout_ms = 8000\n\n[attack_protection]\nmax_attempts = 100";
    let server = Server::start(&config(MFA_DEFAULT, extra), &[("10-runaway.js", &runaway)]);
    let finished = std::sync::Mutex::new(Vec::new());
    let taro_logins = (0..24).map(|_| {
        let (server, finished) = (&server, &finished);
        async move {
            let browser = Browser::new(server);
            let page = browser.follow(browser.get(&authorize(server)).await).await;
            let page = browser
                .submit(&page, "/u/login", &[("email", "taro@example.com"), ("password", "correct-horse-battery")])
                .await;
            finished.lock().unwrap().push(std::time::Instant::now());
            page
        }
    });
    let jane = async {
        // Once taro's actions are running (they report in before looping), jane logs in.
        while running.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let page = login(&server).await;
        (std::time::Instant::now(), page)
    };
    let (taro_pages, (jane_done, jane_page)) = tokio::join!(join_all(taro_logins), jane);
    assert_eq!(jane_page.status, 302, "{}", jane_page.body);
    assert!(jane_page.location.as_deref().unwrap().contains("code="), "{:?}", jane_page.location);
    let first_taro = *finished.lock().unwrap().iter().min().unwrap();
    assert!(
        jane_done < first_taro,
        "jane waited for taro's hanging logins: jane done {:?} before the first of taro's",
        first_taro.saturating_duration_since(jane_done)
    );
    for page in &taro_pages {
        let params = page.location_params();
        assert_eq!(params["error"], "access_denied", "{params:?}");
    }
    assert!(running.load(Ordering::SeqCst) <= 24);
}

/// A challenge whose factor the login already completed is skipped (reference 4.3) without a sandbox run of its
/// own: the worker goes on to the next action, and the login ends exactly as when each skip cost a run. A challenge
/// of a factor not yet completed still pauses.
#[tokio::test]
async fn a_challenge_already_satisfied_costs_no_run_of_its_own() {
    use gatehouse_engine::fixture::{StubIo, build_event};
    use gatehouse_engine::flow::{Completion, FlowRunner, FlowSettings, MemoryCache, Step};
    use gatehouse_engine::sandbox::Sandbox;
    use gatehouse_types::{FactorType, FlowResult};

    let action = |body: &str| format!("exports.onExecutePostLogin = async (event, api) => {{ {body} }};");
    let flow = post_login_flow(&[
        &action("api.authentication.challengeWith({ type: 'otp' });"),
        &action(
            "api.idToken.setCustomClaim('two', event.authentication.methods.length); \
             api.authentication.challengeWith({ type: 'email' }, { additionalFactors: [{ type: 'otp' }] });",
        ),
        &action("api.idToken.setCustomClaim('three', true); api.authentication.challengeWith({ type: 'phone' });"),
        &action("api.idToken.setCustomClaim('four', true);"),
    ]);
    let sandbox = Sandbox::new(sandbox_config(1));
    let event = build_event(
        &serde_json::json!({ "user": { "enrolledFactors": [{ "type": "otp" }, { "type": "email" }, { "type": "phone" }] } }),
        &Default::default(),
    )
    .unwrap();
    let (io, cache) = (StubIo::new(Vec::new()), MemoryCache::default());
    let settings = FlowSettings::default();
    let runner = FlowRunner { flow: &flow, settings: &settings, sandbox: &sandbox, io: &io, cache: &cache };

    let step = runner.start(event).await;
    let Step::Paused(paused) = step else { panic!("otp is asked first") };
    assert_eq!(sandbox.runs_started(), 1);
    // otp done: action 2's challenge is satisfied by it, so the same run goes on to action 3, which asks for phone.
    let step = runner.resume(*paused, Completion::Factor(FactorType::Otp)).await.unwrap();
    let Step::Paused(paused) = step else { panic!("phone is asked by action 3") };
    assert_eq!(paused.prompt().unwrap().action, "2.js");
    assert_eq!(sandbox.runs_started(), 2, "actions 2 and 3 ran in one run");
    let Step::Done(outcome) = runner.resume(*paused, Completion::Factor(FactorType::Phone)).await.unwrap() else {
        panic!("the flow ends after action 4")
    };
    assert_eq!(sandbox.runs_started(), 3);
    assert_eq!(outcome.result, FlowResult::Allow, "{:?}", outcome.reason);
    let claims = &outcome.id_token_claims;
    // Action 2 saw the otp method the first prompt added (the default event has one pwd method).
    assert_eq!(
        (claims["two"].clone(), claims["three"].clone(), claims["four"].clone()),
        (2.into(), true.into(), true.into())
    );
    let prompts: Vec<_> = outcome.prompts.iter().map(|p| (p.action.as_str(), p.completed_with.as_deref())).collect();
    assert_eq!(prompts, [("0.js", Some("otp")), ("2.js", Some("phone"))]);
}

/// When a run fails, the host names the action that was running: the worker writes which one to its progress file
/// (no frame per action), and the host reads it after a deadline, a crash or the memory limit.
#[tokio::test]
async fn a_failed_run_names_the_action_that_was_running() {
    use gatehouse_engine::fixture::StubIo;
    use gatehouse_engine::sandbox::{Limits, Sandbox, SandboxFailure};

    let sandbox = Sandbox::new(sandbox_config(1));
    let limits = Limits { timeout: std::time::Duration::from_secs(2), memory_mb: 64 };
    let quick = "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('x', 1); };";
    let run = |last: &str| run_request(post_login_flow(&[quick, quick, quick, last]));
    let io = StubIo::new(Vec::new());
    let spin = "exports.onExecutePostLogin = async () => { for (;;) {} };";
    let bomb =
        "exports.onExecutePostLogin = async () => { const a = []; for (;;) a.push('x'.repeat(1 << 16) + a.length); };";
    for (code, expected) in [(spin, "Timeout"), (bomb, "Memory"), (spin, "Timeout"), (quick, "ok")] {
        let output = sandbox.run(run(code), limits, &io).await;
        match (&output.report, expected) {
            (Err(SandboxFailure::Timeout { .. }), "Timeout") | (Err(SandboxFailure::Memory { .. }), "Memory") => {
                assert_eq!(output.last_started, Some(3), "{expected}: the fourth action was running");
            }
            (Ok(report), "ok") => assert_eq!(report.actions.len(), 4),
            (other, _) => panic!("{expected}: {other:?}"),
        }
    }
}

/// A worker is not trusted to say which action it is in: a worker (here a stand-in that speaks the protocol, then
/// dies) that claims action 10^15 in a frame and in its progress file, with a valid check, is ignored, and the
/// failure is put on the run's first action. Taken at its word, the host would list 10^15 actions as run.
#[tokio::test]
async fn a_worker_cannot_name_an_action_outside_the_run() {
    use gatehouse_engine::fixture::StubIo;
    use gatehouse_engine::sandbox::{Limits, Sandbox, SandboxConfig, SandboxFailure};

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lying-worker.py");
    std::fs::write(
        &script,
        r#"import json, struct, sys
def send(message):
    body = json.dumps(message).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
    sys.stdout.buffer.flush()
args = sys.argv[1:]
progress = open(args[args.index("--progress-file") + 1], "r+b")
send({"type": "ready", "data": {"pid": 1}})
length = struct.unpack(">I", sys.stdin.buffer.read(4))[0]
# A run request's event text follows its JSON in the frame.
run_id = json.JSONDecoder().raw_decode(sys.stdin.buffer.read(length).decode())[0]["data"]["run_id"]
index, mask = 10**15, (1 << 64) - 1
check = run_id ^ (((index << 32) | (index >> 32)) & mask) ^ 0x9E3779B97F4A7C15
progress.write(struct.pack("<QQQ", run_id, index, check))
progress.flush()
send({"type": "action_started", "data": {"run_id": run_id, "index": index}})
sys.exit(3)
"#,
    )
    .unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        program: "python3".into(),
        args: vec![script.display().to_string()],
        ..sandbox_config(1)
    });
    let request = run_request(post_login_flow(&["exports.onExecutePostLogin = async () => {};"; 2]));
    let limits = Limits { timeout: std::time::Duration::from_secs(10), memory_mb: 64 };
    let output = sandbox.run(request, limits, &StubIo::new(Vec::new())).await;
    assert!(matches!(output.report, Err(SandboxFailure::Crashed(_))), "{:?}", output.report);
    assert_eq!(output.last_started, Some(0));
}

/// A worker reads its stdin on the thread that runs the actions (no reading thread): a request's answer that comes
/// while the run waits for a timer ends that wait, the timers still fire around it, and the next login on the same
/// worker finds the pipe as it should.
#[tokio::test]
async fn a_worker_waits_for_timers_and_answers_on_one_thread() {
    use gatehouse_engine::fixture::{HttpStub, StubIo, build_event};
    use gatehouse_engine::flow::{FlowRunner, FlowSettings, MemoryCache, Step};
    use gatehouse_engine::sandbox::Sandbox;
    use gatehouse_types::FlowResult;

    let flow = post_login_flow(&[r#"exports.onExecutePostLogin = async (event, api) => {
  let ticks = 0;
  const tick = setInterval(() => { ticks += 1; }, 2);
  const started = Date.now();
  const [response] = await Promise.all([
    fetch('https://provider.example/slow'),
    new Promise((resolve) => setTimeout(resolve, 10)),
  ]);
  const text = await response.text();
  clearInterval(tick);
  await new Promise((resolve) => setTimeout(resolve, 5));
  api.idToken.setCustomClaim('status', response.status);
  api.idToken.setCustomClaim('body', text);
  api.idToken.setCustomClaim('waited', Date.now() - started >= 40);
  api.idToken.setCustomClaim('ticked', ticks >= 5);
  api.idToken.setCustomClaim('email', event.user.email);
};"#]);
    let sandbox = Sandbox::new(sandbox_config(1));
    let stub: HttpStub = serde_json::from_value(serde_json::json!({
        "url": "https://provider.example/slow", "status": 201, "body": "late", "delay_ms": 40
    }))
    .unwrap();
    let (io, cache, settings) = (StubIo::new(vec![stub]), MemoryCache::default(), FlowSettings::default());
    let runner = FlowRunner { flow: &flow, settings: &settings, sandbox: &sandbox, io: &io, cache: &cache };
    for email in ["first@example.com", "second@example.com"] {
        let event = build_event(&serde_json::json!({ "user": { "email": email } }), &Default::default()).unwrap();
        let Step::Done(outcome) = runner.start(event).await else { panic!("the action does not pause") };
        assert_eq!(outcome.result, FlowResult::Allow, "{:?}", outcome.reason);
        let claims = &outcome.id_token_claims;
        let seen =
            serde_json::json!([claims["status"], claims["body"], claims["waited"], claims["ticked"], claims["email"]]);
        assert_eq!(seen, serde_json::json!([201, "late", true, true, email]));
    }
    assert_eq!(sandbox.runs_started(), 2);
    assert_eq!(sandbox.idle_worker_pids().len(), 1, "one worker served both logins");
}

/// The host never stops reading a worker while it writes to it: an action that floods the host with requests (the
/// refusals past the cap come back at once) and then with log lines, without yielding, would otherwise fill both
/// pipes, each side waiting for the other to read, until the deadline killed a run that had done nothing wrong.
#[tokio::test]
async fn a_worker_that_does_not_read_while_it_writes_cannot_stall_the_host() {
    use gatehouse_engine::fixture::StubIo;
    use gatehouse_engine::sandbox::{Limits, Sandbox};

    let flood = "exports.onExecutePostLogin = async (event, api) => {
  for (let i = 0; i < 3000; i++) fetch('https://provider.example/' + i).catch(() => {});
  for (let i = 0; i < 3000; i++) console.log('line ' + i + ' ' + 'x'.repeat(100));
  api.idToken.setCustomClaim('done', true);
};";
    let sandbox = Sandbox::new(sandbox_config(1));
    let limits = Limits { timeout: std::time::Duration::from_secs(10), memory_mb: 128 };
    let request = run_request(post_login_flow(&[flood]));
    let started = std::time::Instant::now();
    let output = sandbox.run(request, limits, &StubIo::new(Vec::new())).await;
    let report = output.report.expect("the run ends on its own, not at the deadline");
    assert_eq!(report.actions.len(), 1);
    assert_eq!(report.actions[0].error, None);
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "{:?}", started.elapsed());
}

/// A stand-in worker (`python3`) whose first process dies as `first` says, and whose later ones are the real
/// worker. Every process start is one line of `starts.log` in `dir`.
fn dying_first_worker(dir: &std::path::Path, first: &str) -> gatehouse_engine::sandbox::SandboxConfig {
    let script = dir.join("dying-first-worker.py");
    let code = r#"import json, os, struct, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "starts.log"), "a") as log:
    log.write("start\n")
    count = log.tell() // len("start\n")
args = sys.argv[2:]
if count > 1:
    os.execv(sys.argv[1], [sys.argv[1]] + args)
def send(message):
    body = json.dumps(message).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
    sys.stdout.buffer.flush()
progress = open(args[args.index("--progress-file") + 1], "r+b")
send({"type": "ready", "data": {"pid": os.getpid()}})
length = struct.unpack(">I", sys.stdin.buffer.read(4))[0]
request = json.JSONDecoder().raw_decode(sys.stdin.buffer.read(length).decode())[0]["data"]
if FIRST == "took it up":
    run_id, index, mask = request["run_id"], request["start"], (1 << 64) - 1
    check = run_id ^ (((index << 32) | (index >> 32)) & mask) ^ 0x9E3779B97F4A7C15
    progress.write(struct.pack("<QQQ", run_id, index, check))
    progress.flush()
sys.exit(1)
"#
    .replace("FIRST", &format!("{first:?}"));
    std::fs::write(&script, code).unwrap();
    let real = sandbox_config(2);
    let mut args = vec![script.display().to_string(), real.program.display().to_string()];
    args.extend(real.args.iter().cloned());
    gatehouse_engine::sandbox::SandboxConfig { program: "python3".into(), args, ..real }
}

/// A worker can die between two runs (while it resets after its report, or killed from outside) and still be
/// taken for the next one. When its progress file shows that it never took that run up, none of the run's code ran,
/// and the run goes to another worker: the login does not fail, and its action runs once.
#[tokio::test]
async fn a_worker_that_dies_before_it_takes_up_a_run_costs_the_run_nothing() {
    use gatehouse_engine::fixture::StubIo;
    use gatehouse_engine::sandbox::{Limits, Sandbox};

    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(dying_first_worker(dir.path(), "died before"));
    let action = "exports.onExecutePostLogin = async (event, api) => {
  console.log('ran');
  api.idToken.setCustomClaim('ran', true);
};";
    let request = run_request(post_login_flow(&[action]));
    let limits = Limits { timeout: std::time::Duration::from_secs(10), memory_mb: 64 };
    let output = sandbox.run(request, limits, &StubIo::new(Vec::new())).await;
    let report = output.report.expect("the run went to another worker");
    assert_eq!(report.actions.len(), 1);
    assert_eq!(report.actions[0].error, None);
    assert_eq!(output.logs.iter().map(|(_, _, line)| line.as_str()).collect::<Vec<_>>(), ["ran"], "ran once");
    assert_eq!(std::fs::read_to_string(dir.path().join("starts.log")).unwrap().lines().count(), 2);
    assert_eq!(sandbox.runs_started(), 1, "one run, two workers");
}

/// A worker that took a run up (its progress file names the run) and then died may have run some of its code: the
/// run fails, and is not given to another worker, which could make an action's requests twice.
#[tokio::test]
async fn a_worker_that_dies_after_it_took_up_a_run_is_not_given_another() {
    use gatehouse_engine::fixture::StubIo;
    use gatehouse_engine::sandbox::{Limits, Sandbox, SandboxFailure};

    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(dying_first_worker(dir.path(), "took it up"));
    let request = run_request(post_login_flow(&["exports.onExecutePostLogin = async () => {};"]));
    let limits = Limits { timeout: std::time::Duration::from_secs(10), memory_mb: 64 };
    let output = sandbox.run(request, limits, &StubIo::new(Vec::new())).await;
    assert!(matches!(output.report, Err(SandboxFailure::Crashed(_))), "{:?}", output.report);
    assert_eq!(output.last_started, Some(0));
    assert_eq!(std::fs::read_to_string(dir.path().join("starts.log")).unwrap().lines().count(), 1);
}

/// A worker killed while it waits in the pool (the kernel's out-of-memory killer, an operator) costs the next run
/// nothing: the host drops it when its closed pipe shows it dead, and when it died too recently for that, the run
/// it was handed goes to another worker. Killed right before each of several runs, to meet both.
#[tokio::test]
async fn a_worker_killed_while_idle_costs_the_next_run_nothing() {
    use gatehouse_engine::fixture::StubIo;
    use gatehouse_engine::sandbox::{Limits, Sandbox};

    let sandbox = Sandbox::new(sandbox_config(2));
    let flow = post_login_flow(&["exports.onExecutePostLogin = async (event, api) => { console.log('ran'); };"]);
    let request = || run_request(flow.clone());
    let limits = Limits { timeout: std::time::Duration::from_secs(10), memory_mb: 64 };
    let io = StubIo::new(Vec::new());
    for round in 0..6 {
        let output = sandbox.run(request(), limits, &io).await;
        assert!(output.report.is_ok(), "round {round}: {:?}", output.report);
        assert_eq!(output.logs.len(), 1, "round {round}: the action ran once");
        let pids = sandbox.idle_worker_pids();
        assert_eq!(pids.len(), 1);
        let killed = std::process::Command::new("kill").arg("-9").arg(pids[0].to_string()).status().unwrap();
        assert!(killed.success());
        if round % 2 == 1 {
            // Dead for sure before the next run (a zombie: its pipes are closed), so the host can see it.
            let stat = format!("/proc/{}/stat", pids[0]);
            while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
                tokio::task::yield_now().await;
            }
        }
    }
}
