//! Forgetting (PRIVACY.md #8): when the bot leaves a server, everything stored or cached about
//! that server goes. A member's own deletion (#11) is [`super::erasure`].

use serenity::model::id::GuildId;

use crate::bot::Bot;
use crate::store::StoreError;

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
