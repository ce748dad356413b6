//! A full ticket open through the Discord emulator on SQLite: panel click → deferral → channel
//! → welcome → log notice → answer. Bot-side latency is measured by the emulator, from the
//! moment it dispatched the click to the moment the member's answer arrived.
//!
//! Prints p50/p99 latency and concurrent throughput, then runs criterion on both.
//!
//! The bot and the emulator run on separate runtimes whose threads are named, so the CPU time
//! each side spends per open is reported apart (`/proc/self/task/*/schedstat`): on two cores the
//! emulator's schema validation would otherwise hide what the bot itself costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secrecy::SecretString;
use serde_json::json;
use tessera::config::{DatabaseSettings, DiscordSettings, Settings};
use tessera::startup::Application;
use tessera_discord_emulator::{Emulator, GuildSpec, MemberSpec, MANAGE_GUILD};

const WAIT: Duration = Duration::from_secs(30);
/// The name of the bot's runtime threads (worker and blocking).
const BOT_THREADS: &str = "tessera-bot";
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
    /// Starts the emulator on the current runtime and the bot on `bot`.
    async fn start(bot: &tokio::runtime::Handle) -> World {
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
            transcripts: Default::default(),
            servers: Default::default(),
            tickets: Default::default(),
        };
        bot.spawn(async move {
            let app = Application::build(settings).await.expect("the bot builds");
            app.run_until_stopped(std::future::pending()).await
        });
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

/// CPU time used so far by this process's threads, split into (bot, everything else).
///
/// The bot's side is its runtime's threads plus the threads it starts itself (SQLite's
/// connection workers, the plugin epoch ticker); the rest is the emulator and this driver.
fn cpu_split() -> (Duration, Duration) {
    let (mut bot, mut other) = (Duration::ZERO, Duration::ZERO);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (bot, other);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        // The first field of schedstat is the time spent on a CPU, in nanoseconds.
        let nanos = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let comm = comm.trim();
        // `tessera-bot` (the runtime), `tessera-epoch` (the plugin CPU ticker), `sqlx-sqlite-*`.
        if comm.starts_with("tessera") || comm.starts_with("sqlx-sqlite") {
            bot += Duration::from_nanos(nanos);
        } else {
            other += Duration::from_nanos(nanos);
        }
    }
    (bot, other)
}

/// Runs `work` (which opens `opens` tickets) and prints the CPU each side spent per open.
fn cpu_per_open<T>(label: &str, opens: u64, work: impl FnOnce() -> T) -> T {
    let (bot0, other0) = cpu_split();
    let out = work();
    let (bot1, other1) = cpu_split();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / opens as f64;
    eprintln!(
        "{label}: CPU per open: bot {:.0} µs, emulator and driver {:.0} µs",
        per(bot1 - bot0),
        per(other1 - other0)
    );
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ticket_open(c: &mut Criterion) {
    let bot_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(BOT_THREADS)
        .build()
        .expect("the bot's runtime");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("emulator")
        .build()
        .expect("the emulator's runtime");
    let world: &'static World = Box::leak(Box::new(rt.block_on(World::start(bot_rt.handle()))));

    // Summary figures first (criterion reports means, not tail latency).
    rt.block_on(async {
        for _ in 0..50 {
            world.open_one().await; // warm-up
        }
    });
    let mut lat = cpu_per_open("sequential", 1000, || {
        rt.block_on(async {
            let mut lat = Vec::new();
            for _ in 0..1000 {
                lat.push(world.open_one().await);
            }
            lat
        })
    });
    lat.sort();
    let wall = cpu_per_open("concurrent", BATCH, || rt.block_on(world.open_batch(BATCH)));
    rt.block_on(async {
        for _ in 0..30 {
            world.open_batch(BATCH).await;
        }
    });
    // The same burst with thousands more tickets stored: throughput must not decay.
    let later = rt.block_on(world.open_batch(BATCH));
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
