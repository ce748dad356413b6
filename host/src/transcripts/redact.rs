//! A member's deletion applied to a transcript (PRIVACY.md #11): what they wrote becomes a
//! tombstone, the files they posted and their avatar go, and their name is no longer shown.
//! Everyone else's messages stay as they were, so the conversation remains the server's record.

use std::collections::BTreeSet;

use super::model::{Asset, Kept, MentionKind, Transcript};
use crate::discord::text::neutralise;

/// The name shown for a member who asked for their data to be deleted.
pub const DELETED_NAME: &str = "Deleted user";

/// What the bot's messages show in place of a subject its opener deleted.
pub const REMOVED_SUBJECT: &str = "(removed at the opener's request)";

/// What [`remove_person`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removal {
    /// Messages replaced by tombstones.
    pub messages: usize,
    /// Kept files deleted (their attachments, their avatar).
    pub files: usize,
    /// Whether anything else changed (the subject or close reason, their name).
    pub other: bool,
}

impl Removal {
    /// Whether the transcript changed at all.
    pub fn changed(&self) -> bool {
        self.messages > 0 || self.files > 0 || self.other
    }
}

/// Removes from `transcript` (and its kept files, `assets`) what `user_id` wrote up to `until`
/// (unix ms; what they write later is new and stays): each such message keeps its ID, author,
/// time and place in a reply chain and is marked `removed`, with its text, embeds, mentions and
/// attachments emptied and the attachments' kept files deleted; the ticket's subject if they
/// opened it (also where the bot's messages, the welcome message, show it), and its close reason
/// if they also closed it. Once none of their messages is left readable, their name and avatar
/// go too (mentions of them show [`DELETED_NAME`]).
pub fn remove_person(
    transcript: &mut Transcript,
    assets: &mut Vec<Asset>,
    user_id: u64,
    until: i64,
) -> Removal {
    let mut removal = Removal::default();
    let mut drop: BTreeSet<u32> = BTreeSet::new();
    for m in &mut transcript.messages {
        if m.author_id != user_id || m.removed || m.sent_at > until {
            continue;
        }
        for a in &m.attachments {
            if let Kept::Yes { asset } = a.kept {
                drop.insert(asset.0);
            }
        }
        m.content.clear();
        m.embeds.clear();
        m.attachments.clear();
        m.mentions.clear();
        m.removed = true;
        removal.messages += 1;
    }
    let ticket = &mut transcript.ticket;
    if ticket.opener_id == user_id && ticket.opened_at <= until {
        if let Some(subject) = ticket.subject.take() {
            remove_from_bot_messages(transcript, &subject);
            removal.other = true;
        }
    }
    let ticket = &mut transcript.ticket;
    if ticket.opener_id == user_id
        && ticket.closed_by == user_id
        && ticket.closed_at <= until
        && ticket.close_reason.is_some()
    {
        ticket.close_reason = None;
        removal.other = true;
    }
    let still_speaks = transcript
        .messages
        .iter()
        .any(|m| m.author_id == user_id && !m.removed);
    if !still_speaks {
        for p in transcript
            .participants
            .iter_mut()
            .filter(|p| p.id == user_id)
        {
            if let Some(avatar) = p.avatar.take() {
                drop.insert(avatar.0);
            }
            if p.username != DELETED_NAME || p.display_name.is_some() {
                p.username = DELETED_NAME.to_owned();
                p.display_name = None;
                removal.other = true;
            }
        }
        for mention in transcript
            .messages
            .iter_mut()
            .flat_map(|m| m.mentions.iter_mut())
            .filter(|x| x.kind == MentionKind::User && x.id == user_id && x.name != DELETED_NAME)
        {
            mention.name = DELETED_NAME.to_owned();
            removal.other = true;
        }
    }
    let before = assets.len();
    assets.retain(|a| !drop.contains(&a.id.0));
    removal.files = before - assets.len();
    removal
}

/// Replaces `subject` in what bots wrote (the welcome message shows it, made inert by the
/// Discord adapter) by [`REMOVED_SUBJECT`].
fn remove_from_bot_messages(transcript: &mut Transcript, subject: &str) {
    if subject.trim().is_empty() {
        return;
    }
    let bots: BTreeSet<u64> = transcript
        .participants
        .iter()
        .filter(|p| p.bot)
        .map(|p| p.id)
        .collect();
    let shown = [neutralise(subject), subject.to_owned()];
    for m in transcript
        .messages
        .iter_mut()
        .filter(|m| bots.contains(&m.author_id))
    {
        for form in shown.iter().filter(|f| !f.trim().is_empty()) {
            if m.content.contains(form.as_str()) {
                m.content = m.content.replace(form.as_str(), REMOVED_SUBJECT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcripts::model::{
        AssetId, Attachment, Embed, Mention, Message, Participant, TicketInfo, FORMAT_VERSION,
    };

    const BOB: u64 = 2;
    const ALICE: u64 = 1;
    const TESSERA: u64 = 3;

    fn message(id: u64, author_id: u64, content: &str, sent_at: i64) -> Message {
        Message {
            id,
            author_id,
            content: content.to_owned(),
            sent_at,
            edited_at: None,
            reply_to: None,
            embeds: Vec::new(),
            attachments: Vec::new(),
            mentions: Vec::new(),
            removed: false,
        }
    }

    fn person(id: u64, name: &str, avatar: Option<u32>) -> Participant {
        Participant {
            id,
            username: name.to_owned(),
            display_name: Some(format!("{name}!")),
            avatar: avatar.map(AssetId),
            bot: false,
        }
    }

    fn asset(id: u32) -> Asset {
        Asset {
            id: AssetId(id),
            content_type: "image/png".to_owned(),
            bytes: vec![id as u8],
        }
    }

    /// Bob opened and closed the ticket; both wrote, bob attached a file, alice mentions bob.
    fn world() -> (Transcript, Vec<Asset>) {
        let mut bob_file = message(11, BOB, "see attached", 20);
        bob_file.attachments.push(Attachment {
            filename: "bob.png".to_owned(),
            size: 1,
            content_type: Some("image/png".to_owned()),
            kept: Kept::Yes { asset: AssetId(0) },
        });
        bob_file.embeds.push(Embed {
            title: Some("bob's link".to_owned()),
            ..Embed::default()
        });
        let mut alice_reply = message(12, ALICE, "thanks <@2>", 30);
        alice_reply.reply_to = Some(11);
        alice_reply.mentions.push(Mention {
            kind: MentionKind::User,
            id: BOB,
            name: "bob".to_owned(),
        });
        let transcript = Transcript {
            version: FORMAT_VERSION,
            guild_id: 9,
            guild_name: "Support".to_owned(),
            ticket: TicketInfo {
                number: 1,
                opener_id: BOB,
                subject: Some("bob's subject".to_owned()),
                opened_at: 5,
                closed_at: 40,
                closed_by: BOB,
                close_reason: Some("bob's reason".to_owned()),
                claimed_by: None,
            },
            participants: vec![
                person(ALICE, "alice", Some(1)),
                person(BOB, "bob", Some(2)),
                Participant {
                    bot: true,
                    ..person(TESSERA, "Tessera", None)
                },
            ],
            messages: vec![
                message(9, TESSERA, "Welcome <@2>!\n**Subject:** bob's subject", 6),
                message(10, ALICE, "hello bob", 10),
                bob_file,
                alice_reply,
            ],
        };
        (transcript, vec![asset(0), asset(1), asset(2)])
    }

    #[test]
    fn their_messages_become_tombstones_and_everyone_elses_stay() {
        let (mut t, mut assets) = world();
        let original = t.clone();
        let removal = remove_person(&mut t, &mut assets, BOB, i64::MAX);
        assert_eq!(removal.messages, 1);
        assert_eq!(removal.files, 2, "bob's attachment and bob's avatar");
        let bob_message = &t.messages[2];
        assert!(bob_message.removed);
        assert_eq!(bob_message.content, "");
        assert!(bob_message.embeds.is_empty() && bob_message.attachments.is_empty());
        assert_eq!((bob_message.id, bob_message.author_id), (11, BOB));
        // Alice's messages are untouched but for the name her mention of bob shows.
        assert_eq!(t.messages[1], original.messages[1]);
        assert_eq!(t.messages[3].content, "thanks <@2>");
        assert_eq!(t.messages[3].reply_to, Some(11));
        assert_eq!(t.messages[3].mentions[0].name, DELETED_NAME);
        // The welcome message no longer shows the subject he typed.
        assert_eq!(
            t.messages[0].content,
            format!("Welcome <@2>!\n**Subject:** {REMOVED_SUBJECT}")
        );
        // Alice's avatar stays; bob's file and avatar are gone.
        assert_eq!(
            assets.iter().map(|a| a.id.0).collect::<Vec<_>>(),
            vec![1],
            "only alice's avatar is kept"
        );
        assert_eq!(t.participants[0], original.participants[0]);
        assert_eq!(t.participants[1].username, DELETED_NAME);
        assert_eq!(t.participants[1].display_name, None);
        assert_eq!(t.participants[1].avatar, None);
        assert_eq!(t.ticket.subject, None);
        assert_eq!(t.ticket.close_reason, None);
        // Doing it again changes nothing.
        assert!(!remove_person(&mut t, &mut assets, BOB, i64::MAX).changed());
    }

    #[test]
    fn what_they_write_after_asking_stays() {
        let (mut t, mut assets) = world();
        t.messages
            .push(message(13, BOB, "written after the deletion", 50));
        let removal = remove_person(&mut t, &mut assets, BOB, 25);
        assert_eq!(removal.messages, 1);
        assert!(t.messages[2].removed);
        assert!(!t.messages[4].removed);
        assert_eq!(t.messages[4].content, "written after the deletion");
        // Still speaking, so still named; the close reason came after the request.
        assert_eq!(t.participants[1].username, "bob");
        assert_eq!(t.ticket.close_reason.as_deref(), Some("bob's reason"));
        assert_eq!(t.ticket.subject, None);
    }

    #[test]
    fn someone_else_is_left_alone() {
        let (mut t, mut assets) = world();
        let original = (t.clone(), assets.clone());
        // Alice opened nothing and closed nothing here: only her message and name go.
        let removal = remove_person(&mut t, &mut assets, ALICE, i64::MAX);
        assert_eq!(removal.messages, 2);
        assert_eq!(t.messages[2], original.0.messages[2], "bob's message stays");
        assert_eq!(
            t.messages[0], original.0.messages[0],
            "the welcome message stays"
        );
        assert_eq!(t.ticket, original.0.ticket, "bob's subject and reason stay");
        assert_eq!(assets.len(), 2, "alice's avatar only");
    }
}
