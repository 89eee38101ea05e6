//! Checking an email and password, with the failed-login count of Auth0's brute-force protection.
//!
//! The hosted login form and the password grants both come here, so the two cannot drift apart: the same
//! blocking rule (`[attack_protection]`: `max_attempts` consecutive failures for a login name from one IP block it
//! for `block_seconds`), the same counting, and the same timing for an unknown login name as for a wrong password.
//! What each caller logs and answers differs (a page or an OAuth error) and stays with the caller.

use gatehouse_store::StoreResult;
use gatehouse_types::records::{LoginAttempts, User};

use crate::crypto::password;
use crate::tenant::Tenant;

/// What a password check found.
#[derive(Debug)]
pub enum PasswordCheck {
    /// The login name is blocked from this IP: nothing was checked, nothing counted.
    Blocked,
    /// No account with that login name and password. The failure has been counted.
    Wrong {
        /// The account with that login name, when there is one (the password was wrong).
        known: Option<Box<User>>,
        /// Consecutive failures counted so far, this one included.
        failures: u32,
        /// Whether this failure reached the limit: the login name is now blocked from this IP.
        now_blocked: bool,
    },
    /// The password matches. The failure count has been cleared (for a blocked user, `user.blocked`, which the
    /// caller refuses, only the reserved attempt is given back).
    Valid(Box<User>),
}

/// Checks `password` for the account `login` (an email, already trimmed and lower-cased) from `ip` at `now`
/// (epoch seconds). Store errors are returned: the caller fails closed.
pub async fn check_password(
    tenant: &Tenant,
    login: &str,
    ip: &str,
    password: &str,
    now: i64,
) -> StoreResult<PasswordCheck> {
    let protection = &tenant.config.attack_protection;
    let (max, block) = (protection.max_attempts, protection.block_seconds as i64);
    // The attempt is counted before the password is checked, atomically in the store: of parallel guesses only
    // `max` get a check, whatever order they finish in. A success clears the count afterwards.
    let reserve = |attempts: &LoginAttempts| {
        if attempts.failures >= max && now - attempts.last_failure < block {
            return None;
        }
        // A block that has expired starts a new count.
        let before = if attempts.failures >= max { 0 } else { attempts.failures };
        Some(LoginAttempts { failures: before + 1, last_failure: now })
    };
    let Some(reserved) = tenant.store.update_login_attempts(login, ip, &reserve).await? else {
        return Ok(PasswordCheck::Blocked);
    };
    let user = tenant.store.find_user_by_email(login).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    // argon2 costs tens of milliseconds of CPU: off the async threads. An unknown account costs the same time.
    let verified = crate::crypto::password::run_argon2(move || match hash {
        Some(hash) => password::verify_password(&hash, &candidate),
        None => {
            password::burn_password_check();
            false
        }
    })
    .await
    .unwrap_or(false);
    match user {
        Some(user) if verified => {
            if user.blocked {
                // Not a failed guess: give the reserved attempt back.
                let release = |a: &LoginAttempts| {
                    (a.failures > 0).then(|| LoginAttempts { failures: a.failures - 1, ..a.clone() })
                };
                tenant.store.update_login_attempts(login, ip, &release).await?;
            } else {
                tenant.store.clear_login_attempts(login, Some(ip)).await?;
            }
            Ok(PasswordCheck::Valid(Box::new(user)))
        }
        known => Ok(PasswordCheck::Wrong {
            known: known.map(Box::new),
            failures: reserved.failures,
            now_blocked: reserved.failures >= max,
        }),
    }
}
