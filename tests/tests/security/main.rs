//! The attacks of the security review (issue 7), one test each, named after the attack, against the real server
//! over real HTTP (in parallel where the attack is parallel). Each failed on the code before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fail_closed;
mod http;
mod lockout;
mod mfa;
mod oauth;
