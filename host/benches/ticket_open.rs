//! A full ticket open through the Discord emulator on SQLite: panel click → deferral → channel
//! → welcome → log notice → answer. Bot-side latency is measured by the emulator, from the
//! moment it dispatched the click to the moment the member's answer arrived.
//!
//! Prints p50/p99 latency and concurrent throughput, then runs criterion on both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secrecy::SecretString;
use serde_json::json;
use tessera::config::{DatabaseSettings, DiscordSettings, Settings};
use tessera::startup::Application;
use tessera_discord_emulator::{Emulator, GuildSpec, MemberSpec, MANAGE_GUILD};

const WAIT: Duration = Duration::from_secs(30);
/// Opens in flight at once for the throughput figure.
const BATCH: u64 = 500;

struct World {
    emu: Emulator,
    guild: u64,
    lobby: u64,
    panel: u64,
    button: String,
    next_member: AtomicU64,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().expect("a temp dir");
        let emu = Emulator::start().await.expect("emulator");
        let guild = emu.add_guild(GuildSpec::default());
        let staff = emu.add_role(guild, "Staff", 0);
        let category = emu.add_channel(guild, "Tickets", 4, None);
        let log = emu.add_channel(guild, "log", 0, None);
        let lobby = emu.add_channel(guild, "support", 0, None);
        let settings = Settings {
            discord: DiscordSettings {
                token: Some(SecretString::from(emu.bot_token())),
                api_base: emu.base_url(),
                cdn_base: emu.base_url(),
            },
            database: DatabaseSettings {
                url: Some(format!(
                    "sqlite://{}",
                    dir.path().join("bench.db").display()
                )),
                max_connections: 8,
            },
            data_dir: dir.path().to_owned(),
            log: "error".into(),
            plugins: Default::default(),
        };
        let app = Application::build(settings).await.expect("the bot builds");
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        while emu.global_commands().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let admin = MemberSpec::new(1, "admin").with_permissions(MANAGE_GUILD | 0xC00);
        let setup = json!([
            {"name": "staff_role", "type": 8, "value": staff.to_string()},
            {"name": "category", "type": 7, "value": category.to_string()},
            {"name": "log_channel", "type": 7, "value": log.to_string()},
        ]);
        let i = emu.send_command(guild, lobby, &admin, "setup", setup).await;
        emu.wait_for_reply(&i, WAIT).await.expect("setup answered");
        let i = emu
            .send_command(guild, lobby, &admin, "panel", json!([]))
            .await;
        emu.wait_for_reply(&i, WAIT).await.expect("panel answered");
        let panel = emu.messages_in(lobby).pop().expect("a panel");
        let button = panel["components"][0]["components"][0]["custom_id"]
            .as_str()
            .expect("a button")
            .to_owned();
        let panel = panel["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("an id");
        World {
            emu,
            guild,
            lobby,
            panel,
            button,
            next_member: AtomicU64::new(1_000),
            _dir: dir,
        }
    }

    /// Opens one ticket for a new member; returns the bot-side latency.
    async fn open_one(&self) -> Duration {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        let member = MemberSpec::new(n, "member");
        let i = self
            .emu
            .click_button(self.guild, self.lobby, self.panel, &member, &self.button)
            .await;
        let reply = self.emu.wait_for_reply(&i, WAIT).await.expect("answered");
        assert!(
            reply["content"]
                .as_str()
                .is_some_and(|c| c.contains("Your ticket is open")),
            "{reply}"
        );
        self.emu.answer_latency(&i).expect("a latency")
    }

    /// Opens `n` tickets at once; returns the wall time until all are answered.
    async fn open_batch(&'static self, n: u64) -> Duration {
        let started = Instant::now();
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(self.open_one())).collect();
        for t in tasks {
            t.await.expect("an open");
        }
        started.elapsed()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ticket_open(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let world: &'static World = Box::leak(Box::new(rt.block_on(World::start())));

    // Summary figures first (criterion reports means, not tail latency).
    rt.block_on(async {
        for _ in 0..50 {
            world.open_one().await; // warm-up
        }
        let mut lat = Vec::new();
        for _ in 0..1000 {
            lat.push(world.open_one().await);
        }
        lat.sort();
        let wall = world.open_batch(BATCH).await;
        for _ in 0..30 {
            world.open_batch(BATCH).await;
        }
        // The same burst with thousands more tickets stored: throughput must not decay.
        let later = world.open_batch(BATCH).await;
        eprintln!(
            "after {} more tickets: {BATCH} concurrent opens in {later:?} = {:.0} opens/s",
            30 * BATCH,
            BATCH as f64 / later.as_secs_f64()
        );
        eprintln!(
            "ticket open (SQLite, through the emulator): sequential p50 {:?}, p99 {:?}; \
             {BATCH} concurrent opens in {:?} = {:.0} opens/s",
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            wall,
            BATCH as f64 / wall.as_secs_f64()
        );
    });

    let mut group = c.benchmark_group("ticket_open");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("bot_side_latency", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += world.open_one().await;
                }
                total
            })
        })
    });
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("concurrent_batch", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += world.open_batch(BATCH).await;
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, ticket_open);
criterion_main!(benches);
