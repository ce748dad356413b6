//! The first-party plugins, built from `plugins/` by `build.rs` and shipped inside the binary.
//!
//! Which packages are first-party is the `FIRST_PARTY` list in `host/build.rs`; the test plugins
//! of `plugins/testing/` are never embedded.

/// One first-party plugin component, as built from source.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedPlugin {
    /// The cargo package in `plugins/` it was built from, e.g. `example`.
    pub package: &'static str,
    /// The `wasm32-wasip2` component.
    pub bytes: &'static [u8],
}

/// What `build.rs` generated: one entry per package of its `FIRST_PARTY` list.
static FIRST_PARTY: &[EmbeddedPlugin] =
    include!(concat!(env!("OUT_DIR"), "/first_party_plugins.rs"));

/// Every first-party plugin, in the order of `build.rs`'s list.
pub fn first_party() -> &'static [EmbeddedPlugin] {
    FIRST_PARTY
}

/// The first-party plugin built from `package`, if there is one.
pub fn find(package: &str) -> Option<&'static EmbeddedPlugin> {
    FIRST_PARTY.iter().find(|p| p.package == package)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::component::inspect;

    #[test]
    fn the_example_plugin_is_embedded_and_is_a_valid_plugin() {
        let example = find("example").expect("the example plugin is embedded");
        let inspection = inspect(example.bytes).expect("the embedded example passes inspect");
        assert_eq!(inspection.manifest.id, "example");
    }

    #[test]
    fn every_embedded_plugin_is_a_first_party_component() {
        assert!(!first_party().is_empty(), "no plugin is embedded");
        for plugin in first_party() {
            let inspection = inspect(plugin.bytes)
                .unwrap_or_else(|e| panic!("embedded {} fails inspect: {e}", plugin.package));
            assert!(
                !plugin.package.starts_with("test-")
                    && !inspection.manifest.id.starts_with("test-"),
                "a test plugin is embedded: {}",
                plugin.package
            );
        }
    }
}
