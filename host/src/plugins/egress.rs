//! The only way out of the sandbox: host-mediated HTTPS with the rules of DESIGN.md.
//!
//! Checked before sending: the URL rules (https, port 443, no credentials, a host name, never an
//! IP literal), a host the manifest allows, no forbidden headers, at most
//! [`EgressPolicy::max_requests`] per event. Checked at connect time, on the resolved
//! addresses: every address must be globally routable, and the connection goes to the vetted
//! address (the resolver is ours, so a second lookup cannot swap it). Redirects are returned,
//! never followed. Secrets are added here, only to requests for the host each is bound to.
//!
//! - [`hosts`] — the allowed-host grammar of manifests (no special-use names, no wildcard
//!   over a public suffix).
//! - [`suffixes`] — the Public Suffix List.
//! - [`url`] — the URL rules, for requests and for URL settings alike.
//! - [`networks`] — which addresses are globally routable.
//! - [`secrets`] — secrets bound to hosts, and `{{secret.NAME}}` substitution.
//! - [`client`] — the vetting resolver and the client that sends what passed.

pub mod client;
pub mod hosts;
pub mod networks;
pub mod secrets;
pub mod suffixes;
pub mod url;

pub use client::{DestinationError, Egress, FetchFailure, IncomingResponse, OutgoingRequest};
pub use hosts::AllowedHost;
pub use networks::is_global;
pub use secrets::BoundSecret;
pub use url::UrlRules;

// Every limit lives in the sandbox's policy; egress only reads its part.
pub use super::policy::EgressPolicy;
