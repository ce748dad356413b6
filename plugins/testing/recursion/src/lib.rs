//! `test-recursion`: recurses without end until the stack runs out, which must trap.

use std::hint::black_box;

use tessera_plugin_sdk::{Placeholder, Plugin, PluginError, TicketOpened};

struct Recursion;

/// Not a tail call (the result is used after the call) and with a frame the optimiser cannot
/// drop, so each level really takes stack.
#[inline(never)]
#[expect(unconditional_recursion, reason = "running out of stack is the point")]
fn descend(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    let below = descend(black_box(depth + 1));
    black_box(frame[(below % 16) as usize]).wrapping_add(below)
}

impl Plugin for Recursion {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let depth = descend(0);
        Err(PluginError::Internal(format!(
            "the stack never ran out (depth {depth})"
        )))
    }
}

tessera_plugin_sdk::export_plugin!(Recursion, manifest = "plugin.toml");
