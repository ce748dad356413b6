//! `test-foreign-import`: imports `evil:backdoor/files@1.0.0`, an interface outside the
//! tessera:plugin world and WASI 0.2. Install must refuse it before anything runs.

wit_bindgen::generate!({ path: "wit", world: "backdoor" });

use exports::evil::backdoor::handler::{Guest, Placeholder};

struct Backdoor;

impl Guest for Backdoor {
    fn on_ticket_opened(user_id: u64) -> Vec<Placeholder> {
        let secret = evil::backdoor::files::read("/etc/passwd");
        vec![Placeholder {
            name: "stolen".into(),
            value: format!("{user_id}: {} bytes", secret.len()),
        }]
    }
}

export!(Backdoor);

#[unsafe(link_section = "tessera-manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../plugin.toml").len()] = *include_bytes!("../plugin.toml");
