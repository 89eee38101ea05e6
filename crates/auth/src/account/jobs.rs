//! Work that follows an account answer, kept in the store until it is done: the verification email and
//! `post-user-registration` after a sign-up, `post-change-password` after a password change, the reset link after a
//! reset request. Auth0 runs these after answering; so does Gatehouse, without losing them to a crash.
//!
//! [`start`] stores the job before the caller answers, then runs it in the background and deletes it once done. A
//! job still in the store [`LEASE`] seconds after it was due (its process died, or the run is stuck) is taken over by
//! [`run_due`], which `gatehouse serve` calls every second in every process: claimed by taking it (of two processes
//! one gets it), put back with a later due time before it runs, deleted after. So a job runs at least once; after a
//! crash it may run twice (a second email, a second webhook), never zero times. A job is tried at most
//! [`MAX_TRIES`] times and kept at most a day.

use std::sync::Arc;

use gatehouse_store::{Ephemeral, StoreError, StoreResult};
use serde::{Deserialize, Serialize};

use crate::account::password_reset::{self, AfterPasswordChange};
use crate::account::signup::AfterSignup;
use crate::context::RequestInfo;
use crate::tenant::Tenant;

/// Seconds a job may run before another process takes it over.
pub const LEASE: i64 = 60;
/// Runs of one job at most (the first and two takeovers).
pub const MAX_TRIES: u32 = 3;
/// Seconds a job is kept at most.
const KEEP: i64 = 86_400;
/// Jobs looked at per scan.
const SCAN: usize = 64;

/// What follows an answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum AccountJob {
    /// After a sign-up: the verification email, then `post-user-registration`.
    SignedUp {
        /// The new user.
        user_id: String,
        /// The application signed up through.
        client_id: String,
        /// The language of the email and the event.
        lang: String,
        /// The sign-up request's facts.
        request: RequestInfo,
    },
    /// After a password change or reset: `post-change-password`.
    PasswordChanged {
        /// The user.
        user_id: String,
        /// The language of the change.
        lang: String,
        /// The request's facts.
        request: RequestInfo,
    },
    /// A reset request: the link, if `email` has an account (the answer never says).
    ResetRequested {
        /// The application asking.
        client_id: Option<String>,
        /// The address typed.
        email: String,
        /// The language of the email.
        lang: String,
        /// The request's facts.
        request: RequestInfo,
    },
}

impl From<AfterSignup> for AccountJob {
    fn from(after: AfterSignup) -> Self {
        AccountJob::SignedUp {
            user_id: after.user.user_id,
            client_id: after.client_id,
            lang: after.lang,
            request: after.request,
        }
    }
}

impl From<AfterPasswordChange> for AccountJob {
    fn from(after: AfterPasswordChange) -> Self {
        AccountJob::PasswordChanged { user_id: after.user.user_id, lang: after.lang, request: after.request }
    }
}

impl AccountJob {
    /// Does the work. The user is read again: the job sees the account as it is now.
    async fn run(self, tenant: &Tenant) {
        match self {
            AccountJob::SignedUp { user_id, client_id, lang, request } => {
                if let Some(user) = current_user(tenant, &user_id).await {
                    AfterSignup { user, client_id, lang, request }.run(tenant).await;
                }
            }
            AccountJob::PasswordChanged { user_id, lang, request } => {
                if let Some(user) = current_user(tenant, &user_id).await {
                    AfterPasswordChange { user, lang, request }.run(tenant).await;
                }
            }
            AccountJob::ResetRequested { client_id, email, lang, request } => {
                password_reset::send_link(tenant, &request, client_id.as_deref(), &email, &lang).await;
            }
        }
    }
}

async fn current_user(tenant: &Tenant, user_id: &str) -> Option<gatehouse_types::records::User> {
    match tenant.store.find_user(user_id).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(user_id, error = %e, "an account job could not read its user");
            None
        }
    }
}

/// A job as the store keeps it.
#[derive(Serialize, Deserialize)]
struct Queued {
    job: AccountJob,
    /// When another process may take it over (epoch seconds).
    due_at: i64,
    /// Runs started so far.
    tries: u32,
    /// When it is dropped (epoch seconds).
    expires_at: i64,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

async fn put(tenant: &Tenant, key: &str, queued: &Queued) -> StoreResult<()> {
    let bytes = serde_json::to_vec(queued).map_err(backend)?;
    tenant.store.put_ephemeral(Ephemeral::AccountJob, key, &bytes, queued.expires_at).await
}

/// Stores `job` (due for takeover after [`LEASE`] seconds); returns its key.
pub async fn queue(tenant: &Tenant, job: &AccountJob) -> StoreResult<String> {
    let key = crate::ids::secret().map_err(backend)?;
    let now = tenant.now();
    put(tenant, &key, &Queued { job: job.clone(), due_at: now + LEASE, tries: 1, expires_at: now + KEEP }).await?;
    Ok(key)
}

/// Stores `job`, then runs it in the background; the caller answers meanwhile. A job the store could not keep
/// still runs now (it is then only not safe from a crash; the server log says so).
pub async fn start(tenant: Arc<Tenant>, job: AccountJob) {
    let key = match queue(&tenant, &job).await {
        Ok(key) => Some(key),
        Err(e) => {
            tracing::error!(error = %e, "an account job could not be stored; it runs without crash safety");
            None
        }
    };
    tokio::spawn(async move {
        job.run(&tenant).await;
        if let Some(key) = key
            && let Err(e) = tenant.store.delete_ephemeral(Ephemeral::AccountJob, &key).await
        {
            // It will run again once its lease passed: at least once, as promised.
            tracing::warn!(error = %e, "a finished account job could not be removed");
        }
    });
}

/// Starts every job whose lease passed (its first run died or is stuck), each in the background; returns how many
/// were started.
pub async fn run_due(tenant: &Arc<Tenant>) -> usize {
    let now = tenant.now();
    let list = match tenant.store.list_ephemeral(Ephemeral::AccountJob, now, SCAN).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "account jobs: the store could not be read");
            return 0;
        }
    };
    let mut started = 0;
    for (key, raw) in list {
        let Ok(mut queued) = serde_json::from_slice::<Queued>(&raw) else {
            tracing::warn!("account jobs: an unreadable record was removed");
            let _ = tenant.store.delete_ephemeral(Ephemeral::AccountJob, &key).await;
            continue;
        };
        if queued.due_at > now {
            continue;
        }
        // Claimed by taking it: of two processes, one gets it.
        match tenant.store.take_ephemeral(Ephemeral::AccountJob, &key, now).await {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "account jobs: a job could not be claimed");
                continue;
            }
        }
        if queued.tries >= MAX_TRIES {
            tracing::error!(job = ?queued.job, tries = queued.tries, "account job given up after repeated failures");
            continue;
        }
        queued.tries += 1;
        queued.due_at = now + LEASE;
        // Back in the store before it runs: a crash during this run leaves it for the next takeover.
        if let Err(e) = put(tenant, &key, &queued).await {
            tracing::warn!(error = %e, "account jobs: a taken-over job could not be kept; it runs once more");
        }
        started += 1;
        let tenant = tenant.clone();
        tokio::spawn(async move {
            queued.job.run(&tenant).await;
            let _ = tenant.store.delete_ephemeral(Ephemeral::AccountJob, &key).await;
        });
    }
    started
}
