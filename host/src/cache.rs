//! Bounded, in-memory caches of Discord objects the bot fetches (PRIVACY.md #9).
//!
//! Each kind has the TTL the privacy policy promises and a capacity bound; nothing here is ever
//! written to disk, everything is gone on restart, and a server's entries are dropped when the
//! bot leaves it.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use serenity::http::Http;
use serenity::model::prelude::{
    ChannelId, GuildChannel, GuildId, Member, PartialGuild, Role, RoleId, User, UserId,
};

/// Guilds live 5 minutes.
pub const GUILD_TTL: Duration = Duration::from_secs(5 * 60);
/// Channels live 2 minutes.
pub const CHANNEL_TTL: Duration = Duration::from_secs(2 * 60);
/// Roles live 5 minutes.
pub const ROLE_TTL: Duration = Duration::from_secs(5 * 60);
/// Users live 10 minutes.
pub const USER_TTL: Duration = Duration::from_secs(10 * 60);
/// Members live 1 minute.
pub const MEMBER_TTL: Duration = Duration::from_secs(60);

/// The caches, one per kind of object, each bounded by `capacity` entries.
#[derive(Clone)]
pub struct DiscordCache {
    /// Guilds by id.
    pub guilds: Cache<GuildId, Arc<PartialGuild>>,
    /// Guild channels, keyed with their guild so a server's entries can be dropped together.
    pub channels: Cache<(GuildId, ChannelId), Arc<GuildChannel>>,
    /// Roles, keyed with their guild.
    pub roles: Cache<(GuildId, RoleId), Arc<Role>>,
    /// Users by id.
    pub users: Cache<UserId, Arc<User>>,
    /// Members, keyed with their guild.
    pub members: Cache<(GuildId, UserId), Arc<Member>>,
}

fn build<K, V>(ttl: Duration, capacity: u64) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .support_invalidation_closures()
        .build()
}

impl DiscordCache {
    /// Caches holding at most `capacity` entries of each kind.
    pub fn new(capacity: u64) -> DiscordCache {
        DiscordCache {
            guilds: build(GUILD_TTL, capacity),
            channels: build(CHANNEL_TTL, capacity),
            roles: build(ROLE_TTL, capacity),
            users: build(USER_TTL, capacity),
            members: build(MEMBER_TTL, capacity),
        }
    }

    /// Drops everything cached about one server (the bot left it).
    pub fn forget_guild(&self, guild_id: GuildId) {
        self.guilds.invalidate(&guild_id);
        // `invalidate_entries_if` only fails when closures were not enabled, which `build` does.
        let _ = self
            .channels
            .invalidate_entries_if(move |(g, _), _| *g == guild_id);
        let _ = self
            .roles
            .invalidate_entries_if(move |(g, _), _| *g == guild_id);
        let _ = self
            .members
            .invalidate_entries_if(move |(g, _), _| *g == guild_id);
    }

    /// A guild channel, from the cache or from Discord. `None` if it is not a channel of `guild_id`.
    pub async fn channel(
        &self,
        http: &Http,
        guild_id: GuildId,
        channel_id: ChannelId,
    ) -> serenity::Result<Option<Arc<GuildChannel>>> {
        if let Some(found) = self.channels.get(&(guild_id, channel_id)) {
            return Ok(Some(found));
        }
        let channel = http.get_channel(channel_id).await?;
        match channel.guild() {
            Some(channel) if channel.guild_id == guild_id => {
                let channel = Arc::new(channel);
                self.channels
                    .insert((guild_id, channel_id), channel.clone());
                Ok(Some(channel))
            }
            _ => Ok(None),
        }
    }

    /// Drops one channel (it was deleted).
    pub fn forget_channel(&self, guild_id: GuildId, channel_id: ChannelId) {
        self.channels.invalidate(&(guild_id, channel_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_match_the_privacy_policy() {
        let cache = DiscordCache::new(100);
        let ttl = |p: Option<Duration>| p.expect("every cache has a ttl").as_secs();
        assert_eq!(ttl(cache.guilds.policy().time_to_live()), 300);
        assert_eq!(ttl(cache.channels.policy().time_to_live()), 120);
        assert_eq!(ttl(cache.roles.policy().time_to_live()), 300);
        assert_eq!(ttl(cache.users.policy().time_to_live()), 600);
        assert_eq!(ttl(cache.members.policy().time_to_live()), 60);
        assert_eq!(cache.members.policy().max_capacity(), Some(100));
        assert_eq!(cache.guilds.policy().max_capacity(), Some(100));
    }

    #[test]
    fn capacity_is_enforced() {
        let cache = DiscordCache::new(10);
        for i in 1..=1000u64 {
            let user: User = serde_json::from_value(serde_json::json!({
                "id": i.to_string(), "username": "u", "discriminator": "0", "global_name": null, "avatar": null
            }))
            .expect("a valid user");
            cache.users.insert(UserId::new(i), Arc::new(user));
        }
        cache.users.run_pending_tasks();
        assert!(
            cache.users.entry_count() <= 10,
            "{}",
            cache.users.entry_count()
        );
    }

    #[test]
    fn leaving_a_guild_drops_only_its_entries() {
        let cache = DiscordCache::new(100);
        let role = |id: u64| -> Arc<Role> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "id": id.to_string(), "name": "r", "color": 0, "hoist": false, "position": 0,
                    "permissions": "0", "managed": false, "mentionable": false, "flags": 0,
                    "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null}
                }))
                .expect("a valid role"),
            )
        };
        let (a, b) = (GuildId::new(1), GuildId::new(2));
        cache.roles.insert((a, RoleId::new(10)), role(10));
        cache.roles.insert((b, RoleId::new(20)), role(20));
        cache.forget_guild(a);
        cache.roles.run_pending_tasks();
        assert!(cache.roles.get(&(a, RoleId::new(10))).is_none());
        assert!(cache.roles.get(&(b, RoleId::new(20))).is_some());
    }
}
