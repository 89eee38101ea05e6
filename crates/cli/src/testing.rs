//! `gatehouse test` and `gatehouse run`: offline runs of actions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use gatehouse_engine::actions::load_paths;
use gatehouse_engine::fixture::{build_event, discover, parse_completion, run_file, run_login};
use gatehouse_engine::flow::{FlowRunner, FlowSettings, MemoryCache};
use gatehouse_engine::sandbox::{Limits, Sandbox, SandboxConfig};
use gatehouse_types::Trigger;

use crate::output;
use gatehouse_auth::fetch::{OutboundPolicy, ReqwestIo};

fn sandbox() -> Result<Sandbox, ExitCode> {
    SandboxConfig::current_exe()
        .map(Sandbox::new)
        .map_err(|e| output::fatal(&format!("cannot locate the gatehouse executable: {e}")))
}

/// Runs every fixture under `paths`, printing `PASS`/`FAIL` lines and a summary.
pub async fn test(paths: Vec<PathBuf>) -> ExitCode {
    if paths.is_empty() && !std::path::Path::new("fixtures").exists() {
        return output::fatal(
            "no fixtures/ folder here: pass the fixture files or folders to run, e.g. `gatehouse test \
             fixtures/examples` from the repository, or `gatehouse test my-fixtures/` (README: Testing actions offline)",
        );
    }
    let paths = if paths.is_empty() { vec![PathBuf::from("fixtures")] } else { paths };
    let files = match discover(&paths) {
        Ok(files) => files,
        Err(e) => return output::fatal(&e),
    };
    let sandbox = match sandbox() {
        Ok(sandbox) => sandbox,
        Err(code) => return code,
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let report = run_file(file, &sandbox).await;
        if report.passed() {
            passed += 1;
            output::line(&format!("PASS {}", report.name));
        } else {
            failed += 1;
            output::line(&format!("FAIL {}  ({})", report.name, file.display()));
            for problem in &report.problems {
                output::line(&format!("  {}", problem.replace('\n', "\n  ")));
            }
            if let Some(outcome) = report.outcomes.last() {
                let reason = outcome.reason.as_deref().map(|r| format!(", reason: {r}")).unwrap_or_default();
                let result = serde_json::to_value(outcome.result).unwrap_or_default();
                output::line(&format!("  (the flow ended with result {}{reason})", result.as_str().unwrap_or("?")));
            }
            if let Some(outcome) = report.exchanges.last() {
                let reason = outcome.reason.as_deref().map(|r| format!(", reason: {r}")).unwrap_or_default();
                let result = serde_json::to_value(outcome.result).unwrap_or_default();
                output::line(&format!("  (the request ended {}{reason})", result.as_str().unwrap_or("?")));
            }
            if let Some(run) = report.accounts.last() {
                let outcome = &run.outcome;
                let reason = outcome.reason.as_deref().map(|r| format!(", reason: {r}")).unwrap_or_default();
                let result = serde_json::to_value(outcome.result).unwrap_or_default();
                output::line(&format!("  (the run ended {}{reason})", result.as_str().unwrap_or("?")));
            }
            if let Some(outcome) = report.notifications.last() {
                let reason = outcome.reason.as_deref().map(|r| format!(", reason: {r}")).unwrap_or_default();
                let result = serde_json::to_value(outcome.result).unwrap_or_default();
                output::line(&format!("  (the message ended {}{reason})", result.as_str().unwrap_or("?")));
            }
        }
    }
    output::line(&format!("{passed} passed, {failed} failed"));
    if files.is_empty() {
        return output::fatal(&format!(
            "no fixtures found under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Arguments of `gatehouse run`.
pub struct RunArgs {
    pub actions: Vec<PathBuf>,
    pub event: Option<PathBuf>,
    pub complete: Vec<String>,
    pub secrets: Option<PathBuf>,
    pub timeout_ms: u64,
    pub memory_mb: u64,
    /// Let `fetch` reach loopback and private addresses (a local mock of a provider).
    pub allow_private_networks: bool,
}

fn read_json(path: &PathBuf) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs actions once and prints the outcome document.
pub async fn run(args: RunArgs) -> ExitCode {
    let result = async {
        let flow = load_paths(&args.actions, Trigger::PostLogin).map_err(|e| e.to_string())?;
        let partial = match &args.event {
            Some(path) => read_json(path)?,
            None => serde_json::Value::Null,
        };
        let secrets: BTreeMap<String, String> = match &args.secrets {
            Some(path) => serde_json::from_value(read_json(path)?).map_err(|e| format!("secrets: {e}"))?,
            None => BTreeMap::new(),
        };
        let event = build_event(&partial, &secrets)?;
        let completions = args
            .complete
            .iter()
            .map(|c| parse_completion(&serde_json::Value::String(c.trim().to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        let settings = FlowSettings {
            limits: Limits { timeout: Duration::from_millis(args.timeout_ms), memory_mb: args.memory_mb },
            ..FlowSettings::default()
        };
        let sandbox = sandbox().map_err(|_| "cannot start the sandbox".to_owned())?;
        let policy =
            OutboundPolicy { allow_private_networks: args.allow_private_networks, ..OutboundPolicy::default() };
        let io = ReqwestIo::new(Duration::from_secs(10), policy, Vec::new()).map_err(|e| e.to_string())?;
        let cache = MemoryCache::default();
        let runner = FlowRunner { flow: &flow, settings: &settings, sandbox: &sandbox, io: &io, cache: &cache };
        let outcome = run_login(&runner, event, &completions).await?;
        serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(text) => {
            output::line(&text);
            ExitCode::SUCCESS
        }
        Err(e) => output::fatal(&e),
    }
}
