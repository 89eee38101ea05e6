//! Account work left in the store by a process that died after answering (`auth::account::jobs`), taken over by
//! another sweep, in-process on a manual clock. In a file of its own: its tenant's workers do not compete with the
//! 2-second deadlines of `account_triggers.rs` when the suite runs on a loaded machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

/// A reset request whose process died after answering: the job it stored is taken over once its lease passed, runs
/// once, and is gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_work_left_by_a_dead_process_is_taken_over() {
    use gatehouse_auth::account::jobs::{self, AccountJob, LEASE};
    use gatehouse_auth::clock::ManualClock;
    use gatehouse_auth::context::RequestInfo;

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let store = Arc::new(gatehouse_store::SledStore::temporary().unwrap());
    let text = gatehouse_tests::config(gatehouse_tests::MFA_DEFAULT, "");
    let tenant = Arc::new(gatehouse_tests::open_tenant(&text, dir.path(), store, clock.clone()).await);
    let outbox = dir.path().join("data").join("outbox");
    let emails = || std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);

    // The dead process stored the job and never ran it.
    let job = AccountJob::ResetRequested {
        client_id: Some("test-spa".to_owned()),
        email: "jane@example.com".to_owned(),
        lang: "en".to_owned(),
        request: RequestInfo::default(),
    };
    jobs::queue(&tenant, &job).await.unwrap();
    assert_eq!(jobs::run_due(&tenant).await, 0, "not before its lease passed");
    assert_eq!(emails(), 0);

    clock.advance(LEASE + 1);
    // Two processes' sweeps at once: one takes the job.
    let (a, b) = tokio::join!(jobs::run_due(&tenant), jobs::run_due(&tenant));
    assert_eq!(a + b, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while emails() == 0 {
        assert!(std::time::Instant::now() < deadline, "the reset email was not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Done: removed once it finished, so no later sweep runs it again.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = tenant.store.list_ephemeral(gatehouse_store::Ephemeral::AccountJob, tenant.now(), 10).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the finished job was not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    clock.advance(LEASE + 1);
    assert_eq!(jobs::run_due(&tenant).await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(emails(), 1, "the job ran once");
}
