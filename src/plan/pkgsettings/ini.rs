//! The two line formats the settings are written in: npm's `ini` (`key = value`, `key[]` for
//! lists, quoted values) and Python's `configparser` as pip reads it (`key = value` or
//! `key: value`, indented continuation lines). Neither has a crate mcpcell already uses, and
//! both need only this much: sections, keys, values, comments.

/// One `key = value` with its section (`""` before any) and line number (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Which dialect: npm's or configparser's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Npm,
    ConfigParser,
}

pub fn parse(text: &str, dialect: Dialect) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if dialect == Dialect::ConfigParser && indented {
            // A continuation line: configparser joins it to the value above with a newline.
            if let Some(last) = out.last_mut() {
                last.value.push('\n');
                last.value.push_str(line);
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        let split = match dialect {
            Dialect::Npm => line.find('='),
            Dialect::ConfigParser => line.find(['=', ':']),
        };
        let (key, value) = match split {
            Some(at) => (line[..at].trim(), line[at + 1..].trim()),
            // npm reads a bare key as `true`.
            None if dialect == Dialect::Npm => (line, "true"),
            None => continue,
        };
        let value = match dialect {
            Dialect::Npm => unquote(value),
            Dialect::ConfigParser => value.to_string(),
        };
        out.push(Item {
            section: section.clone(),
            key: key.to_string(),
            value,
            line: i + 1,
        });
    }
    out
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_lines() {
        let t = "; comment\nregistry = \"https://r.example/\"\n//r.example/:_authToken=${T}\nca[]=A\nca[]=B\nflag\n";
        let got = parse(t, Dialect::Npm);
        let kv: Vec<(&str, &str)> = got
            .iter()
            .map(|i| (i.key.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(
            kv,
            [
                ("registry", "https://r.example/"),
                ("//r.example/:_authToken", "${T}"),
                ("ca[]", "A"),
                ("ca[]", "B"),
                ("flag", "true"),
            ]
        );
        assert_eq!(got[1].line, 3);
    }

    #[test]
    fn configparser_sections_and_continuations() {
        let t = "[global]\nindex-url: https://a.example/simple\nextra-index-url =\n    https://b.example/simple\n    https://c.example/simple\n# c\n[install]\ntrusted-host = b.example\n";
        let got = parse(t, Dialect::ConfigParser);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].value, "https://a.example/simple");
        assert_eq!(
            got[1].value,
            "\nhttps://b.example/simple\nhttps://c.example/simple"
        );
        assert_eq!(
            (got[2].section.as_str(), got[2].key.as_str()),
            ("install", "trusted-host")
        );
    }
}
