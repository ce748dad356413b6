//! Secrets as one event may use them: each bound to the one host whose requests may carry it,
//! substituted into `{{secret.NAME}}` references only for that host, and never visible to the
//! guest.

use std::collections::HashMap;

use super::hosts::AllowedHost;
use crate::plugins::manifest::{Manifest, SecretSpec};

/// A secret as one event may use it: its value, and the one host whose requests carry it.
#[derive(Clone)]
pub struct BoundSecret {
    /// The name a plugin uses in `{{secret.NAME}}`.
    pub name: String,
    /// The host (lowercase) it may be sent to.
    pub host: String,
    /// A header the host adds it as on every request for `host`, if the manifest names one.
    pub header: Option<String>,
    /// The headers in whose values the plugin may write `{{secret.NAME}}` for it.
    pub placed_in: Vec<String>,
    /// The secret.
    pub value: String,
}

impl std::fmt::Debug for BoundSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundSecret")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Why a header's `{{secret.NAME}}` reference was refused; the message names the header and
/// the secret, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    /// `{{secret.` without its closing `}}`.
    #[error("header {header}: an unterminated {{{{secret.…}}}} reference")]
    Unterminated {
        /// The header.
        header: String,
    },
    /// No secret of that name is set for this server.
    #[error("header {header}: no secret named `{name}` is set")]
    Unknown {
        /// The header.
        header: String,
        /// The name referenced.
        name: String,
    },
    /// The manifest does not let this secret be placed in this header.
    #[error("header {header}: secret `{name}` may only be placed in the headers its manifest declares ({allowed})")]
    OtherHeader {
        /// The header.
        header: String,
        /// The secret.
        name: String,
        /// The headers it may go in.
        allowed: String,
    },
    /// The secret is bound to another host than the request's.
    #[error("header {header}: secret `{name}` may only be sent to {bound}, not {host}")]
    OtherHost {
        /// The header.
        header: String,
        /// The secret.
        name: String,
        /// Its host.
        bound: String,
        /// The request's host.
        host: String,
    },
}

/// Replaces each `{{secret.NAME}}` in a header value by that secret, if the request goes to the
/// secret's host. Returns the value and whether it now holds a secret.
pub(super) fn substitute_secrets(
    header: &str,
    value: &str,
    host: &str,
    secrets: &[BoundSecret],
) -> Result<(String, bool), SecretRefError> {
    const OPEN: &str = "{{secret.";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut used = false;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find("}}") else {
            return Err(SecretRefError::Unterminated {
                header: header.to_owned(),
            });
        };
        let name = &after[..end];
        let Some(secret) = secrets.iter().find(|s| s.name == name) else {
            return Err(SecretRefError::Unknown {
                header: header.to_owned(),
                name: name.to_owned(),
            });
        };
        if !secret
            .placed_in
            .iter()
            .any(|h| h.eq_ignore_ascii_case(header))
        {
            return Err(SecretRefError::OtherHeader {
                header: header.to_owned(),
                name: name.to_owned(),
                allowed: secret.placed_in.join(", "),
            });
        }
        if !secret.host.eq_ignore_ascii_case(host) {
            return Err(SecretRefError::OtherHost {
                header: header.to_owned(),
                name: name.to_owned(),
                bound: secret.host.clone(),
                host: host.to_owned(),
            });
        }
        out.push_str(&secret.value);
        used = true;
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok((out, used))
}

/// The one host the secret `spec` may be sent to with these settings (a `{config.KEY}` host is
/// the host of that setting's URL); `None` while the setting naming it is unset or unusable.
pub fn secret_host(spec: &SecretSpec, config: &HashMap<String, String>) -> Option<String> {
    match AllowedHost::parse(&spec.host).ok()?.resolve(config)? {
        AllowedHost::Exact(host) => Some(host),
        _ => None,
    }
}

/// The secrets one call may use, each bound to its host for this server (a `{config.KEY}`
/// host is the host of that setting's URL); a named secret gives one secret per line.
pub fn bind_secrets(
    manifest: &Manifest,
    secrets: &HashMap<String, String>,
    config: &HashMap<String, String>,
) -> Vec<BoundSecret> {
    let mut bound = Vec::new();
    for spec in &manifest.secrets {
        let Some(value) = secrets.get(&spec.name) else {
            continue;
        };
        let Some(host) = secret_host(spec, config) else {
            continue;
        };
        if spec.named {
            for (name, value) in named_secrets(value).unwrap_or_default() {
                bound.push(BoundSecret {
                    name,
                    host: host.clone(),
                    header: None,
                    placed_in: spec.headers.clone(),
                    value,
                });
            }
        } else {
            bound.push(BoundSecret {
                name: spec.name.clone(),
                host,
                header: spec.header.clone(),
                placed_in: spec.headers.clone(),
                value: value.clone(),
            });
        }
    }
    bound
}

/// Why the value of a `named` secret is not `NAME = value` lines. It names the line (counting
/// from 1) and never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamedSecretsError {
    /// A line without `=`.
    #[error("line {0}: write it as NAME = value")]
    NotAPair(usize),
    /// A name that is empty, too long, or has other characters.
    #[error("line {0}: the name must be 1-64 letters, digits, `_` or `-`")]
    BadName(usize),
    /// `NAME =` with nothing after it.
    #[error("line {line}: `{name}` has no value")]
    NoValue {
        /// The line.
        line: usize,
        /// The name on it.
        name: String,
    },
    /// The same name on two lines.
    #[error("line {line}: `{name}` is set twice")]
    Twice {
        /// The second line.
        line: usize,
        /// The name.
        name: String,
    },
}

/// The entries of a `named` secret: `NAME = value` lines (blank lines skipped).
pub fn named_secrets(text: &str) -> Result<Vec<(String, String)>, NamedSecretsError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(NamedSecretsError::NotAPair(number));
        };
        let (name, value) = (name.trim(), value.trim());
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(NamedSecretsError::BadName(number));
        }
        if value.is_empty() {
            return Err(NamedSecretsError::NoValue {
                line: number,
                name: name.to_owned(),
            });
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(NamedSecretsError::Twice {
                line: number,
                name: name.to_owned(),
            });
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, host: &str) -> BoundSecret {
        BoundSecret {
            name: name.into(),
            host: host.into(),
            header: None,
            placed_in: vec!["Authorization".into(), "X-Api-Key".into()],
            value: format!("{name}-value"),
        }
    }

    #[test]
    fn secret_references_are_filled_only_for_their_host() {
        let secrets = [
            secret("token", "api.example.com"),
            secret("other", "else.example.com"),
        ];
        assert_eq!(
            substitute_secrets(
                "Authorization",
                "Bearer {{secret.token}}",
                "api.example.com",
                &secrets
            ),
            Ok(("Bearer token-value".to_owned(), true))
        );
        assert_eq!(
            substitute_secrets("X-Plain", "no secrets {here}", "api.example.com", &secrets),
            Ok(("no secrets {here}".to_owned(), false))
        );
        for (value, expect) in [
            ("{{secret.other}}", "may only be sent to else.example.com"),
            ("{{secret.missing}}", "no secret named `missing`"),
            ("{{secret.token", "unterminated"),
        ] {
            match substitute_secrets("Authorization", value, "api.example.com", &secrets) {
                Err(e) => assert!(e.to_string().contains(expect), "{value}: {e}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_secret_is_placed_only_in_the_headers_its_manifest_declares() {
        let secrets = [secret("token", "api.example.com")];
        assert!(
            substitute_secrets("x-api-key", "{{secret.token}}", "api.example.com", &secrets)
                .is_ok()
        );
        for header in ["X-Debug-Echo", "Accept", "X-Forwarded-For"] {
            let err = substitute_secrets(header, "{{secret.token}}", "api.example.com", &secrets)
                .expect_err(header);
            assert!(
                matches!(err, SecretRefError::OtherHeader { .. }),
                "{header}: {err:?}"
            );
        }
    }

    #[test]
    fn named_secrets_are_name_value_lines() {
        assert_eq!(
            named_secrets("token = abc=def\n\n  other=x  ").expect("valid"),
            [
                ("token".to_owned(), "abc=def".to_owned()),
                ("other".to_owned(), "x".to_owned())
            ]
        );
        for (bad, expect) in [
            ("token", "line 1: write it as NAME = value"),
            ("a = 1\nb c = 2", "line 2"),
            ("a =", "has no value"),
            ("a = 1\na = 2", "set twice"),
        ] {
            let err = named_secrets(bad).expect_err(bad).to_string();
            assert!(err.contains(expect), "{bad}: {err}");
        }
    }
}
