//! `/integrations list|enable|disable|config`: the plugins a server's admins turn on.
//!
//! Enabling shows exactly what will be shared and with which hosts, asks for confirmation, and
//! then collects the plugin's settings and secrets in a form (a Discord modal). Secrets are
//! sealed before they are stored and never shown back.

use std::collections::{BTreeMap, HashMap};

use serenity::builder::{
    CreateActionRow, CreateButton, CreateCommand, CreateCommandOption, CreateInputText, CreateModal,
};
use serenity::model::application::{
    ActionRowComponent, ButtonStyle, CommandData, CommandOptionType, InputTextStyle,
    InteractionContext, ModalInteraction,
};
use serenity::model::id::GuildId;
use serenity::model::permissions::Permissions;

use super::{missing_option, Options, MANAGERS_ONLY};
use crate::bot::Bot;
use crate::integrations::{secrets_context, Available};
use crate::invocation::Invocation;
use crate::reply::Reply;
use crate::store::{ConsentAction, GuildIntegration};

/// Button and modal ids of this command. They live in posted messages: keep them stable.
pub mod ids {
    /// Confirm enabling: `tessera:int:enable:<plugin id>`.
    pub const ENABLE_PREFIX: &str = "tessera:int:enable:";
    /// Cancel enabling.
    pub const CANCEL: &str = "tessera:int:cancel";
    /// The settings form: `tessera:int:form:<enable|config>:<plugin id>`.
    pub const FORM_PREFIX: &str = "tessera:int:form:";
    /// A config field of the form: `c:<key>`.
    pub const CONFIG_FIELD: &str = "c:";
    /// A secret field of the form: `s:<key>`.
    pub const SECRET_FIELD: &str = "s:";
}

/// The longest config value accepted.
const MAX_CONFIG_VALUE: u16 = 1000;
/// The longest secret accepted.
const MAX_SECRET_VALUE: u16 = 1000;

/// The command definition; `name` offers the available plugins as choices.
pub fn register(bot: &Bot) -> CreateCommand {
    let name = || {
        let mut option = CreateCommandOption::new(
            CommandOptionType::String,
            "name",
            "The integration's id (see /integrations list)",
        )
        .required(true)
        .max_length(32);
        let available: Vec<&Available> = bot.integrations.available().collect();
        // Discord allows 25 choices; beyond that admins type the id.
        if available.len() <= 25 {
            for a in available {
                let m = a.manifest();
                let label: String = format!("{} ({})", m.name, m.id).chars().take(100).collect();
                option = option.add_string_choice(label, m.id.clone());
            }
        }
        option
    };
    let sub = |n: &str, d: &str| CreateCommandOption::new(CommandOptionType::SubCommand, n, d);
    CreateCommand::new("integrations")
        .description("Manage the integrations that receive ticket openers' user IDs")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts(vec![InteractionContext::Guild])
        .add_option(sub(
            "list",
            "Show the available integrations and what each does with data",
        ))
        .add_option(
            sub(
                "enable",
                "Turn an integration on (shows what it receives first)",
            )
            .add_sub_option(name()),
        )
        .add_option(sub("disable", "Turn an integration off").add_sub_option(name()))
        .add_option(sub("config", "Change an integration's settings").add_sub_option(name()))
}

fn unknown(name: &str) -> Reply {
    Reply::text(format!(
        "No integration called `{}` is installed on this bot. `/integrations list` shows those available.",
        name.chars().take(32).collect::<String>()
    ))
}

/// Runs the chosen subcommand (after the interaction was deferred).
pub async fn run(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: GuildId,
    options: &Options<'_>,
) -> anyhow::Result<Reply> {
    if !inv.is_manager() {
        return Ok(Reply::text(MANAGERS_ONLY));
    }
    let g = guild_id.get();
    let Some((sub, sub_options)) = options.subcommand() else {
        return Ok(missing_option("subcommand"));
    };
    if sub == "list" {
        return list(bot, g).await;
    }
    let Some(name) = sub_options.string("name") else {
        return Ok(missing_option("name"));
    };
    let Some(available) = bot.integrations.get(name) else {
        return Ok(unknown(name));
    };
    match sub {
        "enable" => enable_prompt(bot, g, available).await,
        "disable" => disable(bot, inv, g, available).await,
        // Reached only when the form could not be shown first (see `modal_first`).
        _ if fields(available).is_empty() => Ok(Reply::text(format!(
            "**{}** has no settings to change.",
            available.manifest().name
        ))),
        _ => Ok(not_enabled_yet(available)),
    }
}

fn not_enabled_yet(available: &Available) -> Reply {
    let m = available.manifest();
    Reply::text(format!(
        "**{}** is not enabled in this server yet: use `/integrations enable {}` first.",
        m.name, m.id
    ))
}

fn status(row: Option<&GuildIntegration>) -> &'static str {
    match row {
        Some(r) if r.enabled => "✅ enabled",
        Some(r) if r.disabled_reason.is_some() => "⚠️ disabled after repeated failures",
        Some(_) => "⏸️ disabled",
        None => "not enabled",
    }
}

fn hosts(available: &Available) -> String {
    let hosts = &available.manifest().allowed_hosts;
    if hosts.is_empty() {
        "nothing: it has no network access".to_owned()
    } else {
        hosts
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn list(bot: &Bot, guild_id: u64) -> anyhow::Result<Reply> {
    let rows = bot.store.guild_integrations(guild_id).await?;
    let mut entries = Vec::new();
    for a in bot.integrations.available() {
        let m = a.manifest();
        let row = rows.iter().find(|r| r.plugin_id == m.id);
        entries.push(format!(
            "**{}** (`{}` {}) — {}\n{}\n-# Receives the ticket opener's user ID. Contacts {}. Data use: {} Privacy policy: <{}>",
            m.name, m.id, m.version, status(row), m.description, hosts(a), m.data_use, m.privacy_policy
        ));
    }
    if entries.is_empty() {
        return Ok(Reply::text(
            "No integrations are installed on this bot. The operator can add some with `tessera plugin install`.",
        ));
    }
    Ok(Reply::text(fit(entries, "\n\n")))
}

/// Joins entries, leaving out whole entries past Discord's 2000 characters.
fn fit(entries: Vec<String>, sep: &str) -> String {
    let total = entries.len();
    let mut out = String::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let more = format!("{sep}…and {} more.", total - i);
        let candidate = if out.is_empty() {
            entry.clone()
        } else {
            format!("{out}{sep}{entry}")
        };
        if candidate.chars().count() + more.chars().count() > 2000 {
            out.push_str(&more);
            return out;
        }
        out = candidate;
    }
    out
}

/// What a plugin asks an admin for: config keys, then secrets.
fn fields(available: &Available) -> Vec<(String, String, bool, bool)> {
    let m = available.manifest();
    let mut out: Vec<(String, String, bool, bool)> = m
        .config
        .iter()
        .map(|c| (c.name.clone(), c.description.clone(), c.required, false))
        .collect();
    out.extend(m.secrets.iter().map(|s| {
        (
            s.name.clone(),
            format!("{} (sent only to {})", s.description, s.host),
            true,
            true,
        )
    }));
    out
}

async fn enable_prompt(bot: &Bot, guild_id: u64, available: &Available) -> anyhow::Result<Reply> {
    let m = available.manifest();
    if !m.secrets.is_empty() && bot.integrations.secrets_key().is_none() {
        return Ok(Reply::text(format!(
            "**{}** needs secrets (such as an API key), and this bot's operator has not configured a key to \
             encrypt them with (`plugins.secrets_key`). Ask the bot's operator to set it, then try again.",
            m.name
        )));
    }
    let row = bot.store.guild_integration(guild_id, &m.id).await?;
    let granted = &available.plugin.granted;
    let limits = bot.integrations.runtime().limits();
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
            "`{}` (secret, encrypted, never shown again; sent only to `{}`) — {}",
            s.name, s.host, s.description
        ));
    }
    let mut text = format!(
        "**Enable {} (`{}` {})?**{}\n\
         When a member opens a ticket, Tessera gives this integration **that member's Discord user ID** and nothing \
         else about them or this server.\n\
         **What it does with it:** {}\n\
         **It may contact:** {}\n\
         **Privacy policy:** <{}> (members see this link in their tickets)\n\
         **Sandbox:** up to {} MiB of memory and {} ms of CPU per ticket; a ticket never waits more than {} ms for it.",
        m.name,
        m.id,
        m.version,
        match &row {
            Some(r) if r.enabled => " It is already enabled; confirming keeps it on and lets you change its settings.",
            _ => "",
        },
        m.data_use,
        hosts(available),
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
    let text: String = text.chars().take(2000).collect();
    Ok(
        Reply::text(text).with_components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new(format!("{}{}", ids::ENABLE_PREFIX, m.id))
                .label("Enable")
                .style(ButtonStyle::Success),
            CreateButton::new(ids::CANCEL)
                .label("Cancel")
                .style(ButtonStyle::Secondary),
        ])]),
    )
}

async fn disable(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
) -> anyhow::Result<Reply> {
    let consent = available.consent(guild_id, ConsentAction::Disabled, Some(inv.user.id.get()));
    let name = &available.manifest().name;
    if bot.store.disable_integration(&consent).await? {
        Ok(Reply::text(format!(
            "**{name}** is disabled. It receives nothing from now on; its settings are kept in case you enable it again."
        )))
    } else {
        Ok(Reply::text(format!(
            "**{name}** was not enabled in this server."
        )))
    }
}

/// The form of a plugin's settings, prefilled with the non-secret values stored.
fn form(available: &Available, mode: &str, row: Option<&GuildIntegration>) -> CreateModal {
    let m = available.manifest();
    let has_secrets = row.is_some_and(|r| r.sealed_secrets.is_some());
    let rows = fields(available)
        .into_iter()
        .map(|(key, description, required, secret)| {
            let label: String = key.chars().take(45).collect();
            let (id, max) = if secret {
                (format!("{}{key}", ids::SECRET_FIELD), MAX_SECRET_VALUE)
            } else {
                (format!("{}{key}", ids::CONFIG_FIELD), MAX_CONFIG_VALUE)
            };
            let mut input = CreateInputText::new(InputTextStyle::Short, label, id)
                .max_length(max)
                // Stored secrets are kept when left empty, so only a first secret is required.
                .required(required && !(secret && has_secrets));
            let hint = if secret && has_secrets {
                "Leave empty to keep the stored secret".to_owned()
            } else {
                description
            };
            input = input.placeholder(hint.chars().take(100).collect::<String>());
            if !secret {
                if let Some(value) = row.and_then(|r| r.config.get(&key)) {
                    input = input.value(value.clone());
                }
            }
            CreateActionRow::InputText(input)
        })
        .collect();
    let title: String = format!("{} settings", m.name).chars().take(45).collect();
    CreateModal::new(format!("{}{mode}:{}", ids::FORM_PREFIX, m.id), title).components(rows)
}

/// The form to show *instead of* deferring, for `/integrations config` and the Enable
/// button of a plugin with settings: a modal must be the first answer to an interaction.
/// `None` means: handle it the usual way (which explains any refusal).
pub async fn modal_first(
    bot: &Bot,
    inv: &Invocation<'_>,
    plugin_id: &str,
    mode: &str,
) -> Option<CreateModal> {
    let guild_id = inv.guild_id?;
    if !inv.is_manager() {
        return None;
    }
    let available = bot.integrations.get(plugin_id)?;
    if fields(available).is_empty() {
        return None;
    }
    if !available.manifest().secrets.is_empty() && bot.integrations.secrets_key().is_none() {
        return None;
    }
    let row = bot
        .store
        .guild_integration(guild_id.get(), plugin_id)
        .await
        .ok()?;
    if mode == "config" && row.is_none() {
        return None;
    }
    Some(form(available, mode, row.as_ref()))
}

/// The plugin a slash command's form is for, if it is `/integrations config NAME`.
pub fn config_target(data: &CommandData) -> Option<String> {
    if data.name != "integrations" {
        return None;
    }
    let options = Options::new(&data.options);
    match options.subcommand() {
        Some(("config", sub)) => sub.string("name").map(str::to_owned),
        _ => None,
    }
}

/// The Enable button: turns on a plugin without settings (one with settings got its form).
pub async fn confirm_enable(
    bot: &Bot,
    inv: &Invocation<'_>,
    plugin_id: &str,
) -> anyhow::Result<Reply> {
    let Some(guild_id) = inv.guild_id else {
        return Ok(Reply::text(crate::router::OUTSIDE_SERVER));
    };
    if !inv.is_manager() {
        return Ok(Reply::text(MANAGERS_ONLY));
    }
    let Some(available) = bot.integrations.get(plugin_id) else {
        return Ok(unknown(plugin_id));
    };
    if !fields(available).is_empty() {
        // The form could not be shown (e.g. secrets but no key): explain through the prompt.
        return enable_prompt(bot, guild_id.get(), available).await;
    }
    save(
        bot,
        inv,
        guild_id.get(),
        available,
        "enable",
        BTreeMap::new(),
        HashMap::new(),
    )
    .await
}

/// A submitted settings form.
pub async fn submitted(
    bot: &Bot,
    inv: &Invocation<'_>,
    modal: &ModalInteraction,
) -> anyhow::Result<Reply> {
    let Some(guild_id) = inv.guild_id else {
        return Ok(Reply::text(crate::router::OUTSIDE_SERVER));
    };
    if !inv.is_manager() {
        return Ok(Reply::text(MANAGERS_ONLY));
    }
    let Some((mode, plugin_id)) = modal
        .data
        .custom_id
        .strip_prefix(ids::FORM_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .filter(|(mode, _)| matches!(*mode, "enable" | "config"))
    else {
        return Ok(Reply::text("I don't recognise this form; it may belong to an older version of Tessera. Run the command again."));
    };
    let Some(available) = bot.integrations.get(plugin_id) else {
        return Ok(unknown(plugin_id));
    };
    let mut config = BTreeMap::new();
    let mut secrets = HashMap::new();
    for row in &modal.data.components {
        for component in &row.components {
            let ActionRowComponent::InputText(input) = component else {
                continue;
            };
            let value = input.value.as_deref().unwrap_or_default().trim().to_owned();
            if let Some(key) = input.custom_id.strip_prefix(ids::CONFIG_FIELD) {
                config.insert(key.to_owned(), value);
            } else if let Some(key) = input.custom_id.strip_prefix(ids::SECRET_FIELD) {
                secrets.insert(key.to_owned(), value);
            }
        }
    }
    save(bot, inv, guild_id.get(), available, mode, config, secrets).await
}

/// Validates and stores settings; for `enable`, also turns the plugin on and records consent.
async fn save(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    available: &Available,
    mode: &str,
    submitted_config: BTreeMap<String, String>,
    submitted_secrets: HashMap<String, String>,
) -> anyhow::Result<Reply> {
    let m = available.manifest();
    let row = bot.store.guild_integration(guild_id, &m.id).await?;
    if mode == "config" && row.is_none() {
        return Ok(not_enabled_yet(available));
    }
    // Only declared keys are kept; empty optional values are left out.
    let mut config = BTreeMap::new();
    for key in &m.config {
        let value = submitted_config
            .get(&key.name)
            .map(String::as_str)
            .unwrap_or_default();
        if value.chars().count() > usize::from(MAX_CONFIG_VALUE) {
            return Ok(Reply::text(format!(
                "`{}` is too long (at most {MAX_CONFIG_VALUE} characters). Nothing was saved.",
                key.name
            )));
        }
        if value.is_empty() {
            if key.required {
                return Ok(Reply::text(format!(
                    "`{}` is required. Nothing was saved; try again.",
                    key.name
                )));
            }
            continue;
        }
        config.insert(key.name.clone(), value.to_owned());
    }
    let sealed = if m.secrets.is_empty() {
        None
    } else {
        let Some(key) = bot.integrations.secrets_key() else {
            return Ok(Reply::text(format!(
                "**{}** needs secrets, and this bot's operator has not configured `plugins.secrets_key` to encrypt \
                 them. Nothing was saved.",
                m.name
            )));
        };
        let context = secrets_context(guild_id, &m.id);
        // Start from what is stored, so a field left empty keeps its secret.
        let mut merged: HashMap<String, String> = row
            .as_ref()
            .and_then(|r| r.sealed_secrets.as_deref())
            .and_then(|s| key.open(&context, s).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .unwrap_or_default();
        for spec in &m.secrets {
            let value = submitted_secrets
                .get(&spec.name)
                .map(String::as_str)
                .unwrap_or_default();
            if value.contains(['\r', '\n', '\0'])
                || value.chars().count() > usize::from(MAX_SECRET_VALUE)
            {
                return Ok(Reply::text(format!("`{}` must be one line of at most {MAX_SECRET_VALUE} characters. Nothing was saved.", spec.name)));
            }
            if !value.is_empty() {
                merged.insert(spec.name.clone(), value.to_owned());
            }
            if !merged.contains_key(&spec.name) {
                return Ok(Reply::text(format!(
                    "`{}` is required. Nothing was saved; try again.",
                    spec.name
                )));
            }
        }
        merged.retain(|k, _| m.secrets.iter().any(|s| &s.name == k));
        let plain = serde_json::to_vec(&merged)?;
        Some(key.seal(&context, &plain))
    };
    let by = inv.user.id.get();
    if mode == "config" {
        bot.store
            .update_integration_config(guild_id, &m.id, &config, sealed.as_deref(), by)
            .await?;
        return Ok(Reply::text(format!(
            "Saved the settings of **{}**.{}",
            m.name,
            if m.secrets.is_empty() {
                ""
            } else {
                " Secrets are stored encrypted and are never shown back."
            }
        )));
    }
    let consent = available.consent(guild_id, ConsentAction::Enabled, Some(by));
    bot.store
        .enable_integration(guild_id, &m.id, &config, sealed.as_deref(), &consent)
        .await?;
    Ok(Reply::text(format!(
        "✅ **{}** is enabled. From the next ticket on it receives the opener's user ID, and members are told so \
         in their ticket with a link to its privacy policy. Use its placeholders in the welcome message with \
         `/welcome set` as `%{}.name%`.",
        m.name, m.id
    )))
}
