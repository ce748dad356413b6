//! Typed, layered configuration: an optional TOML file under `TESSERA_*` environment variables.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The public Discord API; anything else means a REST proxy or the test emulator.
pub const DISCORD_API: &str = "https://discord.com";

/// Where Discord serves message attachments; uploaded plugins are fetched from here only.
pub const DISCORD_CDN: &str = "https://cdn.discordapp.com";

/// Everything the bot reads from its environment, validated.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Discord connection settings.
    pub discord: DiscordSettings,
    /// Database settings.
    pub database: DatabaseSettings,
    /// Where the SQLite file (and later, plugin caches) live.
    pub data_dir: PathBuf,
    /// `tracing` filter directive, e.g. `info` or `tessera=debug,serenity=warn`.
    pub log: String,
    /// Integration (plugin) settings.
    #[serde(default)]
    pub plugins: PluginSettings,
    /// Transcript settings.
    #[serde(default)]
    pub transcripts: TranscriptSettings,
    /// Servers the bot is in.
    #[serde(default)]
    pub servers: ServerSettings,
    /// Ticket defaults.
    #[serde(default)]
    pub tickets: TicketSettings,
}

/// Defaults for every server's tickets; a server may set its own.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TicketSettings {
    /// Seconds a member waits between opening two tickets in a server (0: no wait), unless
    /// the server sets its own with `/setup open_cooldown`.
    pub open_cooldown_secs: u32,
}

/// The servers the bot is in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Seconds after connecting before servers that have data here but were missing from
    /// Discord's READY are checked with Discord again and, if the bot was removed from them
    /// while it was offline, their data deleted.
    pub removal_grace_secs: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            removal_grace_secs: 600,
        }
    }
}

/// Transcripts of closed tickets: the key that seals them, what is kept, for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TranscriptSettings {
    /// 32 random bytes, base64, sealing transcripts at rest. Without it, no server can turn
    /// transcripts on, and the bot does not ask Discord for message content.
    pub key: Option<SecretString>,
    /// Earlier keys, still used to open transcripts sealed with them (rotation).
    pub old_keys: Vec<SecretString>,
    /// The largest attachment (or avatar) kept with a transcript, bytes.
    pub max_file_bytes: u64,
    /// The most bytes of files kept with one transcript.
    pub max_total_bytes: u64,
    /// Days a transcript is kept at most; a server may choose fewer.
    pub retention_days: u32,
    /// Days a closed ticket's record (number, opener, times, reason) is kept after closing.
    pub closed_ticket_days: u32,
    /// Minutes between two runs of the retention purge (it also runs at start).
    pub purge_interval_mins: u32,
}

impl Default for TranscriptSettings {
    fn default() -> Self {
        TranscriptSettings {
            key: None,
            old_keys: Vec::new(),
            max_file_bytes: 8 << 20,
            max_total_bytes: 50 << 20,
            retention_days: 90,
            closed_ticket_days: 365,
            purge_interval_mins: 60,
        }
    }
}

/// Integration settings. The sandbox limits default to DESIGN.md's; an operator may tighten
/// them, and loosening one is logged as a warning at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PluginSettings {
    /// 32 random bytes, base64 (`openssl rand -base64 32`), sealing integration secrets at rest.
    /// Without it, integrations that need secrets cannot be enabled.
    pub secrets_key: Option<SecretString>,
    /// Failures that are the plugin's or its settings' fault, within one failure window, after
    /// which a plugin is disabled for that server (its admins are told) — if it also failed
    /// more often than it worked in that window.
    pub disable_after_failures: u32,
    /// How long a failure window stays open after a plugin's first counted failure, minutes.
    pub failure_window_mins: u32,
    /// The most integrations one server may have enabled at once.
    pub max_enabled_per_server: u32,
    /// Ceiling on a plugin's linear memory, MiB (a manifest may ask for up to this).
    pub max_memory_mib: u32,
    /// Ceiling on a plugin's CPU time per event, milliseconds.
    pub max_cpu_ms: u32,
    /// Wall-clock limit for one plugin event, milliseconds; a ticket never waits longer.
    pub event_timeout_ms: u32,
    /// Plugin events running at once, every server together (each holds one sandbox slot).
    pub max_concurrent_events: u32,
    /// Plugin events one server may have running at once; the rest of its events wait (within
    /// their deadline), so no server can hold every slot.
    pub max_concurrent_events_per_server: u32,
    /// TEST ONLY: let plugins reach plain-http loopback servers (never private, link-local or
    /// metadata addresses). Off by default; only the test suite turns it on, in a file or in code.
    pub allow_loopback_for_tests: bool,
    /// TEST ONLY: fixed name resolutions for plugin hosts, honoured only with
    /// `allow_loopback_for_tests`.
    pub test_resolve: std::collections::HashMap<String, std::net::IpAddr>,
    /// TEST ONLY: host name -> `http://127.0.0.1:PORT`; an `https://` request to that host that
    /// passes every sandbox rule goes to this loopback server instead. Needs
    /// `allow_loopback_for_tests`.
    pub test_origins: std::collections::HashMap<String, String>,
    /// Whether servers' admins may upload their own plugins (`/integrations upload`).
    pub uploads: bool,
    /// The largest plugin file an admin may upload, bytes.
    pub upload_max_bytes: u64,
    /// Uploads one server may start per hour (each counts, used or refused).
    pub uploads_per_hour: u32,
    /// Seconds of CPU (and of wall-clock time) compiling one uploaded plugin may take.
    pub compile_secs: u32,
    /// Memory compiling one uploaded plugin may allocate, MiB.
    pub compile_memory_mib: u32,
    /// The `tessera` binary that compiles uploads in a worker process (`tessera plugin
    /// compile-worker`); by default the running binary itself.
    pub compile_worker: Option<std::path::PathBuf>,
}

// The sandbox limits here must be `SandboxPolicy::default()`'s: tests run the library default,
// production runs these, and `policy::tests::the_library_default_is_the_production_default`
// fails if they part.
impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            secrets_key: None,
            disable_after_failures: 5,
            failure_window_mins: 60,
            max_enabled_per_server: 8,
            max_memory_mib: 64,
            max_cpu_ms: 500,
            event_timeout_ms: 3000,
            max_concurrent_events: 64,
            max_concurrent_events_per_server: 8,
            allow_loopback_for_tests: false,
            test_resolve: std::collections::HashMap::new(),
            test_origins: std::collections::HashMap::new(),
            uploads: true,
            upload_max_bytes: 5 * 1024 * 1024,
            uploads_per_hour: 5,
            compile_secs: 60,
            compile_memory_mib: 1024,
            compile_worker: None,
        }
    }
}

/// Discord connection settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscordSettings {
    /// The bot token; required by `tessera run` only.
    pub token: Option<SecretString>,
    /// Base URL for REST and the gateway URL lookup (a REST proxy, or the test emulator).
    pub api_base: String,
    /// The origin attachments are downloaded from (`/integrations upload`); only URLs under it
    /// are fetched. Tests point it at the emulator.
    pub cdn_base: String,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; empty means a SQLite file in the data directory.
    pub url: Option<String>,
    /// Upper bound on pooled connections.
    pub max_connections: u32,
}

/// A setting that is missing or wrong, named the way the operator wrote it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// e.g. `discord.token (TESSERA_DISCORD_TOKEN)`.
    pub setting: String,
    /// What is wrong, in a few words.
    pub problem: String,
}

#[derive(Serialize)]
struct Defaults {
    discord: DefaultDiscord,
    database: DefaultDatabase,
    data_dir: PathBuf,
    log: String,
}
#[derive(Serialize)]
struct DefaultDiscord {
    api_base: String,
    cdn_base: String,
}
#[derive(Serialize)]
struct DefaultDatabase {
    max_connections: u32,
}

/// The environment variables we read, and the setting each one maps to.
const ENV_KEYS: &[(&str, &str)] = &[
    ("DISCORD_TOKEN", "discord.token"),
    ("DISCORD_API_BASE", "discord.api_base"),
    ("DISCORD_CDN_BASE", "discord.cdn_base"),
    ("DATABASE_URL", "database.url"),
    ("DATABASE_MAX_CONNECTIONS", "database.max_connections"),
    ("DATA_DIR", "data_dir"),
    ("LOG", "log"),
    ("PLUGINS_SECRETS_KEY", "plugins.secrets_key"),
    (
        "PLUGINS_DISABLE_AFTER_FAILURES",
        "plugins.disable_after_failures",
    ),
    ("PLUGINS_FAILURE_WINDOW_MINS", "plugins.failure_window_mins"),
    (
        "PLUGINS_MAX_ENABLED_PER_SERVER",
        "plugins.max_enabled_per_server",
    ),
    ("PLUGINS_MAX_MEMORY_MIB", "plugins.max_memory_mib"),
    ("PLUGINS_MAX_CPU_MS", "plugins.max_cpu_ms"),
    ("PLUGINS_EVENT_TIMEOUT_MS", "plugins.event_timeout_ms"),
    ("PLUGINS_UPLOADS", "plugins.uploads"),
    ("PLUGINS_UPLOAD_MAX_BYTES", "plugins.upload_max_bytes"),
    ("PLUGINS_UPLOADS_PER_HOUR", "plugins.uploads_per_hour"),
    (
        "PLUGINS_MAX_CONCURRENT_EVENTS",
        "plugins.max_concurrent_events",
    ),
    (
        "PLUGINS_MAX_CONCURRENT_EVENTS_PER_SERVER",
        "plugins.max_concurrent_events_per_server",
    ),
    ("PLUGINS_COMPILE_SECS", "plugins.compile_secs"),
    ("PLUGINS_COMPILE_MEMORY_MIB", "plugins.compile_memory_mib"),
    ("PLUGINS_COMPILE_WORKER", "plugins.compile_worker"),
    ("SERVERS_REMOVAL_GRACE_SECS", "servers.removal_grace_secs"),
    ("TICKETS_OPEN_COOLDOWN_SECS", "tickets.open_cooldown_secs"),
    ("TRANSCRIPTS_KEY", "transcripts.key"),
    ("TRANSCRIPTS_MAX_FILE_BYTES", "transcripts.max_file_bytes"),
    ("TRANSCRIPTS_MAX_TOTAL_BYTES", "transcripts.max_total_bytes"),
    ("TRANSCRIPTS_RETENTION_DAYS", "transcripts.retention_days"),
    (
        "TRANSCRIPTS_CLOSED_TICKET_DAYS",
        "transcripts.closed_ticket_days",
    ),
    (
        "TRANSCRIPTS_PURGE_INTERVAL_MINS",
        "transcripts.purge_interval_mins",
    ),
];

fn env_name(setting: &str) -> Option<&'static str> {
    ENV_KEYS
        .iter()
        .find(|(_, key)| *key == setting)
        .map(|(env, _)| *env)
}

fn describe(setting: &str) -> String {
    match env_name(setting) {
        Some(env) => format!("{setting} (TESSERA_{env})"),
        None => setting.to_owned(),
    }
}

impl Settings {
    /// Loads defaults, then `config_file` (or `./tessera.toml` when present), then `TESSERA_*` variables.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Defaults {
            discord: DefaultDiscord {
                api_base: DISCORD_API.to_owned(),
                cdn_base: DISCORD_CDN.to_owned(),
            },
            database: DefaultDatabase {
                max_connections: 10,
            },
            data_dir: PathBuf::from("data"),
            log: "info,serenity=warn,sqlx=warn".to_owned(),
        }));
        match config_file {
            Some(path) if !path.is_file() => {
                return Err(ConfigError {
                    setting: "--config".into(),
                    problem: format!("{} does not exist or is not a file", path.display()),
                })
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("tessera.toml").is_file() => {
                figment = figment.merge(Toml::file_exact("tessera.toml"))
            }
            None => {}
        }
        let env = Env::prefixed("TESSERA_")
            .filter_map(|key| {
                ENV_KEYS
                    .iter()
                    .find(|(env, _)| key.as_str().eq_ignore_ascii_case(env))
                    .map(|(_, setting)| (*setting).into())
            })
            .split(".");
        figment = figment.merge(env);
        let settings: Settings = figment.extract().map_err(|err| {
            let setting = err.path.join(".");
            ConfigError {
                setting: if setting.is_empty() {
                    "configuration".into()
                } else {
                    describe(&setting)
                },
                problem: err.kind.to_string(),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let base = self.discord.api_base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.contains(' ') {
            return Err(ConfigError {
                setting: describe("discord.api_base"),
                problem: format!("`{base}` is not an http(s) URL"),
            });
        }
        if let Some(url) = &self.database.url {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(ConfigError {
                    setting: describe("database.url"),
                    problem: "must start with sqlite:, postgres:// or postgresql://".into(),
                });
            }
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError {
                setting: describe("database.max_connections"),
                problem: "must be at least 1".into(),
            });
        }
        if let Some(key) = &self.plugins.secrets_key {
            use secrecy::ExposeSecret;
            if let Err(problem) = crate::secrets::SecretsKey::parse(key.expose_secret()) {
                return Err(ConfigError {
                    setting: describe("plugins.secrets_key"),
                    problem: problem.to_string(),
                });
            }
        }
        if let Some(key) = &self.transcripts.key {
            use secrecy::ExposeSecret;
            let old: Vec<String> = self
                .transcripts
                .old_keys
                .iter()
                .map(|k| k.expose_secret().to_owned())
                .collect();
            if let Err((which, problem)) =
                crate::transcripts::seal::TranscriptKeys::parse(key.expose_secret(), &old)
            {
                return Err(ConfigError {
                    setting: match which {
                        None => describe("transcripts.key"),
                        Some(i) => format!("transcripts.old_keys[{i}]"),
                    },
                    problem: problem.to_string(),
                });
            }
        } else if !self.transcripts.old_keys.is_empty() {
            return Err(ConfigError {
                setting: "transcripts.old_keys".into(),
                problem: "needs transcripts.key (the current key) as well".into(),
            });
        }
        if self.transcripts.retention_days == 0
            || self.transcripts.max_total_bytes < self.transcripts.max_file_bytes
        {
            return Err(ConfigError {
                setting: describe("transcripts.retention_days"),
                problem:
                    "retention_days must be at least 1, and max_total_bytes at least max_file_bytes"
                        .into(),
            });
        }
        for (setting, value) in [
            (
                "plugins.disable_after_failures",
                self.plugins.disable_after_failures,
            ),
            (
                "plugins.failure_window_mins",
                self.plugins.failure_window_mins,
            ),
            (
                "plugins.max_enabled_per_server",
                self.plugins.max_enabled_per_server,
            ),
            ("plugins.max_memory_mib", self.plugins.max_memory_mib),
            ("plugins.max_cpu_ms", self.plugins.max_cpu_ms),
            ("plugins.event_timeout_ms", self.plugins.event_timeout_ms),
            ("plugins.uploads_per_hour", self.plugins.uploads_per_hour),
            ("plugins.compile_secs", self.plugins.compile_secs),
            (
                "plugins.max_concurrent_events",
                self.plugins.max_concurrent_events,
            ),
            (
                "plugins.max_concurrent_events_per_server",
                self.plugins.max_concurrent_events_per_server,
            ),
            (
                "plugins.compile_memory_mib",
                self.plugins.compile_memory_mib,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError {
                    setting: describe(setting),
                    problem: "must be at least 1".into(),
                });
            }
        }
        if self.plugins.max_concurrent_events_per_server > self.plugins.max_concurrent_events {
            return Err(ConfigError {
                setting: describe("plugins.max_concurrent_events_per_server"),
                problem: "must not be more than plugins.max_concurrent_events".into(),
            });
        }
        for (setting, set) in [
            (
                "plugins.test_resolve",
                !self.plugins.test_resolve.is_empty(),
            ),
            (
                "plugins.test_origins",
                !self.plugins.test_origins.is_empty(),
            ),
        ] {
            if set && !self.plugins.allow_loopback_for_tests {
                return Err(ConfigError {
                    setting: setting.into(),
                    problem: "is a test-only setting and needs plugins.allow_loopback_for_tests"
                        .into(),
                });
            }
        }
        for (host, origin) in &self.plugins.test_origins {
            let loopback = url::Url::parse(origin).ok().is_some_and(|u| {
                u.scheme() == "http"
                    && u.path() == "/"
                    && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            });
            if !loopback {
                return Err(ConfigError {
                    setting: format!("plugins.test_origins.{host}"),
                    problem: format!("`{origin}` must be http://127.x.x.x:PORT (loopback only)"),
                });
            }
        }
        if self.plugins.upload_max_bytes == 0 {
            return Err(ConfigError {
                setting: describe("plugins.upload_max_bytes"),
                problem: "must be at least 1 (set plugins.uploads = false to turn uploads off)"
                    .into(),
            });
        }
        let cdn = self.discord.cdn_base.trim_end_matches('/');
        if !(cdn.starts_with("https://") || cdn.starts_with("http://")) || cdn.contains(' ') {
            return Err(ConfigError {
                setting: describe("discord.cdn_base"),
                problem: format!("`{cdn}` is not an http(s) URL"),
            });
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return Err(ConfigError {
                setting: describe("log"),
                problem: format!("not a valid log filter: {err}"),
            });
        }
        Ok(())
    }

    /// The token, or the error `tessera run` reports when it is missing.
    pub fn require_token(&self) -> Result<&SecretString, ConfigError> {
        use secrecy::ExposeSecret;
        match &self.discord.token {
            Some(token) if !token.expose_secret().trim().is_empty() => Ok(token),
            _ => Err(ConfigError {
                setting: describe("discord.token"),
                problem: "is required to run the bot; set it to your bot's token".into(),
            }),
        }
    }

    /// The database URL in effect: the configured one, or `sqlite://<data_dir>/tessera.db`.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("tessera.db").display()),
        }
    }

    /// Whether REST goes somewhere other than Discord itself (a proxy or the emulator).
    pub fn uses_custom_api_base(&self) -> bool {
        self.discord.api_base.trim_end_matches('/') != DISCORD_API
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_file_and_use_sqlite_in_the_data_dir() {
        Jail::expect_with(|_jail| {
            let settings = Settings::load(None).expect("defaults are valid");
            assert_eq!(settings.discord.api_base, DISCORD_API);
            assert_eq!(settings.database_url(), "sqlite://data/tessera.db");
            assert!(settings.require_token().is_err());
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "tessera.toml",
                "[discord]\napi_base = \"http://file:1\"\ntoken = \"from-file\"\n",
            )?;
            jail.set_env("TESSERA_DISCORD_API_BASE", "http://127.0.0.1:9");
            jail.set_env("TESSERA_DATA_DIR", "/tmp/x");
            let settings = Settings::load(None).expect("valid");
            assert_eq!(settings.discord.api_base, "http://127.0.0.1:9");
            assert!(settings.require_token().is_ok());
            assert_eq!(settings.database_url(), "sqlite:///tmp/x/tessera.db");
            Ok(())
        });
    }

    #[test]
    fn an_unparsable_value_names_the_setting_and_its_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("TESSERA_DATABASE_MAX_CONNECTIONS", "lots");
            let err = Settings::load(None).expect_err("must fail");
            assert!(
                err.setting.contains("database.max_connections")
                    && err.setting.contains("TESSERA_DATABASE_MAX_CONNECTIONS"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_api_base_or_database_url_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("TESSERA_DISCORD_API_BASE", "discord.com");
            let err = Settings::load(None).expect_err("must fail");
            assert!(err.setting.contains("discord.api_base"), "{err}");
            jail.set_env("TESSERA_DISCORD_API_BASE", "https://discord.com");
            jail.set_env("TESSERA_DATABASE_URL", "mysql://x");
            let err = Settings::load(None).expect_err("must fail");
            assert!(err.setting.contains("database.url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn plugin_settings_are_validated_and_test_switches_are_off_by_default() {
        Jail::expect_with(|jail| {
            let settings = Settings::load(None).expect("defaults are valid");
            assert!(!settings.plugins.allow_loopback_for_tests);
            assert!(settings.plugins.test_resolve.is_empty());
            assert!(settings.plugins.secrets_key.is_none());
            assert_eq!(settings.plugins.disable_after_failures, 5);
            jail.set_env("TESSERA_PLUGINS_SECRETS_KEY", "too-short");
            let err = Settings::load(None).expect_err("must fail");
            assert!(err.setting.contains("TESSERA_PLUGINS_SECRETS_KEY"), "{err}");
            assert!(
                !err.to_string().contains("too-short"),
                "the key is not echoed: {err}"
            );
            jail.set_env(
                "TESSERA_PLUGINS_SECRETS_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            );
            assert!(Settings::load(None)
                .expect("valid")
                .plugins
                .secrets_key
                .is_some());
            jail.set_env("TESSERA_PLUGINS_EVENT_TIMEOUT_MS", "0");
            let err = Settings::load(None).expect_err("must fail");
            assert!(err.setting.contains("plugins.event_timeout_ms"), "{err}");
            jail.set_env("TESSERA_PLUGINS_EVENT_TIMEOUT_MS", "2000");
            // The test-only resolver is refused unless the test-only switch is on.
            jail.create_file(
                "tessera.toml",
                "[plugins.test_resolve]\n\"api.example.com\" = \"127.0.0.1\"\n",
            )?;
            let err = Settings::load(None).expect_err("must fail");
            assert!(err.setting.contains("plugins.test_resolve"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn test_origins_need_the_test_switch_and_a_loopback_origin() {
        Jail::expect_with(|jail| {
            assert!(Settings::load(None)
                .expect("defaults are valid")
                .plugins
                .test_origins
                .is_empty());
            let with = |switch: bool, origin: &str| {
                format!(
                    "[plugins]\nallow_loopback_for_tests = {switch}\n\
                     [plugins.test_origins]\n\"api.blox.link\" = \"{origin}\"\n"
                )
            };
            // Without the switch, even a loopback origin is refused.
            jail.create_file("tessera.toml", &with(false, "http://127.0.0.1:4000"))?;
            let err = Settings::load(None).expect_err("must fail");
            assert!(
                err.setting.contains("plugins.test_origins")
                    && err.problem.contains("allow_loopback_for_tests"),
                "{err}"
            );
            // With it, only http://127.x.x.x:PORT, nothing else.
            for origin in [
                "http://10.0.0.1:4000",
                "https://127.0.0.1:4000",
                "http://localhost:4000",
                "http://127.0.0.1:4000/path",
                "127.0.0.1:4000",
            ] {
                jail.create_file("tessera.toml", &with(true, origin))?;
                let err = Settings::load(None).expect_err(origin);
                assert!(
                    err.setting.contains("plugins.test_origins.api.blox.link")
                        && err.problem.contains("loopback only"),
                    "{origin}: {err}"
                );
            }
            jail.create_file("tessera.toml", &with(true, "http://127.0.0.1:4000"))?;
            let settings = Settings::load(None).expect("valid");
            assert_eq!(
                settings
                    .plugins
                    .test_origins
                    .get("api.blox.link")
                    .map(String::as_str),
                Some("http://127.0.0.1:4000")
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_named() {
        Jail::expect_with(|_jail| {
            let err = Settings::load(Some(Path::new("nope.toml"))).expect_err("must fail");
            assert!(err.to_string().contains("nope.toml"), "{err}");
            Ok(())
        });
    }
}
