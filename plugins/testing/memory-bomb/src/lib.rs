//! `test-memory-bomb`: keeps allocating 1 MiB blocks, writing to every page, until the host's
//! memory limit refuses to grow linear memory (the allocation failure then traps).

use std::hint::black_box;

use tessera_plugin_sdk::{Placeholder, Plugin, PluginError, TicketOpened};

const BLOCK: usize = 1 << 20;

struct MemoryBomb;

impl Plugin for MemoryBomb {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Non-zero fill, so the memory is written and not merely reserved.
            let block = vec![0xA5_u8; BLOCK];
            blocks.push(black_box(block));
        }
    }
}

tessera_plugin_sdk::export_plugin!(MemoryBomb, manifest = "plugin.toml");
