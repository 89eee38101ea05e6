//! `fetch` for actions on a real HTTP client, within the tenant's outbound policy.
//!
//! An action's request is a request the server makes on the action's behalf, from inside the operator's network.
//! Unless `[outbound]` allows it, every address it would connect to must be public: the DNS answer is filtered
//! (loopback, private, link-local, shared and reserved addresses are dropped, and a name with no public address is
//! refused), IP literals are checked before the request and on every redirect, and no proxy from the environment is
//! used (it would be resolved instead of the target). So an action cannot call the server itself (one login turning
//! into nested logins), scan local ports, or reach cloud metadata at 169.254.169.254.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_engine::protocol::{FetchRequest, FetchResponse};
use gatehouse_engine::sandbox::{FetchFuture, HostIo};
use gatehouse_types::config::OutboundConfig;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Largest response body handed to an action.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// Most redirects followed.
const MAX_REDIRECTS: usize = 10;

/// Where actions' requests may go.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    /// `[outbound] allow_private_networks`.
    pub allow_private_networks: bool,
    /// `[outbound] allow_hosts`, lower-cased.
    pub allow_hosts: Vec<String>,
    /// The server's own listening address, refused even when private networks are allowed.
    pub own: Option<SocketAddr>,
    /// The issuer's host and port (lower-cased): the server by name, refused likewise.
    pub own_origin: Option<(String, u16)>,
    /// The server's `Via` pseudonym ([`via_pseudonym`]), sent with every request, so the server refuses its own
    /// actions' requests whatever name, address or port reached it.
    pub via: Option<String>,
    /// Whether actions may call their own server's Management API and token endpoint (`client_credentials` only,
    /// checked by the server): Auth0's `ManagementClient` in an action. Off for the credentials-exchange runs such
    /// a request starts, so an action can never make its server run actions in a chain.
    pub own_routes: bool,
}

/// The `Via` pseudonym (RFC 9110 §7.6.3) of the servers of one issuer: actions' requests carry it, and every
/// process of that issuer refuses a request that does (`server::guard::refuse_own_actions`): an action cannot make
/// its own server run a login inside a login, by a name that resolves to it, an alias, or a proxy in between.
pub fn via_pseudonym(issuer: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(issuer.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("gatehouse-{hex}")
}

impl OutboundPolicy {
    /// The policy of a tenant configuration; `own` is the address the server listens on, `issuer` its URL.
    pub fn new(config: &OutboundConfig, own: Option<SocketAddr>, issuer: Option<&str>) -> Self {
        let issuer = issuer.and_then(|i| reqwest::Url::parse(i).ok());
        let own_origin = issuer.as_ref().and_then(|u| Some((u.host_str()?.to_lowercase(), u.port_or_known_default()?)));
        // The issuer's address, when it is an IP literal, is the server's too (a listen port of 0 is only known there).
        let from_issuer = own_origin.as_ref().and_then(|(host, port)| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, *port))
        });
        OutboundPolicy {
            allow_private_networks: config.allow_private_networks,
            allow_hosts: config.allow_hosts.iter().map(|h| h.trim().to_lowercase()).collect(),
            own: own.filter(|o| o.port() != 0).or(from_issuer),
            own_origin,
            via: issuer.as_ref().map(|u| via_pseudonym(u.as_str())),
            own_routes: true,
        }
    }

    /// This policy for the actions a request from an action starts: the server itself is out of reach entirely.
    pub fn nested(&self) -> Self {
        OutboundPolicy { own_routes: false, ..self.clone() }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_lowercase();
        self.allow_hosts.contains(&host)
    }

    /// Whether a connection to `addr` (reached through `host`) is allowed.
    pub fn allows(&self, host: &str, addr: SocketAddr) -> bool {
        if self.own.is_some_and(|own| {
            own.port() == addr.port() && (own.ip() == addr.ip() || own.ip().is_unspecified() && is_local(addr.ip()))
        }) {
            return false;
        }
        self.allows_address(host, addr.ip())
    }

    /// Whether `ip`, resolved from `host`, may be reached. A resolution has no port, so it cannot tell the server
    /// from a neighbour on the same address: the server's `Via` pseudonym catches that case at the server.
    fn allows_address(&self, host: &str, ip: IpAddr) -> bool {
        self.allow_private_networks || self.host_allowed(host) || is_public(ip)
    }

    /// Checks a URL whose host is an IP literal (names are checked when they are resolved). The server's own
    /// origin is refused except its Management API (`/api/v2/`) and token endpoint, which the server then accepts
    /// only for `client_credentials` ([`is_own_route`]): an action may manage users the way Auth0's
    /// `ManagementClient` does, never make its server run a login inside a login.
    fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        let Some(host) = url.host_str() else { return Err("the URL has no host".to_owned()) };
        if let Some((own_host, own_port)) = &self.own_origin
            && host.eq_ignore_ascii_case(own_host)
            && url.port_or_known_default() == Some(*own_port)
        {
            if self.own_routes && is_own_route(url.path()) {
                return Ok(());
            }
            return Err(refusal(host));
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let port = url.port_or_known_default().unwrap_or(0);
            if !self.allows(host, SocketAddr::new(ip, port)) {
                return Err(refusal(host));
            }
        }
        Ok(())
    }
}

/// Whether `path` is one an action may call on its own server: the Management API (which runs no action) and the
/// token endpoint (where the server accepts only `client_credentials` from an action, and runs that request's
/// credentials-exchange actions with the server out of their reach).
pub fn is_own_route(path: &str) -> bool {
    path == "/oauth/token"
        || (path.starts_with("/api/v2/") && !path.split('/').any(|segment| segment == ".." || segment == "."))
}

fn refusal(host: &str) -> String {
    format!(
        "requests to {host} are not allowed: actions may only reach public addresses ([outbound] allow_private_networks \
         or allow_hosts lets them reach others)"
    )
}

fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || !is_public(ip)
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let octets = v6.octets();
                return is_public_v4(Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
                || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible and reserved ::/96
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Resolves names and keeps only the addresses the policy allows.
#[derive(Debug)]
struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                resolved.into_iter().filter(|addr| policy.allows_address(&host, addr.ip())).collect();
            if allowed.is_empty() {
                return Err(refusal(&host).into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Performs actions' requests with reqwest (redirects followed, at most 10), within an [`OutboundPolicy`].
#[derive(Clone, Debug)]
pub struct ReqwestIo {
    client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl ReqwestIo {
    /// A client with a per-request timeout.
    pub fn new(
        timeout: Duration,
        policy: OutboundPolicy,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let for_redirects = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match for_redirects.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        });
        let client = reqwest::Client::builder()
            .tls_certs_merge(extra_roots)
            .timeout(timeout)
            .redirect(redirects)
            .no_proxy()
            .dns_resolver(GuardedResolver { policy: policy.clone() })
            .user_agent(concat!("gatehouse-actions/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ReqwestIo { client, policy })
    }
}

impl HostIo for ReqwestIo {
    fn fetch(&self, request: FetchRequest) -> FetchFuture {
        let client = self.client.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let url = reqwest::Url::parse(&request.url).map_err(|e| format!("invalid URL: {e}"))?;
            policy.check_url(&url)?;
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
            let mut builder = client.request(method, url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            // Appended after the action's own headers, so an action cannot leave it out.
            if let Some(via) = &policy.via {
                builder = builder.header(reqwest::header::VIA, format!("1.1 {via}"));
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder.send().await.map_err(describe)?;
            let status = response.status();
            let url = response.url().to_string();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(describe)? {
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

/// A request error with its causes (reqwest's own message hides the refusal behind "error sending request").
fn describe(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads `[outbound] ca_files` (paths relative to `base`): every PEM certificate in each file. A file that cannot
/// be read or holds no certificate is an error naming it.
pub fn load_ca_files(base: &std::path::Path, files: &[String]) -> Result<Vec<reqwest::Certificate>, String> {
    let mut roots = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let path = base.join(file);
        let key = format!("outbound.ca_files[{i}]");
        let pem = std::fs::read(&path).map_err(|e| format!("{key}: {}: {e}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{key}: {}: not a PEM certificate bundle: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("{key}: {}: holds no PEM certificate", path.display()));
        }
        roots.extend(certificates);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load_ca_files(dir.path(), &["nope.pem".to_owned()]).unwrap_err();
        assert!(missing.starts_with("outbound.ca_files[0]: ") && missing.contains("nope.pem"), "{missing}");
        std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
        let empty = load_ca_files(dir.path(), &["empty.pem".to_owned()]).unwrap_err();
        assert!(empty.contains("holds no PEM certificate") || empty.contains("not a PEM"), "{empty}");
        assert!(load_ca_files(dir.path(), &[]).unwrap().is_empty());
    }

    #[test]
    fn private_local_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_policy_allows_what_the_operator_lists_but_never_the_server_itself() {
        let own: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let strict = OutboundPolicy::new(&OutboundConfig::default(), Some(own), Some("http://127.0.0.1:3000/"));
        assert!(!strict.allows("localhost", "127.0.0.1:8080".parse().unwrap()));
        assert!(strict.allows("example.com", "93.184.216.34:443".parse().unwrap()));
        let listed = OutboundPolicy::new(
            &OutboundConfig {
                allow_private_networks: false,
                allow_hosts: vec!["Provider.internal".into()],
                ca_files: vec![],
            },
            Some(own),
            None,
        );
        assert!(listed.allows("provider.internal", "10.0.0.5:443".parse().unwrap()));
        assert!(!listed.allows("other.internal", "10.0.0.6:443".parse().unwrap()));
        let open_config = OutboundConfig { allow_private_networks: true, allow_hosts: vec![], ca_files: vec![] };
        let open = OutboundPolicy::new(&open_config, None, Some("http://127.0.0.1:3000/"));
        assert!(open.allows("localhost", "127.0.0.1:8080".parse().unwrap()));
        assert!(!open.allows("localhost", own), "the server's own address stays refused");
        let by_name = OutboundPolicy::new(&open_config, None, Some("https://login.example.com/"));
        assert!(by_name.check_url(&"https://LOGIN.example.com/authorize".parse().unwrap()).is_err());
        assert!(by_name.check_url(&"https://login.example.com/u/login".parse().unwrap()).is_err());
        assert!(by_name.check_url(&"https://login.example.com:8443/".parse().unwrap()).is_ok());
        // Its Management API and token endpoint (where the server takes only client_credentials from an action),
        // but never from the actions such a request starts.
        assert!(by_name.check_url(&"https://LOGIN.example.com/oauth/token".parse().unwrap()).is_ok());
        assert!(by_name.check_url(&"https://login.example.com/api/v2/users/x".parse().unwrap()).is_ok());
        let nested = by_name.nested();
        assert!(nested.check_url(&"https://login.example.com/oauth/token".parse().unwrap()).is_err());
        assert!(nested.check_url(&"https://login.example.com/api/v2/users/x".parse().unwrap()).is_err());
        assert!(
            !is_own_route("/api/v2/../authorize") && !is_own_route("/oauth/token/x") && is_own_route("/api/v2/roles")
        );
    }
}
