//! The Gatehouse Actions runtime.
//!
//! Operators' JavaScript runs here, with Auth0's semantics and without trusting it:
//! - [`actions`] loads a trigger's files and rejects broken ones before they are used ([`nesting`] bounds how deep
//!   their source may nest, before anything parses it);
//! - [`modules`] resolves what they `require` (npm dependencies, relative files, Node built-ins) when they load;
//! - [`sandbox`] runs them in pooled worker processes ([`worker`] is the code inside those processes) with a
//!   deadline and a memory cap;
//! - [`flow`] applies what they recorded with Auth0's ordering, pause and resume rules;
//! - [`trigger_run`] runs the other triggers' actions once per event; [`credentials`], [`phone`] and [`account`] say
//!   what their commands mean;
//! - [`fixture`] is the offline runner behind `gatehouse test` and `gatehouse run`.
//!
//! This crate knows nothing of HTTP, storage or token signing: `fetch` goes through [`sandbox::HostIo`] and the
//! trigger cache through [`flow::CacheStore`], both provided by the caller. The one exception is deliberate:
//! `api.redirect.encodeToken`/`validateToken` sign and check HS256 session tokens with a secret the action passes
//! (`worker/commands.rs`), as Auth0's API does inside the action; the tenant's RS256 keys never reach this crate.

pub mod account;
pub mod actions;
pub mod credentials;
pub mod fixture;
pub mod flow;
pub mod modules;
pub mod nesting;
pub mod phone;
pub mod placement;
pub mod protocol;
pub mod sandbox;
pub mod trigger_run;
pub mod worker;

pub use worker::run_process as run_sandbox_worker;
