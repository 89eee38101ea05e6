//! The `gatehouse` binary: the login server, the offline fixture runner, and the sandbox worker the server and
//! runner start for every action execution.

mod http;
mod output;
mod testing;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Gatehouse: a login server with an Auth0-compatible Actions runtime")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run every fixture (*.json) under the given files or folders.
    Test {
        /// Fixture files or folders (default: fixtures/).
        paths: Vec<PathBuf>,
    },
    /// Run actions once against an event and print the outcome document.
    Run {
        /// Action files or folders, in order.
        #[arg(long, num_args = 1.., required = true)]
        actions: Vec<PathBuf>,
        /// A JSON file with a partial event, merged over the default event.
        #[arg(long)]
        event: Option<PathBuf>,
        /// What the user completes at each pause: factor types, `continue` or `abandon`, comma-separated.
        #[arg(long, value_delimiter = ',')]
        complete: Vec<String>,
        /// A JSON file with the actions' secrets.
        #[arg(long)]
        secrets: Option<PathBuf>,
        /// Wall-clock budget of each execution, milliseconds.
        #[arg(long, default_value_t = 20_000)]
        timeout_ms: u64,
        /// Memory cap of the sandbox, MiB.
        #[arg(long, default_value_t = 128)]
        memory_mb: u64,
    },
    /// The sandbox worker process (started by gatehouse itself).
    #[command(hide = true)]
    SandboxWorker {
        /// Memory cap, MiB.
        #[arg(long, default_value_t = 128)]
        memory_mb: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Commands::SandboxWorker { memory_mb } = cli.command {
        return match gatehouse_engine::run_sandbox_worker(memory_mb) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => output::fatal(&format!("sandbox worker: {e}")),
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return output::fatal(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        match cli.command {
            Commands::Test { paths } => testing::test(paths).await,
            Commands::Run { actions, event, complete, secrets, timeout_ms, memory_mb } => {
                testing::run(testing::RunArgs { actions, event, complete, secrets, timeout_ms, memory_mb }).await
            }
            Commands::SandboxWorker { .. } => ExitCode::SUCCESS,
        }
    })
}
