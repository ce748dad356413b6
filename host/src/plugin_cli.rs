//! `tessera plugin …`: the plugin author's tools — inspect, run once in the sandbox, pack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::plugins::compile_cache::CacheLocation;
use crate::plugins::component::{inspect, pack, Inspection, WIT_PACKAGE, WIT_VERSION};
use crate::plugins::policy::SandboxPolicy;
use crate::plugins::runtime::{LoadError, Runtime};

/// Plugin subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check a plugin as `install` and uploads do (file, manifest, imports, compiling, linking,
    /// the handler's types) and show its manifest, WIT version and imports, without running
    /// it. Exit 0: usable; 2: unusable, with the reason.
    Inspect {
        /// The plugin (a wasm32-wasip2 component with an embedded manifest).
        file: PathBuf,
    },
    /// Run the plugin's ticket-open handler once, in the same sandbox and with the same
    /// defaults as the bot, and print one JSON object. Exit 0: placeholders; 1: a contained
    /// plugin failure; 2: unusable input. The compiled code is cached per user, so running the
    /// same file again does not compile it again (`compile_cache` in the JSON: hit, miss, ...).
    Run {
        /// The plugin file.
        file: PathBuf,
        /// The Discord user ID to pass as the ticket opener.
        #[arg(long, value_name = "ID")]
        user: String,
        /// A config value, `key=value` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// A secret, `name=value` (repeatable); injected by the host, never visible to the plugin.
        #[arg(long = "secret", value_name = "NAME=VALUE")]
        secret: Vec<String>,
        /// Where compiled code is cached between runs [default: $XDG_CACHE_HOME/tessera/compile-cache,
        /// else ~/.cache/tessera/compile-cache]; its key is kept beside it, in DIR.key.
        #[arg(long, value_name = "DIR", env = "TESSERA_COMPILE_CACHE")]
        compile_cache: Option<PathBuf>,
        /// Compile in memory: neither read nor write the compile cache.
        #[arg(long)]
        no_compile_cache: bool,
    },
    /// Validate a plugin and install it for every server (stored in the data directory with its
    /// sha256, recorded in the database). Uses the bot's configuration.
    Install {
        /// The plugin file.
        file: PathBuf,
    },
    /// Internal: the bot runs this to compile a server's upload in a limited process of its
    /// own. Reads a component on stdin, writes its compiled form on stdout.
    #[command(hide = true)]
    CompileWorker {
        /// CPU seconds this process may use.
        #[arg(long)]
        cpu_secs: u64,
        /// Bytes of data (heap) this process may allocate.
        #[arg(long)]
        memory_bytes: u64,
    },
    /// Embed a manifest into a component built in any language.
    Pack {
        /// The component.
        component: PathBuf,
        /// The manifest (TOML).
        #[arg(long, value_name = "PLUGIN.TOML")]
        manifest: PathBuf,
        /// Where to write the plugin.
        #[arg(short = 'o', long = "output", value_name = "PLUGIN.WASM")]
        output: PathBuf,
    },
}

fn unusable(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| unusable(format!("cannot read {}: {e}", path.display())))
}

fn pairs(items: &[String], what: &str) -> Result<HashMap<String, String>, ExitCode> {
    let mut out = HashMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            return Err(unusable(format!("--{what} {item:?} must be KEY=VALUE")));
        };
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Whether this subcommand needs the bot's configuration (database, data directory).
pub fn needs_settings(command: &PluginCommand) -> bool {
    matches!(command, PluginCommand::Install { .. })
}

/// `tessera plugin install FILE`: validates like the bot will (inspect, compile, link), stores
/// the file as `<data_dir>/plugins/<sha256>.wasm` and records it.
pub async fn install(settings: &crate::config::Settings, file: &Path) -> ExitCode {
    let bytes = match read(file) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let sandbox = match Runtime::new(SandboxPolicy::from_settings(settings)) {
        // The bot's cache: it will not compile this file again at start.
        Ok(s) => s.with_compile_cache(CacheLocation::in_data_dir(&settings.data_dir)),
        Err(e) => return unusable(format!("cannot start the plugin runtime: {e:#}")),
    };
    let store = match crate::startup::open_store(settings).await {
        Ok(s) => s,
        Err(e) => return unusable(format!("database.url (TESSERA_DATABASE_URL): {e}")),
    };
    let installed =
        crate::integrations::install_file(&settings.data_dir, &store, &sandbox, &bytes).await;
    store.close().await;
    match installed {
        Ok((plugin, new)) => {
            let inspection = &plugin.inspection;
            let manifest = &inspection.manifest;
            println!(
                "{} {} {} ({}): {} MiB memory, {:?} CPU per event; may call {}",
                if new {
                    "installed"
                } else {
                    "already installed:"
                },
                manifest.id,
                manifest.version,
                inspection.sha256,
                plugin.granted.memory >> 20,
                plugin.granted.cpu,
                if manifest.allowed_hosts.is_empty() {
                    "no hosts".to_owned()
                } else {
                    manifest.allowed_hosts.join(", ")
                }
            );
            ExitCode::SUCCESS
        }
        Err(crate::integrations::InstallError::Invalid(e)) => {
            unusable(format!("{}: {e}", file.display()))
        }
        Err(e) => unusable(e.to_string()),
    }
}

/// What `inspect` shows about a plugin that passed every check.
fn print_inspection(i: &Inspection) {
    let m = &i.manifest;
    println!("{} {} ({})", m.name, m.version, m.id);
    println!("  {}", m.description);
    println!("  author:         {}", m.author);
    println!("  privacy policy: {}", m.privacy_policy);
    println!("  data use:       {}", m.data_use);
    let hosts = if m.allowed_hosts.is_empty() {
        "none".to_owned()
    } else {
        m.allowed_hosts.join(", ")
    };
    println!("  may call:       {hosts} (https only)");
    for c in &m.config {
        println!(
            "  config:         {}{} — {}",
            c.name,
            if c.required { " (required)" } else { "" },
            c.description
        );
    }
    if m.receives_server_id {
        println!("  receives:       the opener's user ID and the server's ID");
    }
    for s in &m.secrets {
        let how = match (&s.header, s.named) {
            (Some(header), _) => format!("{header} header"),
            (None, true) => "NAME = value lines, each {{secret.NAME}}".to_owned(),
            (None, false) => format!("{{{{secret.{}}}}} in headers", s.name),
        };
        println!(
            "  secret:         {} → {how} on {} — {}",
            s.name, s.host, s.description
        );
    }
    println!("  WIT:            {WIT_PACKAGE}@{WIT_VERSION}");
    println!("  imports:        {}", i.imports.join(", "));
    println!("  sha256:         {}", i.sha256);
}

/// Runs a plugin subcommand that needs no configuration.
pub fn run(command: PluginCommand) -> ExitCode {
    match command {
        PluginCommand::Install { .. } => unusable("install needs the bot's configuration"),
        PluginCommand::CompileWorker {
            cpu_secs,
            memory_bytes,
        } => crate::plugins::compiler::worker_main(cpu_secs, memory_bytes),
        PluginCommand::Inspect { file } => {
            let bytes = match read(&file) {
                Ok(b) => b,
                Err(code) => return code,
            };
            // The checks `install` and an upload make (inspect, compile, link, the handler's
            // types), so a file this accepts is one the bot will run. Compiled through the
            // per-user compile cache, like `run`, so checking a large plugin again is fast.
            let sandbox = match Runtime::new(SandboxPolicy::default()) {
                Ok(s) => match CacheLocation::per_user() {
                    Some(location) => s.with_compile_cache(location),
                    None => s,
                },
                Err(e) => return unusable(format!("cannot start the plugin runtime: {e:#}")),
            };
            match sandbox.load(&bytes) {
                Ok(plugin) => {
                    print_inspection(&plugin.inspection);
                    ExitCode::SUCCESS
                }
                Err(err) => unusable(format!("{}: {err}", file.display())),
            }
        }
        PluginCommand::Pack {
            component,
            manifest,
            output,
        } => {
            let bytes = match read(&component) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let text = match std::fs::read_to_string(&manifest) {
                Ok(t) => t,
                Err(e) => return unusable(format!("cannot read {}: {e}", manifest.display())),
            };
            let packed = match pack(&bytes, &text) {
                Ok(p) => p,
                Err(err) => return unusable(format!("{}: {err}", component.display())),
            };
            if let Err(err) = inspect(&packed) {
                return unusable(format!("{}: {err}", component.display()));
            }
            match std::fs::write(&output, packed) {
                Ok(()) => {
                    eprintln!("wrote {}", output.display());
                    ExitCode::SUCCESS
                }
                Err(e) => unusable(format!("cannot write {}: {e}", output.display())),
            }
        }
        PluginCommand::Run {
            file,
            user,
            config,
            secret,
            compile_cache,
            no_compile_cache,
        } => {
            let Ok(user_id) = user.trim().parse::<u64>() else {
                return unusable(format!(
                    "--user {user:?} is not a Discord user ID (a number)"
                ));
            };
            if user_id == 0 {
                return unusable("--user must not be 0");
            }
            let (config, secrets) = match (pairs(&config, "config"), pairs(&secret, "secret")) {
                (Ok(c), Ok(s)) => (c, s),
                (Err(code), _) | (_, Err(code)) => return code,
            };
            let cache = match (no_compile_cache, compile_cache) {
                (true, _) => None,
                (false, Some(dir)) => match CacheLocation::new(dir) {
                    Ok(location) => Some(location),
                    Err(e) => return unusable(format!("--compile-cache: {e}")),
                },
                (false, None) => CacheLocation::per_user(),
            };
            let bytes = match read(&file) {
                Ok(b) => b,
                Err(code) => return code,
            };
            // Why the compile cache is not used, if it is not; nothing else is logged.
            crate::telemetry::init("tessera::plugins::compile_cache=warn");
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return unusable(format!("cannot start the async runtime: {e}")),
            };
            runtime.block_on(async move {
                let sandbox = match Runtime::new(SandboxPolicy::default()) {
                    Ok(s) => match cache {
                        Some(location) => s.with_compile_cache(location),
                        None => s,
                    },
                    Err(e) => return unusable(format!("cannot start the plugin runtime: {e:#}")),
                };
                let plugin = match sandbox.load(&bytes) {
                    Ok(p) => p,
                    Err(LoadError::Inspect(e)) => {
                        return unusable(format!("{}: {e}", file.display()))
                    }
                    Err(e) => return unusable(format!("{}: {e}", file.display())),
                };
                let m = &plugin.inspection.manifest;
                let compiled = plugin.cache.as_str();
                // What the bot does when an admin saves settings: the plugin checks them first.
                if let Err(problem) = sandbox
                    .validate_config(&plugin, config.clone(), secrets.clone())
                    .await
                {
                    let body = json!({"plugin": m.id, "version": m.version,
                        "error": {"kind": "settings", "message": problem.to_string()},
                        "compile_cache": compiled});
                    println!("{body}");
                    return ExitCode::from(1);
                }
                let outcome = sandbox
                    .on_ticket_opened(&plugin, user_id, config, secrets)
                    .await;
                let (body, code) = match outcome.result {
                    Ok(placeholders) => {
                        let map: serde_json::Map<String, serde_json::Value> = placeholders
                            .into_iter()
                            .map(|(k, v)| (k, json!(v)))
                            .collect();
                        (
                            json!({"plugin": m.id, "version": m.version, "placeholders": map}),
                            ExitCode::SUCCESS,
                        )
                    }
                    // The object names the plugin and version already; the message need not.
                    Err(err) => (
                        json!({"plugin": m.id, "version": m.version,
                               "error": {"kind": err.failure.kind(), "message": err.failure.to_string()}}),
                        ExitCode::from(1),
                    ),
                };
                let mut body = body;
                body["log"] = json!(outcome.log);
                body["http_requests"] = json!(outcome.requests);
                body["compile_cache"] = json!(compiled);
                println!("{body}");
                code
            })
        }
    }
}
