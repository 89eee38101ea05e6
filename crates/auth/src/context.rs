//! What a request brings that every layer needs: the client's facts, taken once by the HTTP layer.

/// What the HTTP layer knows about the request.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// Client IP.
    pub ip: String,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Accept-Language`.
    pub accept_language: Option<String>,
    /// `Host`.
    pub hostname: Option<String>,
    /// HTTP method.
    pub method: String,
}
