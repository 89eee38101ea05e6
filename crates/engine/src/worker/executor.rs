//! The job executor of a sandbox context.
//!
//! Boa's default executor busy-waits on timers. This one only queues: the worker's event loop drains promise
//! jobs, then sleeps until the next timer is due or a host answer (a `fetch` response) arrives, so a pending
//! `setTimeout` or request costs no CPU. At the end of every run the queues are cleared, so nothing scheduled by
//! one login can run during the next.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use boa_engine::job::{GenericJob, IntervalJob, Job, JobExecutor, PromiseJob, TimeoutJob};
use boa_engine::{Context, JsResult};

enum Timer {
    Timeout(TimeoutJob),
    Interval(IntervalJob),
}

impl Timer {
    fn cancelled(&self) -> bool {
        match self {
            Timer::Timeout(t) => t.cancelled(),
            Timer::Interval(i) => i.cancelled(),
        }
    }
}

/// Queues promise jobs and timers for the worker's event loop.
#[derive(Default)]
pub(crate) struct Executor {
    promise_jobs: RefCell<VecDeque<PromiseJob>>,
    generic_jobs: RefCell<VecDeque<GenericJob>>,
    timers: RefCell<BTreeMap<(Instant, u64), Timer>>,
    sequence: Cell<u64>,
}

impl Executor {
    fn add_timer(&self, delay: Duration, timer: Timer) {
        let seq = self.sequence.get() + 1;
        self.sequence.set(seq);
        self.timers.borrow_mut().insert((Instant::now() + delay, seq), timer);
    }

    /// When the earliest live timer is due.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let mut timers = self.timers.borrow_mut();
        timers.retain(|_, t| !t.cancelled());
        timers.keys().next().map(|(due, _)| *due)
    }

    /// Runs the timers that are due.
    pub(crate) fn run_due_timers(&self, context: &mut Context) -> JsResult<()> {
        let now = Instant::now();
        loop {
            let due = {
                let mut timers = self.timers.borrow_mut();
                match timers.first_key_value() {
                    Some(((at, _), _)) if *at <= now => timers.pop_first(),
                    _ => None,
                }
            };
            let Some((_, timer)) = due else { return Ok(()) };
            if timer.cancelled() {
                continue;
            }
            match timer {
                Timer::Timeout(job) => {
                    job.call(context)?;
                }
                Timer::Interval(job) => {
                    job.call(context)?;
                    let every = Duration::from(job.interval()).max(Duration::from_millis(1));
                    self.add_timer(every, Timer::Interval(job));
                }
            }
        }
    }

    /// Drops everything queued: called between runs.
    pub(crate) fn clear(&self) {
        self.promise_jobs.borrow_mut().clear();
        self.generic_jobs.borrow_mut().clear();
        self.timers.borrow_mut().clear();
    }
}

impl JobExecutor for Executor {
    fn enqueue_job(self: Rc<Self>, job: Job, _context: &mut Context) {
        match job {
            Job::PromiseJob(job) => self.promise_jobs.borrow_mut().push_back(job),
            Job::GenericJob(job) => self.generic_jobs.borrow_mut().push_back(job),
            Job::TimeoutJob(job) => {
                let delay = Duration::from(job.timeout());
                self.add_timer(delay, Timer::Timeout(job));
            }
            Job::IntervalJob(job) => {
                let delay = Duration::from(job.interval()).max(Duration::from_millis(1));
                self.add_timer(delay, Timer::Interval(job));
            }
            // Async native jobs and finalization-registry cleanups are never created by the host surface; the
            // engine's own (Atomics.waitAsync, FinalizationRegistry) are dropped, which only means their callbacks
            // do not run.
            _ => {}
        }
    }

    fn run_jobs(self: Rc<Self>, context: &mut Context) -> JsResult<()> {
        loop {
            let promise_jobs = std::mem::take(&mut *self.promise_jobs.borrow_mut());
            let generic_jobs = std::mem::take(&mut *self.generic_jobs.borrow_mut());
            if promise_jobs.is_empty() && generic_jobs.is_empty() {
                break;
            }
            for job in promise_jobs {
                job.call(context)?;
            }
            for job in generic_jobs {
                job.call(context)?;
            }
        }
        context.clear_kept_objects();
        Ok(())
    }
}
