//! The PostgreSQL implementation of [`crate::Store`], on tokio-postgres with a deadpool connection pool.
//!
//! One table per record kind (the sled backend's trees), created by the embedded migrations (`migrations/*.sql`)
//! when a store connects. Records are the same serde JSON as on sled, kept in `json` columns; what atomic operations
//! and queries need (expiry, owner, used flags, the lower-cased email) is in real columns beside them.
//!
//! Atomicity comes from the database, never from this process, so any number of processes can share one database:
//! - single-use records are spent by one conditional statement (`UPDATE … WHERE … RETURNING`, `DELETE …
//!   RETURNING`): of two concurrent callers, the second one's statement waits for the first one's row lock and then
//!   re-reads the row, so exactly one wins;
//! - uniqueness (a user id, an email address, a document key) is a primary key or unique constraint, and a create
//!   that loses is reported from the violation (`Conflict`) or from `ON CONFLICT DO NOTHING`'s row count;
//! - [`Change`]-based updates and counters (login attempts, rate limits) run in a transaction that locks the row
//!   (`SELECT … FOR UPDATE`, after inserting the default record with `ON CONFLICT DO NOTHING` where a missing one
//!   counts as the default), calls the change on what it locked, writes and commits; concurrent callers queue on
//!   the row lock, so none works from a stale value; a refused change rolls back and writes nothing;
//! - a user's authenticators reference it (`ON DELETE CASCADE`), so deleting a user takes them along in the same
//!   statement and an authenticator cannot be saved for a user being deleted;
//! - a trigger counts every document write into `documents_version` in the writing transaction.
//!
//! Every write method returns once its statement or transaction has committed (with the server's default
//! `synchronous_commit = on`, a commit is durable before it is acknowledged). `append_log_group_committed` is the
//! trait's default, a plain `append_log`.
//!
//! Connections are encrypted with `sslmode=require` in the URL: TLS (rustls), the server's certificate verified
//! against the system's roots and an optional CA file, and its name against the URL's host. Without it they are
//! plain TCP (a database on the same host or a private network).

mod migrations;
mod support;
#[cfg(test)]
pub(crate) mod tests;
mod tls;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction};
use gatehouse_types::records::{
    Authenticator, AuthorizationCode, LogEntry, LoginAttempts, RefreshToken, Session, SigningKey, User,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::codec::{collection_name, email_key, encode_string, ephemeral_namespace};
use crate::rate_limit::{self, Bucket};
use crate::{
    Change, CodeUse, Collection, Ephemeral, LogQuery, RateDecision, RateLimit, RefreshUse, Store, StoreError,
    StoreResult,
};
use support::{column, constraint, count, is_violation, json_column, pg_error, pool_error, prefix_successor};

/// Page size of [`Store::list_logs`] when the query asks for 0 entries.
const DEFAULT_LOG_PAGE: usize = 50;
/// Largest page of [`Store::list_logs`].
const MAX_LOG_PAGE: usize = 100;
/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a free connection when all are busy, before the call fails.
const POOL_WAIT: Duration = Duration::from_secs(30);

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// The advisory lock one process holds while it sweeps expired records ("gh-sweep" in ASCII).
const SWEEP_LOCK_KEY: i64 = 0x6768_2d73_7765_6570;

/// The PostgreSQL-backed [`Store`]. Its methods need a tokio runtime (the pool's connections run on it).
pub struct PgStore {
    pool: Pool,
    /// `host:port/dbname`, shown by `Debug` instead of the configuration, which holds the password.
    target: String,
    /// Highest timestamp handed to a `log_id` by this process, so its ids always increase.
    last_log_nanos: AtomicU64,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("target", &self.target).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname?options=…`, or the
    /// `key=value` form) with a pool of at most `pool_size` connections, checks that a connection can be opened and
    /// applies the migrations it lacks.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<PgStore> {
        PgStore::connect_with_ca(url, pool_size, None).await
    }

    /// [`PgStore::connect`], trusting the PEM certificates of `ca_file` besides the system's roots when the URL
    /// asks for TLS (`sslmode=require`).
    pub async fn connect_with_ca(url: &str, pool_size: usize, ca_file: Option<&Path>) -> StoreResult<PgStore> {
        let config: Config = url.parse().map_err(|e| {
            StoreError::Backend(format!("invalid PostgreSQL connection URL: {}", support::describe(&e)))
        })?;
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(tls::client_config(ca_file)?),
            _ => None,
        };
        PgStore::build(config, pool_size, tls).await
    }

    /// [`PgStore::connect`] with a parsed configuration (tests set the schema this way).
    #[cfg(test)]
    pub(crate) async fn with_config(config: Config, pool_size: usize) -> StoreResult<PgStore> {
        PgStore::build(config, pool_size, None).await
    }

    async fn build(mut config: Config, pool_size: usize, tls: Option<rustls::ClientConfig>) -> StoreResult<PgStore> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = describe_target(&config);
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, MakeRustlsConnect::new(tls), manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the PostgreSQL pool: {e}")))?;
        drop(pool.get().await.map_err(|e| pool_error(&format!("cannot connect to PostgreSQL at {target}"), e))?);
        migrations::migrate(&pool).await?;
        Ok(PgStore { pool, target, last_log_nanos: AtomicU64::new(0) })
    }

    async fn client(&self, doing: &str) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| pool_error(doing, e))
    }

    async fn query(&self, doing: &str, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let client = self.client(doing).await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| pg_error(doing, &e))?;
        client.query(&statement, params).await.map_err(|e| pg_error(doing, &e))
    }

    async fn query_opt(&self, doing: &str, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        let client = self.client(doing).await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| pg_error(doing, &e))?;
        client.query_opt(&statement, params).await.map_err(|e| pg_error(doing, &e))
    }

    async fn execute(&self, doing: &str, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        self.execute_or(doing, sql, params, |_| None).await
    }

    /// The stored user and `change` of it, row-locked in one transaction; the address (its `email_lower` column,
    /// unique) changes only when `moving` allows it, else such a change is refused.
    async fn change_user(&self, user_id: &str, change: &Change<'_, User>, moving: bool) -> StoreResult<Option<User>> {
        if user_id.contains('\0') {
            return Ok(None);
        }
        let doing = "updating a user";
        let mut client = self.client(doing).await?;
        let transaction = begin(&mut client, doing).await?;
        let sql = "SELECT body::text FROM users WHERE user_id = $1 FOR UPDATE";
        let Some(row) = tx_query_opt(&transaction, doing, sql, &[&user_id]).await? else {
            rollback(transaction, doing).await?;
            return Ok(None);
        };
        let current: User = json_column(&row, 0, &format!("user {user_id}"))?;
        let next = change(&current).filter(|next| {
            next.user_id == current.user_id && (moving || email_key(&next.email) == email_key(&current.email))
        });
        let Some(next) = next else {
            rollback(transaction, doing).await?;
            return Ok(None);
        };
        let body = encode_string("user", &next)?;
        let sql = "UPDATE users SET email_lower = $2, body = $3::text::json WHERE user_id = $1";
        // A unique violation aborts the transaction; dropping it rolls back.
        tx_execute_or(&transaction, doing, sql, &[&user_id, &email_key(&next.email), &body], |e| {
            is_violation(e, &SqlState::UNIQUE_VIOLATION).then(|| {
                StoreError::Conflict(format!("the new email address of user {user_id} is taken by another user"))
            })
        })
        .await?;
        commit(transaction, doing).await?;
        Ok(Some(next))
    }

    /// Runs a write; `refused` turns a server error it recognises (a constraint violation) into the store's error.
    async fn execute_or(
        &self,
        doing: &str,
        sql: &str,
        params: &Params<'_>,
        refused: impl FnOnce(&tokio_postgres::Error) -> Option<StoreError>,
    ) -> StoreResult<u64> {
        let client = self.client(doing).await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| pg_error(doing, &e))?;
        match client.execute(&statement, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(refused(&e).unwrap_or_else(|| pg_error(doing, &e))),
        }
    }

    /// 16 hex digits of Unix nanoseconds, strictly increasing within this process, then 8 random hex digits that
    /// keep ids of processes sharing the database apart: ids sort by time, like the sled backend's.
    fn next_log_id(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        let next = |last: u64| now.max(last.saturating_add(1));
        let previous = self
            .last_log_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last)))
            .unwrap_or_else(|last| last);
        let nanos = next(previous);
        // RandomState is seeded randomly per thread and differs with every `new`: enough to tell processes apart.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(nanos);
        format!("{nanos:016x}{:08x}", hasher.finish() & 0xffff_ffff)
    }
}

/// Creates a new, empty schema named `<prefix><random hex>` in the database at `base` and returns `base` selecting
/// it (`options=-c search_path=...`): a tenant of its own in a shared database, for tests and `gatehouse bench`.
pub async fn create_schema(base: &str, prefix: &str) -> StoreResult<String> {
    let (client, connection) =
        tokio_postgres::connect(base, NoTls).await.map_err(|e| pg_error("connecting to create a schema", &e))?;
    let connected = tokio::spawn(connection);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let schema = format!("{prefix}{:016x}", hasher.finish());
    let created = client.batch_execute(&format!("CREATE SCHEMA {schema}")).await;
    drop(client);
    let _ = connected.await;
    created.map_err(|e| pg_error(&format!("creating the schema {schema}"), &e))?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{separator}options=-c%20search_path%3D{schema}"))
}

/// `host:port/dbname` of a configuration, without its user, password or options.
fn describe_target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!("{}:{}/{}", hosts.join(","), ports.join(","), config.get_dbname().unwrap_or(""))
}

async fn begin<'a>(client: &'a mut Object, doing: &str) -> StoreResult<Transaction<'a>> {
    client.transaction().await.map_err(|e| pg_error(doing, &e))
}

async fn commit(transaction: Transaction<'_>, doing: &str) -> StoreResult<()> {
    transaction.commit().await.map_err(|e| pg_error(doing, &e))
}

async fn rollback(transaction: Transaction<'_>, doing: &str) -> StoreResult<()> {
    transaction.rollback().await.map_err(|e| pg_error(doing, &e))
}

async fn tx_query_opt(
    transaction: &Transaction<'_>,
    doing: &str,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<Option<Row>> {
    let statement = transaction.prepare_cached(sql).await.map_err(|e| pg_error(doing, &e))?;
    transaction.query_opt(&statement, params).await.map_err(|e| pg_error(doing, &e))
}

async fn tx_execute(transaction: &Transaction<'_>, doing: &str, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
    tx_execute_or(transaction, doing, sql, params, |_| None).await
}

/// A write in `transaction`; `refused` turns a server error it recognises into the store's error, as
/// [`PgStore::execute_or`] does.
async fn tx_execute_or(
    transaction: &Transaction<'_>,
    doing: &str,
    sql: &str,
    params: &Params<'_>,
    refused: impl FnOnce(&tokio_postgres::Error) -> Option<StoreError>,
) -> StoreResult<u64> {
    let statement = transaction.prepare_cached(sql).await.map_err(|e| pg_error(doing, &e))?;
    match transaction.execute(&statement, params).await {
        Ok(rows) => Ok(rows),
        Err(e) => Err(refused(&e).unwrap_or_else(|| pg_error(doing, &e))),
    }
}

/// A refresh token as stored: the `used_at` column is authoritative over the body's.
fn refresh_token(row: &Row) -> StoreResult<RefreshToken> {
    let token: RefreshToken = json_column(row, 0, "refresh token")?;
    Ok(RefreshToken { used_at: column(row, 1, "refresh token")?, ..token })
}

/// Rows as `(key, value)` pairs of a bytea key and value.
fn byte_pairs(rows: &[Row], what: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
    rows.iter()
        .map(|row| {
            let key: &[u8] = column(row, 0, what)?;
            Ok((String::from_utf8_lossy(key).into_owned(), column(row, 1, what)?))
        })
        .collect()
}

#[async_trait]
impl Store for PgStore {
    async fn find_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        // PostgreSQL text cannot hold a NUL, so no user has such an id; asking would be an error.
        if user_id.contains('\0') {
            return Ok(None);
        }
        let row =
            self.query_opt("reading users", "SELECT body::text FROM users WHERE user_id = $1", &[&user_id]).await?;
        row.map(|row| json_column(&row, 0, &format!("user {user_id}"))).transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email_key(email);
        if email.contains('\0') {
            return Ok(None);
        }
        let sql = "SELECT user_id, body::text FROM users WHERE email_lower = $1";
        let row = self.query_opt("reading users", sql, &[&email]).await?;
        row.map(|row| {
            let user_id: &str = column(&row, 0, "user")?;
            json_column(&row, 1, &format!("user {user_id}"))
        })
        .transpose()
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let body = encode_string("user", user)?;
        let sql = "INSERT INTO users (user_id, email_lower, body) VALUES ($1, $2, $3::text::json)";
        let params: &Params<'_> = &[&user.user_id, &email_key(&user.email), &body];
        self.execute_or("creating a user", sql, params, |e| {
            is_violation(e, &SqlState::UNIQUE_VIOLATION).then(|| {
                StoreError::Conflict(if constraint(e) == Some("users_pkey") {
                    format!("user id {} is taken", user.user_id)
                } else {
                    format!("the email address of new user {} is taken by another user", user.user_id)
                })
            })
        })
        .await
        .map(drop)
    }

    async fn update_user(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        self.change_user(user_id, change, false).await
    }

    async fn update_user_with_email(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        self.change_user(user_id, change, true).await
    }

    async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        // The authenticators go with it (ON DELETE CASCADE), in the same statement.
        let deleted = self.execute("deleting a user", "DELETE FROM users WHERE user_id = $1", &[&user_id]).await?;
        Ok(deleted > 0)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = self
            .query("reading users", "SELECT user_id, body::text FROM users ORDER BY email_lower, user_id", &[])
            .await?;
        rows.iter()
            .map(|row| {
                let user_id: &str = column(row, 0, "user")?;
                json_column(row, 1, &format!("user {user_id}"))
            })
            .collect()
    }

    async fn find_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>> {
        // ISO-8601 times of one format sort as strings; the id breaks ties so the order is stable.
        let sql = "SELECT body::text FROM authenticators WHERE user_id = $1 ORDER BY created_at, id";
        let rows = self.query("reading authenticators", sql, &[&user_id]).await?;
        rows.iter().map(|row| json_column(row, 0, "authenticator")).collect()
    }

    async fn save_authenticator(&self, authenticator: &Authenticator) -> StoreResult<()> {
        let body = encode_string("authenticator", authenticator)?;
        let sql = "INSERT INTO authenticators (user_id, id, created_at, body) VALUES ($1, $2, $3, $4::text::json)
                   ON CONFLICT (user_id, id) DO UPDATE SET created_at = EXCLUDED.created_at, body = EXCLUDED.body";
        let params: &Params<'_> = &[&authenticator.user_id, &authenticator.id, &authenticator.created_at, &body];
        self.execute_or("saving an authenticator", sql, params, |e| {
            is_violation(e, &SqlState::FOREIGN_KEY_VIOLATION).then(|| {
                StoreError::Conflict(format!(
                    "authenticator {} belongs to user {}, who does not exist",
                    authenticator.id, authenticator.user_id
                ))
            })
        })
        .await
        .map(drop)
    }

    async fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM authenticators WHERE user_id = $1 AND id = $2";
        Ok(self.execute("deleting an authenticator", sql, &[&user_id, &id]).await? > 0)
    }

    async fn update_authenticator(
        &self,
        user_id: &str,
        id: &str,
        change: &Change<'_, Authenticator>,
    ) -> StoreResult<Option<Authenticator>> {
        let doing = "updating an authenticator";
        let mut client = self.client(doing).await?;
        let transaction = begin(&mut client, doing).await?;
        let sql = "SELECT body::text FROM authenticators WHERE user_id = $1 AND id = $2 FOR UPDATE";
        let Some(row) = tx_query_opt(&transaction, doing, sql, &[&user_id, &id]).await? else {
            rollback(transaction, doing).await?;
            return Ok(None);
        };
        let Some(next) = change(&json_column(&row, 0, "authenticator")?) else {
            rollback(transaction, doing).await?;
            return Ok(None);
        };
        let body = encode_string("authenticator", &next)?;
        let sql = "UPDATE authenticators SET created_at = $3, body = $4::text::json WHERE user_id = $1 AND id = $2";
        tx_execute(&transaction, doing, sql, &[&user_id, &id, &next.created_at, &body]).await?;
        commit(transaction, doing).await?;
        Ok(Some(next))
    }

    async fn save_session(&self, key: &str, session: &Session) -> StoreResult<()> {
        let body = encode_string("session", session)?;
        let sql = "INSERT INTO sessions (key, user_id, expires_at, body) VALUES ($1, $2, $3, $4::text::json)
                   ON CONFLICT (key) DO UPDATE
                   SET user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at, body = EXCLUDED.body";
        self.execute("saving a session", sql, &[&key, &session.user_id, &session.expires_at, &body]).await.map(drop)
    }

    async fn find_session(&self, key: &str, now: i64) -> StoreResult<Option<Session>> {
        let sql = "SELECT body::text FROM sessions WHERE key = $1 AND expires_at > $2";
        let row = self.query_opt("reading sessions", sql, &[&key, &now]).await?;
        row.map(|row| json_column(&row, 0, "session")).transpose()
    }

    async fn delete_session(&self, key: &str) -> StoreResult<()> {
        self.execute("deleting a session", "DELETE FROM sessions WHERE key = $1", &[&key]).await.map(drop)
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<usize> {
        let sql = "DELETE FROM sessions WHERE user_id = $1";
        self.execute("deleting a user's sessions", sql, &[&user_id]).await.map(count)
    }

    async fn create_code(&self, key: &str, code: &AuthorizationCode) -> StoreResult<()> {
        let body = encode_string("authorization code", code)?;
        let sql = "INSERT INTO codes (key, expires_at, body) VALUES ($1, $2, $3::text::json)
                   ON CONFLICT (key) DO UPDATE
                   SET expires_at = EXCLUDED.expires_at, used = false, replayed = false, body = EXCLUDED.body";
        self.execute("saving a code", sql, &[&key, &code.expires_at, &body]).await.map(drop)
    }

    async fn take_code(&self, key: &str, now: i64) -> StoreResult<CodeUse> {
        // One statement: the first taker marks the code used (and gets `replayed = false`); every later one, which
        // waits for the first one's row lock and then sees its write, marks it replayed.
        let sql = "UPDATE codes SET used = true, replayed = replayed OR used
                   WHERE key = $1 AND expires_at > $2
                   RETURNING replayed, body::text";
        let Some(row) = self.query_opt("spending a code", sql, &[&key, &now]).await? else {
            return Ok(CodeUse::Missing);
        };
        if column::<bool>(&row, 0, "authorization code")? {
            return Ok(CodeUse::Replayed);
        }
        Ok(CodeUse::Fresh(Box::new(json_column(&row, 1, "authorization code")?)))
    }

    async fn is_code_replayed(&self, key: &str, now: i64) -> StoreResult<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM codes WHERE key = $1 AND used AND replayed AND expires_at > $2)";
        let row = self.query_opt("reading codes", sql, &[&key, &now]).await?;
        row.map_or(Ok(false), |row| column(&row, 0, "code"))
    }

    async fn save_refresh_token(&self, key: &str, token: &RefreshToken) -> StoreResult<()> {
        let body = encode_string("refresh token", token)?;
        let sql = "INSERT INTO refresh_tokens (key, family, user_id, client_id, expires_at, used_at, body)
                   VALUES ($1, $2, $3, $4, $5, $6, $7::text::json)
                   ON CONFLICT (key) DO UPDATE SET family = EXCLUDED.family, user_id = EXCLUDED.user_id,
                       client_id = EXCLUDED.client_id, expires_at = EXCLUDED.expires_at, used_at = EXCLUDED.used_at,
                       body = EXCLUDED.body";
        let grant = &token.grant;
        let params: &Params<'_> =
            &[&key, &token.family, &grant.user_id, &grant.client_id, &token.expires_at, &token.used_at, &body];
        self.execute("saving a refresh token", sql, params).await.map(drop)
    }

    async fn find_refresh_token(&self, key: &str, now: i64) -> StoreResult<Option<RefreshToken>> {
        let sql = "SELECT body::text, used_at FROM refresh_tokens WHERE key = $1 AND expires_at > $2";
        let row = self.query_opt("reading refresh tokens", sql, &[&key, &now]).await?;
        row.as_ref().map(refresh_token).transpose()
    }

    async fn use_refresh_token(&self, key: &str, now: i64) -> StoreResult<RefreshUse> {
        let doing = "marking a refresh token used";
        loop {
            // Of concurrent callers, the first sets used_at; the others wait for its row lock, then find it set.
            let sql = "UPDATE refresh_tokens SET used_at = $2
                       WHERE key = $1 AND used_at IS NULL AND expires_at > $2
                       RETURNING body::text, used_at";
            if let Some(row) = self.query_opt(doing, sql, &[&key, &now]).await? {
                return Ok(RefreshUse::Fresh(refresh_token(&row)?));
            }
            let Some(token) = self.find_refresh_token(key, now).await? else { return Ok(RefreshUse::Missing) };
            if token.used_at.is_some() {
                return Ok(RefreshUse::Reused(token));
            }
            // Replaced by an unused token between the two statements: try to use that one.
        }
    }

    async fn revoke_refresh_family(&self, family: &str) -> StoreResult<usize> {
        let sql = "DELETE FROM refresh_tokens WHERE family = $1";
        self.execute("revoking a refresh token family", sql, &[&family]).await.map(count)
    }

    async fn revoke_user_refresh_tokens(&self, user_id: &str, client_id: Option<&str>) -> StoreResult<usize> {
        let sql = "DELETE FROM refresh_tokens WHERE user_id = $1 AND ($2::text IS NULL OR client_id = $2)";
        self.execute("revoking a user's refresh tokens", sql, &[&user_id, &client_id]).await.map(count)
    }

    async fn put_ephemeral(&self, namespace: Ephemeral, key: &str, value: &[u8], expires_at: i64) -> StoreResult<()> {
        let sql = "INSERT INTO ephemeral (namespace, key, expires_at, value) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (namespace, key) DO UPDATE SET expires_at = EXCLUDED.expires_at, value = EXCLUDED.value";
        let params: &Params<'_> = &[&ephemeral_namespace(namespace), &key.as_bytes(), &expires_at, &value];
        self.execute("saving an ephemeral record", sql, params).await.map(drop)
    }

    async fn get_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        let sql = "SELECT value FROM ephemeral WHERE namespace = $1 AND key = $2 AND expires_at > $3";
        let params: &Params<'_> = &[&ephemeral_namespace(namespace), &key.as_bytes(), &now];
        let row = self.query_opt("reading ephemeral records", sql, params).await?;
        row.map(|row| column(&row, 0, "ephemeral record")).transpose()
    }

    async fn take_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        // Of concurrent deletes of one row, one deletes it and returns it; the others find nothing to delete.
        let sql = "DELETE FROM ephemeral WHERE namespace = $1 AND key = $2 RETURNING expires_at, value";
        let params: &Params<'_> = &[&ephemeral_namespace(namespace), &key.as_bytes()];
        let Some(row) = self.query_opt("taking an ephemeral record", sql, params).await? else { return Ok(None) };
        if column::<i64>(&row, 0, "ephemeral record")? <= now {
            return Ok(None);
        }
        column(&row, 1, "ephemeral record").map(Some)
    }

    async fn delete_ephemeral(&self, namespace: Ephemeral, key: &str) -> StoreResult<()> {
        let sql = "DELETE FROM ephemeral WHERE namespace = $1 AND key = $2";
        let params: &Params<'_> = &[&ephemeral_namespace(namespace), &key.as_bytes()];
        self.execute("deleting an ephemeral record", sql, params).await.map(drop)
    }

    async fn list_ephemeral(
        &self,
        namespace: Ephemeral,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let sql = "SELECT key, value FROM ephemeral WHERE namespace = $1 AND expires_at > $2 ORDER BY key LIMIT $3";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows =
            self.query("listing ephemeral records", sql, &[&ephemeral_namespace(namespace), &now, &limit]).await?;
        byte_pairs(&rows, "ephemeral record")
    }

    async fn find_document(&self, collection: Collection, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let sql = "SELECT value FROM documents WHERE collection = $1 AND key = $2";
        let row = self.query_opt("reading a document", sql, &[&collection_name(collection), &key.as_bytes()]).await?;
        row.map(|row| column(&row, 0, "document")).transpose()
    }

    async fn list_documents(&self, collection: Collection, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        // bytea compares bytewise, so the keys starting with `prefix` are one index range, in sled's order.
        let sql = "SELECT key, value FROM documents
                   WHERE collection = $1 AND key >= $2 AND ($3::bytea IS NULL OR key < $3)
                   ORDER BY key";
        let end = prefix_successor(prefix.as_bytes());
        let params: &Params<'_> = &[&collection_name(collection), &prefix.as_bytes(), &end];
        let rows = self.query("listing documents", sql, params).await?;
        byte_pairs(&rows, "document")
    }

    async fn save_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<()> {
        let sql = "INSERT INTO documents (collection, key, value) VALUES ($1, $2, $3)
                   ON CONFLICT (collection, key) DO UPDATE SET value = EXCLUDED.value";
        let params: &Params<'_> = &[&collection_name(collection), &key.as_bytes(), &value];
        self.execute("saving a document", sql, params).await.map(drop)
    }

    async fn create_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<bool> {
        // Concurrent inserts of one key: the first inserts; the others wait for it to commit, then do nothing.
        let sql = "INSERT INTO documents (collection, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        let params: &Params<'_> = &[&collection_name(collection), &key.as_bytes(), &value];
        Ok(self.execute("creating a document", sql, params).await? == 1)
    }

    async fn update_document(
        &self,
        collection: Collection,
        key: &str,
        change: &Change<'_, Vec<u8>>,
    ) -> StoreResult<Option<Vec<u8>>> {
        let doing = "updating a document";
        let params: &Params<'_> = &[&collection_name(collection), &key.as_bytes()];
        let mut client = self.client(doing).await?;
        let transaction = begin(&mut client, doing).await?;
        let sql = "SELECT value FROM documents WHERE collection = $1 AND key = $2 FOR UPDATE";
        let Some(row) = tx_query_opt(&transaction, doing, sql, params).await? else {
            rollback(transaction, doing).await?;
            return Ok(None);
        };
        let Some(next) = change(&column(&row, 0, "document")?) else {
            rollback(transaction, doing).await?;
            return Ok(None);
        };
        let sql = "UPDATE documents SET value = $3 WHERE collection = $1 AND key = $2";
        tx_execute(&transaction, doing, sql, &[params[0], params[1], &next]).await?;
        commit(transaction, doing).await?;
        Ok(Some(next))
    }

    async fn delete_document(&self, collection: Collection, key: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM documents WHERE collection = $1 AND key = $2";
        let params: &Params<'_> = &[&collection_name(collection), &key.as_bytes()];
        Ok(self.execute("deleting a document", sql, params).await? > 0)
    }

    async fn documents_version(&self) -> StoreResult<u64> {
        let sql = "SELECT value FROM meta WHERE key = 'documents_version'";
        let Some(row) = self.query_opt("reading the documents version", sql, &[]).await? else { return Ok(0) };
        let version: i64 = column(&row, 0, "documents version")?;
        u64::try_from(version).map_err(|_| StoreError::Corrupt("the documents version is negative".to_owned()))
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let sql = "SELECT body::text FROM signing_keys ORDER BY created_at, kid";
        let rows = self.query("reading signing keys", sql, &[]).await?;
        rows.iter().map(|row| json_column(row, 0, "signing key")).collect()
    }

    async fn save_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let body = encode_string("signing key", key)?;
        let sql = "INSERT INTO signing_keys (kid, created_at, body) VALUES ($1, $2, $3::text::json)
                   ON CONFLICT (kid) DO UPDATE SET created_at = EXCLUDED.created_at, body = EXCLUDED.body";
        self.execute("saving a signing key", sql, &[&key.kid, &key.created_at, &body]).await.map(drop)
    }

    async fn find_login_attempts(&self, login: &str, ip: &str) -> StoreResult<LoginAttempts> {
        let sql = "SELECT body::text FROM login_attempts WHERE login = $1 AND ip = $2";
        let row = self.query_opt("reading login attempts", sql, &[&login.as_bytes(), &ip.as_bytes()]).await?;
        Ok(row.map(|row| json_column(&row, 0, "login attempts")).transpose()?.unwrap_or_default())
    }

    async fn update_login_attempts(
        &self,
        login: &str,
        ip: &str,
        change: &Change<'_, LoginAttempts>,
    ) -> StoreResult<Option<LoginAttempts>> {
        let doing = "updating login attempts";
        let default = encode_string("login attempts", &LoginAttempts::default())?;
        let mut client = self.client(doing).await?;
        loop {
            let transaction = begin(&mut client, doing).await?;
            // A missing record is the default: insert it (undone if nothing is written), then lock the row.
            let sql = "INSERT INTO login_attempts (login, ip, body) VALUES ($1, $2, $3::text::json)
                       ON CONFLICT DO NOTHING";
            tx_execute(&transaction, doing, sql, &[&login.as_bytes(), &ip.as_bytes(), &default]).await?;
            let sql = "SELECT body::text FROM login_attempts WHERE login = $1 AND ip = $2 FOR UPDATE";
            let Some(row) = tx_query_opt(&transaction, doing, sql, &[&login.as_bytes(), &ip.as_bytes()]).await? else {
                // Cleared between the two statements: start again.
                rollback(transaction, doing).await?;
                continue;
            };
            let Some(next) = change(&json_column(&row, 0, "login attempts")?) else {
                rollback(transaction, doing).await?;
                return Ok(None);
            };
            let body = encode_string("login attempts", &next)?;
            let sql = "UPDATE login_attempts SET body = $3::text::json WHERE login = $1 AND ip = $2";
            tx_execute(&transaction, doing, sql, &[&login.as_bytes(), &ip.as_bytes(), &body]).await?;
            commit(transaction, doing).await?;
            return Ok(Some(next));
        }
    }

    async fn clear_login_attempts(&self, login: &str, ip: Option<&str>) -> StoreResult<()> {
        let sql = "DELETE FROM login_attempts WHERE login = $1 AND ($2::bytea IS NULL OR ip = $2)";
        let ip = ip.map(str::as_bytes);
        self.execute("clearing login attempts", sql, &[&login.as_bytes(), &ip]).await.map(drop)
    }

    async fn hit_rate_limit(&self, key: &str, limit: RateLimit, now: i64) -> StoreResult<RateDecision> {
        let doing = "updating a rate limit";
        // A missing bucket is a full one; inserting a full bucket stamped `now` counts the same.
        let full = Bucket { tokens: f64::from(limit.capacity), updated: now, expires_at: now };
        let full = encode_string("rate limit", &full)?;
        let mut client = self.client(doing).await?;
        loop {
            let transaction = begin(&mut client, doing).await?;
            let sql = "INSERT INTO rate_limits (key, expires_at, body) VALUES ($1, $2, $3::text::json)
                       ON CONFLICT DO NOTHING";
            tx_execute(&transaction, doing, sql, &[&key.as_bytes(), &now, &full]).await?;
            let sql = "SELECT body::text FROM rate_limits WHERE key = $1 FOR UPDATE";
            let Some(row) = tx_query_opt(&transaction, doing, sql, &[&key.as_bytes()]).await? else {
                // Purged between the two statements: start again.
                rollback(transaction, doing).await?;
                continue;
            };
            let bucket: Bucket = json_column(&row, 0, "rate limit")?;
            let (next, decision) = rate_limit::hit(Some(&bucket), limit, now);
            let Some(next) = next else {
                rollback(transaction, doing).await?;
                return Ok(decision);
            };
            let body = encode_string("rate limit", &next)?;
            let sql = "UPDATE rate_limits SET expires_at = $2, body = $3::text::json WHERE key = $1";
            tx_execute(&transaction, doing, sql, &[&key.as_bytes(), &next.expires_at, &body]).await?;
            commit(transaction, doing).await?;
            return Ok(decision);
        }
    }

    async fn append_log(&self, entry: &LogEntry) -> StoreResult<String> {
        let sql = "INSERT INTO logs (log_id, kind, user_id, body) VALUES ($1, $2, $3, $4::text::json)";
        loop {
            let log_id = self.next_log_id();
            let stored = LogEntry { log_id: log_id.clone(), ..entry.clone() };
            let body = encode_string("log entry", &stored)?;
            let params: &Params<'_> = &[&log_id, &stored.kind, &stored.user_id, &body];
            let appended = self
                .execute_or("appending a log entry", sql, params, |e| {
                    is_violation(e, &SqlState::UNIQUE_VIOLATION)
                        .then(|| StoreError::Conflict(format!("log id {log_id} is taken")))
                })
                .await;
            match appended {
                Ok(_) => return Ok(log_id),
                // Two processes met in the same nanosecond with the same random suffix: draw another id.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn export_sessions(&self) -> StoreResult<Vec<(String, Session)>> {
        let rows = self.query("listing sessions", "SELECT key, body::text FROM sessions ORDER BY key", &[]).await?;
        rows.iter().map(|row| Ok((column::<String>(row, 0, "session")?, json_column(row, 1, "session")?))).collect()
    }

    async fn export_refresh_tokens(&self) -> StoreResult<Vec<(String, RefreshToken)>> {
        let sql = "SELECT body::text, used_at, key FROM refresh_tokens ORDER BY key";
        let rows = self.query("listing refresh tokens", sql, &[]).await?;
        rows.iter().map(|row| Ok((column::<String>(row, 2, "refresh token")?, refresh_token(row)?))).collect()
    }

    async fn export_ephemeral(&self, namespace: Ephemeral, now: i64) -> StoreResult<Vec<(String, Vec<u8>, i64)>> {
        let sql = "SELECT key, value, expires_at FROM ephemeral WHERE namespace = $1 AND expires_at > $2 ORDER BY key";
        let rows = self.query("listing ephemeral records", sql, &[&ephemeral_namespace(namespace), &now]).await?;
        rows.iter()
            .map(|row| {
                let key: Vec<u8> = column(row, 0, "ephemeral record")?;
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    column(row, 1, "ephemeral record")?,
                    column(row, 2, "ephemeral record")?,
                ))
            })
            .collect()
    }

    async fn import_log(&self, entry: &LogEntry) -> StoreResult<bool> {
        let body = encode_string("log entry", entry)?;
        let sql = "INSERT INTO logs (log_id, kind, user_id, body) VALUES ($1, $2, $3, $4::text::json)
                   ON CONFLICT (log_id) DO NOTHING";
        let params: &Params<'_> = &[&entry.log_id, &entry.kind, &entry.user_id, &body];
        Ok(self.execute("importing a log entry", sql, params).await? == 1)
    }

    async fn list_logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        let take = match query.take {
            0 => DEFAULT_LOG_PAGE,
            take => take.min(MAX_LOG_PAGE),
        };
        let take = i64::try_from(take).unwrap_or(i64::MAX);
        let sql = "SELECT body::text FROM logs
                   WHERE ($1::text IS NULL OR log_id < $1)
                     AND (cardinality($2::text[]) = 0 OR kind = ANY ($2))
                     AND ($3::text IS NULL OR user_id = $3)
                   ORDER BY log_id DESC
                   LIMIT $4";
        let params: &Params<'_> = &[&query.from, &query.types, &query.user_id, &take];
        let rows = self.query("reading logs", sql, params).await?;
        rows.iter().map(|row| json_column(row, 0, "log entry")).collect()
    }

    async fn is_seeded(&self) -> StoreResult<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'seeded')";
        let row = self.query_opt("reading meta", sql, &[]).await?;
        row.map_or(Ok(false), |row| column(&row, 0, "meta"))
    }

    async fn mark_seeded(&self) -> StoreResult<()> {
        let sql = "INSERT INTO meta (key, value) VALUES ('seeded', 1) ON CONFLICT DO NOTHING";
        self.execute("marking the store seeded", sql, &[]).await.map(drop)
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<usize> {
        // One statement, so one transaction, run by one process at a time: the others find the advisory lock taken
        // and delete nothing (the sweep runs every minute in every process). A row locked by a concurrent update is
        // waited for and then judged by its new expiry (a bucket just spent is no longer expired).
        let sql = "WITH sweeper AS (SELECT pg_try_advisory_xact_lock($2) AS mine),
                        sessions AS (DELETE FROM sessions
                                     WHERE expires_at <= $1 AND (SELECT mine FROM sweeper) RETURNING 1),
                        codes AS (DELETE FROM codes WHERE expires_at <= $1 AND (SELECT mine FROM sweeper) RETURNING 1),
                        rate_limits AS (DELETE FROM rate_limits
                                        WHERE expires_at <= $1 AND (SELECT mine FROM sweeper) RETURNING 1),
                        refresh_tokens AS (DELETE FROM refresh_tokens
                                           WHERE expires_at <= $1 AND (SELECT mine FROM sweeper) RETURNING 1),
                        ephemeral AS (DELETE FROM ephemeral
                                      WHERE expires_at <= $1 AND (SELECT mine FROM sweeper) RETURNING 1)
                   SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM codes)
                        + (SELECT count(*) FROM rate_limits) + (SELECT count(*) FROM refresh_tokens)
                        + (SELECT count(*) FROM ephemeral)";
        let Some(row) = self.query_opt("purging expired records", sql, &[&now, &SWEEP_LOCK_KEY]).await? else {
            return Ok(0);
        };
        let removed: i64 = column(&row, 0, "purge count")?;
        Ok(usize::try_from(removed).unwrap_or(0))
    }
}
