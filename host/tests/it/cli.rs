//! The `tessera` binary: help, and one-line, exit-2 failures for everything the operator must fix.

use std::process::{Command, Output};

fn tessera(args: &[&str], env: &[(&str, &str)]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args).current_dir(dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TESSERA_DATA_DIR", dir.path().join("data"));
    // `plugin run` caches compiled code per user: never in the real user's cache.
    cmd.env("XDG_CACHE_HOME", dir.path().join("xdg-cache"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.output().expect("running tessera"), dir)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_one_line_exit_2(out: &Output, must_name: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.contains(must_name), "{err:?} should name {must_name}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn help_explains_run_and_migrate() {
    let (out, _dir) = tessera(&["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("run") && text.contains("migrate"), "{text}");
    assert!(text.contains("TESSERA_DISCORD_TOKEN"), "{text}");
}

#[test]
fn run_without_a_token_names_the_variable() {
    let (out, _dir) = tessera(&["run"], &[]);
    assert_one_line_exit_2(&out, "TESSERA_DISCORD_TOKEN");
}

#[test]
fn an_unparsable_value_names_the_setting() {
    let (out, _dir) = tessera(
        &["migrate"],
        &[("TESSERA_DATABASE_MAX_CONNECTIONS", "many")],
    );
    assert_one_line_exit_2(&out, "TESSERA_DATABASE_MAX_CONNECTIONS");
}

#[test]
fn a_missing_config_file_is_named() {
    let (out, _dir) = tessera(&["--config", "nowhere.toml", "migrate"], &[]);
    assert_one_line_exit_2(&out, "nowhere.toml");
}

#[test]
fn an_unreachable_database_names_the_setting() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let (out, _dir) = tessera(
        &["run"],
        &[
            ("TESSERA_DISCORD_TOKEN", "x"),
            (
                "TESSERA_DATABASE_URL",
                "postgres://postgres:secret@127.0.0.1:1/none",
            ),
        ],
    );
    assert_one_line_exit_2(&out, "TESSERA_DATABASE_URL");
    assert!(
        !stderr(&out).contains("secret"),
        "the password must not be printed"
    );
}

#[test]
fn migrate_creates_the_sqlite_file_in_the_data_dir() {
    let (out, dir) = tessera(&["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("data/tessera.db").is_file());
}

#[test]
fn an_unreachable_api_base_stops_start_up() {
    let (out, _dir) = tessera(
        &["run"],
        &[
            ("TESSERA_DISCORD_TOKEN", "x"),
            ("TESSERA_DISCORD_API_BASE", "http://127.0.0.1:1"),
        ],
    );
    assert_one_line_exit_2(&out, "TESSERA_DISCORD_API_BASE");
    // The database it had opened was closed cleanly: SQLite removed its write-ahead log.
    assert!(_dir.path().join("data/tessera.db").is_file());
    assert!(
        !_dir.path().join("data/tessera.db-wal").exists(),
        "the database was not closed"
    );
}

#[tokio::test]
async fn sigterm_stops_the_bot_and_closes_the_database() {
    let emu = tessera_discord_emulator::Emulator::start()
        .await
        .expect("the emulator");
    emu.add_guild(tessera_discord_emulator::GuildSpec::default());
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("run")
        .current_dir(dir.path())
        .env("TESSERA_DATA_DIR", dir.path().join("data"))
        .env("TESSERA_DISCORD_TOKEN", emu.bot_token())
        .env("TESSERA_DISCORD_API_BASE", emu.base_url())
        .env_remove("TESSERA_DATABASE_URL")
        .spawn()
        .expect("starting tessera");
    emu.wait_for_ready(std::time::Duration::from_secs(15))
        .await
        .expect("the bot connects");
    let pid = child.id().expect("a pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("it stops in time")
        .expect("waiting");
    assert!(status.success(), "{status:?}");
    assert!(
        !dir.path().join("data/tessera.db-wal").exists(),
        "the database was not closed cleanly"
    );
}

fn plugin_path(name: &str) -> String {
    // Built by the plugin tests' helper; reading it here makes sure it exists.
    let bytes = crate::plugin_files::plugin(name);
    let dir = tempfile::tempdir().expect("a temp dir").keep();
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("writing the plugin");
    path.display().to_string()
}

#[test]
fn plugin_run_prints_json_and_exits_0_1_or_2() {
    let example = plugin_path("example");
    let (out, _dir) = tessera(
        &[
            "plugin",
            "run",
            &example,
            "--user",
            "42",
            "--config",
            "greeting=Yo",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["placeholders"]["user_id"], "42");
    assert_eq!(json["placeholders"]["greeting"], "Yo");

    let looping = plugin_path("test_loop");
    let (out, _dir) = tessera(&["plugin", "run", &looping, "--user", "42"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["error"]["kind"], "cpu-limit");

    let (out, _dir) = tessera(&["plugin", "run", &example, "--user", "not-a-number"], &[]);
    assert_one_line_exit_2(&out, "--user");
    let garbage = std::env::temp_dir().join(format!("tessera-garbage-{}.wasm", std::process::id()));
    std::fs::write(&garbage, b"garbage").expect("write");
    let (out, _dir) = tessera(
        &[
            "plugin",
            "run",
            &garbage.display().to_string(),
            "--user",
            "1",
        ],
        &[],
    );
    assert_one_line_exit_2(&out, "not a WebAssembly file");
    let (out, _dir) = tessera(&["plugin", "inspect", &garbage.display().to_string()], &[]);
    assert_one_line_exit_2(&out, "not a WebAssembly file");
    let (out, _dir) = tessera(&["plugin", "inspect", &example], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tessera:plugin@0.1.0") && text.contains("privacy policy"),
        "{text}"
    );
}

#[test]
fn plugin_inspect_refuses_what_install_and_run_refuse_and_says_why() {
    let mut junk = crate::plugin_files::plugin("example");
    junk.extend_from_slice(b"\x7f\x04junk");
    let dir = tempfile::tempdir().expect("a temp dir");
    let junk_path = dir.path().join("example-with-junk.wasm");
    std::fs::write(&junk_path, junk).expect("writing the plugin");
    for (file, reason) in [
        (plugin_path("test_wrong_export"), "on-ticket-opened"),
        // Refused by name before compiling, not by the linker.
        (
            plugin_path("test_made_up_import"),
            "`wasi:cli/made-up@0.2.0`, which the sandbox does not provide",
        ),
        (
            junk_path.display().to_string(),
            "appended after the component",
        ),
    ] {
        let (out, _cwd) = tessera(&["plugin", "inspect", &file], &[]);
        assert_one_line_exit_2(&out, reason);
        assert!(
            out.stdout.is_empty(),
            "{file}: nothing shown as if it were fine"
        );
        let (out, _cwd) = tessera(&["plugin", "run", &file, "--user", "1"], &[]);
        assert_one_line_exit_2(&out, reason);
    }
}

#[test]
fn plugin_run_names_why_a_plugin_stopped() {
    let exit = plugin_path("test_exit");
    let (out, _dir) = tessera(
        &["plugin", "run", &exit, "--user", "42", "--config", "code=3"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["error"]["kind"], "exit", "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("called `exit` with status 1")),
        "{json}"
    );

    let random = plugin_path("test_huge_random");
    let (out, _dir) = tessera(&["plugin", "run", &random, "--user", "42"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["error"]["kind"], "trap", "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("1073741824") && !message.contains("backtrace"),
        "{json}"
    );

    let leak = plugin_path("test_leak");
    let (out, _dir) = tessera(&["plugin", "run", &leak, "--user", "42"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["error"]["kind"], "trap", "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("resource table") && !message.contains("backtrace"),
        "{json}"
    );
}

#[tokio::test]
async fn plugin_install_validates_stores_and_records_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let data_env = data.display().to_string();
    let env = [("TESSERA_DATA_DIR", data_env.as_str())];
    let example = plugin_path("example");
    let (out, _cwd) = tessera(&["plugin", "install", &example], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("installed example 0.1.0"));
    let (out, _cwd) = tessera(&["plugin", "install", &example], &env);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("already installed"),
        "{out:?}"
    );
    for (bad, reason) in [
        (
            plugin_path("test_foreign_import"),
            "evil:backdoor/files@1.0.0",
        ),
        (plugin_path("test_wrong_world"), "test:other/runner"),
        // Refused by name before compiling, not by the linker.
        (
            plugin_path("test_made_up_import"),
            "`wasi:cli/made-up@0.2.0`, which the sandbox does not provide",
        ),
        (plugin_path("test_wrong_export"), "on-ticket-opened"),
    ] {
        let (out, _cwd) = tessera(&["plugin", "install", &bad], &env);
        assert_one_line_exit_2(&out, reason);
    }

    let store =
        tessera::store::Store::connect(&format!("sqlite://{}/tessera.db", data.display()), 1)
            .await
            .expect("the bot's database");
    let installed = store.installed_plugins().await.expect("read");
    assert_eq!(
        installed.len(),
        1,
        "one row, refused files recorded nowhere: {installed:?}"
    );
    let sha = &installed[0].sha256;
    assert!(data.join(format!("plugins/{sha}.wasm")).is_file());
    assert!(installed[0].manifest.contains("privacy_policy"));
    assert_eq!(
        std::fs::read_dir(data.join("plugins"))
            .expect("dir")
            .count(),
        1
    );
}

#[test]
fn plugin_run_compiles_once_then_reads_the_compiled_plugin_from_the_user_cache() {
    let example = plugin_path("example");
    let home = tempfile::tempdir().expect("a temp dir");
    let xdg = home.path().join("xdg");
    let xdg_env = xdg.display().to_string();
    let run = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["plugin", "run", &example, "--user", "42"];
        args.extend_from_slice(extra);
        let (out, _cwd) = tessera(&args, env);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(json["placeholders"]["user_id"], "42");
        json["compile_cache"].as_str().expect("says").to_owned()
    };
    let env = [("XDG_CACHE_HOME", xdg_env.as_str())];
    assert_eq!(run(&env, &[]), "miss");
    let cache = xdg.join("tessera/compile-cache");
    let stored: Vec<_> = std::fs::read_dir(&cache)
        .expect("the per-user cache directory")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(xdg.join("tessera/compile-cache.key").is_file());
    assert_eq!(run(&env, &[]), "hit");
    assert_eq!(run(&env, &["--no-compile-cache"]), "disabled");

    // Without XDG_CACHE_HOME: ~/.cache.
    let home_env = home.path().display().to_string();
    let env = [("XDG_CACHE_HOME", ""), ("HOME", home_env.as_str())];
    assert_eq!(run(&env, &[]), "miss");
    assert!(home.path().join(".cache/tessera/compile-cache").is_dir());
    assert_eq!(run(&env, &[]), "hit");

    // Elsewhere on request, by flag or variable.
    let chosen = home.path().join("chosen");
    let chosen_arg = chosen.display().to_string();
    assert_eq!(run(&env, &["--compile-cache", &chosen_arg]), "miss");
    assert_eq!(
        run(&[("TESSERA_COMPILE_CACHE", chosen_arg.as_str())], &[]),
        "hit"
    );
    assert!(home.path().join("chosen.key").is_file());

    // A cache directory anyone may write is not used, and the plugin still runs.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&chosen, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert_eq!(run(&[], &["--compile-cache", &chosen_arg]), "refused");

    let (out, _cwd) = tessera(&["plugin", "run", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--compile-cache") && help.contains("cached"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_content_intent_stops_the_bot_naming_the_setting() {
    let emu = tessera_discord_emulator::Emulator::start()
        .await
        .expect("the emulator");
    emu.add_guild(tessera_discord_emulator::GuildSpec::default());
    // Discord closes the gateway with 4014 when the portal's Message Content switch is off.
    emu.refuse_message_content();
    let (token, base) = (emu.bot_token(), emu.base_url());
    let run = tokio::task::spawn_blocking(move || {
        tessera(
            &["run"],
            &[
                ("TESSERA_DISCORD_TOKEN", token.as_str()),
                ("TESSERA_DISCORD_API_BASE", base.as_str()),
                (
                    "TESSERA_TRANSCRIPTS_KEY",
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                ),
            ],
        )
    });
    let (out, _dir) = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the bot stops by itself")
        .expect("joined");
    // The log lines before it aside, it ends with one line saying what to do, and exit 2.
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ")
            && last.contains("transcripts.key")
            && last.contains("Message Content Intent"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(
        emu.last_identify_intents().expect("it identified") & (1 << 15),
        0
    );
}
