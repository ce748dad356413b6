//! Enabling an integration: the prompt that says what it will receive, its Enable button, and
//! `/integrations disable`.
//!
//! The prompt's plugin version is kept in the database until the click (see [`super::pending`]):
//! the click may reach another process, and an admin consents only to the version they were
//! shown.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use serenity::builder::{CreateActionRow, CreateButton};
use serenity::model::application::ButtonStyle;

use super::form::fields;
use super::pending::{remember_shown, shown_prompt, Step};
use super::save::save;
use super::visible;
use crate::bot::Bot;
use crate::discord::action::{Action, FormMode as Mode};
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::integrations::{Available, Source};
use crate::privacy::disclosure::{self, Whose};
use crate::store::ConsentAction;

/// The enable prompt: everything the plugin will receive and where it may send it, with
/// Enable and Cancel buttons. The version shown is remembered for the click.
#[tracing::instrument(skip_all, fields(guild_id = guild_id, plugin = %available.manifest().id))]
pub(super) async fn prompt(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
) -> anyhow::Result<Reply> {
    let m = available.manifest();
    if !m.secrets.is_empty() && bot.integrations.secrets_key().is_none() {
        return Ok(Reply::text(format!(
            "**{}** needs secrets (such as an API key), and this bot's operator has not configured a key to \
             encrypt them with (`plugins.secrets_key`). Ask the bot's operator to set it, then try again.",
            m.name
        )));
    }
    let row = bot
        .store
        .guild_integration(guild_id, &m.id)
        .await
        .context("reading the server's integration")?;
    let granted = &available.plugin.granted;
    let limits = bot.integrations.runtime().policy();
    let mut settings = Vec::new();
    for c in &m.config {
        settings.push(format!(
            "`{}`{} — {}",
            c.name,
            if c.required { "" } else { " (optional)" },
            c.description
        ));
    }
    for s in &m.secrets {
        settings.push(format!(
            "`{}` (secret{}, encrypted, never shown again; sent only to {}) — {}",
            s.name,
            if s.required { "" } else { ", optional" },
            disclosure::secret_destination(s),
            s.description
        ));
    }
    let shared = format!(
        "**{}** and {}",
        disclosure::receives(m, Whose::ThatMember),
        disclosure::NOTHING_ELSE
    );
    let mut text = format!(
        "**Enable {} (`{}` {})?**{}{}\n\
         When a member opens a ticket, Tessera gives this integration {shared}.\n\
         **What it does with it:** {}\n\
         **It may contact:** {}\n\
         **Privacy policy:** <{}> (members see this link in their tickets)\n\
         **Sandbox:** up to {} MiB of memory and {} ms of CPU per ticket; a ticket never waits more than {} ms for it.",
        m.name,
        m.id,
        m.version,
        if available.source == Source::Uploaded {
            " Uploaded by this server's admins; Tessera's developers have not reviewed it."
        } else {
            ""
        },
        match &row {
            Some(r) if r.enabled => " It is already enabled; confirming keeps it on and lets you change its settings.",
            _ => "",
        },
        m.data_use,
        disclosure::contacts(m, row.as_ref().map(|r| &r.config)),
        m.privacy_policy,
        granted.memory >> 20,
        granted.cpu.as_millis(),
        limits.event_timeout.as_millis(),
    );
    if !settings.is_empty() {
        text.push_str(&format!(
            "\n**You will be asked for:** {}",
            settings.join("; ")
        ));
    }
    remember_shown(bot, inv, guild_id, available).await?;
    Ok(
        Reply::text(text).with_components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new(
                Action::IntegrationEnable {
                    plugin: m.id.clone(),
                }
                .custom_id(),
            )
            .label("Enable")
            .style(ButtonStyle::Success),
            CreateButton::new(Action::IntegrationCancel.custom_id())
                .label("Cancel")
                .style(ButtonStyle::Secondary),
        ])]),
    )
}

/// `/integrations disable`: turns the plugin off here and records who did.
#[tracing::instrument(skip_all, fields(guild_id = guild_id, plugin = %available.manifest().id))]
pub(super) async fn disable(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
) -> anyhow::Result<Reply> {
    let consent = available.consent(guild_id, ConsentAction::Disabled, Some(inv.user.id.get()));
    let name = &available.manifest().name;
    let disabled = bot
        .store
        .disable_integration(&consent)
        .await
        .context("disabling an integration")?;
    if disabled {
        Ok(Reply::text(format!(
            "**{name}** is disabled. It receives nothing from now on; its settings are kept in case you enable it again."
        )))
    } else {
        Ok(Reply::text(format!(
            "**{name}** was not enabled in this server."
        )))
    }
}

/// The Enable button: turns on a plugin without settings (one with settings got its form).
#[tracing::instrument(skip_all, fields(guild_id, plugin = plugin_id))]
pub async fn confirm_enable(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    plugin_id: &str,
) -> anyhow::Result<Reply> {
    let available = match visible(bot, guild_id, plugin_id).await {
        Ok(available) => available,
        Err(refusal) => return Ok(refusal),
    };
    let available = &available;
    if let Err(refusal) = shown_prompt(bot, inv, guild_id, available, Step::Check).await? {
        return Ok(refusal);
    }
    if !fields(available).is_empty() {
        // The form could not be shown (e.g. secrets but no key): explain through the prompt.
        return prompt(bot, inv, guild_id, available).await;
    }
    save(
        bot,
        inv,
        guild_id,
        available,
        Mode::Enable,
        BTreeMap::new(),
        HashMap::new(),
    )
    .await
}
