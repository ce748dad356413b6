//! The emulator's shared state: guilds, roles, channels, messages, interactions, gateway
//! sessions, the request log, violations and failure-injection rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Bound, Deref};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::ids::Snowflakes;
use crate::{payloads, MemberSpec, RecordedRequest};

/// A guild as the emulator knows it.
#[derive(Clone, Debug)]
pub struct GuildRec {
    /// Guild id (also the @everyone role id).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner user id.
    pub owner_id: u64,
    /// When the bot joined (ISO 8601).
    pub joined_at: String,
}

/// A role.
#[derive(Clone, Debug)]
pub struct RoleRec {
    /// Role id.
    pub id: u64,
    /// Guild id.
    pub guild_id: u64,
    /// Name.
    pub name: String,
    /// Permission bits.
    pub permissions: u64,
    /// Position (0 for @everyone).
    pub position: u64,
}

/// An interaction the emulator injected, and what the bot answered.
#[derive(Clone, Debug)]
pub struct InteractionRec {
    /// Interaction id.
    pub id: u64,
    /// Token.
    pub token: String,
    /// 2 command, 3 component.
    pub kind: u8,
    /// Channel it happened in.
    pub channel_id: u64,
    /// For components: the message the component is on.
    pub message_id: Option<u64>,
    /// The initial callback body.
    pub callback: Option<Value>,
    /// Id of the `@original` response message, once there is one.
    pub original: Option<u64>,
    /// Follow-up message ids.
    pub followups: Vec<u64>,
    /// Id of the message that was answered last (PATCH @original or follow-up) after a deferral.
    pub last_answer: Option<u64>,
    /// When INTERACTION_CREATE was dispatched.
    pub dispatched_at: std::time::Instant,
    /// When the latest visible answer arrived (a type 4/7 callback, an edit or a follow-up).
    pub answered_at: Option<std::time::Instant>,
    /// Woken on every answer, so a test waiting for this interaction wakes for it alone.
    pub answered: std::sync::Arc<tokio::sync::Notify>,
}

/// A failure-injection rule.
#[derive(Clone, Debug)]
pub struct FailRule {
    /// Upper-case method.
    pub method: String,
    /// Pattern segments (`*` matches one segment).
    pub pattern: Vec<String>,
    /// Status to answer.
    pub status: u16,
    /// How many more requests to fail.
    pub remaining: usize,
}

impl FailRule {
    /// Whether the rule applies to `method` + `path` (relative to /api/v10).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.remaining > 0
            && self.method.eq_ignore_ascii_case(method)
            && parts.len() == self.pattern.len()
            && self
                .pattern
                .iter()
                .zip(&parts)
                .all(|(p, s)| p == "*" || p == s)
    }
}

/// One websocket connection.
#[derive(Debug)]
pub struct Session {
    /// Outgoing text frames.
    pub tx: UnboundedSender<String>,
    /// Last sequence number sent.
    pub seq: u64,
    /// Whether the client sent IDENTIFY.
    pub identified: bool,
    /// Whether READY and the GUILD_CREATEs were sent.
    pub ready_sent: bool,
    /// The intents of the accepted IDENTIFY (0 before it).
    pub intents: u64,
}

/// Everything mutable, behind one mutex (never held across an `.await`).
#[derive(Debug, Default)]
pub struct Inner {
    /// Guilds by id.
    pub guilds: BTreeMap<u64, GuildRec>,
    /// Roles by id.
    pub roles: BTreeMap<u64, RoleRec>,
    /// Live channels by id (complete channel JSON).
    pub channels: BTreeMap<u64, Value>,
    /// Messages by id (complete message JSON), indexed by channel.
    pub messages: MessageStore,
    /// Users the emulator has seen (MemberSpecs of injected interactions).
    pub users: BTreeMap<u64, MemberSpec>,
    /// Members seen per guild.
    pub guild_members: BTreeMap<u64, std::collections::BTreeSet<u64>>,
    /// DM channel id per user.
    pub dm_channels: BTreeMap<u64, u64>,
    /// Global commands, as last registered (response objects).
    pub commands: Vec<Value>,
    /// Guild commands, per guild.
    pub guild_commands: BTreeMap<u64, Vec<Value>>,
    /// Interactions by id.
    pub interactions: HashMap<u64, InteractionRec>,
    /// Interaction id by token (webhook routes are addressed by token).
    pub interaction_tokens: HashMap<String, u64>,
    /// Every REST request.
    pub requests: Vec<RecordedRequest>,
    /// OpenAPI / protocol violations.
    pub violations: Vec<String>,
    /// Failure-injection rules.
    pub failures: Vec<FailRule>,
    /// Slow-route rules: (rule, delay). The rule's `status` is unused.
    pub delays: Vec<(FailRule, std::time::Duration)>,
    /// Gateway sessions by connection number.
    pub sessions: BTreeMap<u64, Session>,
    /// How many IDENTIFYs were received.
    pub identify_count: usize,
    /// Human-readable gateway history, for error messages.
    pub gateway_log: Vec<String>,
    /// Version counter for registered commands.
    pub command_version: u64,
    /// Message attachments, by id: served under `/attachments/…` like Discord's CDN.
    pub attachments: BTreeMap<u64, AttachmentRec>,
    /// Avatars by user id: `(hash, PNG bytes)`, served under `/avatars/…`.
    pub avatars: BTreeMap<u64, (String, Vec<u8>)>,
    /// Successful CDN downloads per URL path (without the query).
    pub cdn_downloads: BTreeMap<String, usize>,
    /// Every CDN request: path (with the query, if any) and the status answered.
    pub cdn_log: Vec<(String, u16)>,
    /// Users whose DMs are closed to the bot (posting there answers 403 50007).
    pub dms_closed: BTreeSet<u64>,
    /// Whether the app lacks the MESSAGE_CONTENT privileged intent (IDENTIFY asking for it
    /// is closed with 4014).
    pub message_content_refused: bool,
    /// The `attachment_size_limit` of interactions from now on (`None`: 25 MiB).
    pub attachment_size_limit: Option<u64>,
    /// The intents of every IDENTIFY received, accepted or not, in order.
    pub identify_intents: Vec<u64>,
    /// The intents of the last accepted IDENTIFY (the current session's).
    pub session_intents: Option<u64>,
}

/// The MESSAGE_CONTENT gateway intent.
pub const MESSAGE_CONTENT: u64 = 1 << 15;
/// The GUILD_MESSAGES gateway intent.
pub const GUILD_MESSAGES: u64 = 1 << 9;
/// The DIRECT_MESSAGES gateway intent.
pub const DIRECT_MESSAGES: u64 = 1 << 12;

/// Messages by id plus an index of message ids per channel, so that paging through a channel
/// is a range query however many messages other channels hold.
///
/// Reads go through [`Deref`] to the id-keyed map; every change goes through the methods here,
/// which keep the index in step.
#[derive(Debug, Default)]
pub struct MessageStore {
    by_id: BTreeMap<u64, Value>,
    by_channel: HashMap<u64, BTreeSet<u64>>,
}

impl Deref for MessageStore {
    type Target = BTreeMap<u64, Value>;

    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

/// The channel of a stored message.
fn channel_of(msg: &Value) -> Option<u64> {
    msg.get("channel_id")
        .and_then(Value::as_str)
        .and_then(|c| c.parse().ok())
}

impl MessageStore {
    /// Stores (or replaces) a message; its channel comes from its `channel_id`.
    pub fn insert(&mut self, id: u64, msg: Value) -> Option<Value> {
        if let Some(c) = channel_of(&msg) {
            self.by_channel.entry(c).or_default().insert(id);
        }
        let old = self.by_id.insert(id, msg);
        if let Some(c) = old.as_ref().and_then(channel_of) {
            if self.by_id.get(&id).and_then(channel_of) != Some(c) {
                self.unindex(c, id);
            }
        }
        old
    }

    /// A stored message, to change in place (its `channel_id` must stay as it is).
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut Value> {
        self.by_id.get_mut(id)
    }

    /// Removes a message.
    pub fn remove(&mut self, id: &u64) -> Option<Value> {
        let old = self.by_id.remove(id)?;
        if let Some(c) = channel_of(&old) {
            self.unindex(c, *id);
        }
        Some(old)
    }

    /// Keeps only the messages for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&u64, &mut Value) -> bool) {
        let mut gone = Vec::new();
        self.by_id.retain(|id, m| {
            let k = keep(id, m);
            if !k {
                gone.push((channel_of(m), *id));
            }
            k
        });
        for (c, id) in gone {
            if let Some(c) = c {
                self.unindex(c, id);
            }
        }
    }

    fn unindex(&mut self, channel: u64, id: u64) {
        if let Some(set) = self.by_channel.get_mut(&channel) {
            set.remove(&id);
            if set.is_empty() {
                self.by_channel.remove(&channel);
            }
        }
    }

    /// Ids of the messages in `channel` within `range`, oldest first (reverse for newest
    /// first).
    pub fn ids_in(
        &self,
        channel: u64,
        range: (Bound<u64>, Bound<u64>),
    ) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.by_channel
            .get(&channel)
            .into_iter()
            .flat_map(move |set| set.range(range).copied())
    }
}

/// A file a test attached to a command.
#[derive(Debug, Clone)]
pub struct AttachmentRec {
    /// The file name.
    pub filename: String,
    /// The size Discord reports (normally the file's length).
    pub size: u64,
    /// Where the attachment says it lives.
    pub url: String,
    /// The file; `None` for one that lives elsewhere.
    pub bytes: Option<Vec<u8>>,
    /// Its media type, if known (served as `Content-Type`).
    pub content_type: Option<String>,
    /// How often it was downloaded from the emulator.
    pub downloads: usize,
}

/// Immutable configuration plus the mutex'd state.
#[derive(Debug)]
pub struct Shared {
    /// Application id (= bot user id).
    pub app_id: u64,
    /// Bot token.
    pub token: String,
    /// Bot username.
    pub bot_name: String,
    /// Port REST and gateway listen on.
    pub port: u16,
    /// Id source.
    pub ids: Snowflakes,
    /// Woken after every REST request, so waits need not poll.
    pub changed: tokio::sync::Notify,
    inner: Mutex<Inner>,
}

impl Shared {
    /// New state for an emulator on `port`.
    pub fn new(port: u16) -> Shared {
        Shared {
            app_id: crate::APPLICATION_ID,
            token: "emulated-bot-token.tessera".to_owned(),
            bot_name: "Tessera".to_owned(),
            port,
            ids: Snowflakes::new(),
            changed: tokio::sync::Notify::new(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Locks the state (a panic in another thread does not poison it for tests).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:PORT`: REST under `/api/v10`, the CDN at the root.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT/gateway`.
    pub fn gateway_url(&self) -> String {
        format!("ws://127.0.0.1:{}/gateway", self.port)
    }

    /// The bot's user object.
    pub fn bot_user(&self) -> Value {
        payloads::user(self.app_id, &self.bot_name, true)
    }
}

impl Inner {
    /// Sends a dispatch (op 0) to every identified session.
    pub fn dispatch(&mut self, event: &str, data: &Value) {
        self.dispatch_per_session(event, |_| Some(data.clone()));
    }

    /// Sends a dispatch to every identified session for which `payload(intents)` gives one
    /// (an event that needs an intent, or whose contents depend on the session's intents).
    pub fn dispatch_per_session(&mut self, event: &str, payload: impl Fn(u64) -> Option<Value>) {
        let mut sent = 0;
        for session in self.sessions.values_mut().filter(|s| s.identified) {
            let Some(data) = payload(session.intents) else {
                continue;
            };
            session.seq += 1;
            let frame = json!({"op": 0, "t": event, "s": session.seq, "d": data});
            if session.tx.send(frame.to_string()).is_ok() {
                sent += 1;
            }
        }
        self.gateway_log
            .push(format!("dispatched {event} to {sent} session(s)"));
    }

    /// Whether message content is visible to the bot in messages it neither wrote nor is
    /// mentioned in: the app has the MESSAGE_CONTENT intent and the current session asked
    /// for it.
    pub fn message_content_visible(&self) -> bool {
        !self.message_content_refused
            && self
                .session_intents
                .is_some_and(|i| i & MESSAGE_CONTENT != 0)
    }

    /// The DM channel with `user`, created (like `POST /users/@me/channels`) if there is none.
    pub fn dm_channel(&mut self, shared: &Shared, user: &MemberSpec) -> u64 {
        if let Some(id) = self.dm_channels.get(&user.user_id) {
            return *id;
        }
        let id = shared.ids.next();
        self.dm_channels.insert(user.user_id, id);
        self.channels
            .insert(id, payloads::dm_channel(id, payloads::member_user(user)));
        id
    }

    /// The user object of `user_id`: the bot, a member the emulator has seen, or (any other
    /// snowflake) a user named after their id.
    pub fn user_json(&self, shared: &Shared, user_id: u64) -> Value {
        if user_id == shared.app_id {
            return shared.bot_user();
        }
        match self.users.get(&user_id) {
            Some(m) => payloads::member_user(m),
            None => payloads::user(user_id, &format!("user{user_id}"), false),
        }
    }

    /// Roles of a guild as JSON, @everyone first.
    pub fn guild_roles(&self, guild_id: u64) -> Vec<Value> {
        self.roles
            .values()
            .filter(|r| r.guild_id == guild_id)
            .map(payloads::role)
            .collect()
    }

    /// A position for a new channel: any increasing number will do, and counting every channel
    /// keeps channel creation O(1) however many tickets a benchmark has opened.
    pub fn next_channel_position(&self) -> usize {
        self.channels.len()
    }

    /// Channels of a guild as JSON, in id order.
    pub fn guild_channels(&self, guild_id: u64) -> Vec<Value> {
        let gid = guild_id.to_string();
        self.channels
            .values()
            .filter(|c| c.get("guild_id").and_then(Value::as_str) == Some(gid.as_str()))
            .cloned()
            .collect()
    }

    /// A complete GUILD_CREATE for `guild_id`.
    pub fn guild_create(&self, shared: &Shared, guild_id: u64) -> Option<Value> {
        let g = self.guilds.get(&guild_id)?;
        let mut members = vec![payloads::bot_member(
            shared.app_id,
            &shared.bot_name,
            &g.joined_at,
        )];
        for uid in self.guild_members.get(&guild_id).into_iter().flatten() {
            if let Some(m) = self.users.get(uid) {
                members.push(payloads::member(m, &g.joined_at));
            }
        }
        Some(payloads::guild_create(
            g,
            &self.guild_roles(guild_id),
            &self.guild_channels(guild_id),
            &members,
            shared.app_id,
        ))
    }

    /// Whether `id` is a role (or @everyone) of some guild.
    pub fn is_role(&self, id: u64) -> bool {
        self.roles.contains_key(&id)
    }

    /// Remembers a member of a guild.
    pub fn remember_member(&mut self, guild_id: Option<u64>, m: &MemberSpec) {
        if let (Some(hash), Some(bytes)) = (m.avatar_hash(), m.avatar.as_ref()) {
            self.avatars.insert(m.user_id, (hash, bytes.clone()));
        }
        self.users.insert(m.user_id, m.clone());
        if let Some(g) = guild_id {
            self.guild_members.entry(g).or_default().insert(m.user_id);
        }
    }
}
