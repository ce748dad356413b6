//! What an integration receives, where it may send it, and under which policy, in words
//! (PRIVACY.md #15, #16).
//!
//! Every message that tells a member or an admin what is shared is built from these
//! functions, so the enable prompt, `/integrations list`, an upload's confirmation,
//! `/privacy integrations` and the welcome message can never disagree about it. The callers
//! pass names and texts already made inert (`discord::text::neutralise`): this module renders facts,
//! it does not judge uploaders' text.

use std::collections::BTreeMap;

use crate::plugins::manifest::{config_template, url_setting_host, Manifest, SecretSpec};

/// Whose user ID a sentence is about, which decides how it is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// For admins looking at a plugin: "the ticket opener's user ID".
    Opener,
    /// For admins asked to consent, about each member to come: "that member's Discord user ID".
    ThatMember,
    /// For the member whose ID it is: "your Discord user ID".
    Yours,
}

/// What a plugin with this manifest receives, as kept in consent records: `user ID`, or
/// `user ID, server ID`.
pub fn shares(manifest: &Manifest) -> &'static str {
    if manifest.receives_server_id {
        "user ID, server ID"
    } else {
        "user ID"
    }
}

/// What a plugin receives when a ticket opens, in words: the user ID, and the server's ID
/// when the manifest asks for it. Nothing else ever reaches a plugin (the WIT world).
pub fn receives(manifest: &Manifest, whose: Whose) -> String {
    let id = user_id(whose);
    if manifest.receives_server_id {
        format!("{id} and this server's ID")
    } else {
        id.to_owned()
    }
}

/// What the plugin never receives, said after [`receives`] when asking for consent.
pub const NOTHING_ELSE: &str = "nothing else about them or this server";

/// Where a plugin may connect for this server: declared hosts, with a `{config.KEY}` shown as
/// the host of the URL the server saved (or, before that, as "the host of the `KEY` URL you
/// enter"). Empty: it has no network access.
pub fn hosts(manifest: &Manifest, config: Option<&BTreeMap<String, String>>) -> Vec<String> {
    manifest
        .allowed_hosts
        .iter()
        .map(|entry| match config_template(entry) {
            Some(key) => match config.and_then(|c| c.get(key)).map(|v| url_setting_host(v)) {
                Some(Ok(host)) => format!("`{host}`"),
                _ => format!("the host of the `{key}` URL you enter"),
            },
            None => format!("`{entry}`"),
        })
        .collect()
}

/// [`hosts`] as one phrase, saying so when there are none.
pub fn contacts(manifest: &Manifest, config: Option<&BTreeMap<String, String>>) -> String {
    let hosts = hosts(manifest, config);
    if hosts.is_empty() {
        "nothing: it has no network access".to_owned()
    } else {
        hosts.join(", ")
    }
}

/// Where a secret is sent, in words.
pub fn secret_destination(spec: &SecretSpec) -> String {
    match config_template(&spec.host) {
        Some(key) => format!("the host of the `{key}` URL"),
        None => format!("`{}`", spec.host),
    }
}

/// The line under a ticket's welcome message telling its opener which integrations received
/// their ID, each with its privacy policy: `(name made inert, policy URL)`. Empty when none did.
pub fn at_ticket_open(received: &[(String, &str)]) -> String {
    if received.is_empty() {
        return String::new();
    }
    let list: Vec<String> = received
        .iter()
        .map(|(name, policy)| format!("**{name}** ([privacy policy](<{policy}>))"))
        .collect();
    format!(
        "\n-# 🔌 Your user ID was shared with {} enabled by this server's admins: {}. `/privacy integrations` lists them.",
        if received.len() == 1 { "an integration" } else { "integrations" },
        list.join(", ")
    )
}

/// One enabled integration, as `/privacy integrations` shows it to a member.
pub struct ForMember<'a> {
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// Its name, made inert.
    pub name: String,
    /// Its declared data use, made inert.
    pub data_use: String,
    /// This server's settings (for the hosts it may contact).
    pub config: &'a BTreeMap<String, String>,
}

/// What `/privacy integrations` tells a member: who receives their ID in this server, what
/// each does with it, where it may connect, and its privacy policy.
pub fn for_member(enabled: &[ForMember<'_>]) -> String {
    if enabled.is_empty() {
        return "This server has no integrations enabled: when you open a ticket, Tessera shares your user ID with no one."
            .to_owned();
    }
    let lines: Vec<String> = enabled
        .iter()
        .map(|e| {
            let m = e.manifest;
            let hosts = hosts(m, Some(e.config));
            let hosts = if hosts.is_empty() {
                "no network access".to_owned()
            } else {
                format!("may contact {}", hosts.join(", "))
            };
            let also = if m.receives_server_id {
                "; also receives this server's ID"
            } else {
                ""
            };
            format!(
                "**{}** ({}; {hosts}{also}): {}\nPrivacy policy: <{}>",
                e.name, m.version, e.data_use, m.privacy_policy
            )
        })
        .collect();
    format!(
        "When you open a ticket here, Tessera gives **{}** (and nothing else about you) to {} \
         enabled by this server's admins:\n\n{}",
        user_id(Whose::Yours),
        if lines.len() == 1 {
            "this integration"
        } else {
            "these integrations"
        },
        lines.join("\n\n")
    )
}

/// The user ID alone, as every plugin receives it (the server's ID is said per plugin).
fn user_id(whose: Whose) -> &'static str {
    match whose {
        Whose::Opener => "the ticket opener's user ID",
        Whose::ThatMember => "that member's Discord user ID",
        Whose::Yours => "your Discord user ID",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(receives_server_id: bool, hosts: &[&str]) -> Manifest {
        let toml = format!(
            "id = \"x\"\nname = \"X\"\nversion = \"1.0.0\"\ndescription = \"d\"\nauthor = \"a\"\n\
             privacy_policy = \"https://x.example/privacy\"\ndata_use = \"Looks it up.\"\n\
             receives_server_id = {receives_server_id}\nallowed_hosts = [{}]\n",
            hosts
                .iter()
                .map(|h| format!("\"{h}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        toml::from_str(&toml).expect("a manifest")
    }

    #[test]
    fn what_is_shared_names_the_server_id_only_when_the_manifest_asks() {
        let plain = manifest(false, &[]);
        let with_server = manifest(true, &[]);
        assert_eq!(shares(&plain), "user ID");
        assert_eq!(shares(&with_server), "user ID, server ID");
        assert_eq!(
            receives(&plain, Whose::Opener),
            "the ticket opener's user ID"
        );
        assert_eq!(
            receives(&with_server, Whose::ThatMember),
            "that member's Discord user ID and this server's ID"
        );
    }

    #[test]
    fn hosts_say_where_a_plugin_may_connect() {
        let m = manifest(false, &["api.example.com", "{config.url}"]);
        assert_eq!(
            contacts(&m, None),
            "`api.example.com`, the host of the `url` URL you enter"
        );
        let config = BTreeMap::from([("url".to_owned(), "https://hooks.example/x".to_owned())]);
        assert_eq!(
            contacts(&m, Some(&config)),
            "`api.example.com`, `hooks.example`"
        );
        assert_eq!(
            contacts(&manifest(false, &[]), None),
            "nothing: it has no network access"
        );
    }

    #[test]
    fn members_are_told_who_received_their_id_with_each_policy() {
        assert_eq!(at_ticket_open(&[]), "");
        let line = at_ticket_open(&[("**A**".to_owned(), "https://a.example/p")]);
        assert!(line.contains("shared with an integration"), "{line}");
        assert!(
            line.contains("([privacy policy](<https://a.example/p>))"),
            "{line}"
        );
        let m = manifest(true, &[]);
        let config = BTreeMap::new();
        let text = for_member(&[ForMember {
            manifest: &m,
            name: "X".to_owned(),
            data_use: "Looks it up.".to_owned(),
            config: &config,
        }]);
        assert!(text.contains("**your Discord user ID**"), "{text}");
        assert!(text.contains("also receives this server's ID"), "{text}");
        assert!(text.contains("<https://x.example/privacy>"), "{text}");
        assert!(for_member(&[]).contains("shares your user ID with no one"));
    }
}
