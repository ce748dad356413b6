//! What a handler wants the member to see, and what to do once they have seen it.

use serenity::builder::CreateActionRow;
use serenity::model::id::{ChannelId, GuildId};

use super::text::fit;

/// An ephemeral answer to an interaction.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The text shown to the member.
    pub content: String,
    /// Buttons under the text (e.g. a confirm step).
    pub components: Vec<CreateActionRow>,
    /// Files attached to the answer (e.g. a member's export).
    pub files: Vec<ReplyFile>,
    /// Work that must happen only after the member has their answer.
    pub then: Option<AfterReply>,
}

/// A file attached to an answer.
#[derive(Debug, Clone)]
pub struct ReplyFile {
    /// Its name as Discord shows it.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Work done after the reply is sent, because it would make the reply impossible.
#[derive(Debug, Clone)]
pub enum AfterReply {
    /// Delete a closed ticket's channel (the interaction lived in it).
    DeleteChannel {
        /// The server.
        guild_id: GuildId,
        /// The ticket channel.
        channel_id: ChannelId,
    },
}

impl Reply {
    /// A plain text answer, cut to Discord's message limit: every answer is made here, so no
    /// command has to count characters.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply {
            content: fit(content.into()),
            ..Reply::default()
        }
    }

    /// Adds buttons.
    pub fn with_components(mut self, components: Vec<CreateActionRow>) -> Reply {
        self.components = components;
        self
    }

    /// Attaches a file.
    pub fn with_file(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Reply {
        self.files.push(ReplyFile {
            name: name.into(),
            bytes,
        });
        self
    }

    /// Schedules work for after the reply.
    pub fn then(mut self, after: AfterReply) -> Reply {
        self.then = Some(after);
        self
    }
}

/// The answer when something unexpected failed; the details are in the log under `reference`.
pub fn internal_error(reference: impl std::fmt::Display) -> Reply {
    Reply::text(format!(
        "Something went wrong on Tessera's side. Please try again in a moment; \
         if it keeps happening, give the server's admins this reference: `{reference}`."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::text::MAX_MESSAGE_CHARS;

    #[test]
    fn every_answer_fits_in_one_discord_message() {
        let reply = Reply::text("ü".repeat(MAX_MESSAGE_CHARS * 2));
        assert_eq!(reply.content.chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(Reply::text("short").content, "short");
    }
}
