//! Complete Discord JSON objects: everything serenity 0.12.5 needs to deserialize them and
//! everything Discord's OpenAPI response schemas require.

use serde_json::{json, Value};

use crate::state::{GuildRec, RoleRec};
use crate::MemberSpec;

/// Gateway intents-independent "all good" application flags (GATEWAY_GUILD_MEMBERS_LIMITED etc. not set).
pub const APPLICATION_FLAGS: u64 = 0;

/// A user object (Discord `UserResponse`).
pub fn user(id: u64, username: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(),
        "username": username,
        "avatar": null,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "bot": bot,
        "banner": null,
        "accent_color": null,
        "global_name": if bot { Value::Null } else { Value::from(username) },
        "avatar_decoration_data": null,
        "collectibles": null,
        "primary_guild": null,
    })
}

/// The user object of a member or DM user: [`user`] plus the avatar hash, if they have one.
pub fn member_user(m: &MemberSpec) -> Value {
    let mut u = user(m.user_id, &m.username, false);
    if let Some(hash) = m.avatar_hash() {
        u["avatar"] = json!(hash);
    }
    u
}

/// The bot's own user with the private fields of `GET /users/@me` (`UserPIIResponse`).
pub fn current_user(id: u64, username: &str) -> Value {
    let mut u = user(id, username, true);
    let o = u.as_object_mut().expect("user() returns an object");
    o.insert("mfa_enabled".into(), json!(false));
    o.insert("locale".into(), json!("en-US"));
    o.insert("verified".into(), json!(true));
    o.insert("email".into(), Value::Null);
    o.insert("premium_type".into(), json!(0));
    u
}

/// `GET /oauth2/applications/@me` (`PrivateApplicationResponse`).
pub fn application(app_id: u64, bot_name: &str, owner_id: u64) -> Value {
    json!({
        "id": app_id.to_string(),
        "name": bot_name,
        "icon": null,
        "description": "Tessera under test",
        "type": null,
        "bot": user(app_id, bot_name, true),
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": APPLICATION_FLAGS,
        "flags_new": APPLICATION_FLAGS.to_string(),
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "owner": user(owner_id, "owner", false),
        "approximate_guild_count": 0,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": null,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
        "rpc_origins": [],
        "tags": [],
        "integration_types_config": {"0": {}},
    })
}

/// A role (`GuildRoleResponse`; serenity needs `colors`).
pub fn role(r: &RoleRec) -> Value {
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "description": null,
        "permissions": r.permissions.to_string(),
        "position": r.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "managed": false,
        "mentionable": false,
        "icon": null,
        "unicode_emoji": null,
        "flags": 0,
    })
}

/// A guild channel (`GuildChannelResponse`) as first stored.
pub fn channel(
    id: u64,
    guild_id: u64,
    name: &str,
    kind: u8,
    parent_id: Option<u64>,
    position: u64,
) -> Value {
    let mut c = json!({
        "id": id.to_string(),
        "type": kind,
        "guild_id": guild_id.to_string(),
        "name": name,
        "position": position,
        "flags": 0,
        "parent_id": parent_id.map(|p| p.to_string()),
        "permission_overwrites": [],
        "nsfw": false,
    });
    if kind != 4 {
        let o = c.as_object_mut().expect("channel is an object");
        o.insert("topic".into(), Value::Null);
        o.insert("last_message_id".into(), Value::Null);
        o.insert("rate_limit_per_user".into(), json!(0));
    }
    c
}

/// A DM channel with `recipient` (`PrivateChannelResponse`).
pub fn dm_channel(id: u64, recipient: Value) -> Value {
    json!({
        "id": id.to_string(),
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": [recipient],
    })
}

/// The permissions the bot reports for itself (interactions' `app_permissions`, the
/// `permissions` of `GET /users/@me/guilds`).
pub const BOT_PERMISSIONS: &str = "2248473465835073";

/// A partial guild of `GET /users/@me/guilds` (`MyGuildResponse`); `member_count` adds the
/// approximate counts (`with_counts=true`).
pub fn my_guild(g: &GuildRec, member_count: Option<u64>) -> Value {
    let mut v = json!({
        "id": g.id.to_string(),
        "name": g.name,
        "icon": null,
        "banner": null,
        "owner": false,
        "permissions": BOT_PERMISSIONS,
        "features": [],
    });
    if let Some(n) = member_count {
        v["approximate_member_count"] = json!(n);
        v["approximate_presence_count"] = json!(0);
    }
    v
}

/// A message attachment (`MessageAttachmentResponse`) served by the emulator's CDN.
pub fn attachment(
    id: u64,
    filename: &str,
    size: u64,
    url: &str,
    content_type: Option<&str>,
) -> Value {
    let mut a = json!({
        "id": id.to_string(),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
    });
    if let Some(ct) = content_type {
        a["content_type"] = json!(ct);
    }
    a
}

/// A guild member (gateway / interaction `member`).
pub fn member(m: &MemberSpec, joined_at: &str) -> Value {
    json!({
        "user": member_user(m),
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": m.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": joined_at,
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "permissions": m.permissions.to_string(),
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
    })
}

/// The bot's own member entry in a guild.
pub fn bot_member(bot_id: u64, bot_name: &str, joined_at: &str) -> Value {
    json!({
        "user": user(bot_id, bot_name, true),
        "nick": null,
        "avatar": null,
        "roles": [],
        "joined_at": joined_at,
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
    })
}

/// A full GUILD_CREATE payload (serenity's `Guild`).
pub fn guild_create(
    g: &GuildRec,
    roles: &[Value],
    channels: &[Value],
    members: &[Value],
    bot_id: u64,
) -> Value {
    json!({
        "id": g.id.to_string(),
        "name": g.name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": g.owner_id.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles,
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
        "incidents_data": null,
        "joined_at": g.joined_at,
        "large": false,
        "unavailable": false,
        "member_count": members.len().max(1) as u64 + 1,
        "voice_states": [],
        "members": members,
        "channels": channels,
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "lazy": true,
        "application_command_counts": {},
        "embedded_activities": [],
        "version": 0,
        "bot_id": bot_id.to_string(),
    })
}

/// A guild as `GET /guilds/{id}` returns it: GUILD_CREATE without what only the gateway sends.
pub fn guild(g: &GuildRec, roles: &[Value]) -> Value {
    const GATEWAY_ONLY: &[&str] = &[
        "icon_hash",
        "joined_at",
        "large",
        "unavailable",
        "member_count",
        "voice_states",
        "members",
        "channels",
        "threads",
        "presences",
        "stage_instances",
        "guild_scheduled_events",
        "soundboard_sounds",
        "lazy",
        "application_command_counts",
        "embedded_activities",
        "version",
        "bot_id",
    ];
    let mut v = guild_create(g, roles, &[], &[], 0);
    if let Some(o) = v.as_object_mut() {
        for key in GATEWAY_ONLY {
            o.remove(*key);
        }
        o.insert("home_header".into(), Value::Null);
        o.insert("region".into(), json!("deprecated"));
        o.insert("nsfw".into(), json!(false));
    }
    v
}

/// READY.
pub fn ready(
    bot_user: Value,
    guild_ids: &[u64],
    session_id: &str,
    resume_url: &str,
    app_id: u64,
    shard: Option<Value>,
) -> Value {
    let mut r = json!({
        "v": 10,
        "user": bot_user,
        "guilds": guild_ids.iter().map(|id| json!({"id": id.to_string(), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "application": {"id": app_id.to_string(), "flags": APPLICATION_FLAGS},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "user_settings": {},
        "session_type": "normal",
        "auth_session_id_hash": "",
        "geo_ordered_rtc_regions": ["local"],
    });
    if let Some(shard) = shard {
        r["shard"] = shard;
    }
    r
}

/// Converts request components (ids optional) into response components (every component gets a
/// numeric `id`, as Discord assigns them).
pub fn response_components(components: &Value) -> Value {
    fn walk(v: &mut Value, next: &mut u64) {
        if let Some(o) = v.as_object_mut() {
            if o.contains_key("type") {
                if !o.get("id").is_some_and(Value::is_u64) {
                    o.insert("id".into(), json!(*next));
                }
                *next += 1;
                o.retain(|_, v| !v.is_null());
            }
            if let Some(children) = o.get_mut("components").and_then(Value::as_array_mut) {
                for c in children {
                    walk(c, next);
                }
            }
            if let Some(acc) = o.get_mut("accessory") {
                walk(acc, next);
            }
        }
    }
    let mut out = match components {
        Value::Array(_) => components.clone(),
        _ => json!([]),
    };
    let mut next = 1;
    if let Some(list) = out.as_array_mut() {
        for c in list {
            walk(c, &mut next);
        }
    }
    out
}

/// Embeds as Discord echoes them: the request fields plus `type: "rich"`, nulls dropped.
pub fn response_embeds(embeds: &Value) -> Value {
    let list = embeds.as_array().cloned().unwrap_or_default();
    Value::Array(
        list.into_iter()
            .map(|mut e| {
                if let Some(o) = e.as_object_mut() {
                    o.retain(|_, v| !v.is_null());
                    o.entry("type").or_insert(json!("rich"));
                    o.entry("content_scan_version").or_insert(json!(0));
                }
                e
            })
            .collect(),
    )
}

/// A message posted by the bot (`MessageResponse`, serenity's `Message`).
pub struct NewMessage<'a> {
    /// The message id.
    pub id: u64,
    /// Where.
    pub channel_id: u64,
    /// The bot user object (author).
    pub author: Value,
    /// The request body (content, embeds, components, flags, …).
    pub body: &'a Value,
    /// 0 = DEFAULT, 20 = CHAT_INPUT_COMMAND, 19 = REPLY.
    pub kind: u8,
    /// Set for interaction responses / follow-ups.
    pub webhook_id: Option<u64>,
    /// Set for interaction responses.
    pub application_id: Option<u64>,
    /// Timestamp.
    pub timestamp: String,
}

/// Builds a complete message.
pub fn message(m: NewMessage<'_>) -> Value {
    let body = m.body;
    let mut msg = json!({
        "id": m.id.to_string(),
        "channel_id": m.channel_id.to_string(),
        "type": m.kind,
        "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
        "author": m.author,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "mention_everyone": false,
        "attachments": [],
        "embeds": response_embeds(body.get("embeds").unwrap_or(&Value::Null)),
        "components": response_components(body.get("components").unwrap_or(&Value::Null)),
        "timestamp": m.timestamp,
        "edited_timestamp": null,
        "flags": body.get("flags").and_then(Value::as_u64).unwrap_or(0),
        "pinned": false,
        "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
        "reactions": [],
    });
    let o = msg.as_object_mut().expect("message is an object");
    if let Some(w) = m.webhook_id {
        o.insert("webhook_id".into(), json!(w.to_string()));
    }
    if let Some(a) = m.application_id {
        o.insert("application_id".into(), json!(a.to_string()));
    }
    msg
}

/// Applies an edit body (PATCH message / UPDATE_MESSAGE callback) to a stored message.
pub fn edit_message(msg: &mut Value, body: &Value, timestamp: &str) {
    let Some(o) = msg.as_object_mut() else { return };
    if let Some(c) = body.get("content") {
        o.insert("content".into(), json!(c.as_str().unwrap_or("")));
    }
    if let Some(e) = body.get("embeds") {
        o.insert("embeds".into(), response_embeds(e));
    }
    if let Some(c) = body.get("components") {
        o.insert("components".into(), response_components(c));
    }
    if let Some(f) = body.get("flags").and_then(Value::as_u64) {
        o.insert("flags".into(), json!(f));
    }
    o.insert("edited_timestamp".into(), json!(timestamp));
}

/// The common part of an INTERACTION_CREATE.
pub struct InteractionBase {
    /// Interaction id.
    pub id: u64,
    /// Application id.
    pub application_id: u64,
    /// 2 command, 3 component.
    pub kind: u8,
    /// Token.
    pub token: String,
    /// Where it happened.
    pub channel_id: u64,
    /// Partial channel object.
    pub channel: Value,
    /// `Some((guild_id, member json))` in a guild, `None` in a DM.
    pub guild: Option<(u64, Value)>,
    /// The invoking user (used for DMs).
    pub user: Value,
    /// `data`.
    pub data: Value,
    /// For components: the message the component is on.
    pub message: Option<Value>,
    /// The largest file an answer may carry, bytes.
    pub attachment_size_limit: u64,
}

/// A complete INTERACTION_CREATE `d`.
pub fn interaction(b: InteractionBase) -> Value {
    let mut i = json!({
        "id": b.id.to_string(),
        "application_id": b.application_id.to_string(),
        "type": b.kind,
        "token": b.token,
        "version": 1,
        "locale": "en-US",
        "channel_id": b.channel_id.to_string(),
        "channel": b.channel,
        "entitlements": [],
        "attachment_size_limit": b.attachment_size_limit,
        "app_permissions": "2248473465835073",
        "data": b.data,
    });
    let o = i.as_object_mut().expect("interaction is an object");
    match b.guild {
        Some((guild_id, member)) => {
            o.insert("guild_id".into(), json!(guild_id.to_string()));
            o.insert("guild_locale".into(), json!("en-US"));
            o.insert("member".into(), member);
            o.insert(
                "authorizing_integration_owners".into(),
                json!({"0": guild_id.to_string()}),
            );
            o.insert("context".into(), json!(0));
        }
        None => {
            o.insert("user".into(), b.user);
            o.insert("authorizing_integration_owners".into(), json!({"0": "0"}));
            o.insert("context".into(), json!(1));
        }
    }
    if let Some(m) = b.message {
        o.insert("message".into(), m);
    }
    i
}

/// A Discord error body.
pub fn error(code: u32, message: &str) -> Value {
    json!({"message": message, "code": code})
}
