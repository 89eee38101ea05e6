//! OpenID Connect and OAuth endpoints: discovery, JWKS, `/oauth/token`, `/userinfo`.

mod discovery;
mod mfa;
mod revoke;
pub(crate) mod token;
pub(crate) mod userinfo;

pub(crate) use userinfo::bearer;

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(discovery::router())
        .merge(token::router())
        .merge(revoke::router())
        .merge(userinfo::router())
        .merge(mfa::router())
}
