//! `test-leak`: asks the host for `wasi:clocks` pollables (one resource-table entry each) and
//! keeps every one, 100,000 of them, far past what one event may hold. The host must stop it at
//! its resource limit and say so, never grow its table without bound.

use tessera_plugin_sdk::{placeholder, Placeholder, Plugin, PluginError, TicketOpened};

mod clocks {
    wit_bindgen::generate!({
        inline: "
            package wasi:clocks@0.2.0;
            interface monotonic-clock {
                use wasi:io/poll@0.2.0.{pollable};
                type instant = u64;
                type duration = u64;
                now: func() -> instant;
                resolution: func() -> duration;
                subscribe-instant: func(when: instant) -> pollable;
                subscribe-duration: func(when: duration) -> pollable;
            }
            world leak {
                import monotonic-clock;
            }

            package wasi:io@0.2.0 {
                interface poll {
                    resource pollable {
                        ready: func() -> bool;
                        block: func();
                    }
                    poll: func(in: list<borrow<pollable>>) -> list<u32>;
                }
            }
        ",
        world: "leak",
        generate_all,
    });
}

struct Leak;

impl Plugin for Leak {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let mut kept = Vec::new();
        for _ in 0..100_000 {
            kept.push(clocks::wasi::clocks::monotonic_clock::subscribe_duration(
                60_000_000_000,
            ));
        }
        Ok(vec![placeholder("kept", kept.len().to_string())])
    }
}

tessera_plugin_sdk::export_plugin!(Leak, manifest = "plugin.toml");
