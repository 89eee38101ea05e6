//! Where a run's worker runs: on the CPU of the host thread that hands it the run, while that CPU has no other run.
//!
//! A sandbox run is a synchronous exchange. The host writes the request and waits; the worker runs and writes its
//! report; the host goes on. Left to itself, Linux wakes each side on an idle CPU if there is one, so both
//! hand-overs of a run cross CPUs: an inter-processor interrupt each, and on a virtual machine whose idle vCPUs halt,
//! a wake through the hypervisor (about 25 µs each on the development machine, paid on every run, plus the CPU the
//! sender spends sending it). Kept on one CPU, the request wakes the worker where the host thread is about to sleep,
//! and the report wakes the host thread where the worker is about to sleep: two local context switches, and the
//! request and report stay in that CPU's cache.
//!
//! The rules:
//! - A worker thread of the async runtime that sends a run is given a home CPU the first time, one thread per CPU,
//!   and stays on it (the runtime's own work stealing moves tasks between threads; the kernel no longer moves the
//!   threads). Only when the runtime has at least one worker thread per CPU the process may use: with fewer (a
//!   container whose CPU quota is smaller than the CPUs it sees), a pinned thread could not leave a CPU other
//!   processes keep busy. The runtime tells its workers apart through [`runtime_worker_parks`]; a runtime built
//!   without it (tests, embedders) never pins anything.
//! - A run sent from a home CPU takes that CPU's one seat: its worker is pinned there for the run (one system call,
//!   only when the worker was pinned elsewhere). A run sent while the seat is taken gets every CPU and the kernel
//!   spreads it, as it does without co-location: two runs in parallel stay in parallel.
//! - A run still going after [`SEATED_FOR`] gives its seat back and its worker gets every CPU: a runaway action shares
//!   its host thread's CPU for at most that long.
//! - Threads and processes started from a pinned thread would inherit its single CPU: the runtime's threads
//!   ([`thread_started`]) and every process and thread Gatehouse starts ([`unpinned`]) get every CPU back.
//! - A worker that works outside a run (it builds a context right after the report of the run that retired the old
//!   one) first gives itself every CPU ([`widen`]): the seat's bound covers runs only. A worker only ever widens its
//!   own mask; every pin is the host's, at a seat with its timer. It says so in its next report, after reading its
//!   mask ([`on_every_cpu`]), and only then does the host forget the CPU it pinned it to: a worker the host believes
//!   on every CPU is never released, so the host must never believe that of a pinned one.
//!
//! Off with `[actions] colocate = false`, on a single CPU, and where the operating system has no CPU affinity.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How long a run keeps its seat beside its host thread. Runs take about 0.1 ms; a collection in Boa about 2 ms.
pub const SEATED_FOR: Duration = Duration::from_millis(2);

/// The CPUs the process may use, as it found them before pinning anything.
struct Cpus {
    allowed: os::Mask,
    list: Vec<usize>,
    /// Per CPU of `list`: a host thread has it as its home.
    homes: Vec<AtomicBool>,
    /// Per CPU of `list`: a run is seated there.
    seats: Vec<AtomicBool>,
}

/// `None` with fewer than two CPUs (nothing to choose) or without CPU affinity.
fn cpus() -> Option<&'static Cpus> {
    static CPUS: OnceLock<Option<Cpus>> = OnceLock::new();
    CPUS.get_or_init(|| {
        let allowed = os::allowed()?;
        let list = os::list(&allowed);
        (list.len() >= 2).then(|| Cpus {
            homes: list.iter().map(|_| AtomicBool::new(false)).collect(),
            seats: list.iter().map(|_| AtomicBool::new(false)).collect(),
            allowed,
            list,
        })
    })
    .as_ref()
}

/// A host thread's home: not decided yet, none, or an index into [`Cpus::list`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Home {
    Undecided,
    None,
    At(usize),
}

/// The calling thread's home; a thread that ends gives it back.
struct HomeCell(Cell<Home>);

impl Drop for HomeCell {
    fn drop(&mut self) {
        if let (Home::At(index), Some(cpus)) = (self.0.get(), cpus()) {
            cpus.homes[index].store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static HOME: HomeCell = const { HomeCell(Cell::new(Home::Undecided)) };
    /// The async runtime parked this thread: one of its worker threads.
    static RUNTIME_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// For the async runtime's `on_thread_park`: only its worker threads park there, and only they get a home (not the
/// thread in `block_on`, nor the blocking pool's).
pub fn runtime_worker_parks() {
    let _ = RUNTIME_WORKER.try_with(|worker| worker.set(true));
}

/// The calling thread's home CPU (an index into [`Cpus::list`]), decided on the first call from a runtime worker.
fn home(cpus: &Cpus) -> Option<usize> {
    HOME.try_with(|cell| {
        if cell.0.get() == Home::Undecided && RUNTIME_WORKER.try_with(Cell::get).unwrap_or(false) {
            cell.0.set(settle(cpus));
        }
        match cell.0.get() {
            Home::At(index) => Some(index),
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// A home for the calling thread: the CPU it is on when that one is free, else any free one, pinned. None outside a
/// multi-thread runtime with a worker thread per CPU, or once every CPU has its thread.
fn settle(cpus: &Cpus) -> Home {
    let workers = tokio::runtime::Handle::try_current()
        .ok()
        .filter(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .map_or(0, |runtime| runtime.metrics().num_workers());
    if workers < cpus.list.len() {
        return Home::None;
    }
    let here = os::current_cpu().and_then(|cpu| cpus.list.iter().position(|&c| c == cpu));
    let order = here.into_iter().chain((0..cpus.list.len()).filter(|&i| Some(i) != here));
    for index in order {
        if cpus.homes[index].compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            if os::pin(0, cpus.list[index]) {
                return Home::At(index);
            }
            cpus.homes[index].store(false, Ordering::Release);
            return Home::None;
        }
    }
    Home::None
}

/// A run's seat on its host thread's CPU; given back when dropped.
#[derive(Debug)]
pub struct Seat {
    index: usize,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some(cpus) = cpus() {
            cpus.seats[self.index].store(false, Ordering::Release);
        }
    }
}

/// Runs placed by [`seat`]: beside their host thread, and not.
static PLACED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Runs placed so far beside their host thread, and runs placed on every CPU (on a machine with one CPU, or without
/// CPU affinity, none are counted).
pub fn placed_runs() -> (u64, u64) {
    (PLACED[0].load(Ordering::Relaxed), PLACED[1].load(Ordering::Relaxed))
}

/// Places the worker `pid` for a run sent from the calling thread. `pinned` is the CPU the worker is pinned to
/// (`None`: every CPU), kept up to date. Returns the seat when the worker now shares the calling thread's CPU.
pub fn seat(colocate: bool, pid: Option<u32>, pinned: &mut Option<usize>) -> Option<Seat> {
    let (cpus, pid) = (cpus()?, pid?);
    if colocate
        && let Some(index) = home(cpus)
        && cpus.seats[index].compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    {
        let seat = Seat { index };
        let cpu = cpus.list[index];
        if *pinned == Some(cpu) || os::pin(pid, cpu) {
            *pinned = Some(cpu);
            PLACED[0].fetch_add(1, Ordering::Relaxed);
            return Some(seat);
        }
    }
    release(Some(pid), pinned);
    PLACED[1].fetch_add(1, Ordering::Relaxed);
    None
}

/// Gives the worker `pid` every CPU again, when it was pinned.
pub fn release(pid: Option<u32>, pinned: &mut Option<usize>) {
    if pinned.take().is_some()
        && let (Some(cpus), Some(pid)) = (cpus(), pid)
    {
        os::allow(pid, &cpus.allowed);
    }
}

/// Runs `start` (which starts a process or a thread) with every CPU allowed to the calling thread, so what it
/// starts does not inherit the thread's home CPU.
pub fn unpinned<T>(start: impl FnOnce() -> T) -> T {
    let home = HOME.try_with(|cell| cell.0.get()).unwrap_or(Home::None);
    match (home, cpus()) {
        (Home::At(index), Some(cpus)) => {
            os::allow(0, &cpus.allowed);
            let started = start();
            os::pin(0, cpus.list[index]);
            started
        }
        _ => start(),
    }
}

/// For a thread that has just started: every CPU, whatever the thread that started it was pinned to. For the async
/// runtime's `on_thread_start` and Gatehouse's own threads.
pub fn thread_started() {
    if let Some(cpus) = cpus() {
        os::allow(0, &cpus.allowed);
    }
}

/// For a sandbox worker as it starts, before its host can pin it: notes the CPUs the process may use (it was
/// started with every one, [`unpinned`]), which [`widen`] gives back.
pub fn worker_started() {
    let _ = cpus();
}

/// For a sandbox worker about to work outside a run: every CPU the process may use, whatever its host pinned its
/// main thread (the calling thread) to for the last run. `false` when that failed; the work should then wait for a
/// run, which the host's bound covers.
pub fn widen() -> bool {
    cpus().is_none_or(|cpus| os::allow(0, &cpus.allowed))
}

/// Whether the calling thread may run on every CPU the process could when it started (a worker that widened, in
/// its next report). `false` where nothing is ever pinned.
pub fn on_every_cpu() -> bool {
    cpus().is_some_and(|cpus| os::allowed().is_some_and(|now| now == cpus.allowed))
}

/// CPU affinity (`target` 0: the calling thread).
#[cfg(target_os = "linux")]
mod os {
    use rustix::process::Pid;
    use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};

    pub type Mask = CpuSet;

    fn pid(target: u32) -> Option<Pid> {
        Pid::from_raw(i32::try_from(target).ok()?)
    }

    pub fn allowed() -> Option<Mask> {
        sched_getaffinity(None).ok()
    }

    pub fn list(mask: &Mask) -> Vec<usize> {
        (0..CpuSet::MAX_CPU).filter(|&cpu| mask.is_set(cpu)).collect()
    }

    pub fn current_cpu() -> Option<usize> {
        Some(sched_getcpu())
    }

    pub fn pin(target: u32, cpu: usize) -> bool {
        let mut mask = CpuSet::new();
        mask.set(cpu);
        sched_setaffinity(pid(target), &mask).is_ok()
    }

    pub fn allow(target: u32, mask: &Mask) -> bool {
        sched_setaffinity(pid(target), mask).is_ok()
    }
}
/// Without CPU affinity: nothing is ever pinned.
#[cfg(not(target_os = "linux"))]
mod os {
    pub type Mask = ();

    pub fn allowed() -> Option<Mask> {
        None
    }

    pub fn list(_: &Mask) -> Vec<usize> {
        Vec::new()
    }

    pub fn current_cpu() -> Option<usize> {
        None
    }

    pub fn pin(_: u32, _: usize) -> bool {
        false
    }

    pub fn allow(_: u32, _: &Mask) -> bool {
        false
    }
}
