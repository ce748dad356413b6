//! The emulator's shared state: guilds, roles, channels, messages, interactions, gateway
//! sessions, the request log, violations and failure-injection rules.

use std::collections::{BTreeMap, HashMap};
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
    /// Messages by id (complete message JSON).
    pub messages: BTreeMap<u64, Value>,
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
        let mut sent = 0;
        for session in self.sessions.values_mut().filter(|s| s.identified) {
            session.seq += 1;
            let frame = json!({"op": 0, "t": event, "s": session.seq, "d": data});
            if session.tx.send(frame.to_string()).is_ok() {
                sent += 1;
            }
        }
        self.gateway_log
            .push(format!("dispatched {event} to {sent} session(s)"));
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
        self.users.insert(m.user_id, m.clone());
        if let Some(g) = guild_id {
            self.guild_members.entry(g).or_default().insert(m.user_id);
        }
    }
}
