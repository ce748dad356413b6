//! `test-huge-random`: asks `wasi:random/random.get-random-bytes` for 1 GiB, past the limit of
//! the WASI implementation, which stops the instance with a host error (not a wasm trap). The
//! host must report why, not only that a backtrace exists.

use tessera_plugin_sdk::{placeholder, Placeholder, Plugin, PluginError, TicketOpened};

/// The WASI 0.2.0 interface, declared here because Rust's standard library does not expose it.
mod wasi_random {
    wit_bindgen::generate!({
        inline: "
            package wasi:random@0.2.0;
            interface random {
                get-random-bytes: func(len: u64) -> list<u8>;
                get-random-u64: func() -> u64;
            }
            world huge-random {
                import random;
            }
        ",
        world: "huge-random",
    });
}

struct HugeRandom;

impl Plugin for HugeRandom {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let bytes = wasi_random::wasi::random::random::get_random_bytes(1 << 30);
        Ok(vec![placeholder("bytes", bytes.len().to_string())])
    }
}

tessera_plugin_sdk::export_plugin!(HugeRandom, manifest = "plugin.toml");
