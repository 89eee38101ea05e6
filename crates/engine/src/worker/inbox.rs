//! Where a worker's requests come from: its stdin, read on the thread that runs the actions.
//!
//! A run's request arrives while the worker waits for it, and a `fetch` answer while a run waits for it or for a
//! timer, so one thread can read them all; there is no reading thread to hand each frame over (a futex wake and a
//! thread switch per frame, about a tenth of a worker's CPU). While a timer is due, the wait is a `poll` on stdin
//! with the timer's timeout. Tests feed a worker through a channel instead.

use std::io::{BufRead, BufReader, Stdin};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::protocol::{ToWorker, read_to_worker};

/// The host has gone (its end of the pipe closed) or broke the protocol: the worker has nothing left to do.
#[derive(Debug)]
pub(crate) struct Gone;

pub(crate) trait Inbox {
    /// The next request.
    fn recv(&mut self) -> Result<ToWorker, Gone>;
    /// The next request, or `None` when none came within `timeout`.
    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<ToWorker>, Gone>;
}

/// The host's pipe.
pub(crate) struct StdinInbox {
    input: BufReader<Stdin>,
}

impl StdinInbox {
    pub(crate) fn new() -> StdinInbox {
        StdinInbox { input: BufReader::with_capacity(64 * 1024, std::io::stdin()) }
    }
}

impl Inbox for StdinInbox {
    fn recv(&mut self) -> Result<ToWorker, Gone> {
        // A malformed frame ends the stream as a closed pipe does: the host kills a worker it cannot talk to.
        read_to_worker(&mut self.input).ok().flatten().ok_or(Gone)
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<ToWorker>, Gone> {
        // Bytes already read belong to a frame the host has begun writing: it writes a frame whole, so read it.
        if self.input.buffer().is_empty() {
            let stdin = std::io::stdin();
            let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
            let timeout = Timespec {
                tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(timeout.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                // A signal: the caller checks its timers and waits again.
                Err(rustix::io::Errno::INTR) => return Ok(None),
                Err(_) => return Err(Gone),
            }
        }
        // Readable: a frame, or the end of the stream (the host has gone).
        if self.input.fill_buf().map_or(true, |b| b.is_empty()) {
            return Err(Gone);
        }
        self.recv().map(Some)
    }
}

/// A channel, for tests.
impl Inbox for Receiver<ToWorker> {
    fn recv(&mut self) -> Result<ToWorker, Gone> {
        Receiver::recv(self).map_err(|_| Gone)
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<ToWorker>, Gone> {
        match Receiver::recv_timeout(self, timeout) {
            Ok(message) => Ok(Some(message)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Gone),
        }
    }
}
