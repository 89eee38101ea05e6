//! [`TimedStore`]: any store, with each operation's latency and errors recorded as metrics.
//!
//! `gatehouse serve` wraps its store in one, so `/metrics` shows `gatehouse_store_operation_duration_seconds`
//! (a histogram by backend and operation) and `gatehouse_store_errors_total` (by backend, operation and kind:
//! `unavailable`, `conflict`, `corrupt`, `backend`). Without an installed recorder (the CLI's own commands, tests)
//! recording costs next to nothing.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use gatehouse_types::records::{
    Authenticator, AuthorizationCode, LogEntry, LoginAttempts, RefreshToken, Session, SigningKey, User,
};

use crate::{
    Change, CodeUse, Collection, Ephemeral, LogQuery, RateDecision, RateLimit, RefreshUse, Store, StoreError,
    StoreResult,
};

/// A store whose every operation is timed.
#[derive(Debug)]
pub struct TimedStore {
    inner: Arc<dyn Store>,
    backend: &'static str,
}

impl TimedStore {
    /// Wraps `inner`; `backend` labels its metrics (`sled`, `postgres`).
    pub fn new(inner: Arc<dyn Store>, backend: &'static str) -> Self {
        TimedStore { inner, backend }
    }
}

fn error_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::Conflict(_) => "conflict",
        StoreError::Corrupt(_) => "corrupt",
        StoreError::Backend(_) => "backend",
        StoreError::Unavailable(_) => "unavailable",
    }
}

fn record(backend: &'static str, operation: &'static str, started: Instant, error: Option<&StoreError>) {
    metrics::histogram!("gatehouse_store_operation_duration_seconds", "backend" => backend, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if let Some(error) = error {
        // A conflict is an answer (the email is taken), not a fault, but an operator still wants to see the rate.
        metrics::counter!("gatehouse_store_errors_total", "backend" => backend, "operation" => operation, "kind" => error_kind(error))
            .increment(1);
    }
}

/// Runs one delegated call and records it under the method's name.
macro_rules! timed {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {{
        let started = Instant::now();
        let result = $self.inner.$method($($arg),*).await;
        record($self.backend, stringify!($method), started, result.as_ref().err());
        result
    }};
}

#[async_trait]
impl Store for TimedStore {
    async fn find_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        timed!(self.find_user(user_id))
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        timed!(self.find_user_by_email(email))
    }
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        timed!(self.create_user(user))
    }
    async fn update_user(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        timed!(self.update_user(user_id, change))
    }
    async fn update_user_with_email(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        timed!(self.update_user_with_email(user_id, change))
    }
    async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        timed!(self.delete_user(user_id))
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        timed!(self.list_users())
    }

    async fn find_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>> {
        timed!(self.find_authenticators(user_id))
    }
    async fn save_authenticator(&self, authenticator: &Authenticator) -> StoreResult<()> {
        timed!(self.save_authenticator(authenticator))
    }
    async fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        timed!(self.delete_authenticator(user_id, id))
    }
    async fn update_authenticator(
        &self,
        user_id: &str,
        id: &str,
        change: &Change<'_, Authenticator>,
    ) -> StoreResult<Option<Authenticator>> {
        timed!(self.update_authenticator(user_id, id, change))
    }

    async fn save_session(&self, key: &str, session: &Session) -> StoreResult<()> {
        timed!(self.save_session(key, session))
    }
    async fn find_session(&self, key: &str, now: i64) -> StoreResult<Option<Session>> {
        timed!(self.find_session(key, now))
    }
    async fn delete_session(&self, key: &str) -> StoreResult<()> {
        timed!(self.delete_session(key))
    }
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<usize> {
        timed!(self.delete_user_sessions(user_id))
    }

    async fn create_code(&self, key: &str, code: &AuthorizationCode) -> StoreResult<()> {
        timed!(self.create_code(key, code))
    }
    async fn take_code(&self, key: &str, now: i64) -> StoreResult<CodeUse> {
        timed!(self.take_code(key, now))
    }
    async fn is_code_replayed(&self, key: &str, now: i64) -> StoreResult<bool> {
        timed!(self.is_code_replayed(key, now))
    }

    async fn save_refresh_token(&self, key: &str, token: &RefreshToken) -> StoreResult<()> {
        timed!(self.save_refresh_token(key, token))
    }
    async fn find_refresh_token(&self, key: &str, now: i64) -> StoreResult<Option<RefreshToken>> {
        timed!(self.find_refresh_token(key, now))
    }
    async fn use_refresh_token(&self, key: &str, now: i64) -> StoreResult<RefreshUse> {
        timed!(self.use_refresh_token(key, now))
    }
    async fn revoke_refresh_family(&self, family: &str) -> StoreResult<usize> {
        timed!(self.revoke_refresh_family(family))
    }
    async fn revoke_user_refresh_tokens(&self, user_id: &str, client_id: Option<&str>) -> StoreResult<usize> {
        timed!(self.revoke_user_refresh_tokens(user_id, client_id))
    }

    async fn put_ephemeral(&self, namespace: Ephemeral, key: &str, value: &[u8], expires_at: i64) -> StoreResult<()> {
        timed!(self.put_ephemeral(namespace, key, value, expires_at))
    }
    async fn get_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        timed!(self.get_ephemeral(namespace, key, now))
    }
    async fn take_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        timed!(self.take_ephemeral(namespace, key, now))
    }
    async fn delete_ephemeral(&self, namespace: Ephemeral, key: &str) -> StoreResult<()> {
        timed!(self.delete_ephemeral(namespace, key))
    }
    async fn list_ephemeral(
        &self,
        namespace: Ephemeral,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        timed!(self.list_ephemeral(namespace, now, limit))
    }

    async fn find_document(&self, collection: Collection, key: &str) -> StoreResult<Option<Vec<u8>>> {
        timed!(self.find_document(collection, key))
    }
    async fn list_documents(&self, collection: Collection, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        timed!(self.list_documents(collection, prefix))
    }
    async fn save_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<()> {
        timed!(self.save_document(collection, key, value))
    }
    async fn create_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<bool> {
        timed!(self.create_document(collection, key, value))
    }
    async fn update_document(
        &self,
        collection: Collection,
        key: &str,
        change: &Change<'_, Vec<u8>>,
    ) -> StoreResult<Option<Vec<u8>>> {
        timed!(self.update_document(collection, key, change))
    }
    async fn delete_document(&self, collection: Collection, key: &str) -> StoreResult<bool> {
        timed!(self.delete_document(collection, key))
    }
    async fn documents_version(&self) -> StoreResult<u64> {
        timed!(self.documents_version())
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        timed!(self.list_signing_keys())
    }
    async fn save_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        timed!(self.save_signing_key(key))
    }

    async fn find_login_attempts(&self, login: &str, ip: &str) -> StoreResult<LoginAttempts> {
        timed!(self.find_login_attempts(login, ip))
    }
    async fn update_login_attempts(
        &self,
        login: &str,
        ip: &str,
        change: &Change<'_, LoginAttempts>,
    ) -> StoreResult<Option<LoginAttempts>> {
        timed!(self.update_login_attempts(login, ip, change))
    }
    async fn clear_login_attempts(&self, login: &str, ip: Option<&str>) -> StoreResult<()> {
        timed!(self.clear_login_attempts(login, ip))
    }

    async fn hit_rate_limit(&self, key: &str, limit: RateLimit, now: i64) -> StoreResult<RateDecision> {
        timed!(self.hit_rate_limit(key, limit, now))
    }

    async fn append_log(&self, entry: &LogEntry) -> StoreResult<String> {
        timed!(self.append_log(entry))
    }
    async fn append_log_group_committed(&self, entry: &LogEntry) -> StoreResult<String> {
        timed!(self.append_log_group_committed(entry))
    }
    async fn list_logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        timed!(self.list_logs(query))
    }

    async fn export_sessions(&self) -> StoreResult<Vec<(String, Session)>> {
        timed!(self.export_sessions())
    }
    async fn export_refresh_tokens(&self) -> StoreResult<Vec<(String, RefreshToken)>> {
        timed!(self.export_refresh_tokens())
    }
    async fn export_ephemeral(&self, namespace: Ephemeral, now: i64) -> StoreResult<Vec<(String, Vec<u8>, i64)>> {
        timed!(self.export_ephemeral(namespace, now))
    }
    async fn import_log(&self, entry: &LogEntry) -> StoreResult<bool> {
        timed!(self.import_log(entry))
    }

    async fn is_seeded(&self) -> StoreResult<bool> {
        timed!(self.is_seeded())
    }
    async fn mark_seeded(&self) -> StoreResult<()> {
        timed!(self.mark_seeded())
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<usize> {
        timed!(self.purge_expired(now))
    }
}
