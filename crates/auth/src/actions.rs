//! The tenant's actions: one flow per trigger, loaded from `<actions_dir>/<trigger>/`, reloaded when files
//! change. A new version replaces the running one only when every file of it loads; a broken version is reported
//! and the last good one keeps serving logins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::UNIX_EPOCH;

use gatehouse_engine::actions::{LoadErrors, action_files, load_folder};
use gatehouse_engine::flow::{Completion, FlowRunner, FlowSettings, MemoryCache, PausedFlow, ResumeError, Step};
use gatehouse_engine::protocol::FlowSpec;
use gatehouse_engine::sandbox::{HostIo, Sandbox};
use gatehouse_engine::trigger_run::TriggerRunner;
use gatehouse_types::account::{AccountOutcome, AccountResume};
use gatehouse_types::credentials::CredentialsOutcome;
use gatehouse_types::phone::NotificationOutcome;
use gatehouse_types::{PostLoginEvent, Trigger};

/// The flows of every trigger and the sandbox that runs them.
pub struct Actions {
    root: PathBuf,
    flows: RwLock<BTreeMap<Trigger, Arc<FlowSpec>>>,
    fingerprints: Mutex<BTreeMap<Trigger, String>>,
    sandbox: Sandbox,
    io: Arc<dyn HostIo>,
    /// The same, with the server itself out of reach: for actions a request from an action started.
    nested_io: Arc<dyn HostIo>,
    cache: MemoryCache,
    settings: FlowSettings,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions").field("root", &self.root).finish_non_exhaustive()
    }
}

/// What a reload did for one trigger.
#[derive(Debug)]
pub enum Reload {
    /// Files changed and the new version is live.
    Replaced {
        /// The trigger.
        trigger: Trigger,
        /// Action file names now running.
        actions: Vec<String>,
    },
    /// Files changed but do not load: the previous version keeps running.
    Refused {
        /// The trigger.
        trigger: Trigger,
        /// Why.
        errors: LoadErrors,
    },
}

impl Actions {
    /// Loads every trigger's folder under `root`; any broken file stops the start.
    pub fn load(
        root: &Path,
        settings: FlowSettings,
        sandbox: Sandbox,
        io: Arc<dyn HostIo>,
        nested_io: Arc<dyn HostIo>,
    ) -> Result<Actions, LoadErrors> {
        let mut flows = BTreeMap::new();
        let mut fingerprints = BTreeMap::new();
        for trigger in Trigger::ALL {
            let dir = root.join(trigger.id());
            fingerprints.insert(trigger, fingerprint(root, &dir));
            flows.insert(trigger, Arc::new(load_folder(&dir, trigger)?));
        }
        Ok(Actions {
            root: root.to_owned(),
            flows: RwLock::new(flows),
            fingerprints: Mutex::new(fingerprints),
            sandbox,
            io,
            nested_io,
            cache: MemoryCache::default(),
            settings,
        })
    }

    /// Reloads the triggers whose files changed since the last look.
    pub fn reload_changed(&self) -> Vec<Reload> {
        let mut outcomes = Vec::new();
        for trigger in Trigger::ALL {
            let dir = self.root.join(trigger.id());
            let print = fingerprint(&self.root, &dir);
            {
                let Ok(mut prints) = self.fingerprints.lock() else { continue };
                if prints.get(&trigger) == Some(&print) {
                    continue;
                }
                prints.insert(trigger, print);
            }
            match load_folder(&dir, trigger) {
                Ok(flow) => {
                    let actions = flow.actions.iter().map(|a| a.name.clone()).collect();
                    if let Ok(mut flows) = self.flows.write() {
                        flows.insert(trigger, Arc::new(flow));
                    }
                    outcomes.push(Reload::Replaced { trigger, actions });
                }
                Err(errors) => outcomes.push(Reload::Refused { trigger, errors }),
            }
        }
        outcomes
    }

    /// Whether a sandbox worker runs JavaScript: an empty flow, run on a worker within a few seconds (`/readyz`).
    pub async fn check_sandbox(&self) -> Result<(), String> {
        use gatehouse_engine::protocol::{Entry, EventJson, RunRequest};
        let request = RunRequest {
            run_id: 0,
            flow: gatehouse_engine::actions::flow_spec(Trigger::PostLogin, Vec::new()),
            start: 0,
            entry: Entry::Execute,
            event: EventJson::Parsed(serde_json::json!({})),
            cache: BTreeMap::new(),
            run_on: Default::default(),
        };
        let limits = gatehouse_engine::sandbox::Limits {
            timeout: std::time::Duration::from_secs(5),
            memory_mb: self.settings.limits.memory_mb,
        };
        self.sandbox.run(request, limits, self.io.as_ref()).await.report.map(|_| ()).map_err(|e| e.to_string())
    }

    /// The live flow of `trigger`.
    pub fn flow(&self, trigger: Trigger) -> Arc<FlowSpec> {
        self.flows
            .read()
            .ok()
            .and_then(|f| f.get(&trigger).cloned())
            .unwrap_or_else(|| Arc::new(gatehouse_engine::actions::flow_spec(trigger, Vec::new())))
    }

    /// The sandbox pool.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The flow settings (enabled factors, toggle, limits).
    pub fn settings(&self) -> &FlowSettings {
        &self.settings
    }

    /// Starts the post-login flow.
    pub async fn start_post_login(&self, event: PostLoginEvent) -> Step {
        let flow = self.flow(Trigger::PostLogin);
        self.runner(&flow).start(event).await
    }

    /// Resumes a paused post-login flow.
    pub async fn resume_post_login(&self, paused: PausedFlow, completion: Completion) -> Result<Step, ResumeError> {
        let flow = self.flow(Trigger::PostLogin);
        self.runner(&flow).resume(paused, completion).await
    }

    /// Runs a phone trigger's actions for one message (`event` in the trigger's shape).
    pub async fn deliver_phone(&self, trigger: Trigger, event: serde_json::Value) -> NotificationOutcome {
        let flow = self.flow(trigger);
        self.trigger_runner(&flow).deliver(event).await
    }

    /// Runs the credentials-exchange actions for one `client_credentials` request. For a request one of this
    /// server's actions made (`nested`), their `fetch` cannot reach this server at all, so actions never chain.
    pub async fn exchange_credentials(&self, event: serde_json::Value, nested: bool) -> CredentialsOutcome {
        let flow = self.flow(Trigger::CredentialsExchange);
        let mut runner = self.trigger_runner(&flow);
        if nested {
            runner.io = self.nested_io.as_ref();
        }
        runner.exchange(event).await
    }

    /// Runs an account trigger's actions (`pre-user-registration`, `post-user-registration`, `post-change-password`,
    /// `password-reset-post-challenge`) for one sign-up, password change or reset, from the first action. `event` has
    /// the trigger's shape (`gatehouse_engine::account::default_event` shows each). A missing folder means no actions:
    /// the outcome is `allow`.
    pub async fn run_account_trigger(&self, trigger: Trigger, event: serde_json::Value) -> AccountOutcome {
        let flow = self.flow(trigger);
        self.trigger_runner(&flow).account(event).await
    }

    /// Resumes a password-reset-post-challenge run that paused (`outcome.resume`) once the user completed the
    /// challenge (`gatehouse_engine::account::complete_challenge` on `event`) or came back from the redirect
    /// (`gatehouse_engine::account::continue_after_redirect`). Fails closed when the actions changed meanwhile.
    pub async fn resume_account_trigger(
        &self,
        trigger: Trigger,
        event: serde_json::Value,
        resume: &AccountResume,
    ) -> AccountOutcome {
        let flow = self.flow(trigger);
        self.trigger_runner(&flow).resume_account(event, resume).await
    }

    fn trigger_runner<'a>(&'a self, flow: &'a FlowSpec) -> TriggerRunner<'a> {
        TriggerRunner {
            flow,
            limits: self.settings.limits,
            sandbox: &self.sandbox,
            io: self.io.as_ref(),
            cache: &self.cache,
        }
    }

    fn runner<'a>(&'a self, flow: &'a FlowSpec) -> FlowRunner<'a> {
        FlowRunner { flow, settings: &self.settings, sandbox: &self.sandbox, io: self.io.as_ref(), cache: &self.cache }
    }
}

/// Names, sizes and modification times of a trigger folder's files (its actions and the files under its
/// subfolders they may `require`), and of the npm install beside it (`package.json`, and the lockfile npm writes
/// into `node_modules` on every install): cheap to compute every second.
fn fingerprint(root: &Path, dir: &Path) -> String {
    if action_files(dir).is_err() {
        return String::from("missing");
    }
    let mut files = Vec::new();
    collect_files(dir, &mut files, 0);
    files.sort();
    files.push(root.join("package.json"));
    files.push(root.join("node_modules").join(".package-lock.json"));
    let mut print = String::new();
    for file in files {
        let meta = std::fs::metadata(&file).ok();
        let len = meta.as_ref().map(|m| m.len()).unwrap_or(0);
        let modified = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        print.push_str(&format!("{}:{len}:{modified};", file.display()));
    }
    print
}

/// The files under `dir`, a few levels and a thousand files deep at most (`node_modules` is watched through its
/// lockfile instead).
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if files.len() >= 1000 {
            return;
        }
        let path = entry.path();
        if path.is_dir() {
            if depth < 4 && entry.file_name() != "node_modules" {
                collect_files(&path, files, depth + 1);
            }
        } else {
            files.push(path);
        }
    }
}
