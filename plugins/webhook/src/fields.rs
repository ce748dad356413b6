//! The setting `placeholders`: one `name = path` line per field the welcome message can show as
//! `%webhook.name%`.

use tessera_plugin_sdk::MAX_NAME_CHARS;

use crate::json_path::JsonPath;
use crate::shown;

/// The most fields one webhook may define (the host keeps at most 25 placeholders).
pub const MAX_FIELDS: usize = 20;

/// One placeholder and where its value is in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The placeholder's name.
    pub name: String,
    /// Where its value is.
    pub path: JsonPath,
}

/// The fields in the setting's text; blank lines are skipped, and errors name the line.
pub fn parse_fields(text: &str) -> Result<Vec<Field>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(
            "`placeholders` is empty: add lines like `username = data.user.name`".to_owned(),
        );
    }
    if lines.len() > MAX_FIELDS {
        return Err(format!(
            "`placeholders` has {} lines; at most {MAX_FIELDS} are allowed",
            lines.len()
        ));
    }
    let mut fields: Vec<(usize, Field)> = Vec::new();
    for (number, line) in lines {
        let fail = |why: String| format!("`placeholders` line {number}: {why}");
        let Some((name, path)) = line.split_once('=') else {
            return Err(fail(
                "expected `name = path`, e.g. `username = data.user.name`".to_owned(),
            ));
        };
        let (name, path) = (name.trim(), path.trim());
        if !is_placeholder_name(name) {
            return Err(fail(format!(
                "`{}` is not a valid name: use 1-{MAX_NAME_CHARS} letters, digits, `_` or `-`",
                shown(name)
            )));
        }
        if let Some((first, _)) = fields.iter().find(|(_, field)| field.name == name) {
            return Err(fail(format!("`{name}` is already used on line {first}")));
        }
        if path.is_empty() {
            return Err(fail(format!("`{name}` has no path after `=`")));
        }
        let path =
            JsonPath::parse(path).map_err(|why| fail(format!("`{}`: {why}", shown(path))))?;
        fields.push((
            number,
            Field {
                name: name.to_owned(),
                path,
            },
        ));
    }
    Ok(fields.into_iter().map(|(_, field)| field).collect())
}

/// 1 to 32 ASCII letters, digits, `_` or `-`: what the host accepts as a placeholder name.
fn is_placeholder_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_path::Step;

    fn names(text: &str) -> Result<Vec<String>, String> {
        parse_fields(text).map(|fields| fields.into_iter().map(|f| f.name).collect())
    }

    #[test]
    fn lines_become_fields() {
        let fields = parse_fields("username = data.user.name\n\n  first-role=roles[0]  \n");
        assert_eq!(
            fields,
            Ok(vec![
                Field {
                    name: "username".into(),
                    path: JsonPath(vec![
                        Step::Key("data".into()),
                        Step::Key("user".into()),
                        Step::Key("name".into()),
                    ]),
                },
                Field {
                    name: "first-role".into(),
                    path: JsonPath(vec![Step::Key("roles".into()), Step::Index(0)]),
                },
            ])
        );
    }

    #[test]
    fn each_mistake_names_its_line() {
        for (text, error) in [
            (
                "",
                "`placeholders` is empty: add lines like `username = data.user.name`",
            ),
            (
                "a = x\nusername data.user.name",
                "`placeholders` line 2: expected `name = path`, e.g. `username = data.user.name`",
            ),
            (
                "a = x\n\nb = a..b",
                "`placeholders` line 3: `a..b`: empty key",
            ),
            (
                "user name = x",
                "`placeholders` line 1: `user name` is not a valid name: use 1-32 letters, \
                 digits, `_` or `-`",
            ),
            (
                " = x",
                "`placeholders` line 1: `` is not a valid name: use 1-32 letters, digits, `_` or `-`",
            ),
            (
                "a = x\nb = y\na = z",
                "`placeholders` line 3: `a` is already used on line 1",
            ),
            ("a =  ", "`placeholders` line 1: `a` has no path after `=`"),
            ("a = roles[x]", "`placeholders` line 1: `roles[x]`: an array index must be digits, e.g. [0]"),
        ] {
            assert_eq!(names(text), Err(error.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn names_follow_the_host_rules() {
        assert!(names(&format!("{} = x", "n".repeat(32))).is_ok());
        assert!(names(&format!("{} = x", "n".repeat(33))).is_err());
        assert!(names("héllo = x").is_err());
        assert!(names("a.b = x").is_err());
        assert!(names("A_b-9 = x").is_ok());
        assert_eq!(
            names("a = b = c").map(|n| n.len()),
            Ok(1),
            "a key may contain `=`"
        );
    }

    #[test]
    fn at_most_twenty_fields() {
        let lines = |n: usize| (0..n).map(|i| format!("f{i} = x\n")).collect::<String>();
        assert_eq!(names(&lines(20)).map(|n| n.len()), Ok(20));
        assert_eq!(
            names(&lines(21)),
            Err("`placeholders` has 21 lines; at most 20 are allowed".to_owned())
        );
    }
}
