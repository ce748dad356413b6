//! The records of what was shared (PRIVACY.md #14, #16, #17): who turned which plugin version
//! on or off under which declared policy, and each time a plugin received a user ID.
//!
//! These build the rows; the store keeps them, and a member's export (#10) reads them back.

use crate::integrations::health::host_message;
use crate::plugins::component::Inspection;
use crate::plugins::runtime::PluginFailure;
use crate::privacy::disclosure;
use crate::store::{ConsentAction, ConsentRecord, Delivery};

/// The consent record of `action` on this plugin version in a server, by `actor` (`None` when
/// Tessera acted). It keeps what the plugin declared at that moment.
pub fn consent(
    inspection: &Inspection,
    guild_id: u64,
    action: ConsentAction,
    actor: Option<u64>,
) -> ConsentRecord {
    let m = &inspection.manifest;
    ConsentRecord {
        guild_id,
        plugin_id: m.id.clone(),
        version: m.version.clone(),
        sha256: inspection.sha256.clone(),
        privacy_policy: m.privacy_policy.clone(),
        data_use: m.data_use.clone(),
        allowed_hosts: m.allowed_hosts.join(", "),
        shares: disclosure::shares(m).to_owned(),
        action,
        actor_id: actor,
        at: 0,
    }
}

/// Who received whose ID, for which ticket, when, and how it went.
pub struct Received<'a> {
    /// The server.
    pub guild_id: u64,
    /// The ticket being opened.
    pub ticket_id: Option<i64>,
    /// The opener.
    pub user_id: u64,
    /// Unix ms.
    pub at: i64,
    /// What the plugin answered.
    pub result: &'a Result<Vec<(String, String)>, PluginFailure>,
}

/// The delivery record of one plugin version receiving one user ID.
pub fn delivery(inspection: &Inspection, received: Received<'_>) -> Delivery {
    let m = &inspection.manifest;
    Delivery {
        guild_id: received.guild_id,
        ticket_id: received.ticket_id,
        plugin_id: m.id.clone(),
        version: m.version.clone(),
        sha256: inspection.sha256.clone(),
        user_id: received.user_id,
        at: received.at,
        outcome: match received.result {
            Ok(_) => "ok".to_owned(),
            Err(f) => f.kind().to_owned(),
        },
        // Tessera's words for the failure's class: the plugin's own (which may carry what its
        // service said) are never stored (PRIVACY.md #1).
        detail: received
            .result
            .as_ref()
            .err()
            .map(|f| host_message(f).to_owned()),
    }
}
