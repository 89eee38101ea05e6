//! A running tenant: configuration, store, keys, actions, mailer and outbox, shared by every request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatehouse_engine::flow::FlowSettings;
use gatehouse_engine::sandbox::{Limits, Sandbox, SandboxConfig};
use gatehouse_store::Store;
use gatehouse_types::Trigger;
use gatehouse_types::config::{PhoneConfig, TenantConfig};
use gatehouse_types::records::{LogEntry, User};

use crate::actions::Actions;
use crate::clock::Clock;
use crate::crypto::keys::KeyRing;
use crate::crypto::password::hash_password;
use crate::directory::Directory;
use crate::error::{AuthError, AuthResult};
use crate::fetch::{OutboundPolicy, ReqwestIo};
use crate::mail::{Email, EmailKind, EmailTemplates, EmailVars, MailError, Mailer, Outbox};
use crate::phone::templates::PhoneTemplates;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Tenant {
    /// The configuration (issuer already resolved).
    pub config: TenantConfig,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: RwLock<KeyRing>,
    /// Actions and their sandbox.
    pub actions: Actions,
    /// The outbox folder of the default phone provider's SMS (and of emails when there is no SMTP relay).
    pub outbox: Outbox,
    /// Where emails go: the `[email]` SMTP relay, or the outbox folder.
    pub mailer: Mailer,
    /// The text of emails (built in, or `[email] templates_dir`), parsed at start.
    pub email_templates: EmailTemplates,
    /// `event.secrets`: the configuration's `[secrets]` overridden by `GATEHOUSE_SECRET_<NAME>`.
    pub secrets: BTreeMap<String, String>,
    /// The data folder.
    pub data_dir: PathBuf,
    /// Where request handling reads the time.
    pub clock: Arc<dyn Clock>,
    /// The text of SMS and voice codes (`[mfa.phone]` templates, parsed at start).
    pub phone_templates: PhoneTemplates,
    /// The `Via` pseudonym its actions' requests carry (`fetch::via_pseudonym`), refused when it comes back.
    pub via_pseudonym: String,
    /// The authorization directory as last read from the store.
    directory: RwLock<Arc<Directory>>,
    /// Serializes directory reloads, so the copy installed last was read after the last change.
    directory_reload: tokio::sync::Mutex<()>,
}

/// How the tenant is started.
#[derive(Debug)]
pub struct TenantOptions {
    /// The configuration.
    pub config: TenantConfig,
    /// The folder `actions_dir`, `[email] templates_dir` and `ca_files` are relative to (the configuration file's
    /// folder).
    pub base_dir: PathBuf,
    /// Where the worker program is.
    pub sandbox: SandboxConfig,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The data folder (outbox lives under it).
    pub data_dir: PathBuf,
    /// The clock (`SystemClock`; tests pass a `ManualClock`).
    pub clock: Arc<dyn Clock>,
}

/// A phone provider that is an action needs its action: without it every SMS or voice code would fail, so the
/// server refuses to start and names the file it expected.
fn check_phone_provider(phone: &PhoneConfig, actions_dir: &Path, actions: &Actions) -> AuthResult<()> {
    let Some(trigger) = phone.provider.trigger() else { return Ok(()) };
    let flow = actions.flow(trigger);
    let dir = actions_dir.join(trigger.id());
    match flow.actions.len() {
        0 => Err(AuthError::Setup(format!(
            "[mfa.phone] provider = \"{}\" needs its action: no {}/*.js exporting {} was found",
            trigger.id(),
            dir.display(),
            trigger.handler()
        ))),
        n if trigger == Trigger::CustomPhoneProvider && n > 1 => Err(AuthError::Setup(format!(
            "[mfa.phone] provider = \"custom-phone-provider\" takes one action, as Auth0's does; {} holds {n}",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

impl Tenant {
    /// Opens a tenant: seeds users on first start, loads keys and actions.
    pub async fn open(options: TenantOptions) -> AuthResult<Tenant> {
        let TenantOptions { config, base_dir, sandbox, store, data_dir, clock } = options;
        let keys = KeyRing::load_or_create(store.as_ref()).await?;
        if !store.is_seeded().await? {
            seed_users(&config, store.as_ref()).await?;
            store.mark_seeded().await?;
        }
        crate::directory::apply_config(&config, store.as_ref()).await.map_err(AuthError::Setup)?;
        let directory = Directory::load(store.as_ref()).await?;
        let settings = FlowSettings {
            factors_enabled: config.mfa.factors.iter().copied().collect(),
            customize_with_actions: config.mfa.customize_with_actions,
            limits: Limits {
                timeout: Duration::from_millis(config.actions.timeout_ms),
                memory_mb: config.actions.memory_mb,
            },
        };
        let policy = OutboundPolicy::new(&config.outbound, config.listen.parse().ok(), Some(&config.issuer));
        let roots = crate::fetch::load_ca_files(&base_dir, &config.outbound.ca_files).map_err(AuthError::Setup)?;
        let nested = policy.nested();
        let io = ReqwestIo::new(Duration::from_secs(10), policy, roots.clone())
            .map_err(|e| AuthError::Setup(format!("HTTP client: {e}")))?;
        let nested_io = ReqwestIo::new(Duration::from_secs(10), nested, roots)
            .map_err(|e| AuthError::Setup(format!("HTTP client: {e}")))?;
        let actions_dir = resolve(&base_dir, &config.actions_dir);
        let actions = Actions::load(&actions_dir, settings, Sandbox::new(sandbox), Arc::new(io), Arc::new(nested_io))
            .map_err(|e| AuthError::Setup(format!("actions did not load:\n{e}")))?;
        check_phone_provider(&config.mfa.phone, &actions_dir, &actions)?;
        let phone_templates = PhoneTemplates::new(
            config.mfa.phone.enrollment_template.as_deref(),
            config.mfa.phone.verification_template.as_deref(),
        )
        .map_err(AuthError::Setup)?;
        let mut secrets = resolve_secrets(&config);
        let outbox = Outbox::new(&data_dir.join("outbox"));
        let (mailer, email_templates) =
            open_mail(&config, &base_dir, &secrets, &data_dir.join("outbox")).map_err(AuthError::Setup)?;
        // The SMTP password is the mailer's alone: actions never see it in `event.secrets`.
        if let Some(name) = &config.email.smtp_password_secret {
            secrets.remove(name);
        }
        let via_pseudonym = crate::fetch::via_pseudonym(&config.issuer);
        Ok(Tenant {
            config,
            store,
            keys: RwLock::new(keys),
            actions,
            outbox,
            mailer,
            email_templates,
            secrets,
            data_dir,
            clock,
            phone_templates,
            via_pseudonym,
            directory: RwLock::new(Arc::new(directory)),
            directory_reload: tokio::sync::Mutex::new(()),
        })
    }

    /// Now, in epoch seconds, on the tenant's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Now, as ISO-8601 UTC, on the tenant's clock.
    pub fn now_iso(&self) -> String {
        crate::clock::iso(self.now())
    }

    /// Writes a tenant log entry (dated on the tenant's clock). A success line is group-committed, so the common
    /// path does not wait for a disk flush of it; any other line is durable before this returns
    /// ([`crate::logs::may_group_commit`]). A failure to log is reported through tracing, never to the user.
    pub async fn log(&self, mut entry: LogEntry) {
        entry.date = self.now_iso();
        metrics::counter!("gatehouse_tenant_log_events_total", "type" => entry.kind.clone()).increment(1);
        let written = if crate::logs::may_group_commit(&entry.kind) {
            self.store.append_log_group_committed(&entry).await
        } else {
            self.store.append_log(&entry).await
        };
        if let Err(e) = written {
            tracing::error!(error = %e, kind = %entry.kind, "could not write a tenant log entry");
        }
    }

    /// Renders the email `kind` in `lang` (`ja...` Japanese, anything else English) with `vars` and sends it to
    /// `vars.email`. A failure is logged once (never the body) and returned.
    pub async fn send_email(&self, kind: EmailKind, lang: &str, vars: &EmailVars) -> Result<(), MailError> {
        let rendered = self.email_templates.render(kind, lang, vars).map_err(|e| {
            tracing::error!(error = %e, "an email template did not render");
            MailError::Template(e)
        })?;
        let email =
            Email { to: vars.email.clone(), subject: rendered.subject, body: rendered.text, html: rendered.html };
        self.mailer.send(&email).await
    }

    /// The authorization directory (roles, organizations, client grants, APIs).
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the directory again (after a change through the Management API or the CLI).
    pub async fn reload_directory(&self) -> AuthResult<()> {
        let _one_at_a_time = self.directory_reload.lock().await;
        let fresh = Directory::load(self.store.as_ref()).await?;
        *self.directory.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }

    /// Reads the directory again when another process changed it (called every second by the server).
    pub async fn refresh_directory(&self) -> AuthResult<()> {
        let stored = self.store.documents_version().await?;
        if stored != self.directory().version {
            self.reload_directory().await?;
        }
        Ok(())
    }

    /// The ring of signing keys (a snapshot).
    pub fn key_ring(&self) -> AuthResult<KeyRing> {
        self.keys.read().map(|k| k.clone()).map_err(|_| AuthError::Setup("key ring lock poisoned".to_owned()))
    }

    /// Picks up keys rotated by another process.
    pub async fn reload_keys(&self) -> AuthResult<()> {
        let mut ring = self.key_ring()?;
        if ring.reload(self.store.as_ref()).await?
            && let Ok(mut keys) = self.keys.write()
        {
            *keys = ring;
        }
        Ok(())
    }
}

/// `event.secrets`: the configuration's `[secrets]`, each overridden (or added) by `GATEHOUSE_SECRET_<NAME>`.
pub fn resolve_secrets(config: &TenantConfig) -> BTreeMap<String, String> {
    let mut secrets = config.secrets.clone();
    for (name, value) in std::env::vars() {
        if let Some(secret) = name.strip_prefix("GATEHOUSE_SECRET_")
            && !secret.is_empty()
        {
            secrets.insert(secret.to_owned(), value);
        }
    }
    secrets
}

/// The mailer and the email templates of `config` (paths relative to `base_dir`): what `serve` checks before it
/// opens anything, and what [`Tenant::open`] keeps. `Err` names the key or the file.
pub fn open_mail(
    config: &TenantConfig,
    base_dir: &Path,
    secrets: &BTreeMap<String, String>,
    outbox_dir: &Path,
) -> Result<(Mailer, EmailTemplates), String> {
    let mailer = Mailer::from_config(config, base_dir, secrets, outbox_dir)?;
    let templates_dir = config.email.templates_dir.as_deref().map(|dir| resolve(base_dir, dir));
    let templates = EmailTemplates::load(templates_dir.as_deref())?;
    Ok((mailer, templates))
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() { path.to_owned() } else { base.join(path) }
}

/// Creates the configuration's `[[users]]` (first start only).
async fn seed_users(config: &TenantConfig, store: &dyn Store) -> AuthResult<()> {
    let now = crate::clock::now_iso();
    for seed in &config.users {
        if store.find_user_by_email(&seed.email).await?.is_some() {
            continue;
        }
        let password = seed.password.clone();
        let hash = crate::crypto::password::run_argon2(move || hash_password(&password))
            .await
            .map_err(|e| AuthError::Setup(e.to_string()))??;
        let nickname = seed.email.split('@').next().unwrap_or_default().to_owned();
        let user = User {
            user_id: crate::ids::user_id()?,
            email: seed.email.to_lowercase(),
            email_verified: true,
            name: Some(seed.name.clone().unwrap_or_else(|| seed.email.clone())),
            nickname: Some(nickname),
            given_name: None,
            family_name: None,
            picture: None,
            phone_number: seed.phone_number.clone(),
            phone_verified: seed.phone_number.is_some(),
            password_hash: Some(hash),
            connection: config.connection.name.clone(),
            roles: seed.roles.clone(),
            attributes: seed.attributes.clone(),
            app_metadata: seed.app_metadata.clone(),
            user_metadata: seed.user_metadata.clone(),
            created_at: now.clone(),
            updated_at: now.clone(),
            last_login: None,
            logins_count: 0,
            last_password_reset: None,
            blocked: false,
            username: None,
        };
        match store.create_user(&user).await {
            Ok(()) => tracing::info!(user_id = %user.user_id, "seeded a user from the configuration"),
            // Another process sharing the store seeded it meanwhile.
            Err(gatehouse_store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
