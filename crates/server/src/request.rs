//! What handlers read from requests: the client's facts and Gatehouse's cookies.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{ACCEPT_LANGUAGE, HOST, USER_AGENT};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use gatehouse_auth::context::{RequestContext, RequestInfo};
use gatehouse_auth::login::BrowserCookies;
use gatehouse_auth::login::step::cookie_names;

use crate::AppState;

/// The request's facts and cookies.
pub struct Client {
    /// IP, user agent, language, host.
    pub info: RequestInfo,
    /// Gatehouse's cookies.
    pub cookies: BrowserCookies,
}

impl Client {
    /// The request's context: the tenant and these facts, built once for whichever part of `auth` serves it.
    pub fn ctx<'a>(&'a self, state: &'a AppState) -> RequestContext<'a> {
        RequestContext { tenant: &state.tenant, request: &self.info }
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Over https only `__Host-` cookies count: an unprefixed one may have been planted by another host.
        let prefix = state.cookie_policy().prefix();
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let info = RequestInfo {
            ip,
            user_agent: header(USER_AGENT),
            accept_language: header(ACCEPT_LANGUAGE),
            hostname: header(HOST).map(|h| h.split(':').next().unwrap_or_default().to_owned()),
            method: parts.method.to_string(),
        };
        let mut cookies = BrowserCookies::default();
        for cookie in CookieJar::from_headers(&parts.headers).iter() {
            let Some(name) = cookie.name().strip_prefix(prefix) else { continue };
            let value = cookie.value().to_owned();
            if name == cookie_names::SESSION {
                cookies.session = Some(value);
            } else if name == cookie_names::DEVICE {
                cookies.device = Some(value);
            } else if let Some(slot) = name.strip_prefix(cookie_names::BINDING_PREFIX) {
                cookies.bindings.insert(slot.to_owned(), value);
            }
        }
        Ok(Client { info, cookies })
    }
}
