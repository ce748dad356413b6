//! Who is asking the ticket service, and what they may do.

use crate::store::{GuildSettings, Ticket};

/// Whoever acts on tickets: a member through a command or button, later a dashboard user or a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The acting user.
    pub user_id: u64,
    /// The server they act in.
    pub guild_id: u64,
    /// Their roles in that server.
    pub roles: Vec<u64>,
    /// Whether they have Manage Server or Administrator there.
    pub manages_server: bool,
}

impl Caller {
    /// Whether the caller may manage the server's settings.
    pub fn is_manager(&self) -> bool {
        self.manages_server
    }

    /// Whether the caller is staff: has the staff role, or manages the server.
    pub fn is_staff(&self, settings: &GuildSettings) -> bool {
        self.manages_server || self.roles.contains(&settings.staff_role_id)
    }

    /// Whether the caller may close `ticket`: its opener, or staff.
    pub fn may_close(&self, ticket: &Ticket, settings: &GuildSettings) -> bool {
        self.user_id == ticket.opener_id || self.is_staff(settings)
    }
}
