//! An in-memory Discord for the ticket service's unit tests: records every call, and refuses the
//! ones a test asks it to.

use std::sync::Mutex;

use super::open::{OpenOutcome, Origin};
use super::port::DeleteReason;
use super::{
    Caller, ChannelRequest, DiscordFailure, DiscordPort, LogEvent, NoPlugins, Notice, Tickets,
    Welcome,
};
use crate::store::{GuildSettings, SettingsUpdate, Store, Ticket};
use crate::transcripts::{CaptureLimits, Captured};

/// The server every test uses.
pub const GUILD: u64 = 1_000;
/// Its staff role.
pub const STAFF_ROLE: u64 = 2_000;
/// The bot's own user.
pub const BOT: u64 = 9_999;

/// What the fake saw, and what it should refuse.
#[derive(Default)]
pub struct Seen {
    pub created: Vec<ChannelRequest>,
    pub welcomes: Vec<(u64, Welcome)>,
    pub logs: Vec<(u64, LogEvent)>,
    pub notices: Vec<(u64, Notice)>,
    pub deleted: Vec<(u64, DeleteReason)>,
    pub granted: Vec<(u64, u64)>,
    pub revoked: Vec<(u64, u64)>,
    pub captured: Vec<u64>,
    /// What `capture` answers (empty by default).
    pub capture: Option<Captured>,
    pub files: Vec<(String, Vec<u8>)>,
    pub dms: Vec<(u64, String, Vec<u8>)>,
    pub refuse_create: Option<DiscordFailure>,
    pub refuse_log_file: Option<DiscordFailure>,
    pub refuse_welcome: Option<DiscordFailure>,
    pub refuse_delete: Option<DiscordFailure>,
    pub refuse_grant: Option<DiscordFailure>,
    pub refuse_revoke: Option<DiscordFailure>,
}

/// Discord, in memory.
#[derive(Default)]
pub struct FakeDiscord {
    pub seen: Mutex<Seen>,
}

impl FakeDiscord {
    fn with<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        // A poisoned lock means another assertion already failed; the test is lost anyway.
        f(&mut self.seen.lock().expect("fake Discord lock"))
    }
}

fn refuse(failure: Option<DiscordFailure>) -> Result<(), DiscordFailure> {
    failure.map_or(Ok(()), Err)
}

impl DiscordPort for FakeDiscord {
    async fn create_ticket_channel(&self, request: &ChannelRequest) -> Result<u64, DiscordFailure> {
        self.with(|s| {
            refuse(s.refuse_create)?;
            s.created.push(request.clone());
            Ok(50_000 + s.created.len() as u64)
        })
    }

    async fn post_welcome(&self, channel_id: u64, welcome: &Welcome) -> Result<(), DiscordFailure> {
        self.with(|s| {
            refuse(s.refuse_welcome)?;
            s.welcomes.push((channel_id, welcome.clone()));
            Ok(())
        })
    }

    async fn post_log(&self, channel: u64, event: &LogEvent) -> Result<(), DiscordFailure> {
        self.with(|s| s.logs.push((channel, event.clone())));
        Ok(())
    }

    async fn announce(&self, channel_id: u64, notice: &Notice) -> Result<(), DiscordFailure> {
        self.with(|s| s.notices.push((channel_id, notice.clone())));
        Ok(())
    }

    async fn delete_channel(
        &self,
        _guild_id: u64,
        channel_id: u64,
        reason: DeleteReason,
    ) -> Result<(), DiscordFailure> {
        self.with(|s| {
            refuse(s.refuse_delete)?;
            s.deleted.push((channel_id, reason));
            Ok(())
        })
    }

    async fn grant_member(&self, channel_id: u64, user_id: u64) -> Result<(), DiscordFailure> {
        self.with(|s| {
            refuse(s.refuse_grant)?;
            s.granted.push((channel_id, user_id));
            Ok(())
        })
    }

    async fn revoke_member(&self, channel_id: u64, user_id: u64) -> Result<(), DiscordFailure> {
        self.with(|s| {
            refuse(s.refuse_revoke)?;
            s.revoked.push((channel_id, user_id));
            Ok(())
        })
    }

    async fn capture(
        &self,
        _guild_id: u64,
        channel_id: u64,
        _limits: CaptureLimits,
    ) -> Result<Captured, DiscordFailure> {
        self.with(|s| {
            s.captured.push(channel_id);
            Ok(s.capture.clone().unwrap_or_default())
        })
    }

    async fn dm_transcript(
        &self,
        user_id: u64,
        _number: i64,
        _guild_name: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), DiscordFailure> {
        self.with(|s| {
            s.dms.push((user_id, file_name.to_owned(), bytes));
            Ok(())
        })
    }

    async fn guild_name(&self, _guild_id: u64) -> String {
        "Fake".to_owned()
    }

    async fn post_log_file(
        &self,
        log_channel_id: u64,
        event: &LogEvent,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), DiscordFailure> {
        self.with(|s| {
            refuse(s.refuse_log_file)?;
            s.logs.push((log_channel_id, event.clone()));
            s.files.push((file_name.to_owned(), bytes));
            Ok(())
        })
    }
}

/// A fresh in-memory database, a fake Discord, and a server that ran `/setup`.
pub struct World {
    pub store: Store,
    pub discord: FakeDiscord,
}

impl World {
    /// A server set up with [`STAFF_ROLE`], a log channel, and `max_open` tickets per member.
    pub async fn set_up(max_open: u8) -> World {
        let world = World::bare().await;
        let update = SettingsUpdate {
            staff_role_id: STAFF_ROLE,
            category_id: None,
            log_channel_id: Some(777),
            max_open: Some(max_open),
            ..SettingsUpdate::default()
        };
        world
            .store
            .save_settings(GUILD, &update)
            .await
            .expect("save settings");
        world
    }

    /// A server that never ran `/setup`.
    pub async fn bare() -> World {
        let store = Store::connect("sqlite::memory:", 1)
            .await
            .expect("in-memory SQLite");
        store.migrate().await.expect("migrations");
        World {
            store,
            discord: FakeDiscord::default(),
        }
    }

    /// The ticket service over this world.
    pub fn tickets(&self) -> Tickets<'_, FakeDiscord, NoPlugins> {
        Tickets::new(&self.store, &self.discord, &NoPlugins, BOT)
    }

    /// Opens a ticket for `user` and returns it as stored, with the server's settings.
    pub async fn open_ticket(&self, user: u64) -> (Ticket, GuildSettings) {
        let tickets = self.tickets();
        match tickets.open(&member(user), Origin::Direct, None).await {
            Ok(OpenOutcome::Opened { channel_id, .. }) => tickets
                .open_in_channel(GUILD, channel_id)
                .await
                .expect("lookup")
                .expect("the ticket just opened"),
            other => panic!("expected a ticket, got {other:?}"),
        }
    }

    /// The server's statistics of yesterday and today (UTC; a test may straddle midnight).
    pub async fn stats(&self) -> crate::stats::Summary {
        let today = crate::stats::Day::of(crate::store::now_ms());
        self.store
            .stats_summary(GUILD, today.minus(1), today)
            .await
            .expect("statistics")
    }

    /// Reads what the fake saw.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        self.discord.with(|s| f(s))
    }

    /// Sets what the fake refuses.
    pub fn refuse(&self, f: impl FnOnce(&mut Seen)) {
        self.discord.with(f)
    }
}

/// A member with no roles.
pub fn member(user_id: u64) -> Caller {
    Caller {
        user_id,
        guild_id: GUILD,
        roles: vec![],
        manages_server: false,
    }
}

/// A member with the staff role.
pub fn staff(user_id: u64) -> Caller {
    Caller {
        roles: vec![STAFF_ROLE],
        ..member(user_id)
    }
}

/// A member with Manage Server and no staff role.
pub fn manager(user_id: u64) -> Caller {
    Caller {
        manages_server: true,
        ..member(user_id)
    }
}
