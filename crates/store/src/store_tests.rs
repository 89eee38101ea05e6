//! The behaviour every [`Store`] must have, written once against the trait and run on each backend: `mod sled` runs
//! it on temporary sled databases, `mod postgres` on PostgreSQL, each test in a schema of its own (see
//! `pg_store::tests`). Durability under `kill -9` is tested separately (`tests/kill9.rs`), since it needs a child
//! process; what only one backend has (a sled directory, PostgreSQL migrations) is tested beside it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_types::records::{
    Authenticator, AuthenticatorKind, AuthorizationCode, Grant, LogEntry, LoginAttempts, RefreshToken, Session,
    SigningKey, User,
};
use tokio::sync::Barrier;

use crate::pg_store::tests::TestSchema;
use crate::{
    CodeUse, Collection, Ephemeral, LogQuery, PgStore, RateDecision, RateLimit, RefreshUse, SledStore, Store,
    StoreError,
};

/// Instantiates every shared test for one backend: `$backend` is an expression giving a future of a [`Backend`].
macro_rules! store_tests {
    ($backend:expr; single: [$($single:ident),* $(,)?]; parallel: [$($parallel:ident),* $(,)?] $(;)?) => {
        $(
            #[tokio::test]
            async fn $single() {
                let backend = $backend.await;
                super::$single(&backend).await;
                backend.finish().await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn $parallel() {
                let backend = $backend.await;
                super::$parallel(&backend).await;
                backend.finish().await;
            }
        )*
    };
}

/// The list of shared tests, once: single-threaded ones, then races on a multi-threaded runtime.
macro_rules! all_store_tests {
    ($backend:expr) => {
        store_tests! {
            $backend;
            single: [
                users_round_trip_and_are_found_by_email_case_insensitively,
                create_user_refuses_a_taken_id_or_email,
                update_user_with_email_moves_the_email_index_and_refuses_a_taken_email,
                delete_user_removes_the_user_its_email_and_its_authenticators_only,
                list_users_orders_by_email,
                authenticators_round_trip_oldest_first,
                an_authenticator_needs_an_existing_user,
                sessions_expire_and_are_deleted_per_user,
                a_code_is_taken_once_then_replayed_until_its_expiry,
                a_refresh_token_is_fresh_once_then_reused,
                a_refresh_token_is_found_until_its_expiry_used_or_not,
                refresh_tokens_are_revoked_by_family_user_and_client,
                ephemeral_records_are_namespaced_expire_and_are_taken_once,
                ephemeral_records_are_listed_by_namespace_unexpired_and_limited,
                signing_keys_list_oldest_first_and_are_replaced_by_kid,
                an_update_that_refuses_writes_nothing,
                login_attempts_are_kept_per_login_and_ip,
                keys_with_nul_characters_are_kept_apart_or_found_missing,
                a_group_committed_log_line_is_readable_at_once,
                log_ids_are_unique_and_sort_in_append_order,
                list_logs_pages_newest_first_with_filters,
                seeding_is_remembered,
                purge_expired_removes_only_expired_records_and_counts_them,
                corrupt_records_are_reported_without_their_contents,
                debug_output_shows_no_records,
                the_store_is_usable_as_a_trait_object,
                documents_are_kept_by_collection_listed_by_prefix_and_counted,
                a_refused_document_update_writes_nothing,
            ];
            parallel: [
                of_16_racing_code_exchanges_exactly_one_wins,
                racing_attempt_reservations_all_count,
                racing_authenticator_updates_are_all_applied,
                racing_user_updates_are_all_applied,
                address_changes_racing_other_updates_lose_none,
                racing_rate_limit_hits_spend_the_bucket_exactly,
                of_16_racing_refresh_exchanges_exactly_one_is_fresh,
                of_16_racing_ephemeral_takes_exactly_one_wins,
                of_16_racing_sign_ups_with_one_email_exactly_one_succeeds,
                concurrent_log_appends_get_distinct_ids,
                a_user_deleted_while_authenticators_are_enrolled_leaves_none_behind,
                a_unique_document_is_created_once_under_parallel_creates,
                parallel_document_updates_lose_nothing,
            ];
        }
    };
}

mod sled {
    all_store_tests!(super::Backend::sled());
}

mod postgres {
    all_store_tests!(super::Backend::postgres());
}

/// A store under test, with what a test needs to look behind the trait.
pub(crate) enum Backend {
    Sled(Arc<SledStore>),
    Postgres(Arc<PgStore>, TestSchema),
}

impl Backend {
    async fn sled() -> Backend {
        Backend::Sled(Arc::new(SledStore::temporary().expect("temporary store")))
    }

    /// A store in a new, empty schema; fails (never skips) when PostgreSQL does not answer.
    async fn postgres() -> Backend {
        let (store, schema) = crate::pg_store::tests::store_in_new_schema().await;
        Backend::Postgres(Arc::new(store), schema)
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sled(store) => store.clone(),
            Backend::Postgres(store, _) => store.clone(),
        }
    }

    /// How many records the backend holds of a kind: a sled tree's length, a PostgreSQL table's rows. Both keep a
    /// spent code until its expiry, as one record.
    async fn count(&self, kind: &str) -> usize {
        match self {
            Backend::Sled(store) => store.raw_len(kind),
            Backend::Postgres(store, _) => store.raw_count(kind).await,
        }
    }

    /// Stores `json` as the user `user_id` behind the store's back (a corrupt record).
    async fn insert_raw_user(&self, user_id: &str, json: &str) {
        match self {
            Backend::Sled(store) => store.insert_raw_user(user_id, json),
            Backend::Postgres(store, _) => store.insert_raw_user(user_id, json).await,
        }
    }

    /// Cleans up after a test that passed (a failed one leaves its PostgreSQL schema to look at).
    async fn finish(self) {
        if let Backend::Postgres(store, schema) = self {
            drop(store);
            schema.drop_schema().await;
        }
    }
}

const NOW: i64 = 1_700_000_000;

pub(crate) fn user(user_id: &str, email: &str) -> User {
    User {
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        email_verified: false,
        name: None,
        nickname: None,
        given_name: None,
        family_name: None,
        picture: None,
        phone_number: None,
        phone_verified: false,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        connection: "Username-Password-Authentication".to_owned(),
        roles: vec!["admin".to_owned()],
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

fn authenticator(user_id: &str, id: &str, created_at: &str) -> Authenticator {
    Authenticator {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        kind: AuthenticatorKind::Otp { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned(), last_step: 0 },
        active: true,
        created_at: created_at.to_owned(),
        last_auth_at: None,
        attempts_left: 10.0,
        attempts_updated: 0,
    }
}

fn session(id: &str, user_id: &str, expires_at: i64) -> Session {
    Session {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        methods: Vec::new(),
        authenticated_at: NOW - 10,
        created_at: NOW - 10,
        last_active: NOW - 5,
        expires_at,
        clients: vec!["client-a".to_owned()],
    }
}

fn grant(user_id: &str, client_id: &str) -> Grant {
    Grant {
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: vec!["openid".to_owned(), "offline_access".to_owned()],
        auth_time: NOW - 10,
        ..Grant::default()
    }
}

fn code(expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        grant: grant("auth0|u1", "client-a"),
        redirect_uri: "https://app.example/callback".to_owned(),
        redirect_uri_sent: true,
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        expires_at,
    }
}

fn refresh(id: &str, family: &str, user_id: &str, client_id: &str, expires_at: i64) -> RefreshToken {
    RefreshToken {
        id: id.to_owned(),
        family: family.to_owned(),
        grant: grant(user_id, client_id),
        created_at: NOW - 10,
        expires_at,
        used_at: None,
    }
}

fn signing_key(kid: &str, created_at: i64) -> SigningKey {
    SigningKey {
        kid: kid.to_owned(),
        private_pkcs8: "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".to_owned(),
        n: "0vx7agoebGcQSuuPiLJXZpt".to_owned(),
        e: "AQAB".to_owned(),
        created_at,
        retired_at: None,
    }
}

pub(crate) fn log(kind: &str, user_id: Option<&str>) -> LogEntry {
    LogEntry {
        log_id: String::new(),
        date: "2024-01-01T00:00:00.000Z".to_owned(),
        kind: kind.to_owned(),
        description: format!("{kind} event"),
        client_id: Some("client-a".to_owned()),
        client_name: None,
        ip: Some("203.0.113.7".to_owned()),
        user_agent: None,
        user_id: user_id.map(str::to_owned),
        user_name: None,
        connection: None,
        details: Default::default(),
    }
}

pub(crate) async fn users_round_trip_and_are_found_by_email_case_insensitively(backend: &Backend) {
    let store = backend.store();
    let alice = user("auth0|a", "Alice@Example.com");
    store.create_user(&alice).await.expect("create");

    assert_eq!(store.find_user("auth0|a").await.expect("find"), Some(alice.clone()));
    assert_eq!(store.find_user_by_email("alice@example.COM").await.expect("by email"), Some(alice.clone()));
    assert_eq!(store.find_user("auth0|nobody").await.expect("find"), None);
    assert_eq!(store.find_user_by_email("bob@example.com").await.expect("by email"), None);
}

pub(crate) async fn create_user_refuses_a_taken_id_or_email(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "alice@example.com")).await.expect("create");

    let same_id = store.create_user(&user("auth0|a", "other@example.com")).await;
    assert!(matches!(same_id, Err(StoreError::Conflict(_))), "{same_id:?}");
    let same_email = store.create_user(&user("auth0|b", "ALICE@example.com")).await;
    assert!(matches!(same_email, Err(StoreError::Conflict(_))), "{same_email:?}");

    // Neither refused write left anything behind.
    assert_eq!(store.find_user("auth0|b").await.expect("find"), None);
    assert_eq!(store.find_user_by_email("other@example.com").await.expect("by email"), None);
    assert_eq!(store.find_user("auth0|a").await.expect("find").map(|u| u.email), Some("alice@example.com".to_owned()));
}

pub(crate) async fn update_user_with_email_moves_the_email_index_and_refuses_a_taken_email(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "alice@example.com")).await.expect("create a");
    store.create_user(&user("auth0|b", "bob@example.com")).await.expect("create b");
    let to = |email: &'static str| move |u: &User| Some(User { email: email.into(), logins_count: 3, ..u.clone() });

    let alice = store.update_user_with_email("auth0|a", &to("Alice.New@example.com")).await.expect("move");
    let alice = alice.expect("applied");
    assert_eq!((alice.email.as_str(), alice.logins_count), ("Alice.New@example.com", 3));
    assert_eq!(store.find_user_by_email("alice@example.com").await.expect("old email"), None);
    assert_eq!(store.find_user_by_email("alice.new@example.com").await.expect("new email"), Some(alice.clone()));
    // The old address is free again.
    store.create_user(&user("auth0|c", "alice@example.com")).await.expect("reuse the old address");

    // A change of case only keeps the index entry.
    let recased = store.update_user_with_email("auth0|a", &to("ALICE.NEW@example.com")).await.expect("recase");
    let recased = recased.expect("applied");
    assert_eq!(store.find_user_by_email("alice.new@example.com").await.expect("recased"), Some(recased.clone()));

    // Another user's address, in any case: refused, nothing written.
    let stolen = store.update_user_with_email("auth0|a", &to("BOB@example.com")).await;
    assert!(matches!(stolen, Err(StoreError::Conflict(_))), "{stolen:?}");
    assert_eq!(store.find_user("auth0|a").await.expect("unchanged"), Some(recased));
    assert_eq!(
        store.find_user_by_email("bob@example.com").await.expect("bob").map(|u| u.user_id),
        Some("auth0|b".into())
    );

    let missing = store.update_user_with_email("auth0|gone", &to("gone@example.com")).await.expect("missing");
    assert_eq!(missing, None);
    assert_eq!(store.find_user_by_email("gone@example.com").await.expect("gone"), None);
    let renamed = |u: &User| Some(User { user_id: "auth0|z".into(), email: "z@example.com".into(), ..u.clone() });
    assert_eq!(store.update_user_with_email("auth0|a", &renamed).await.expect("rename"), None);
    assert_eq!(store.find_user_by_email("z@example.com").await.expect("z"), None);
    assert_eq!(store.find_user("auth0|z").await.expect("z"), None);
}

pub(crate) async fn delete_user_removes_the_user_its_email_and_its_authenticators_only(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "alice@example.com")).await.expect("create a");
    store.create_user(&user("auth0|ab", "ab@example.com")).await.expect("create ab");
    store.save_authenticator(&authenticator("auth0|a", "totp|dev_1", "2024-01-01T00:00:00Z")).await.expect("save");
    store.save_authenticator(&authenticator("auth0|a", "totp|dev_2", "2024-01-02T00:00:00Z")).await.expect("save");
    store.save_authenticator(&authenticator("auth0|ab", "totp|dev_3", "2024-01-01T00:00:00Z")).await.expect("save");

    assert!(store.delete_user("auth0|a").await.expect("delete"));
    assert!(!store.delete_user("auth0|a").await.expect("delete again"));
    assert_eq!(store.find_user("auth0|a").await.expect("find"), None);
    assert_eq!(store.find_user_by_email("alice@example.com").await.expect("by email"), None);
    assert!(store.find_authenticators("auth0|a").await.expect("authenticators").is_empty());
    // `auth0|a` is a prefix of `auth0|ab`: its user and authenticators stay.
    assert_eq!(store.find_authenticators("auth0|ab").await.expect("authenticators").len(), 1);
    assert!(store.find_user("auth0|ab").await.expect("find").is_some());
    // The address is free for a new account.
    store.create_user(&user("auth0|a2", "alice@example.com")).await.expect("recreate");
}

pub(crate) async fn list_users_orders_by_email(backend: &Backend) {
    let store = backend.store();
    for (id, email) in
        [("auth0|1", "carol@example.com"), ("auth0|2", "Alice@example.com"), ("auth0|3", "bob@example.com")]
    {
        store.create_user(&user(id, email)).await.expect("create");
    }
    let emails: Vec<String> = store.list_users().await.expect("list").into_iter().map(|u| u.email).collect();
    assert_eq!(emails, ["Alice@example.com", "bob@example.com", "carol@example.com"]);
}

pub(crate) async fn authenticators_round_trip_oldest_first(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "alice@example.com")).await.expect("create");
    let newer = authenticator("auth0|a", "totp|dev_a", "2024-03-01T00:00:00.000Z");
    let older = authenticator("auth0|a", "totp|dev_z", "2024-01-01T00:00:00.000Z");
    store.save_authenticator(&newer).await.expect("save newer");
    store.save_authenticator(&older).await.expect("save older");
    assert_eq!(store.find_authenticators("auth0|a").await.expect("find"), [older.clone(), newer.clone()]);

    let mut confirmed = newer.clone();
    confirmed.kind = AuthenticatorKind::Otp { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned(), last_step: 42 };
    store.save_authenticator(&confirmed).await.expect("replace");
    assert_eq!(store.find_authenticators("auth0|a").await.expect("find"), [older.clone(), confirmed]);

    assert!(store.delete_authenticator("auth0|a", "totp|dev_a").await.expect("delete"));
    assert!(!store.delete_authenticator("auth0|a", "totp|dev_a").await.expect("delete again"));
    assert_eq!(store.find_authenticators("auth0|a").await.expect("find"), [older]);
}

pub(crate) async fn an_authenticator_needs_an_existing_user(backend: &Backend) {
    let store = backend.store();
    let orphan = store.save_authenticator(&authenticator("auth0|nobody", "totp|dev_1", "2024-01-01T00:00:00Z")).await;
    assert!(matches!(orphan, Err(StoreError::Conflict(_))), "{orphan:?}");
    assert!(store.find_authenticators("auth0|nobody").await.expect("find").is_empty());
}

pub(crate) async fn sessions_expire_and_are_deleted_per_user(backend: &Backend) {
    let store = backend.store();
    let live = session("sid-1", "auth0|a", NOW + 60);
    store.save_session("k1", &live).await.expect("save");
    store.save_session("k2", &session("sid-2", "auth0|a", NOW + 60)).await.expect("save");
    store.save_session("k3", &session("sid-3", "auth0|b", NOW + 60)).await.expect("save");

    assert_eq!(store.find_session("k1", NOW).await.expect("find"), Some(live.clone()));
    assert_eq!(store.find_session("k1", NOW + 59).await.expect("just before expiry"), Some(live));
    assert_eq!(store.find_session("k1", NOW + 60).await.expect("at expiry"), None);
    assert_eq!(store.find_session("nope", NOW).await.expect("unknown"), None);

    store.delete_session("k2").await.expect("delete");
    assert_eq!(store.find_session("k2", NOW).await.expect("deleted"), None);

    store.save_session("k2", &session("sid-2", "auth0|a", NOW + 60)).await.expect("save again");
    assert_eq!(store.delete_user_sessions("auth0|a").await.expect("delete user's"), 2);
    assert_eq!(store.find_session("k1", NOW).await.expect("gone"), None);
    assert!(store.find_session("k3", NOW).await.expect("other user's").is_some());
    assert_eq!(store.delete_user_sessions("auth0|a").await.expect("none left"), 0);
}

pub(crate) async fn a_code_is_taken_once_then_replayed_until_its_expiry(backend: &Backend) {
    let store = backend.store();
    let fresh = code(NOW + 60);
    store.create_code("c1", &fresh).await.expect("create");
    store.create_code("c2", &code(NOW - 1)).await.expect("create expired");

    assert!(!store.is_code_replayed("c1", NOW).await.expect("not spent"));
    assert_eq!(store.take_code("c1", NOW).await.expect("take"), CodeUse::Fresh(Box::new(fresh)));
    assert!(!store.is_code_replayed("c1", NOW).await.expect("spent once"));
    assert_eq!(store.take_code("c1", NOW).await.expect("take again"), CodeUse::Replayed);
    assert!(store.is_code_replayed("c1", NOW).await.expect("replayed"));
    // After the code's expiry the used-code record no longer answers: a late replay is just unknown.
    assert_eq!(store.take_code("c1", NOW + 60).await.expect("take after expiry"), CodeUse::Missing);
    assert!(!store.is_code_replayed("c1", NOW + 60).await.expect("expired"));
    assert_eq!(store.take_code("c2", NOW).await.expect("take expired"), CodeUse::Missing);
    assert_eq!(store.take_code("unknown", NOW).await.expect("take unknown"), CodeUse::Missing);
    // The used-code record is purged with the codes.
    assert!(store.purge_expired(NOW + 61).await.expect("purge") >= 1);
    assert_eq!(backend.count("codes").await, 0);
}

pub(crate) async fn a_refresh_token_is_fresh_once_then_reused(backend: &Backend) {
    let store = backend.store();
    let token = refresh("rt1", "fam1", "auth0|a", "client-a", NOW + 3600);
    store.save_refresh_token("k1", &token).await.expect("save");

    let used = RefreshToken { used_at: Some(NOW), ..token };
    assert_eq!(store.use_refresh_token("k1", NOW).await.expect("first"), RefreshUse::Fresh(used.clone()));
    assert_eq!(store.use_refresh_token("k1", NOW + 5).await.expect("second"), RefreshUse::Reused(used.clone()));
    assert_eq!(store.use_refresh_token("k1", NOW + 3600).await.expect("expired"), RefreshUse::Missing);
    assert_eq!(store.use_refresh_token("unknown", NOW).await.expect("unknown"), RefreshUse::Missing);

    store.save_refresh_token("k2", &refresh("rt2", "fam2", "auth0|a", "client-a", NOW)).await.expect("save");
    assert_eq!(store.use_refresh_token("k2", NOW).await.expect("expired at birth"), RefreshUse::Missing);
}

pub(crate) async fn refresh_tokens_are_revoked_by_family_user_and_client(backend: &Backend) {
    let store = backend.store();
    let tokens = [
        ("k1", refresh("rt1", "fam1", "auth0|a", "client-a", NOW + 3600)),
        ("k2", refresh("rt2", "fam1", "auth0|a", "client-a", NOW + 3600)),
        ("k3", refresh("rt3", "fam2", "auth0|a", "client-a", NOW + 3600)),
        ("k4", refresh("rt4", "fam3", "auth0|a", "client-b", NOW + 3600)),
        ("k5", refresh("rt5", "fam4", "auth0|b", "client-a", NOW + 3600)),
    ];
    for (key, token) in &tokens {
        store.save_refresh_token(key, token).await.expect("save");
    }

    assert_eq!(store.revoke_refresh_family("fam1").await.expect("family"), 2);
    assert_eq!(store.use_refresh_token("k1", NOW).await.expect("revoked"), RefreshUse::Missing);
    assert_eq!(store.revoke_refresh_family("fam1").await.expect("family again"), 0);

    assert_eq!(store.revoke_user_refresh_tokens("auth0|a", Some("client-b")).await.expect("client"), 1);
    assert_eq!(store.use_refresh_token("k4", NOW).await.expect("revoked"), RefreshUse::Missing);
    assert!(matches!(store.use_refresh_token("k3", NOW).await.expect("other client"), RefreshUse::Fresh(_)));

    assert_eq!(store.revoke_user_refresh_tokens("auth0|a", None).await.expect("all clients"), 1);
    assert!(matches!(store.use_refresh_token("k5", NOW).await.expect("other user"), RefreshUse::Fresh(_)));
}

pub(crate) async fn ephemeral_records_are_namespaced_expire_and_are_taken_once(backend: &Backend) {
    let store = backend.store();
    store.put_ephemeral(Ephemeral::Transaction, "t1", b"paused login", NOW + 60).await.expect("put");
    store.put_ephemeral(Ephemeral::OneTimeCode, "t1", b"123456", NOW + 60).await.expect("put");

    assert_eq!(
        store.get_ephemeral(Ephemeral::Transaction, "t1", NOW).await.expect("get"),
        Some(b"paused login".into())
    );
    assert_eq!(store.get_ephemeral(Ephemeral::OneTimeCode, "t1", NOW).await.expect("get"), Some(b"123456".into()));
    assert_eq!(store.get_ephemeral(Ephemeral::MfaTicket, "t1", NOW).await.expect("other namespace"), None);
    assert_eq!(store.get_ephemeral(Ephemeral::Transaction, "t1", NOW + 60).await.expect("expired"), None);

    assert_eq!(store.take_ephemeral(Ephemeral::OneTimeCode, "t1", NOW).await.expect("take"), Some(b"123456".into()));
    assert_eq!(store.take_ephemeral(Ephemeral::OneTimeCode, "t1", NOW).await.expect("take again"), None);
    assert_eq!(store.take_ephemeral(Ephemeral::Transaction, "t1", NOW + 60).await.expect("take expired"), None);

    store.put_ephemeral(Ephemeral::KnownDevice, "d1", b"", NOW + 60).await.expect("put empty");
    assert_eq!(store.get_ephemeral(Ephemeral::KnownDevice, "d1", NOW).await.expect("empty value"), Some(Vec::new()));
    store.delete_ephemeral(Ephemeral::KnownDevice, "d1").await.expect("delete");
    assert_eq!(store.get_ephemeral(Ephemeral::KnownDevice, "d1", NOW).await.expect("deleted"), None);
}

pub(crate) async fn signing_keys_list_oldest_first_and_are_replaced_by_kid(backend: &Backend) {
    let store = backend.store();
    store.save_signing_key(&signing_key("kid-b", NOW)).await.expect("save");
    store.save_signing_key(&signing_key("kid-a", NOW + 10)).await.expect("save");
    let mut retired = signing_key("kid-b", NOW);
    retired.retired_at = Some(NOW + 10);
    store.save_signing_key(&retired).await.expect("retire");
    assert_eq!(store.list_signing_keys().await.expect("list"), [retired, signing_key("kid-a", NOW + 10)]);
}

async fn save_attempts(store: &dyn Store, login: &str, ip: &str, attempts: &LoginAttempts) {
    let stored = store.update_login_attempts(login, ip, &|_| Some(attempts.clone())).await.expect("update");
    assert_eq!(stored.as_ref(), Some(attempts));
}

pub(crate) async fn an_update_that_refuses_writes_nothing(backend: &Backend) {
    let store = backend.store();
    assert_eq!(store.update_login_attempts("a", "1.1.1.1", &|_| None).await.expect("refused"), None);
    assert_eq!(backend.count("login_attempts").await, 0);
    let missing = store.update_authenticator("auth0|a", "totp|x", &|a| Some(a.clone())).await.expect("missing");
    assert_eq!(missing, None);
}

pub(crate) async fn login_attempts_are_kept_per_login_and_ip(backend: &Backend) {
    let store = backend.store();
    assert_eq!(store.find_login_attempts("alice@example.com", "203.0.113.1").await.expect("none"), Default::default());
    let two = LoginAttempts { failures: 2, last_failure: NOW };
    for (login, ip) in
        [("alice@example.com", "203.0.113.1"), ("alice@example.com", "203.0.113.2"), ("alice", "1.1.1.1")]
    {
        save_attempts(&*store, login, ip, &two).await;
    }
    assert_eq!(store.find_login_attempts("alice@example.com", "203.0.113.1").await.expect("find"), two);

    store.clear_login_attempts("alice@example.com", Some("203.0.113.1")).await.expect("clear one ip");
    assert_eq!(
        store.find_login_attempts("alice@example.com", "203.0.113.1").await.expect("cleared"),
        Default::default()
    );
    assert_eq!(store.find_login_attempts("alice@example.com", "203.0.113.2").await.expect("other ip"), two);

    save_attempts(&*store, "alice@example.com", "203.0.113.1", &two).await;
    store.clear_login_attempts("alice@example.com", None).await.expect("clear all ips");
    assert_eq!(
        store.find_login_attempts("alice@example.com", "203.0.113.2").await.expect("cleared"),
        Default::default()
    );
    assert_eq!(store.find_login_attempts("alice", "1.1.1.1").await.expect("other login"), two);
}

pub(crate) async fn a_group_committed_log_line_is_readable_at_once(backend: &Backend) {
    let store = backend.store();
    let entry: LogEntry = serde_json::from_value(serde_json::json!({
        "log_id": "", "date": "2026-01-01T00:00:00.000Z", "type": "seccft", "description": "ok"
    }))
    .expect("entry");
    let id = store.append_log_group_committed(&entry).await.expect("append");
    let page = store.list_logs(&LogQuery { take: 10, ..LogQuery::default() }).await.expect("list");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].log_id, id);
}

pub(crate) async fn log_ids_are_unique_and_sort_in_append_order(backend: &Backend) {
    let store = backend.store();
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(store.append_log(&log("s", None)).await.expect("append"));
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids must increase: {ids:?}");
    assert!(ids.iter().all(|id| id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())));

    let newest = store.list_logs(&LogQuery { take: 1, ..LogQuery::default() }).await.expect("list");
    let expected = LogEntry { log_id: ids[299].clone(), ..log("s", None) };
    assert_eq!(newest, [expected]);
}

pub(crate) async fn list_logs_pages_newest_first_with_filters(backend: &Backend) {
    let store = backend.store();
    let mut ids = Vec::new();
    for i in 0..130 {
        let (kind, user_id) = match i % 3 {
            0 => ("s", Some("auth0|a")),
            1 => ("f", Some("auth0|b")),
            _ => ("fp", None),
        };
        ids.push(store.append_log(&log(kind, user_id)).await.expect("append"));
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let ids_of = |page: &[LogEntry]| page.iter().map(|entry| entry.log_id.clone()).collect::<Vec<_>>();

    let default_page = store.list_logs(&LogQuery::default()).await.expect("default");
    assert_eq!(ids_of(&default_page), newest_first[..50]);
    let capped = store.list_logs(&LogQuery { take: 500, ..LogQuery::default() }).await.expect("capped");
    assert_eq!(ids_of(&capped), newest_first[..100]);

    // Checkpoint paging walks every entry exactly once.
    let mut walked = Vec::new();
    let mut from = None;
    loop {
        let page =
            store.list_logs(&LogQuery { from: from.clone(), take: 40, ..LogQuery::default() }).await.expect("page");
        let Some(last) = page.last() else { break };
        from = Some(last.log_id.clone());
        walked.extend(ids_of(&page));
    }
    assert_eq!(walked, newest_first);

    let query = LogQuery { types: vec!["f".into(), "fp".into()], take: 100, ..LogQuery::default() };
    let failures = store.list_logs(&query).await.expect("by type");
    assert_eq!(failures.len(), 86);
    assert!(failures.iter().all(|entry| entry.kind == "f" || entry.kind == "fp"));

    let query =
        LogQuery { user_id: Some("auth0|a".into()), from: Some(ids[100].clone()), take: 10, ..LogQuery::default() };
    let of_a = store.list_logs(&query).await.expect("by user");
    let expected: Vec<String> = (0..100).rev().filter(|i| i % 3 == 0).take(10).map(|i| ids[i].clone()).collect();
    assert_eq!(ids_of(&of_a), expected);
}

pub(crate) async fn seeding_is_remembered(backend: &Backend) {
    let store = backend.store();
    assert!(!store.is_seeded().await.expect("fresh"));
    store.mark_seeded().await.expect("mark");
    assert!(store.is_seeded().await.expect("seeded"));
}

pub(crate) async fn purge_expired_removes_only_expired_records_and_counts_them(backend: &Backend) {
    let store = backend.store();
    store.save_session("s-old", &session("sid-1", "auth0|a", NOW)).await.expect("session");
    store.save_session("s-old2", &session("sid-2", "auth0|a", NOW - 100)).await.expect("session");
    store.save_session("s-live", &session("sid-3", "auth0|a", NOW + 1)).await.expect("session");
    store.create_code("c-old", &code(NOW - 1)).await.expect("code");
    store.create_code("c-live", &code(NOW + 60)).await.expect("code");
    store.save_refresh_token("r-old", &refresh("rt1", "f1", "auth0|a", "c", NOW - 1)).await.expect("token");
    store.save_refresh_token("r-live", &refresh("rt2", "f2", "auth0|a", "c", NOW + 60)).await.expect("token");
    store.put_ephemeral(Ephemeral::Transaction, "e-old", b"x", NOW - 1).await.expect("ephemeral");
    store.put_ephemeral(Ephemeral::Other, "e-live", b"y", NOW + 60).await.expect("ephemeral");

    assert_eq!(store.purge_expired(NOW).await.expect("purge"), 5);
    assert_eq!(store.purge_expired(NOW).await.expect("purge again"), 0);

    // What is left is what was live, seen at a time when nothing has expired.
    let earlier = NOW - 1_000;
    assert!(store.find_session("s-live", earlier).await.expect("live").is_some());
    assert_eq!(store.find_session("s-old", earlier).await.expect("purged"), None);
    assert_eq!(backend.count("codes").await, 1);
    assert!(matches!(store.use_refresh_token("r-live", earlier).await.expect("live"), RefreshUse::Fresh(_)));
    assert_eq!(store.use_refresh_token("r-old", earlier).await.expect("purged"), RefreshUse::Missing);
    assert_eq!(store.get_ephemeral(Ephemeral::Transaction, "e-old", earlier).await.expect("purged"), None);
    assert_eq!(store.get_ephemeral(Ephemeral::Other, "e-live", earlier).await.expect("live"), Some(b"y".to_vec()));
}

pub(crate) async fn corrupt_records_are_reported_without_their_contents(backend: &Backend) {
    let store = backend.store();
    backend
        .insert_raw_user("auth0|a", r#"{"user_id": "auth0|a", "email": 5, "password_hash": "$argon2id$SECRET"}"#)
        .await;
    let error = store.find_user("auth0|a").await.expect_err("corrupt");
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
    assert!(!error.to_string().contains("SECRET"), "{error}");
}

pub(crate) async fn debug_output_shows_no_records(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "alice@example.com")).await.expect("create");
    let shown = format!("{store:?}");
    assert!(!shown.contains("argon2id") && !shown.contains("alice"), "{shown}");
}

pub(crate) async fn the_store_is_usable_as_a_trait_object(backend: &Backend) {
    let store: Arc<dyn Store> = backend.store();
    store.mark_seeded().await.expect("mark");
    assert!(store.is_seeded().await.expect("seeded"));
}

/// Runs `race` from `TASKS` tasks released together on a multi-threaded runtime; returns their results.
async fn race<T, F, Fut>(store: &Arc<dyn Store>, race: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    const TASKS: usize = 16;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let barrier = barrier.clone();
            let attempt = race(store.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    results
}

const ROUNDS: usize = 20;

pub(crate) async fn of_16_racing_code_exchanges_exactly_one_wins(backend: &Backend) {
    let store = backend.store();
    for round in 0..ROUNDS {
        let key = format!("code-{round}");
        store.create_code(&key, &code(NOW + 60)).await.expect("create");
        let taken = race(&store, |store| {
            let key = key.clone();
            async move { store.take_code(&key, NOW).await.expect("take") }
        })
        .await;
        let fresh = taken.iter().filter(|taken| matches!(taken, CodeUse::Fresh(_))).count();
        let replayed = taken.iter().filter(|taken| **taken == CodeUse::Replayed).count();
        assert_eq!((fresh, replayed), (1, 15), "round {round}");
    }
}

pub(crate) async fn racing_attempt_reservations_all_count(backend: &Backend) {
    let store = backend.store();
    // 16 parallel reservations of a limit of 10: exactly 10 are granted and the count stops at 10.
    let granted = race(&store, |store| async move {
        let reserve = |a: &LoginAttempts| {
            (a.failures < 10).then(|| LoginAttempts { failures: a.failures + 1, last_failure: NOW })
        };
        store.update_login_attempts("alice", "203.0.113.1", &reserve).await.expect("reserve").is_some()
    })
    .await;
    assert_eq!(granted.iter().filter(|g| **g).count(), 10);
    assert_eq!(store.find_login_attempts("alice", "203.0.113.1").await.expect("find").failures, 10);
}

pub(crate) async fn racing_authenticator_updates_are_all_applied(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "a@example.com")).await.expect("user");
    let mut otp = authenticator("auth0|a", "totp|a", "2024-01-01T00:00:00.000Z");
    otp.attempts_left = 16.0;
    store.save_authenticator(&otp).await.expect("save");
    race(&store, |store| async move {
        let spend = |a: &Authenticator| Some(Authenticator { attempts_left: a.attempts_left - 1.0, ..a.clone() });
        store.update_authenticator("auth0|a", "totp|a", &spend).await.expect("update").expect("applied");
    })
    .await;
    let stored = store.find_authenticators("auth0|a").await.expect("find");
    assert_eq!(stored[0].attempts_left, 0.0);
}

/// A login's count and a password reset on one user at the same time: neither overwrites the other, and a change
/// that would move the address (which the index keeps) is refused without writing.
pub(crate) async fn racing_user_updates_are_all_applied(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "a@example.com")).await.expect("user");
    let results = race(&store, |store| async move {
        let count = |u: &User| Some(User { logins_count: u.logins_count + 1, ..u.clone() });
        store.update_user("auth0|a", &count).await.expect("update").expect("applied");
        let reset = |u: &User| Some(User { password_hash: Some("$argon2id$new".into()), ..u.clone() });
        store.update_user("auth0|a", &reset).await.expect("update").is_some()
    })
    .await;
    assert!(results.iter().all(|applied| *applied));
    let stored = store.find_user("auth0|a").await.expect("find").expect("user");
    assert_eq!((stored.logins_count, stored.password_hash.as_deref()), (16, Some("$argon2id$new")));

    let moving = |u: &User| Some(User { email: "b@example.com".into(), ..u.clone() });
    assert_eq!(store.update_user("auth0|a", &moving).await.expect("update"), None);
    assert_eq!(store.find_user_by_email("b@example.com").await.expect("find"), None);
    assert_eq!(store.find_user("auth0|a").await.expect("find").expect("user").email, "a@example.com");
    let anyone = |u: &User| Some(u.clone());
    assert_eq!(store.update_user("auth0|nobody", &anyone).await.expect("update"), None);
}

/// Address changes racing a login's count on one user: every count lands (no change writes back a copy it read
/// before another landed), and the index names the last address only.
pub(crate) async fn address_changes_racing_other_updates_lose_none(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "a0@example.com")).await.expect("user");
    let results = race(&store, |store| async move {
        let count = |u: &User| Some(User { logins_count: u.logins_count + 1, ..u.clone() });
        store.update_user("auth0|a", &count).await.expect("update").expect("applied");
        let moving = |u: &User| Some(User { email: format!("a{}@example.com", u.logins_count), ..u.clone() });
        store.update_user_with_email("auth0|a", &moving).await.expect("move").is_some()
    })
    .await;
    assert!(results.iter().all(|applied| *applied));
    let stored = store.find_user("auth0|a").await.expect("find").expect("user");
    assert_eq!(stored.logins_count, 16);
    assert_eq!(stored.email, "a16@example.com");
    for n in 0..=16 {
        let email = format!("a{n}@example.com");
        let found = store.find_user_by_email(&email).await.expect("by email");
        assert_eq!(found.as_ref(), (email == stored.email).then_some(&stored), "{email}");
    }
}

pub(crate) async fn racing_rate_limit_hits_spend_the_bucket_exactly(backend: &Backend) {
    let store = backend.store();
    let limit = RateLimit { capacity: 5, window_secs: 300 };
    let decisions =
        race(&store, |store| async move { store.hit_rate_limit("email\0auth0|a", limit, NOW).await.expect("hit") })
            .await;
    let allowed = decisions.iter().filter(|d| matches!(d, RateDecision::Allowed { .. })).count();
    assert_eq!(allowed, 5);
    assert_eq!(
        store.hit_rate_limit("email\0auth0|a", limit, NOW + 60).await.expect("after a minute"),
        RateDecision::Allowed { left: 0 }
    );
    // Another key has its own bucket.
    assert_eq!(store.hit_rate_limit("email\0auth0|b", limit, NOW).await.expect("b"), RateDecision::Allowed { left: 4 });
}

pub(crate) async fn of_16_racing_refresh_exchanges_exactly_one_is_fresh(backend: &Backend) {
    let store = backend.store();
    for round in 0..ROUNDS {
        let key = format!("token-{round}");
        store.save_refresh_token(&key, &refresh("rt", "fam", "auth0|a", "c", NOW + 60)).await.expect("save");
        let uses = race(&store, |store| {
            let key = key.clone();
            async move { store.use_refresh_token(&key, NOW).await.expect("use") }
        })
        .await;
        let fresh = uses.iter().filter(|used| matches!(used, RefreshUse::Fresh(_))).count();
        let reused = uses.iter().filter(|used| matches!(used, RefreshUse::Reused(_))).count();
        assert_eq!((fresh, reused), (1, 15), "round {round}");
    }
}

pub(crate) async fn of_16_racing_ephemeral_takes_exactly_one_wins(backend: &Backend) {
    let store = backend.store();
    for round in 0..ROUNDS {
        let key = format!("ticket-{round}");
        store.put_ephemeral(Ephemeral::MfaTicket, &key, b"ticket", NOW + 60).await.expect("put");
        let taken = race(&store, |store| {
            let key = key.clone();
            async move { store.take_ephemeral(Ephemeral::MfaTicket, &key, NOW).await.expect("take") }
        })
        .await;
        assert_eq!(taken.iter().filter(|taken| taken.is_some()).count(), 1, "round {round}");
    }
}

pub(crate) async fn of_16_racing_sign_ups_with_one_email_exactly_one_succeeds(backend: &Backend) {
    let store = backend.store();
    let counter = Arc::new(AtomicU64::new(0));
    let results = race(&store, |store| {
        let id = format!("auth0|{}", counter.fetch_add(1, Ordering::SeqCst));
        async move { store.create_user(&user(&id, "Same@Example.com")).await }
    })
    .await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1);
    assert!(results.iter().filter_map(|result| result.as_ref().err()).all(|e| matches!(e, StoreError::Conflict(_))));
    assert_eq!(store.list_users().await.expect("list").len(), 1);
}

pub(crate) async fn concurrent_log_appends_get_distinct_ids(backend: &Backend) {
    let store = backend.store();
    let ids = race(&store, |store| async move {
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(store.append_log(&log("s", None)).await.expect("append"));
        }
        ids
    })
    .await;
    let all: HashSet<String> = ids.into_iter().flatten().collect();
    assert_eq!(all.len(), 16 * 50);
    assert_eq!(backend.count("logs").await, 16 * 50);
}

pub(crate) async fn a_user_deleted_while_authenticators_are_enrolled_leaves_none_behind(backend: &Backend) {
    let store = backend.store();
    for round in 0..ROUNDS {
        let user_id = format!("auth0|{round}");
        store.create_user(&user(&user_id, &format!("u{round}@example.com"))).await.expect("create");
        let counter = Arc::new(AtomicU64::new(0));
        let results = race(&store, |store| {
            let user_id = user_id.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    store.delete_user(&user_id).await.map(drop)
                } else {
                    let id = format!("totp|dev_{n}");
                    store.save_authenticator(&authenticator(&user_id, &id, "2024-01-01T00:00:00Z")).await
                }
            }
        })
        .await;
        assert!(results.iter().all(|result| matches!(result, Ok(()) | Err(StoreError::Conflict(_)))), "{results:?}");
        assert!(store.find_authenticators(&user_id).await.expect("find").is_empty(), "round {round}");
    }
}

pub(crate) async fn documents_are_kept_by_collection_listed_by_prefix_and_counted(backend: &Backend) {
    let store = backend.store();
    let v0 = store.documents_version().await.expect("version");
    store.save_document(Collection::Consent, "u1\0app\0api", b"one").await.expect("save");
    store.save_document(Collection::Consent, "u1\0other\0api", b"two").await.expect("save");
    store.save_document(Collection::Consent, "u10\0app\0api", b"three").await.expect("save");
    store.save_document(Collection::Role, "u1\0app\0api", b"a role").await.expect("save");
    assert!(store.documents_version().await.expect("version") > v0, "every write moves the version");

    let listed = store.list_documents(Collection::Consent, "u1\0").await.expect("list");
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["u1\0app\0api", "u1\0other\0api"], "a prefix stops at its separator, collections apart");
    assert_eq!(store.list_documents(Collection::Consent, "").await.expect("all").len(), 3);
    assert_eq!(store.find_document(Collection::Role, "u1\0app\0api").await.expect("find"), Some(b"a role".to_vec()));

    assert!(store.delete_document(Collection::Consent, "u1\0app\0api").await.expect("delete"));
    assert!(!store.delete_document(Collection::Consent, "u1\0app\0api").await.expect("delete again"));
    assert_eq!(store.find_document(Collection::Consent, "u1\0app\0api").await.expect("find"), None);
}

pub(crate) async fn a_unique_document_is_created_once_under_parallel_creates(backend: &Backend) {
    let store = backend.store();
    let barrier = Arc::new(Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.create_document(Collection::RoleName, "admin", format!("rol_{i}").as_bytes()).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        if task.await.expect("task").expect("create") {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one create claims the name");
}

pub(crate) async fn parallel_document_updates_lose_nothing(backend: &Backend) {
    let store = backend.store();
    store.save_document(Collection::Member, "org\0user", b"").await.expect("save");
    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let change = move |old: &Vec<u8>| {
                let mut next = old.clone();
                next.push(i);
                Some(next)
            };
            store.update_document(Collection::Member, "org\0user", &change).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("update").expect("stored");
    }
    let mut stored = store.find_document(Collection::Member, "org\0user").await.expect("find").expect("present");
    stored.sort_unstable();
    assert_eq!(stored, (0..20u8).collect::<Vec<_>>(), "every update is in");
    let none = |_: &Vec<u8>| Some(Vec::new());
    assert_eq!(store.update_document(Collection::Member, "missing", &none).await.expect("update"), None);
}

pub(crate) async fn a_refused_document_update_writes_nothing(backend: &Backend) {
    let store = backend.store();
    store.save_document(Collection::Role, "rol_1", b"{}").await.expect("save");
    let version = store.documents_version().await.expect("version");
    assert_eq!(store.update_document(Collection::Role, "rol_1", &|_| None).await.expect("refused"), None);
    assert_eq!(store.find_document(Collection::Role, "rol_1").await.expect("find"), Some(b"{}".to_vec()));
    assert_eq!(store.documents_version().await.expect("version"), version, "nothing was written");

    let grown = store
        .update_document(Collection::Role, "rol_1", &|old| Some([old.as_slice(), b" "].concat()))
        .await
        .expect("update");
    assert_eq!(grown, Some(b"{} ".to_vec()));
    assert!(store.documents_version().await.expect("version") > version, "an update moves the version");
    // Unique claims: the second create of a key is refused and leaves the first value.
    assert!(store.create_document(Collection::RoleName, "admin", b"rol_1").await.expect("create"));
    assert!(!store.create_document(Collection::RoleName, "admin", b"rol_2").await.expect("create again"));
    assert_eq!(store.find_document(Collection::RoleName, "admin").await.expect("find"), Some(b"rol_1".to_vec()));
}

pub(crate) async fn a_refresh_token_is_found_until_its_expiry_used_or_not(backend: &Backend) {
    let store = backend.store();
    let token = refresh("rt1", "fam1", "auth0|a", "client-a", NOW + 60);
    store.save_refresh_token("k1", &token).await.expect("save");
    assert_eq!(store.find_refresh_token("k1", NOW).await.expect("find"), Some(token.clone()));

    assert!(matches!(store.use_refresh_token("k1", NOW + 1).await.expect("use"), RefreshUse::Fresh(_)));
    let used = RefreshToken { used_at: Some(NOW + 1), ..token };
    assert_eq!(store.find_refresh_token("k1", NOW + 2).await.expect("find used"), Some(used.clone()));
    assert_eq!(store.find_refresh_token("k1", NOW + 60).await.expect("expired"), None);
    assert_eq!(store.find_refresh_token("unknown", NOW).await.expect("unknown"), None);

    // Saving a token again replaces it, used mark included.
    let fresh = RefreshToken { used_at: None, ..used };
    store.save_refresh_token("k1", &fresh).await.expect("save again");
    assert_eq!(
        store.use_refresh_token("k1", NOW + 3).await.expect("use again"),
        RefreshUse::Fresh(RefreshToken { used_at: Some(NOW + 3), ..fresh })
    );
}

pub(crate) async fn ephemeral_records_are_listed_by_namespace_unexpired_and_limited(backend: &Backend) {
    let store = backend.store();
    for (key, expires_at) in [("p1", NOW + 60), ("p2", NOW + 60), ("p3", NOW), ("p4", NOW + 60)] {
        store.put_ephemeral(Ephemeral::PhoneDelivery, key, key.as_bytes(), expires_at).await.expect("put");
    }
    store.put_ephemeral(Ephemeral::Other, "p5", b"other namespace", NOW + 60).await.expect("put");

    let listed = store.list_ephemeral(Ephemeral::PhoneDelivery, NOW, 10).await.expect("list");
    let mut keys: Vec<&str> = listed.iter().map(|(key, _)| key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["p1", "p2", "p4"], "unexpired records of the namespace only");
    assert!(listed.iter().all(|(key, value)| key.as_bytes() == value.as_slice()));
    assert_eq!(store.list_ephemeral(Ephemeral::PhoneDelivery, NOW, 2).await.expect("limited").len(), 2);
    assert!(store.list_ephemeral(Ephemeral::MfaTicket, NOW, 10).await.expect("empty namespace").is_empty());
}

/// Callers build keys with NUL separators (rate limits, documents) and pass user input through (a login name):
/// such keys round-trip and are kept apart from their prefixes, and a lookup of one that cannot exist finds nothing
/// rather than failing. (sled joins a login and an IP with a NUL, so `("a\0b", ip)` and `("a", "b\0" + ip)` share
/// a record there; PostgreSQL keeps them apart. Neither pair is asserted.)
pub(crate) async fn keys_with_nul_characters_are_kept_apart_or_found_missing(backend: &Backend) {
    let store = backend.store();
    store.create_user(&user("auth0|a", "alice@example.com")).await.expect("create");
    assert_eq!(store.find_user("auth0|a\0").await.expect("find"), None);
    assert_eq!(store.find_user_by_email("alice@example.com\0").await.expect("by email"), None);

    let two = LoginAttempts { failures: 2, last_failure: NOW };
    save_attempts(&*store, "alice\0x", "203.0.113.1", &two).await;
    assert_eq!(store.find_login_attempts("alice\0x", "203.0.113.1").await.expect("find"), two);
    store.clear_login_attempts("alice\0x", None).await.expect("clear");
    assert_eq!(store.find_login_attempts("alice\0x", "203.0.113.1").await.expect("cleared"), Default::default());

    store.put_ephemeral(Ephemeral::Other, "a\0b", b"v", NOW + 60).await.expect("put");
    assert_eq!(store.get_ephemeral(Ephemeral::Other, "a", NOW).await.expect("prefix"), None);
    assert_eq!(store.take_ephemeral(Ephemeral::Other, "a\0b", NOW).await.expect("take"), Some(b"v".to_vec()));

    store.save_document(Collection::Member, "org\0\u{ff}", b"1").await.expect("save");
    store.save_document(Collection::Member, "org\0", b"2").await.expect("save");
    store.save_document(Collection::Member, "org", b"3").await.expect("save");
    let listed = store.list_documents(Collection::Member, "org\0").await.expect("list");
    let keys: Vec<&str> = listed.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["org\0", "org\0\u{ff}"]);
}
