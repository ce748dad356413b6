//! Gateway events: READY registers the commands, interactions go to the router, and leaving a
//! server deletes its data.

use std::sync::Arc;

use serenity::all::{Context, EventHandler, Guild, Interaction, Ready, UnavailableGuild};
use serenity::async_trait;
use serenity::model::application::Command;

use super::{commands, router};
use crate::bot::Bot;

/// Receives gateway events.
pub struct Handler {
    bot: Arc<Bot>,
}

impl Handler {
    /// A handler sharing `bot`.
    pub fn new(bot: Arc<Bot>) -> Handler {
        Handler { bot }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.bot.user_id.set(ready.user.id);
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
        // Bulk overwrite: the registered set is exactly ours, stale commands disappear. Once per
        // process, not on every shard's READY or every reconnect.
        if self
            .bot
            .commands_registered
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        // Servers the bot was removed from while it was offline (PRIVACY.md #8).
        let present: Vec<u64> = ready.guilds.iter().map(|g| g.id.get()).collect();
        let (bot, http) = (self.bot.clone(), ctx.http.clone());
        tokio::spawn(async move {
            match crate::privacy::forget::servers_left_while_offline(&bot, &http, &present).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    servers = n,
                    "deleted the data of servers the bot was removed from while offline"
                ),
                Err(err) => {
                    tracing::error!(error = %err, "forgetting servers left while offline failed")
                }
            }
        });
        if let Err(err) = Command::set_global_commands(&ctx.http, commands::all(&self.bot)).await {
            tracing::error!(error = %err, "registering slash commands failed");
            self.bot
                .commands_registered
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        // Held until the handler finishes, so shutdown waits for in-flight interactions.
        let _inflight = self.bot.inflight.token();
        router::handle(&self.bot, &ctx.http, interaction).await;
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        // Added back to a server it had left: its work may start again.
        self.bot.guild_work.rejoined(guild.id.get());
    }

    async fn guild_delete(
        &self,
        _ctx: Context,
        incomplete: UnavailableGuild,
        _full: Option<Guild>,
    ) {
        if incomplete.unavailable {
            // An outage, not a removal: keep the server's data.
            return;
        }
        let _inflight = self.bot.inflight.token();
        if let Err(err) = crate::privacy::forget::server_left(&self.bot, incomplete.id.get()).await
        {
            tracing::error!(guild_id = %incomplete.id, error = %err, "forgetting a left server failed");
        }
    }
}
