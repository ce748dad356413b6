//! The allowed-host grammar of `allowed_hosts`: an exact name, a leading `*.` for any
//! subdomain, or `{config.KEY}` for the host of a URL the server's admins saved.

use std::collections::HashMap;

use super::suffixes::is_public_suffix;
use super::url::{check_url, UrlError, UrlRules};

/// Names that never reach the public internet (RFC 6761, IANA's special-use domain registry,
/// and the private TLDs networks use in practice): a name equal to one or under one.
const SPECIAL_USE: [&str; 14] = [
    "localhost",
    "local",
    "internal",
    "lan",
    "home",
    "corp",
    "intranet",
    "private",
    "localdomain",
    "invalid",
    "onion",
    "alt",
    // `home.arpa`, `in-addr.arpa`, `ip6.arpa`: none names a public web service.
    "arpa",
    "home.arpa",
];

/// Whether `name` (lowercase) is or is under a special-use name.
pub fn is_special_use(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    SPECIAL_USE
        .iter()
        .any(|s| name == *s || name.strip_suffix(s).is_some_and(|rest| rest.ends_with('.')))
}

/// Why an `allowed_hosts` entry is not a host pattern; the message quotes the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_hosts: `{entry}` {problem}")]
pub struct HostPatternError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A host a plugin may call: `api.example.com`, `*.example.com` (any subdomain, not the apex),
/// or `{config.KEY}`: the host of the https URL a server's admins saved as setting `KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    /// Exactly this name.
    Exact(String),
    /// Any name ending in `.` + this suffix.
    Subdomains(String),
    /// The host of the URL in this config key; matches nothing until [`AllowedHost::resolve`]d.
    FromConfig(String),
}

/// The config key a `{config.KEY}` template names, if `entry` is one.
pub fn config_template(entry: &str) -> Option<&str> {
    entry
        .strip_prefix("{config.")
        .and_then(|rest| rest.strip_suffix('}'))
}

impl AllowedHost {
    /// Parses one entry of `allowed_hosts`.
    pub fn parse(entry: &str) -> Result<AllowedHost, HostPatternError> {
        let bad = |problem: &'static str| HostPatternError {
            entry: entry.to_owned(),
            problem,
        };
        if let Some(key) = config_template(entry) {
            if !is_identifier(key, 64) {
                return Err(bad("must name a config key, as in {config.url}"));
            }
            return Ok(AllowedHost::FromConfig(key.to_owned()));
        }
        let (wild, name) = match entry.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        if name.is_empty() || name.len() > 253 {
            return Err(bad("is not a host name"));
        }
        if name.contains("://") || name.contains('/') || name.contains(':') || name.contains('@') {
            return Err(bad("must be a bare host name (no scheme, port or path); https and port 443 are implied"));
        }
        if name.contains('*') {
            return Err(bad("may use `*` only as a leading `*.`"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("must have at least two labels (e.g. api.example.com)"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad("has an invalid label"));
            }
        }
        if labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())) {
            return Err(bad("is an IP address; plugins may only name hosts"));
        }
        let name = name.to_ascii_lowercase();
        if is_special_use(&name) {
            return Err(bad("is a special-use name (like .local, .internal, .localhost or .home.arpa) that only reaches private networks; plugins may only reach public hosts"));
        }
        if wild && is_public_suffix(&name) {
            return Err(bad("would allow every domain under a public suffix (anyone can register one); name your service's own domain, like *.example.co.uk"));
        }
        Ok(if wild {
            AllowedHost::Subdomains(name)
        } else {
            AllowedHost::Exact(name)
        })
    }

    /// Whether `host` (already lowercase, no port) is allowed by this entry.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            AllowedHost::Exact(name) => host == name,
            AllowedHost::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            AllowedHost::FromConfig(_) => false,
        }
    }

    /// This entry for one server: a `{config.KEY}` becomes the host of the URL in that setting
    /// (`None` if it is unset or not a usable URL; it was validated when saved).
    pub fn resolve(&self, config: &HashMap<String, String>) -> Option<AllowedHost> {
        match self {
            AllowedHost::FromConfig(key) => config
                .get(key)
                .and_then(|url| url_setting_host(url).ok())
                .map(AllowedHost::Exact),
            other => Some(other.clone()),
        }
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowedHost::Exact(name) => f.write_str(name),
            AllowedHost::Subdomains(suffix) => write!(f, "*.{suffix}"),
            AllowedHost::FromConfig(key) => write!(f, "{{config.{key}}}"),
        }
    }
}

/// Checks a setting that names where a plugin may connect (a `{config.KEY}` host) and returns
/// its host: a [`UrlRules::PUBLIC`] URL with a public host name, whatever test switches are on
/// (tests stand in for such hosts with `test_origins`). Whether the name resolves to a public
/// address is checked separately.
pub fn url_setting_host(value: &str) -> Result<String, UrlError> {
    let url = url::Url::parse(value.trim()).map_err(UrlError::NotUrl)?;
    let host = check_url(&url, UrlRules::PUBLIC)?;
    if is_special_use(&host) {
        return Err(UrlError::PrivateName(host));
    }
    match AllowedHost::parse(&host) {
        Ok(AllowedHost::Exact(h)) => Ok(h),
        _ => Err(UrlError::NotHostName(host)),
    }
}

/// A config key: a lowercase letter, then lowercase letters, digits, `-` or `_`.
pub(crate) fn is_identifier(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_as_documented() {
        let exact = AllowedHost::parse("api.example.com").expect("valid");
        assert!(exact.matches("api.example.com"));
        assert!(!exact.matches("evil.api.example.com"));
        let wild = AllowedHost::parse("*.example.com").expect("valid");
        assert!(wild.matches("a.example.com") && wild.matches("a.b.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        for bad in [
            "*",
            "*.com.",
            "ex*ample.com",
            "example.com:443",
            "localhost",
            "a..b",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn special_use_names_and_public_suffix_wildcards_are_refused() {
        for (bad, why) in [
            ("printer.local", "special-use"),
            ("metadata.google.internal", "special-use"),
            ("api.localhost", "special-use"),
            ("router.home.arpa", "special-use"),
            ("*.home.arpa", "special-use"),
            ("1.0.0.127.in-addr.arpa", "special-use"),
            ("*.corp.lan", "special-use"),
            ("*.co.uk", "public suffix"),
            ("*.github.io", "public suffix"),
            ("*.com.au", "public suffix"),
        ] {
            let err = AllowedHost::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        for good in [
            "*.example.co.uk",
            "*.my-org.github.io",
            "api.example.co.uk",
            "local.example.com",
            "internal.example.com",
        ] {
            assert!(AllowedHost::parse(good).is_ok(), "{good}");
        }
        // A URL setting goes through the same rules.
        assert!(url_setting_host("https://wiki.corp/")
            .expect_err("corp")
            .to_string()
            .contains("private address"));
        assert!(url_setting_host("https://tool.internal/").is_err());
    }

    #[test]
    fn url_settings_must_be_public_https_hosts() {
        assert_eq!(
            url_setting_host("https://api.example.com/hook?x=1").as_deref(),
            Ok("api.example.com")
        );
        assert_eq!(
            url_setting_host("https://api.example.com:443/").as_deref(),
            Ok("api.example.com")
        );
        for (bad, expect) in [
            ("api.example.com/hook", "not a URL"),
            ("http://api.example.com/", "http://"),
            ("ftp://api.example.com/", "https://"),
            ("https://user:pw@api.example.com/", "password"),
            ("https://api.example.com:8443/", "port"),
            ("https://10.0.0.1/", "private address"),
            ("https://[::1]/", "private address"),
            ("https://169.254.169.254/latest", "private address"),
            ("https://1.1.1.1/", "host name"),
            ("https://localhost/", "private address"),
            ("https://printer.local/", "private address"),
            ("https://intranet/", "private address"),
            ("https://wiki/", "not a public host name"),
        ] {
            let err = url_setting_host(bad).expect_err(bad).to_string();
            assert!(err.contains(expect), "{bad}: {expect:?} not in {err}");
        }
    }
}
