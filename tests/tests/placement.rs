//! Where a run's worker runs (`gatehouse_engine::placement`): on its host thread's CPU while that CPU has no other
//! run and for at most the configured time, on every CPU otherwise; and nothing a pinned thread starts inherits its
//! CPU. The placement is process-wide, so everything is checked in one test, in its own test binary, over a runtime
//! built as `gatehouse` builds its own.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gatehouse_engine::fixture::StubIo;
use gatehouse_engine::placement;
use gatehouse_engine::sandbox::{Limits, Sandbox, SandboxConfig};
use gatehouse_tests::{post_login_flow, run_request, sandbox_config};

/// CPUs in a `Cpus_allowed_list` value: `0-1,3`.
fn parse_list(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => cpus.extend(from.parse::<usize>().unwrap()..=to.parse::<usize>().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The CPUs the thread whose `status` file is `path` may run on.
fn allowed_in(path: &str) -> Vec<usize> {
    let status = std::fs::read_to_string(path).unwrap();
    let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")).unwrap();
    parse_list(line.trim_start_matches("Cpus_allowed_list:"))
}

/// The CPUs thread `tid` of process `pid` may run on (`tid` = `pid`: the process's first thread).
fn allowed(pid: u32, tid: u32) -> Vec<usize> {
    allowed_in(&format!("/proc/{pid}/task/{tid}/status"))
}

fn allowed_process(pid: u32) -> Vec<usize> {
    allowed(pid, pid)
}

/// The calling thread's CPUs.
fn allowed_here() -> Vec<usize> {
    allowed_in("/proc/thread-self/status")
}

/// The single CPUs the runtime's worker threads are pinned to.
fn homes() -> Vec<usize> {
    let me = std::process::id();
    let mut homes = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task")).unwrap() {
        let tid: u32 = task.unwrap().file_name().to_string_lossy().parse().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/{me}/task/{tid}/comm")).unwrap_or_default();
        let cpus = allowed(me, tid);
        if comm.starts_with("tokio-r") && cpus.len() == 1 {
            homes.push(cpus[0]);
        }
    }
    homes.sort();
    homes
}

fn sleeper(unpinned: bool) -> std::process::Child {
    let mut command = std::process::Command::new("sleep");
    command.arg("30");
    if unpinned { placement::unpinned(|| command.spawn()).unwrap() } else { command.spawn().unwrap() }
}

const QUICK: &str =
    "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('https://x.test/a', 1); };";
const BUSY: &str =
    "exports.onExecutePostLogin = async () => { const end = Date.now() + 300; while (Date.now() < end) {} };";

/// Replaces the global object's prototype: the reset cannot undo that, so the context is retired after the run.
const TAINTS: &str =
    "exports.onExecutePostLogin = async () => { Object.setPrototypeOf(globalThis, Object.create(null)); };";

async fn run_once(sandbox: &Sandbox, code: &str) {
    let limits = Limits { timeout: Duration::from_secs(20), memory_mb: 128 };
    let output = sandbox.run(run_request(post_login_flow(&[code])), limits, &StubIo::new(Vec::new())).await;
    assert!(output.report.is_ok(), "{:?}", output.report.err());
}

/// The sandbox's one idle worker.
fn idle_worker(sandbox: &Sandbox) -> u32 {
    let pids = sandbox.idle_worker_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    pids[0]
}

async fn checks(all: Vec<usize>) {
    // Long enough for every worker thread to have parked once (how the runtime tells them apart).
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A run sent from a runtime worker: the worker is pinned to that thread's home CPU, and stays there idle.
    let generous = SandboxConfig { colocate: Some(Duration::from_secs(30)), ..sandbox_config(2) };
    let sandbox = Sandbox::new(generous);
    let (beside, spread) = placement::placed_runs();
    run_once(&sandbox, QUICK).await;
    assert_eq!(placement::placed_runs(), (beside + 1, spread), "the run was placed beside its host thread");
    let worker = idle_worker(&sandbox);
    let pinned = allowed_process(worker);
    assert_eq!(pinned.len(), 1, "the worker is pinned to one CPU: {pinned:?}");
    let homes = homes();
    assert!(homes.contains(&pinned[0]), "its CPU {pinned:?} is a runtime thread's home {homes:?}");
    let mut distinct = homes.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), homes.len(), "one runtime thread per CPU: {homes:?}");

    // A run that goes on past its time beside the host thread gets every CPU while it is still running.
    let short = SandboxConfig { colocate: Some(Duration::from_millis(2)), ..sandbox_config(2) };
    let sandbox = std::sync::Arc::new(Sandbox::new(short));
    run_once(&sandbox, QUICK).await;
    let worker = idle_worker(&sandbox);
    let busy = tokio::spawn({
        let sandbox = sandbox.clone();
        async move { run_once(&sandbox, BUSY).await }
    });
    let mut during = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        during = allowed_process(worker);
        if during == all || busy.is_finished() {
            break;
        }
    }
    assert!(!busy.is_finished(), "the busy run was still running when its worker got every CPU");
    assert_eq!(during, all, "a run past its time beside its host thread may run on any CPU");
    busy.await.unwrap();

    // A run that retires its context: the worker builds the replacement right after its report, outside any run,
    // so it first gives itself every CPU. It says so in its next report, and the host pins it again on the run
    // after that (had the host kept believing it pinned, its own home would never be set again).
    let sandbox = Sandbox::new(SandboxConfig { colocate: Some(Duration::from_secs(30)), ..sandbox_config(2) });
    run_once(&sandbox, TAINTS).await;
    let worker = idle_worker(&sandbox);
    let mut after = Vec::new();
    for _ in 0..250 {
        after = allowed_process(worker);
        if after == all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(after, all, "a worker building a context after its report may run on any CPU");
    run_once(&sandbox, QUICK).await;
    run_once(&sandbox, QUICK).await;
    assert_eq!(idle_worker(&sandbox), worker);
    let pinned = allowed_process(worker);
    assert_eq!(pinned.len(), 1, "once it has reported every CPU, the next run pins it again: {pinned:?}");

    // Co-location off: the worker keeps every CPU.
    let off = SandboxConfig { colocate: None, ..sandbox_config(2) };
    let sandbox = Sandbox::new(off);
    run_once(&sandbox, QUICK).await;
    assert_eq!(allowed_process(idle_worker(&sandbox)), all, "co-location off");

    // One seat per CPU: a second run sent from the same thread while the first sits there goes on every CPU; once
    // the first is done, the seat is free again. No await between the calls: the same thread, the same home.
    let (a, b) = (sleeper(true), sleeper(true));
    let (mut pinned_a, mut pinned_b) = (None, None);
    let seat_a = placement::seat(true, Some(a.id()), &mut pinned_a);
    let seat_b = placement::seat(true, Some(b.id()), &mut pinned_b);
    assert!(seat_a.is_some(), "the first run sits beside its host thread");
    assert!(seat_b.is_none(), "the second does not: the CPU already has a run");
    let home = allowed_here();
    assert_eq!(home.len(), 1, "the sending thread is pinned to its home: {home:?}");
    assert_eq!(allowed_process(a.id()), home);
    assert_eq!(allowed_process(b.id()), all);
    drop(seat_a);
    let seat_b = placement::seat(true, Some(b.id()), &mut pinned_b);
    assert!(seat_b.is_some(), "the seat is free once the first run is done");
    assert_eq!(allowed_process(b.id()), home);
    placement::release(Some(b.id()), &mut pinned_b);
    assert_eq!(allowed_process(b.id()), all, "released: every CPU");

    // What a pinned thread starts: processes through `unpinned` and the runtime's blocking threads get every CPU.
    // Started plainly, a process inherits the thread's one CPU: the hazard `unpinned` is there for.
    let (plain, unpinned) = (sleeper(false), sleeper(true));
    assert_eq!(allowed_process(plain.id()), home, "a plain start inherits the pinned thread's CPU");
    assert_eq!(allowed_process(unpinned.id()), all, "a start through `unpinned` gets every CPU");
    assert_eq!(allowed_here(), home, "`unpinned` pins the thread back");
    let blocking = tokio::task::spawn_blocking(allowed_here).await.unwrap();
    assert_eq!(blocking, all, "a blocking thread gets every CPU");
    let thread = std::thread::spawn(|| {
        placement::thread_started();
        allowed_here()
    });
    assert_eq!(thread.join().unwrap(), all, "a thread that calls `thread_started` gets every CPU");
    for mut child in [a, b, plain, unpinned] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_run_sits_beside_its_host_thread_alone_and_briefly_and_nothing_inherits_the_pin() {
    let all = allowed_process(std::process::id());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(all.len())
        .enable_all()
        .on_thread_start(placement::thread_started)
        .on_thread_park(placement::runtime_worker_parks)
        .build()
        .unwrap();
    if all.len() < 2 {
        // One CPU: nothing to choose, nothing is pinned or counted.
        runtime.block_on(async {
            let sandbox = Sandbox::new(sandbox_config(2));
            run_once(&sandbox, QUICK).await;
            assert_eq!(placement::placed_runs(), (0, 0));
            assert_eq!(allowed_process(idle_worker(&sandbox)), all);
        });
        return;
    }
    runtime.block_on(async { tokio::spawn(checks(all)).await.unwrap() });
}
