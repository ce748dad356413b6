//! Typed access to a command's options.

use serenity::model::application::{CommandDataOption, CommandDataOptionValue};
use serenity::model::id::{AttachmentId, ChannelId, RoleId, UserId};

/// The options of a command or subcommand.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a>(&'a [CommandDataOption]);

impl<'a> Options<'a> {
    /// Wraps `data.options`.
    pub fn new(options: &'a [CommandDataOption]) -> Options<'a> {
        Options(options)
    }

    fn value(&self, name: &str) -> Option<&'a CommandDataOptionValue> {
        self.0.iter().find(|o| o.name == name).map(|o| &o.value)
    }

    /// A string option, trimmed; blank counts as absent.
    pub fn string(&self, name: &str) -> Option<&'a str> {
        match self.value(name) {
            Some(CommandDataOptionValue::String(s)) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    /// An integer option.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.value(name) {
            Some(CommandDataOptionValue::Integer(i)) => Some(*i),
            _ => None,
        }
    }

    /// A boolean option.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.value(name) {
            Some(CommandDataOptionValue::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// A user option.
    pub fn user(&self, name: &str) -> Option<UserId> {
        match self.value(name) {
            Some(CommandDataOptionValue::User(u)) => Some(*u),
            _ => None,
        }
    }

    /// A role option.
    pub fn role(&self, name: &str) -> Option<RoleId> {
        match self.value(name) {
            Some(CommandDataOptionValue::Role(r)) => Some(*r),
            _ => None,
        }
    }

    /// A channel option.
    pub fn channel(&self, name: &str) -> Option<ChannelId> {
        match self.value(name) {
            Some(CommandDataOptionValue::Channel(c)) => Some(*c),
            _ => None,
        }
    }

    /// An attachment option (its data is in the interaction's resolved attachments).
    pub fn attachment(&self, name: &str) -> Option<AttachmentId> {
        match self.value(name) {
            Some(CommandDataOptionValue::Attachment(a)) => Some(*a),
            _ => None,
        }
    }

    /// The chosen subcommand and its options.
    pub fn subcommand(&self) -> Option<(&'a str, Options<'a>)> {
        self.0.iter().find_map(|o| match &o.value {
            CommandDataOptionValue::SubCommand(inner) => Some((o.name.as_str(), Options(inner))),
            _ => None,
        })
    }
}
