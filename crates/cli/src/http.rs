//! `fetch` for actions on a real HTTP client.

use std::time::Duration;

use gatehouse_engine::protocol::{FetchRequest, FetchResponse};
use gatehouse_engine::sandbox::{FetchFuture, HostIo};

/// Largest response body handed to an action.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Performs actions' requests with reqwest (redirects followed, at most 10).
#[derive(Clone, Debug)]
pub struct ReqwestIo {
    client: reqwest::Client,
}

impl ReqwestIo {
    /// A client with a per-request timeout.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(concat!("gatehouse-actions/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ReqwestIo { client })
    }
}

impl HostIo for ReqwestIo {
    fn fetch(&self, request: FetchRequest) -> FetchFuture {
        let client = self.client.clone();
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
            let mut builder = client.request(method, &request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let url = response.url().to_string();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(format!("the response body is larger than {MAX_BODY} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(FetchResponse {
                status: status.as_u16(),
                status_text: status.canonical_reason().unwrap_or_default().to_owned(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                url,
            })
        })
    }
}
