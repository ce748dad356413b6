//! Real plugin components, built once per test run from `plugins/` for wasm32-wasip2.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The target directory of the cargo running these tests; nested builds go in folders of it.
pub fn target_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

fn wasm_dir() -> PathBuf {
    target_root().join("wasm-plugins")
}

/// Builds every plugin (once per process) and returns the folder of `.wasm` files.
fn built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = wasm_dir();
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/Cargo.toml");
        // Its own target dir, so this never waits on the lock of the cargo running the tests.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path", manifest])
            .arg("--target-dir")
            .arg(&dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("running cargo to build the test plugins");
        assert!(
            status.success(),
            "building plugins/ for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
        );
        dir.join("wasm32-wasip2/release")
    })
}

/// The bytes of a built plugin, e.g. `plugin("test_loop")`.
pub fn plugin(name: &str) -> Vec<u8> {
    let path = built().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
