//! Forgetting (PRIVACY.md #8): when the bot leaves a server, everything stored or cached about
//! that server goes. A member's own deletion (#11) is [`super::erasure`].

use serenity::model::id::GuildId;

use crate::bot::Bot;
use crate::store::StoreError;

/// How long leaving a server waits for its work in flight (a ticket opening with its
/// integrations takes at most the event timeout, a few seconds).
const LEAVE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(15);

/// Why a server's data could not all be deleted.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// The database refused; the caches were cleared anyway.
    #[error("deleting the server's data failed: {0}")]
    Store(#[from] StoreError),
}

/// The bot left `guild_id` (it was removed, or the server was deleted; not an outage): its
/// settings, tickets, transcripts, integration configuration, uploads, pending confirmations
/// and cached Discord objects are deleted.
#[tracing::instrument(skip_all, fields(guild_id = guild_id))]
pub async fn server_left(bot: &Bot, guild_id: u64) -> Result<(), ForgetError> {
    // No new work starts for the server; what is in flight ends first, so it cannot write
    // rows back after they are deleted (what still runs after this wait is guarded by the store).
    if !bot.guild_work.leave(guild_id, LEAVE_PATIENCE).await {
        tracing::warn!(
            "work for the server was still running after waiting; deleting its data anyway"
        );
    }
    // Memory first: whatever the database does, this process keeps nothing of the server.
    if let Some(id) = std::num::NonZeroU64::new(guild_id) {
        bot.cache.forget_guild(GuildId::from(id));
    }
    bot.integrations.forget_guild(guild_id);
    bot.store.delete_guild_data(guild_id).await?;
    bot.store.forget_guild_pending(guild_id).await?;
    tracing::info!("left a server; its data is deleted");
    Ok(())
}

/// Servers this database holds data about that the bot was removed from while it was offline:
/// those missing from READY (`present`) and, after `bot.removal_grace`, also missing from
/// Discord's own list of the bot's servers (`GET /users/@me/guilds`). Their data is deleted like
/// on a live removal. A server that is only unavailable (an outage) is in both lists and kept;
/// if Discord's list cannot be read, nothing is deleted.
#[tracing::instrument(skip_all)]
pub async fn servers_left_while_offline(
    bot: &Bot,
    http: &serenity::http::Http,
    present: &[u64],
) -> Result<usize, ForgetError> {
    let known = bot.store.known_guild_ids().await?;
    let missing: Vec<u64> = known
        .into_iter()
        .filter(|id| !present.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    tokio::time::sleep(bot.removal_grace).await;
    let Some(mine) = my_guilds(http).await else {
        tracing::warn!(
            "could not list this bot's servers; servers missing from READY are kept for now"
        );
        return Ok(0);
    };
    let mut forgotten = 0;
    for guild_id in missing.into_iter().filter(|id| !mine.contains(id)) {
        server_left(bot, guild_id).await?;
        forgotten += 1;
    }
    Ok(forgotten)
}

/// Every server the bot is in, from Discord (paged, 200 at a time); `None` on any failure.
async fn my_guilds(http: &serenity::http::Http) -> Option<Vec<u64>> {
    use serenity::http::GuildPagination;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = http
            .get_guilds(after.map(GuildPagination::After), Some(200))
            .await
            .ok()?;
        let done = page.len() < 200;
        after = page.iter().map(|g| g.id).max();
        all.extend(page.iter().map(|g| g.id.get()));
        if done || after.is_none() {
            return Some(all);
        }
    }
}
