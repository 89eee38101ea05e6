//! Acknowledged writes survive `kill -9`.
//!
//! The test re-executes its own binary as a child that runs [`kill9_writer`] on a data directory: several tasks
//! create users, append logs, change emails and delete users, and print `ACK …` after each write method returns
//! (`BEGIN …` before the writes whose effect is uncertain until acknowledged). The parent reads those lines, sends
//! SIGKILL at a random point after enough acknowledgements, reopens the store and checks every acknowledged write,
//! then does it again on the same directory: later rounds also recover a store that was itself recovered.

// A test: panicking with context is how it reports, and the per-round summary goes to stderr (seen with --nocapture).
#![allow(clippy::expect_used, clippy::print_stderr)]

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use gatehouse_store::{LogQuery, SledStore, Store};
use gatehouse_types::records::{LogEntry, User};

/// Tells the child which directory to write to; its absence makes [`kill9_writer`] a no-op.
const WRITER_DIR: &str = "GATEHOUSE_STORE_KILL9_DIR";
/// Tells the child which round it is, so ids never repeat across rounds.
const WRITER_ROUND: &str = "GATEHOUSE_STORE_KILL9_ROUND";
const WRITER_TASKS: usize = 4;
const ROUNDS: usize = 4;
const ACKS_BEFORE_KILL: usize = 200;
/// A child that prints nothing for this long is stuck.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);

#[test]
#[ignore = "the writer child of acknowledged_writes_survive_kill_9, which runs it"]
fn kill9_writer() {
    let (Ok(dir), Ok(round)) = (std::env::var(WRITER_DIR), std::env::var(WRITER_ROUND)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let store = Arc::new(SledStore::open(Path::new(&dir)).expect("open the store"));
        let counter = Arc::new(AtomicU64::new(0));
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..WRITER_TASKS {
            let (store, counter, round) = (store.clone(), counter.clone(), round.clone());
            writers.spawn(async move {
                loop {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    write_one(&*store, &format!("r{round}n{n}"), n).await;
                }
            });
        }
        // Writers only stop by failing; the parent then sees the output stop and reports it.
        let stopped = writers.join_next().await;
        panic!("a writer stopped: {stopped:?}");
    });
}

/// One writer step; every line is printed after the write it reports has returned.
async fn write_one(store: &dyn Store, name: &str, n: u64) {
    let user = user(name);
    store.create_user(&user).await.expect("create_user");
    say(&format!("ACK user {}", user.user_id));

    let log_id = store.append_log(&log_entry(&user.user_id)).await.expect("append_log");
    say(&format!("ACK log {log_id} {}", user.user_id));

    if n.is_multiple_of(3) {
        let email = format!("moved-{name}@example.com");
        say(&format!("BEGIN email {} {email}", user.user_id));
        let moving = |u: &User| Some(User { email: email.clone(), logins_count: 1, ..u.clone() });
        store.update_user_with_email(&user.user_id, &moving).await.expect("update_user_with_email").expect("moved");
        say(&format!("ACK email {} {email}", user.user_id));
    }
    if n.is_multiple_of(4) {
        say(&format!("BEGIN delete {}", user.user_id));
        assert!(store.delete_user(&user.user_id).await.expect("delete_user"));
        say(&format!("ACK delete {}", user.user_id));
    }
}

fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).expect("stdout");
}

fn user(name: &str) -> User {
    User {
        user_id: format!("auth0|{name}"),
        email: format!("{name}@example.com"),
        email_verified: true,
        name: Some(format!("User {name}")),
        nickname: None,
        given_name: None,
        family_name: None,
        picture: None,
        phone_number: None,
        phone_verified: false,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        connection: "Username-Password-Authentication".to_owned(),
        roles: Vec::new(),
        app_metadata: Default::default(),
        user_metadata: Default::default(),
        created_at: "2024-01-01T00:00:00.000Z".to_owned(),
        updated_at: "2024-01-01T00:00:00.000Z".to_owned(),
        last_login: None,
        logins_count: 0,
        last_password_reset: None,
        blocked: false,
        username: None,
        attributes: Default::default(),
    }
}

fn log_entry(user_id: &str) -> LogEntry {
    LogEntry {
        log_id: String::new(),
        date: "2024-01-01T00:00:00.000Z".to_owned(),
        kind: "ss".to_owned(),
        description: "Successful signup".to_owned(),
        client_id: None,
        client_name: None,
        ip: None,
        user_agent: None,
        user_id: Some(user_id.to_owned()),
        user_name: None,
        connection: None,
        details: Default::default(),
    }
}

/// What the children reported, across rounds.
#[derive(Default)]
struct Acknowledged {
    /// Users whose creation was acknowledged.
    users: HashMap<String, AckedUser>,
    /// Acknowledged log ids with their user.
    logs: Vec<(String, String)>,
    acks: usize,
}

struct AckedUser {
    /// The email it may have: one, or two while a change was in flight (the newer last).
    emails: Vec<String>,
    /// Whether the last email in `emails` is the only possibility.
    email_acked: bool,
    /// Emails it had before an acknowledged change: they must be free again.
    released: Vec<String>,
    /// Gone (`Some(true)`), present (`Some(false)`) or either, when a deletion was in flight (`None`).
    deleted: Option<bool>,
}

impl Acknowledged {
    fn record(&mut self, line: &str) {
        let words: Vec<&str> = line.split(' ').collect();
        if words[0] == "ACK" {
            self.acks += 1;
        }
        match words[..] {
            ["ACK", "user", user_id] => {
                let email = user(user_id.trim_start_matches("auth0|")).email;
                self.users.insert(
                    user_id.to_owned(),
                    AckedUser { emails: vec![email], email_acked: true, released: Vec::new(), deleted: Some(false) },
                );
            }
            ["ACK", "log", log_id, user_id] => self.logs.push((log_id.to_owned(), user_id.to_owned())),
            ["BEGIN", "email", user_id, email] => {
                let acked = self.users.get_mut(user_id).expect("email change of an unknown user");
                acked.emails.push(email.to_owned());
                acked.email_acked = false;
            }
            ["ACK", "email", user_id, email] => {
                let acked = self.users.get_mut(user_id).expect("email change of an unknown user");
                acked.released.extend(acked.emails.drain(..).filter(|old| old != email));
                acked.emails = vec![email.to_owned()];
                acked.email_acked = true;
            }
            ["BEGIN", "delete", user_id] => self.users.get_mut(user_id).expect("unknown user").deleted = None,
            ["ACK", "delete", user_id] => self.users.get_mut(user_id).expect("unknown user").deleted = Some(true),
            _ => panic!("unexpected line from the writer: {line:?}"),
        }
    }
}

/// Kills the child if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged = Acknowledged::default();
    for round in 0..ROUNDS {
        let extra = usize::try_from(RandomState::new().build_hasher().finish() % 300).expect("small");
        let acks_before = acknowledged.acks;
        run_and_kill(dir.path(), round, ACKS_BEFORE_KILL + extra, &mut acknowledged);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(verify(dir.path(), &acknowledged, round));
        let acked = acknowledged.acks - acks_before;
        eprintln!(
            "round {round}: killed after {acked} acknowledged writes (aimed at {}), all present",
            ACKS_BEFORE_KILL + extra
        );
    }
}

/// Starts a writer on `dir`, reads its lines until it has acknowledged `kill_after` writes, kills it with SIGKILL and
/// keeps reading what it printed before dying (those writes were acknowledged too).
fn run_and_kill(dir: &Path, round: usize, kill_after: usize, acknowledged: &mut Acknowledged) {
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "kill9_writer", "--nocapture", "--include-ignored"])
        .env(WRITER_DIR, dir)
        .env(WRITER_ROUND, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let start = acknowledged.acks;
    while acknowledged.acks - start < kill_after {
        match received.recv_timeout(SILENCE_LIMIT) {
            Ok(line) if line.starts_with("ACK ") || line.starts_with("BEGIN ") => acknowledged.record(&line),
            Ok(_) => {}
            Err(e) => panic!("round {round}: the writer stopped after {} acks ({e:?})", acknowledged.acks - start),
        }
    }
    child.0.kill().expect("SIGKILL");
    let status = child.0.wait().expect("wait");
    assert!(!status.success(), "the writer must have been killed: {status}");
    reader.join().expect("reader");
    for line in received.try_iter() {
        if line.starts_with("ACK ") || line.starts_with("BEGIN ") {
            acknowledged.record(&line);
        }
    }
}

async fn verify(dir: &Path, acknowledged: &Acknowledged, round: usize) {
    let store = SledStore::open(dir).unwrap_or_else(|e| panic!("round {round}: reopening after kill -9 failed: {e}"));

    for (user_id, acked) in &acknowledged.users {
        let found = store.find_user(user_id).await.unwrap_or_else(|e| panic!("round {round}: reading {user_id}: {e}"));
        let mut free = acked.released.clone();
        match (acked.deleted, found) {
            (Some(true), Some(_)) => panic!("round {round}: {user_id} was deleted (acknowledged) but is back"),
            (Some(false), None) => panic!("round {round}: acknowledged user {user_id} is lost"),
            (_, None) => free.extend(acked.emails.iter().cloned()),
            (_, Some(user)) => {
                let expected =
                    if acked.email_acked { &acked.emails[acked.emails.len() - 1..] } else { &acked.emails[..] };
                assert!(
                    expected.contains(&user.email),
                    "round {round}: {user_id} has email {}, expected {expected:?}",
                    user.email
                );
                let by_email = store.find_user_by_email(&user.email).await.expect("find by email");
                assert_eq!(by_email.as_ref(), Some(&user), "round {round}: email index of {user_id}");
                free.extend(acked.emails.iter().filter(|email| **email != user.email).cloned());
            }
        }
        for email in free {
            assert_email_free(&store, &email, round).await;
        }
    }

    let mut stored = HashMap::new();
    let mut from = None;
    loop {
        let page = store.list_logs(&LogQuery { from: from.clone(), take: 100, ..LogQuery::default() }).await;
        let page = page.unwrap_or_else(|e| panic!("round {round}: listing logs: {e}"));
        let Some(last) = page.last() else { break };
        from = Some(last.log_id.clone());
        stored.extend(page.into_iter().map(|entry| (entry.log_id.clone(), entry)));
    }
    for (log_id, user_id) in &acknowledged.logs {
        let entry = stored.get(log_id).unwrap_or_else(|| panic!("round {round}: acknowledged log {log_id} is lost"));
        assert_eq!(entry, &LogEntry { log_id: log_id.clone(), ..log_entry(user_id) });
    }
    let distinct: HashSet<&String> = acknowledged.logs.iter().map(|(log_id, _)| log_id).collect();
    assert_eq!(distinct.len(), acknowledged.logs.len(), "round {round}: a log id was handed out twice");
}

/// No user has `email`, and the email index agrees: a new user can take it (then the probe user is deleted again).
async fn assert_email_free(store: &SledStore, email: &str, round: usize) {
    let found = store.find_user_by_email(email).await.expect("find by email");
    assert!(found.is_none(), "round {round}: {email} should be free but belongs to {found:?}");
    let probe = User { user_id: format!("auth0|probe-{email}"), email: email.to_owned(), ..user("probe") };
    if let Err(e) = store.create_user(&probe).await {
        panic!("round {round}: {email} should be free but the email index still holds it: {e}");
    }
    assert!(store.delete_user(&probe.user_id).await.expect("delete the probe"));
}
