//! `spawn_app()`: the Discord emulator, a fresh database and the real bot, wired together.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::config::{
    DatabaseSettings, DiscordSettings, PluginSettings, ServerSettings, Settings, TicketSettings,
    TranscriptSettings,
};
use tessera::startup::Application;
use tessera::store::{Backend, Store};
use tessera_discord_emulator::{Emulator, GuildSpec, InteractionRef, MemberSpec, MANAGE_GUILD};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::TestDb;

/// The secrets key test bots run with (32 bytes, base64).
pub const TEST_SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Every wait in these tests ends after this long, with what the emulator saw.
pub const WAIT: Duration = Duration::from_secs(15);

/// Permission bits used in assertions.
pub mod perms {
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    pub const ATTACH_FILES: u64 = 1 << 15;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const MANAGE_CHANNELS: u64 = 1 << 4;
    pub const OPENER: u64 = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | ATTACH_FILES;
    pub const STAFF: u64 = OPENER | MANAGE_MESSAGES;
    pub const BOT: u64 = VIEW_CHANNEL | SEND_MESSAGES | MANAGE_CHANNELS;
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// One test's world: a server with a staff role, a ticket category, a log channel and a lobby.
pub struct TestApp {
    pub emu: Emulator,
    /// A handle on the bot's database, for assertions.
    pub store: Store,
    pub guild: u64,
    pub staff_role: u64,
    pub category: u64,
    pub log_channel: u64,
    pub lobby: u64,
    pub db: TestDb,
    /// Integration settings for the next `start_bot` (a secrets key is set; loopback is off).
    pub plugins: PluginSettings,
    pub transcripts: TranscriptSettings,
    pub tickets: TicketSettings,
    data_dir: tempfile::TempDir,
    running: Option<Running>,
}

/// Starts everything; `None` when PostgreSQL is unavailable outside CI (the test is skipped).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    if let Ok(filter) = std::env::var("TESSERA_TEST_LOG") {
        tessera::telemetry::init(&filter);
    }
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    let emu = Emulator::start().await.expect("the emulator starts");
    let guild = emu.add_guild(GuildSpec::default());
    let staff_role = emu.add_role(guild, "Staff", 0);
    let category = emu.add_channel(guild, "Tickets", 4, None);
    let log_channel = emu.add_channel(guild, "ticket-log", 0, None);
    let lobby = emu.add_channel(guild, "support", 0, None);
    let mut app = TestApp {
        emu,
        store,
        guild,
        staff_role,
        category,
        log_channel,
        lobby,
        db,
        plugins: PluginSettings {
            secrets_key: Some(SecretString::from(TEST_SECRETS_KEY)),
            // The bot runs in this test process; uploads compile in the real `tessera` binary.
            compile_worker: Some(env!("CARGO_BIN_EXE_tessera").into()),
            ..PluginSettings::default()
        },
        transcripts: TranscriptSettings::default(),
        tickets: TicketSettings::default(),
        data_dir: tempfile::tempdir().expect("a temp dir"),
        running: None,
    };
    app.start_bot().await;
    Some(app)
}

impl TestApp {
    /// The settings the bot runs with: the emulator as API base, this test's database.
    pub fn settings(&self) -> Settings {
        Settings {
            discord: DiscordSettings {
                token: Some(SecretString::from(self.emu.bot_token())),
                api_base: self.emu.base_url(),
                cdn_base: self.emu.base_url(),
            },
            database: DatabaseSettings {
                url: Some(self.db.url.clone()),
                max_connections: 5,
            },
            data_dir: self.data_dir.path().to_owned(),
            log: "warn".to_owned(),
            plugins: self.plugins.clone(),
            transcripts: self.transcripts.clone(),
            // Servers missing from READY are checked again at once.
            servers: ServerSettings {
                removal_grace_secs: 0,
            },
            tickets: self.tickets.clone(),
        }
    }

    /// The bot's data directory (its SQLite file, compile cache, ...).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// Starts the bot and waits until it has identified and registered its commands.
    pub async fn start_bot(&mut self) {
        assert!(self.running.is_none(), "the bot is already running");
        let identified = self.emu.identify_count();
        let registered = self.registrations();
        let app = Application::build(self.settings())
            .await
            .expect("the bot builds");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        self.running = Some(Running { stop, task });
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.emu.identify_count() <= identified || self.registrations() <= registered {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not identify and register commands; requests: {:#?}",
                self.emu.requests()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn registrations(&self) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .count()
    }

    /// Stops the bot gracefully and waits for it.
    pub async fn stop_bot(&mut self) {
        let running = self.running.take().expect("the bot is running");
        let _ = running.stop.send(());
        tokio::time::timeout(WAIT, running.task)
            .await
            .expect("the bot stops in time")
            .expect("the bot task did not panic")
            .expect("the bot stopped cleanly");
    }

    /// Stops the bot and checks the emulator saw no request that breaks Discord's schema.
    pub async fn finish(mut self) {
        if self.running.is_some() {
            self.stop_bot().await;
        }
        assert_eq!(
            self.emu.violations(),
            Vec::<String>::new(),
            "OpenAPI violations"
        );
    }

    /// A server manager (Manage Server).
    pub fn admin(&self) -> MemberSpec {
        MemberSpec::new(500_000_000_000_000_001, "admin")
            .with_permissions(MANAGE_GUILD | perms::VIEW_CHANNEL | perms::SEND_MESSAGES)
    }

    /// A member with the staff role.
    pub fn staff(&self, n: u64) -> MemberSpec {
        MemberSpec::new(600_000_000_000_000_000 + n, &format!("staff{n}"))
            .with_roles([self.staff_role])
    }

    /// An ordinary member.
    pub fn member(&self, n: u64) -> MemberSpec {
        MemberSpec::new(700_000_000_000_000_000 + n, &format!("member{n}"))
    }

    /// Sends a slash command and returns the final answer.
    pub async fn command(
        &self,
        who: &MemberSpec,
        channel: u64,
        name: &str,
        options: Value,
    ) -> Value {
        let i = self
            .emu
            .send_command(self.guild, channel, who, name, options)
            .await;
        self.reply(&i).await
    }

    /// Clicks a button on a message and returns the final answer.
    pub async fn click(
        &self,
        who: &MemberSpec,
        channel: u64,
        message: u64,
        custom_id: &str,
    ) -> Value {
        let i = self
            .emu
            .click_button(self.guild, channel, message, who, custom_id)
            .await;
        self.reply(&i).await
    }

    /// The final answer to an interaction, which must be ephemeral.
    pub async fn reply(&self, i: &InteractionRef) -> Value {
        let reply = self.emu.wait_for_reply(i, WAIT).await.expect("an answer");
        let flags = reply["flags"].as_u64().unwrap_or(0);
        assert_eq!(flags & 64, 64, "answers are ephemeral: {reply}");
        reply
    }

    /// `/setup` with the staff role, category and log channel.
    pub async fn set_up(&self, max_open: u64) -> Value {
        let options = json!([
            {"name": "staff_role", "type": 8, "value": self.staff_role.to_string()},
            {"name": "category", "type": 7, "value": self.category.to_string()},
            {"name": "log_channel", "type": 7, "value": self.log_channel.to_string()},
            {"name": "max_open", "type": 4, "value": max_open},
        ]);
        let reply = self
            .command(&self.admin(), self.lobby, "setup", options)
            .await;
        assert!(text(&reply).contains("set up"), "{reply}");
        reply
    }

    /// `/panel` with defaults; returns the panel message's id and its button's custom id.
    pub async fn post_panel(&self) -> (u64, String) {
        let reply = self
            .command(&self.admin(), self.lobby, "panel", json!([]))
            .await;
        assert!(text(&reply).contains("Panel posted"), "{reply}");
        let panel = self
            .emu
            .messages_in(self.lobby)
            .into_iter()
            .last()
            .expect("the panel message");
        let custom_id = panel["components"][0]["components"][0]["custom_id"]
            .as_str()
            .expect("a button")
            .to_owned();
        (id(&panel["id"]), custom_id)
    }

    /// Opens a ticket for `who` through a fresh panel; returns the ticket channel id.
    pub async fn open_via_panel(&self, who: &MemberSpec) -> u64 {
        let (panel, custom_id) = self.post_panel().await;
        let reply = self.click(who, self.lobby, panel, &custom_id).await;
        channel_mentioned(&reply).unwrap_or_else(|| panic!("no ticket channel in {reply}"))
    }

    /// The welcome message of a ticket channel.
    pub fn welcome(&self, channel: u64) -> Value {
        self.emu
            .messages_in(channel)
            .into_iter()
            .next()
            .expect("a welcome message")
    }
}

impl TestApp {
    /// Installs a plugin built from `plugins/` the way `tessera plugin install` does; the bot
    /// loads it at its next start.
    pub async fn install_plugin(&self, file: &str) {
        let runtime =
            tessera::plugins::runtime::Runtime::new(Default::default()).expect("a runtime");
        tessera::integrations::install_file(
            self.data_dir.path(),
            &self.store,
            &runtime,
            &crate::plugin_files::plugin(file),
        )
        .await
        .expect("the plugin installs");
    }

    /// Restarts the bot (to load plugins or settings).
    pub async fn restart_bot(&mut self) {
        self.stop_bot().await;
        self.start_bot().await;
    }

    /// Waits for a form (modal) as an interaction's answer.
    pub async fn form(&self, i: &InteractionRef) -> Value {
        let reply = self.emu.wait_for_reply(i, WAIT).await.expect("an answer");
        assert_eq!(reply["callback_type"], 9, "a form: {reply}");
        reply
    }

    /// Submits a form the bot showed, as `who`, and returns the answer.
    pub async fn submit(
        &self,
        who: &MemberSpec,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> Value {
        let i = self
            .emu
            .submit_modal(self.guild, self.lobby, who, custom_id, fields)
            .await;
        self.reply(&i).await
    }

    /// `/integrations enable NAME` as an admin, confirmed; fills the form with `fields` if the
    /// plugin has one. Returns the final answer.
    pub async fn enable_plugin(&self, name: &str, fields: &[(&str, &str)]) -> Value {
        let admin = self.admin();
        let prompt = self
            .command(
                &admin,
                self.lobby,
                "integrations",
                json!([{"name": "enable", "type": 1, "options": [{"name": "name", "type": 3, "value": name}]}]),
            )
            .await;
        let confirm = format!("tessera:int:enable:{name}");
        assert!(
            prompt["components"].to_string().contains(&confirm),
            "an Enable button: {prompt}"
        );
        let i = self
            .emu
            .click_button(
                self.guild,
                id(&prompt["channel_id"]),
                id(&prompt["id"]),
                &admin,
                &confirm,
            )
            .await;
        let answer = self.emu.wait_for_reply(&i, WAIT).await.expect("an answer");
        if answer["callback_type"] == 9 {
            let form_id = answer["custom_id"].as_str().expect("a form id").to_owned();
            return self.submit(&admin, &form_id, fields).await;
        }
        assert_eq!(
            answer["flags"].as_u64().unwrap_or(0) & 64,
            64,
            "ephemeral: {answer}"
        );
        answer
    }

    /// `/integrations config NAME` as an admin, then submits the form with `fields`.
    pub async fn configure_plugin(&self, name: &str, fields: &[(&str, &str)]) -> Value {
        let admin = self.admin();
        let i = self
            .emu
            .send_command(
                self.guild,
                self.lobby,
                &admin,
                "integrations",
                json!([{"name": "config", "type": 1, "options": [{"name": "name", "type": 3, "value": name}]}]),
            )
            .await;
        let form = self.form(&i).await;
        let form_id = form["custom_id"].as_str().expect("a form id").to_owned();
        self.submit(&admin, &form_id, fields).await
    }

    /// Clicks the Close button of a ticket's welcome message; returns the confirm prompt and
    /// the custom id of its "Close ticket" button.
    pub async fn ask_close(&self, who: &MemberSpec, channel: u64, welcome: u64) -> (Value, String) {
        let ask = self.click(who, channel, welcome, "tessera:close").await;
        let confirm = ask["components"][0]["components"][0]["custom_id"]
            .as_str()
            .expect("a confirm button")
            .to_owned();
        (ask, confirm)
    }

    /// Waits until the bot deleted `channel`.
    pub async fn wait_deleted(&self, channel: u64) {
        self.emu
            .wait_for_request(WAIT, |r| {
                r.method == "DELETE" && r.path == format!("/channels/{channel}")
            })
            .await
            .expect("the channel is deleted");
    }
}

/// The text of an answer.
pub fn text(reply: &Value) -> &str {
    reply["content"].as_str().unwrap_or_default()
}

/// A snowflake from JSON (a string).
pub fn id(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or_else(|| panic!("not a snowflake: {v}"))
}

/// The first `<#channel>` mention in an answer.
pub fn channel_mentioned(reply: &Value) -> Option<u64> {
    let t = text(reply);
    let start = t.find("<#")? + 2;
    let end = start + t[start..].find('>')?;
    t[start..end].parse().ok()
}
