//! Every `custom_id` Tessera puts on a button or form, parsed once into an [`Action`].
//!
//! These strings live in messages already posted in servers: a format may be added, never
//! changed. `Action::parse(&a.custom_id()) == Some(a)` for every action (tested below).

/// Which settings form of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormMode {
    /// The form shown after confirming `/integrations enable`.
    Enable,
    /// The form of `/integrations config`.
    Config,
}

impl FormMode {
    fn as_str(self) -> &'static str {
        match self {
            FormMode::Enable => "enable",
            FormMode::Config => "config",
        }
    }
}

/// What a button or form asks Tessera to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A panel's "Open ticket" button.
    OpenFromPanel {
        /// The panel's id.
        panel_id: i64,
    },
    /// A ticket's Close button (asks for confirmation).
    Close,
    /// The confirm step of Close.
    CloseConfirm {
        /// The ticket's id.
        ticket_id: i64,
    },
    /// The cancel button of the confirm step.
    CloseCancel,
    /// A ticket's Claim button.
    Claim,
    /// Confirm enabling an integration (answered with its settings form).
    IntegrationEnable {
        /// The plugin's id.
        plugin: String,
    },
    /// Cancel enabling an integration.
    IntegrationCancel,
    /// An integration's settings form was submitted.
    IntegrationForm {
        /// Which form.
        mode: FormMode,
        /// The plugin's id.
        plugin: String,
    },
    /// Confirm an uploaded plugin.
    UploadConfirm {
        /// The upload's sha256.
        sha256: String,
    },
    /// Discard an uploaded plugin.
    UploadDiscard {
        /// The upload's sha256.
        sha256: String,
    },
    /// Confirm `/privacy delete`: delete the data of whoever presses it. It names no one: the
    /// button is on an answer only its caller sees, and acts for the member pressing it.
    PrivacyDelete,
    /// Cancel `/privacy delete`.
    PrivacyCancel,
}

const OPEN: &str = "tessera:open:";
const CLOSE: &str = "tessera:close";
const CLOSE_CONFIRM: &str = "tessera:close:confirm:";
const CLOSE_CANCEL: &str = "tessera:close:cancel";
const CLAIM: &str = "tessera:claim";
const INT_ENABLE: &str = "tessera:int:enable:";
const INT_CANCEL: &str = "tessera:int:cancel";
const INT_FORM: &str = "tessera:int:form:";
const UPLOAD: &str = "tessera:int:upload:";
const DISCARD: &str = "tessera:int:discard:";
const PRIVACY_DELETE: &str = "tessera:privacy:delete";
const PRIVACY_CANCEL: &str = "tessera:privacy:cancel";

/// Discord's limit on a `custom_id`.
pub const MAX_CUSTOM_ID: usize = 100;

impl Action {
    /// The `custom_id` that stands for this action.
    pub fn custom_id(&self) -> String {
        match self {
            Action::OpenFromPanel { panel_id } => format!("{OPEN}{panel_id}"),
            Action::Close => CLOSE.to_owned(),
            Action::CloseConfirm { ticket_id } => format!("{CLOSE_CONFIRM}{ticket_id}"),
            Action::CloseCancel => CLOSE_CANCEL.to_owned(),
            Action::Claim => CLAIM.to_owned(),
            Action::IntegrationEnable { plugin } => format!("{INT_ENABLE}{plugin}"),
            Action::IntegrationCancel => INT_CANCEL.to_owned(),
            Action::IntegrationForm { mode, plugin } => {
                format!("{INT_FORM}{}:{plugin}", mode.as_str())
            }
            Action::UploadConfirm { sha256 } => format!("{UPLOAD}{sha256}"),
            Action::UploadDiscard { sha256 } => format!("{DISCARD}{sha256}"),
            Action::PrivacyDelete => PRIVACY_DELETE.to_owned(),
            Action::PrivacyCancel => PRIVACY_CANCEL.to_owned(),
        }
    }

    /// The action a `custom_id` stands for; `None` for anything Tessera did not write.
    pub fn parse(id: &str) -> Option<Action> {
        let text = |rest: &str| (!rest.is_empty()).then(|| rest.to_owned());
        Some(match id {
            CLOSE => Action::Close,
            CLOSE_CANCEL => Action::CloseCancel,
            CLAIM => Action::Claim,
            INT_CANCEL => Action::IntegrationCancel,
            PRIVACY_DELETE => Action::PrivacyDelete,
            PRIVACY_CANCEL => Action::PrivacyCancel,
            _ => {
                if let Some(rest) = id.strip_prefix(OPEN) {
                    Action::OpenFromPanel {
                        panel_id: rest.parse().ok()?,
                    }
                } else if let Some(rest) = id.strip_prefix(CLOSE_CONFIRM) {
                    Action::CloseConfirm {
                        ticket_id: rest.parse().ok()?,
                    }
                } else if let Some(rest) = id.strip_prefix(INT_ENABLE) {
                    Action::IntegrationEnable {
                        plugin: text(rest)?,
                    }
                } else if let Some(rest) = id.strip_prefix(INT_FORM) {
                    let (mode, plugin) = rest.split_once(':')?;
                    let mode = match mode {
                        "enable" => FormMode::Enable,
                        "config" => FormMode::Config,
                        _ => return None,
                    };
                    Action::IntegrationForm {
                        mode,
                        plugin: text(plugin)?,
                    }
                } else if let Some(rest) = id.strip_prefix(UPLOAD) {
                    Action::UploadConfirm {
                        sha256: text(rest)?,
                    }
                } else if let Some(rest) = id.strip_prefix(DISCARD) {
                    Action::UploadDiscard {
                        sha256: text(rest)?,
                    }
                } else {
                    return None;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_action() -> Vec<Action> {
        vec![
            Action::OpenFromPanel { panel_id: 42 },
            Action::Close,
            Action::CloseConfirm { ticket_id: 7 },
            Action::CloseCancel,
            Action::Claim,
            Action::IntegrationEnable {
                plugin: "bloxlink".into(),
            },
            Action::IntegrationCancel,
            Action::IntegrationForm {
                mode: FormMode::Enable,
                plugin: "rover".into(),
            },
            Action::IntegrationForm {
                mode: FormMode::Config,
                plugin: "web-hook".into(),
            },
            Action::UploadConfirm {
                sha256: "ab".repeat(32),
            },
            Action::UploadDiscard {
                sha256: "cd".repeat(32),
            },
            Action::PrivacyDelete,
            Action::PrivacyCancel,
        ]
    }

    #[test]
    fn every_action_round_trips_through_its_custom_id() {
        for action in every_action() {
            let id = action.custom_id();
            assert!(id.len() <= MAX_CUSTOM_ID, "{id} is too long for Discord");
            assert_eq!(Action::parse(&id), Some(action), "{id}");
        }
    }

    #[test]
    fn custom_ids_already_posted_in_servers_keep_their_meaning() {
        // These exact strings are on buttons in servers today.
        assert_eq!(
            Action::parse("tessera:open:3"),
            Some(Action::OpenFromPanel { panel_id: 3 })
        );
        assert_eq!(Action::parse("tessera:close"), Some(Action::Close));
        assert_eq!(
            Action::parse("tessera:close:confirm:12"),
            Some(Action::CloseConfirm { ticket_id: 12 })
        );
        assert_eq!(
            Action::parse("tessera:close:cancel"),
            Some(Action::CloseCancel)
        );
        assert_eq!(Action::parse("tessera:claim"), Some(Action::Claim));
        assert_eq!(
            Action::parse("tessera:int:form:config:webhook"),
            Some(Action::IntegrationForm {
                mode: FormMode::Config,
                plugin: "webhook".into()
            })
        );
    }

    #[test]
    fn anything_else_is_not_an_action() {
        for id in [
            "",
            "tessera:open:",
            "tessera:open:abc",
            "tessera:close:confirm:x",
            "tessera:int:enable:",
            "tessera:int:form:delete:x",
            "tessera:int:form:enable",
            "tessera:int:upload:",
            "someone-elses:button",
            "tessera:claim:extra",
            // A deletion button never names whose data: there is no such id to forge.
            "tessera:privacy:delete:700000000000000001",
            "tessera:privacy",
        ] {
            assert_eq!(Action::parse(id), None, "{id:?}");
        }
    }
}
