//! Saving a plugin's settings: checked, secrets sealed, validated by the plugin itself, then
//! stored; when enabling, the plugin is turned on and the admin's consent recorded.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;

use super::not_enabled_yet;
use super::pending::{shown_prompt, Step};
use crate::bot::Bot;
use crate::discord::action::FormMode as Mode;
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::discord::text::inert_message;
use crate::integrations::settings::{clean_config, merge_secrets, Destination, InputError};
use crate::integrations::Available;
use crate::privacy::disclosure::{self, Whose};
use crate::store::ConsentAction;

/// Validates and stores settings; for [`Mode::Enable`], also turns the plugin on and records
/// consent, once, for the version the admin was shown.
pub(super) async fn save(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
    mode: Mode,
    submitted_config: BTreeMap<String, String>,
    submitted_secrets: HashMap<String, String>,
) -> anyhow::Result<Reply> {
    let m = available.manifest();
    let row = bot
        .store
        .guild_integration(guild_id, &m.id)
        .await
        .context("reading the server's integration")?;
    if mode == Mode::Config && row.is_none() {
        return Ok(not_enabled_yet(available));
    }
    if mode == Mode::Enable {
        if let Err(refusal) = shown_prompt(bot, inv, guild_id, available, Step::Check).await? {
            return Ok(refusal);
        }
        let others = bot
            .store
            .guild_integrations(guild_id)
            .await
            .context("counting the server's integrations")?
            .iter()
            .filter(|r| r.enabled && r.plugin_id != m.id)
            .count();
        let max = bot.integrations.max_enabled() as usize;
        if others >= max {
            return Ok(Reply::text(format!(
                "This server already has {others} integrations enabled, the most one server may run \
                 at once ({max}). Disable one with `/integrations disable` first; nothing was changed."
            )));
        }
    }
    let checked = clean_config(m, &submitted_config).and_then(|config| {
        if m.secrets.is_empty() {
            return Ok((config, HashMap::new()));
        }
        if bot.integrations.secrets_key().is_none() {
            return Err(InputError::NoKey(m.name.clone()));
        }
        // Opened for where the new settings send them: a secret kept from before goes only to
        // the host (and upload) it was entered for.
        let to = Destination::of(available, guild_id, &config);
        let stored = match &row {
            Some(row) => bot.integrations.secrets().open(row, &to),
            None => Ok(HashMap::new()),
        };
        if let Err(problem) = &stored {
            tracing::warn!(%problem, "the stored secrets do not open; the admin must enter them again");
        }
        let secrets = merge_secrets(m, stored, &submitted_secrets)?;
        Ok((config, secrets))
    });
    let (config, opened_secrets) = match checked {
        Ok(checked) => checked,
        Err(err) => return Ok(Reply::text(err.to_string())),
    };
    let sealed = if m.secrets.is_empty() {
        None
    } else {
        let sealed = bot
            .integrations
            .secrets()
            .seal(
                &Destination::of(available, guild_id, &config),
                &opened_secrets,
            )
            .context("sealing the secrets")?;
        Some(sealed)
    };
    if let Err(problem) = bot
        .integrations
        .validate_settings(available, guild_id, &config, &opened_secrets)
        .await
    {
        return Ok(Reply::text(format!(
            "**{}** cannot use these settings: {}\nNothing was saved; run the command again to fix them.",
            m.name,
            inert_message(&problem.to_string())
        )));
    }
    let contacts = disclosure::contacts(m, Some(&config));
    let by = inv.user.id.get();
    if mode == Mode::Config {
        bot.store
            .update_integration_config(guild_id, &m.id, &config, sealed.as_deref(), by)
            .await
            .context("saving an integration's settings")?;
        return Ok(Reply::text(format!(
            "Saved the settings of **{}**. It may contact only {contacts}.{}",
            m.name,
            if m.secrets.is_empty() {
                ""
            } else {
                " Secrets are stored encrypted and are never shown back."
            }
        )));
    }
    // Taken only now, so a refused setting leaves the prompt usable; taken at all, so two
    // submissions (on two processes) enable once.
    if let Err(refusal) = shown_prompt(bot, inv, guild_id, available, Step::Take).await? {
        return Ok(refusal);
    }
    let consent = available.consent(guild_id, ConsentAction::Enabled, Some(by));
    bot.store
        .enable_integration(guild_id, &m.id, &config, sealed.as_deref(), &consent)
        .await
        .context("enabling an integration")?;
    Ok(Reply::text(format!(
        "✅ **{}** is enabled. From the next ticket on it receives {}, and members are told so \
         in their ticket with a link to its privacy policy. It may contact only {contacts}. Use its placeholders \
         in the welcome message with `/welcome set` as `%{}.name%`.",
        m.name,
        disclosure::receives(m, Whose::Opener),
        m.id
    )))
}
