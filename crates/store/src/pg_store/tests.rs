//! What only the PostgreSQL backend has (migrations, connecting, reconnecting), and the test harness of the shared
//! suite (`crate::store_tests`, `mod postgres`): each test gets a store in a schema of its own on the server at
//! `GATEHOUSE_TEST_PG_URL` (default [`DEFAULT_URL`]), dropped when the test passes. Without a server these tests
//! fail, saying how to start one; they never skip.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::{Client, Config, NoTls};

use super::migrations::MIGRATIONS;
use super::support::describe;
use super::{PgStore, describe_target};
use crate::store_tests::{log, user};
use crate::{Store, StoreError};

/// The server the tests use unless `GATEHOUSE_TEST_PG_URL` names another.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const URL_VAR: &str = "GATEHOUSE_TEST_PG_URL";
/// Test schemas are named `gh_test_<unix seconds>_<random>`; one older than this was left by a failed run.
const SCHEMA_PREFIX: &str = "gh_test_";
const STALE_AFTER_SECS: u64 = 24 * 3600;

fn test_config() -> Config {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let mut config: Config = url.parse().unwrap_or_else(|e| panic!("{URL_VAR} is not a PostgreSQL URL: {e}"));
    config.connect_timeout(Duration::from_secs(5));
    config
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

fn random_u32() -> u32 {
    u32::try_from(RandomState::new().build_hasher().finish() & 0xffff_ffff).expect("32 bits")
}

/// A connection outside any store, to create and drop schemas.
async fn admin_client() -> Client {
    let config = test_config();
    match config.connect(NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move { drop(connection.await) });
            client
        }
        Err(e) => panic!(
            "PostgreSQL does not answer at {target} ({error}). The PostgreSQL store tests need a server there: start \
             it (`pg_ctlcluster 15 main start` or `service postgresql start` on Debian; or `docker run -d -p \
             5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres`), or set {URL_VAR} to the \
             URL of one (default {DEFAULT_URL}).",
            target = describe_target(&config),
            error = describe(&e),
        ),
    }
}

/// A schema of one test's own: its store sees only its tables (`search_path`).
pub(crate) struct TestSchema {
    name: String,
}

impl TestSchema {
    pub(crate) async fn create() -> TestSchema {
        let client = admin_client().await;
        drop_stale_schemas(&client).await;
        let name = format!("{SCHEMA_PREFIX}{}_{:08x}", unix_seconds(), random_u32());
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("create a test schema");
        TestSchema { name }
    }

    /// The test server's configuration with this schema as the search path.
    pub(crate) fn config(&self) -> Config {
        let mut config = test_config();
        let options = match config.get_options() {
            Some(options) => format!("{options} -c search_path={}", self.name),
            None => format!("-c search_path={}", self.name),
        };
        config.options(options);
        config
    }

    pub(crate) async fn drop_schema(self) {
        let client = admin_client().await;
        client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name)).await.expect("drop the test schema");
    }
}

/// Drops the schemas that failed runs left behind (a failed test keeps its schema to be looked at).
async fn drop_stale_schemas(client: &Client) {
    let Ok(rows) =
        client.query("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)", &[&SCHEMA_PREFIX]).await
    else {
        return;
    };
    let now = unix_seconds();
    for row in rows {
        let name: String = row.get(0);
        let created = name[SCHEMA_PREFIX.len()..].split('_').next().and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| created + STALE_AFTER_SECS < now) {
            // Another run may be dropping it too.
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
        }
    }
}

/// A store in a new, empty schema.
pub(crate) async fn store_in_new_schema() -> (PgStore, TestSchema) {
    let schema = TestSchema::create().await;
    let store = PgStore::with_config(schema.config(), 16)
        .await
        .unwrap_or_else(|e| panic!("connecting a store to schema {}: {e}", schema.name));
    (store, schema)
}

/// Test access to the tables, for the shared suite.
impl PgStore {
    /// How many rows a table holds (`"codes"`, `"login_attempts"`, `"logs"`).
    pub(crate) async fn raw_count(&self, table: &str) -> usize {
        assert!(["codes", "login_attempts", "logs"].contains(&table), "no table {table} to count");
        let client = self.pool.get().await.expect("a connection");
        let count: i64 = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
        usize::try_from(count).expect("a count")
    }

    /// Stores `json` as the user `user_id`, bypassing encoding.
    pub(crate) async fn insert_raw_user(&self, user_id: &str, json: &str) {
        let client = self.pool.get().await.expect("a connection");
        let sql = "INSERT INTO users (user_id, email_lower, body) VALUES ($1, $1, $2::text::json)";
        client.execute(sql, &[&user_id, &json]).await.expect("insert");
    }
}

/// `(version, applied_at)` of every applied migration.
async fn applied_migrations(schema: &TestSchema) -> Vec<(i32, String)> {
    let (client, connection) = schema.config().connect(NoTls).await.expect("connect");
    tokio::spawn(async move { drop(connection.await) });
    let rows = client
        .query("SELECT version, applied_at::text FROM gatehouse_migrations ORDER BY version", &[])
        .await
        .expect("read the migrations table");
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_starting_together_apply_each_migration_once() {
    let schema = TestSchema::create().await;
    let config = Arc::new(schema.config());
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { PgStore::with_config((*config).clone(), 2).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.expect("task").expect("every process connects"));
    }
    let applied = applied_migrations(&schema).await;
    let versions: Vec<i32> = applied.iter().map(|(version, _)| *version).collect();
    let known: Vec<i32> = MIGRATIONS.iter().map(|migration| migration.version).collect();
    assert_eq!(versions, known, "each migration once, in order");

    // A later start finds everything applied and changes nothing; the stores all work on the one schema.
    let later = PgStore::with_config(schema.config(), 1).await.expect("reconnect");
    assert_eq!(applied_migrations(&schema).await, applied);
    stores[0].create_user(&user("auth0|a", "alice@example.com")).await.expect("create");
    assert!(later.find_user("auth0|a").await.expect("find").is_some());
    drop((stores, later));
    schema.drop_schema().await;
}

#[tokio::test]
async fn records_survive_reconnecting() {
    let schema = TestSchema::create().await;
    let alice = user("auth0|a", "alice@example.com");
    let log_id = {
        let store = PgStore::with_config(schema.config(), 2).await.expect("connect");
        store.create_user(&alice).await.expect("create");
        store.mark_seeded().await.expect("seed");
        store.append_log(&log("s", Some("auth0|a"))).await.expect("log")
    };
    let store = PgStore::with_config(schema.config(), 2).await.expect("reconnect");
    assert_eq!(store.find_user_by_email("alice@example.com").await.expect("find"), Some(alice));
    assert!(store.is_seeded().await.expect("seeded"));
    let next = store.append_log(&log("s", None)).await.expect("log after reconnecting");
    assert!(next > log_id, "{next} must sort after {log_id}");
    drop(store);
    schema.drop_schema().await;
}

#[tokio::test]
async fn debug_output_and_errors_show_no_password() {
    let schema = TestSchema::create().await;
    let mut config = schema.config();
    // Trust authentication ignores it; a server that checks passwords would refuse it, which is fine too.
    config.password("hunter2-secret");
    if let Ok(store) = PgStore::with_config(config, 1).await {
        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.starts_with("PgStore"), "{shown}");
    }
    schema.drop_schema().await;

    let refused = PgStore::connect("postgres://postgres:hunter2-secret@127.0.0.1:1/test", 1).await;
    // Refused is "unavailable": the server may start answering later.
    let Err(StoreError::Unavailable(message)) = &refused else { panic!("port 1 must refuse: {refused:?}") };
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("127.0.0.1:1/test"), "the error says where: {message}");

    let invalid = PgStore::connect("postgres://postgres:hunter2-secret@127.0.0.1:notaport/test", 1).await;
    let Err(StoreError::Backend(message)) = &invalid else { panic!("an invalid URL must fail: {invalid:?}") };
    assert!(!message.contains("hunter2"), "{message}");
}
