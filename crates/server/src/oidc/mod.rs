//! OpenID Connect and OAuth endpoints: discovery, JWKS, `/oauth/token`, `/userinfo`.

mod discovery;
mod token;
mod userinfo;

pub(crate) use userinfo::bearer;

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(discovery::router()).merge(token::router()).merge(userinfo::router())
}
