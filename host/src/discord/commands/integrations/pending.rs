//! The enable prompt an admin was shown, kept in the database until their Enable click or the
//! form after it: the click may reach another process, and it must enable only the version
//! that admin was shown, once, within [`PROMPT_FOR`].

use std::time::Duration;

use anyhow::Context as _;

use crate::bot::Bot;
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::discord::text::neutralise;
use crate::integrations::Available;
use crate::store::{PendingEnable, Refusal};

/// How long an enable prompt's Enable button works.
pub const PROMPT_FOR: Duration = Duration::from_secs(15 * 60);

/// Remembers that this admin was shown this plugin version's prompt in this server.
pub(super) async fn remember_shown(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
) -> anyhow::Result<()> {
    let now = crate::store::now_ms();
    let shown = PendingEnable {
        guild_id,
        plugin_id: available.manifest().id.clone(),
        user_id: inv.user.id.get(),
        sha256: available.plugin.inspection.sha256.clone(),
        expires_at: now.saturating_add(PROMPT_FOR.as_millis() as i64),
    };
    bot.store
        .hold_enable(&shown, now)
        .await
        .context("remembering the enable prompt")
}

/// Whether the prompt is only looked at, or used up (when the plugin is enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// The click or form is still on its way: leave the prompt in place.
    Check,
    /// The plugin is being enabled: take the prompt, so it counts once.
    Take,
}

/// Checks an Enable click (or the form after it) against the prompt this admin was shown in
/// this server: it must still wait, and show the version that would now run. `Err` is the
/// answer explaining a refusal.
pub(super) async fn shown_prompt(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
    step: Step,
) -> anyhow::Result<Result<(), Reply>> {
    let m = available.manifest();
    let user = inv.user.id.get();
    let now = crate::store::now_ms();
    let shown = match step {
        Step::Check => bot.store.pending_enable(guild_id, &m.id, user, now).await,
        Step::Take => bot.store.take_enable(guild_id, &m.id, user, now).await,
    }
    .context("reading the enable prompt")?;
    let again = format!("Run `/integrations enable {}` again.", m.id);
    let shown = match shown {
        Ok(shown) => shown,
        Err(Refusal::Expired) => {
            return Ok(Err(Reply::text(format!(
                "This Enable button waited more than {} minutes, so nothing was enabled. {again}",
                PROMPT_FOR.as_secs() / 60
            ))))
        }
        Err(Refusal::Missing | Refusal::NotYours) => {
            return Ok(Err(Reply::text(format!(
                "This Enable button is no longer waiting (it was used already, or it was not shown to you), so nothing was enabled. {again}"
            ))))
        }
    };
    if shown.sha256 != available.plugin.inspection.sha256 {
        return Ok(Err(Reply::text(format!(
            "**{}** changed since you were shown it (it is now version {}), so nothing was enabled. {again}",
            neutralise(&m.name),
            m.version
        ))));
    }
    Ok(Ok(()))
}
