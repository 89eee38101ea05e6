//! `gatehouse actions install`: installs the npm dependencies `actions/package.json` lists, then loads every
//! trigger's flow the way the server will, so a dependency that cannot be resolved or parsed shows up now.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gatehouse_engine::actions::load_folder;
use gatehouse_types::Trigger;

use crate::output;

/// Installs and checks the actions folder `dir`.
pub async fn install(dir: &Path) -> ExitCode {
    let manifest = dir.join("package.json");
    if !manifest.is_file() {
        return output::fatal(&format!(
            "{} has no package.json: create one listing the packages your actions require, e.g.\n  \
             cd {} && npm init -y && npm install axios@1",
            dir.display(),
            dir.display()
        ));
    }
    // `npm ci` when a lockfile pins the versions (the same tree on every machine), `npm install` otherwise.
    let locked = dir.join("package-lock.json").is_file();
    let verb = if locked { "ci" } else { "install" };
    let suggestion = format!("cd {} && npm {verb} --omit=dev", dir.display());
    output::progress(&format!("running npm {verb} in {}", dir.display()));
    let status = tokio::process::Command::new("npm")
        .arg(verb)
        .args(["--omit=dev", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .await;
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => {
            return output::fatal(&format!("npm {verb} failed ({status}); run it yourself to see why: {suggestion}"));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return output::fatal(&format!(
                "npm is not installed here (it comes with Node.js 18 or later). Install Node.js, or run this where \
                 it is and copy {}/node_modules here:\n  {suggestion}",
                dir.display()
            ));
        }
        Err(e) => return output::fatal(&format!("could not start npm: {e}; run it yourself: {suggestion}")),
    }
    check(dir)
}

/// Loads every trigger folder under `dir` as the server does, and says what each requires.
fn check(dir: &Path) -> ExitCode {
    let mut failed = false;
    for trigger in Trigger::ALL {
        let folder: PathBuf = dir.join(trigger.id());
        if !folder.is_dir() {
            continue;
        }
        match load_folder(&folder, trigger) {
            Ok(flow) => output::line(&format!(
                "{}: {} action(s), {} module(s) from node_modules and relative files",
                trigger.id(),
                flow.actions.len(),
                flow.modules.modules.len()
            )),
            Err(errors) => {
                failed = true;
                output::progress(&errors.to_string());
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
