//! TEMPORARY stub until the build.rs embedding lands.

/// A first-party plugin shipped inside the binary.
pub struct EmbeddedPlugin {
    /// Its cargo package name.
    pub package: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

/// Every first-party plugin.
pub fn first_party() -> &'static [EmbeddedPlugin] {
    &[]
}
