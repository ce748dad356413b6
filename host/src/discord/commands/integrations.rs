//! `/integrations list|enable|disable|config|upload`: the plugins a server's admins turn on,
//! and their own plugins, which only their server sees.
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
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::integrations::upload::{Pending, UploadError};
use crate::integrations::{secrets_context, Available, Integrations};
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
    /// Confirm an upload: `tessera:int:upload:<sha256>`.
    pub const UPLOAD_PREFIX: &str = "tessera:int:upload:";
    /// Discard an upload: `tessera:int:discard:<sha256>`.
    pub const DISCARD_PREFIX: &str = "tessera:int:discard:";
}

/// The longest one-line config value accepted.
const MAX_CONFIG_VALUE: u16 = 1000;
/// The longest multi-line value (config or named secrets) accepted.
const MAX_MULTILINE_VALUE: u16 = 2000;
/// The longest one-line secret accepted.
const MAX_SECRET_VALUE: u16 = 1000;

/// The command definition. `name` is typed, not chosen: servers' own uploads differ per server.
pub fn register(_bot: &Bot) -> CreateCommand {
    let name = || {
        CreateCommandOption::new(
            CommandOptionType::String,
            "name",
            "The integration's id (see /integrations list)",
        )
        .required(true)
        .max_length(32)
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
        .add_option(
            sub(
                "upload",
                "Add your own integration (a .wasm plugin) to this server only",
            )
            .add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::Attachment,
                    "file",
                    "The plugin's .wasm file (a wasm32-wasip2 component built with plugin-sdk)",
                )
                .required(true),
            ),
        )
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
    data: &CommandData,
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
    if sub == "upload" {
        let Some(attachment) = sub_options
            .attachment("file")
            .and_then(|id| data.resolved.attachments.get(&id))
        else {
            return Ok(missing_option("file"));
        };
        return upload(bot, inv, g, attachment).await;
    }
    let Some(name) = sub_options.string("name") else {
        return Ok(missing_option("name"));
    };
    let Some(available) = bot.integrations.get(g, name) else {
        return Ok(unknown(name));
    };
    let available = &available;
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

fn hosts(available: &Available, config: Option<&BTreeMap<String, String>>) -> String {
    let hosts = Integrations::describe_hosts(available, config);
    if hosts.is_empty() {
        "nothing: it has no network access".to_owned()
    } else {
        hosts.join(", ")
    }
}

/// What the plugin receives, in words for admins.
fn receives(available: &Available) -> &'static str {
    if available.manifest().receives_server_id {
        "the ticket opener's user ID and this server's ID"
    } else {
        "the ticket opener's user ID"
    }
}

async fn list(bot: &Bot, guild_id: u64) -> anyhow::Result<Reply> {
    let rows = bot.store.guild_integrations(guild_id).await?;
    let mut available = bot.integrations.available_in(guild_id);
    // Those in use here first, then those Tessera turned off (they need attention), then other
    // configured ones, this server's own uploads, and the rest.
    available.sort_by_key(|a| {
        let row = rows.iter().find(|r| r.plugin_id == a.manifest().id);
        let rank = match row {
            Some(r) if r.enabled => 0,
            Some(r) if r.disabled_reason.is_some() => 1,
            Some(_) => 2,
            None if a.source == crate::integrations::Source::Uploaded => 3,
            None => 4,
        };
        (rank, a.manifest().id.clone())
    });
    let mut entries = Vec::new();
    for a in available {
        let m = a.manifest();
        let row = rows.iter().find(|r| r.plugin_id == m.id);
        let origin = if a.source == crate::integrations::Source::Uploaded {
            " — uploaded by this server's admins"
        } else {
            ""
        };
        // How the last ticket went, when it went wrong in a way admins can fix.
        let mut last = String::new();
        if row.is_some_and(|r| r.enabled) {
            if let Some(d) = bot.store.last_delivery(guild_id, &m.id).await? {
                if d.outcome != "ok" && d.outcome != "not-found" {
                    last = format!(
                        "\n⚠️ Last ticket: {}",
                        crate::integrations::welcome::inert_message(
                            d.detail.as_deref().unwrap_or(&d.outcome)
                        )
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
                neutral(&m.name),
                m.id,
                m.version,
                status(row),
                neutral(&description),
            ));
            continue;
        }
        entries.push(format!(
            "**{}** (`{}` {}) — {}{origin}{last}\n{}\n-# Receives {}. Contacts {}. Privacy policy: <{}>",
            neutral(&m.name),
            m.id,
            m.version,
            status(row),
            neutral(&description),
            receives(&a),
            hosts(&a, row.map(|r| &r.config)),
            m.privacy_policy
        ));
    }
    if entries.is_empty() {
        return Ok(Reply::text(
            "No integrations are installed on this bot. The operator can add some with `tessera plugin install`, \
             and admins can add their own with `/integrations upload`.",
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

/// One field of a plugin's settings form.
struct Field {
    key: String,
    description: String,
    required: bool,
    secret: bool,
    multiline: bool,
}

/// What a plugin asks an admin for: config keys, then secrets.
fn fields(available: &Available) -> Vec<Field> {
    let m = available.manifest();
    let mut out: Vec<Field> = m
        .config
        .iter()
        .map(|c| Field {
            key: c.name.clone(),
            description: c.description.clone(),
            required: c.required,
            secret: false,
            multiline: c.multiline,
        })
        .collect();
    out.extend(m.secrets.iter().map(|s| Field {
        key: s.name.clone(),
        description: s.description.clone(),
        required: s.required,
        secret: true,
        multiline: s.named,
    }));
    out
}

/// Where a secret goes, in words.
fn secret_destination(spec: &crate::plugins::manifest::SecretSpec) -> String {
    match crate::plugins::manifest::config_template(&spec.host) {
        Some(key) => format!("the host of the `{key}` URL"),
        None => format!("`{}`", spec.host),
    }
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
            secret_destination(s),
            s.description
        ));
    }
    let shared = if m.receives_server_id {
        "**that member's Discord user ID and this server's ID**, and nothing else about them or this server"
    } else {
        "**that member's Discord user ID** and nothing else about them or this server"
    };
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
        if available.source == crate::integrations::Source::Uploaded {
            " Uploaded by this server's admins; Tessera's developers have not reviewed it."
        } else {
            ""
        },
        match &row {
            Some(r) if r.enabled => " It is already enabled; confirming keeps it on and lets you change its settings.",
            _ => "",
        },
        m.data_use,
        hosts(available, row.as_ref().map(|r| &r.config)),
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
        .map(|f| {
            let label: String = f.key.chars().take(45).collect();
            let (id, max) = match (f.secret, f.multiline) {
                (_, true) => (field_id(&f), MAX_MULTILINE_VALUE),
                (true, false) => (field_id(&f), MAX_SECRET_VALUE),
                (false, false) => (field_id(&f), MAX_CONFIG_VALUE),
            };
            let style = if f.multiline {
                InputTextStyle::Paragraph
            } else {
                InputTextStyle::Short
            };
            let mut input = CreateInputText::new(style, label, id)
                .max_length(max)
                // Stored secrets are kept when left empty, so only a first secret is required.
                .required(f.required && !(f.secret && has_secrets));
            let hint = if f.secret && has_secrets {
                "Leave empty to keep the stored secret".to_owned()
            } else {
                f.description
            };
            input = input.placeholder(hint.chars().take(100).collect::<String>());
            if !f.secret {
                if let Some(value) = row.and_then(|r| r.config.get(&f.key)) {
                    input = input.value(value.clone());
                }
            }
            CreateActionRow::InputText(input)
        })
        .collect();
    let title: String = format!("{} settings", m.name).chars().take(45).collect();
    CreateModal::new(format!("{}{mode}:{}", ids::FORM_PREFIX, m.id), title).components(rows)
}

fn field_id(f: &Field) -> String {
    if f.secret {
        format!("{}{}", ids::SECRET_FIELD, f.key)
    } else {
        format!("{}{}", ids::CONFIG_FIELD, f.key)
    }
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
    let available = bot.integrations.get(guild_id.get(), plugin_id)?;
    let available = &available;
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
        return Ok(Reply::text(super::OUTSIDE_SERVER));
    };
    if !inv.is_manager() {
        return Ok(Reply::text(MANAGERS_ONLY));
    }
    let Some(available) = bot.integrations.get(guild_id.get(), plugin_id) else {
        return Ok(unknown(plugin_id));
    };
    let available = &available;
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
        return Ok(Reply::text(super::OUTSIDE_SERVER));
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
    let Some(available) = bot.integrations.get(guild_id.get(), plugin_id) else {
        return Ok(unknown(plugin_id));
    };
    let available = &available;
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
        let max = if key.multiline {
            MAX_MULTILINE_VALUE
        } else {
            MAX_CONFIG_VALUE
        };
        if value.chars().count() > usize::from(max)
            || (!key.multiline && value.contains(['\r', '\n']))
        {
            return Ok(Reply::text(format!(
                "`{}` must be one line of at most {max} characters. Nothing was saved.",
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
    let mut opened_secrets = HashMap::new();
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
            let bad = if spec.named {
                value.contains('\0') || value.chars().count() > usize::from(MAX_MULTILINE_VALUE)
            } else {
                value.contains(['\r', '\n', '\0'])
                    || value.chars().count() > usize::from(MAX_SECRET_VALUE)
            };
            if bad {
                let max = if spec.named {
                    MAX_MULTILINE_VALUE
                } else {
                    MAX_SECRET_VALUE
                };
                return Ok(Reply::text(format!(
                    "`{}` is too long (at most {max} characters){}. Nothing was saved.",
                    spec.name,
                    if spec.named { "" } else { " or spans lines" }
                )));
            }
            if !value.is_empty() {
                merged.insert(spec.name.clone(), value.to_owned());
            }
            if spec.required && !merged.contains_key(&spec.name) {
                return Ok(Reply::text(format!(
                    "`{}` is required. Nothing was saved; try again.",
                    spec.name
                )));
            }
        }
        merged.retain(|k, _| m.secrets.iter().any(|s| &s.name == k));
        let plain = serde_json::to_vec(&merged)?;
        opened_secrets = merged;
        Some(key.seal(&context, &plain))
    };
    if let Err(problem) = bot
        .integrations
        .validate_settings(available, guild_id, &config, &opened_secrets)
        .await
    {
        return Ok(Reply::text(format!(
            "**{}** cannot use these settings: {}\nNothing was saved; run the command again to fix them.",
            m.name,
            crate::integrations::welcome::inert_message(&problem)
        )));
    }
    let contacts = hosts(available, Some(&config));
    let by = inv.user.id.get();
    if mode == "config" {
        bot.store
            .update_integration_config(guild_id, &m.id, &config, sealed.as_deref(), by)
            .await?;
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
    let consent = available.consent(guild_id, ConsentAction::Enabled, Some(by));
    bot.store
        .enable_integration(guild_id, &m.id, &config, sealed.as_deref(), &consent)
        .await?;
    Ok(Reply::text(format!(
        "✅ **{}** is enabled. From the next ticket on it receives {}, and members are told so \
         in their ticket with a link to its privacy policy. It may contact only {contacts}. Use its placeholders \
         in the welcome message with `/welcome set` as `%{}.name%`.",
        m.name,
        receives(available),
        m.id
    )))
}

/// `/integrations upload`: downloads the attachment from Discord, validates it like
/// `tessera plugin install`, and shows its manifest for confirmation. Nothing is stored yet.
async fn upload(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    attachment: &serenity::model::channel::Attachment,
) -> anyhow::Result<Reply> {
    let uploads = bot.integrations.upload();
    let checked = async {
        let bytes = uploads
            .download(
                &attachment.filename,
                &attachment.url,
                u64::from(attachment.size),
            )
            .await?;
        let runtime = bot.integrations.runtime().clone();
        // Compiling is CPU work; keep it off the async workers.
        let bytes = std::sync::Arc::new(bytes);
        let to_load = bytes.clone();
        let plugin = tokio::task::spawn_blocking(move || runtime.load(&to_load))
            .await
            .map_err(|e| UploadError::Download(format!("the check was interrupted: {e}")))??;
        let id = &plugin.inspection.manifest.id;
        if bot.integrations.is_global(id) {
            return Err(UploadError::ReservedId(id.clone()));
        }
        Ok::<_, UploadError>(Pending {
            plugin,
            bytes,
            uploaded_by: inv.user.id.get(),
        })
    };
    let pending = match checked.await {
        Ok(pending) => pending,
        Err(err) => {
            tracing::info!(guild = guild_id, error = %err, "an uploaded plugin was refused");
            // What the file says about itself is the uploader's text: keep it inert.
            let text = match &err {
                UploadError::Invalid(inner) => format!(
                    "That file is not a usable Tessera integration: {}",
                    crate::integrations::welcome::inert_message(&inner.to_string())
                ),
                other => other.to_string(),
            };
            return Ok(Reply::text(text));
        }
    };
    let m = &pending.plugin.inspection.manifest;
    let sha = pending.plugin.inspection.sha256.clone();
    let previous = bot.integrations.get(guild_id, &m.id);
    let replaces = match &previous {
        Some(p) => format!(
            "\nIt **replaces version {}** of `{}` in this server; both stay in the privacy record.",
            p.manifest().version,
            m.id
        ),
        None => String::new(),
    };
    let granted = &pending.plugin.granted;
    let hosts = {
        let a = Available {
            plugin: pending.plugin.clone(),
            source: crate::integrations::Source::Uploaded,
        };
        hosts(&a, None)
    };
    let text = format!(
        "**Add {} (`{}` {}) to this server?**{replaces}\n\
         {}\n\
         **By:** {}\n\
         **Receives when a ticket opens:** {}\n\
         **What it does with it:** {}\n\
         **It may contact:** {hosts}\n\
         **Privacy policy:** <{}>\n\
         **Sandbox:** up to {} MiB of memory and {} ms of CPU per ticket.\n\
         -# sha256 {sha}. Only this server will see it; adding it does not enable it (use `/integrations enable {}`).",
        neutral(&m.name),
        m.id,
        m.version,
        neutral(&m.description),
        neutral(&m.author),
        if m.receives_server_id {
            "the ticket opener's user ID and this server's ID"
        } else {
            "the ticket opener's user ID"
        },
        neutral(&m.data_use),
        m.privacy_policy,
        granted.memory >> 20,
        granted.cpu.as_millis(),
        m.id,
    );
    let text: String = text.chars().take(2000).collect();
    uploads.hold(guild_id, pending);
    Ok(
        Reply::text(text).with_components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new(format!("{}{sha}", ids::UPLOAD_PREFIX))
                .label("Add to this server")
                .style(ButtonStyle::Success),
            CreateButton::new(format!("{}{sha}", ids::DISCARD_PREFIX))
                .label("Discard")
                .style(ButtonStyle::Secondary),
        ])]),
    )
}

/// Text from a manifest or an error, made safe to show: no pings, no markdown tricks.
fn neutral(text: &str) -> String {
    crate::integrations::welcome::neutralise(text)
}

/// The upload's buttons: add it to the server, or discard it.
pub async fn confirm_upload(
    bot: &Bot,
    inv: &Invocation<'_>,
    sha256: &str,
    add: bool,
) -> anyhow::Result<Reply> {
    let Some(guild_id) = inv.guild_id else {
        return Ok(Reply::text(super::OUTSIDE_SERVER));
    };
    if !inv.is_manager() {
        return Ok(Reply::text(MANAGERS_ONLY));
    }
    let g = guild_id.get();
    let uploads = bot.integrations.upload();
    let Some(pending) = uploads.take(g, sha256) else {
        return Ok(Reply::text(
            "This upload is no longer waiting (it was handled already, or 15 minutes passed). Upload the file again with `/integrations upload`.",
        ));
    };
    if pending.uploaded_by != inv.user.id.get() {
        // Someone else's: it stays waiting for its uploader.
        uploads.hold(g, pending);
        return Ok(Reply::text(
            "Only the admin who uploaded this file can add or discard it.",
        ));
    }
    if !add {
        return Ok(Reply::text(
            "Okay, the upload was discarded; nothing was stored.",
        ));
    }
    let available = Available {
        plugin: pending.plugin.clone(),
        source: crate::integrations::Source::Uploaded,
    };
    let m = available.manifest().clone();
    let consent = available.consent(g, ConsentAction::Uploaded, Some(inv.user.id.get()));
    let row = crate::store::GuildPlugin {
        guild_id: g,
        plugin_id: m.id.clone(),
        version: m.version.clone(),
        sha256: pending.plugin.inspection.sha256.clone(),
        // Serialising a parsed manifest back to TOML cannot fail; keep the record anyway.
        manifest: toml::to_string(&m).unwrap_or_default(),
        wasm: pending.bytes.as_ref().clone(),
        uploaded_by: inv.user.id.get(),
        uploaded_at: 0,
    };
    let new = bot.store.add_guild_plugin(&row, &consent).await?;
    bot.integrations.add_upload(g, pending.plugin);
    let enabled = bot
        .store
        .guild_integration(g, &m.id)
        .await?
        .is_some_and(|r| r.enabled);
    if enabled && new {
        // The server consented to the old version; record that this one now runs instead.
        let consent = available.consent(g, ConsentAction::Enabled, Some(inv.user.id.get()));
        bot.store.record_consent(&consent).await?;
    }
    Ok(Reply::text(format!(
        "✅ **{}** (`{}` {}) is {} this server. {}",
        neutral(&m.name),
        m.id,
        m.version,
        if new { "added to" } else { "already in" },
        if enabled {
            "It was enabled already, so from the next ticket on this version runs.".to_owned()
        } else {
            format!("Turn it on with `/integrations enable {}`.", m.id)
        }
    )))
}
