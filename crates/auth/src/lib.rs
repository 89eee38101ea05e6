//! The login logic of Gatehouse, independent of HTTP frameworks.
//!
//! Factors (TOTP, recovery codes, one-time codes), password hashing, signing keys and tokens, and the login state
//! machine that runs the post-login flow and turns its outcome into a prompt, an error or tokens. The server crate
//! maps these to HTTP; nothing here names axum.

pub mod account;
pub mod actions;
pub mod attempts;
pub mod authorization;
pub mod claims;
pub mod client_auth;
pub mod clock;
pub mod context;
pub mod credentials;
pub mod crypto;
pub mod directory;
pub mod error;
pub mod event;
pub mod fetch;
pub mod ids;
pub mod limits;
pub mod login;
pub mod logs;
pub mod mail;
pub mod mask;
pub mod mfa_api;
pub mod mfa_ticket;
pub mod oauth;
pub mod phone;
pub mod pkce;
pub mod scope;
pub mod tenant;
pub mod users;

pub use error::{AuthError, AuthResult};
pub use event::DATABASE_CONNECTION;
