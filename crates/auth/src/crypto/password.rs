//! Password hashing: argon2id with OWASP's recommended parameters, stored as PHC strings.
//!
//! Hashing and verifying each cost tens of milliseconds of CPU and 19 MiB of memory on purpose: async callers run
//! them through [`run_argon2`], which runs them on one thread per core, off the async threads.
//! [`burn_password_check`] spends the same time for a login name that matches no
//! account, so response times do not tell an attacker which accounts exist.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use std::sync::{Arc, LazyLock, Mutex, mpsc};

use crate::crypto::random;
use crate::error::{AuthError, AuthResult};

/// Memory cost in KiB (OWASP password storage cheat sheet: 19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations (OWASP: 2 with 19 MiB).
pub const ITERATIONS: u32 = 2;
/// Lanes (OWASP: 1).
pub const PARALLELISM: u32 = 1;

/// A job for the argon2 threads.
type Job = Box<dyn FnOnce() + Send>;

/// The argon2 threads: one per core, fed in order from one queue.
///
/// argon2 computations beyond the cores add no throughput, only memory (19 MiB each) and latency. They ran on
/// tokio's blocking pool before, which let a flood of password requests hold up to 512 of them at once, and every
/// pool thread that had hashed kept its 19 MiB in its own malloc arena: the server grew to 585 MiB resident after
/// 316 password grants. A fixed set of threads bounds both.
static ARGON2_THREADS: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (queue, jobs) = mpsc::channel::<Job>();
    let jobs = Arc::new(Mutex::new(jobs));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for i in 0..cores {
        let jobs = Arc::clone(&jobs);
        let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
            // Started from any thread: every CPU, not the one a sandbox host thread is pinned to.
            gatehouse_engine::placement::thread_started();
            loop {
                // The lock is held only while taking a job, not while running it.
                let job = match jobs.lock() {
                    Ok(jobs) => jobs.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                // A panicking job drops its answer channel (its caller sees the failure); the thread lives on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start an argon2 thread");
        }
    }
    queue
});

/// Why [`run_argon2`] has no answer: the computation panicked, or no argon2 thread could be started.
#[derive(Debug)]
pub struct Argon2Failed;

impl std::fmt::Display for Argon2Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the argon2 computation failed")
    }
}

/// Runs an argon2 computation (password or recovery-code hash or check) on the argon2 threads, at most one per
/// core at a time, in the order asked.
pub async fn run_argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Argon2Failed> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(work());
    });
    // The sender is shared by every caller (std's `Sender` is `Sync`); only the receiving side needs a lock.
    ARGON2_THREADS.send(job).map_err(|_| Argon2Failed)?;
    answered.await.map_err(|_| Argon2Failed)
}

/// argon2id with Gatehouse's parameters, and the parameters.
fn hasher() -> AuthResult<(Argon2<'static>, Params)> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| AuthError::Crypto(format!("argon2 parameters: {e}")))?;
    Ok((Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()), params))
}

thread_local! {
    /// argon2's working memory (19 MiB with our parameters), allocated once by each thread that hashes (the argon2
    /// threads) and reused: a fresh allocation per hash cost page faults on every hash, and glibc kept the freed
    /// blocks in per-thread arenas (4 arenas of 58 MiB after 320 password grants).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Working memory kept between hashes, at most: a stored hash with a larger memory cost gets a one-off allocation.
const KEPT_BLOCKS: usize = 64 * 1024;

/// argon2 of `password` and `salt` into `out`, in the thread's reused working memory.
fn compute(argon2: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    let blocks = params.block_count();
    if blocks > KEPT_BLOCKS {
        return argon2.hash_password_into_with_memory(password, salt, out, vec![Block::default(); blocks]);
    }
    BLOCKS.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Hashes a password (or any low-entropy secret) to an argon2id PHC string with a fresh random salt.
pub fn hash_password(password: &str) -> AuthResult<String> {
    let failed = |e: &dyn std::fmt::Display| AuthError::Crypto(format!("argon2: {e}"));
    let (argon2, params) = hasher()?;
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    random::fill(&mut salt)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(&argon2, &params, password.as_bytes(), &salt, &mut out).map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `candidate` matches the PHC string `hash`.
///
/// The parameters come from the hash itself, so hashes made with older parameters keep verifying. The final
/// comparison is constant-time (argon2's `Output` compares with `ctutils`). A hash that cannot be parsed never
/// matches, and still costs the time of a verification.
pub fn verify_password(hash: &str, candidate: &str) -> bool {
    match check(hash, candidate.as_bytes()) {
        Ok(matched) => matched,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is unusable");
            burn_password_check();
            false
        }
    }
}

/// What argon2's own `verify_password` does, in the reused memory: recompute with the hash's algorithm, version,
/// parameters and salt, and compare the outputs in constant time.
fn check(hash: &str, candidate: &[u8]) -> Result<bool, String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err("no salt or no hash".into());
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(|e| e.to_string())?.unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    compute(&argon2, &params, candidate, salt, &mut out).map_err(|e| e.to_string())?;
    let computed = Output::new(&out).map_err(|e| e.to_string())?;
    Ok(computed == *expected)
}

/// Spends the time of one [`verify_password`] against a hash made by [`hash_password`], and returns nothing.
///
/// Call it when the login name matches no account (or an account without a password), so that the answer takes
/// as long as a wrong password for an existing account.
pub fn burn_password_check() {
    let Ok((argon2, params)) = hasher() else {
        return;
    };
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    // A fixed salt is fine: the output is thrown away; only the work matters.
    let _ = compute(&argon2, &params, b"gatehouse: no such account", b"gatehouse-burn-salt", &mut out);
    std::hint::black_box(&out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_one_argon2_computation_per_core() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let tasks: Vec<_> = (0..cores * 4)
            .map(|_| {
                tokio::spawn(run_argon2(|| {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    MOST.fetch_max(now, Ordering::SeqCst);
                    burn_password_check();
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let most = MOST.load(Ordering::SeqCst);
        assert!(most >= 1 && most <= cores, "{most} argon2 computations ran at once on {cores} cores");
    }

    #[tokio::test]
    async fn a_panicking_computation_fails_alone() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        for _ in 0..cores {
            assert!(run_argon2(|| -> u8 { panic!("hostile input") }).await.is_err());
        }
        // Every thread survived its panic.
        for i in 0..cores * 2 {
            assert_eq!(run_argon2(move || i).await.unwrap(), i);
        }
    }
    use std::time::{Duration, Instant};

    #[test]
    fn hash_is_argon2id_phc_with_owasp_parameters() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        // A fresh salt each time.
        assert_ne!(hash, hash_password("correct horse battery staple").unwrap());
    }

    #[test]
    fn verify_accepts_the_password_and_refuses_others() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(verify_password(&hash, "correct horse battery staple"));
        assert!(!verify_password(&hash, "correct horse battery stapl"));
        assert!(!verify_password(&hash, "Correct horse battery staple"));
        assert!(!verify_password(&hash, ""));
    }

    #[test]
    fn verify_handles_unicode_and_empty_passwords() {
        let hash = hash_password("pässwörd 🔑").unwrap();
        assert!(verify_password(&hash, "pässwörd 🔑"));
        let empty = hash_password("").unwrap();
        assert!(verify_password(&empty, ""));
        assert!(!verify_password(&empty, " "));
    }

    #[test]
    fn garbage_hash_never_matches() {
        assert!(!verify_password("", ""));
        assert!(!verify_password("not a phc string", "not a phc string"));
        assert!(!verify_password("$argon2id$v=19$m=19456,t=2,p=1$", "x"));
    }

    #[test]
    fn hashes_from_other_parameters_still_verify() {
        // A hash made with weaker parameters (say, before a parameter bump) verifies with its own parameters.
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let old = argon2::PasswordHasher::hash_password(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            b"hunter2",
        )
        .unwrap()
        .to_string();
        assert!(old.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
        assert!(verify_password(&old, "hunter2"));
        assert!(!verify_password(&old, "hunter3"));
    }

    #[test]
    fn hashes_are_argon2s_own() {
        // Made in the reused memory, checked by argon2's own verifier, and the other way round: the PHC strings
        // are the ones argon2 writes, so hashes stored before and after this code verify alike.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password("correct horse").unwrap();
        let (argon2, _) = hasher().unwrap();
        assert!(argon2.verify_password(b"correct horse", ours.as_str()).is_ok());
        assert!(argon2.verify_password(b"correct hors", ours.as_str()).is_err());
        let theirs = argon2.hash_password(b"battery staple").unwrap().to_string();
        assert!(verify_password(&theirs, "battery staple"));
        assert!(!verify_password(&theirs, "battery stapler"));
        // The memory is reused: a second round on the same thread gives the same answers.
        assert!(verify_password(&ours, "correct horse") && !verify_password(&ours, "correct horsf"));
    }

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    #[test]
    fn burn_costs_about_as_much_as_a_verification() {
        // Not a benchmark: a guard against `burn_password_check` silently becoming a no-op (say, after a
        // parameter change that breaks `hasher()`), which would reveal which accounts exist. Samples are
        // interleaved so that load from other tests hits both sides alike, and the bounds are wide.
        let hash = hash_password("pw").unwrap();
        let (mut verify, mut burn) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let start = Instant::now();
            assert!(!verify_password(&hash, "wrong"));
            verify.push(start.elapsed());
            let start = Instant::now();
            burn_password_check();
            burn.push(start.elapsed());
        }
        let (verify, burn) = (median(verify), median(burn));
        assert!(burn * 3 > verify, "burn {burn:?} vs verify {verify:?}");
        assert!(burn < verify * 3, "burn {burn:?} vs verify {verify:?}");
    }
}
