//! Capturing a ticket channel for its transcript: every message, oldest first (paged 100 at a
//! time), its authors, mentions resolved to names, and the files a transcript may keep,
//! downloaded from the configured CDN origin only, within the operator's caps.

use std::collections::BTreeMap;
use std::time::Duration;

use serenity::builder::GetMessages;
use serenity::http::Http;
use serenity::model::channel::Message as DiscordMessage;
use serenity::model::id::{ChannelId, GuildId, MessageId};
use serenity::model::Timestamp;

use crate::cache::DiscordCache;
use crate::transcripts::model::{
    Asset, AssetId, Attachment, Embed, Kept, Mention, MentionKind, Message, Participant,
};
use crate::transcripts::{CaptureLimits, Captured};

/// Messages per page: Discord's maximum.
const PAGE: u8 = 100;
/// Time allowed to download one file.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// Downloads from Discord's CDN (attachments, avatars), and from nowhere else.
#[derive(Debug, Clone)]
pub struct Cdn {
    base: String,
    client: reqwest::Client,
}

impl Cdn {
    /// Downloads from `base` (e.g. `https://cdn.discordapp.com`) only.
    pub fn new(base: &str) -> anyhow::Result<Cdn> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DOWNLOAD_TIMEOUT)
            .build()?;
        Ok(Cdn {
            base: format!("{}/", base.trim_end_matches('/')),
            client,
        })
    }

    /// The avatar URL of a user with avatar `hash`.
    fn avatar_url(&self, user_id: u64, hash: &str) -> String {
        format!("{}avatars/{user_id}/{hash}.png?size=64", self.base)
    }

    /// The bytes at `url` and their content type, if `url` is on the CDN and the file is at
    /// most `max` bytes. `Err(true)` when it is larger.
    async fn fetch(&self, url: &str, max: u64) -> Result<(Vec<u8>, String), bool> {
        if !url.starts_with(&self.base) {
            return Err(false);
        }
        let Ok(mut response) = self.client.get(url).send().await else {
            return Err(false);
        };
        if !response.status().is_success() {
            return Err(false);
        }
        if response.content_length().is_some_and(|n| n > max) {
            return Err(true);
        }
        let kind = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > max {
                        return Err(true);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok((bytes, kind)),
                Err(_) => return Err(false),
            }
        }
    }
}

/// Files kept so far, within the transcript's total cap.
struct Keeper {
    limits: CaptureLimits,
    total: u64,
    assets: Vec<Asset>,
}

impl Keeper {
    /// Keeps the file at `url` (of `declared` size, if Discord said) within the caps: a file
    /// over the per-file cap is never downloaded.
    async fn keep(&mut self, cdn: &Cdn, url: &str, declared: Option<u64>) -> Kept {
        if declared.is_some_and(|size| size > self.limits.max_file_bytes) {
            return Kept::TooLarge {
                limit: self.limits.max_file_bytes,
            };
        }
        let room = self.limits.max_total_bytes.saturating_sub(self.total);
        let max = self.limits.max_file_bytes.min(room);
        match cdn.fetch(url, max).await {
            Ok((bytes, content_type)) => {
                self.total += bytes.len() as u64;
                let id = AssetId(self.assets.len() as u32);
                self.assets.push(Asset {
                    id,
                    content_type,
                    bytes,
                });
                Kept::Yes { asset: id }
            }
            Err(true) if max < self.limits.max_file_bytes => Kept::TranscriptFull {
                limit: self.limits.max_total_bytes,
            },
            Err(true) => Kept::TooLarge {
                limit: self.limits.max_file_bytes,
            },
            Err(false) => Kept::Unavailable,
        }
    }
}

/// Every message of `channel_id`, oldest first.
async fn history(http: &Http, channel_id: ChannelId) -> serenity::Result<Vec<DiscordMessage>> {
    let mut all: Vec<DiscordMessage> = Vec::new();
    let mut before: Option<MessageId> = None;
    loop {
        let mut request = GetMessages::new().limit(PAGE);
        if let Some(id) = before {
            request = request.before(id);
        }
        let page = channel_id.messages(http, request).await?;
        let done = page.len() < usize::from(PAGE);
        before = page.iter().map(|m| m.id).min();
        all.extend(page);
        if done || before.is_none() {
            break;
        }
    }
    all.sort_by_key(|m| m.id);
    all.dedup_by_key(|m| m.id);
    Ok(all)
}

/// Captures the ticket channel `channel_id` of server `guild_id`.
pub async fn capture(
    http: &Http,
    cache: &DiscordCache,
    cdn: &Cdn,
    guild_id: u64,
    channel_id: u64,
    limits: CaptureLimits,
) -> serenity::Result<Captured> {
    let messages = history(http, ChannelId::new(channel_id)).await?;
    let mut kept = Keeper {
        limits,
        total: 0,
        assets: Vec::new(),
    };
    let mut people: BTreeMap<u64, Participant> = BTreeMap::new();
    let mut avatars: BTreeMap<u64, Option<String>> = BTreeMap::new();
    // Role names, fetched once and only if a message mentions a role.
    let role_names: std::collections::HashMap<u64, String> =
        if messages.iter().any(|m| !m.mention_roles.is_empty()) {
            match GuildId::new(guild_id).roles(http).await {
                Ok(roles) => roles
                    .into_iter()
                    .map(|(id, role)| (id.get(), role.name))
                    .collect(),
                Err(_) => std::collections::HashMap::new(),
            }
        } else {
            std::collections::HashMap::new()
        };
    let mut out = Vec::with_capacity(messages.len());
    for m in &messages {
        let author = m.author.id.get();
        people.entry(author).or_insert_with(|| Participant {
            id: author,
            username: m.author.name.clone(),
            display_name: m.author.global_name.clone(),
            avatar: None,
            bot: m.author.bot,
        });
        avatars
            .entry(author)
            .or_insert_with(|| m.author.avatar.map(|h| h.to_string()));
        let mut mentions = Vec::new();
        for user in &m.mentions {
            mentions.push(Mention {
                kind: MentionKind::User,
                id: user.id.get(),
                name: user
                    .global_name
                    .clone()
                    .unwrap_or_else(|| user.name.clone()),
            });
            avatars
                .entry(user.id.get())
                .or_insert_with(|| user.avatar.map(|h| h.to_string()));
            people.entry(user.id.get()).or_insert_with(|| Participant {
                id: user.id.get(),
                username: user.name.clone(),
                display_name: user.global_name.clone(),
                avatar: None,
                bot: user.bot,
            });
        }
        for role in &m.mention_roles {
            mentions.push(Mention {
                kind: MentionKind::Role,
                id: role.get(),
                name: role_names
                    .get(&role.get())
                    .cloned()
                    .unwrap_or_else(|| "unknown-role".to_owned()),
            });
        }
        for id in channel_mentions(&m.content) {
            let name = match cache
                .channel(http, GuildId::new(guild_id), ChannelId::new(id))
                .await
            {
                Ok(Some(channel)) => channel.name.clone(),
                _ => "unknown-channel".to_owned(),
            };
            mentions.push(Mention {
                kind: MentionKind::Channel,
                id,
                name,
            });
        }
        let mut attachments = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            attachments.push(Attachment {
                filename: a.filename.clone(),
                size: u64::from(a.size),
                content_type: a.content_type.clone(),
                kept: kept.keep(cdn, &a.url, Some(u64::from(a.size))).await,
            });
        }
        out.push(Message {
            id: m.id.get(),
            author_id: author,
            content: m.content.clone(),
            sent_at: unix_ms(&m.timestamp),
            edited_at: m.edited_timestamp.as_ref().map(unix_ms),
            reply_to: m
                .message_reference
                .as_ref()
                .and_then(|r| r.message_id)
                .map(|id| id.get()),
            embeds: m
                .embeds
                .iter()
                .map(|e| Embed {
                    title: e.title.clone(),
                    description: e.description.clone(),
                    url: e.url.clone(),
                    fields: e
                        .fields
                        .iter()
                        .map(|f| (f.name.clone(), f.value.clone()))
                        .collect(),
                    footer: e.footer.as_ref().map(|f| f.text.clone()),
                })
                .collect(),
            attachments,
            mentions,
            removed: false,
        });
    }
    // Avatars last: attachments matter more when the total cap is reached.
    for (user, hash) in avatars {
        if let Some(hash) = hash {
            if let Kept::Yes { asset } = kept.keep(cdn, &cdn.avatar_url(user, &hash), None).await {
                if let Some(p) = people.get_mut(&user) {
                    p.avatar = Some(asset);
                }
            }
        }
    }
    Ok(Captured {
        participants: people.into_values().collect(),
        messages: out,
        assets: kept.assets,
    })
}

/// A Discord time in unix milliseconds: to the millisecond, because a member's deletion
/// applies to what they wrote before it, however shortly before.
fn unix_ms(t: &Timestamp) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The channel ids of `<#id>` mentions in `content`, each once.
fn channel_mentions(content: &str) -> Vec<u64> {
    let mut found = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.find("<#") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find('>') else { break };
        if let Ok(id) = rest[..end].parse::<u64>() {
            if !found.contains(&id) {
                found.push(id);
            }
        }
        rest = &rest[end..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_come_from_the_configured_cdn_only() {
        // Port 9 on loopback: nothing listens, so an attempt would fail as unavailable too;
        // what matters is that a foreign URL is refused before any request.
        let cdn = Cdn::new("http://127.0.0.1:9").unwrap();
        for foreign in [
            "https://evil.example/attachments/1/2/x.png",
            "http://127.0.0.1:9.evil.example/x.png",
            "http://127.0.0.1:90/x.png",
            "file:///etc/passwd",
        ] {
            assert_eq!(cdn.fetch(foreign, 1 << 20).await, Err(false), "{foreign}");
        }
        assert!(cdn
            .avatar_url(7, "abc")
            .starts_with("http://127.0.0.1:9/avatars/7/abc.png"));
    }

    #[test]
    fn channel_mentions_are_found_once_each() {
        assert_eq!(
            channel_mentions("see <#12> and <#12>, <#x> <#34>"),
            [12, 34]
        );
        assert!(channel_mentions("<#").is_empty());
    }
}
