//! The client that sends what passed the rules: the request checks, the secret headers, and a
//! resolver that vets every address before reqwest may connect to it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use super::hosts::AllowedHost;
use super::networks::{allowed_in_test_mode, is_global};
use super::secrets::{substitute_secrets, BoundSecret};
use super::url::check_url;
use crate::plugins::policy::EgressPolicy;

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

/// Whether a plugin may not set the header `lower` (lowercase): it belongs to the connection,
/// the host, or a proxy.
pub(crate) fn is_forbidden_header(lower: &str) -> bool {
    FORBIDDEN_HEADERS.contains(&lower) || lower.starts_with("proxy-")
}

/// Headers a plugin may not set: they belong to the connection, the host, or a proxy.
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
    lookups: Arc<tokio::sync::Semaphore>,
}

impl Egress {
    /// A client for `policy`.
    pub fn new(policy: EgressPolicy) -> anyhow::Result<Egress> {
        Egress::with_lookups(policy, MAX_CONCURRENT_LOOKUPS)
    }

    /// A client for `policy` allowing `lookups` concurrent name lookups.
    fn with_lookups(policy: EgressPolicy, lookups: usize) -> anyhow::Result<Egress> {
        let policy = Arc::new(policy);
        let lookups = Arc::new(tokio::sync::Semaphore::new(lookups));
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout)
            .https_only(!policy.url_rules().plain_http)
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver {
                policy: policy.clone(),
                lookups: lookups.clone(),
            }));
        // Extra roots would let whoever holds their keys impersonate any host a plugin may
        // reach, so they count only beside the switch that already admits loopback.
        if policy.allow_loopback_for_tests {
            for der in &policy.test_root_certs {
                builder = builder.add_root_certificate(reqwest::Certificate::from_der(der)?);
            }
        }
        // With rustls, a test root that is not a certificate is refused here.
        let client = builder.build().context("building the egress client")?;
        Ok(Egress {
            policy,
            client,
            lookups,
        })
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
        if *sent >= self.policy.max_requests {
            return Err(FetchFailure::Denied(format!(
                "at most {} requests per event",
                self.policy.max_requests
            )));
        }
        *sent += 1;
        if req
            .body
            .as_ref()
            .is_some_and(|b| b.len() > self.policy.max_request_bytes)
        {
            return Err(FetchFailure::Denied(format!(
                "the request body is larger than {} bytes",
                self.policy.max_request_bytes
            )));
        }
        if req.headers.len() > self.policy.max_request_headers {
            return Err(FetchFailure::Denied(format!(
                "at most {} headers per request",
                self.policy.max_request_headers
            )));
        }
        if let Some((name, _)) = req
            .headers
            .iter()
            .find(|(n, v)| n.len() + v.len() > self.policy.max_header_value_bytes)
        {
            return Err(FetchFailure::Denied(format!(
                "header {:?} is longer than {} bytes",
                name.chars().take(64).collect::<String>(),
                self.policy.max_header_value_bytes
            )));
        }
        let mut url = reqwest::Url::parse(&req.url)
            .map_err(|e| FetchFailure::Denied(format!("not a valid URL: {e}")))?;
        let host = check_url(&url, self.policy.url_rules())
            .map_err(|e| FetchFailure::Denied(format!("the URL {e}")))?;
        if !hosts.iter().any(|h| h.matches(&host)) {
            return Err(FetchFailure::Denied(format!(
                "{host} is not in the plugin's allowed_hosts"
            )));
        }
        let headers = request_headers(&req.headers, &host, secrets)?;
        if self.policy.allow_loopback_for_tests {
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
        let max = self.policy.max_response_bytes;
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
            if response.content_length().is_some_and(|n| n > max as u64) {
                return Err(FetchFailure::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max {
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

    /// Whether a plugin may reach `host` at all: it resolves, and only to addresses plugins
    /// may reach (checked when an admin saves a URL setting; every request checks again).
    pub async fn check_destination(&self, host: &str) -> Result<(), DestinationError> {
        let host = host.to_ascii_lowercase();
        if self.policy.allow_loopback_for_tests && self.policy.test_origins.contains_key(&host) {
            return Ok(());
        }
        let resolver = VettingResolver {
            policy: self.policy.clone(),
            lookups: self.lookups.clone(),
        };
        resolver.vet(&host).await.map(|_| ())
    }
}

/// The guest's headers, checked, with `{{secret.NAME}}` filled in and the secret headers bound
/// to `host` added.
fn request_headers(
    guest: &[(String, String)],
    host: &str,
    secrets: &[BoundSecret],
) -> Result<reqwest::header::HeaderMap, FetchFailure> {
    let denied = |m: String| Err(FetchFailure::Denied(m));
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in guest {
        let lower = name.to_ascii_lowercase();
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n', '\0']) {
            return denied(format!("header {name:?} contains CR, LF or NUL"));
        }
        if is_forbidden_header(&lower) {
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
        let (value, secret) = substitute_secrets(name, value, host, secrets)
            .map_err(|e| FetchFailure::Denied(e.to_string()))?;
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
        if secret.host.eq_ignore_ascii_case(host) {
            let name = reqwest::header::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| FetchFailure::Denied("invalid secret header".into()))?;
            let mut value = reqwest::header::HeaderValue::from_str(&secret.value)
                .map_err(|_| FetchFailure::Denied("a secret is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
    }
    Ok(headers)
}

/// Why a host may not be reached; recognisable after reqwest wraps it.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The lookup took longer than the connect timeout.
    #[error("resolving {0} timed out")]
    LookupTimeout(String),
    /// The lookup failed (no such name, no resolver).
    #[error("cannot resolve {host}: {source}")]
    Lookup {
        /// The name.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// The name has no addresses.
    #[error("{0} has no addresses")]
    NoAddresses(String),
    /// The name resolves to an address plugins may not reach. The message does not say which:
    /// a guest or an admin must not learn what private addresses a name has (the operator's
    /// log does).
    #[error("{host} resolves to an address plugins may not reach (a private or reserved network)")]
    NotGlobal {
        /// The name.
        host: String,
        /// The first such address (for the operator's log only).
        ip: std::net::IpAddr,
    },
    /// Too many lookups are under way already (slow DNS); this one was not started.
    #[error("too many name lookups are in progress; try again later")]
    LookupsBusy(String),
}

/// What the guest is told when a destination is refused.
fn classify_destination(refused: &DestinationError) -> FetchFailure {
    match refused {
        // A failed or slow lookup is the network's failure, not a refusal.
        DestinationError::Lookup { .. }
        | DestinationError::LookupTimeout(_)
        | DestinationError::LookupsBusy(_) => FetchFailure::Transport(refused.to_string()),
        DestinationError::NoAddresses(_) | DestinationError::NotGlobal { .. } => {
            FetchFailure::DestinationProhibited(refused.to_string())
        }
    }
}

fn classify(err: reqwest::Error) -> FetchFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        match e.downcast_ref::<DestinationError>() {
            Some(refused) => return classify_destination(refused),
            None => source = e.source(),
        }
    }
    if err.is_timeout() {
        FetchFailure::Timeout
    } else {
        FetchFailure::Transport(err.without_url().to_string())
    }
}

/// The most name lookups under way at once, across every plugin of the process. A lookup
/// runs on a blocking thread (the system resolver) and a timeout cannot stop that thread, so
/// without this bound slow DNS (a name whose servers never answer) would pile up threads.
/// Each thread keeps its permit until its lookup really ends.
pub const MAX_CONCURRENT_LOOKUPS: usize = 16;

/// Resolves once and vets every address; reqwest connects only to what this returns.
struct VettingResolver {
    policy: Arc<EgressPolicy>,
    lookups: Arc<tokio::sync::Semaphore>,
}

impl VettingResolver {
    /// The system resolver's answer for `host`, bounded in time and in concurrent lookups.
    async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, DestinationError> {
        let timeout = self.policy.connect_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let permit = tokio::time::timeout_at(deadline, self.lookups.clone().acquire_owned())
            .await
            .map_err(|_| DestinationError::LookupsBusy(host.to_owned()))?
            .map_err(|_| DestinationError::LookupsBusy(host.to_owned()))?;
        let name = host.to_owned();
        let lookup = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
                .map(|addrs| addrs.collect::<Vec<_>>())
        });
        match tokio::time::timeout_at(deadline, lookup).await {
            Err(_) => Err(DestinationError::LookupTimeout(host.to_owned())),
            Ok(Err(_)) => Err(DestinationError::Lookup {
                host: host.to_owned(),
                source: std::io::Error::other("the lookup thread failed"),
            }),
            Ok(Ok(answer)) => answer.map_err(|source| DestinationError::Lookup {
                host: host.to_owned(),
                source,
            }),
        }
    }

    async fn vet(&self, host: &str) -> Result<Vec<SocketAddr>, DestinationError> {
        let policy = &self.policy;
        let addrs: Vec<SocketAddr> = match policy.static_hosts.get(host) {
            Some(ip) => vec![SocketAddr::new(*ip, 0)],
            None => self.lookup(host).await?,
        };
        if addrs.is_empty() {
            return Err(DestinationError::NoAddresses(host.to_owned()));
        }
        // Any non-global answer poisons the whole set: a name that mixes public and private
        // addresses is an attack, not a misconfiguration.
        for addr in &addrs {
            let ip = addr.ip();
            let ok = is_global(ip) || (policy.allow_loopback_for_tests && allowed_in_test_mode(ip));
            if !ok {
                tracing::warn!(host, %ip, "a plugin's host resolves to an address plugins may not reach");
                return Err(DestinationError::NotGlobal {
                    host: host.to_owned(),
                    ip,
                });
            }
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = VettingResolver {
            policy: self.policy.clone(),
            lookups: self.lookups.clone(),
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
    use std::collections::HashMap;

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

    #[tokio::test]
    async fn request_bodies_and_headers_are_capped_before_anything_is_sent() {
        let egress = Egress::new(EgressPolicy::default()).expect("a client");
        let hosts = [AllowedHost::parse("api.example.com").expect("valid")];
        let request = |headers: Vec<(String, String)>, body: usize| OutgoingRequest {
            method: reqwest::Method::POST,
            url: "https://api.example.com/".into(),
            headers,
            body: Some(vec![b'x'; body]),
        };
        let refused = |r| async {
            let mut sent = 0;
            match egress.fetch(&hosts, &[], r, &mut sent).await {
                Err(FetchFailure::Denied(m)) => m,
                other => panic!("not refused: {other:?}"),
            }
        };
        assert!(refused(request(Vec::new(), (64 << 10) + 1))
            .await
            .contains("body"));
        let many = (0..33)
            .map(|i| (format!("x-{i}"), "1".to_owned()))
            .collect();
        assert!(refused(request(many, 1)).await.contains("headers"));
        let long = vec![("x-long".to_owned(), "v".repeat(4 << 10))];
        assert!(refused(request(long, 1)).await.contains("longer"));
    }

    #[tokio::test]
    async fn a_refusal_does_not_say_which_private_address_a_name_has() {
        let egress = Egress::new(EgressPolicy::default()).expect("a client");
        // `localhost` resolves from the hosts file, without a DNS query.
        let refused = egress
            .check_destination("localhost")
            .await
            .expect_err("loopback is refused");
        assert!(matches!(refused, DestinationError::NotGlobal { .. }));
        let said = refused.to_string();
        assert!(
            !said.contains("127.0.0.1") && !said.contains("::1"),
            "{said}"
        );
        // And what the guest gets says no more.
        let FetchFailure::DestinationProhibited(guest) = classify_destination(&refused) else {
            panic!("a refusal");
        };
        assert!(
            !guest.contains("127.0.0.1") && !guest.contains("::1"),
            "{guest}"
        );
    }

    #[tokio::test]
    async fn name_lookups_are_bounded_in_number_and_time() {
        let policy = EgressPolicy {
            connect_timeout: std::time::Duration::from_millis(50),
            ..EgressPolicy::default()
        };
        // Every permit is held (by lookups stuck on slow DNS): no new lookup thread starts, and
        // the request fails within the connect timeout instead of waiting for one.
        let egress = Egress::with_lookups(policy, 0).expect("a client");
        let refused = egress
            .check_destination("localhost")
            .await
            .expect_err("no lookup was made");
        assert!(
            matches!(refused, DestinationError::LookupsBusy(_)),
            "{refused:?}"
        );
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
        assert!(egress.check_destination("api.example.com").await.is_ok());
    }

    #[test]
    fn test_root_certificates_are_ignored_outside_test_mode() {
        // Not a certificate: the client fails to build if it ever reads it.
        let not_a_certificate = vec![b"not DER".to_vec()];
        let policy = EgressPolicy {
            test_root_certs: not_a_certificate.clone(),
            ..EgressPolicy::default()
        };
        assert!(Egress::new(policy).is_ok(), "read outside test mode");
        let policy = EgressPolicy {
            allow_loopback_for_tests: true,
            test_root_certs: not_a_certificate,
            ..EgressPolicy::default()
        };
        assert!(Egress::new(policy).is_err(), "not read in test mode");
    }
}
