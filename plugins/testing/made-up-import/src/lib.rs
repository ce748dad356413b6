//! `test-made-up-import`: a real plugin (the SDK's handler) that also imports
//! `wasi:cli/made-up@0.2.0`, an interface in a real WASI package that WASI does not define and
//! the host does not link. Install must refuse it by name, before compiling.

use tessera_plugin_sdk::{placeholder, Placeholder, Plugin, PluginError, TicketOpened};

mod made_up {
    wit_bindgen::generate!({
        inline: "
            package wasi:cli@0.2.0;
            interface made-up {
                answer: func() -> u32;
            }
            world made-up-import {
                import made-up;
            }
        ",
        world: "made-up-import",
    });
}

struct MadeUpImport;

impl Plugin for MadeUpImport {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let answer = made_up::wasi::cli::made_up::answer();
        Ok(vec![placeholder("answer", answer.to_string())])
    }
}

tessera_plugin_sdk::export_plugin!(MadeUpImport, manifest = "plugin.toml");
