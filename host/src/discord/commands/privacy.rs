//! `/privacy`: a member's view of their own data (PRIVACY.md #10, #11, #12, #16, #20).
//!
//! - `integrations` — which integrations receive their user ID in this server.
//! - `export` — a JSON file of everything Tessera stores about them, in every server.
//! - `delete` — asks, then deletes their data in every server at once, and says what is kept.
//!
//! Whose data is always the interaction's user, whom Discord authenticated: no option names
//! anyone, and the Delete button acts for the member who presses it. Export and delete work in
//! DMs with the bot too; they are not about one server.

use std::io::Write as _;

use anyhow::Context as _;
use serenity::builder::{CreateActionRow, CreateButton, CreateCommand, CreateCommandOption};
use serenity::model::application::{ButtonStyle, CommandOptionType, InteractionContext};

use super::{missing_option, Options};
use crate::bot::Bot;
use crate::discord::action::Action;
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::discord::text::neutralise;
use crate::privacy::access::{self, Export};
use crate::privacy::disclosure::{self, ForMember};
use crate::privacy::erasure::{self, Outcome};

/// What this command needs before it runs: nothing; each subcommand is about the caller.
pub(super) const NEEDS: super::Needs = super::Needs::Anywhere;

/// The attachment limit assumed when Discord does not say (its smallest, for DMs).
const DEFAULT_ATTACHMENT_LIMIT: usize = 10 << 20;

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("privacy")
        .description("Your data: what Tessera shares and stores about you")
        .contexts(vec![InteractionContext::Guild, InteractionContext::BotDm])
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "integrations",
            "Which integrations receive your user ID when you open a ticket, and their privacy policies",
        ))
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "export",
            "A copy (JSON) of everything Tessera stores about you, in every server",
        ))
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "delete",
            "Delete your data from Tessera in every server (asks first)",
        ))
}

/// Runs the chosen subcommand, in a server or a DM.
pub async fn run(bot: &Bot, inv: &Invocation<'_>, options: &Options<'_>) -> anyhow::Result<Reply> {
    match options.subcommand() {
        Some(("integrations", _)) => match inv.guild_id {
            Some(guild_id) => integrations(bot, guild_id.get()).await,
            None => Ok(Reply::text(
                "`/privacy integrations` is about one server's integrations: use it in that server. \
                 `/privacy export` and `/privacy delete` work here too.",
            )),
        },
        Some(("export", _)) => export(bot, inv).await,
        Some(("delete", _)) => Ok(ask_delete()),
        _ => Ok(missing_option("subcommand")),
    }
}

/// Answers the buttons of `/privacy delete`.
pub async fn press(bot: &Bot, inv: &Invocation<'_>, action: &Action) -> anyhow::Result<Reply> {
    match action {
        Action::PrivacyDelete => delete(bot, inv).await,
        Action::PrivacyCancel => Ok(Reply::text("Okay, nothing was deleted.")),
        _ => Ok(Reply::text(
            "I don't recognise this button; run the command again.",
        )),
    }
}

#[tracing::instrument(skip_all, fields(guild_id = guild_id))]
async fn integrations(bot: &Bot, guild_id: u64) -> anyhow::Result<Reply> {
    let rows = bot
        .store
        .guild_integrations(guild_id)
        .await
        .context("reading the server's integrations")?;
    if rows
        .iter()
        .any(|r| r.enabled && !bot.integrations.is_global(&r.plugin_id))
    {
        bot.integrations.sync_uploads(&bot.store, guild_id).await;
    }
    let enabled: Vec<_> = rows
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|row| Some((row, bot.integrations.get(guild_id, &row.plugin_id)?)))
        .collect();
    let entries: Vec<ForMember<'_>> = enabled
        .iter()
        .map(|(row, available)| ForMember {
            manifest: available.manifest(),
            name: neutralise(&available.manifest().name),
            data_use: neutralise(&available.manifest().data_use),
            config: &row.config,
        })
        .collect();
    Ok(Reply::text(disclosure::for_member(&entries)))
}

/// `/privacy export`: the caller's export as a file, compressed if that is what fits.
#[tracing::instrument(skip_all, fields(interaction_id = %inv.id))]
async fn export(bot: &Bot, inv: &Invocation<'_>) -> anyhow::Result<Reply> {
    let user_id = inv.user.id.get();
    let export = access::export(
        &bot.store,
        bot.transcripts.as_deref(),
        user_id,
        crate::store::now_ms(),
    )
    .await
    .context("collecting a member's export")?;
    let json = access::to_json(&export);
    let limit = match usize::try_from(inv.attachment_size_limit) {
        Ok(0) | Err(_) => DEFAULT_ATTACHMENT_LIMIT,
        Ok(n) => n,
    };
    let name = format!("tessera-export-{user_id}.json");
    let summary = export_summary(&export);
    if json.len() <= limit {
        return Ok(Reply::text(summary).with_file(name, json));
    }
    let gzipped = gzip(&json);
    if gzipped.len() <= limit {
        return Ok(Reply::text(format!(
            "{summary}\nIt is too large for Discord to attach here as it is ({}), so it is \
             compressed with gzip: unpack it to read it.",
            size(json.len())
        ))
        .with_file(format!("{name}.gz"), gzipped));
    }
    tracing::info!(
        bytes = json.len(),
        limit,
        "a member's export is larger than Discord allows attaching"
    );
    Ok(Reply::text(format!(
        "Your export is ready, but it is {} ({} compressed), more than Discord lets Tessera attach \
         here ({}). Nothing was sent. Try `/privacy export` in a server with a higher upload limit \
         (Discord raises it with server boosts), or ask this bot's operator for a copy.",
        size(json.len()),
        size(gzipped.len()),
        size(limit)
    )))
}

/// What the export holds, in a sentence or two.
fn export_summary(e: &Export) -> String {
    let messages: usize = e.transcripts.iter().map(|t| t.messages.len()).sum();
    let mut text = format!(
        "Here is everything Tessera stores about you, in every server (format `{}`, described in \
         Tessera's README): {} opened, {} added to, {} in {}, {} of your user ID being shared with \
         an integration, {}.",
        access::SCHEMA,
        count(e.tickets_opened.len(), "ticket", "tickets"),
        count(e.tickets_added_to.len(), "ticket", "tickets"),
        count(messages, "message", "messages"),
        count(e.transcripts.len(), "transcript", "transcripts"),
        count(e.integration_deliveries.len(), "record", "records"),
        count(e.blacklist.len(), "blacklist entry", "blacklist entries"),
    );
    if e.transcripts_not_readable > 0 {
        text.push_str(&format!(
            "\n{} could not be opened with this bot's keys, so your messages there (if any) are \
             not included; the bot's operator can see why in its log.",
            count(
                e.transcripts_not_readable,
                "stored transcript",
                "stored transcripts"
            )
        ));
    }
    text
}

/// The confirm step of `/privacy delete`.
fn ask_delete() -> Reply {
    Reply::text(
        "**Delete your data from Tessera, in every server?** This happens at once and cannot be undone.\n\
         - **Deleted:** your messages in stored ticket transcripts (each becomes \"removed at its \
         author's request\"; the files you posted and your avatar go too, and your name is no \
         longer shown), the subjects of your tickets (of an open ticket, when it closes) and the \
         close reasons you wrote on them, and every record of an integration receiving your user ID.\n\
         - **Kept, as the servers' own records:** that your tickets existed (number, dates, who \
         claimed and closed them), who was added to them, blacklist entries about you, what you \
         did as a server admin, and everyone else's messages.\n\
         You can get a copy first with `/privacy export`.",
    )
    .with_components(vec![CreateActionRow::Buttons(vec![
        CreateButton::new(Action::PrivacyDelete.custom_id())
            .label("Delete my data")
            .style(ButtonStyle::Danger),
        CreateButton::new(Action::PrivacyCancel.custom_id())
            .label("Cancel")
            .style(ButtonStyle::Secondary),
    ])])
}

/// Deletes the presser's data and says what was deleted and what was kept.
#[tracing::instrument(skip_all, fields(interaction_id = %inv.id))]
async fn delete(bot: &Bot, inv: &Invocation<'_>) -> anyhow::Result<Reply> {
    let outcome = erasure::erase(
        &bot.store,
        bot.transcripts.as_deref(),
        inv.user.id.get(),
        crate::store::now_ms(),
    )
    .await
    .context("deleting a member's data")?;
    Ok(Reply::text(deleted_text(&outcome)))
}

/// The answer after a deletion: what went, what stayed and why, and what happens next.
fn deleted_text(o: &Outcome) -> String {
    let mut lines = vec![format!(
        "**Done: your data is deleted.** Removed: {} (in {}), {} they carried, {} of \
         integrations receiving your user ID, {} and {} you wrote.",
        count(o.removed.messages, "message", "messages"),
        count(o.removed.transcripts, "transcript", "transcripts"),
        count(o.removed.files, "file", "files"),
        count(o.erased.deliveries, "record", "records"),
        count(o.erased.subjects, "ticket subject", "ticket subjects"),
        count(o.erased.close_reasons, "close reason", "close reasons"),
    )];
    if o.open_tickets > 0 {
        lines.push(format!(
            "**Your open {}:** {} open. Its subject and what you wrote there until now will be \
             left out of {} transcript and deleted when {} closes (until then the channel shows \
             them as before); what you write from now on is kept as usual.",
            if o.open_tickets == 1 {
                "ticket"
            } else {
                "tickets"
            },
            if o.open_tickets == 1 {
                "it stays"
            } else {
                "they stay"
            },
            if o.open_tickets == 1 { "its" } else { "their" },
            if o.open_tickets == 1 { "it" } else { "each" },
        ));
    } else {
        lines.push(
            "Messages you wrote in tickets that are still open will be left out of their \
             transcripts when they close."
                .to_owned(),
        );
    }
    let mut kept = vec![
        "everyone else's messages (they are theirs)".to_owned(),
        "your user ID on the removed messages, so the conversations still read".to_owned(),
    ];
    if o.tickets_kept > 0 {
        kept.push(format!(
            "the record of the {} you opened: number, dates, who claimed and closed {} (each \
             server's record of its tickets, deleted a set time after closing)",
            count(o.tickets_kept, "ticket", "tickets"),
            if o.tickets_kept == 1 { "it" } else { "them" }
        ));
    }
    if o.blacklisted_in > 0 {
        kept.push(format!(
            "{} about you, with the staff's reason (a server's moderation decision, which its \
             staff can lift)",
            count(o.blacklisted_in, "blacklist entry", "blacklist entries")
        ));
    }
    if o.admin_records > 0 {
        kept.push(format!(
            "{} of what you did as a server admin (they show who agreed to share members' data)",
            count(o.admin_records, "record", "records")
        ));
    }
    lines.push(format!("**Kept:** {}.", kept.join("; ")));
    lines.push(
        "Transcripts already posted in a server's log channel are messages on Discord that belong \
         to that server: Tessera does not keep them and cannot change them."
            .to_owned(),
    );
    if o.removed.unreadable > 0 {
        lines.push(format!(
            "⚠️ {} could not be opened with this bot's keys, so they could not be changed; the \
             bot's operator is told in its log.",
            count(
                o.removed.unreadable,
                "stored transcript",
                "stored transcripts"
            )
        ));
    }
    if o.retry > 0 {
        lines.push(format!(
            "⚠️ {} changed while Tessera was rewriting {}: run `/privacy delete` again to finish.",
            count(o.retry, "transcript", "transcripts"),
            if o.retry == 1 { "it" } else { "them" }
        ));
    }
    lines.join("\n")
}

/// `n` and the right noun.
fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    let noun = if n == N::from(1) { one } else { many };
    format!("{n} {noun}")
}

/// Bytes in words: `12.3 MB`.
fn size(bytes: usize) -> String {
    if bytes < 1000 {
        format!("{bytes} bytes")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// `bytes` compressed with gzip.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_answer_after_deleting_fits_one_message() {
        let many = 1_000_000;
        let outcome = Outcome {
            erased: crate::store::Erased {
                deliveries: many,
                subjects: many,
                close_reasons: many,
                pending: many,
            },
            removed: crate::transcripts::Removed {
                transcripts: 1_000_000,
                messages: 1_000_000,
                files: 1_000_000,
                unreadable: 1_000_000,
            },
            retry: 1_000_000,
            tickets_kept: 1_000_000,
            open_tickets: 1_000_000,
            blacklisted_in: 1_000_000,
            admin_records: 1_000_000,
        };
        let text = deleted_text(&outcome);
        assert!(
            text.chars().count() <= crate::discord::text::MAX_MESSAGE_CHARS,
            "{} characters: {text}",
            text.chars().count()
        );
        // Not cut to fit: the whole question is shown.
        assert!(ask_delete().content.ends_with("with `/privacy export`."));
    }

    #[test]
    fn the_answer_after_deleting_says_what_was_kept_and_why() {
        let outcome = Outcome {
            tickets_kept: 2,
            open_tickets: 1,
            blacklisted_in: 1,
            ..Outcome::default()
        };
        let text = deleted_text(&outcome);
        assert!(text.contains("everyone else's messages"), "{text}");
        assert!(
            text.contains("the record of the 2 tickets you opened"),
            "{text}"
        );
        assert!(text.contains("1 blacklist entry about you"), "{text}");
        assert!(
            text.contains("**Your open ticket:** it stays open"),
            "{text}"
        );
        assert!(text.contains("log channel"), "{text}");
        assert!(
            text.chars().count() <= crate::discord::text::MAX_MESSAGE_CHARS,
            "fits one message"
        );
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size(999), "999 bytes");
        assert_eq!(size(12_345), "12.3 kB");
        assert_eq!(size(26_214_400), "26.2 MB");
    }
}
