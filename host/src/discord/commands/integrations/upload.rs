//! `/integrations upload`: a server's own plugin, downloaded from Discord's attachment host,
//! checked, shown to the admin who uploaded it, and added only when they confirm. Until then
//! it waits in the database (see [`crate::integrations::upload`]).

use std::sync::Arc;

use anyhow::Context as _;
use serenity::builder::{CreateActionRow, CreateButton};
use serenity::model::application::ButtonStyle;

use crate::bot::Bot;
use crate::discord::action::Action;
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::discord::text::{inert_message, neutralise};
use crate::integrations::upload::{TakeError, UploadError, MAX_UPLOADED};
use crate::integrations::{Available, Source};
use crate::privacy::disclosure::{self, Whose};
use crate::store::ConsentAction;

/// `/integrations upload`: downloads the attachment from Discord, validates it like
/// `tessera plugin install`, and shows its manifest for confirmation. Nothing is stored yet.
#[tracing::instrument(skip_all, fields(guild_id = guild_id, plugin))]
pub(super) async fn upload(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: u64,
    attachment: &serenity::model::channel::Attachment,
) -> anyhow::Result<Reply> {
    let uploads = bot.integrations.upload();
    if let Err(refused) = uploads.precheck(
        &attachment.filename,
        &attachment.url,
        u64::from(attachment.size),
    ) {
        return Ok(Reply::text(refused.to_string()));
    }
    // Counted before anything is downloaded, against this server's quota only.
    if let Err(refused) = uploads
        .count(
            &bot.store,
            guild_id,
            u64::from(attachment.size),
            crate::store::now_ms(),
        )
        .await
        .context("counting an upload against the server's quota")?
    {
        return Ok(Reply::text(refused.to_string()));
    }
    let checked = async {
        let bytes = uploads
            .download(
                &attachment.filename,
                &attachment.url,
                u64::from(attachment.size),
            )
            .await?;
        let pending = uploads
            .check(
                bot.integrations.runtime(),
                Arc::new(bytes),
                inv.user.id.get(),
            )
            .await?;
        let id = &pending.inspection.manifest.id;
        if bot.integrations.is_global(id) {
            return Err(UploadError::ReservedId(id.clone()));
        }
        Ok::<_, UploadError>(pending)
    };
    let pending = match checked.await {
        Ok(pending) => pending,
        Err(err) => {
            tracing::info!(guild = guild_id, error = %err, "an uploaded plugin was refused");
            // What the file says about itself is the uploader's text: keep it inert.
            let text = match err {
                UploadError::Invalid(inner) => format!(
                    "That file is not a usable Tessera integration: {}",
                    inert_message(&inner.to_string())
                ),
                UploadError::Check(TakeError::Invalid(inner)) => format!(
                    "That file is not a usable Tessera integration: {}",
                    inert_message(&inner.to_string())
                ),
                UploadError::Check(TakeError::Busy) => {
                    "The bot is busy checking other uploads; upload the file again in a minute."
                        .to_owned()
                }
                UploadError::Check(TakeError::Unexpected(err)) => return Err(err),
                other => other.to_string(),
            };
            return Ok(Reply::text(text));
        }
    };
    let m = &pending.inspection.manifest;
    tracing::Span::current().record("plugin", m.id.as_str());
    let sha = pending.inspection.sha256.clone();
    let previous = bot.integrations.get(guild_id, &m.id);
    let replaces = match &previous {
        Some(p) => format!(
            "\nIt **replaces version {}** of `{}` in this server (the record of what it shared stays), \
             and its secrets must be entered again.",
            p.manifest().version,
            m.id
        ),
        None => String::new(),
    };
    let granted = &pending.granted;
    let hosts = disclosure::contacts(m, None);
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
        neutralise(&m.name),
        m.id,
        m.version,
        neutralise(&m.description),
        neutralise(&m.author),
        disclosure::receives(m, Whose::Opener),
        neutralise(&m.data_use),
        m.privacy_policy,
        granted.memory >> 20,
        granted.cpu.as_millis(),
        m.id,
    );
    uploads
        .hold(&bot.store, guild_id, &pending, crate::store::now_ms())
        .await
        .context("holding the upload for its admin's confirmation")?;
    Ok(
        Reply::text(text).with_components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new(
                Action::UploadConfirm {
                    sha256: sha.clone(),
                }
                .custom_id(),
            )
            .label("Add to this server")
            .style(ButtonStyle::Success),
            CreateButton::new(
                Action::UploadDiscard {
                    sha256: sha.clone(),
                }
                .custom_id(),
            )
            .label("Discard")
            .style(ButtonStyle::Secondary),
        ])]),
    )
}

/// The upload's buttons: add it to the server, or discard it.
#[tracing::instrument(skip_all, fields(guild_id, plugin))]
pub async fn confirm_upload(
    bot: &Bot,
    inv: &Invocation<'_>,
    g: u64,
    sha256: &str,
    add: bool,
) -> anyhow::Result<Reply> {
    let uploads = bot.integrations.upload();
    let user = inv.user.id.get();
    let now = crate::store::now_ms();
    if !add {
        return Ok(Reply::text(
            match uploads.discard(&bot.store, g, sha256, user, now).await {
                Ok(()) => "Okay, the upload was discarded; nothing was stored.".to_owned(),
                Err(err) => refusal(err)?,
            },
        ));
    }
    let runtime = bot.integrations.runtime();
    let added = match uploads
        .take(&bot.store, runtime, g, sha256, user, now)
        .await
    {
        Ok(added) => added,
        Err(err) => return Ok(Reply::text(refusal(err)?)),
    };
    tracing::Span::current().record("plugin", added.plugin.inspection.manifest.id.as_str());
    let available = Available {
        plugin: added.plugin.clone(),
        source: Source::Uploaded,
    };
    let m = available.manifest().clone();
    // This server's room for uploads: the version it replaces does not count.
    let others: Vec<_> = bot
        .store
        .guild_upload_sizes(g)
        .await
        .context("reading the server's uploads")?
        .into_iter()
        .filter(|(id, _)| *id != m.id)
        .collect();
    let stored: u64 = others.iter().map(|(_, bytes)| bytes).sum::<u64>() + added.bytes.len() as u64;
    if others.len() >= MAX_UPLOADED {
        return Ok(Reply::text(refusal(TakeError::Full(format!(
            "{MAX_UPLOADED} uploaded integrations, the most one server may have"
        )))?));
    }
    if stored > uploads.stored_bytes() {
        return Ok(Reply::text(refusal(TakeError::Full(format!(
            "no room for {} more bytes of uploaded integrations ({} MiB at most)",
            added.bytes.len(),
            uploads.stored_bytes() >> 20
        )))?));
    }
    let consent = available.consent(g, ConsentAction::Uploaded, Some(inv.user.id.get()));
    let row = crate::store::GuildPlugin {
        guild_id: g,
        plugin_id: m.id.clone(),
        version: m.version.clone(),
        sha256: added.plugin.inspection.sha256.clone(),
        // Serialising a parsed manifest back to TOML cannot fail; keep the record anyway.
        manifest: toml::to_string(&m).unwrap_or_default(),
        wasm: added.bytes.as_ref().clone(),
        uploaded_by: inv.user.id.get(),
        uploaded_at: 0,
    };
    let new = bot
        .store
        .add_guild_plugin(&row, &consent)
        .await
        .context("storing an uploaded plugin")?;
    bot.integrations.add_upload(g, added.plugin);
    let enabled = bot
        .store
        .guild_integration(g, &m.id)
        .await
        .context("reading the server's integration")?
        .is_some_and(|r| r.enabled);
    if enabled && new {
        // The server consented to the old version; record that this one now runs instead.
        let consent = available.consent(g, ConsentAction::Enabled, Some(inv.user.id.get()));
        bot.store
            .record_consent(&consent)
            .await
            .context("recording the consent to the new version")?;
    }
    Ok(Reply::text(format!(
        "✅ **{}** (`{}` {}) is {} this server. {}",
        neutralise(&m.name),
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

/// The admin's answer to a refused Add or Discard click; a failure of Tessera's own is an error.
fn refusal(err: TakeError) -> anyhow::Result<String> {
    match err {
        TakeError::Unexpected(err) => Err(err),
        // What the file says about itself is the uploader's text: keep it inert.
        TakeError::Invalid(inner) => Ok(format!(
            "That file is not a usable Tessera integration any more: {}",
            inert_message(&inner.to_string())
        )),
        other => Ok(other.to_string()),
    }
}
