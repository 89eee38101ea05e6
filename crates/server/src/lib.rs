//! Gatehouse's HTTP face, on axum.
//!
//! Each module exposes a `router()`; [`app`] assembles them over one [`AppState`]. Handlers parse the request,
//! call the auth crate, and render its answer; no login logic lives here.

mod account;
mod dbconnections;
mod error;
mod guard;
mod hosted;
mod mgmt;
mod observe;
mod oidc;
pub mod pages;
mod request;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method};
use gatehouse_auth::error::OAuthError;
use gatehouse_auth::tenant::Tenant;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ApiError;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The tenant.
    pub tenant: Arc<Tenant>,
}

impl AppState {
    pub(crate) fn cookie_policy(&self) -> pages::CookiePolicy {
        pages::CookiePolicy { secure: self.tenant.config.issuer.starts_with("https://") }
    }

    /// The hosted pages' chrome: the tenant's name, logo and colour, and its cookie policy.
    pub(crate) fn site(&self) -> pages::Site {
        let branding = &self.tenant.config.branding;
        pages::Site {
            cookies: self.cookie_policy(),
            tenant_name: self.tenant.config.friendly_name.clone(),
            logo_url: branding.logo_url.clone(),
            primary_color: branding.primary_color.clone().unwrap_or_else(|| "#4f46e5".to_owned()),
        }
    }
}

/// CORS for the clients' allowed origins, including the preflight the SPA SDK sends with `auth0-client`.
fn cors(tenant: &Tenant) -> CorsLayer {
    let origins: Vec<HeaderValue> = tenant
        .config
        .clients
        .iter()
        .flat_map(|c| c.allowed_origins.iter())
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PATCH, Method::OPTIONS])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static("auth0-client"),
        ])
        .max_age(std::time::Duration::from_secs(86_400))
}

/// The whole application: the routers, then, in one place, what every response carries (`nosniff`,
/// `X-Frame-Options: DENY`, and `Cache-Control: no-store` unless a handler chose otherwise, as the discovery
/// document and the JWKS do), the refusal of repeated parameters, failure logging, and CORS.
pub fn app(state: AppState) -> Router {
    observe::install();
    let cors = cors(&state.tenant);
    Router::new()
        .merge(oidc::router())
        .merge(hosted::router())
        .merge(account::router())
        .merge(dbconnections::router())
        .merge(mgmt::router())
        .merge(observe::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(guard::reject_repeated_parameters))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::refuse_own_actions))
        .layer(axum::middleware::from_fn(error::log_failures))
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn(deny_framing))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(cors)
        .layer(axum::middleware::from_fn(observe::track))
        .with_state(state)
}

/// Marks the one kind of response that may be framed (a `web_message` answer, inside the application's iframe).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FramingAllowed;

/// `X-Frame-Options: DENY` on every response but those marked [`FramingAllowed`].
async fn deny_framing(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    if response.extensions().get::<FramingAllowed>().is_none() {
        response.headers_mut().insert(axum::http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

async fn not_found() -> ApiError {
    ApiError(OAuthError::not_found("Not found"))
}

/// Installs the process's Prometheus recorder (`/metrics`); `app` does too, but a server that starts sandbox
/// workers before it builds the app calls this first so they are counted.
pub fn install_metrics() {
    observe::install();
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
