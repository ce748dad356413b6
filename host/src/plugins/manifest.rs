//! A plugin's static manifest: who made it, what it does with the user ID, where it may connect.
//!
//! It is embedded in the component (a custom section named [`SECTION`]) so one `.wasm` file is
//! the whole plugin, and it is read without running any of the plugin's code.

use serde::{Deserialize, Serialize};

/// The custom section that holds the manifest (TOML).
pub const SECTION: &str = "tessera-manifest";

/// Config keys and secrets a plugin may declare together: one Discord form holds five fields.
pub const MAX_SETTINGS: usize = 5;

/// What a plugin declares about itself, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stable identifier: lowercase letters, digits and `-`, 1–32 characters.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// One or two sentences for admins.
    pub description: String,
    /// Who wrote it.
    pub author: String,
    /// The plugin's privacy policy: an `https://` URL. Required.
    pub privacy_policy: String,
    /// In plain language, what the plugin does with the member's user ID.
    pub data_use: String,
    /// Hosts the plugin may call over HTTPS: exact names or a leading `*.`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Non-secret settings the server's admins provide.
    #[serde(default)]
    pub config: Vec<ConfigKey>,
    /// Secrets the host injects into requests to their host; never visible to the guest.
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
    /// Resources the plugin asks for, granted up to the operator's ceilings.
    #[serde(default)]
    pub limits: RequestedLimits,
    /// Whether the plugin also gets the server's ID (as the config value [`SERVER_ID_KEY`]).
    /// Admins are told before they enable it.
    #[serde(default)]
    pub receives_server_id: bool,
}

/// The config key under which a plugin that declares `receives_server_id` gets the server's ID.
pub const SERVER_ID_KEY: &str = "server_id";

/// One config key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    /// The key.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Whether the plugin cannot work without it.
    #[serde(default)]
    pub required: bool,
    /// Whether the value may span lines (a paragraph field in the form).
    #[serde(default)]
    pub multiline: bool,
}

/// One secret and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret's name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The one host whose requests carry it: a host name, or `{config.KEY}` for the host of the
    /// URL in that setting.
    pub host: String,
    /// The header the host adds it as, to every request for `host`. Without one, the plugin
    /// places it with `{{secret.NAME}}` in a header value.
    #[serde(default)]
    pub header: Option<String>,
    /// Whether the plugin cannot work without it.
    #[serde(default = "yes")]
    pub required: bool,
    /// Whether the value is `NAME = value` lines, each a secret of its own (`{{secret.NAME}}`).
    #[serde(default)]
    pub named: bool,
}

fn yes() -> bool {
    true
}

/// What a plugin asks for; `None` means the operator's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    /// Linear memory, MiB.
    pub memory_mib: Option<u32>,
    /// Guest CPU per event, milliseconds.
    pub cpu_ms: Option<u32>,
}

/// Why a manifest is unusable; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest: {0}")]
pub struct ManifestError(pub String);

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
    pub fn parse(entry: &str) -> Result<AllowedHost, ManifestError> {
        let bad = |why: &str| ManifestError(format!("allowed_hosts: `{entry}` {why}"));
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
    pub fn resolve(
        &self,
        config: &std::collections::HashMap<String, String>,
    ) -> Option<AllowedHost> {
        match self {
            AllowedHost::FromConfig(key) => config
                .get(key)
                .and_then(|url| url_setting_host(url).ok())
                .map(AllowedHost::Exact),
            other => Some(other.clone()),
        }
    }
}

/// Checks a setting that names where a plugin may connect (a `{config.KEY}` host) and returns
/// its host: an `https://` URL on port 443, with a public host name. The message is for the
/// admin who typed it. Whether the name resolves to a public address is checked separately.
pub fn url_setting_host(value: &str) -> Result<String, String> {
    let value = value.trim();
    let url = url::Url::parse(value)
        .map_err(|e| format!("is not a URL ({e}); write it like https://example.com/path"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            return Err(
                "uses http://, which is not encrypted; only https:// URLs are allowed".into(),
            )
        }
        other => return Err(format!("must be an https:// URL (not {other}:)")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not contain a user name or password; put credentials in a secret header instead"
                .into(),
        );
    }
    if url.port().is_some_and(|p| p != 443) {
        return Err("must use the standard https port (443); other ports are not allowed".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => return Err(ip_message(std::net::IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => return Err(ip_message(std::net::IpAddr::V6(ip))),
        None => return Err("has no host".into()),
    };
    let private_suffix = [
        ".localhost",
        ".local",
        ".internal",
        ".lan",
        ".home.arpa",
        ".corp",
    ]
    .iter()
    .any(|s| host.ends_with(s));
    if host == "localhost" || private_suffix {
        return Err(format!(
            "points at {host}, a private address; integrations may only reach public hosts"
        ));
    }
    match AllowedHost::parse(&host) {
        Ok(AllowedHost::Exact(h)) => Ok(h),
        _ => Err(format!(
            "has `{host}`, which is not a public host name (like api.example.com)"
        )),
    }
}

/// The entries of a `named` secret: `NAME = value` lines (blank lines skipped). The message
/// names the line, never the value.
pub fn named_secrets(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {}: write it as NAME = value", i + 1));
        };
        let (name, value) = (name.trim(), value.trim());
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "line {}: the name must be 1-64 letters, digits, `_` or `-`",
                i + 1
            ));
        }
        if value.is_empty() {
            return Err(format!("line {}: `{name}` has no value", i + 1));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("line {}: `{name}` is set twice", i + 1));
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

fn ip_message(ip: std::net::IpAddr) -> String {
    if super::egress::is_global(ip) {
        format!("uses the IP address {ip}; use the service's host name instead")
    } else {
        format!("points at {ip}, a private address; integrations may only reach public hosts")
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

fn is_identifier(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

impl Manifest {
    /// Parses and validates a manifest from TOML.
    pub fn parse(toml_text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest =
            toml::from_str(toml_text).map_err(|e| ManifestError(e.message().to_owned()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let fail = |m: String| Err(ManifestError(m));
        if !is_identifier(&self.id, 32) || self.id.contains('_') {
            return fail(format!(
                "id `{}` must be 1-32 lowercase letters, digits or `-`, starting with a letter",
                self.id
            ));
        }
        if !is_semver(&self.version) {
            return fail(format!(
                "version `{}` is not a semantic version (e.g. 1.2.3)",
                self.version
            ));
        }
        for (field, value, max) in [
            ("name", &self.name, 64),
            ("description", &self.description, 500),
            ("author", &self.author, 100),
            ("data_use", &self.data_use, 1000),
        ] {
            if value.trim().is_empty() {
                return fail(format!("{field} is required"));
            }
            if value.chars().count() > max {
                return fail(format!("{field} is longer than {max} characters"));
            }
        }
        let policy = self.privacy_policy.trim();
        let rest = policy.strip_prefix("https://").unwrap_or_default();
        if rest.is_empty() || rest.starts_with('/') || policy.contains(char::is_whitespace) {
            return fail("privacy_policy must be an https:// URL".to_owned());
        }
        let hosts = self.hosts()?;
        // Admins fill these in one Discord form, which holds five fields.
        if self.config.len() + self.secrets.len() > MAX_SETTINGS {
            return fail(format!(
                "at most {MAX_SETTINGS} config keys and secrets together (one settings form); this has {}",
                self.config.len() + self.secrets.len()
            ));
        }
        for key in &self.config {
            if !is_identifier(&key.name, 64) {
                return fail(format!(
                    "config key `{}` must be a lowercase identifier",
                    key.name
                ));
            }
            if key.name == SERVER_ID_KEY {
                return fail(format!(
                    "config key `{SERVER_ID_KEY}` is reserved: set receives_server_id = true and the host provides it"
                ));
            }
        }
        for host in &hosts {
            if let AllowedHost::FromConfig(key) = host {
                if !self.config.iter().any(|c| &c.name == key) {
                    return fail(format!(
                        "allowed_hosts: {{config.{key}}} names no declared config key"
                    ));
                }
            }
        }
        for secret in &self.secrets {
            if !is_identifier(&secret.name, 64) {
                return fail(format!(
                    "secret `{}` must be a lowercase identifier",
                    secret.name
                ));
            }
            match AllowedHost::parse(&secret.host)? {
                AllowedHost::Exact(host) => {
                    if !hosts.iter().any(|h| h.matches(&host)) {
                        return fail(format!(
                            "secret `{}` is bound to {host}, which is not in allowed_hosts",
                            secret.name
                        ));
                    }
                }
                template @ AllowedHost::FromConfig(_) => {
                    if !hosts.contains(&template) {
                        return fail(format!(
                            "secret `{}` is bound to {template}, which is not in allowed_hosts",
                            secret.name
                        ));
                    }
                }
                AllowedHost::Subdomains(_) => {
                    return fail(format!(
                        "secret `{}` must be bound to one exact host",
                        secret.name
                    ));
                }
            }
            if let Some(header) = &secret.header {
                if secret.named {
                    return fail(format!(
                        "secret `{}` is named (NAME = value lines) and cannot also have a header",
                        secret.name
                    ));
                }
                if header.is_empty()
                    || !header
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return fail(format!(
                        "secret `{}` has an invalid header name",
                        secret.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The parsed `allowed_hosts`.
    pub fn hosts(&self) -> Result<Vec<AllowedHost>, ManifestError> {
        self.allowed_hosts
            .iter()
            .map(|h| AllowedHost::parse(h))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "bloxlink"
name = "Bloxlink"
version = "1.0.0"
description = "Roblox account of the ticket opener"
author = "Tessera"
privacy_policy = "https://blox.link/privacy"
data_use = "Sends the opener's Discord ID to Bloxlink to find their Roblox account."
allowed_hosts = ["api.blox.link", "*.roblox.com"]
[[config]]
name = "server_scoped"
description = "Use the server endpoint"
[[secrets]]
name = "api_key"
description = "Bloxlink API key"
host = "api.blox.link"
header = "Authorization"
"#;

    #[test]
    fn a_complete_manifest_parses() {
        let m = Manifest::parse(GOOD).expect("valid");
        assert_eq!(m.id, "bloxlink");
        assert_eq!(m.hosts().expect("hosts").len(), 2);
        assert!(!m.config[0].required);
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            ("id = \"bloxlink\"", "id = \"Blox Link\"", "id"),
            ("version = \"1.0.0\"", "version = \"one\"", "version"),
            (
                "privacy_policy = \"https://blox.link/privacy\"",
                "privacy_policy = \"http://blox.link\"",
                "privacy_policy",
            ),
            (
                "\"api.blox.link\", \"*.roblox.com\"",
                "\"https://api.blox.link\"",
                "allowed_hosts",
            ),
            (
                "\"api.blox.link\", \"*.roblox.com\"",
                "\"127.0.0.1\"",
                "IP address",
            ),
            (
                "\"api.blox.link\", \"*.roblox.com\"",
                "\"*.roblox.com\"",
                "not in allowed_hosts",
            ),
            (
                "description = \"Roblox account of the ticket opener\"",
                "",
                "description",
            ),
            (
                "author = \"Tessera\"",
                "author = \"Tessera\"\nsurprise = 1",
                "surprise",
            ),
        ];
        for (from, to, expect) in cases {
            let text = GOOD.replacen(from, to, 1);
            let err = Manifest::parse(&text).expect_err(expect);
            assert!(err.to_string().contains(expect), "{expect}: {err}");
        }
    }

    #[test]
    fn settings_fit_in_one_form() {
        let key = |n: usize| format!("\n[[config]]\nname = \"k{n}\"\ndescription = \"d\"\n");
        let mut text = GOOD.to_owned();
        let existing = Manifest::parse(GOOD).expect("valid");
        let room = MAX_SETTINGS - existing.config.len() - existing.secrets.len();
        for n in 0..room {
            text.push_str(&key(n));
        }
        Manifest::parse(&text).expect("five settings fit");
        text.push_str(&key(99));
        let err = Manifest::parse(&text).expect_err("six do not");
        assert!(err.0.contains("at most 5"), "{err:?}");
    }

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

    const WEBHOOK: &str = r#"
id = "hook"
name = "Hook"
version = "1.0.0"
description = "d"
author = "a"
privacy_policy = "https://example.com/privacy"
data_use = "u"
allowed_hosts = ["{config.url}"]
receives_server_id = true
[[config]]
name = "url"
description = "where"
required = true
[[config]]
name = "headers"
description = "h"
multiline = true
[[secrets]]
name = "secrets"
description = "named"
host = "{config.url}"
required = false
named = true
"#;

    #[test]
    fn hosts_and_secrets_may_come_from_the_servers_settings() {
        let m = Manifest::parse(WEBHOOK).expect("valid");
        assert!(m.receives_server_id && m.config[1].multiline && m.secrets[0].named);
        let hosts = m.hosts().expect("hosts");
        assert_eq!(hosts, [AllowedHost::FromConfig("url".into())]);
        assert!(
            !hosts[0].matches("anything.example.com"),
            "unresolved matches nothing"
        );
        let config = std::collections::HashMap::from([(
            "url".to_owned(),
            "https://Hooks.Example.com/x/{user_id}".to_owned(),
        )]);
        assert_eq!(
            hosts[0].resolve(&config),
            Some(AllowedHost::Exact("hooks.example.com".into()))
        );
        assert_eq!(hosts[0].resolve(&Default::default()), None);
        for (from, to, expect) in [
            (
                "[\"{config.url}\"]",
                "[\"{config.nope}\"]",
                "names no declared config key",
            ),
            ("name = \"headers\"", "name = \"server_id\"", "reserved"),
            (
                "host = \"{config.url}\"",
                "host = \"{config.headers}\"",
                "not in allowed_hosts",
            ),
            (
                "named = true",
                "named = true\nheader = \"X-Key\"",
                "cannot also have a header",
            ),
        ] {
            let err = Manifest::parse(&WEBHOOK.replacen(from, to, 1)).expect_err(expect);
            assert!(err.0.contains(expect), "{expect}: {err}");
        }
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
            ("https://intranet/", "not a public host name"),
        ] {
            let err = url_setting_host(bad).expect_err(bad);
            assert!(err.contains(expect), "{bad}: {expect:?} not in {err}");
        }
    }

    #[test]
    fn named_secrets_are_name_value_lines() {
        assert_eq!(
            named_secrets("token = abc=def\n\n  other=x  ").expect("valid"),
            [
                ("token".to_owned(), "abc=def".to_owned()),
                ("other".to_owned(), "x".to_owned())
            ]
        );
        for (bad, expect) in [
            ("token", "line 1: write it as NAME = value"),
            ("a = 1\nb c = 2", "line 2"),
            ("a =", "has no value"),
            ("a = 1\na = 2", "set twice"),
        ] {
            let err = named_secrets(bad).expect_err(bad);
            assert!(err.contains(expect), "{bad}: {err}");
        }
    }
}
