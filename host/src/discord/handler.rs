//! Gateway events: READY registers the commands, interactions go to the router, leaving a
//! server deletes its data, and a ticket whose channel is deleted (or was, while the bot was
//! offline) is closed.

use std::sync::Arc;

use serenity::all::{
    Context, EventHandler, Guild, GuildChannel, Interaction, Message, Ready, UnavailableGuild,
};
use serenity::async_trait;
use serenity::model::application::Command;

use super::rest::Rest;
use super::{commands, router};
use crate::bot::Bot;
use crate::tickets::Tickets;

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

    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        // Added back to a server it had left: its work may start again.
        self.bot.guild_work.rejoined(guild.id.get());
        // The server's whole channel list: tickets whose channel was deleted while the bot was
        // offline are closed.
        let Some(_working) = self.bot.guild_work.enter(guild.id.get()) else {
            return;
        };
        let present: Vec<u64> = guild
            .channels
            .keys()
            .map(|c| c.get())
            .chain(guild.threads.iter().map(|t| t.id.get()))
            .collect();
        let Some(bot_id) = self.bot.user_id.get().copied() else {
            return;
        };
        let rest = Rest::new(&ctx.http, &self.bot.cache, &self.bot.cdn, bot_id);
        let tickets = Tickets::new(
            &self.bot.store,
            &rest,
            &*self.bot.integrations,
            bot_id.get(),
        );
        match tickets.sweep_vanished(guild.id.get(), &present).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(guild_id = %guild.id, tickets = n, "closed tickets whose channel was deleted while the bot was offline")
            }
            Err(err) => {
                tracing::error!(guild_id = %guild.id, error = %err, "could not check a server's tickets against its channels")
            }
        }
    }

    async fn channel_delete(
        &self,
        ctx: Context,
        channel: GuildChannel,
        _messages: Option<Vec<Message>>,
    ) {
        let Some(_working) = self.bot.guild_work.enter(channel.guild_id.get()) else {
            return;
        };
        self.bot.cache.forget_channel(channel.guild_id, channel.id);
        let Some(bot_id) = self.bot.user_id.get().copied() else {
            return;
        };
        let rest = Rest::new(&ctx.http, &self.bot.cache, &self.bot.cdn, bot_id);
        let tickets = Tickets::new(
            &self.bot.store,
            &rest,
            &*self.bot.integrations,
            bot_id.get(),
        );
        if let Err(err) = tickets
            .channel_gone(channel.guild_id.get(), channel.id.get())
            .await
        {
            tracing::error!(channel_id = %channel.id, error = %err, "could not close the ticket of a deleted channel");
        }
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
