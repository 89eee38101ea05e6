//! What a request brings that every layer needs: the client's facts, taken once by the HTTP layer, and the
//! [`RequestContext`] (the tenant, those facts, the tenant's clock) the login, the token endpoint and the MFA API
//! each get once per request.

/// What the HTTP layer knows about the request.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
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

/// One request's view of the tenant: built once by the HTTP layer and handed to whichever part of `auth` serves
/// the route.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext<'a> {
    /// The tenant.
    pub tenant: &'a crate::tenant::Tenant,
    /// The client's facts.
    pub request: &'a RequestInfo,
}

impl RequestContext<'_> {
    /// Now, in epoch seconds, on the tenant's clock.
    pub fn now(&self) -> i64 {
        self.tenant.now()
    }
}
