//! A plugin's static manifest: who made it, what it does with the user ID, where it may connect.
//!
//! It is embedded in the component (a custom section named [`SECTION`]) so one `.wasm` file is
//! the whole plugin, and it is read without running any of the plugin's code.

use serde::{Deserialize, Serialize};

use super::egress::hosts::{is_identifier, HostPatternError};
// Where these lived before egress was split by concern; callers outside plugins/ use them here.
pub use super::egress::hosts::{config_template, url_setting_host, AllowedHost};

/// The custom section that holds the manifest (TOML).
pub const SECTION: &str = "tessera-manifest";

/// Config keys and secrets a plugin may declare together: one Discord form holds five fields.
pub const MAX_SETTINGS: usize = 5;
/// The longest privacy policy URL a manifest may declare (it is shown in every welcome message).
pub const MAX_POLICY_URL: usize = 300;

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
    /// The header names in whose values the plugin may write `{{secret.NAME}}` for this secret
    /// (case-insensitive); nowhere else is it filled in. Default: `Authorization`.
    #[serde(default = "authorization")]
    pub headers: Vec<String>,
}

fn yes() -> bool {
    true
}

fn authorization() -> Vec<String> {
    vec!["Authorization".to_owned()]
}

/// The most header names a secret may be placed in.
const MAX_SECRET_HEADERS: usize = 8;

/// Headers a plugin may set but that services log or pass on: never a place for a secret
/// (besides every header plugins may not set at all).
const NOT_FOR_SECRETS: [&str; 2] = ["referer", "user-agent"];

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
pub enum ManifestError {
    /// The section is not UTF-8.
    #[error("manifest: is not UTF-8 text")]
    NotUtf8,
    /// Not TOML, or not the manifest's fields (toml's message names the field).
    #[error("manifest: {0}")]
    Toml(String),
    /// An `allowed_hosts` entry (or a secret's host) is not a host pattern.
    #[error("manifest: {0}")]
    Host(#[from] HostPatternError),
    /// A field breaks its rule.
    #[error("manifest: {0}")]
    Invalid(String),
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
            toml::from_str(toml_text).map_err(|e| ManifestError::Toml(e.message().to_owned()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let fail = |m: String| Err(ManifestError::Invalid(m));
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
        // Shown to every member in `<…>` inside a masked link: a `<`, `>` or backtick could
        // close it early and smuggle in a link of the uploader's choosing.
        let unsafe_char = |c: char| c.is_whitespace() || c.is_control() || "<>`\"".contains(c);
        if rest.is_empty()
            || rest.starts_with('/')
            || policy.contains(unsafe_char)
            || !url::Url::parse(policy).is_ok_and(|u| u.host_str().is_some())
        {
            return fail("privacy_policy must be an https:// URL".to_owned());
        }
        if policy.chars().count() > MAX_POLICY_URL {
            return fail(format!(
                "privacy_policy is longer than {MAX_POLICY_URL} characters"
            ));
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
            if secret.headers.len() > MAX_SECRET_HEADERS {
                return fail(format!(
                    "secret `{}` may be placed in at most {MAX_SECRET_HEADERS} headers",
                    secret.name
                ));
            }
            for header in &secret.headers {
                let lower = header.to_ascii_lowercase();
                if header.is_empty()
                    || header.len() > 64
                    || !header
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                    || NOT_FOR_SECRETS.contains(&lower.as_str())
                    || crate::plugins::egress::client::is_forbidden_header(&lower)
                {
                    return fail(format!(
                        "secret `{}` lists {header:?} in `headers`, which is not a header a secret may be placed in",
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
            .map(|h| AllowedHost::parse(h).map_err(ManifestError::from))
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
                "privacy_policy = \"https://blox.link/privacy\"",
                "privacy_policy = \"https://blox.link/p>) [login](https://evil.example\"",
                "privacy_policy",
            ),
            (
                "privacy_policy = \"https://blox.link/privacy\"",
                "privacy_policy = \"https://blox.link/p`x\"",
                "privacy_policy",
            ),
            (
                "privacy_policy = \"https://blox.link/privacy\"",
                &format!("privacy_policy = \"https://blox.link/{}\"", "a".repeat(400)),
                "longer than",
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
            (
                "header = \"Authorization\"",
                "header = \"Authorization\"\nheaders = [\"Cookie\"]",
                "not a header a secret may be placed in",
            ),
            (
                "header = \"Authorization\"",
                "header = \"Authorization\"\nheaders = [\"User-Agent\"]",
                "not a header a secret may be placed in",
            ),
            (
                "header = \"Authorization\"",
                "header = \"Authorization\"\nheaders = [\"Proxy-Authorization\"]",
                "not a header a secret may be placed in",
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
        assert!(err.to_string().contains("at most 5"), "{err:?}");
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
            assert!(err.to_string().contains(expect), "{expect}: {err}");
        }
    }
}
