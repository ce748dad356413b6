//! The URL rules, checked here and nowhere else: https only, no credentials, a host name (never
//! an IP literal), port 443. A plugin's request and an admin's URL setting both pass through
//! [`check_url`]; only the egress policy's test-only switch relaxes the scheme and the port.

use std::net::IpAddr;

use super::networks::is_global;

/// The one port plugins may reach.
pub const HTTPS_PORT: u16 = 443;

/// What a URL must be. [`UrlRules::PUBLIC`] is production's; only tests relax it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlRules {
    /// Whether plain `http://` is accepted besides `https://`.
    pub plain_http: bool,
    /// The only port accepted, or `None` for any.
    pub port: Option<u16>,
}

impl UrlRules {
    /// https on port 443: what every plugin request and every URL setting must be.
    pub const PUBLIC: UrlRules = UrlRules {
        plain_http: false,
        port: Some(HTTPS_PORT),
    };
    /// TEST ONLY: plain http and any port too (loopback stand-ins for real services).
    pub const LOOPBACK_TESTS: UrlRules = UrlRules {
        plain_http: true,
        port: None,
    };
}

impl Default for UrlRules {
    fn default() -> Self {
        UrlRules::PUBLIC
    }
}

/// Why a URL breaks the rules; the message completes "the URL …" or "`setting` …" for the
/// admin who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("is not a URL ({0}); write it like https://example.com/path")]
    NotUrl(url::ParseError),
    /// `http://`, not encrypted.
    #[error("uses http://, which is not encrypted; only https:// URLs are allowed")]
    PlainHttp,
    /// Another scheme.
    #[error("must be an https:// URL (not {0}:)")]
    Scheme(String),
    /// A user name or password in the URL.
    #[error(
        "must not contain a user name or password; put credentials in a secret header instead"
    )]
    Credentials,
    /// A port other than 443.
    #[error(
        "must use the standard https port ({HTTPS_PORT}); other ports are not allowed (got {0})"
    )]
    Port(u16),
    /// An IP literal instead of a host name.
    #[error("{}", ip_message(*.0))]
    IpAddress(IpAddr),
    /// No host at all.
    #[error("has no host")]
    NoHost,
    /// A name that can only be private (`localhost`, `.local`, `.internal`, …).
    #[error("points at {0}, a private address; integrations may only reach public hosts")]
    PrivateName(String),
    /// Not a public host name (one label, bad characters).
    #[error("has `{0}`, which is not a public host name (like api.example.com)")]
    NotHostName(String),
}

fn ip_message(ip: IpAddr) -> String {
    if is_global(ip) {
        format!("uses the IP address {ip}; use the service's host name instead")
    } else {
        format!("points at {ip}, a private address; integrations may only reach public hosts")
    }
}

/// Checks `url` against `rules` and returns its host name, lowercase, without a trailing dot.
/// Whether the name is allowed, and where it resolves, are checked by the caller.
pub fn check_url(url: &url::Url, rules: UrlRules) -> Result<String, UrlError> {
    match url.scheme() {
        "https" => {}
        "http" if rules.plain_http => {}
        "http" => return Err(UrlError::PlainHttp),
        other => return Err(UrlError::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if let (Some(port), Some(only)) = (url.port(), rules.port) {
        if port != only {
            return Err(UrlError::Port(port));
        }
    }
    match url.host() {
        Some(url::Host::Domain(d)) => Ok(d.trim_end_matches('.').to_ascii_lowercase()),
        Some(url::Host::Ipv4(ip)) => Err(UrlError::IpAddress(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => Err(UrlError::IpAddress(IpAddr::V6(ip))),
        None => Err(UrlError::NoHost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_rules_relax_only_the_scheme_and_the_port() {
        let url = |s: &str| url::Url::parse(s).expect("a URL");
        let local = url("http://allowed.test:8080/x");
        assert_eq!(
            check_url(&local, UrlRules::PUBLIC),
            Err(UrlError::PlainHttp)
        );
        assert_eq!(
            check_url(&local, UrlRules::LOOPBACK_TESTS).as_deref(),
            Ok("allowed.test")
        );
        for bad in [
            "http://127.0.0.1:8080/",
            "http://u:p@allowed.test/",
            "ftp://allowed.test/",
        ] {
            assert!(
                check_url(&url(bad), UrlRules::LOOPBACK_TESTS).is_err(),
                "{bad}"
            );
        }
    }
}
