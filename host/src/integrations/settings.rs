//! A server's settings for a plugin: the values admins enter (checked here), the secrets among
//! them (sealed at rest, opened in exactly one place: [`Secrets::open`]), and what the plugin
//! then sees.

use std::collections::{BTreeMap, HashMap};

use crate::integrations::{Available, Integrations, Source};
use crate::plugins::egress::client::DestinationError;
use crate::plugins::egress::secrets::{named_secrets, secret_host, NamedSecretsError};
use crate::plugins::egress::url::UrlError;
use crate::plugins::manifest::{self, AllowedHost, Manifest};
use crate::plugins::runtime::SettingsRejected;
use crate::secrets::{SecretsKey, Unsealable};
use crate::store::GuildIntegration;

/// The longest one-line config value accepted.
pub const MAX_CONFIG_VALUE: u16 = 1000;
/// The longest multi-line value (config or named secrets) accepted.
pub const MAX_MULTILINE_VALUE: u16 = 2000;
/// The longest one-line secret accepted.
pub const MAX_SECRET_VALUE: u16 = 1000;

/// The context secrets sealed before they were bound to hosts were sealed with (one server,
/// one plugin). Read only to re-seal such rows once, at start ([`Secrets::reseal_legacy`]).
pub fn secrets_context(guild_id: u64, plugin_id: &str) -> String {
    format!("tessera:secrets:guild:{guild_id}:plugin:{plugin_id}")
}

/// Where a server's secrets for one plugin may go, decided when an admin enters them: each
/// secret's one destination host (from the manifest, and for a `{config.KEY}` host from the
/// settings saved with it), and, for a server's own upload, the exact uploaded version.
/// First-party and operator-installed plugins keep their secrets across versions.
///
/// Each secret is sealed with its destination as associated data, so it opens only for the
/// destination it was entered for: re-pointing a URL setting, or uploading a new version under
/// the same id, makes the stored secret unusable until an admin enters it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    guild_id: u64,
    plugin_id: String,
    /// The uploaded version's sha256; `None` for plugins that ship with the bot or the operator.
    version: Option<String>,
    /// Secret name -> the host it is sent to (empty when the setting naming it is unset).
    hosts: BTreeMap<String, String>,
}

impl Destination {
    /// The destination of `available`'s secrets in `guild_id` with these settings.
    pub fn of(
        available: &Available,
        guild_id: u64,
        config: &BTreeMap<String, String>,
    ) -> Destination {
        let m = available.manifest();
        // Most plugins have no secrets: nothing to resolve (this runs at every ticket).
        let config: HashMap<String, String> = if m.secrets.is_empty() {
            HashMap::new()
        } else {
            config.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let hosts = m
            .secrets
            .iter()
            .map(|spec| {
                let host = secret_host(spec, &config).unwrap_or_default();
                (spec.name.clone(), host)
            })
            .collect();
        Destination {
            guild_id,
            plugin_id: m.id.clone(),
            version: (available.source == Source::Uploaded)
                .then(|| available.plugin.inspection.sha256.clone()),
            hosts,
        }
    }

    fn context(&self, name: &str, host: &str, version: Option<&str>) -> String {
        format!(
            "tessera:secrets:v2:guild:{}:plugin:{}:secret:{name}:host:{host}:version:{}",
            self.guild_id,
            self.plugin_id,
            version.unwrap_or("*")
        )
    }
}

/// One secret at rest: where it may go, in the clear (to explain a refusal), and its value,
/// sealed with that destination as associated data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SealedSecret {
    host: String,
    version: Option<String>,
    sealed: String,
}

/// A row's secrets at rest (`guild_integrations.secrets`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SealedSecrets {
    v: u8,
    secrets: BTreeMap<String, SealedSecret>,
}

/// Why a server's stored secrets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The operator removed `plugins.secrets_key`.
    #[error("plugins.secrets_key is not configured any more")]
    NoKey,
    /// Another key, another row, or tampered with.
    #[error("the secrets do not open with plugins.secrets_key (was the key changed?)")]
    Unsealable(#[from] Unsealable),
    /// Opened, but not what Tessera sealed.
    #[error("the stored secrets are not in a form Tessera wrote")]
    NotJson(#[source] serde_json::Error),
    /// A secret was entered to be sent to one host, and the settings now send it elsewhere.
    #[error("the secret `{name}` was entered to be sent to {was}, and the settings now send it to {now}; it is never sent anywhere else")]
    Moved {
        /// The secret.
        name: String,
        /// The host it was entered for.
        was: String,
        /// Where the settings point now.
        now: String,
    },
    /// A secret was entered for another uploaded version of the plugin.
    #[error("the secret `{name}` was entered for another version of this uploaded plugin; a new upload does not inherit the old one's secrets")]
    OtherVersion {
        /// The secret.
        name: String,
    },
    /// Sealed before secrets were bound to hosts, and not re-sealed at start.
    #[error("the secrets were stored by an older Tessera and must be entered again")]
    Legacy,
}

/// The key that seals and opens servers' secrets, if the operator configured one.
#[derive(Debug)]
pub struct Secrets {
    key: Option<SecretsKey>,
}

impl Secrets {
    /// Around the operator's key.
    pub fn new(key: Option<SecretsKey>) -> Secrets {
        Secrets { key }
    }

    /// The key, if configured.
    pub fn key(&self) -> Option<&SecretsKey> {
        self.key.as_ref()
    }

    /// The row's secrets, opened for `to`; empty when it has none. The only place sealed
    /// secrets are opened: every caller learns why they would not open. Every stored secret
    /// must open for `to` (its host and version), or none is returned.
    pub fn open(
        &self,
        row: &GuildIntegration,
        to: &Destination,
    ) -> Result<HashMap<String, String>, SecretsError> {
        let Some(stored) = &row.sealed_secrets else {
            return Ok(HashMap::new());
        };
        let key = self.key.as_ref().ok_or(SecretsError::NoKey)?;
        if !stored.starts_with('{') {
            return Err(SecretsError::Legacy);
        }
        let stored: SealedSecrets = serde_json::from_str(stored).map_err(SecretsError::NotJson)?;
        let mut opened = HashMap::with_capacity(stored.secrets.len());
        for (name, secret) in stored.secrets {
            let now = to.hosts.get(&name).map(String::as_str).unwrap_or_default();
            if secret.host != now {
                return Err(SecretsError::Moved {
                    name,
                    was: secret.host,
                    now: if now.is_empty() {
                        "no host".to_owned()
                    } else {
                        now.to_owned()
                    },
                });
            }
            if secret.version != to.version {
                return Err(SecretsError::OtherVersion { name });
            }
            // The associated data is computed from `to`, never from what the row says.
            let plain = key.open(
                &to.context(&name, now, to.version.as_deref()),
                &secret.sealed,
            )?;
            let value =
                String::from_utf8(plain).map_err(|_| SecretsError::Unsealable(Unsealable))?;
            opened.insert(name, value);
        }
        Ok(opened)
    }

    /// Seals a server's secrets for one plugin, each to its destination in `to`.
    pub fn seal(
        &self,
        to: &Destination,
        secrets: &HashMap<String, String>,
    ) -> Result<String, SecretsError> {
        let key = self.key.as_ref().ok_or(SecretsError::NoKey)?;
        let mut sealed = BTreeMap::new();
        for (name, value) in secrets {
            let host = to.hosts.get(name).cloned().unwrap_or_default();
            let context = to.context(name, &host, to.version.as_deref());
            sealed.insert(
                name.clone(),
                SealedSecret {
                    sealed: key.seal(&context, value.as_bytes()),
                    host,
                    version: to.version.clone(),
                },
            );
        }
        serde_json::to_string(&SealedSecrets {
            v: 2,
            secrets: sealed,
        })
        .map_err(SecretsError::NotJson)
    }

    /// A row sealed before secrets were bound to hosts, sealed again for `to` (its settings as
    /// they are now); `None` if the row is not such a row.
    pub fn reseal_legacy(
        &self,
        row: &GuildIntegration,
        to: &Destination,
    ) -> Option<Result<String, SecretsError>> {
        let stored = row.sealed_secrets.as_ref()?;
        if stored.starts_with('{') {
            return None;
        }
        Some((|| {
            let key = self.key.as_ref().ok_or(SecretsError::NoKey)?;
            let plain = key.open(&secrets_context(row.guild_id, &row.plugin_id), stored)?;
            let secrets: HashMap<String, String> =
                serde_json::from_slice(&plain).map_err(SecretsError::NotJson)?;
            self.seal(to, &secrets)
        })())
    }
}

/// A value an admin entered that cannot be saved; each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A config value too long, or on several lines where one is expected.
    #[error("`{key}` must be one line of at most {max} characters. Nothing was saved.")]
    ConfigTooLong {
        /// The setting.
        key: String,
        /// Its limit.
        max: u16,
    },
    /// A secret too long (or, when not a multi-line list, spanning lines).
    #[error("`{key}` is too long (at most {max} characters){}. Nothing was saved.", if *.multiline { "" } else { " or spans lines" })]
    SecretTooLong {
        /// The secret.
        key: String,
        /// Its limit.
        max: u16,
        /// Whether it may span lines.
        multiline: bool,
    },
    /// A required value left empty.
    #[error("`{0}` is required. Nothing was saved; try again.")]
    Required(String),
    /// Secrets, but no key to seal them with.
    #[error("**{0}** needs secrets, and this bot's operator has not configured `plugins.secrets_key` to encrypt them. Nothing was saved.")]
    NoKey(String),
    /// A field left empty to keep its stored secret, but the stored secrets do not open.
    #[error("The stored secrets of **{name}** cannot be used ({problem}), so an empty field cannot keep its secret. Enter every secret again. Nothing was saved.")]
    StoredSecrets {
        /// The plugin's display name.
        name: String,
        /// Why they do not open.
        problem: String,
    },
}

/// The declared config keys of `manifest` from what an admin submitted: checked, trimmed of
/// undeclared keys, empty optional values left out.
pub fn clean_config(
    manifest: &Manifest,
    submitted: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, InputError> {
    let mut config = BTreeMap::new();
    for key in &manifest.config {
        let value = submitted
            .get(&key.name)
            .map(String::as_str)
            .unwrap_or_default();
        let max = if key.multiline {
            MAX_MULTILINE_VALUE
        } else {
            MAX_CONFIG_VALUE
        };
        if value.chars().count() > usize::from(max)
            || (!key.multiline && value.contains(['\r', '\n']))
        {
            return Err(InputError::ConfigTooLong {
                key: key.name.clone(),
                max,
            });
        }
        if value.is_empty() {
            if key.required {
                return Err(InputError::Required(key.name.clone()));
            }
            continue;
        }
        config.insert(key.name.clone(), value.to_owned());
    }
    Ok(config)
}

/// The secrets to store: those submitted, and for each field left empty the stored one.
/// `stored` is what [`Secrets::open`] made of the stored row; when it failed, an empty field
/// cannot keep anything and the admin is told so rather than the secret silently dropped.
pub fn merge_secrets(
    manifest: &Manifest,
    stored: Result<HashMap<String, String>, SecretsError>,
    submitted: &HashMap<String, String>,
) -> Result<HashMap<String, String>, InputError> {
    let keeps_any = manifest.secrets.iter().any(|s| {
        submitted
            .get(&s.name)
            .map(String::as_str)
            .unwrap_or_default()
            .is_empty()
    });
    let mut merged = match stored {
        Ok(stored) => stored,
        Err(problem) if keeps_any => {
            return Err(InputError::StoredSecrets {
                name: manifest.name.clone(),
                problem: problem.to_string(),
            })
        }
        // Every secret is entered again: what was stored no longer matters.
        Err(_) => HashMap::new(),
    };
    for spec in &manifest.secrets {
        let value = submitted
            .get(&spec.name)
            .map(String::as_str)
            .unwrap_or_default();
        let (bad, max) = if spec.named {
            (
                value.contains('\0') || value.chars().count() > usize::from(MAX_MULTILINE_VALUE),
                MAX_MULTILINE_VALUE,
            )
        } else {
            (
                value.contains(['\r', '\n', '\0'])
                    || value.chars().count() > usize::from(MAX_SECRET_VALUE),
                MAX_SECRET_VALUE,
            )
        };
        if bad {
            return Err(InputError::SecretTooLong {
                key: spec.name.clone(),
                max,
                multiline: spec.named,
            });
        }
        if !value.is_empty() {
            merged.insert(spec.name.clone(), value.to_owned());
        }
        if spec.required && !merged.contains_key(&spec.name) {
            return Err(InputError::Required(spec.name.clone()));
        }
    }
    merged.retain(|k, _| manifest.secrets.iter().any(|s| &s.name == k));
    Ok(merged)
}

/// Why a plugin refuses settings (after they were well-formed); for the admin.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A URL setting that names where the plugin connects is not an https URL on 443.
    #[error("`{key}` {problem}.")]
    UrlSetting {
        /// The setting.
        key: String,
        /// What is wrong.
        problem: UrlError,
    },
    /// A URL setting whose host is not public.
    #[error("`{key}` cannot be used: {problem}. Integrations may only reach public hosts.")]
    Unreachable {
        /// The setting.
        key: String,
        /// Why.
        problem: DestinationError,
    },
    /// A list of named secrets that does not parse.
    #[error("`{key}` {problem}.")]
    NamedSecrets {
        /// The secret.
        key: String,
        /// What is wrong.
        problem: NamedSecretsError,
    },
    /// The plugin's own `validate-config` said no, or failed while checking.
    #[error("{0}")]
    ByPlugin(SettingsRejected),
}

/// The settings a plugin sees: the server's, plus the server's ID if the manifest asks.
pub fn plugin_config(
    manifest: &Manifest,
    guild_id: u64,
    config: impl Iterator<Item = (String, String)>,
) -> HashMap<String, String> {
    let mut config: HashMap<String, String> = config.collect();
    if manifest.receives_server_id {
        config.insert(manifest::SERVER_ID_KEY.to_owned(), guild_id.to_string());
    }
    config
}

impl Integrations {
    /// Checks settings an admin is saving: each URL setting that names where the plugin may
    /// connect (an https URL on port 443 whose host resolves to public addresses only), then
    /// the plugin's own `validate-config`.
    #[tracing::instrument(skip_all, fields(guild_id = guild_id, plugin = %available.manifest().id))]
    pub async fn validate_settings(
        &self,
        available: &Available,
        guild_id: u64,
        config: &BTreeMap<String, String>,
        secrets: &HashMap<String, String>,
    ) -> Result<(), Refused> {
        let manifest = available.manifest();
        for host in manifest.hosts().unwrap_or_default() {
            let AllowedHost::FromConfig(key) = host else {
                continue;
            };
            let Some(value) = config.get(&key) else {
                continue;
            };
            let name =
                manifest::url_setting_host(value).map_err(|problem| Refused::UrlSetting {
                    key: key.clone(),
                    problem,
                })?;
            self.runtime()
                .egress()
                .check_destination(&name)
                .await
                .map_err(|problem| Refused::Unreachable { key, problem })?;
        }
        for spec in manifest.secrets.iter().filter(|s| s.named) {
            if let Some(value) = secrets.get(&spec.name) {
                named_secrets(value).map_err(|problem| Refused::NamedSecrets {
                    key: spec.name.clone(),
                    problem,
                })?;
            }
        }
        let config = plugin_config(manifest, guild_id, config.clone().into_iter());
        self.runtime()
            .validate_config_in(guild_id, &available.plugin, config, secrets.clone())
            .await
            .map_err(Refused::ByPlugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn manifest() -> Manifest {
        toml::from_str(
            "id = \"x\"\nname = \"X\"\nversion = \"1.0.0\"\ndescription = \"d\"\nauthor = \"a\"\n\
             privacy_policy = \"https://x.example/privacy\"\ndata_use = \"d\"\n\
             allowed_hosts = [\"api.example.com\"]\n\
             [[secrets]]\nname = \"token\"\ndescription = \"t\"\nhost = \"api.example.com\"\nrequired = true\n",
        )
        .expect("a manifest")
    }

    fn row(sealed: Option<String>) -> GuildIntegration {
        GuildIntegration {
            guild_id: 1,
            plugin_id: "x".to_owned(),
            enabled: true,
            config: BTreeMap::new(),
            sealed_secrets: sealed,
            recent_failures: 0,
            recent_successes: 0,
            failing_since: 0,
            disabled_reason: None,
            updated_by: 0,
            updated_at: 0,
        }
    }

    fn to(guild_id: u64, host: &str, version: Option<&str>) -> Destination {
        Destination {
            guild_id,
            plugin_id: "x".to_owned(),
            version: version.map(str::to_owned),
            hosts: BTreeMap::from([("token".to_owned(), host.to_owned())]),
        }
    }

    #[test]
    fn secrets_open_only_for_their_row_and_say_why_not() {
        let secrets = Secrets::new(SecretsKey::parse(KEY).ok());
        let plain = HashMap::from([("token".to_owned(), "hunter2".to_owned())]);
        let here = to(1, "api.example.com", None);
        let sealed = secrets.seal(&here, &plain).expect("sealed");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            secrets
                .open(&row(Some(sealed.clone())), &here)
                .expect("opens"),
            plain
        );
        assert!(matches!(
            secrets.open(&row(Some(sealed.clone())), &to(2, "api.example.com", None)),
            Err(SecretsError::Unsealable(_))
        ));
        assert!(matches!(
            Secrets::new(None).open(&row(Some(sealed.clone())), &here),
            Err(SecretsError::NoKey)
        ));
        assert_eq!(
            secrets.open(&row(None), &here).expect("none"),
            HashMap::new()
        );
    }

    #[test]
    fn a_secret_opens_only_for_the_host_and_upload_it_was_entered_for() {
        let secrets = Secrets::new(SecretsKey::parse(KEY).ok());
        let plain = HashMap::from([("token".to_owned(), "hunter2".to_owned())]);
        let sealed = secrets
            .seal(&to(1, "api.example.com", None), &plain)
            .expect("sealed");
        // The settings now send it elsewhere: refused, and the admin is told why.
        let moved = secrets
            .open(&row(Some(sealed.clone())), &to(1, "evil.example.net", None))
            .expect_err("moved");
        assert!(matches!(moved, SecretsError::Moved { .. }), "{moved:?}");
        assert!(
            moved.to_string().contains("api.example.com")
                && moved.to_string().contains("evil.example.net"),
            "{moved}"
        );
        // Rewriting the host in the clear part does not help: the sealed value is bound to it.
        let forged = sealed.replace("api.example.com", "evil.example.net");
        assert!(matches!(
            secrets.open(&row(Some(forged)), &to(1, "evil.example.net", None)),
            Err(SecretsError::Unsealable(_))
        ));
        // A server's upload: a new version does not inherit the old one's secrets.
        let v1 = to(1, "api.example.com", Some("aa"));
        let sealed = secrets.seal(&v1, &plain).expect("sealed");
        assert_eq!(
            secrets
                .open(&row(Some(sealed.clone())), &v1)
                .expect("opens"),
            plain
        );
        assert!(matches!(
            secrets.open(
                &row(Some(sealed.clone())),
                &to(1, "api.example.com", Some("bb"))
            ),
            Err(SecretsError::OtherVersion { .. })
        ));
        let forged = sealed.replace("\"aa\"", "\"bb\"");
        assert!(matches!(
            secrets.open(&row(Some(forged)), &to(1, "api.example.com", Some("bb"))),
            Err(SecretsError::Unsealable(_))
        ));
    }

    #[test]
    fn secrets_sealed_before_hosts_are_resealed_for_the_settings_of_the_day() {
        let secrets = Secrets::new(SecretsKey::parse(KEY).ok());
        let key = secrets.key().expect("a key");
        let plain = HashMap::from([("token".to_owned(), "hunter2".to_owned())]);
        let legacy = key.seal(
            &secrets_context(1, "x"),
            &serde_json::to_vec(&plain).expect("json"),
        );
        let here = to(1, "api.example.com", None);
        assert!(matches!(
            secrets.open(&row(Some(legacy.clone())), &here),
            Err(SecretsError::Legacy)
        ));
        let resealed = secrets
            .reseal_legacy(&row(Some(legacy)), &here)
            .expect("a legacy row")
            .expect("resealed");
        assert_eq!(
            secrets
                .open(&row(Some(resealed.clone())), &here)
                .expect("opens"),
            plain
        );
        assert!(secrets.reseal_legacy(&row(Some(resealed)), &here).is_none());
    }

    #[test]
    fn a_kept_secret_that_does_not_open_is_reported_not_dropped() {
        let m = manifest();
        let empty = HashMap::from([("token".to_owned(), String::new())]);
        let err = merge_secrets(&m, Err(SecretsError::NoKey), &empty).expect_err("refused");
        assert!(matches!(err, InputError::StoredSecrets { .. }), "{err:?}");
        // Entered again, the broken stored value no longer matters.
        let entered = HashMap::from([("token".to_owned(), "new".to_owned())]);
        assert_eq!(
            merge_secrets(&m, Err(SecretsError::NoKey), &entered).expect("saved"),
            entered
        );
        let stored = HashMap::from([("token".to_owned(), "old".to_owned())]);
        assert_eq!(
            merge_secrets(&m, Ok(stored.clone()), &empty).expect("kept"),
            stored
        );
    }
}
