//! [`export_plugin!`](crate::export_plugin): exports a [`Plugin`](crate::Plugin) and embeds its
//! manifest.

/// Exports a [`Plugin`](crate::Plugin) implementation as the component's handler and embeds the
/// plugin's manifest in the `.wasm`.
///
/// ```ignore
/// tessera_plugin_sdk::export_plugin!(MyPlugin, manifest = "plugin.toml");
/// ```
///
/// `manifest` is a path relative to the plugin crate's directory (its `Cargo.toml`). The file's
/// bytes are stored, unchanged, in a wasm custom section named `tessera-manifest`, where the host
/// reads them without running the plugin; the build fails if the file is missing. Use the macro
/// once per plugin crate, at the top level of `lib.rs`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, manifest = $manifest:literal $(,)?) => {
        const _: () = {
            // The generated export macro wants a plain identifier; this wrapper lets `$plugin` be
            // any path and keeps the generated trait out of the plugin author's sight.
            struct __TesseraPluginExport;

            impl $crate::__private::Guest for __TesseraPluginExport {
                fn on_ticket_opened(
                    event: $crate::TicketOpened,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<$crate::Placeholder>,
                    $crate::PluginError,
                > {
                    <$plugin as $crate::Plugin>::on_ticket_opened(event)
                }

                fn validate_config() -> ::core::result::Result<(), ::std::string::String> {
                    <$plugin as $crate::Plugin>::validate_config()
                }
            }

            $crate::__private::bindings::__export_world!(
                __TesseraPluginExport with_types_in $crate::__private::bindings
            );

            // `#[used]` keeps the otherwise unreferenced static, and with it the custom section,
            // through rustc, wasm-ld and the core-module-to-component step.
            #[unsafe(link_section = "tessera-manifest")]
            #[used]
            static TESSERA_MANIFEST: [u8; ::core::include_bytes!(::core::concat!(
                ::core::env!("CARGO_MANIFEST_DIR"),
                "/",
                $manifest
            ))
            .len()] = *::core::include_bytes!(::core::concat!(
                ::core::env!("CARGO_MANIFEST_DIR"),
                "/",
                $manifest
            ));
        };
    };
}
