//! A local Discord emulator (REST + gateway on 127.0.0.1) for Tessera's tests.
//!
//! The bot under test runs the real serenity 0.12.5 client with `discord.api_base` set to
//! [`Emulator::base_url`]. The emulator serves the REST routes the bot uses under `/api/v10`,
//! a JSON-text gateway at `/gateway`, records every request, validates every request body and
//! every response it produces against Discord's own OpenAPI description
//! (`/work/shared/discord/openapi.json`) and lets tests inject interactions and failures.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use tessera_discord_emulator::{Emulator, GuildSpec, MemberSpec};
//! let emu = Emulator::start().await?;
//! let guild = emu.add_guild(GuildSpec::new("Support", 42));
//! let general = emu.add_channel(guild, "general", 0, None);
//! // … start the bot with api_base = emu.base_url(), token = emu.bot_token() …
//! emu.wait_for_ready(Duration::from_secs(10)).await?;
//! let alice = MemberSpec::new(7, "alice");
//! let i = emu.send_command(guild, general, &alice, "ticket", serde_json::json!([])).await;
//! let reply = emu.wait_for_reply(&i, Duration::from_secs(5)).await?;
//! assert_eq!(reply["flags"], 64);
//! assert!(emu.violations().is_empty());
//! # Ok(()) }
//! ```
//!
//! # Transcripts: history, members' messages, the CDN, DMs
//!
//! Tests add members' messages ([`Emulator::add_member_message`],
//! [`Emulator::add_member_messages`] for thousands) that the bot pages through with
//! `GET /channels/{id}/messages` (`limit`, `before` / `after` / `around`, newest first).
//! Attachments and avatars ([`MemberSpec::with_avatar`]) are served by a CDN at
//! [`Emulator::cdn_base`] that counts downloads ([`Emulator::cdn_downloads`]). Content follows
//! Discord's MESSAGE_CONTENT rule ([`Emulator::message_content_visible`],
//! [`Emulator::refuse_message_content`]). DMs: `POST /users/@me/channels`,
//! [`Emulator::dm_messages`], [`Emulator::close_dms`].
//!
//! # Layout
//!
//! - `lib.rs` — the public API: [`Emulator`], [`GuildSpec`], [`MemberSpec`], [`InteractionRef`],
//!   [`RecordedRequest`]; test-side injection, waits and assertions.
//! - `state.rs` — the shared, mutex'd state (guilds, roles, channels, messages, interactions,
//!   gateway sessions, request log, violations, failure rules) and gateway dispatch.
//! - `rest.rs` — the REST router: auth, failure injection, OpenAPI validation, recording, and
//!   every emulated route.
//! - `gateway.rs` — the websocket gateway: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE,
//!   RESUME refusal.
//! - `messages.rs` — members' messages (mentions, replies, attachments), paging through
//!   history, and the MESSAGE_CONTENT rule for what the bot reads.
//! - `cdn.rs` — the CDN: attachments and avatars, with download counts.
//! - `openapi.rs` — loading Discord's OpenAPI spec and the JSON Schema validator.
//! - `payloads.rs` — complete Discord JSON objects (users, roles, guilds, channels, messages,
//!   interactions) that serenity deserializes and the spec accepts.
//! - `ids.rs` — snowflakes, timestamps and interaction tokens.

#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod cdn;
mod gateway;
mod ids;
mod messages;
pub mod openapi;
mod payloads;
mod rest;
mod state;

use state::{FailRule, InteractionRec, RoleRec, Shared};

/// The emulated application's id (also the bot user's id, as on Discord).
pub const APPLICATION_ID: u64 = 900_000_000_000_000_001;

/// VIEW_CHANNEL.
pub const VIEW_CHANNEL: u64 = 0x400;
/// SEND_MESSAGES.
pub const SEND_MESSAGES: u64 = 0x800;
/// ADMINISTRATOR.
pub const ADMINISTRATOR: u64 = 0x8;
/// MANAGE_CHANNELS.
pub const MANAGE_CHANNELS: u64 = 0x10;
/// MANAGE_GUILD.
pub const MANAGE_GUILD: u64 = 0x20;
/// MANAGE_ROLES.
pub const MANAGE_ROLES: u64 = 0x1000_0000;

/// The MESSAGE_CONTENT gateway intent (privileged).
pub const MESSAGE_CONTENT_INTENT: u64 = state::MESSAGE_CONTENT;

/// Permissions of the @everyone role of an emulated guild: view, send, read history,
/// add reactions, embed links, attach files, use application commands.
pub const EVERYONE_PERMISSIONS: u64 =
    0x400 | 0x800 | 0x1_0000 | 0x40 | 0x4000 | 0x8000 | 0x8000_0000;

/// How often waits poll the state.
/// How often waits look again when nothing woke them (gateway-side changes do not notify).
const POLL: Duration = Duration::from_millis(20);

/// A guild to add with [`Emulator::add_guild`].
#[derive(Clone, Debug)]
pub struct GuildSpec {
    /// Guild name.
    pub name: String,
    /// The owner's user id.
    pub owner_id: u64,
}

impl GuildSpec {
    /// A guild named `name` owned by `owner_id`.
    pub fn new(name: &str, owner_id: u64) -> GuildSpec {
        GuildSpec {
            name: name.to_owned(),
            owner_id,
        }
    }
}

impl Default for GuildSpec {
    fn default() -> Self {
        GuildSpec::new("Test Guild", 100_000_000_000_000_001)
    }
}

/// A guild member (or, for DMs, just a user) who triggers interactions.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// User id.
    pub user_id: u64,
    /// Username.
    pub username: String,
    /// Role ids (without @everyone).
    pub roles: Vec<u64>,
    /// Resolved permissions in the channel (sent as `member.permissions`).
    pub permissions: u64,
    /// The avatar image (PNG bytes), if the user has one; its hash is
    /// [`MemberSpec::avatar_hash`] and the CDN serves it at `/avatars/{user_id}/{hash}.png`.
    pub avatar: Option<Vec<u8>>,
}

impl MemberSpec {
    /// A member with no roles and VIEW_CHANNEL | SEND_MESSAGES.
    pub fn new(user_id: u64, username: &str) -> MemberSpec {
        MemberSpec {
            user_id,
            username: username.to_owned(),
            roles: Vec::new(),
            permissions: VIEW_CHANNEL | SEND_MESSAGES,
            avatar: None,
        }
    }

    /// Gives the user an avatar (PNG bytes); the hash in their user objects is derived from the
    /// bytes.
    #[must_use]
    pub fn with_avatar(mut self, png: Vec<u8>) -> MemberSpec {
        self.avatar = Some(png);
        self
    }

    /// The avatar hash user objects carry (32 hex digits), `None` without an avatar.
    pub fn avatar_hash(&self) -> Option<String> {
        self.avatar.as_deref().map(ids::content_hash)
    }

    /// Replaces the roles.
    #[must_use]
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = u64>) -> MemberSpec {
        self.roles = roles.into_iter().collect();
        self
    }

    /// Replaces the permissions.
    #[must_use]
    pub fn with_permissions(mut self, permissions: u64) -> MemberSpec {
        self.permissions = permissions;
        self
    }
}

/// An injected interaction.
#[derive(Clone, Debug)]
pub struct InteractionRef {
    /// Interaction id.
    pub id: u64,
    /// Interaction token.
    pub token: String,
}

/// One REST request the bot made.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Upper-case method.
    pub method: String,
    /// Path without `/api/v10` and without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The JSON body (for multipart: the `payload_json` part).
    pub body: Option<Value>,
    /// The status the emulator answered.
    pub status: u16,
    /// The `X-Audit-Log-Reason` header (percent-decoded).
    pub reason: Option<String>,
}

/// A running emulator. Cheap to clone; all clones share state. The server stops when the tokio
/// runtime that started it shuts down.
#[derive(Clone, Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    /// Binds REST + gateway on 127.0.0.1:0 and starts serving.
    pub async fn start() -> anyhow::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::new(port));
        // Parse the spec now rather than inside the first request.
        let spec = tokio::task::spawn_blocking(|| openapi::spec().map(|_| ())).await?;
        if let Err(e) = spec {
            shared.lock().violations.push(format!(
                "OpenAPI spec unavailable, nothing is validated: {e}"
            ));
        }
        let app = axum::Router::new()
            .route("/gateway", axum::routing::get(gateway::upgrade))
            .route(
                "/attachments/{channel}/{id}/{filename}",
                axum::routing::get(cdn::attachment),
            )
            .route("/avatars/{user}/{file}", axum::routing::get(cdn::avatar))
            .fallback(rest::handle)
            .with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("discord emulator server stopped: {e}");
            }
        });
        Ok(Emulator { shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url()
    }

    /// The CDN's base URL, for the bot's `discord.cdn_base` (the same address as
    /// [`Emulator::base_url`]: attachments live under `/attachments/…`, avatars under
    /// `/avatars/…`).
    pub fn cdn_base(&self) -> String {
        self.shared.base_url()
    }

    /// `ws://127.0.0.1:PORT/gateway`.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url()
    }

    /// The application id.
    pub fn application_id(&self) -> u64 {
        self.shared.app_id
    }

    /// The bot user's id (= application id).
    pub fn bot_user_id(&self) -> u64 {
        self.shared.app_id
    }

    /// The token REST expects as `Authorization: Bot <token>`.
    pub fn bot_token(&self) -> String {
        self.shared.token.clone()
    }

    /// Adds a guild with an @everyone role (id = guild id) and dispatches GUILD_CREATE.
    pub fn add_guild(&self, spec: GuildSpec) -> u64 {
        let id = self.shared.ids.next();
        let mut inner = self.shared.lock();
        inner.guilds.insert(
            id,
            state::GuildRec {
                id,
                name: spec.name,
                owner_id: spec.owner_id,
                joined_at: ids::now_iso(),
            },
        );
        inner.roles.insert(
            id,
            RoleRec {
                id,
                guild_id: id,
                name: "@everyone".into(),
                permissions: EVERYONE_PERMISSIONS,
                position: 0,
            },
        );
        if let Some(g) = inner.guild_create(&self.shared, id) {
            inner.dispatch("GUILD_CREATE", &g);
        }
        id
    }

    /// Deletes a channel as a member with Manage Channels would in Discord's client: it is gone
    /// (its messages too) and CHANNEL_DELETE is dispatched to every identified session.
    pub fn delete_channel_by_hand(&self, channel_id: u64) -> bool {
        let mut inner = self.shared.lock();
        let Some(ch) = inner.channels.remove(&channel_id) else {
            return false;
        };
        let cid = ch["id"].clone();
        inner
            .messages
            .retain(|_, m| m["channel_id"] != cid || !m["webhook_id"].is_null());
        inner.dispatch("CHANNEL_DELETE", &ch);
        true
    }

    /// Removes a guild (with its channels, roles and messages) and dispatches GUILD_DELETE.
    pub fn remove_guild(&self, guild_id: u64) {
        let mut inner = self.shared.lock();
        inner.guilds.remove(&guild_id);
        inner.roles.retain(|_, r| r.guild_id != guild_id);
        let gid = guild_id.to_string();
        let gone: Vec<u64> = inner
            .channels
            .iter()
            .filter(|(_, c)| c.get("guild_id").and_then(Value::as_str) == Some(gid.as_str()))
            .map(|(id, _)| *id)
            .collect();
        for c in &gone {
            inner.channels.remove(c);
        }
        inner.messages.retain(|_, m| {
            !gone.iter().any(|c| {
                m.get("channel_id").and_then(Value::as_str) == Some(c.to_string().as_str())
            })
        });
        inner.dispatch("GUILD_DELETE", &json!({"id": gid, "unavailable": false}));
    }

    /// Creates a channel in emulator state (dispatching CHANNEL_CREATE). `kind`: 0 text,
    /// 2 voice, 4 category, 5 announcement.
    pub fn add_channel(&self, guild_id: u64, name: &str, kind: u8, parent_id: Option<u64>) -> u64 {
        let id = self.shared.ids.next();
        let mut inner = self.shared.lock();
        let position = inner.next_channel_position() as u64;
        let c = payloads::channel(id, guild_id, name, kind, parent_id, position);
        inner.channels.insert(id, c.clone());
        inner.dispatch("CHANNEL_CREATE", &c);
        id
    }

    /// Creates a role (dispatching GUILD_ROLE_CREATE).
    pub fn add_role(&self, guild_id: u64, name: &str, permissions: u64) -> u64 {
        let id = self.shared.ids.next();
        let mut inner = self.shared.lock();
        let position = inner
            .roles
            .values()
            .filter(|r| r.guild_id == guild_id)
            .count() as u64;
        let r = RoleRec {
            id,
            guild_id,
            name: name.to_owned(),
            permissions,
            position,
        };
        let payload = json!({"guild_id": guild_id.to_string(), "role": payloads::role(&r)});
        inner.roles.insert(id, r);
        inner.dispatch("GUILD_ROLE_CREATE", &payload);
        id
    }

    /// Stores a file as a message attachment in `channel_id`, served like Discord's CDN at
    /// `{base_url}/attachments/{channel}/{id}/{filename}`; returns its id, to pass as the value
    /// of an attachment option (type 11).
    pub fn add_attachment(&self, channel_id: u64, filename: &str, bytes: Vec<u8>) -> u64 {
        let id = self.shared.ids.next();
        let url = format!(
            "{}/attachments/{channel_id}/{id}/{filename}",
            self.base_url()
        );
        self.shared.lock().attachments.insert(
            id,
            state::AttachmentRec {
                filename: filename.to_owned(),
                size: bytes.len() as u64,
                url,
                bytes: Some(bytes),
                content_type: None,
                downloads: 0,
            },
        );
        id
    }

    /// An attachment whose metadata says what the test wants: `url` anywhere, any `size`
    /// (for refusals that must happen before downloading).
    pub fn add_attachment_at(&self, filename: &str, url: &str, size: u64) -> u64 {
        let id = self.shared.ids.next();
        self.shared.lock().attachments.insert(
            id,
            state::AttachmentRec {
                filename: filename.to_owned(),
                size,
                url: url.to_owned(),
                bytes: None,
                content_type: None,
                downloads: 0,
            },
        );
        id
    }

    /// Makes an attachment report `size` while serving its real bytes (a lying size).
    pub fn set_attachment_size(&self, id: u64, size: u64) {
        if let Some(a) = self.shared.lock().attachments.get_mut(&id) {
            a.size = size;
        }
    }

    /// How often an attachment was downloaded.
    pub fn attachment_downloads(&self, id: u64) -> usize {
        self.shared
            .lock()
            .attachments
            .get(&id)
            .map_or(0, |a| a.downloads)
    }

    /// Injects a slash command used by `member` in `channel_id` of `guild_id`.
    pub async fn send_command(
        &self,
        guild_id: u64,
        channel_id: u64,
        member: &MemberSpec,
        name: &str,
        options: Value,
    ) -> InteractionRef {
        self.inject_command(Some(guild_id), channel_id, member, name, options)
    }

    /// Injects a slash command used in a DM with `user`.
    pub async fn send_dm_command(
        &self,
        user: &MemberSpec,
        name: &str,
        options: Value,
    ) -> InteractionRef {
        let channel_id = self.shared.lock().dm_channel(&self.shared, user);
        self.inject_command(None, channel_id, user, name, options)
    }

    fn inject_command(
        &self,
        guild_id: Option<u64>,
        channel_id: u64,
        member: &MemberSpec,
        name: &str,
        options: Value,
    ) -> InteractionRef {
        let id = self.shared.ids.next();
        let token = ids::token(id);
        let mut inner = self.shared.lock();
        inner.remember_member(guild_id, member);
        let registered = guild_id
            .and_then(|g| inner.guild_commands.get(&g))
            .into_iter()
            .flatten()
            .chain(inner.commands.iter())
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|c| c.get("id").and_then(Value::as_str))
            .map(str::to_owned);
        let command_id = registered.unwrap_or_else(|| self.shared.ids.next().to_string());
        let options = if options.is_null() {
            json!([])
        } else {
            options
        };
        let mut data = json!({
            "id": command_id,
            "name": name,
            "type": 1,
            "options": options,
        });
        let resolved = resolve_options(&inner, guild_id, &data["options"]);
        if !resolved.as_object().is_some_and(serde_json::Map::is_empty) {
            data["resolved"] = resolved;
        }
        if let Some(g) = guild_id {
            data["guild_id"] = json!(g.to_string());
        }
        let payload = build_interaction(
            &self.shared,
            &inner,
            id,
            &token,
            2,
            guild_id,
            channel_id,
            member,
            data,
            None,
        );
        track_and_dispatch(&mut inner, id, token, 2, channel_id, None, &payload)
    }

    /// Injects a button click (component_type 2) on a stored message.
    ///
    /// # Panics
    /// If the message is not stored in that channel, or has no button with `custom_id`
    /// (a user cannot click a button that does not exist; use [`Emulator::dispatch_raw`] to
    /// send something impossible on purpose).
    pub async fn click_button(
        &self,
        guild_id: u64,
        channel_id: u64,
        message_id: u64,
        member: &MemberSpec,
        custom_id: &str,
    ) -> InteractionRef {
        self.inject_click(Some(guild_id), channel_id, message_id, member, custom_id)
    }

    /// Injects a button click by `user` on a message in their DM with the bot.
    ///
    /// # Panics
    /// As [`Emulator::click_button`].
    pub async fn click_dm_button(
        &self,
        channel_id: u64,
        message_id: u64,
        user: &MemberSpec,
        custom_id: &str,
    ) -> InteractionRef {
        self.inject_click(None, channel_id, message_id, user, custom_id)
    }

    fn inject_click(
        &self,
        guild_id: Option<u64>,
        channel_id: u64,
        message_id: u64,
        member: &MemberSpec,
        custom_id: &str,
    ) -> InteractionRef {
        let id = self.shared.ids.next();
        let token = ids::token(id);
        let mut inner = self.shared.lock();
        let Some(message) = inner
            .messages
            .get(&message_id)
            .filter(|m| m["channel_id"] == json!(channel_id.to_string()))
            .cloned()
        else {
            let here: Vec<String> = inner
                .messages
                .values()
                .filter(|m| m["channel_id"] == json!(channel_id.to_string()))
                .map(|m| format!("{} {:?}", m["id"], m["content"]))
                .collect();
            panic!("click_button: no message {message_id} in channel {channel_id}; messages there: {here:?}");
        };
        let mut custom_ids = Vec::new();
        collect_custom_ids(&message["components"], &mut custom_ids);
        assert!(
            custom_ids.iter().any(|c| c == custom_id),
            "click_button: message {message_id} has no component with custom_id {custom_id:?}; it has {custom_ids:?}"
        );
        inner.remember_member(guild_id, member);
        let data = json!({"custom_id": custom_id, "component_type": 2});
        let mut message = message;
        if let Some(g) = guild_id {
            message["guild_id"] = json!(g.to_string());
        }
        let payload = build_interaction(
            &self.shared,
            &inner,
            id,
            &token,
            3,
            guild_id,
            channel_id,
            member,
            data,
            Some(message),
        );
        track_and_dispatch(
            &mut inner,
            id,
            token,
            3,
            channel_id,
            Some(message_id),
            &payload,
        )
    }

    /// Injects a modal submit (interaction type 5) for a modal the bot showed earlier.
    ///
    /// `fields` are `(custom_id, value)` of the modal's text inputs; inputs left out are sent
    /// empty, as Discord does.
    ///
    /// # Panics
    /// If the bot never answered an interaction with a modal of this `custom_id`, or a field
    /// is not one of that modal's inputs (a member can only submit what they were shown).
    pub async fn submit_modal(
        &self,
        guild_id: u64,
        channel_id: u64,
        member: &MemberSpec,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> InteractionRef {
        let id = self.shared.ids.next();
        let token = ids::token(id);
        let mut inner = self.shared.lock();
        let shown = inner
            .interactions
            .values()
            .filter_map(|r| r.callback.as_ref())
            .filter(|c| c.get("type").and_then(Value::as_u64) == Some(9))
            .filter_map(|c| c.get("data"))
            .filter(|d| d.get("custom_id").and_then(Value::as_str) == Some(custom_id))
            .last()
            .cloned();
        let Some(modal) = shown else {
            panic!("submit_modal: the bot never showed a modal with custom_id {custom_id:?}");
        };
        let mut inputs = Vec::new();
        collect_custom_ids(&modal["components"], &mut inputs);
        for (field, _) in fields {
            assert!(
                inputs.iter().any(|i| i == field),
                "submit_modal: modal {custom_id:?} has no input {field:?}; it has {inputs:?}"
            );
        }
        let rows: Vec<Value> = inputs
            .iter()
            .map(|input| {
                let value = fields
                    .iter()
                    .find(|(f, _)| f == input)
                    .map_or("", |(_, v)| *v);
                json!({"type": 1, "components": [{"type": 4, "custom_id": input, "value": value}]})
            })
            .collect();
        inner.remember_member(Some(guild_id), member);
        let data = json!({"custom_id": custom_id, "components": rows});
        let payload = build_interaction(
            &self.shared,
            &inner,
            id,
            &token,
            5,
            Some(guild_id),
            channel_id,
            member,
            data,
            None,
        );
        track_and_dispatch(&mut inner, id, token, 5, channel_id, None, &payload)
    }

    /// Stores a message as if the bot had posted it earlier (e.g. a panel from an older
    /// version of the bot, whose buttons the current one may not know). `body` is a
    /// MessageCreateRequest-like object (`content`, `embeds`, `components`). Returns its id.
    pub fn add_bot_message(&self, channel_id: u64, body: Value) -> u64 {
        let id = self.shared.ids.next();
        let msg = payloads::message(payloads::NewMessage {
            id,
            channel_id,
            author: self.shared.bot_user(),
            body: &body,
            kind: 0,
            webhook_id: None,
            application_id: None,
            timestamp: ids::now_iso(),
        });
        self.shared.lock().messages.insert(id, msg);
        id
    }

    /// Dispatches an arbitrary event to every identified session.
    pub async fn dispatch_raw(&self, event_name: &str, data: Value) {
        self.shared.lock().dispatch(event_name, &data);
    }

    /// Waits until a gateway session has identified and received READY + GUILD_CREATEs.
    pub async fn wait_for_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let inner = self.shared.lock();
                if inner
                    .sessions
                    .values()
                    .any(|s| s.identified && s.ready_sent)
                {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    let gateway_requests: Vec<String> = inner
                        .requests
                        .iter()
                        .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
                        .collect();
                    anyhow::bail!(
                        "no gateway session became ready within {timeout:?}; gateway log: {:?}; REST requests: {:?}",
                        inner.gateway_log,
                        gateway_requests
                    );
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// How many IDENTIFYs the gateway received so far.
    pub fn identify_count(&self) -> usize {
        self.shared.lock().identify_count
    }

    /// Every REST request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Waits until some recorded request matches `pred`.
    pub async fn wait_for_request(
        &self,
        timeout: Duration,
        pred: impl Fn(&RecordedRequest) -> bool,
    ) -> anyhow::Result<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            // Registered before looking, so a change in between is not missed.
            let changed = self.shared.changed.notified();
            {
                let inner = self.shared.lock();
                if let Some(r) = inner.requests.iter().find(|r| pred(r)) {
                    return Ok(r.clone());
                }
                if Instant::now() >= deadline {
                    anyhow::bail!(
                        "no matching request within {timeout:?}; recorded requests:\n{}",
                        describe_requests(&inner.requests)
                    );
                }
            }
            let _ = tokio::time::timeout(POLL, changed).await;
        }
    }

    /// The interaction's initial callback body, if any.
    pub fn interaction_callback(&self, i: &InteractionRef) -> Option<Value> {
        self.shared
            .lock()
            .interactions
            .get(&i.id)
            .and_then(|r| r.callback.clone())
    }

    /// Waits for the interaction's final visible answer (see the crate docs of the fields):
    /// a complete message object (with `content`, `flags`, `components`, `embeds`, …) plus
    /// `callback_type` (4, 7, 5 or 6). After a deferral (5/6) the deferral's flags are OR'ed in.
    /// A modal (callback type 9) is answered by the form: its `data` plus `callback_type` 9.
    pub async fn wait_for_reply(
        &self,
        i: &InteractionRef,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let answered = match self.shared.lock().interactions.get(&i.id) {
            Some(rec) => rec.answered.clone(),
            None => anyhow::bail!("interaction {} was never injected", i.id),
        };
        loop {
            // Registered before looking, so an answer in between is not missed.
            let changed = answered.notified();
            {
                let inner = self.shared.lock();
                let Some(rec) = inner.interactions.get(&i.id) else {
                    anyhow::bail!("interaction {} was never injected", i.id);
                };
                if let Some(answer) = reply_of(&inner, rec) {
                    return Ok(answer);
                }
                if Instant::now() >= deadline {
                    let mentioning: Vec<&RecordedRequest> = inner
                        .requests
                        .iter()
                        .filter(|r| r.path.contains(&i.token) || r.path.contains(&i.id.to_string()))
                        .collect();
                    anyhow::bail!(
                        "interaction {} got no final answer within {timeout:?}; callback: {}; requests for it: {mentioning:?}; all requests:\n{}",
                        i.id,
                        rec.callback.as_ref().map_or("none".to_owned(), Value::to_string),
                        describe_requests(&inner.requests)
                    );
                }
            }
            let _ = tokio::time::timeout(POLL, changed).await;
        }
    }

    /// Bot-side latency: from dispatching the interaction to its latest visible answer.
    pub fn answer_latency(&self, i: &InteractionRef) -> Option<Duration> {
        let inner = self.shared.lock();
        let rec = inner.interactions.get(&i.id)?;
        Some(rec.answered_at?.duration_since(rec.dispatched_at))
    }

    /// The current channel object, `None` if deleted or unknown.
    pub fn channel(&self, id: u64) -> Option<Value> {
        self.shared.lock().channels.get(&id).cloned()
    }

    /// Live channels of a guild.
    pub fn channels_in_guild(&self, guild_id: u64) -> Vec<Value> {
        self.shared.lock().guild_channels(guild_id)
    }

    /// The messages in a channel, the bot's and members' (current state after edits, as
    /// stored: before the MESSAGE_CONTENT rule; ephemeral interaction responses, which only
    /// their user sees, are left out), oldest first.
    pub fn messages_in(&self, channel_id: u64) -> Vec<Value> {
        let inner = self.shared.lock();
        inner
            .messages
            .ids_in(
                channel_id,
                (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
            )
            .filter_map(|id| inner.messages.get(&id))
            .filter(|m| m["flags"].as_u64().unwrap_or(0) & 64 == 0)
            .cloned()
            .collect()
    }

    /// Global commands as last registered.
    pub fn global_commands(&self) -> Vec<Value> {
        self.shared.lock().commands.clone()
    }

    /// Guild commands of `guild_id` as last registered.
    pub fn guild_commands(&self, guild_id: u64) -> Vec<Value> {
        self.shared
            .lock()
            .guild_commands
            .get(&guild_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every violation so far (OpenAPI request/response mismatches, unemulated routes, …).
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// The next `times` requests matching `method` + `path_pattern` (segments literal or `*`,
    /// relative to /api/v10) answer `status`.
    pub fn fail(&self, method: &str, path_pattern: &str, status: u16, times: usize) {
        self.shared.lock().failures.push(FailRule {
            method: method.to_ascii_uppercase(),
            pattern: path_pattern
                .trim_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect(),
            status,
            remaining: times,
        });
    }
}

impl Emulator {
    /// The next `times` requests matching method + path pattern are answered only after
    /// `delay` (a slow Discord), e.g. to catch the bot with an interaction in flight.
    pub fn delay(&self, method: &str, path_pattern: &str, delay: Duration, times: usize) {
        self.shared.lock().delays.push((
            FailRule {
                method: method.to_ascii_uppercase(),
                pattern: path_pattern
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect(),
                status: 0,
                remaining: times,
            },
            delay,
        ));
    }
}

/// Message history, members' messages, the CDN, MESSAGE_CONTENT and DMs.
impl Emulator {
    /// Stores a message by `author` in `channel_id` (a guild channel or a DM channel) as
    /// Discord would: a complete message whose `author` carries the member's avatar hash, with
    /// `mentions` / `mention_roles` / `mention_everyone` computed from `<@id>`, `<@&id>`,
    /// `@everyone` in the content. `body` may hold `content`, `embeds`,
    /// `message_reference: {"message_id"}` (a reply, type 19, with `referenced_message`; the
    /// replied-to author is mentioned unless `allowed_mentions.replied_user` is false) and
    /// `attachments: [{"filename", "content_type", "bytes"}]` (bytes as a list of numbers or
    /// base64), served by the CDN. Dispatches MESSAGE_CREATE to sessions with the
    /// GUILD_MESSAGES (in a DM: DIRECT_MESSAGES) intent. Returns the message id.
    ///
    /// # Panics
    /// If the channel is unknown, the reply's message is not in that channel or an attachment
    /// is malformed (test bugs).
    pub fn add_member_message(&self, channel_id: u64, author: &MemberSpec, body: Value) -> u64 {
        let files = match messages::files_in_body(&body) {
            Ok(f) => f,
            Err(e) => panic!("add_member_message: {e}"),
        };
        let mut body = body;
        if let Some(o) = body.as_object_mut() {
            o.remove("attachments");
        }
        self.add_member_message_with_files(channel_id, author, body, files)
    }

    /// [`Emulator::add_member_message`] with files given directly as
    /// `(filename, content_type, bytes)`; each becomes an attachment object whose `url` and
    /// `proxy_url` point at the emulator's CDN (`{cdn_base}/attachments/{channel}/{id}/{name}`).
    ///
    /// # Panics
    /// As [`Emulator::add_member_message`].
    pub fn add_member_message_with_files(
        &self,
        channel_id: u64,
        author: &MemberSpec,
        body: Value,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> u64 {
        let mut inner = self.shared.lock();
        match messages::add_member_message(
            &self.shared,
            &mut inner,
            channel_id,
            author,
            &body,
            files,
            true,
        ) {
            Ok(id) => id,
            Err(e) => panic!("add_member_message: {e}"),
        }
    }

    /// Stores `n` plain messages by `author` in `channel_id` (contents `message 1` … `message n`,
    /// oldest first), as history from before the bot was watching: nothing is dispatched.
    /// Returns their ids, oldest first. Ten thousand take well under a second.
    ///
    /// # Panics
    /// If the channel is unknown.
    pub fn add_member_messages(&self, channel_id: u64, author: &MemberSpec, n: usize) -> Vec<u64> {
        let mut inner = self.shared.lock();
        (1..=n)
            .map(|i| {
                let body = json!({"content": format!("message {i}")});
                match messages::add_member_message(
                    &self.shared,
                    &mut inner,
                    channel_id,
                    author,
                    &body,
                    Vec::new(),
                    false,
                ) {
                    Ok(id) => id,
                    Err(e) => panic!("add_member_messages: {e}"),
                }
            })
            .collect()
    }

    /// A member edits their message: new content (mentions recomputed), `edited_timestamp`
    /// set; MESSAGE_UPDATE goes to sessions with the message intents.
    ///
    /// # Panics
    /// If there is no such message or it is not a member's.
    pub fn edit_member_message(&self, message_id: u64, new_content: &str) {
        let mut inner = self.shared.lock();
        if let Err(e) =
            messages::edit_member_message(&self.shared, &mut inner, message_id, new_content)
        {
            panic!("edit_member_message: {e}");
        }
    }

    /// Deletes a stored message (anyone's), as a member or moderator would; replies to it then
    /// read `referenced_message: null`. MESSAGE_DELETE goes to sessions with the message
    /// intents. Returns whether it existed.
    pub fn delete_message(&self, message_id: u64) -> bool {
        let mut inner = self.shared.lock();
        let Some(msg) = inner.messages.remove(&message_id) else {
            return false;
        };
        let channel = msg["channel_id"].clone();
        let guild = channel
            .as_str()
            .and_then(|c| c.parse::<u64>().ok())
            .and_then(|c| inner.channels.get(&c))
            .and_then(|c| c.get("guild_id").cloned());
        let mut data = json!({"id": message_id.to_string(), "channel_id": channel});
        let needed = match guild {
            Some(g) => {
                data["guild_id"] = g;
                state::GUILD_MESSAGES
            }
            None => state::DIRECT_MESSAGES,
        };
        inner.dispatch_per_session("MESSAGE_DELETE", |intents| {
            (intents & needed != 0).then(|| data.clone())
        });
        true
    }

    /// How many successful CDN downloads had a path starting with `path_prefix`
    /// (e.g. `/avatars/7/`, `/attachments/{channel}/`; `/` counts them all).
    pub fn cdn_downloads(&self, path_prefix: &str) -> usize {
        self.shared
            .lock()
            .cdn_downloads
            .iter()
            .filter(|(path, _)| path.starts_with(path_prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every CDN request so far: path (with its query) and the status answered.
    pub fn cdn_requests(&self) -> Vec<(String, u16)> {
        self.shared.lock().cdn_log.clone()
    }

    /// The CDN URL of a user's avatar (`{cdn_base}/avatars/{user_id}/{hash}.png`), once a
    /// member with an avatar has been seen; `None` otherwise.
    pub fn avatar_url(&self, user_id: u64) -> Option<String> {
        let inner = self.shared.lock();
        let (hash, _) = inner.avatars.get(&user_id)?;
        Some(format!(
            "{}/avatars/{user_id}/{hash}.png",
            self.shared.base_url()
        ))
    }

    /// The bytes of an attachment the emulator holds: one a test added, one of a member's
    /// message, or a file the bot uploaded (its id is the attachment object's `id`).
    pub fn attachment_bytes(&self, id: u64) -> Option<Vec<u8>> {
        self.shared
            .lock()
            .attachments
            .get(&id)
            .and_then(|a| a.bytes.clone())
    }

    /// Interactions from now on say that an answer may carry files of at most `bytes`
    /// (`attachment_size_limit`; Discord's depends on the server's boosts). Uploads are not
    /// refused by the emulator: tests check that the bot respects the limit.
    pub fn set_attachment_size_limit(&self, bytes: u64) {
        self.shared.lock().attachment_size_limit = Some(bytes);
    }

    /// The app loses the MESSAGE_CONTENT privileged intent (as if unticked in the developer
    /// portal): from now on an IDENTIFY asking for it is answered by closing the websocket with
    /// 4014 "Disallowed intent(s).", and message reads hide content (see
    /// [`Emulator::message_content_visible`]).
    pub fn refuse_message_content(&self) {
        self.shared.lock().message_content_refused = true;
    }

    /// Whether the bot currently reads other people's message content: the app has the
    /// MESSAGE_CONTENT intent and the last accepted IDENTIFY asked for it. Without it,
    /// messages from `GET /channels/{id}/messages[/{id}]` (and MESSAGE_CREATE/UPDATE) have empty
    /// `content`, `embeds`, `attachments` and `components` unless the bot wrote them, is
    /// mentioned in them, or they are in a DM.
    pub fn message_content_visible(&self) -> bool {
        self.shared.lock().message_content_visible()
    }

    /// The intents of the last IDENTIFY received (accepted or refused), `None` before any.
    pub fn last_identify_intents(&self) -> Option<u64> {
        self.shared.lock().identify_intents.last().copied()
    }

    /// The DM channel with `user` (created if there is none yet, as
    /// `POST /users/@me/channels` would).
    pub fn dm_channel(&self, user: &MemberSpec) -> u64 {
        let mut inner = self.shared.lock();
        inner.remember_member(None, user);
        inner.dm_channel(&self.shared, user)
    }

    /// The user stops accepting DMs from the bot: a message to their DM channel answers 403
    /// with code 50007 "Cannot send messages to this user".
    pub fn close_dms(&self, user_id: u64) {
        self.shared.lock().dms_closed.insert(user_id);
    }

    /// The messages in the DM channel with `user_id` (the bot's and the user's), oldest first;
    /// empty if there is no DM channel.
    pub fn dm_messages(&self, user_id: u64) -> Vec<Value> {
        let channel = self.shared.lock().dm_channels.get(&user_id).copied();
        channel.map(|c| self.messages_in(c)).unwrap_or_default()
    }
}

fn describe_requests(requests: &[RecordedRequest]) -> String {
    if requests.is_empty() {
        return "  (none)".to_owned();
    }
    requests
        .iter()
        .map(|r| format!("  {} {} → {}", r.method, r.path, r.status))
        .collect::<Vec<_>>()
        .join("\n")
}

fn collect_custom_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_custom_ids(i, out)),
        Value::Object(o) => {
            if let Some(c) = o.get("custom_id").and_then(Value::as_str) {
                out.push(c.to_owned());
            }
            for key in ["components", "accessory"] {
                if let Some(child) = o.get(key) {
                    collect_custom_ids(child, out);
                }
            }
        }
        _ => {}
    }
}

/// Records an injected interaction (so its answers can be checked) and sends it to the bot.
fn track_and_dispatch(
    inner: &mut state::Inner,
    id: u64,
    token: String,
    kind: u8,
    channel_id: u64,
    message_id: Option<u64>,
    payload: &Value,
) -> InteractionRef {
    inner.interaction_tokens.insert(token.clone(), id);
    inner.interactions.insert(
        id,
        InteractionRec {
            id,
            token: token.clone(),
            kind,
            channel_id,
            message_id,
            callback: None,
            original: None,
            followups: Vec::new(),
            last_answer: None,
            dispatched_at: Instant::now(),
            answered_at: None,
            answered: Arc::default(),
        },
    );
    inner.dispatch("INTERACTION_CREATE", payload);
    InteractionRef { id, token }
}

/// The final answer of an interaction, if there is one yet.
fn reply_of(inner: &state::Inner, rec: &InteractionRec) -> Option<Value> {
    let callback = rec.callback.as_ref()?;
    let kind = callback.get("type").and_then(Value::as_u64)?;
    if kind == 9 {
        // A modal: the answer is the form itself.
        let mut modal = callback.get("data")?.clone();
        modal["callback_type"] = json!(9);
        return Some(modal);
    }
    let (message_id, extra_flags) = match kind {
        4 => (rec.original?, 0),
        7 => (rec.message_id?, 0),
        5 | 6 => (
            rec.last_answer?,
            callback
                .pointer("/data/flags")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                & 64,
        ),
        _ => return None,
    };
    let mut m = inner.messages.get(&message_id)?.clone();
    let flags = m["flags"].as_u64().unwrap_or(0) | extra_flags;
    m["flags"] = json!(flags);
    m["callback_type"] = json!(kind);
    Some(m)
}

/// `data.resolved` for user (6), channel (7), role (8) and mentionable (9) options.
fn resolve_options(inner: &state::Inner, guild_id: Option<u64>, options: &Value) -> Value {
    let mut users = BTreeMap::new();
    let mut members = BTreeMap::new();
    let mut channels = BTreeMap::new();
    let mut roles = BTreeMap::new();
    let mut attachments = BTreeMap::new();
    let mut stack: Vec<&Value> = options
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    while let Some(opt) = stack.pop() {
        if let Some(children) = opt.get("options").and_then(Value::as_array) {
            stack.extend(children);
        }
        let kind = opt.get("type").and_then(Value::as_u64).unwrap_or(0);
        let Some(id) = opt
            .get("value")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let is_role = inner.roles.contains_key(&id);
        if kind == 11 {
            if let Some(a) = inner.attachments.get(&id) {
                attachments.insert(
                    id.to_string(),
                    json!({
                        "id": id.to_string(),
                        "filename": a.filename,
                        "size": a.size,
                        "url": a.url,
                        "proxy_url": a.url,
                        "content_type": a.content_type.as_deref().unwrap_or("application/wasm"),
                        "ephemeral": true,
                    }),
                );
            }
        } else if kind == 6 || (kind == 9 && !is_role) {
            let spec = inner
                .users
                .get(&id)
                .cloned()
                .unwrap_or_else(|| MemberSpec::new(id, &format!("user{id}")));
            users.insert(id.to_string(), payloads::member_user(&spec));
            if let Some(g) = guild_id.and_then(|g| inner.guilds.get(&g)) {
                let mut m = payloads::member(&spec, &g.joined_at);
                if let Some(o) = m.as_object_mut() {
                    o.remove("user");
                }
                members.insert(id.to_string(), m);
            }
        } else if kind == 7 {
            if let Some(c) = inner.channels.get(&id) {
                channels.insert(
                    id.to_string(),
                    json!({
                        "id": c["id"], "name": c["name"], "type": c["type"],
                        "parent_id": c.get("parent_id").cloned().unwrap_or(Value::Null),
                        "permissions": "2248473465835073",
                    }),
                );
            }
        } else if kind == 8 || kind == 9 {
            if let Some(r) = inner.roles.get(&id) {
                roles.insert(id.to_string(), payloads::role(r));
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (key, map) in [
        ("users", users),
        ("members", members),
        ("channels", channels),
        ("roles", roles),
        ("attachments", attachments),
    ] {
        if !map.is_empty() {
            out.insert(key.into(), json!(map));
        }
    }
    Value::Object(out)
}

#[allow(clippy::too_many_arguments)]
fn build_interaction(
    shared: &Shared,
    inner: &state::Inner,
    id: u64,
    token: &str,
    kind: u8,
    guild_id: Option<u64>,
    channel_id: u64,
    member: &MemberSpec,
    data: Value,
    message: Option<Value>,
) -> Value {
    let channel = match inner.channels.get(&channel_id) {
        Some(c) => {
            let mut p =
                json!({"id": c["id"], "type": c["type"], "permissions": "2248473465835073"});
            if let Some(name) = c.get("name") {
                p["name"] = name.clone();
            }
            if let Some(parent) = c.get("parent_id") {
                p["parent_id"] = parent.clone();
            }
            if let Some(g) = c.get("guild_id") {
                p["guild_id"] = g.clone();
            }
            p
        }
        None => {
            json!({"id": channel_id.to_string(), "type": if guild_id.is_some() { 0 } else { 1 }})
        }
    };
    let guild = guild_id.map(|g| {
        let joined = inner
            .guilds
            .get(&g)
            .map_or_else(ids::now_iso, |g| g.joined_at.clone());
        (g, payloads::member(member, &joined))
    });
    payloads::interaction(payloads::InteractionBase {
        id,
        application_id: shared.app_id,
        kind,
        token: token.to_owned(),
        channel_id,
        channel,
        guild,
        user: payloads::member_user(member),
        data,
        message,
        attachment_size_limit: inner.attachment_size_limit.unwrap_or(26_214_400),
    })
}

#[cfg(test)]
mod tests;
