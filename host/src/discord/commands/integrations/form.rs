//! The settings form of a plugin (a Discord modal): shown first for `/integrations config`
//! and after the Enable button of a plugin with settings, then submitted.

use std::collections::{BTreeMap, HashMap};

use serenity::builder::{CreateActionRow, CreateInputText, CreateModal};
use serenity::model::application::{ActionRowComponent, InputTextStyle, ModalInteraction};

use super::pending::{shown_prompt, Step};
use super::save::save;
use super::visible;
use crate::bot::Bot;
use crate::discord::action::{Action, FormMode as Mode};
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::integrations::settings::{MAX_CONFIG_VALUE, MAX_MULTILINE_VALUE, MAX_SECRET_VALUE};
use crate::integrations::Available;
use crate::store::GuildIntegration;

/// One field of a plugin's settings form.
pub(super) struct Field {
    key: String,
    description: String,
    required: bool,
    secret: bool,
    multiline: bool,
}

/// What a plugin asks an admin for: config keys, then secrets.
pub(super) fn fields(available: &Available) -> Vec<Field> {
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

/// The form of a plugin's settings, prefilled with the non-secret values stored.
fn form(available: &Available, mode: Mode, row: Option<&GuildIntegration>) -> CreateModal {
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
    CreateModal::new(
        Action::IntegrationForm {
            mode,
            plugin: m.id.clone(),
        }
        .custom_id(),
        title,
    )
    .components(rows)
}

/// A config field of the form: `c:<key>` (ids inside one modal, not interactions).
const CONFIG_FIELD: &str = "c:";
/// A secret field of the form: `s:<key>`.
const SECRET_FIELD: &str = "s:";

/// The form field's custom id: its kind and key.
fn field_id(f: &Field) -> String {
    if f.secret {
        format!("{SECRET_FIELD}{}", f.key)
    } else {
        format!("{CONFIG_FIELD}{}", f.key)
    }
}

/// The form to show *instead of* deferring, for `/integrations config` and the Enable
/// button of a plugin with settings: a modal must be the first answer to an interaction.
/// `None` means: handle it the usual way (which explains any refusal).
#[tracing::instrument(skip_all, fields(guild_id, plugin = plugin_id))]
pub async fn modal_first(
    bot: &Bot,
    inv: &Invocation<'_>,
    plugin_id: &str,
    mode: Mode,
) -> Option<CreateModal> {
    let guild_id = inv.guild_id?;
    tracing::Span::current().record("guild_id", guild_id.get());
    if !inv.is_manager() {
        return None;
    }
    let available = visible(bot, guild_id.get(), plugin_id).await.ok()?;
    let available = &available;
    if fields(available).is_empty() {
        return None;
    }
    if !available.manifest().secrets.is_empty() && bot.integrations.secrets_key().is_none() {
        return None;
    }
    if mode == Mode::Enable {
        // A stale or foreign Enable click is explained by `confirm_enable`, after deferring.
        match shown_prompt(bot, inv, guild_id.get(), available, Step::Check).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return None,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot check the enable prompt; answering without the form");
                return None;
            }
        }
    }
    let row = match bot.store.guild_integration(guild_id.get(), plugin_id).await {
        Ok(row) => row,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the integration; answering without the form");
            return None;
        }
    };
    if mode == Mode::Config && row.is_none() {
        return None;
    }
    Some(form(available, mode, row.as_ref()))
}

/// A submitted settings form.
#[tracing::instrument(skip_all, fields(guild_id, plugin))]
pub async fn submitted(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    mode: Mode,
    plugin_id: &str,
    modal: &ModalInteraction,
) -> anyhow::Result<Reply> {
    tracing::Span::current().record("guild_id", guild_id);
    tracing::Span::current().record("plugin", plugin_id);
    let available = match visible(bot, guild_id, plugin_id).await {
        Ok(available) => available,
        Err(refusal) => return Ok(refusal),
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
            if let Some(key) = input.custom_id.strip_prefix(CONFIG_FIELD) {
                config.insert(key.to_owned(), value);
            } else if let Some(key) = input.custom_id.strip_prefix(SECRET_FIELD) {
                secrets.insert(key.to_owned(), value);
            }
        }
    }
    save(bot, inv, guild_id, available, mode, config, secrets).await
}
