//! `export_plugin!` expands in a crate that depends on the SDK alone, for a plugin named by path.
//! (That the manifest lands in the built component is checked on real `wasm32-wasip2` builds of
//! `plugins/`.)

mod plugins {
    use tessera_plugin_sdk::{placeholder, Placeholder, Plugin, PluginError, TicketOpened};

    pub struct Echo;

    impl Plugin for Echo {
        fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
            Ok(vec![placeholder("user_id", event.user_id.to_string())])
        }
    }
}

tessera_plugin_sdk::export_plugin!(plugins::Echo, manifest = "tests/fixtures/plugin.toml");

#[test]
fn a_plugin_named_by_path_exports_and_still_runs_natively() {
    use tessera_plugin_sdk::{Plugin, TicketOpened};
    let placeholders = plugins::Echo::on_ticket_opened(TicketOpened { user_id: 42 })
        .map_err(|e| e.to_string())
        .expect("Echo never fails");
    assert_eq!(placeholders[0].value, "42");
}
