//! The `gatehouse` binary: the login server, the offline fixture runner, and the sandbox worker the server and
//! runner start for every action execution.

mod actions_install;
mod admin;
mod bench;
mod config;
mod directory;
mod output;
mod serve;
mod store_migrate;
mod testing;
mod users;

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
enum ActionsCommand {
    /// Install the npm dependencies actions require (npm ci with a lockfile, npm install without) and check that
    /// every trigger's flow loads with them.
    Install {
        /// The actions folder (the one with package.json and the trigger folders).
        #[arg(long, default_value = "actions")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Commands {
    /// Serve the login server.
    Serve {
        /// The tenant configuration.
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
        /// Address to listen on (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
        /// Data folder (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key; the issuer must be https://).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Server logs as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage users: add, list, show, enroll an authenticator app, reset MFA.
    Users {
        /// The tenant configuration.
        #[arg(long, default_value = "gatehouse.toml", global = true)]
        config: PathBuf,
        /// Data folder (overrides `data_dir`), as `serve --data-dir`.
        #[arg(long, global = true)]
        data_dir: Option<String>,
        #[command(subcommand)]
        command: UsersArgs,
    },
    /// The store itself: move a tenant from the embedded store to PostgreSQL.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Manage roles: list, add, grant permissions, assign to users, delete.
    Roles {
        /// The tenant configuration.
        #[arg(long, default_value = "gatehouse.toml", global = true)]
        config: PathBuf,
        /// Data folder (overrides `data_dir`), as `serve --data-dir`.
        #[arg(long, global = true)]
        data_dir: Option<String>,
        #[command(subcommand)]
        command: RolesArgs,
    },
    /// Manage organizations: list, add, add and remove members (with their roles), delete.
    Orgs {
        /// The tenant configuration.
        #[arg(long, default_value = "gatehouse.toml", global = true)]
        config: PathBuf,
        /// Data folder (overrides `data_dir`), as `serve --data-dir`.
        #[arg(long, global = true)]
        data_dir: Option<String>,
        #[command(subcommand)]
        command: OrgsArgs,
    },
    /// Print the newest tenant log entries.
    Logs {
        /// The tenant configuration.
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
        /// Data folder (overrides `data_dir`), as `serve --data-dir`.
        #[arg(long)]
        data_dir: Option<String>,
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        take: usize,
        /// Only these event codes (repeatable), e.g. --type s --type f (f is every failed login: f, fp, fu).
        #[arg(long = "type")]
        types: Vec<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Keep printing new entries as they are written, oldest first (Ctrl-C stops).
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// The actions folder: `install` runs npm for the dependencies its package.json lists, then loads every flow.
    Actions {
        #[command(subcommand)]
        command: ActionsCommand,
    },
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
        /// Let `fetch` reach loopback and private addresses (a local mock of a provider); refused by default.
        #[arg(long)]
        allow_private_networks: bool,
    },
    /// Benchmarks (`make bench`): the example post-login flow against Node's vm, and the token endpoint against
    /// node-oidc-provider.
    Bench {
        /// Which phases to run.
        #[arg(long, value_enum, default_value = "all")]
        phase: bench::Phases,
        /// Logins measured in each phase.
        #[arg(long, default_value_t = 3000)]
        logins: usize,
        /// Logins run, unmeasured, before each phase.
        #[arg(long, default_value_t = 300)]
        warmup: usize,
        /// The Node executable for the comparison (skipped when it cannot be started).
        #[arg(long, default_value = "node")]
        node: String,
        /// The Node harness.
        #[arg(long, default_value = "bench/node-vm.js")]
        node_harness: PathBuf,
        /// Folder with the example actions.
        #[arg(long, default_value = "actions/examples")]
        examples: PathBuf,
        /// Token endpoint: measured seconds per grant and server.
        #[arg(long, default_value_t = 20)]
        token_seconds: u64,
        /// Token endpoint: unmeasured seconds before each measured run.
        #[arg(long, default_value_t = 3)]
        token_warmup_seconds: u64,
        /// Token endpoint: wrk threads.
        #[arg(long, default_value_t = 2)]
        wrk_threads: usize,
        /// Token endpoint: wrk keep-alive connections.
        #[arg(long, default_value_t = 8)]
        wrk_connections: usize,
        /// Token endpoint: the wrk executable (Debian's `wrk`).
        #[arg(long, default_value = "wrk")]
        wrk: String,
        /// Token endpoint: node-oidc-provider's script.
        #[arg(long, default_value = "bench/oidc-provider.mjs")]
        peer_script: PathBuf,
        /// Token endpoint: where scripts/bench-deps.sh installed node-oidc-provider (default
        /// ~/.cache/gatehouse/bench-peer).
        #[arg(long)]
        peer_modules: Option<PathBuf>,
    },
    /// The sandbox worker process (started by gatehouse itself).
    #[command(hide = true)]
    SandboxWorker {
        /// Memory cap, MiB.
        #[arg(long, default_value_t = 128)]
        memory_mb: u64,
        /// A file the host created, where the worker writes which action is running (read when a run fails).
        #[arg(long)]
        progress_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UsersArgs {
    /// Create a user in the database connection (email verified).
    Add {
        /// Email (the login name).
        email: String,
        /// Password (at least 8 characters). Left out, it is asked for without echo (or read as one line from a
        /// pipe): a password on the command line shows in shell history and `ps`.
        #[arg(long)]
        password: Option<String>,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Role names, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// List users.
    List,
    /// Show a user (by email or id) and their authenticators.
    Show {
        /// Email or user id.
        user: String,
    },
    /// Enroll a factor for a user: `otp` prints the otpauth:// URI and a QR code to scan; `phone <number>` enrolls
    /// a number for SMS (or voice calls with `--method voice`).
    Enroll {
        /// Email or user id.
        user: String,
        /// The factor (`otp` or `phone`).
        factor: String,
        /// The phone number, E.164 (`phone` only).
        number: Option<String>,
        /// How phone codes are sent: `sms`, `voice` or `both`.
        #[arg(long, default_value = "sms")]
        method: String,
    },
    /// Remove every MFA enrollment of a user.
    ResetMfa {
        /// Email or user id.
        user: String,
    },
    /// Mail a user a password-reset link (the same email as "Forgot your password?").
    ResetPassword {
        /// Email or user id.
        user: String,
    },
}

#[derive(Subcommand)]
enum RolesArgs {
    /// List roles with their permissions.
    List,
    /// Create a role.
    Add {
        /// Its name (unique).
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Give a role permissions of an API (scopes the API defines).
    Grant {
        /// The role (name or id).
        role: String,
        /// The API's identifier.
        api: String,
        /// The permissions.
        #[arg(required = true)]
        permissions: Vec<String>,
    },
    /// Give a user a role.
    Assign {
        /// Email or user id.
        user: String,
        /// The role (name or id).
        role: String,
    },
    /// Take a role from a user.
    Unassign {
        /// Email or user id.
        user: String,
        /// The role (name or id).
        role: String,
    },
    /// Delete a role (its holders lose it).
    Delete {
        /// The role (name or id).
        role: String,
    },
}

#[derive(Subcommand)]
enum OrgsArgs {
    /// List organizations with their members.
    List,
    /// Create an organization whose members log in with the database connection.
    Add {
        /// Its name: lower-case letters, digits, `-` and `_`.
        name: String,
        /// Shown to people.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Make a user a member, with roles in the organization.
    AddMember {
        /// The organization (name or id).
        org: String,
        /// Email or user id.
        user: String,
        /// Role names or ids, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Remove a member.
    RemoveMember {
        /// The organization (name or id).
        org: String,
        /// Email or user id.
        user: String,
    },
    /// Delete an organization and its memberships.
    Delete {
        /// The organization (name or id).
        org: String,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy a tenant from a sled store to PostgreSQL (the server stopped): users and their enrollments, keys,
    /// roles, organizations and grants, sessions, refresh tokens and logs. Says what it moved.
    Migrate {
        /// The sled store: the data folder (`data`) or its `store` folder.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL (`postgres://user@host:5432/database`).
        #[arg(long)]
        to: String,
        /// Count what would be moved; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Connections to PostgreSQL.
        #[arg(long, default_value_t = 4)]
        pool_size: usize,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a new signing key; the previous one stays in the JWKS until its tokens expire.
    Rotate {
        /// The tenant configuration.
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
        /// Data folder (overrides `data_dir`), as `serve --data-dir`.
        #[arg(long)]
        data_dir: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Commands::SandboxWorker { memory_mb, progress_file } = cli.command {
        return match gatehouse_engine::run_sandbox_worker(memory_mb, progress_file.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => output::fatal(&format!("sandbox worker: {e}")),
        };
    }
    let (default_level, json) = match &cli.command {
        Commands::Serve { log_json, .. } => {
            ("info", *log_json || std::env::var("GATEHOUSE_LOG_FORMAT").is_ok_and(|f| f == "json"))
        }
        _ => ("warn", false),
    };
    // sled's own tracing stays at warn unless GATEHOUSE_LOG names it: `GATEHOUSE_LOG=debug` is about Gatehouse.
    let wanted = std::env::var("GATEHOUSE_LOG").unwrap_or_else(|_| default_level.to_owned());
    let wanted = if wanted.contains("sled") { wanted } else { format!("{wanted},sled=warn") };
    let filter = tracing_subscriber::EnvFilter::try_new(&wanted)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default_level},sled=warn")));
    // Colour only for a person at a terminal: a file, a pipe or journald gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour).with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // A thread the runtime starts from one pinned to its CPU would inherit that CPU (`placement`).
        .on_thread_start(gatehouse_engine::placement::thread_started)
        .on_thread_park(gatehouse_engine::placement::runtime_worker_parks)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return output::fatal(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        match cli.command {
            Commands::Serve { config, listen, data_dir, tls_cert, tls_key, .. } => {
                let tls = tls_cert.zip(tls_key);
                serve::serve(serve::ServeArgs { config, listen, data_dir, tls }).await
            }
            Commands::Keys { command: KeysCommand::Rotate { config, data_dir } } => {
                config::set_data_dir(data_dir);
                admin::rotate_keys(&config).await
            }
            Commands::Logs { config, take, types, json, follow, data_dir } => {
                config::set_data_dir(data_dir);
                admin::logs(&config, take, types, json, follow).await
            }
            Commands::Users { config, command, data_dir } => {
                config::set_data_dir(data_dir);
                let command = match command {
                    UsersArgs::Add { email, password, name, roles } => {
                        let password = match password {
                            Some(password) => password,
                            None => match users::ask_password(&email) {
                                Ok(password) => password,
                                Err(e) => return output::fatal(&e),
                            },
                        };
                        users::UsersCommand::Add { email, password, name, roles }
                    }
                    UsersArgs::List => users::UsersCommand::List,
                    UsersArgs::Show { user } => users::UsersCommand::Show { who: user },
                    UsersArgs::Enroll { user, factor, number: None, .. } if factor == "otp" => {
                        users::UsersCommand::EnrollOtp { who: user }
                    }
                    UsersArgs::Enroll { user, factor, number: Some(number), method } if factor == "phone" => {
                        users::UsersCommand::EnrollPhone { who: user, number, method }
                    }
                    UsersArgs::Enroll { factor, number: None, .. } if factor == "phone" => {
                        return output::fatal(
                            "enroll phone needs the number: gatehouse users enroll <user> phone +819012345678",
                        );
                    }
                    UsersArgs::Enroll { factor, .. } => {
                        return output::fatal(&format!(
                            "cannot enroll '{factor}' from the command line: use otp, or phone <number>"
                        ));
                    }
                    UsersArgs::ResetMfa { user } => users::UsersCommand::ResetMfa { who: user },
                    UsersArgs::ResetPassword { user } => users::UsersCommand::ResetPassword { who: user },
                };
                users::run(&config, command).await
            }
            Commands::Store { command: StoreCommand::Migrate { from, to, dry_run, pool_size } } => {
                store_migrate::migrate(&from, &to, dry_run, pool_size.max(1)).await
            }
            Commands::Roles { config, command, data_dir } => {
                config::set_data_dir(data_dir);
                let command = match command {
                    RolesArgs::List => directory::RolesCommand::List,
                    RolesArgs::Add { name, description } => directory::RolesCommand::Add { name, description },
                    RolesArgs::Grant { role, api, permissions } => {
                        directory::RolesCommand::Grant { role, api, permissions }
                    }
                    RolesArgs::Assign { user, role } => directory::RolesCommand::Assign { user, role, add: true },
                    RolesArgs::Unassign { user, role } => directory::RolesCommand::Assign { user, role, add: false },
                    RolesArgs::Delete { role } => directory::RolesCommand::Delete { role },
                };
                directory::roles(&config, command).await
            }
            Commands::Orgs { config, command, data_dir } => {
                config::set_data_dir(data_dir);
                let command = match command {
                    OrgsArgs::List => directory::OrgsCommand::List,
                    OrgsArgs::Add { name, display_name } => directory::OrgsCommand::Add { name, display_name },
                    OrgsArgs::AddMember { org, user, roles } => directory::OrgsCommand::AddMember { org, user, roles },
                    OrgsArgs::RemoveMember { org, user } => directory::OrgsCommand::RemoveMember { org, user },
                    OrgsArgs::Delete { org } => directory::OrgsCommand::Delete { org },
                };
                directory::orgs(&config, command).await
            }
            Commands::Actions { command: ActionsCommand::Install { dir } } => actions_install::install(&dir).await,
            Commands::Test { paths } => testing::test(paths).await,
            Commands::Run { actions, event, complete, secrets, timeout_ms, memory_mb, allow_private_networks } => {
                let args = testing::RunArgs {
                    actions,
                    event,
                    complete,
                    secrets,
                    timeout_ms,
                    memory_mb,
                    allow_private_networks,
                };
                testing::run(args).await
            }
            Commands::Bench {
                phase,
                logins,
                warmup,
                node,
                node_harness,
                examples,
                token_seconds,
                token_warmup_seconds,
                wrk_threads,
                wrk_connections,
                wrk,
                peer_script,
                peer_modules,
            } => {
                let token = bench::token::TokenArgs {
                    seconds: token_seconds.max(1),
                    warmup_seconds: token_warmup_seconds,
                    threads: wrk_threads.max(1),
                    connections: wrk_connections.max(wrk_threads.max(1)),
                    node: node.clone(),
                    peer_script,
                    peer_modules: peer_modules.unwrap_or_else(bench::token::default_peer_modules),
                    wrk,
                };
                let actions = bench::actions::BenchArgs { logins, warmup, node, harness: node_harness, examples };
                bench::run(phase, actions, token).await
            }
            Commands::SandboxWorker { .. } => ExitCode::SUCCESS,
        }
    })
}
