//! The guest crates' own unit tests — the SDK and the first-party plugins' parsing and error
//! mapping — which live outside this workspace (they build for wasm32-wasip2), run natively here
//! so that `cargo test --workspace` covers them too.

use std::path::Path;
use std::process::Command;

/// Runs `cargo test --locked --manifest-path <manifest> <args>` natively, in a target directory of
/// its own (so it never waits on the lock of the cargo running these tests), and fails with
/// cargo's output if any test fails.
fn cargo_test(manifest: &str, args: &[&str]) {
    let target = crate::plugin_files::target_root().join("guest-tests");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--locked", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .args(args)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("running cargo for the guest crates' tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "`cargo test` of {} failed:\n{stdout}\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // Guard against a command that quietly ran nothing.
    let passed: usize = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed > 0,
        "no tests ran for {}:\n{stdout}",
        manifest.display()
    );
}

#[test]
fn the_sdk_unit_tests_pass() {
    cargo_test("../plugin-sdk/Cargo.toml", &[]);
}

#[test]
fn the_first_party_plugins_unit_tests_pass() {
    cargo_test(
        "../plugins/Cargo.toml",
        &[
            "-p",
            "tessera-roblox",
            "-p",
            "bloxlink",
            "-p",
            "rover",
            "-p",
            "webhook",
        ],
    );
}
