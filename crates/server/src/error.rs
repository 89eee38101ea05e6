//! The error of JSON endpoints, in Auth0's `{error, error_description}` shape.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_auth::error::OAuthError;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError(pub OAuthError);

impl ApiError {
    /// An error with status, code and description.
    pub fn new(status: u16, error: &str, description: impl Into<String>) -> Self {
        ApiError(OAuthError::new(status, error, description))
    }

    /// 500: the cause goes to the server log only, never to the client.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        ApiError::new(500, "server_error", "Internal error")
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, Json(self.0.body())).into_response();
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer error=\"{}\"", self.0.error))
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}
