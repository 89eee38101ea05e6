//! What only the sled backend has: a directory that is reopened and locked. Its behaviour through the [`Store`] trait
//! is the shared suite (`crate::store_tests`, `mod sled`), which reaches behind the trait with the helpers below.

use super::*;
use crate::store_tests::{log, user};

/// Test access to the trees, for the shared suite.
impl SledStore {
    /// How many records a tree holds (`"codes"`, `"login_attempts"`, `"logs"`).
    pub(crate) fn raw_len(&self, tree: &str) -> usize {
        match tree {
            "codes" => self.codes.len(),
            "login_attempts" => self.login_attempts.len(),
            "logs" => self.logs.len(),
            other => panic!("no tree {other} to count"),
        }
    }

    /// Stores `json` as the user `user_id`, bypassing encoding and the email index.
    pub(crate) fn insert_raw_user(&self, user_id: &str, json: &str) {
        self.users.insert(user_id, json.as_bytes()).expect("insert");
    }
}

#[tokio::test]
async fn records_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = user("auth0|a", "alice@example.com");
    let log_id = {
        let store = SledStore::open(dir.path()).expect("open");
        store.create_user(&alice).await.expect("create");
        store.mark_seeded().await.expect("seed");
        store.append_log(&log("s", Some("auth0|a"))).await.expect("log")
    };
    let store = SledStore::open(dir.path()).expect("reopen");
    assert_eq!(store.find_user_by_email("alice@example.com").await.expect("find"), Some(alice));
    assert!(store.is_seeded().await.expect("seeded"));
    let next = store.append_log(&log("s", None)).await.expect("log after reopen");
    assert!(next > log_id, "{next} must sort after {log_id}");
}

#[test]
fn a_directory_held_by_a_live_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = SledStore::open(dir.path()).expect("open");
    let second = SledStore::open(dir.path());
    assert!(matches!(&second, Err(StoreError::Backend(message)) if message.contains("lock")), "{second:?}");
}
