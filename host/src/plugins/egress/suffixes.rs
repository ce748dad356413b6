//! Which names are public suffixes (`com`, `co.uk`, `github.io`): names under which anyone can
//! register their own. A plugin may not ask for `*.co.uk`, which would let it reach every
//! British company; it names the domain it talks to.
//!
//! The rules are Mozilla's Public Suffix List (<https://publicsuffix.org>, MPL-2.0), both its
//! ICANN and its private sections, vendored as `public_suffix_list.dat` (Debian's
//! `publicsuffix` package, 2023-02-09). A newer copy can replace the file as is.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The list, as published.
const LIST: &str = include_str!("public_suffix_list.dat");

/// The list's rules, ASCII (IDN rules in their punycode form).
struct Rules {
    /// `co.uk`: this name is a public suffix.
    exact: HashSet<String>,
    /// `*.ck`: every direct child of this name is one.
    children_of: HashSet<String>,
    /// `!www.ck`: this name is not one, although a wildcard says so.
    exceptions: HashSet<String>,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = Rules {
            exact: HashSet::new(),
            children_of: HashSet::new(),
            exceptions: HashSet::new(),
        };
        for line in LIST.lines() {
            // A rule is the first word of a line; comments start with `//`.
            let Some(rule) = line.split_whitespace().next() else {
                continue;
            };
            if rule.starts_with("//") {
                continue;
            }
            let (set, name) = if let Some(name) = rule.strip_prefix('!') {
                (&mut rules.exceptions, name)
            } else if let Some(name) = rule.strip_prefix("*.") {
                (&mut rules.children_of, name)
            } else {
                (&mut rules.exact, rule)
            };
            if let Some(ascii) = ascii_name(name) {
                set.insert(ascii);
            }
        }
        rules
    })
}

/// The name in ASCII (punycode for IDN labels), lowercase.
fn ascii_name(name: &str) -> Option<String> {
    if name.is_ascii() {
        return Some(name.to_ascii_lowercase());
    }
    match url::Host::parse(name) {
        Ok(url::Host::Domain(ascii)) => Some(ascii),
        _ => None,
    }
}

/// Whether `name` (lowercase ASCII, no trailing dot) is a public suffix: a top-level domain, or
/// a name the list says anyone can register under.
pub fn is_public_suffix(name: &str) -> bool {
    let rules = rules();
    if rules.exceptions.contains(name) {
        return false;
    }
    if rules.exact.contains(name) {
        return true;
    }
    match name.split_once('.') {
        Some((_, parent)) => rules.children_of.contains(parent),
        // The list's implicit rule `*`: every top-level domain.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffixes_are_known_and_registrable_domains_are_not() {
        for suffix in [
            "com",
            "uk",
            "co.uk",
            "com.au",
            "github.io",
            "blogspot.com",
            "anything.ck",
            // An IDN suffix, in its ASCII form.
            "xn--55qx5d.cn",
        ] {
            assert!(is_public_suffix(suffix), "{suffix}");
        }
        for domain in [
            "example.com",
            "bbc.co.uk",
            "example.github.io",
            "api.blox.link",
            "www.ck",
        ] {
            assert!(!is_public_suffix(domain), "{domain}");
        }
    }
}
