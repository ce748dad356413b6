//! The `tessera` command line: `run` and `migrate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{open_store, shutdown_signal, Application, StartupError};

/// Tessera: a Discord ticket bot with sandboxed integrations.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about = None,
    after_help = "Settings come from tessera.toml (or --config) and TESSERA_* environment variables:\n  \
                  TESSERA_DISCORD_TOKEN (required for run), TESSERA_DISCORD_API_BASE, TESSERA_DATABASE_URL,\n  \
                  TESSERA_DATABASE_MAX_CONNECTIONS, TESSERA_DATA_DIR, TESSERA_LOG. See README.md."
)]
pub struct Cli {
    /// TOML configuration file (default: ./tessera.toml if it exists). Environment variables
    /// TESSERA_* override it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to Discord and serve tickets (needs TESSERA_DISCORD_TOKEN); applies migrations first.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Tools for plugin authors: inspect, run and pack WebAssembly plugins.
    #[command(subcommand)]
    Plugin(crate::plugin_cli::PluginCommand),
}

/// Parses the command line, runs it, and maps failures to exit codes: 2 for anything the
/// operator must fix before starting (one line on stderr), 1 for a failure while running.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Plugin tools need no bot configuration.
    let command = match cli.command {
        Command::Plugin(plugin) if !crate::plugin_cli::needs_settings(&plugin) => {
            return crate::plugin_cli::run(plugin)
        }
        other => other,
    };
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => return startup_failure(&StartupError::Config(err)),
    };
    crate::telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Migrate => match open_store(&settings).await {
                Ok(store) => {
                    store.close().await;
                    eprintln!(
                        "migrations applied to {}",
                        crate::store::redact(&settings.database_url())
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => startup_failure(&StartupError::Database(err)),
            },
            Command::Plugin(crate::plugin_cli::PluginCommand::Install { file }) => {
                crate::plugin_cli::install(&settings, &file).await
            }
            // Every other plugin command returned before the settings were loaded.
            Command::Plugin(_) => ExitCode::from(2),
            Command::Run => {
                let app = match Application::build(settings).await {
                    Ok(app) => app,
                    Err(err) => return startup_failure(&err),
                };
                match app.run_until_stopped(shutdown_signal()).await {
                    Ok(()) => ExitCode::SUCCESS,
                    // Something the operator must fix before starting again.
                    Err(err) if err.downcast_ref::<StartupError>().is_some() => {
                        match err.downcast_ref::<StartupError>() {
                            Some(startup) => startup_failure(startup),
                            None => ExitCode::from(2),
                        }
                    }
                    Err(err) => {
                        eprintln!("error: {err}");
                        ExitCode::from(1)
                    }
                }
            }
        }
    })
}

fn startup_failure(err: &StartupError) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(2)
}
