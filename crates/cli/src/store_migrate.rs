//! `gatehouse store migrate --from <sled folder> --to <postgres url> [--dry-run]`: moves a tenant from the embedded
//! store to PostgreSQL, for an operator outgrowing one machine.
//!
//! Everything that outlives a few minutes moves: users with their authenticators, signing keys, the authorization
//! directory and consents, SSO sessions, refresh tokens, unexpired login transactions, MFA tickets, known devices,
//! revoked token ids and queued phone messages, and the tenant logs with their ids. Authorization codes (two
//! minutes), failed-login counters and rate-limit buckets (which reset within the hour) do not. Copying is
//! idempotent: a second run adds what the first did not (users and log entries already there are kept), so a run
//! cut short is run again. The server must be stopped: sled lets one process open the folder, and a tenant that
//! keeps changing would not be copied whole.

use std::path::Path;
use std::process::ExitCode;

use gatehouse_store::{Collection, Ephemeral, LogQuery, PgStore, SledStore, Store, StoreError};

use crate::output;

/// What was (or, with `--dry-run`, would be) copied.
#[derive(Debug, Default)]
struct Counts {
    users: usize,
    users_present: usize,
    authenticators: usize,
    signing_keys: usize,
    documents: usize,
    sessions: usize,
    refresh_tokens: usize,
    ephemeral: usize,
    logs: usize,
    logs_present: usize,
}

/// Runs `gatehouse store migrate`.
pub async fn migrate(from: &Path, to: &str, dry_run: bool, pool_size: usize) -> ExitCode {
    let result = async {
        // The store folder itself, or a data folder holding it.
        let folder = if from.join("store").is_dir() { from.join("store") } else { from.to_owned() };
        if !folder.join("conf").exists() && !folder.join("db").exists() {
            return Err(format!(
                "{}: no sled store here (pass the data folder or its store/ folder)",
                folder.display()
            ));
        }
        let source = SledStore::open(&folder).map_err(|e| match e {
            StoreError::Backend(m) if m.contains("lock") || m.contains("WouldBlock") => {
                format!("{}: the store is in use; stop the server before moving its tenant ({m})", folder.display())
            }
            other => other.to_string(),
        })?;
        let target = PgStore::connect(to, pool_size).await.map_err(|e| format!("--to: {e}"))?;
        let counts = copy(&source, &target, dry_run).await.map_err(|e| e.to_string())?;
        Ok(counts)
    }
    .await;
    match result {
        Ok(c) => {
            let verb = if dry_run { "would move" } else { "moved" };
            output::line(&format!(
                "{verb} {} users ({} already there), {} authenticators, {} signing keys, {} directory documents, \
                 {} sessions, {} refresh tokens, {} login transactions and other short-lived records, {} log entries \
                 ({} already there)",
                c.users,
                c.users_present,
                c.authenticators,
                c.signing_keys,
                c.documents,
                c.sessions,
                c.refresh_tokens,
                c.ephemeral,
                c.logs,
                c.logs_present
            ));
            output::line(
                "not moved: authorization codes (valid 2 minutes), failed-login counters and rate limits (reset within \
                 the hour)",
            );
            ExitCode::SUCCESS
        }
        Err(e) => output::fatal(&e),
    }
}

/// Copies `source` into `target` (only counts with `dry_run`).
async fn copy(source: &dyn Store, target: &dyn Store, dry_run: bool) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    let now = gatehouse_auth::clock::now();
    for user in source.list_users().await? {
        if target.find_user(&user.user_id).await?.is_some() {
            counts.users_present += 1;
        } else {
            counts.users += 1;
            if !dry_run {
                target.create_user(&user).await?;
            }
        }
        for authenticator in source.find_authenticators(&user.user_id).await? {
            counts.authenticators += 1;
            if !dry_run {
                target.save_authenticator(&authenticator).await?;
            }
        }
    }
    for key in source.list_signing_keys().await? {
        counts.signing_keys += 1;
        if !dry_run {
            target.save_signing_key(&key).await?;
        }
    }
    for collection in Collection::ALL {
        for (key, value) in source.list_documents(collection, "").await? {
            counts.documents += 1;
            if !dry_run {
                target.save_document(collection, &key, &value).await?;
            }
        }
    }
    for (key, session) in source.export_sessions().await? {
        counts.sessions += 1;
        if !dry_run {
            target.save_session(&key, &session).await?;
        }
    }
    for (key, token) in source.export_refresh_tokens().await? {
        counts.refresh_tokens += 1;
        if !dry_run {
            target.save_refresh_token(&key, &token).await?;
        }
    }
    for namespace in Ephemeral::ALL {
        for (key, value, expires_at) in source.export_ephemeral(namespace, now).await? {
            counts.ephemeral += 1;
            if !dry_run {
                target.put_ephemeral(namespace, &key, &value, expires_at).await?;
            }
        }
    }
    // Newest first, a page at a time, each entry under its own id.
    let mut from = None;
    loop {
        let page =
            source.list_logs(&LogQuery { from: from.clone(), take: 100, types: Vec::new(), user_id: None }).await?;
        let Some(last) = page.last() else { break };
        from = Some(last.log_id.clone());
        for entry in &page {
            if dry_run || target.import_log(entry).await? {
                counts.logs += 1;
            } else {
                counts.logs_present += 1;
            }
        }
    }
    if !dry_run && source.is_seeded().await? {
        target.mark_seeded().await?;
    }
    Ok(counts)
}
