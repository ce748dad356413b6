//! `test-wrong-export`: exports `tessera:plugin/handler@0.1.0` by name, with `on-ticket-opened`
//! typed differently from the real WIT (see `wit/world.wit`). It links, so only a check of the
//! export's types keeps install from accepting it; without one it fails on every ticket.

wit_bindgen::generate!({ path: "wit", world: "plugin" });

use exports::tessera::plugin::handler::{Guest, Placeholder};

struct WrongExport;

impl Guest for WrongExport {
    fn on_ticket_opened(user_id: u64) -> Vec<Placeholder> {
        vec![Placeholder {
            name: "user_id".into(),
            value: user_id.to_string(),
        }]
    }

    fn validate_config() -> Result<(), String> {
        Ok(())
    }
}

export!(WrongExport);

#[unsafe(link_section = "tessera-manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../plugin.toml").len()] = *include_bytes!("../plugin.toml");
