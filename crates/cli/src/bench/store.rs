//! The store phase of `gatehouse bench`: the same token requests on the embedded store and on PostgreSQL, with one
//! server process and with two sharing the database, under the same `wrk` load, in one run.
//!
//! Two grants: `client_credentials` (a signature; the store writes only the group-committed log line) and the
//! password grant (argon2id, plus reads and atomic writes in the store: the user, the login-attempt reservation, the
//! refresh token, the log). With two processes the load is split between them (half the connections each, run at
//! once) and their figures are summed: what an operator adding a second machine behind a load balancer gets, on one
//! machine here, so the two processes also share its cores.
//!
//! PostgreSQL comes from `GATEHOUSE_BENCH_PG_URL`, else the development machines' `postgres://postgres@127.0.0.1:5432/test`;
//! each setup gets a fresh schema.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::token::{self, Server, TokenArgs, WrkFigures};
use crate::output;

/// One setup: a name, and its servers (one or two processes of one tenant).
struct Setup {
    name: &'static str,
    servers: Vec<Server>,
}

/// Runs the phase and prints its figures.
pub async fn run(args: &TokenArgs) -> Result<(), String> {
    let wrk_version = token::wrk_version(&args.wrk)?;
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-store-{}", std::process::id()));
    let result = measure(args, &dir, &wrk_version).await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(args: &TokenArgs, dir: &Path, wrk_version: &str) -> Result<(), String> {
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| format!("HTTP client: {e}"))?;
    let base = std::env::var("GATEHOUSE_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    output::progress("bench: store: starting Gatehouse on sled and on PostgreSQL...");
    let sled = Setup { name: "sled, 1 process", servers: vec![start(&http, &dir.join("sled"), None, None).await?] };
    let one = fresh_schema(&base).await?;
    let pg_one =
        Setup { name: "PostgreSQL, 1 process", servers: vec![start(&http, &dir.join("pg1"), Some(&one), None).await?] };
    let two = fresh_schema(&base).await?;
    let first = start(&http, &dir.join("pg2"), Some(&two), None).await?;
    let second = start(&http, &dir.join("pg2"), Some(&two), Some(&first)).await?;
    let pg_two = Setup { name: "PostgreSQL, 2 processes", servers: vec![first, second] };
    std::fs::write(dir.join("fixed.lua"), token::FIXED_LUA).map_err(|e| e.to_string())?;

    let grants = ["client_credentials", "password"];
    let mut table: Vec<(&str, &str, WrkFigures)> = Vec::new();
    for setup in [&sled, &pg_one, &pg_two] {
        for grant in grants {
            output::progress(&format!("bench: store: {grant} on {}...", setup.name));
            let figures = load(args, &http, dir, setup, grant).await?;
            table.push((setup.name, grant, figures));
        }
    }

    output::line(&format!(
        "store: the same token requests on sled and PostgreSQL ({} s each after {} s warm-up, wrk {wrk_version}, {} \
         connections in all, release build; two processes split them and share this machine's cores)",
        args.seconds, args.warmup_seconds, args.connections
    ));
    output::line(&format!("{:<24} {:<20} {:>10} {:>10} {:>10}", "store", "grant", "req/s", "p50", "p99"));
    for (store, grant, f) in &table {
        output::line(&format!(
            "{:<24} {:<20} {:>10} {:>10} {:>10}",
            store,
            grant,
            token::thousands(f.per_second),
            token::ms(f.p50),
            token::ms(f.p99)
        ));
    }
    let rate = |store: &str, grant: &str| {
        table.iter().find(|(s, g, _)| *s == store && *g == grant).map(|(_, _, f)| f.per_second).unwrap_or(0.0)
    };
    for grant in grants {
        let sled = rate("sled, 1 process", grant);
        if sled > 0.0 {
            output::line(&format!(
                "{grant}: PostgreSQL 1 process {:.2}x sled, 2 processes {:.2}x sled",
                rate("PostgreSQL, 1 process", grant) / sled,
                rate("PostgreSQL, 2 processes", grant) / sled
            ));
        }
    }
    Ok(())
}

/// Runs `grant` against every server of `setup` at once (the connections split between them) and sums the answers;
/// the percentiles are the worst process's.
async fn load(
    args: &TokenArgs,
    http: &reqwest::Client,
    dir: &Path,
    setup: &Setup,
    grant: &str,
) -> Result<WrkFigures, String> {
    let share = TokenArgs {
        connections: (args.connections / setup.servers.len()).max(1),
        threads: (args.threads / setup.servers.len()).max(1),
        seconds: args.seconds,
        warmup_seconds: args.warmup_seconds,
        node: args.node.clone(),
        peer_script: args.peer_script.clone(),
        peer_modules: args.peer_modules.clone(),
        wrk: args.wrk.clone(),
    };
    if share.warmup_seconds > 0 {
        let warmups = each(&setup.servers, |s| token::run_wrk(&share, http, dir, s, grant, share.warmup_seconds)).await;
        for result in warmups {
            result?;
        }
        if grant == "password" {
            // When wrk stops, its last requests may still wait behind argon2 in the server, each holding one of the
            // account's 10 login-attempt reservations (parallel checks of one account are bounded, so parallel
            // guesses cannot overrun the lockout); the measured run's first requests would be refused. Let them
            // finish.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let runs = each(&setup.servers, |s| token::run_wrk(&share, http, dir, s, grant, share.seconds)).await;
    let mut total = WrkFigures::default();
    for (server, result) in setup.servers.iter().zip(runs) {
        let figures = result?;
        if figures.errors > 0 {
            let first = std::fs::read_to_string(dir.join("failures.txt")).unwrap_or_default();
            return Err(format!(
                "{grant} on {} ({}): {} of {} answers were errors (first: {}); the logs are in {}",
                setup.name,
                server.token_endpoint,
                figures.errors,
                figures.requests,
                first.lines().next().unwrap_or("a socket error"),
                dir.display()
            ));
        }
        total.requests += figures.requests;
        total.per_second += figures.per_second;
        total.p50 = total.p50.max(figures.p50);
        total.p99 = total.p99.max(figures.p99);
    }
    Ok(total)
}

/// Runs `run` on every server of the setup at once (one or two) and returns their answers in order.
async fn each<'a, F, Fut, T>(servers: &'a [Server], run: F) -> Vec<T>
where
    F: Fn(&'a Server) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    match servers {
        [one] => vec![run(one).await],
        [one, two] => {
            let (a, b) = tokio::join!(run(one), run(two));
            vec![a, b]
        }
        more => {
            let mut out = Vec::new();
            for server in more {
                out.push(run(server).await);
            }
            out
        }
    }
}

/// A fresh schema in the bench database, as a store URL selecting it.
async fn fresh_schema(base: &str) -> Result<String, String> {
    gatehouse_store::create_schema(base, "gh_bench_").await.map_err(|e| format!("{e} (set GATEHOUSE_BENCH_PG_URL)"))
}

/// Starts `gatehouse serve` in `dir` on the store `url` (sled in `dir` when `None`). With `beside`, a second
/// process of that server's tenant: same configuration and issuer, its own port.
async fn start(
    http: &reqwest::Client,
    dir: &Path,
    url: Option<&str>,
    beside: Option<&Server>,
) -> Result<Server, String> {
    std::fs::create_dir_all(dir.join("actions/post-login")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = dir.join("gatehouse.toml");
    let port = token::free_port()?;
    if beside.is_none() {
        let mut text = token::bench_config(port, dir);
        if let Some(url) = url {
            text.push_str(&format!("\n[store]\nurl = \"{url}\"\n"));
        }
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the gatehouse executable: {e}"))?;
    let log = std::fs::File::create(dir.join(format!("gatehouse-{port}.log"))).map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    let child = gatehouse_engine::placement::unpinned(|| command.spawn())
        .map_err(|e| format!("cannot start gatehouse serve: {e}"))?;
    let mut server = token::discover("gatehouse", http, &format!("http://127.0.0.1:{port}"), child, "audience").await?;
    // Discovery names the issuer's endpoints; the second process takes its requests on its own port.
    server.token_endpoint = format!("http://127.0.0.1:{port}/oauth/token");
    Ok(server)
}
