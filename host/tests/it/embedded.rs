//! The first-party plugins shipped inside the binary: each one is a plugin the sandbox accepts
//! and runs, the example is among them, and no test plugin from `plugins/testing/` is.

use std::collections::HashMap;
use std::path::Path;

use tessera::plugins::component::inspect;
use tessera::plugins::embedded::{find, first_party};
use tessera::plugins::policy::SandboxPolicy;
use tessera::plugins::runtime::Runtime;

const USER: u64 = 123_456_789_012_345_678;

/// The package name and manifest id of every plugin under `plugins/testing/`.
fn testing_plugins() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/testing");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("plugins/testing exists") {
        let dir = entry.expect("a directory entry").path();
        let read = |file: &str| -> toml::Table {
            let text = std::fs::read_to_string(dir.join(file)).expect("readable");
            text.parse().expect("valid TOML")
        };
        let package = read("Cargo.toml")["package"]["name"]
            .as_str()
            .expect("a package name")
            .to_owned();
        let id = read("plugin.toml")["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        found.push((package, id));
    }
    assert!(
        found.len() >= 10,
        "expected the test plugins, found {found:?}"
    );
    found
}

#[test]
fn every_embedded_plugin_passes_inspect_and_loads() {
    let runtime = Runtime::new(SandboxPolicy::default()).expect("a runtime");
    assert!(
        !first_party().is_empty(),
        "no first-party plugin is embedded"
    );
    for plugin in first_party() {
        let inspection = inspect(plugin.bytes)
            .unwrap_or_else(|e| panic!("embedded `{}` fails inspect: {e}", plugin.package));
        let loaded = runtime
            .load(plugin.bytes)
            .unwrap_or_else(|e| panic!("embedded `{}` does not load: {e}", plugin.package));
        assert_eq!(loaded.inspection.sha256, inspection.sha256);
    }
}

#[tokio::test]
async fn the_embedded_example_plugin_runs() {
    let example = find("example").expect("the example plugin is embedded");
    let runtime = Runtime::new(SandboxPolicy::default()).expect("a runtime");
    let loaded = runtime.load(example.bytes).expect("loads");
    assert_eq!(loaded.inspection.manifest.id, "example");
    let outcome = runtime
        .on_ticket_opened(&loaded, USER, HashMap::new(), HashMap::new())
        .await;
    let placeholders: HashMap<_, _> = outcome.result.expect("runs").into_iter().collect();
    assert_eq!(placeholders["user_id"], USER.to_string());
    assert_eq!(placeholders["greeting"], "Hello");
}

#[test]
fn no_test_plugin_is_embedded() {
    let testing = testing_plugins();
    for plugin in first_party() {
        let id = inspect(plugin.bytes).expect("inspects").manifest.id;
        for (package, test_id) in &testing {
            assert_ne!(
                plugin.package, package,
                "test plugin `{package}` is embedded"
            );
            assert_ne!(&id, test_id, "test plugin `{test_id}` is embedded");
        }
        assert!(!id.starts_with("test-"), "`{id}` looks like a test plugin");
    }
}
