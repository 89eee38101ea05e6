//! `gatehouse serve`: the login server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::actions::Reload;
use gatehouse_auth::tenant::{Tenant, TenantOptions};
use gatehouse_engine::sandbox::SandboxConfig;
use gatehouse_server::AppState;
use gatehouse_store::{PgStore, SledStore, Store, TimedStore};
use gatehouse_types::config::TenantConfig;

use crate::config;
use crate::output;

/// Arguments of `gatehouse serve`.
pub struct ServeArgs {
    pub config: PathBuf,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Opens the store of a configuration: PostgreSQL when `[store] url` (or `GATEHOUSE_STORE_URL`) names one, else
/// sled in `<data_dir>/store`. The data folder is created either way (the outbox lives there).
pub async fn open_store(base: &std::path::Path, config: &TenantConfig) -> Result<(Arc<dyn Store>, PathBuf), String> {
    let data_dir = config::resolve(base, &config.data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let store: Arc<dyn Store> = match &config.store.url {
        Some(url) => {
            let ca_file = config.store.ca_file.as_deref().map(|file| config::resolve(base, file));
            let store = PgStore::connect_with_ca(url, config.store.pool_size, ca_file.as_deref())
                .await
                .map_err(|e| format!("[store] url: {e}"))?;
            Arc::new(TimedStore::new(Arc::new(store), "postgres"))
        }
        None => {
            let store = SledStore::open(&data_dir.join("store")).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            Arc::new(TimedStore::new(Arc::new(store), "sled"))
        }
    };
    Ok((store, data_dir))
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    gatehouse_server::install_metrics();
    let loaded = match config::load(&args.config, args.listen, args.data_dir) {
        Ok(loaded) => loaded,
        Err(e) => return output::fatal(&e),
    };
    let mut config = loaded.config;
    let tls = match &args.tls {
        None => None,
        Some(_) if !config.issuer.starts_with("https://") => {
            return output::fatal(&format!(
                "--tls-cert serves https, so the issuer must be an https:// URL (issuer = \"{}\" in {}): tokens \
                 name the issuer, and clients check it",
                config.issuer,
                args.config.display()
            ));
        }
        Some((cert, key)) => match gatehouse_server::tls::load_config(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => return output::fatal(&e),
        },
    };
    let listener = match tokio::net::TcpListener::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(e) => return output::fatal(&format!("cannot listen on {}: {e}", config.listen)),
    };
    let bound = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => return output::fatal(&format!("cannot read the bound address: {e}")),
    };
    let issuer = config::issuer_for(&config.issuer, &config.listen, bound);
    if issuer != config.issuer {
        // Port 0 (tests): the Management API audience in client grants follows the issuer.
        for grant in &mut config.client_grants {
            if let Some(path) = grant.audience.strip_prefix(&config.issuer) {
                grant.audience = format!("{issuer}{path}");
            }
        }
        config.issuer = issuer;
    }
    // Email is checked before anything is created: a relay without its password or a template that does not parse
    // stops the start here, naming the key or the file.
    let outbox = config::resolve(&loaded.base_dir, &config.data_dir).join("outbox");
    let secrets = gatehouse_auth::tenant::resolve_secrets(&config);
    if let Err(e) = gatehouse_auth::tenant::open_mail(&config, &loaded.base_dir, &secrets, &outbox) {
        return output::fatal(&format!("{}: {e}", args.config.display()));
    }
    let (store, data_dir) = match open_store(&loaded.base_dir, &config).await {
        Ok(opened) => opened,
        Err(e) => return output::fatal(&e),
    };
    let sandbox = match SandboxConfig::current_exe() {
        Ok(sandbox) => SandboxConfig { colocate: sandbox.colocate.filter(|_| config.actions.colocate), ..sandbox },
        Err(e) => return output::fatal(&format!("cannot locate the gatehouse executable: {e}")),
    };
    let tenant = match Tenant::open(TenantOptions {
        config,
        base_dir: loaded.base_dir,
        sandbox,
        store,
        data_dir,
        clock: Arc::new(gatehouse_auth::clock::SystemClock),
    })
    .await
    {
        Ok(tenant) => Arc::new(tenant),
        Err(e) => return output::fatal(&e.to_string()),
    };
    let limits = gatehouse_engine::sandbox::Limits {
        timeout: Duration::from_millis(tenant.config.actions.timeout_ms),
        memory_mb: tenant.config.actions.memory_mb,
    };
    if let Err(e) = tenant.actions.sandbox().warm_up(2, limits).await {
        return output::fatal(&format!("the action sandbox does not start: {e}"));
    }
    spawn_housekeeping(tenant.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    output::line(&format!("gatehouse listening on {scheme}://{bound} (issuer {})", tenant.config.issuer));
    tracing::info!(%bound, issuer = %tenant.config.issuer, email = %tenant.mailer.describe(), "listening");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    let served = match tls {
        Some(tls) => gatehouse_server::tls::serve_tls(AppState { tenant }, listener, tls, shutdown).await,
        None => gatehouse_server::serve(AppState { tenant }, listener, shutdown).await,
    };
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            output::line("gatehouse stopped");
            ExitCode::SUCCESS
        }
        Err(e) => output::fatal(&format!("server error: {e}")),
    }
}

/// Background work: action reloads, phone retries, directory and signing-key changes (every second), expired-record
/// purges (every minute).
fn spawn_housekeeping(tenant: Arc<Tenant>) {
    let actions = tenant.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let t = actions.clone();
            let outcomes = tokio::task::spawn_blocking(move || t.actions.reload_changed()).await.unwrap_or_default();
            for outcome in outcomes {
                match outcome {
                    Reload::Replaced { trigger, actions } => {
                        tracing::info!(%trigger, actions = ?actions, "actions reloaded");
                        // On stdout too, after the listening line: what an operator watching the console (and a
                        // test waiting for the reload) looks for.
                        output::line(&format!("{trigger} actions reloaded: {}", actions.join(", ")));
                    }
                    Reload::Refused { trigger, errors } => {
                        tracing::error!(%trigger, errors = %errors, "new actions do not load; the previous version keeps running");
                        output::line(&format!("{trigger} actions not reloaded; the previous version keeps running"));
                    }
                }
            }
        }
    });
    let retries = tenant.clone();
    tokio::spawn(async move {
        // Phone messages an action asked to retry, from the store: this process's and any other's.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let tried = gatehouse_auth::phone::retry::run_due(&retries).await;
            if tried > 0 {
                tracing::debug!(tried, "phone retries tried");
            }
            // Account work (emails, post-* actions) whose process died before finishing it: this one's or another's.
            let resumed = gatehouse_auth::account::jobs::run_due(&retries).await;
            if resumed > 0 {
                tracing::info!(resumed, "account jobs taken over");
            }
            // Roles, organizations and grants, and signing keys, another process changed (a shared store).
            if let Err(e) = retries.refresh_directory().await {
                tracing::warn!(error = %e, "directory refresh failed");
            }
            if let Err(e) = retries.reload_keys().await {
                tracing::warn!(error = %e, "key reload failed");
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match tenant.store.purge_expired(gatehouse_auth::clock::now()).await {
                Ok(n) if n > 0 => tracing::debug!(purged = n, "expired records purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
        }
    });
}
