//! A store that cannot answer must never read as "nothing there": no session becomes a fresh login page, no
//! revocation list becomes a valid token. The tenant runs in-process over a store whose reads and writes can be
//! made to fail, with the real HTTP server in front.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use gatehouse_server::AppState;
use gatehouse_store::{
    Change, CodeUse, Collection, Ephemeral, LogQuery, RateDecision, RateLimit, RefreshUse, SledStore, Store,
    StoreError, StoreResult,
};
use gatehouse_tests::{Browser, MFA_DEFAULT, config, open_tenant};
use gatehouse_types::records::{
    Authenticator, AuthorizationCode, LogEntry, LoginAttempts, RefreshToken, Session, SigningKey, User,
};

use crate::common::{PASSWORD, web_authorize_url};

/// A sled store that fails every call while `failing` is set.
#[derive(Debug)]
struct FlakyStore {
    inner: SledStore,
    failing: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("injected failure".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn find_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.find_user(user_id).await
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.find_user_by_email(email).await
    }
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.check()?;
        self.inner.create_user(user).await
    }
    async fn update_user(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.update_user(user_id, change).await
    }
    async fn update_user_with_email(&self, user_id: &str, change: &Change<'_, User>) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.update_user_with_email(user_id, change).await
    }
    async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_user(user_id).await
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.check()?;
        self.inner.list_users().await
    }
    async fn find_authenticators(&self, user_id: &str) -> StoreResult<Vec<Authenticator>> {
        self.check()?;
        self.inner.find_authenticators(user_id).await
    }
    async fn save_authenticator(&self, authenticator: &Authenticator) -> StoreResult<()> {
        self.check()?;
        self.inner.save_authenticator(authenticator).await
    }
    async fn delete_authenticator(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_authenticator(user_id, id).await
    }
    async fn update_authenticator(
        &self,
        user_id: &str,
        id: &str,
        change: &Change<'_, Authenticator>,
    ) -> StoreResult<Option<Authenticator>> {
        self.check()?;
        self.inner.update_authenticator(user_id, id, change).await
    }
    async fn save_session(&self, key: &str, session: &Session) -> StoreResult<()> {
        self.check()?;
        self.inner.save_session(key, session).await
    }
    async fn find_session(&self, key: &str, now: i64) -> StoreResult<Option<Session>> {
        self.check()?;
        self.inner.find_session(key, now).await
    }
    async fn delete_session(&self, key: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.delete_session(key).await
    }
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<usize> {
        self.check()?;
        self.inner.delete_user_sessions(user_id).await
    }
    async fn create_code(&self, key: &str, code: &AuthorizationCode) -> StoreResult<()> {
        self.check()?;
        self.inner.create_code(key, code).await
    }
    async fn take_code(&self, key: &str, now: i64) -> StoreResult<CodeUse> {
        self.check()?;
        self.inner.take_code(key, now).await
    }
    async fn is_code_replayed(&self, key: &str, now: i64) -> StoreResult<bool> {
        self.check()?;
        self.inner.is_code_replayed(key, now).await
    }
    async fn save_refresh_token(&self, key: &str, token: &RefreshToken) -> StoreResult<()> {
        self.check()?;
        self.inner.save_refresh_token(key, token).await
    }
    async fn find_refresh_token(&self, key: &str, now: i64) -> StoreResult<Option<RefreshToken>> {
        self.check()?;
        self.inner.find_refresh_token(key, now).await
    }
    async fn use_refresh_token(&self, key: &str, now: i64) -> StoreResult<RefreshUse> {
        self.check()?;
        self.inner.use_refresh_token(key, now).await
    }
    async fn revoke_refresh_family(&self, family: &str) -> StoreResult<usize> {
        self.check()?;
        self.inner.revoke_refresh_family(family).await
    }
    async fn revoke_user_refresh_tokens(&self, user_id: &str, client_id: Option<&str>) -> StoreResult<usize> {
        self.check()?;
        self.inner.revoke_user_refresh_tokens(user_id, client_id).await
    }
    async fn put_ephemeral(&self, namespace: Ephemeral, key: &str, value: &[u8], expires_at: i64) -> StoreResult<()> {
        self.check()?;
        self.inner.put_ephemeral(namespace, key, value, expires_at).await
    }
    async fn get_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        self.check()?;
        self.inner.get_ephemeral(namespace, key, now).await
    }
    async fn take_ephemeral(&self, namespace: Ephemeral, key: &str, now: i64) -> StoreResult<Option<Vec<u8>>> {
        self.check()?;
        self.inner.take_ephemeral(namespace, key, now).await
    }
    async fn delete_ephemeral(&self, namespace: Ephemeral, key: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.delete_ephemeral(namespace, key).await
    }
    async fn list_ephemeral(
        &self,
        namespace: Ephemeral,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.check()?;
        self.inner.list_ephemeral(namespace, now, limit).await
    }
    async fn find_document(&self, collection: Collection, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.check()?;
        self.inner.find_document(collection, key).await
    }
    async fn list_documents(&self, collection: Collection, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.check()?;
        self.inner.list_documents(collection, prefix).await
    }
    async fn save_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<()> {
        self.check()?;
        self.inner.save_document(collection, key, value).await
    }
    async fn create_document(&self, collection: Collection, key: &str, value: &[u8]) -> StoreResult<bool> {
        self.check()?;
        self.inner.create_document(collection, key, value).await
    }
    async fn update_document(
        &self,
        collection: Collection,
        key: &str,
        change: &Change<'_, Vec<u8>>,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.check()?;
        self.inner.update_document(collection, key, change).await
    }
    async fn delete_document(&self, collection: Collection, key: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_document(collection, key).await
    }
    async fn documents_version(&self) -> StoreResult<u64> {
        self.check()?;
        self.inner.documents_version().await
    }
    async fn export_sessions(&self) -> StoreResult<Vec<(String, Session)>> {
        self.check()?;
        self.inner.export_sessions().await
    }
    async fn export_refresh_tokens(&self) -> StoreResult<Vec<(String, RefreshToken)>> {
        self.check()?;
        self.inner.export_refresh_tokens().await
    }
    async fn export_ephemeral(&self, namespace: Ephemeral, now: i64) -> StoreResult<Vec<(String, Vec<u8>, i64)>> {
        self.check()?;
        self.inner.export_ephemeral(namespace, now).await
    }
    async fn import_log(&self, entry: &LogEntry) -> StoreResult<bool> {
        self.check()?;
        self.inner.import_log(entry).await
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        self.check()?;
        self.inner.list_signing_keys().await
    }
    async fn save_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        self.check()?;
        self.inner.save_signing_key(key).await
    }
    async fn find_login_attempts(&self, login: &str, ip: &str) -> StoreResult<LoginAttempts> {
        self.check()?;
        self.inner.find_login_attempts(login, ip).await
    }
    async fn update_login_attempts(
        &self,
        login: &str,
        ip: &str,
        change: &Change<'_, LoginAttempts>,
    ) -> StoreResult<Option<LoginAttempts>> {
        self.check()?;
        self.inner.update_login_attempts(login, ip, change).await
    }
    async fn clear_login_attempts(&self, login: &str, ip: Option<&str>) -> StoreResult<()> {
        self.check()?;
        self.inner.clear_login_attempts(login, ip).await
    }
    async fn hit_rate_limit(&self, key: &str, limit: RateLimit, now: i64) -> StoreResult<RateDecision> {
        self.check()?;
        self.inner.hit_rate_limit(key, limit, now).await
    }
    async fn append_log(&self, entry: &LogEntry) -> StoreResult<String> {
        self.check()?;
        self.inner.append_log(entry).await
    }
    async fn list_logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.check()?;
        self.inner.list_logs(query).await
    }
    async fn is_seeded(&self) -> StoreResult<bool> {
        self.check()?;
        self.inner.is_seeded().await
    }
    async fn mark_seeded(&self) -> StoreResult<()> {
        self.check()?;
        self.inner.mark_seeded().await
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<usize> {
        self.check()?;
        self.inner.purge_expired(now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failures_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = config(MFA_DEFAULT, "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let store = Arc::new(FlakyStore { inner: SledStore::temporary().unwrap(), failing: AtomicBool::new(false) });
    let tenant = open_tenant(&text, dir.path(), store.clone(), Arc::new(gatehouse_auth::clock::SystemClock)).await;
    let state = AppState { tenant: Arc::new(tenant) };
    tokio::spawn(gatehouse_server::serve(state, listener, std::future::pending()));
    let issuer = format!("http://127.0.0.1:{port}/");
    let server = gatehouse_tests::Server::attach(&issuer);

    // A login while the store works: an SSO session and tokens.
    let browser = Browser::new(&server);
    let page = browser.follow(browser.get(&web_authorize_url(&server, "openid", "")).await).await;
    let page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 302, "{}", page.body);

    store.failing.store(true, Ordering::SeqCst);
    // /authorize with the session cookie: not "no session, here is the login form", but a server error.
    let page = browser.get(&web_authorize_url(&server, "openid", "")).await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert!(!page.body.contains("name=\"password\""));
    // The token endpoint and /userinfo answer 500 in Auth0's shape, and say nothing of the cause.
    let (status, body) = crate::common::password_grant(&server, "jane@example.com", PASSWORD, "openid").await;
    assert_eq!((status, body["error"].as_str()), (500, Some("server_error")), "{body}");
    assert!(!body.to_string().contains("injected"), "{body}");
    // Logout does not claim success when the session may still be there.
    let page = browser.get("v2/logout").await;
    assert_eq!(page.status, 500, "{}", page.body);

    store.failing.store(false, Ordering::SeqCst);
    let page = browser.follow(browser.get(&web_authorize_url(&server, "openid", "")).await).await;
    assert_eq!(page.status, 302, "the session is still there once the store answers: {}", page.body);
}
