//! The only way out of the sandbox: host-mediated HTTPS with the rules of DESIGN.md.
//!
//! Checked before sending: the URL rules (https, port 443, no credentials, a host name, never an
//! IP literal), a host the manifest allows, no forbidden headers, at most
//! [`EgressPolicy::max_requests`] per event. Checked at connect time, on the resolved
//! addresses: every address must be globally routable, and the connection goes to the vetted
//! address (the resolver is ours, so a second lookup cannot swap it). Redirects are returned,
//! never followed. Secrets are added here, only to requests for the host each is bound to.
//!
//! - [`hosts`] — the allowed-host grammar of manifests.
//! - [`url`] — the URL rules, for requests and for URL settings alike.
//! - [`networks`] — which addresses are globally routable.
//! - [`secrets`] — secrets bound to hosts, and `{{secret.NAME}}` substitution.
//! - [`client`] — the vetting resolver and the client that sends what passed.

pub mod client;
pub mod hosts;
pub mod networks;
pub mod secrets;
pub mod url;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

pub use client::{DestinationError, Egress};
pub use hosts::AllowedHost;
pub use networks::is_global;
pub use secrets::BoundSecret;
pub use url::UrlRules;

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
    /// What a request's URL must be (https on port 443).
    pub url: UrlRules,
    /// TEST ONLY: allow plain http and loopback addresses (never private, link-local or
    /// metadata ones). Off by default; nothing in production turns it on.
    pub allow_loopback_for_tests: bool,
    /// TEST ONLY: fixed name resolutions (like curl's `--resolve`), consulted before DNS.
    pub static_hosts: HashMap<String, IpAddr>,
    /// TEST ONLY: `https://HOST/...` requests that pass every rule are sent to this loopback
    /// origin (`http://127.0.0.1:PORT`) instead, so tests can stand in for a real service.
    pub test_origins: HashMap<String, String>,
}

impl EgressPolicy {
    /// The URL rules in force: [`EgressPolicy::url`], relaxed to plain http and any port when
    /// the test-only switch is on.
    pub fn url_rules(&self) -> UrlRules {
        if self.allow_loopback_for_tests {
            UrlRules::LOOPBACK_TESTS
        } else {
            self.url
        }
    }
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            max_requests: 3,
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(3),
            max_response_bytes: 256 * 1024,
            url: UrlRules::PUBLIC,
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
