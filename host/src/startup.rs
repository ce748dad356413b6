//! Builds the application from settings and runs it until asked to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serenity::Client;

use crate::bot::Bot;
use crate::config::{ConfigError, Settings};
use crate::discord::{http_client, intents, Handler};
use crate::integrations::Integrations;
use crate::store::{Store, StoreError, STALE_RESERVATION_MS};

/// How long shutdown waits for in-flight interactions.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the bot could not start; each names what the operator must fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database is unreachable or its migrations failed.
    #[error("database.url (TESSERA_DATABASE_URL): {0}")]
    Database(#[from] StoreError),
    /// The plugin runtime could not start.
    #[error("plugins: {0:#}")]
    Plugins(anyhow::Error),
    /// The configured API base (a REST proxy, or the emulator) did not answer the gateway lookup.
    #[error(
        "discord: cannot reach discord.api_base (TESSERA_DISCORD_API_BASE) {api_base}: {source}"
    )]
    DiscordUnreachable {
        /// The configured base.
        api_base: String,
        /// What failed.
        #[source]
        source: serenity::Error,
    },
    /// Discord refused to set up the client.
    #[error("discord: {0}")]
    Discord(#[source] serenity::Error),
    /// Discord refused the MESSAGE_CONTENT intent (gateway close 4014), which transcripts need.
    #[error("discord: Discord refused the Message Content intent, which transcripts need because transcripts.key (TESSERA_TRANSCRIPTS_KEY) is set: turn on \"Message Content Intent\" for this bot in the Discord Developer Portal (Bot page), or unset transcripts.key")]
    MessageContentRefused,
}

/// Opens the store and applies migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    let store = Store::connect(&settings.database_url(), settings.database.max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// A bot ready to connect.
pub struct Application {
    bot: Arc<Bot>,
    client: Client,
    /// Days closed tickets are kept, and how often the retention purge runs.
    retention: (u32, Duration),
}

impl Application {
    /// Checks the settings, opens the database, and prepares the Discord client.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let token = settings.require_token()?.clone();
        let store = open_store(&settings).await?;
        match store.discard_stale_reservations(STALE_RESERVATION_MS).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "removed ticket reservations a crash left behind"),
            Err(err) => return Err(err.into()),
        }
        let http = http_client(&settings, &token);
        if settings.uses_custom_api_base() {
            // serenity falls back to Discord's public gateway if this lookup fails; a proxy
            // or emulator that is down must stop us instead of sending us elsewhere.
            if let Err(err) = http.get_gateway().await {
                store.close().await;
                return Err(StartupError::DiscordUnreachable {
                    api_base: settings.discord.api_base.clone(),
                    source: err,
                });
            }
        }
        let integrations = match Integrations::load(&settings, &store).await {
            Ok(i) => Arc::new(i),
            Err(err) => {
                store.close().await;
                return Err(StartupError::Plugins(err));
            }
        };
        let cdn = match crate::discord::capture::Cdn::new(&settings.discord.cdn_base) {
            Ok(cdn) => cdn,
            Err(err) => {
                store.close().await;
                return Err(StartupError::Plugins(err));
            }
        };
        let transcripts = crate::transcripts::Transcripts::from_settings(&settings);
        // Message content is asked for only when transcripts can be kept at all.
        let intents = intents(transcripts.is_some());
        let mut bot = Bot::new(store, integrations, transcripts, cdn);
        bot.removal_grace = Duration::from_secs(u64::from(settings.servers.removal_grace_secs));
        bot.open_cooldown_secs = settings.tickets.open_cooldown_secs;
        let bot = Arc::new(bot);
        let client = match serenity::client::ClientBuilder::new_with_http(http, intents)
            .event_handler(Handler::new(bot.clone()))
            .await
        {
            Ok(client) => client,
            Err(err) => {
                bot.store.close().await;
                return Err(StartupError::Discord(err));
            }
        };
        let retention = (
            settings.transcripts.closed_ticket_days,
            Duration::from_secs(u64::from(settings.transcripts.purge_interval_mins) * 60),
        );
        Ok(Application {
            bot,
            client,
            retention,
        })
    }

    /// Runs until `shutdown` resolves: then stops taking events, lets in-flight interactions
    /// finish, and closes the database.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shards = self.client.shard_manager.clone();
        // Retention: at start, then periodically (PRIVACY.md #6, #7).
        let purge = tokio::spawn(crate::privacy::retention::run_periodically(
            self.bot.store.clone(),
            self.retention.0,
            self.retention.1,
        ));
        // `shutdown_all` cannot stop a client that is still retrying its first connection, so
        // the shutdown future wins the race on its own rather than waiting for `start` to end.
        let result = tokio::select! {
            started = self.client.start() => {
                started.map_err(|err| match err {
                    serenity::Error::Gateway(
                        serenity::gateway::GatewayError::DisallowedGatewayIntents,
                    ) => anyhow::Error::new(StartupError::MessageContentRefused),
                    err => anyhow::anyhow!("the Discord connection failed: {err}"),
                })
            }
            () = shutdown => {
                tracing::info!("shutting down: closing the gateway connection");
                shards.shutdown_all().await;
                Ok(())
            }
        };
        // An event dispatched just before the gateway closed may not have reached its handler
        // yet; give it a moment to register as in flight before waiting for the rest.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.bot.inflight.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.bot.inflight.wait())
            .await
            .is_err()
        {
            tracing::warn!("some interactions were still running at shutdown");
        }
        purge.abort();
        self.bot.store.close().await;
        tracing::info!("stopped");
        result
    }

    /// The shared state (for tests and benchmarks).
    pub fn bot(&self) -> &Arc<Bot> {
        &self.bot
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
