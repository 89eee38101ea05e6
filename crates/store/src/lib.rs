//! Durable state of a Gatehouse tenant behind one object-safe trait.
//!
//! Everything the server must not lose goes through [`Store`]: users and their authenticators, SSO sessions,
//! authorization codes, refresh tokens, paused logins, signing keys, brute-force counters and tenant logs. A write
//! method returns only once the write is durable, so a record acknowledged to a user survives `kill -9`.
//!
//! Two backends implement it, with the same semantics (one test suite runs against both):
//! - [`SledStore`]: an embedded sled database in a local directory, for one process; it flushes before a write
//!   returns.
//! - [`PgStore`]: PostgreSQL through a connection pool, for any number of processes sharing one database; a write
//!   returns once committed, and every atomic operation is atomic in the database.
//!
//! Keys of bearer secrets are SHA-256 hashes computed by the caller ([`secret_key`]); the store never sees a usable
//! session cookie, code or token.

mod codec;
mod pg_store;
pub mod rate_limit;
mod sled_store;
#[cfg(test)]
mod store_tests;
mod timed;

use async_trait::async_trait;
use gatehouse_types::records::{
    Authenticator, AuthorizationCode, LogEntry, LoginAttempts, RefreshToken, Session, SigningKey, User,
};
use sha2::{Digest, Sha256};

pub use pg_store::{PgStore, create_schema};
pub use sled_store::SledStore;
pub use timed::TimedStore;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken (an email address, an id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored record cannot be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The backend failed (I/O, lock, disk full).
    #[error("storage failure: {0}")]
    Backend(String),
    /// The store cannot be reached for now (the database restarts, the network dropped, every connection is
    /// busy): the request may be tried again. Its message starts with [`UNAVAILABLE`].
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// How the message of [`StoreError::Unavailable`] starts. Errors reach HTTP answers as text (a cause kept for the
/// log), so the answer's status is chosen from it: [`is_unavailable`].
pub const UNAVAILABLE: &str = "store unavailable: ";

/// Whether an error's text is the store being unreachable for now (`503`, try again) rather than a failure (`500`).
pub fn is_unavailable(message: &str) -> bool {
    message.starts_with(UNAVAILABLE)
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// What happened when a refresh token was presented.
#[derive(Clone, Debug, PartialEq)]
pub enum RefreshUse {
    /// First use: the token is now marked used (rotation issues its successor).
    Fresh(RefreshToken),
    /// Already used before: a replay; the caller revokes the family.
    Reused(RefreshToken),
    /// Unknown, revoked or expired.
    Missing,
}

/// What happened when an authorization code was presented.
#[derive(Clone, Debug, PartialEq)]
pub enum CodeUse {
    /// First use: the code is now spent (a used-code record stays until its expiry).
    Fresh(Box<AuthorizationCode>),
    /// Spent before and not yet expired: a replay. The used-code record is now marked replayed, so the first
    /// exchange, if still running, sees it too ([`Store::is_code_replayed`]); the caller revokes what the first
    /// exchange issued.
    Replayed,
    /// Unknown or expired.
    Missing,
}

/// A pure change of a stored record: given the current value, the new one, or `None` to refuse (nothing is
/// written). The store may call it more than once when another writer changed the record meanwhile, so it must not
/// have side effects.
pub type Change<'a, T> = dyn Fn(&T) -> Option<T> + Send + Sync + 'a;

/// A rate limit as a token bucket: `capacity` units, all of them regained over `window_secs` (one every
/// `window_secs / capacity` seconds). "5 per 5 minutes" is `RateLimit { capacity: 5, window_secs: 300 }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Units in a full bucket (the burst).
    pub capacity: u32,
    /// Seconds to refill an empty bucket.
    pub window_secs: i64,
}

/// The answer of [`Store::hit_rate_limit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateDecision {
    /// One unit was spent; this many whole units are left.
    Allowed {
        /// Whole units left after this one.
        left: u32,
    },
    /// The bucket is empty: nothing was spent.
    Limited {
        /// Seconds until one unit is back.
        retry_after: i64,
    },
}

/// A page of tenant logs, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogQuery {
    /// Only entries older than this `log_id` (checkpoint paging).
    pub from: Option<String>,
    /// Page size (capped at 100).
    pub take: usize,
    /// Only entries of these types.
    pub types: Vec<String>,
    /// Only entries of this user.
    pub user_id: Option<String>,
}

/// Short-lived single-use records kept by namespace: login transactions, email codes, MFA tickets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ephemeral {
    /// A login in progress (paused flow, pending prompt).
    Transaction,
    /// A one-time code sent by email or phone.
    OneTimeCode,
    /// An MFA enrollment or challenge in progress (MFA API).
    MfaTicket,
    /// A device seen for a user (adaptive MFA).
    KnownDevice,
    /// The `jti` of an access token revoked before its expiry (an authorization code was replayed).
    RevokedToken,
    /// A phone message waiting for its next try (the provider asked for a retry).
    PhoneDelivery,
    /// An email-verification or password-reset link (single use, expiring).
    AccountTicket,
    /// Work that follows an account answer (a verification email, a reset link, the post-* actions), kept until it
    /// is done so a crash does not lose it.
    AccountJob,
    /// Anything else a caller needs with an expiry.
    Other,
}

/// Kinds of documents: the authorization directory (reference §9) and users' consents, each a JSON value under a
/// key chosen by its owner (`auth::directory`). A document is read and written whole; a change that must not be lost
/// to a concurrent one goes through [`Store::update_document`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// A role, by id (`rol_…`).
    Role,
    /// A role's name → its id: the unique index a create claims first.
    RoleName,
    /// An organization, by id (`org_…`).
    Organization,
    /// An organization's name → its id.
    OrganizationName,
    /// A membership, by `org_id\0user_id`: the member's roles in that organization.
    Member,
    /// A client grant (`cgr_…`): which API a machine-to-machine client may call, with which scopes.
    ClientGrant,
    /// An API (resource server), by identifier.
    ResourceServer,
    /// A user's consent to a client for an audience, by `user_id\0client_id\0audience`.
    Consent,
    /// A lower-cased username of the database connection → its user id: the unique index a sign-up claims first.
    Username,
}

impl Collection {
    /// Every collection, for copying a whole store.
    pub const ALL: [Collection; 9] = [
        Collection::Role,
        Collection::RoleName,
        Collection::Organization,
        Collection::OrganizationName,
        Collection::Member,
        Collection::ClientGrant,
        Collection::ResourceServer,
        Collection::Consent,
        Collection::Username,
    ];
}

impl Ephemeral {
    /// Every namespace, for copying a whole store.
    pub const ALL: [Ephemeral; 9] = [
        Ephemeral::Transaction,
        Ephemeral::OneTimeCode,
        Ephemeral::MfaTicket,
        Ephemeral::KnownDevice,
        Ephemeral::RevokedToken,
        Ephemeral::PhoneDelivery,
        Ephemeral::AccountTicket,
        Ephemeral::AccountJob,
        Ephemeral::Other,
    ];
}

/// The store.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // ---- users ----
    /// The user with `user_id`.
    async fn find_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// The user with this email (case-insensitive).
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Creates a user; `Conflict` when the id or email is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// Changes a user atomically (a password reset, a login's count, a verified address): `change` sees the stored
    /// user and returns the new one, which must keep the email address (an address change goes through
    /// [`Store::update_user_with_email`]). Returns what was stored; `None` when there is no such user, or `change`
    /// refused or changed the address. Concurrent changes of one user never overwrite each other.
    async fn update_user(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>>;
    /// Changes a user atomically as [`Store::update_user`] does, where the change may also give the user a new
    /// email address: the email index moves in the same atomic write (the Management API's `PATCH`). `Conflict`,
    /// with nothing written, when another user has the new address (case-insensitive).
    async fn update_user_with_email(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>>;
    /// Deletes a user with their authenticators; `false` when there was none.
    async fn delete_user(&self, user_id: &str) -> StoreResult<bool>;
    /// Every user, by email.
    async fn list_users(&self) -> StoreResult<Vec<User>>;

    // ---- authenticators ----
    /// A user's authenticators (active or not), oldest first.
    async fn find_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>>;
    /// Creates or replaces an authenticator.
    async fn save_authenticator(&self, authenticator: &Authenticator) -> StoreResult<()>;
    /// Deletes one; `false` when there was none.
    async fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Changes one authenticator atomically (an attempt spent, a TOTP step or recovery code consumed): `change`
    /// sees the stored record and returns the new one. Returns what was stored; `None` when there is no such
    /// authenticator or `change` refused.
    async fn update_authenticator(
        &self,
        user_id: &str,
        id: &str,
        change: &Change<'_, Authenticator>,
    ) -> StoreResult<Option<Authenticator>>;

    // ---- SSO sessions (keyed by the hash of the cookie) ----
    /// Creates or replaces a session.
    async fn save_session(&self, key: &str, session: &Session) -> StoreResult<()>;
    /// The session, if it exists and has not expired at `now`.
    async fn find_session(&self, key: &str, now: i64) -> StoreResult<Option<Session>>;
    /// Deletes a session.
    async fn delete_session(&self, key: &str) -> StoreResult<()>;
    /// Deletes every session of a user; returns how many.
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<usize>;

    // ---- authorization codes ----
    /// Stores a code.
    async fn create_code(&self, key: &str, code: &AuthorizationCode) -> StoreResult<()>;
    /// Spends a code: of two concurrent exchanges, exactly one gets [`CodeUse::Fresh`]; every later one gets
    /// [`CodeUse::Replayed`] until the code would have expired.
    async fn take_code(&self, key: &str, now: i64) -> StoreResult<CodeUse>;
    /// Whether a spent code has been presented again since (checked by the first exchange before it answers).
    async fn is_code_replayed(&self, key: &str, now: i64) -> StoreResult<bool>;

    // ---- refresh tokens ----
    /// Stores a refresh token.
    async fn save_refresh_token(&self, key: &str, token: &RefreshToken) -> StoreResult<()>;
    /// A refresh token, if it exists and has not expired at `now` (used or not).
    async fn find_refresh_token(&self, key: &str, now: i64) -> StoreResult<Option<RefreshToken>>;
    /// Marks a refresh token used, atomically, and says whether it was fresh.
    async fn use_refresh_token(&self, key: &str, now: i64) -> StoreResult<RefreshUse>;
    /// Revokes every token of a rotation family.
    async fn revoke_refresh_family(&self, family: &str) -> StoreResult<usize>;
    /// Revokes every refresh token of a user (for a client, or all clients).
    async fn revoke_user_refresh_tokens(&self, user_id: &str, client_id: Option<&str>) -> StoreResult<usize>;

    // ---- short-lived single-use records ----
    /// Stores `value` under `namespace`/`key` until `expires_at` (epoch seconds).
    async fn put_ephemeral(&self, namespace: Ephemeral, key: &str, value: &[u8], expires_at: i64) -> StoreResult<()>;
    /// The value, if present and not expired at `now`.
    async fn get_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Removes and returns the value (single use): of two concurrent takes, exactly one gets it.
    async fn take_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Removes the value.
    async fn delete_ephemeral(&self, namespace: Ephemeral, key: &str) -> StoreResult<()>;
    /// The unexpired records of a namespace at `now`, as `(key, value)`, at most `limit` (a work queue's scan: the
    /// caller takes each with [`Store::take_ephemeral`], so of two processes only one handles a record).
    async fn list_ephemeral(&self, namespace: Ephemeral, now: i64, limit: usize)
    -> StoreResult<Vec<(String, Vec<u8>)>>;

    // ---- documents (authorization directory, consents) ----
    /// The document under `key`.
    async fn find_document(&self, collection: Collection, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// The documents whose key starts with `prefix` (`""`: all of them), as `(key, value)` in key order.
    async fn list_documents(&self, collection: Collection, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// Creates or replaces a document.
    async fn save_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<()>;
    /// Creates a document only when `key` is free, atomically: of two concurrent creates exactly one gets `true`
    /// (a unique name claimed by its index entry).
    async fn create_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<bool>;
    /// Changes a stored document atomically: `change` sees the stored value and returns the new one. Returns what
    /// was stored; `None` when there is no such document or `change` refused.
    async fn update_document(
        &self,
        collection: Collection,
        key: &str,
        change: &Change<'_, Vec<u8>>,
    ) -> StoreResult<Option<Vec<u8>>>;
    /// Deletes a document; `false` when there was none.
    async fn delete_document(&self, collection: Collection, key: &str) -> StoreResult<bool>;
    /// A number that changes with every document write, so a process holding a copy of the directory knows when
    /// to read it again.
    async fn documents_version(&self) -> StoreResult<u64>;

    // ---- signing keys ----
    /// Every signing key, oldest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Creates or replaces a signing key.
    async fn save_signing_key(&self, key: &SigningKey) -> StoreResult<()>;

    // ---- brute-force protection ----
    /// Failed logins of `login` (lower-cased identifier) from `ip`.
    async fn find_login_attempts(&self, login: &str, ip: &str) -> StoreResult<LoginAttempts>;
    /// Changes the failed logins of `login` from `ip` atomically (a missing record is the default, no failures):
    /// returns what was stored, `None` when `change` refused. Attempts are reserved this way before a password is
    /// checked, so parallel guesses cannot all read the same count.
    async fn update_login_attempts(
        &self,
        login: &str,
        ip: &str,
        change: &Change<'_, LoginAttempts>,
    ) -> StoreResult<Option<LoginAttempts>>;
    /// Forgets failed logins of `login` (from every IP when `ip` is `None`).
    async fn clear_login_attempts(&self, login: &str, ip: Option<&str>) -> StoreResult<()>;

    // ---- rate limits ----
    /// Spends one unit of the bucket `key` (for example `email-send\0<user_id>`) at `now`, atomically.
    async fn hit_rate_limit(&self, key: &str, limit: RateLimit, now: i64) -> StoreResult<RateDecision>;

    // ---- tenant logs ----
    /// Appends an entry; its `log_id` is assigned by the store (sortable by time) and returned. Durable when it
    /// returns.
    async fn append_log(&self, entry: &LogEntry) -> StoreResult<String>;
    /// Appends an entry that may be group-committed: readable at once, durable within the backend's own flush
    /// interval (sled: 500 ms) rather than before this returns. Success log lines are written this way, so a token
    /// request does not wait for a disk flush of its log line; what a user relies on (a spent code, a rotated
    /// refresh token, a counter) is never written this way.
    async fn append_log_group_committed(&self, entry: &LogEntry) -> StoreResult<String> {
        self.append_log(entry).await
    }
    /// Entries, newest first.
    async fn list_logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>>;

    // ---- moving a tenant to another store (`gatehouse store migrate`) ----
    /// Every SSO session, as `(key, session)`.
    async fn export_sessions(&self) -> StoreResult<Vec<(String, Session)>>;
    /// Every refresh token (used or not, until it is purged), as `(key, token)`.
    async fn export_refresh_tokens(&self) -> StoreResult<Vec<(String, RefreshToken)>>;
    /// The unexpired records of a namespace at `now`, as `(key, value, expires_at)`.
    async fn export_ephemeral(&self, namespace: Ephemeral, now: i64) -> StoreResult<Vec<(String, Vec<u8>, i64)>>;
    /// Stores a log entry under its own `log_id` (a copy from another store); `false` when that id is there already.
    async fn import_log(&self, entry: &LogEntry) -> StoreResult<bool>;

    // ---- housekeeping ----
    /// Whether the `[[users]]` of the configuration were seeded (done once, on first start).
    async fn is_seeded(&self) -> StoreResult<bool>;
    /// Records that seeding happened.
    async fn mark_seeded(&self) -> StoreResult<()>;
    /// Removes expired sessions, codes, ephemeral records and refresh tokens; returns how many.
    async fn purge_expired(&self, now: i64) -> StoreResult<usize>;
}

/// The store key of a bearer secret: hex SHA-256.
pub fn secret_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
