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
}

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
}

/// One secret and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret's name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The one host whose requests carry it.
    pub host: String,
    /// The header it is sent as.
    pub header: String,
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

/// A host a plugin may call: `api.example.com` or `*.example.com` (any subdomain, not the apex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    /// Exactly this name.
    Exact(String),
    /// Any name ending in `.` + this suffix.
    Subdomains(String),
}

impl AllowedHost {
    /// Parses one entry of `allowed_hosts`.
    pub fn parse(entry: &str) -> Result<AllowedHost, ManifestError> {
        let bad = |why: &str| ManifestError(format!("allowed_hosts: `{entry}` {why}"));
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
        }
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowedHost::Exact(name) => f.write_str(name),
            AllowedHost::Subdomains(suffix) => write!(f, "*.{suffix}"),
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
        }
        for secret in &self.secrets {
            if !is_identifier(&secret.name, 64) {
                return fail(format!(
                    "secret `{}` must be a lowercase identifier",
                    secret.name
                ));
            }
            let host = AllowedHost::parse(&secret.host)?;
            let AllowedHost::Exact(host) = host else {
                return fail(format!(
                    "secret `{}` must be bound to one exact host",
                    secret.name
                ));
            };
            if !hosts.iter().any(|h| h.matches(&host)) {
                return fail(format!(
                    "secret `{}` is bound to {host}, which is not in allowed_hosts",
                    secret.name
                ));
            }
            let header = secret.header.as_str();
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
}
