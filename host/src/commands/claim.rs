//! `/claim` and `/unclaim`.

use serenity::builder::CreateCommand;
use serenity::model::application::InteractionContext;

/// `/claim`.
pub fn register_claim() -> CreateCommand {
    CreateCommand::new("claim")
        .description("Claim this ticket (staff)")
        .contexts(vec![InteractionContext::Guild])
}

/// `/unclaim`.
pub fn register_unclaim() -> CreateCommand {
    CreateCommand::new("unclaim")
        .description("Release your claim on this ticket (staff)")
        .contexts(vec![InteractionContext::Guild])
}
