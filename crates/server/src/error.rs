//! The error of JSON endpoints, in Auth0's `{error, error_description}` shape.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_auth::error::OAuthError;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError(pub OAuthError);

impl ApiError {
    /// 500: the cause goes to the server log (once, by [`log_failures`]), never to the client.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(OAuthError::server_error(e))
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
        if let Some(cause) = self.0.cause {
            response.extensions_mut().insert(FailureCause(cause));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer error=\"{}\"", self.0.code.as_str()))
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// What failed behind a `500`, carried from the error to [`log_failures`] on the response (never in its body).
#[derive(Clone, Debug)]
pub struct FailureCause(pub String);

/// Logs every failure of ours once, with the route and status: errors are built without logging.
pub async fn log_failures(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    if let Some(FailureCause(cause)) = response.extensions().get::<FailureCause>() {
        tracing::error!(%method, %path, status = response.status().as_u16(), error = %cause, "request failed");
    }
    response
}
