//! `gatehouse bench` (`make bench`): figures side by side with the peer each is measured against. Three phases:
//! [`actions`], a post-login flow per login against Node's `vm`; [`token`], the token endpoint against
//! node-oidc-provider; and [`store`], the token endpoint on sled against PostgreSQL with one and two processes. A benchmark prints figures; it passes or fails nothing.

pub mod actions;
pub mod store;
pub mod token;

use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;

use crate::output;

/// Which phases `gatehouse bench` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Phases {
    /// All three: actions, token endpoint, store.
    All,
    /// The post-login flow against Node's `vm`.
    Actions,
    /// The token endpoint against node-oidc-provider.
    Token,
    /// The token endpoint on sled, on PostgreSQL, and on PostgreSQL with two processes.
    Store,
}

/// `gatehouse bench`.
pub async fn run(phases: Phases, actions: actions::BenchArgs, token: token::TokenArgs) -> ExitCode {
    if matches!(phases, Phases::All | Phases::Actions)
        && let Err(e) = actions::run(&actions).await
    {
        return output::fatal(&format!("bench (actions): {e}"));
    }
    if phases == Phases::All {
        output::line("");
    }
    if matches!(phases, Phases::All | Phases::Token)
        && let Err(e) = token::run(&token).await
    {
        return output::fatal(&format!("bench (token endpoint): {e}"));
    }
    if phases == Phases::All {
        output::line("");
    }
    if matches!(phases, Phases::All | Phases::Store)
        && let Err(e) = store::run(&token).await
    {
        return output::fatal(&format!("bench (store): {e}"));
    }
    ExitCode::SUCCESS
}

/// CPU time used so far by every thread of process `pid` (`/proc/<pid>/task/*/schedstat`, nanoseconds).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Duration::ZERO };
    let nanos = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How this machine's idle CPUs wait, where Linux says (`None` elsewhere). On a KVM guest whose idle vCPUs halt at
/// once (the `haltpoll` cpuidle driver with `guest_halt_poll_ns` 0), every hand-over between the host and a worker
/// wakes a halted vCPU through the hypervisor, which on the development machine was over half of a pausing login's
/// wall time (docs/DEPLOYMENT.md, "Latency of actions on a virtual machine"): the figures depend on it.
pub(crate) fn idle_cpus() -> Option<String> {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let driver = read("/sys/devices/system/cpu/cpuidle/current_driver")?;
    Some(match read("/sys/module/haltpoll/parameters/guest_halt_poll_ns") {
        Some(ns) if ns == "0" => format!(
            "cpuidle {driver}, guest halt polling off (guest_halt_poll_ns 0): each hand-over between the host and a \
             worker on another CPU wakes a halted vCPU"
        ),
        Some(ns) => format!("cpuidle {driver}, guest halt polling up to {ns} ns"),
        None => format!("cpuidle {driver}"),
    })
}
