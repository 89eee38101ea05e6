//! The sled implementation of [`crate::Store`].
//!
//! One sled tree per record kind, values as JSON. sled writes to its log in memory and fsyncs on its own only every
//! 500 ms, so every write method ends with a flush: a write is acknowledged only once it is on disk and survives
//! `kill -9` (the `kill9` test re-executes itself as a writer, kills it and checks every acknowledged write).
//! Writes spanning trees (a user and its email index and authenticators) run as sled transactions, which sled
//! recovers all-or-nothing; single-use records are consumed with `remove` or `compare_and_swap`, so of two concurrent
//! callers exactly one wins.

mod codec;

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use gatehouse_types::records::{
    Authenticator, AuthorizationCode, LogEntry, LoginAttempts, RefreshToken, Session, SigningKey, User,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::{IVec, Transactional, Tree};

use crate::rate_limit::{self, Bucket};
use crate::{
    Change, CodeUse, Collection, Ephemeral, LogQuery, RateDecision, RateLimit, RefreshUse, Store, StoreError,
    StoreResult,
};
use codec::{
    Expiring, abort, backend, collection_name, decode, email_key, encode, ephemeral_expiry, ephemeral_key,
    ephemeral_namespace, is_lock_held, pair_key, prefix_key, transaction_error, unexpired_ephemeral,
};

/// Page size of [`Store::list_logs`] when the query asks for 0 entries.
const DEFAULT_LOG_PAGE: usize = 50;
/// Largest page of [`Store::list_logs`].
const MAX_LOG_PAGE: usize = 100;
/// How long [`SledStore::open`] waits for a directory lock to be released, and how often it tries.
const LOCK_WAIT: Duration = Duration::from_secs(2);
const LOCK_RETRY: Duration = Duration::from_millis(10);
/// The `meta` key recording that the configuration's users were seeded.
const SEEDED: &[u8] = b"seeded";
/// The `meta` key of [`Store::documents_version`]: 8 bytes, big-endian.
const DOCUMENTS_VERSION: &[u8] = b"documents_version";

/// The sled-backed [`Store`]. Its write methods need a tokio runtime: they flush on its blocking pool.
pub struct SledStore {
    db: sled::Db,
    /// Where the database lives (`None` for a temporary one); shown by `Debug` instead of sled's own `Debug`, which
    /// dumps every record (password hashes, TOTP secrets, private keys) into whatever log prints it.
    path: Option<PathBuf>,
    users: Tree,
    /// Lower-cased email → user id.
    users_by_email: Tree,
    /// `user_id\0id` → authenticator.
    authenticators: Tree,
    sessions: Tree,
    codes: Tree,
    refresh_tokens: Tree,
    /// `namespace\0key` → 8 bytes of big-endian expiry, then the value.
    ephemeral: Tree,
    signing_keys: Tree,
    /// `login\0ip` → attempts.
    login_attempts: Tree,
    /// Rate-limit key → [`Bucket`].
    rate_limits: Tree,
    /// `log_id` → entry; ids sort by time, so iteration order is time order.
    logs: Tree,
    meta: Tree,
    /// `collection\0key` → a document (JSON chosen by its owner).
    documents: Tree,
    /// Serializes `delete_user` with `save_authenticator`. A sled transaction cannot scan, so `delete_user` lists the
    /// user's authenticators before its transaction; without this lock an authenticator saved in between would
    /// outlive its user. sled locks its directory, so one process is the only writer and a process lock suffices.
    user_authenticators: Mutex<()>,
    /// Highest timestamp handed to a `log_id`, so ids never go back when the clock does.
    last_log_nanos: AtomicU64,
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore").field("path", &self.path).finish_non_exhaustive()
    }
}

/// sled's page cache. sled's own default is 1 GiB, which a busy server fills with pages it wrote once (log lines,
/// rotated refresh tokens): the token-endpoint bench grew to 957 MiB resident in two minutes.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl SledStore {
    /// Opens (or creates) the database in the directory `path`.
    ///
    /// sled locks the directory. Dropping a store does not release the lock at once: sled's I/O threads hold the
    /// log for a moment after the last flush returns, so an immediate reopen in the same process failed about one
    /// time in four in release builds. A lock held briefly is waited for; one held longer (another process) is an
    /// error.
    pub fn open(path: &Path) -> StoreResult<SledStore> {
        let config = sled::Config::new().path(path).cache_capacity(CACHE_BYTES);
        let mut waited = Duration::ZERO;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(e) if is_lock_held(&e) && waited < LOCK_WAIT => {
                    std::thread::sleep(LOCK_RETRY);
                    waited += LOCK_RETRY;
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open the sled database in {}: {e}",
                        path.display()
                    )));
                }
            }
        };
        SledStore::with_db(db, Some(path.to_owned()))
    }

    /// A database that lives only as long as this value (for tests).
    pub fn temporary() -> StoreResult<SledStore> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| StoreError::Backend(format!("cannot open a temporary sled database: {e}")))?;
        SledStore::with_db(db, None)
    }

    fn with_db(db: sled::Db, path: Option<PathBuf>) -> StoreResult<SledStore> {
        let tree = |name: &str| db.open_tree(name).map_err(|e| backend(&format!("opening tree {name}"), e));
        Ok(SledStore {
            users: tree("users")?,
            users_by_email: tree("users_by_email")?,
            authenticators: tree("authenticators")?,
            sessions: tree("sessions")?,
            codes: tree("codes")?,
            refresh_tokens: tree("refresh_tokens")?,
            ephemeral: tree("ephemeral")?,
            signing_keys: tree("signing_keys")?,
            login_attempts: tree("login_attempts")?,
            rate_limits: tree("rate_limits")?,
            logs: tree("logs")?,
            meta: tree("meta")?,
            documents: tree("documents")?,
            user_authenticators: Mutex::new(()),
            last_log_nanos: AtomicU64::new(0),
            path,
            db,
        })
    }

    /// Makes every write done so far durable. Write methods call it last, so nothing is acknowledged before it is
    /// on disk; it flushes the whole log, so one call covers writes to several trees.
    ///
    /// The blocking `flush` runs on tokio's blocking pool rather than `flush_async`: in sled 0.34.7 `flush_async`
    /// blocks one of sled's own pool threads until the log is written, and the log write is queued on that same pool,
    /// which adds threads only when more than 7 jobs wait. A few concurrent flushes occupy every thread and hang
    /// forever (sled issue #1308, fixed on sled's main branch but never released; the 16-task race tests hung this
    /// way). Off sled's pool, the queued log writes always find a thread.
    /// Counts a document write (atomic: sled's `update_and_fetch` retries on a concurrent one).
    fn bump_documents_version(&self) -> StoreResult<()> {
        self.meta
            .update_and_fetch(DOCUMENTS_VERSION, |old| {
                let n = old.and_then(|v| v.first_chunk::<8>().map(|b| u64::from_be_bytes(*b))).unwrap_or(0);
                Some(n.wrapping_add(1).to_be_bytes().to_vec())
            })
            .map(drop)
            .map_err(|e| backend("counting a document write", e))
    }

    async fn flush(&self) -> StoreResult<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| backend("flushing to disk", e))?
            .map(drop)
            .map_err(|e| backend("flushing to disk", e))
    }

    fn create_user_now(&self, user: &User) -> StoreResult<()> {
        let value = encode("user", user)?;
        let email = email_key(&user.email);
        (&self.users, &self.users_by_email)
            .transaction(|(users, by_email)| {
                if users.get(user.user_id.as_bytes())?.is_some() {
                    return abort(StoreError::Conflict(format!("user id {} is taken", user.user_id)));
                }
                if by_email.get(email.as_bytes())?.is_some() {
                    return abort(StoreError::Conflict(format!(
                        "the email address of new user {} is taken by another user",
                        user.user_id
                    )));
                }
                users.insert(user.user_id.as_bytes(), value.as_slice())?;
                by_email.insert(email.as_bytes(), user.user_id.as_bytes())?;
                Ok(())
            })
            .map_err(transaction_error)
    }

    /// The stored user and `change` of it, with the email index moved, in one transaction (which sled may run more
    /// than once: `change` is pure). Serialized with [`SledStore::update_record`]'s compare-and-swap, as every
    /// transaction is with single writes.
    fn update_user_with_email_now(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        let key = user_id.as_bytes();
        (&self.users, &self.users_by_email)
            .transaction(|(users, by_email)| {
                let Some(old) = users.get(key)? else { return Ok(None) };
                let old: User = decode(&format!("user {user_id}"), &old).or_else(abort)?;
                let Some(next) = change(&old).filter(|next| next.user_id == old.user_id) else { return Ok(None) };
                let (old_email, email) = (email_key(&old.email), email_key(&next.email));
                if let Some(owner) = by_email.get(email.as_bytes())?
                    && owner != key
                {
                    return abort(StoreError::Conflict(format!(
                        "the new email address of user {user_id} is taken by another user"
                    )));
                }
                if old_email != email && by_email.get(old_email.as_bytes())?.is_some_and(|owner| owner == key) {
                    by_email.remove(old_email.as_bytes())?;
                }
                by_email.insert(email.as_bytes(), key)?;
                users.insert(key, encode("user", &next).or_else(abort)?)?;
                Ok(Some(next))
            })
            .map_err(transaction_error)
    }

    fn delete_user_now(&self, user_id: &str) -> StoreResult<bool> {
        let _serialized = self.user_authenticators.lock().unwrap_or_else(PoisonError::into_inner);
        let authenticator_keys = self
            .authenticators
            .scan_prefix(prefix_key(user_id))
            .keys()
            .collect::<Result<Vec<IVec>, _>>()
            .map_err(|e| backend("listing authenticators", e))?;
        (&self.users, &self.users_by_email, &self.authenticators)
            .transaction(|(users, by_email, authenticators)| {
                for key in &authenticator_keys {
                    authenticators.remove(key)?;
                }
                let Some(old) = users.remove(user_id.as_bytes())? else {
                    return Ok(false);
                };
                let old: User = decode(&format!("user {user_id}"), &old).or_else(abort)?;
                let email = email_key(&old.email);
                if by_email.get(email.as_bytes())?.is_some_and(|owner| owner == user_id.as_bytes()) {
                    by_email.remove(email.as_bytes())?;
                }
                Ok(true)
            })
            .map_err(transaction_error)
    }

    fn save_authenticator_now(&self, authenticator: &Authenticator) -> StoreResult<()> {
        let value = encode("authenticator", authenticator)?;
        let _serialized = self.user_authenticators.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.users.contains_key(authenticator.user_id.as_bytes()).map_err(|e| backend("reading users", e))? {
            return Err(StoreError::Conflict(format!(
                "authenticator {} belongs to user {}, who does not exist",
                authenticator.id, authenticator.user_id
            )));
        }
        self.authenticators
            .insert(pair_key(&authenticator.user_id, &authenticator.id), value)
            .map_err(|e| backend("saving an authenticator", e))?;
        Ok(())
    }

    fn use_refresh_token_now(&self, key: &str, now: i64) -> StoreResult<RefreshUse> {
        loop {
            let Some(current) = self.refresh_tokens.get(key).map_err(|e| backend("reading refresh tokens", e))? else {
                return Ok(RefreshUse::Missing);
            };
            let token: RefreshToken = decode("refresh token", &current)?;
            if token.expires_at <= now {
                return Ok(RefreshUse::Missing);
            }
            if token.used_at.is_some() {
                return Ok(RefreshUse::Reused(token));
            }
            let used = RefreshToken { used_at: Some(now), ..token };
            let swapped = self
                .refresh_tokens
                .compare_and_swap(key, Some(&current), Some(encode("refresh token", &used)?))
                .map_err(|e| backend("marking a refresh token used", e))?;
            // A lost race means another caller changed the token first: read it again and report what it did.
            if swapped.is_ok() {
                return Ok(RefreshUse::Fresh(used));
            }
        }
    }

    /// Applies `change` to the JSON record under `key` with compare-and-swap, again from a fresh read whenever
    /// another writer got there first. A missing record is `missing` (or nothing is done when that is `None`).
    fn update_record<T: Clone + Serialize + DeserializeOwned>(
        tree: &Tree,
        key: &[u8],
        what: &str,
        missing: Option<T>,
        change: &Change<'_, T>,
    ) -> StoreResult<Option<T>> {
        loop {
            let current = tree.get(key).map_err(|e| backend(&format!("reading {what}"), e))?;
            let value = match &current {
                Some(bytes) => decode::<T>(what, bytes)?,
                None => match &missing {
                    Some(value) => value.clone(),
                    None => return Ok(None),
                },
            };
            let Some(next) = change(&value) else { return Ok(None) };
            let swapped = tree
                .compare_and_swap(key, current.as_ref(), Some(encode(what, &next)?))
                .map_err(|e| backend(&format!("updating {what}"), e))?;
            if swapped.is_ok() {
                return Ok(Some(next));
            }
        }
    }

    fn take_code_now(&self, key: &str, now: i64) -> StoreResult<CodeUse> {
        let used_key = used_code_key(key);
        self.codes
            .transaction(|codes| {
                if let Some(value) = codes.remove(key.as_bytes())? {
                    let code: AuthorizationCode = decode("authorization code", &value).or_else(abort)?;
                    if code.expires_at <= now {
                        return Ok(CodeUse::Missing);
                    }
                    let used = UsedCode { expires_at: code.expires_at, replayed: false };
                    codes.insert(used_key.as_slice(), encode("used code", &used).or_else(abort)?)?;
                    return Ok(CodeUse::Fresh(Box::new(code)));
                }
                let Some(value) = codes.get(&used_key)? else { return Ok(CodeUse::Missing) };
                let mut used: UsedCode = decode("used code", &value).or_else(abort)?;
                if used.expires_at <= now {
                    return Ok(CodeUse::Missing);
                }
                used.replayed = true;
                codes.insert(used_key.as_slice(), encode("used code", &used).or_else(abort)?)?;
                Ok(CodeUse::Replayed)
            })
            .map_err(transaction_error)
    }

    fn hit_rate_limit_now(&self, key: &str, limit: RateLimit, now: i64) -> StoreResult<RateDecision> {
        loop {
            let current = self.rate_limits.get(key).map_err(|e| backend("reading rate limits", e))?;
            let bucket = current.as_ref().map(|bytes| decode::<Bucket>("rate limit", bytes)).transpose()?;
            let (next, decision) = rate_limit::hit(bucket.as_ref(), limit, now);
            let Some(next) = next else { return Ok(decision) };
            let swapped = self
                .rate_limits
                .compare_and_swap(key, current.as_ref(), Some(encode("rate limit", &next)?))
                .map_err(|e| backend("updating a rate limit", e))?;
            if swapped.is_ok() {
                return Ok(decision);
            }
        }
    }

    /// Removes every record of `tree` that `is_expired` says has expired at `now`; returns how many. A record
    /// replaced meanwhile is left alone (the removal is a compare-and-swap against the value that was judged).
    fn purge_tree(
        &self,
        tree: &Tree,
        what: &str,
        is_expired: impl Fn(&[u8]) -> StoreResult<bool>,
    ) -> StoreResult<usize> {
        let mut removed = 0;
        for item in tree.iter() {
            let (key, value) = item.map_err(|e| backend(&format!("scanning {what}"), e))?;
            if is_expired(&value)? {
                let swapped = tree
                    .compare_and_swap(&key, Some(&value), None::<IVec>)
                    .map_err(|e| backend(&format!("removing {what}"), e))?;
                removed += usize::from(swapped.is_ok());
            }
        }
        Ok(removed)
    }

    /// Removes every record of `tree` for which `matches` holds; returns how many.
    fn remove_where<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        what: &str,
        matches: impl Fn(&T) -> bool,
    ) -> StoreResult<usize> {
        let mut removed = 0;
        for item in tree.iter() {
            let (key, value) = item.map_err(|e| backend(&format!("scanning {what}"), e))?;
            if matches(&decode(what, &value)?) {
                let old = tree.remove(&key).map_err(|e| backend(&format!("removing {what}"), e))?;
                removed += usize::from(old.is_some());
            }
        }
        Ok(removed)
    }

    fn append_log_now(&self, entry: &LogEntry) -> StoreResult<String> {
        loop {
            let log_id = self.next_log_id()?;
            let stored = LogEntry { log_id: log_id.clone(), ..entry.clone() };
            let inserted = self
                .logs
                .compare_and_swap(log_id.as_bytes(), None::<&[u8]>, Some(encode("log entry", &stored)?))
                .map_err(|e| backend("appending a log entry", e))?;
            // Ids are unique by construction; the swap only guarantees an entry is never overwritten.
            if inserted.is_ok() {
                return Ok(log_id);
            }
        }
    }

    /// 16 hex digits of Unix nanoseconds (never decreasing within a process), then 8 hex digits of sled's monotonic
    /// id counter (which survives restarts): ids sort by time and differ even within one nanosecond.
    fn next_log_id(&self) -> StoreResult<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        let nanos = self.last_log_nanos.fetch_max(now, Ordering::SeqCst).max(now);
        let counter = self.db.generate_id().map_err(|e| backend("generating a log id", e))?;
        Ok(format!("{nanos:016x}{:08x}", counter & 0xffff_ffff))
    }

    fn list_logs_now(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        let take = match query.take {
            0 => DEFAULT_LOG_PAGE,
            take => take.min(MAX_LOG_PAGE),
        };
        let upper = match &query.from {
            Some(from) => Bound::Excluded(from.as_bytes()),
            None => Bound::Unbounded,
        };
        let mut page = Vec::with_capacity(take);
        for item in self.logs.range::<&[u8], _>((Bound::Unbounded, upper)).rev() {
            if page.len() == take {
                break;
            }
            let (_, value) = item.map_err(|e| backend("reading logs", e))?;
            let entry: LogEntry = decode("log entry", &value)?;
            let type_matches = query.types.is_empty() || query.types.contains(&entry.kind);
            let user_matches = query.user_id.is_none() || entry.user_id == query.user_id;
            if type_matches && user_matches {
                page.push(entry);
            }
        }
        Ok(page)
    }
}

#[async_trait]
impl Store for SledStore {
    async fn find_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let value = self.users.get(user_id).map_err(|e| backend("reading users", e))?;
        value.map(|value| decode(&format!("user {user_id}"), &value)).transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email_key(email);
        let Some(user_id) = self.users_by_email.get(email.as_bytes()).map_err(|e| backend("reading users", e))? else {
            return Ok(None);
        };
        let user_id = String::from_utf8(user_id.to_vec())
            .map_err(|_| StoreError::Corrupt("the email index holds a user id that is not UTF-8".to_owned()))?;
        // The two reads are not one snapshot: a concurrent email change may leave the index pointing elsewhere.
        Ok(self.find_user(&user_id).await?.filter(|user| email_key(&user.email) == email))
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.create_user_now(user)?;
        self.flush().await
    }

    async fn update_user(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        // The email index is not touched: a change that moves the address is refused.
        let keeping_email = |current: &User| {
            change(current)
                .filter(|next| email_key(&next.email) == email_key(&current.email) && next.user_id == current.user_id)
        };
        let updated = SledStore::update_record(&self.users, user_id.as_bytes(), "user", None, &keeping_email)?;
        if updated.is_some() {
            self.flush().await?;
        }
        Ok(updated)
    }

    async fn update_user_with_email(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        let updated = self.update_user_with_email_now(user_id, change)?;
        if updated.is_some() {
            self.flush().await?;
        }
        Ok(updated)
    }

    async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        let existed = self.delete_user_now(user_id)?;
        self.flush().await?;
        Ok(existed)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let mut users = self
            .users
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(|e| backend("reading users", e))?;
                decode::<User>(&format!("user {}", String::from_utf8_lossy(&key)), &value)
            })
            .collect::<StoreResult<Vec<User>>>()?;
        users.sort_by(|a, b| email_key(&a.email).cmp(&email_key(&b.email)).then_with(|| a.user_id.cmp(&b.user_id)));
        Ok(users)
    }

    async fn find_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>> {
        let mut authenticators = self
            .authenticators
            .scan_prefix(prefix_key(user_id))
            .values()
            .map(|value| {
                decode::<Authenticator>("authenticator", &value.map_err(|e| backend("reading authenticators", e))?)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // ISO-8601 times of one format sort as strings; the id breaks ties so the order is stable.
        authenticators.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(authenticators)
    }

    async fn save_authenticator(&self, authenticator: &Authenticator) -> StoreResult<()> {
        self.save_authenticator_now(authenticator)?;
        self.flush().await
    }

    async fn update_authenticator(
        &self,
        user_id: &str,
        id: &str,
        change: &Change<'_, Authenticator>,
    ) -> StoreResult<Option<Authenticator>> {
        // A concurrent delete makes the swap fail and the next read find nothing: a deleted authenticator is never
        // brought back.
        let updated =
            SledStore::update_record(&self.authenticators, &pair_key(user_id, id), "authenticator", None, change)?;
        if updated.is_some() {
            self.flush().await?;
        }
        Ok(updated)
    }

    async fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let old =
            self.authenticators.remove(pair_key(user_id, id)).map_err(|e| backend("deleting an authenticator", e))?;
        self.flush().await?;
        Ok(old.is_some())
    }

    async fn save_session(&self, key: &str, session: &Session) -> StoreResult<()> {
        self.sessions.insert(key, encode("session", session)?).map_err(|e| backend("saving a session", e))?;
        self.flush().await
    }

    async fn find_session(&self, key: &str, now: i64) -> StoreResult<Option<Session>> {
        let Some(value) = self.sessions.get(key).map_err(|e| backend("reading sessions", e))? else {
            return Ok(None);
        };
        let session: Session = decode("session", &value)?;
        Ok((session.expires_at > now).then_some(session))
    }

    async fn delete_session(&self, key: &str) -> StoreResult<()> {
        self.sessions.remove(key).map_err(|e| backend("deleting a session", e))?;
        self.flush().await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<usize> {
        let removed = self.remove_where(&self.sessions, "session", |session: &Session| session.user_id == user_id)?;
        self.flush().await?;
        Ok(removed)
    }

    async fn create_code(&self, key: &str, code: &AuthorizationCode) -> StoreResult<()> {
        self.codes.insert(key, encode("authorization code", code)?).map_err(|e| backend("saving a code", e))?;
        self.flush().await
    }

    async fn take_code(&self, key: &str, now: i64) -> StoreResult<CodeUse> {
        let taken = self.take_code_now(key, now)?;
        // Durable before it is handed out: after a crash a used code must still be spent.
        if taken != CodeUse::Missing {
            self.flush().await?;
        }
        Ok(taken)
    }

    async fn is_code_replayed(&self, key: &str, now: i64) -> StoreResult<bool> {
        let Some(value) = self.codes.get(used_code_key(key)).map_err(|e| backend("reading codes", e))? else {
            return Ok(false);
        };
        let used: UsedCode = decode("used code", &value)?;
        Ok(used.replayed && used.expires_at > now)
    }

    async fn save_refresh_token(&self, key: &str, token: &RefreshToken) -> StoreResult<()> {
        self.refresh_tokens
            .insert(key, encode("refresh token", token)?)
            .map_err(|e| backend("saving a refresh token", e))?;
        self.flush().await
    }

    async fn find_refresh_token(&self, key: &str, now: i64) -> StoreResult<Option<RefreshToken>> {
        let Some(value) = self.refresh_tokens.get(key).map_err(|e| backend("reading refresh tokens", e))? else {
            return Ok(None);
        };
        let token: RefreshToken = decode("refresh token", &value)?;
        Ok((token.expires_at > now).then_some(token))
    }

    async fn use_refresh_token(&self, key: &str, now: i64) -> StoreResult<RefreshUse> {
        let used = self.use_refresh_token_now(key, now)?;
        if matches!(used, RefreshUse::Fresh(_)) {
            self.flush().await?;
        }
        Ok(used)
    }

    async fn revoke_refresh_family(&self, family: &str) -> StoreResult<usize> {
        let removed =
            self.remove_where(&self.refresh_tokens, "refresh token", |token: &RefreshToken| token.family == family)?;
        self.flush().await?;
        Ok(removed)
    }

    async fn revoke_user_refresh_tokens(&self, user_id: &str, client_id: Option<&str>) -> StoreResult<usize> {
        let removed = self.remove_where(&self.refresh_tokens, "refresh token", |token: &RefreshToken| {
            token.grant.user_id == user_id && client_id.is_none_or(|client_id| token.grant.client_id == client_id)
        })?;
        self.flush().await?;
        Ok(removed)
    }

    async fn put_ephemeral(&self, namespace: Ephemeral, key: &str, value: &[u8], expires_at: i64) -> StoreResult<()> {
        let mut stored = Vec::with_capacity(8 + value.len());
        stored.extend_from_slice(&expires_at.to_be_bytes());
        stored.extend_from_slice(value);
        self.ephemeral
            .insert(ephemeral_key(namespace, key), stored)
            .map_err(|e| backend("saving an ephemeral record", e))?;
        self.flush().await
    }

    async fn get_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        let value =
            self.ephemeral.get(ephemeral_key(namespace, key)).map_err(|e| backend("reading ephemeral records", e))?;
        value.map(|value| unexpired_ephemeral(&value, now)).transpose().map(Option::flatten)
    }

    async fn take_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        let Some(value) = self
            .ephemeral
            .remove(ephemeral_key(namespace, key))
            .map_err(|e| backend("taking an ephemeral record", e))?
        else {
            return Ok(None);
        };
        self.flush().await?;
        unexpired_ephemeral(&value, now)
    }

    async fn delete_ephemeral(&self, namespace: Ephemeral, key: &str) -> StoreResult<()> {
        self.ephemeral.remove(ephemeral_key(namespace, key)).map_err(|e| backend("deleting an ephemeral record", e))?;
        self.flush().await
    }

    async fn list_ephemeral(
        &self,
        namespace: Ephemeral,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let prefix = prefix_key(ephemeral_namespace(namespace));
        let mut found = Vec::new();
        for entry in self.ephemeral.scan_prefix(&prefix) {
            let (key, value) = entry.map_err(|e| backend("listing ephemeral records", e))?;
            if let Some(value) = unexpired_ephemeral(&value, now)? {
                found.push((String::from_utf8_lossy(&key[prefix.len()..]).into_owned(), value));
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn find_document(&self, collection: Collection, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = pair_key(collection_name(collection), key);
        Ok(self.documents.get(key).map_err(|e| backend("reading a document", e))?.map(|v| v.to_vec()))
    }

    async fn list_documents(&self, collection: Collection, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let head = prefix_key(collection_name(collection));
        let mut found = Vec::new();
        for entry in self.documents.scan_prefix(pair_key(collection_name(collection), prefix)) {
            let (key, value) = entry.map_err(|e| backend("listing documents", e))?;
            found.push((String::from_utf8_lossy(&key[head.len()..]).into_owned(), value.to_vec()));
        }
        Ok(found)
    }

    async fn save_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<()> {
        let key = pair_key(collection_name(collection), key);
        self.documents.insert(key, value).map_err(|e| backend("saving a document", e))?;
        self.bump_documents_version()?;
        self.flush().await
    }

    async fn create_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<bool> {
        let key = pair_key(collection_name(collection), key);
        let swapped = self
            .documents
            .compare_and_swap(key, None::<&[u8]>, Some(value))
            .map_err(|e| backend("creating a document", e))?;
        if swapped.is_err() {
            return Ok(false);
        }
        self.bump_documents_version()?;
        self.flush().await?;
        Ok(true)
    }

    async fn update_document(
        &self,
        collection: Collection,
        key: &str,
        change: &Change<'_, Vec<u8>>,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = pair_key(collection_name(collection), key);
        let updated = loop {
            let Some(current) = self.documents.get(&key).map_err(|e| backend("reading a document", e))? else {
                break None;
            };
            let Some(next) = change(&current.to_vec()) else { break None };
            let swapped = self
                .documents
                .compare_and_swap(&key, Some(&current), Some(next.as_slice()))
                .map_err(|e| backend("updating a document", e))?;
            if swapped.is_ok() {
                break Some(next);
            }
        };
        if updated.is_some() {
            self.bump_documents_version()?;
            self.flush().await?;
        }
        Ok(updated)
    }

    async fn delete_document(&self, collection: Collection, key: &str) -> StoreResult<bool> {
        let key = pair_key(collection_name(collection), key);
        let old = self.documents.remove(key).map_err(|e| backend("deleting a document", e))?;
        if old.is_some() {
            self.bump_documents_version()?;
            self.flush().await?;
        }
        Ok(old.is_some())
    }

    async fn documents_version(&self) -> StoreResult<u64> {
        let value = self.meta.get(DOCUMENTS_VERSION).map_err(|e| backend("reading the documents version", e))?;
        Ok(value.and_then(|v| v.first_chunk::<8>().map(|b| u64::from_be_bytes(*b))).unwrap_or(0))
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let mut keys = self
            .signing_keys
            .iter()
            .values()
            .map(|value| decode::<SigningKey>("signing key", &value.map_err(|e| backend("reading signing keys", e))?))
            .collect::<StoreResult<Vec<_>>>()?;
        keys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.kid.cmp(&b.kid)));
        Ok(keys)
    }

    async fn save_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        self.signing_keys
            .insert(key.kid.as_bytes(), encode("signing key", key)?)
            .map_err(|e| backend("saving a signing key", e))?;
        self.flush().await
    }

    async fn find_login_attempts(&self, login: &str, ip: &str) -> StoreResult<LoginAttempts> {
        let value = self.login_attempts.get(pair_key(login, ip)).map_err(|e| backend("reading login attempts", e))?;
        Ok(value.map(|value| decode("login attempts", &value)).transpose()?.unwrap_or_default())
    }

    async fn update_login_attempts(
        &self,
        login: &str,
        ip: &str,
        change: &Change<'_, LoginAttempts>,
    ) -> StoreResult<Option<LoginAttempts>> {
        let key = pair_key(login, ip);
        let updated = SledStore::update_record(
            &self.login_attempts,
            &key,
            "login attempts",
            Some(LoginAttempts::default()),
            change,
        )?;
        if updated.is_some() {
            self.flush().await?;
        }
        Ok(updated)
    }

    async fn hit_rate_limit(&self, key: &str, limit: RateLimit, now: i64) -> StoreResult<RateDecision> {
        let decision = self.hit_rate_limit_now(key, limit, now)?;
        if matches!(decision, RateDecision::Allowed { .. }) {
            self.flush().await?;
        }
        Ok(decision)
    }

    async fn clear_login_attempts(&self, login: &str, ip: Option<&str>) -> StoreResult<()> {
        match ip {
            Some(ip) => {
                self.login_attempts.remove(pair_key(login, ip)).map_err(|e| backend("clearing login attempts", e))?;
            }
            None => {
                for key in self.login_attempts.scan_prefix(prefix_key(login)).keys() {
                    let key = key.map_err(|e| backend("reading login attempts", e))?;
                    self.login_attempts.remove(key).map_err(|e| backend("clearing login attempts", e))?;
                }
            }
        }
        self.flush().await
    }

    async fn append_log(&self, entry: &LogEntry) -> StoreResult<String> {
        let log_id = self.append_log_now(entry)?;
        self.flush().await?;
        Ok(log_id)
    }

    async fn append_log_group_committed(&self, entry: &LogEntry) -> StoreResult<String> {
        // sled's background flush (every 500 ms) makes it durable with whatever else was written meanwhile.
        self.append_log_now(entry)
    }

    async fn list_logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.list_logs_now(query)
    }

    async fn export_sessions(&self) -> StoreResult<Vec<(String, Session)>> {
        let mut found = Vec::new();
        for entry in self.sessions.iter() {
            let (key, value) = entry.map_err(|e| backend("listing sessions", e))?;
            found.push((String::from_utf8_lossy(&key).into_owned(), decode("session", &value)?));
        }
        Ok(found)
    }

    async fn export_refresh_tokens(&self) -> StoreResult<Vec<(String, RefreshToken)>> {
        let mut found = Vec::new();
        for entry in self.refresh_tokens.iter() {
            let (key, value) = entry.map_err(|e| backend("listing refresh tokens", e))?;
            found.push((String::from_utf8_lossy(&key).into_owned(), decode("refresh token", &value)?));
        }
        Ok(found)
    }

    async fn export_ephemeral(&self, namespace: Ephemeral, now: i64) -> StoreResult<Vec<(String, Vec<u8>, i64)>> {
        let prefix = prefix_key(ephemeral_namespace(namespace));
        let mut found = Vec::new();
        for entry in self.ephemeral.scan_prefix(&prefix) {
            let (key, value) = entry.map_err(|e| backend("listing ephemeral records", e))?;
            let expires_at = ephemeral_expiry(&value)?;
            if let Some(value) = unexpired_ephemeral(&value, now)? {
                found.push((String::from_utf8_lossy(&key[prefix.len()..]).into_owned(), value, expires_at));
            }
        }
        Ok(found)
    }

    async fn import_log(&self, entry: &LogEntry) -> StoreResult<bool> {
        let inserted = self
            .logs
            .compare_and_swap(entry.log_id.as_bytes(), None::<&[u8]>, Some(encode("log entry", entry)?))
            .map_err(|e| backend("importing a log entry", e))?;
        self.flush().await?;
        Ok(inserted.is_ok())
    }

    async fn is_seeded(&self) -> StoreResult<bool> {
        self.meta.contains_key(SEEDED).map_err(|e| backend("reading meta", e))
    }

    async fn mark_seeded(&self) -> StoreResult<()> {
        self.meta.insert(SEEDED, b"true".as_slice()).map_err(|e| backend("marking the store seeded", e))?;
        self.flush().await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<usize> {
        let json_expired = |what: &'static str| {
            move |value: &[u8]| decode::<Expiring>(what, value).map(|record| record.expires_at <= now)
        };
        let mut removed = self.purge_tree(&self.sessions, "sessions", json_expired("session"))?;
        removed += self.purge_tree(&self.codes, "codes", json_expired("authorization code"))?;
        removed += self.purge_tree(&self.rate_limits, "rate limits", json_expired("rate limit"))?;
        removed += self.purge_tree(&self.refresh_tokens, "refresh tokens", json_expired("refresh token"))?;
        removed += self.purge_tree(&self.ephemeral, "ephemeral records", |value| {
            ephemeral_expiry(value).map(|expires_at| expires_at <= now)
        })?;
        self.flush().await?;
        Ok(removed)
    }
}

/// What stays of a spent authorization code until it would have expired, so a replay is recognised.
#[derive(serde::Deserialize, Serialize)]
struct UsedCode {
    expires_at: i64,
    /// Presented again after it was spent.
    replayed: bool,
}

/// Spent codes live in the codes tree under `used\0<key>`; code keys are hex, so the two never collide.
fn used_code_key(key: &str) -> Vec<u8> {
    pair_key("used", key)
}

#[cfg(test)]
mod tests;
