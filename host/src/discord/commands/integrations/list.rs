//! `/integrations list`: the integrations this server may use, those in use first, each with
//! what it receives, where it may connect and its privacy policy once enabled.

use anyhow::Context as _;

use crate::bot::Bot;
use crate::discord::reply::Reply;
use crate::discord::text::{inert_message, join_fitting, neutralise};
use crate::integrations::health::host_message;
use crate::integrations::settings::Destination;
use crate::integrations::Source;
use crate::plugins::runtime::{NotRun, PluginFailure};
use crate::privacy::disclosure::{self, Whose};
use crate::store::GuildIntegration;

/// A plugin's state in this server, in words.
fn status(row: Option<&GuildIntegration>) -> &'static str {
    match row {
        Some(r) if r.enabled => "✅ enabled",
        Some(r) if r.disabled_reason.is_some() => "⚠️ disabled after repeated failures",
        Some(_) => "⏸️ disabled",
        None => "not enabled",
    }
}

/// `/integrations list`: what this server may use, what is on, and what each does with data.
#[tracing::instrument(skip_all, fields(guild_id = guild_id))]
pub(super) async fn list(bot: &Bot, guild_id: u64) -> anyhow::Result<Reply> {
    let rows = bot
        .store
        .guild_integrations(guild_id)
        .await
        .context("reading the server's integrations")?;
    let mut available = bot.integrations.available_in(guild_id);
    // Those in use here first, then those Tessera turned off (they need attention), then other
    // configured ones, this server's own uploads, and the rest.
    available.sort_by_key(|a| {
        let row = rows.iter().find(|r| r.plugin_id == a.manifest().id);
        let rank = match row {
            Some(r) if r.enabled => 0,
            Some(r) if r.disabled_reason.is_some() => 1,
            Some(_) => 2,
            None if a.source == Source::Uploaded => 3,
            None => 4,
        };
        (rank, a.manifest().id.clone())
    });
    let mut entries = Vec::new();
    for a in available {
        let m = a.manifest();
        let row = rows.iter().find(|r| r.plugin_id == m.id);
        let origin = if a.source == Source::Uploaded {
            " — uploaded by this server's admins"
        } else {
            ""
        };
        // How the last ticket went, when it went wrong in a way admins can fix.
        let mut last = String::new();
        if let Some(r) = row.filter(|r| r.enabled) {
            if bot
                .integrations
                .secrets()
                .open(r, &Destination::of(&a, guild_id, &r.config))
                .is_err()
            {
                last.push_str(&format!(
                    "\n⚠️ Needs attention: {}.",
                    host_message(&PluginFailure::NotRun(NotRun::SecretsLocked))
                ));
            }
            if bot
                .integrations
                .health()
                .backing_off(guild_id, &m.id, crate::store::now_ms())
            {
                last.push_str(&format!(
                    "\n⏳ Paused: {}.",
                    host_message(&PluginFailure::NotRun(NotRun::BackingOff))
                ));
            }
        }
        if row.is_some_and(|r| r.enabled) && last.is_empty() {
            let last_delivery = bot
                .store
                .last_delivery(guild_id, &m.id)
                .await
                .context("reading an integration's last delivery")?;
            if let Some(d) = last_delivery {
                if d.outcome != "ok" && d.outcome != "not-found" {
                    // Tessera's own words for the failure (the plugin's are never stored).
                    last = format!(
                        "\n⚠️ Last ticket: {}",
                        inert_message(d.detail.as_deref().unwrap_or(&d.outcome))
                    );
                }
            }
        }
        let enabled = row.is_some_and(|r| r.enabled);
        let description: String = m
            .description
            .chars()
            .take(if enabled { 160 } else { 100 })
            .collect();
        if !enabled {
            // Short: `/integrations enable` shows everything before anything is shared.
            entries.push(format!(
                "**{}** (`{}` {}) — {}{origin}\n-# {}",
                neutralise(&m.name),
                m.id,
                m.version,
                status(row),
                neutralise(&description),
            ));
            continue;
        }
        entries.push(format!(
            "**{}** (`{}` {}) — {}{origin}{last}\n{}\n-# Receives {}. Contacts {}. Privacy policy: <{}>",
            neutralise(&m.name),
            m.id,
            m.version,
            status(row),
            neutralise(&description),
            disclosure::receives(m, Whose::Opener),
            disclosure::contacts(m, row.map(|r| &r.config)),
            m.privacy_policy
        ));
    }
    if entries.is_empty() {
        return Ok(Reply::text(
            "No integrations are installed on this bot. The operator can add some with `tessera plugin install`, \
             and admins can add their own with `/integrations upload`.",
        ));
    }
    Ok(Reply::text(join_fitting(entries, "\n\n")))
}
