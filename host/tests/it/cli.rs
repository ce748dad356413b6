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
}
