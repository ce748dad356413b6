//! The only way out of the sandbox: host-mediated HTTPS with the rules of DESIGN.md.
//!
//! Checked before sending: https only, port 443, a host the manifest allows (never an IP
//! literal), no forbidden headers, at most [`EgressPolicy::max_requests`] per event. Checked at
//! connect time, on the resolved addresses: every address must be globally routable, and the
//! connection goes to the vetted address (the resolver is ours, so a second lookup cannot
//! swap it). Redirects are returned, never followed. Secrets are added here, only to requests
//! for the host each is bound to.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::manifest::AllowedHost;

/// A secret as one event may use it: its value, and the one host whose requests carry it.
#[derive(Clone)]
pub struct BoundSecret {
    /// The name a plugin uses in `{{secret.NAME}}`.
    pub name: String,
    /// The host (lowercase) it may be sent to.
    pub host: String,
    /// A header the host adds it as on every request for `host`, if the manifest names one.
    pub header: Option<String>,
    /// The secret.
    pub value: String,
}

impl std::fmt::Debug for BoundSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundSecret")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Replaces each `{{secret.NAME}}` in a header value by that secret, if the request goes to the
/// secret's host. Returns the value and whether it now holds a secret.
fn substitute_secrets(
    header: &str,
    value: &str,
    host: &str,
    secrets: &[BoundSecret],
) -> Result<(String, bool), FetchFailure> {
    const OPEN: &str = "{{secret.";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut used = false;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find("}}") else {
            return Err(FetchFailure::Denied(format!(
                "header {header}: an unterminated {{{{secret.…}}}} reference"
            )));
        };
        let name = &after[..end];
        let Some(secret) = secrets.iter().find(|s| s.name == name) else {
            return Err(FetchFailure::Denied(format!(
                "header {header}: no secret named `{name}` is set"
            )));
        };
        if !secret.host.eq_ignore_ascii_case(host) {
            return Err(FetchFailure::Denied(format!(
                "header {header}: secret `{name}` may only be sent to {}, not {host}",
                secret.host
            )));
        }
        out.push_str(&secret.value);
        used = true;
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok((out, used))
}

/// Egress limits and switches. The defaults are the production sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Requests allowed per event.
    pub max_requests: u32,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for the whole exchange.
    pub total_timeout: Duration,
    /// Largest response body, bytes.
    pub max_response_bytes: usize,
    /// TEST ONLY: allow plain http and loopback addresses (never private, link-local or
    /// metadata ones). Off by default; nothing in production turns it on.
    pub allow_loopback_for_tests: bool,
    /// TEST ONLY: fixed name resolutions (like curl's `--resolve`), consulted before DNS.
    pub static_hosts: HashMap<String, IpAddr>,
    /// TEST ONLY: `https://HOST/...` requests that pass every rule are sent to this loopback
    /// origin (`http://127.0.0.1:PORT`) instead, so tests can stand in for a real service.
    pub test_origins: HashMap<String, String>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            max_requests: 3,
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(3),
            max_response_bytes: 256 * 1024,
            allow_loopback_for_tests: false,
            static_hosts: HashMap::new(),
            test_origins: HashMap::new(),
        }
    }
}

/// Why a request was not made, mirroring the WIT `fetch-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchFailure {
    /// A sandbox rule refused it before sending.
    #[error("denied: {0}")]
    Denied(String),
    /// The host resolved to an address plugins may not reach.
    #[error("destination prohibited: {0}")]
    DestinationProhibited(String),
    /// Too slow.
    #[error("timeout")]
    Timeout,
    /// Response too large.
    #[error("response too large")]
    TooLarge,
    /// Network failure.
    #[error("transport: {0}")]
    Transport(String),
}

/// A request as the guest made it.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// `GET`, `POST`, ...
    pub method: reqwest::Method,
    /// The URL as given.
    pub url: String,
    /// Guest headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<Vec<u8>>,
}

/// A buffered response.
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    /// Status code.
    pub status: u16,
    /// Headers (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Whether `ip` is a globally routable unicast address a plugin may reach.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254, the cloud metadata address
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Forms that embed or translate to IPv4 are refused outright: IPv4-mapped and -compatible,
    // NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32).
    let embeds_v4 = (s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0))
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || s[0] == 0x2002
        || (s[0] == 0x2001 && s[1] == 0);
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || embeds_v4
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
}

fn allowed_in_test_mode(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

const FORBIDDEN_HEADERS: [&str; 7] = [
    "host",
    "cookie",
    "transfer-encoding",
    "connection",
    "content-length",
    "te",
    "upgrade",
];

/// The policy plus a shared client whose resolver vets every address.
#[derive(Clone)]
pub struct Egress {
    policy: Arc<EgressPolicy>,
    client: reqwest::Client,
}

impl Egress {
    /// A client for `policy`.
    pub fn new(policy: EgressPolicy) -> anyhow::Result<Egress> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout)
            .https_only(!policy.allow_loopback_for_tests)
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver {
                policy: policy.clone(),
            }))
            .build()?;
        Ok(Egress { policy, client })
    }

    /// The policy in force.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// Checks `req` against the rules and sends it. `sent` counts this event's requests.
    pub async fn fetch(
        &self,
        hosts: &[AllowedHost],
        secrets: &[BoundSecret],
        req: OutgoingRequest,
        sent: &mut u32,
    ) -> Result<IncomingResponse, FetchFailure> {
        let denied = |m: String| Err(FetchFailure::Denied(m));
        if *sent >= self.policy.max_requests {
            return denied(format!(
                "at most {} requests per event",
                self.policy.max_requests
            ));
        }
        *sent += 1;
        let url = reqwest::Url::parse(&req.url)
            .map_err(|e| FetchFailure::Denied(format!("not a valid URL: {e}")))?;
        let test_mode = self.policy.allow_loopback_for_tests;
        match url.scheme() {
            "https" => {}
            "http" if test_mode => {}
            other => return denied(format!("only https is allowed (got {other}://)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return denied("URLs may not carry credentials".into());
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => {
                return denied(format!(
                    "IP addresses are not allowed ({ip}); name a declared host"
                ))
            }
            Some(url::Host::Ipv6(ip)) => {
                return denied(format!(
                    "IP addresses are not allowed ([{ip}]); name a declared host"
                ))
            }
            None => return denied("the URL has no host".into()),
        };
        if !hosts.iter().any(|h| h.matches(&host)) {
            return denied(format!("{host} is not in the plugin's allowed_hosts"));
        }
        match url.port() {
            None | Some(443) => {}
            Some(_) if test_mode => {}
            Some(p) => return denied(format!("only port 443 is allowed (got {p})")),
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if name.contains(['\r', '\n']) || value.contains(['\r', '\n', '\0']) {
                return denied(format!("header {name:?} contains CR, LF or NUL"));
            }
            if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
                return denied(format!("header {name} may not be set by plugins"));
            }
            if secrets.iter().any(|s| {
                s.header
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(name))
            }) {
                return denied(format!(
                    "header {name} is reserved for a secret the host adds"
                ));
            }
            let (value, secret) = substitute_secrets(name, value, &host, secrets)?;
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FetchFailure::Denied(format!("invalid header name {name:?}")))?;
            let mut value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| FetchFailure::Denied(format!("invalid value for header {name}")))?;
            value.set_sensitive(secret);
            headers.append(name, value);
        }
        for secret in secrets {
            let Some(header) = &secret.header else {
                continue;
            };
            if secret.host.eq_ignore_ascii_case(&host) {
                let name = reqwest::header::HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| FetchFailure::Denied("invalid secret header".into()))?;
                let mut value =
                    reqwest::header::HeaderValue::from_str(&secret.value).map_err(|_| {
                        FetchFailure::Denied("a secret is not a valid header value".into())
                    })?;
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        let mut url = url;
        if test_mode {
            if let Some(origin) = self.policy.test_origins.get(&host) {
                let origin = reqwest::Url::parse(origin)
                    .map_err(|e| FetchFailure::Transport(format!("test origin: {e}")))?;
                // Checked when the settings were read: http on a loopback address.
                let _ = url.set_scheme(origin.scheme());
                let _ = url.set_host(origin.host_str());
                let _ = url.set_port(origin.port());
            }
        }
        let mut builder = self.client.request(req.method, url).headers(headers);
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let exchange = async {
            let mut response = builder.send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            if response
                .content_length()
                .is_some_and(|n| n > self.policy.max_response_bytes as u64)
            {
                return Err(FetchFailure::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > self.policy.max_response_bytes {
                    return Err(FetchFailure::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(IncomingResponse {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.policy.total_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(FetchFailure::Timeout),
        }
    }
}

impl Egress {
    /// Whether a plugin may reach `host` at all: it resolves, and only to addresses plugins
    /// may reach (checked when an admin saves a URL setting; every request checks again).
    pub async fn check_destination(&self, host: &str) -> Result<(), String> {
        let host = host.to_ascii_lowercase();
        if self.policy.allow_loopback_for_tests && self.policy.test_origins.contains_key(&host) {
            return Ok(());
        }
        let resolver = VettingResolver {
            policy: self.policy.clone(),
        };
        match resolver.vet(&host).await {
            Ok(_) => Ok(()),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// A refusal from the resolver, recognisable after reqwest wraps it.
#[derive(Debug)]
struct Prohibited(String);
impl std::fmt::Display for Prohibited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Prohibited {}

fn classify(err: reqwest::Error) -> FetchFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(p) = e.downcast_ref::<Prohibited>() {
            return FetchFailure::DestinationProhibited(p.0.clone());
        }
        source = e.source();
    }
    if err.is_timeout() {
        FetchFailure::Timeout
    } else {
        FetchFailure::Transport(err.without_url().to_string())
    }
}

/// Resolves once and vets every address; reqwest connects only to what this returns.
struct VettingResolver {
    policy: Arc<EgressPolicy>,
}

impl VettingResolver {
    async fn vet(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let policy = self.policy.clone();
        let host = host.to_owned();
        {
            let addrs: Vec<SocketAddr> = match policy.static_hosts.get(&host) {
                Some(ip) => vec![SocketAddr::new(*ip, 0)],
                None => tokio::time::timeout(
                    policy.connect_timeout,
                    tokio::net::lookup_host((host.as_str(), 0)),
                )
                .await
                .map_err(|_| {
                    Box::new(Prohibited(format!("resolving {host} timed out")))
                        as Box<dyn std::error::Error + Send + Sync>
                })?
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                .collect(),
            };
            if addrs.is_empty() {
                return Err(Box::new(Prohibited(format!("{host} has no addresses"))) as _);
            }
            // Any non-global answer poisons the whole set: a name that mixes public and
            // private addresses is an attack, not a misconfiguration.
            for addr in &addrs {
                let ip = addr.ip();
                let ok =
                    is_global(ip) || (policy.allow_loopback_for_tests && allowed_in_test_mode(ip));
                if !ok {
                    return Err(Box::new(Prohibited(format!(
                        "{host} resolves to {ip}, which plugins may not reach"
                    ))) as _);
                }
            }
            Ok(addrs)
        }
    }
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = VettingResolver {
            policy: self.policy.clone(),
        };
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs = resolver.vet(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = bad.parse().expect(bad);
            assert!(!is_global(ip), "{bad} must be refused");
        }
        for good in ["1.1.1.1", "162.159.128.233", "2606:4700::6810:84e5"] {
            let ip: IpAddr = good.parse().expect(good);
            assert!(is_global(ip), "{good} is global");
        }
    }

    #[tokio::test]
    async fn a_fourth_request_in_one_event_is_refused_before_anything_is_sent() {
        let egress = Egress::new(EgressPolicy::default()).expect("a client");
        let hosts = [AllowedHost::parse("api.example.com").expect("valid")];
        let request = OutgoingRequest {
            method: reqwest::Method::GET,
            url: "https://api.example.com/".into(),
            headers: Vec::new(),
            body: None,
        };
        let mut sent = 3;
        let refused = egress.fetch(&hosts, &[], request, &mut sent).await;
        assert!(matches!(refused, Err(FetchFailure::Denied(m)) if m.contains("at most 3")));
        assert_eq!(sent, 3);
    }

    #[test]
    fn test_mode_admits_loopback_only() {
        assert!(allowed_in_test_mode("127.0.0.1".parse().expect("ip")));
        assert!(allowed_in_test_mode("::1".parse().expect("ip")));
        assert!(!allowed_in_test_mode("10.0.0.1".parse().expect("ip")));
        assert!(!allowed_in_test_mode(
            "169.254.169.254".parse().expect("ip")
        ));
    }

    fn secret(name: &str, host: &str) -> BoundSecret {
        BoundSecret {
            name: name.into(),
            host: host.into(),
            header: None,
            value: format!("{name}-value"),
        }
    }

    #[test]
    fn secret_references_are_filled_only_for_their_host() {
        let secrets = [
            secret("token", "api.example.com"),
            secret("other", "else.example.com"),
        ];
        assert_eq!(
            substitute_secrets(
                "Authorization",
                "Bearer {{secret.token}}",
                "api.example.com",
                &secrets
            ),
            Ok(("Bearer token-value".to_owned(), true))
        );
        assert_eq!(
            substitute_secrets("X-Plain", "no secrets {here}", "api.example.com", &secrets),
            Ok(("no secrets {here}".to_owned(), false))
        );
        for (value, expect) in [
            ("{{secret.other}}", "may only be sent to else.example.com"),
            ("{{secret.missing}}", "no secret named `missing`"),
            ("{{secret.token", "unterminated"),
        ] {
            match substitute_secrets("Authorization", value, "api.example.com", &secrets) {
                Err(FetchFailure::Denied(m)) => assert!(m.contains(expect), "{value}: {m}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn test_origins_are_ignored_outside_test_mode() {
        let policy = EgressPolicy {
            test_origins: HashMap::from([(
                "api.example.com".to_owned(),
                "http://127.0.0.1:9".to_owned(),
            )]),
            ..EgressPolicy::default()
        };
        let egress = Egress::new(policy).expect("a client");
        // Not in test mode: the name is looked up for real, never taken as loopback.
        assert!(egress.check_destination("localhost.").await.is_err());
        let egress = Egress::new(EgressPolicy {
            allow_loopback_for_tests: true,
            test_origins: HashMap::from([(
                "api.example.com".to_owned(),
                "http://127.0.0.1:9".to_owned(),
            )]),
            ..EgressPolicy::default()
        })
        .expect("a client");
        assert_eq!(egress.check_destination("api.example.com").await, Ok(()));
    }
}
