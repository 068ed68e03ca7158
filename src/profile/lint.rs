//! Every error in a document, not only the first. serde stops at the first key it cannot
//! take (an unknown key, a wrong type, an unknown value); `check` should list them all. So
//! when a document fails to deserialize, its YAML tree is deserialized again and again,
//! each time without the node the last error named, until the rest is a valid profile: each
//! error is reported at its key path and line, with the closest known name when one is near,
//! and what is left is merged and validated as usual, so that its errors are reported too.

use std::sync::Arc;

use serde_yaml::Value;

use super::raw::RawProfile;
use super::{Diagnostic, Origin, Source};

/// More errors than this in one document are not worth listing one by one.
const MAX_ERRORS: usize = 64;

/// The document without its broken nodes, and a diagnostic for each; `None` when it is not
/// YAML at all (the syntax error says where) or cannot be mended.
pub fn recover(src: &Arc<Source>) -> Option<(RawProfile, Vec<Diagnostic>)> {
    // Said by `parse` already, and not for serde_yaml (`location::screen`).
    if super::location::screen(&src.text).is_some() {
        return None;
    }
    let mut value: Value = serde_yaml::from_str(&src.text).ok()?;
    let mut found = Vec::new();
    while found.len() < MAX_ERRORS {
        // From text, not from the tree: only then does serde_yaml say the key path. The
        // positions come from the original text, by key path.
        let text = serde_yaml::to_string(&value).ok()?;
        let mut e = match serde_yaml::from_str::<RawProfile>(&text) {
            Ok(raw) => return (!found.is_empty()).then_some((raw, found)),
            Err(e) => e.to_string(),
        };
        if let Some(i) = e.rfind(" at line ") {
            e.truncate(i);
        }
        let (parent, message) = split_path(&e);
        // An unknown key is named in the message; the node to drop is the key itself, and
        // the error points at the key.
        let unknown = quoted_after(message, "unknown field `");
        let node = match unknown {
            Some(field) => join(&parent, field),
            None => parent.clone(),
        };
        if node.is_empty() {
            // The document as a whole has the wrong shape: nothing to drop.
            return None;
        }
        let mut d = Diagnostic::error(&Origin::new(src, node.clone()), with_suggestion(message));
        if unknown.is_some() {
            d.at = src.key_position(&node);
        }
        found.push(d);
        if !remove(&mut value, &node) {
            return None;
        }
    }
    None
}

/// serde_yaml's `filesystem.read[2]: message`, or `message` at the top.
fn split_path(e: &str) -> (String, &str) {
    // A path is keys and [indices]; a message starts with a word and a space.
    match e.split_once(": ") {
        Some((path, rest))
            if !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.[]".contains(c)) =>
        {
            (path.to_string(), rest)
        }
        _ => (String::new(), e),
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn quoted_after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &s[s.find(marker)? + marker.len()..];
    rest.split('`').next()
}

/// `unknown field `raed`, expected one of `read`, ...` gains `(did you mean `read`?)`.
fn with_suggestion(message: &str) -> String {
    // `extends: node`: a list is wanted, and the one item is offered as one.
    if let Some((_, rest)) = message.split_once("invalid type: string \"")
        && let Some((value, "")) = rest.split_once("\", expected a sequence")
        && !value.contains(['[', ']', ',', '\\', '\n'])
    {
        return format!("{message} (a list: [{value}])");
    }
    let name = quoted_after(message, "unknown field `")
        .or_else(|| quoted_after(message, "unknown variant `"));
    let Some(name) = name else {
        return message.to_string();
    };
    let Some((_, expected)) = message.split_once("expected ") else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let hint = super::validate::closest(name, candidates.into_iter());
    match hint.is_empty() {
        true => message.to_string(),
        false => {
            // Before the list of what is expected: `unknown field `raed` (did you mean ...?), expected ...`.
            let cut = message.find(", expected").unwrap_or(message.len());
            format!("{}{hint}{}", &message[..cut], &message[cut..])
        }
    }
}

/// Removes the node at `path` (`a.b[2].c`); whether there was one.
fn remove(value: &mut Value, path: &str) -> bool {
    let mut parts = Vec::new();
    for seg in path.split('.') {
        let (key, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !key.is_empty() {
            parts.push(Part::Key(key));
        }
        while let Some(end) = rest.find(']') {
            match rest[1..end].parse() {
                Ok(i) => parts.push(Part::Index(i)),
                Err(_) => return false,
            }
            rest = &rest[end + 1..];
        }
    }
    let Some((last, ancestors)) = parts.split_last() else {
        return false;
    };
    let mut v = value;
    for p in ancestors {
        v = match (p, v) {
            (Part::Key(k), Value::Mapping(m)) => match m.get_mut(*k) {
                Some(x) => x,
                None => return false,
            },
            (Part::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, v) {
        (Part::Key(k), Value::Mapping(m)) => m.remove(*k).is_some(),
        (Part::Index(i), Value::Sequence(s)) if *i < s.len() => {
            s.remove(*i);
            true
        }
        _ => false,
    }
}

enum Part<'a> {
    Key(&'a str),
    Index(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SourceKind;

    fn errors(text: &str) -> Vec<String> {
        let src = Arc::new(Source::new(
            "p".into(),
            SourceKind::File("/p.yaml".into()),
            text.into(),
        ));
        match recover(&src) {
            Some((_, d)) => d.iter().map(|d| d.to_string()).collect(),
            None => Vec::new(),
        }
    }

    #[test]
    fn every_error_with_its_line_and_the_closest_name() {
        let e = errors(
            "descripton: x\nfilesystem:\n  raed: [/x]\n  write: 5\nnetwork:\n  mode: proxxy\nlimits:\n  open_files: many\n",
        );
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(
            e[0].starts_with("/p.yaml:1:1: descripton: unknown field `descripton` (did you mean `description`?), expected one of"),
            "{e:#?}"
        );
        assert!(
            e.iter().any(|l| l.starts_with(
                "/p.yaml:3:3: filesystem.raed: unknown field `raed` (did you mean `read`?)"
            )),
            "{e:#?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/p.yaml:4:10: filesystem.write: invalid type")),
            "{e:#?}"
        );
        assert!(
            e.iter().any(|l| l.starts_with(
                "/p.yaml:6:9: network.mode: unknown variant `proxxy` (did you mean `proxy`?)"
            )),
            "{e:#?}"
        );
        assert!(
            e.iter()
                .any(|l| l.starts_with("/p.yaml:8:15: limits.open_files: invalid type")),
            "{e:#?}"
        );
    }

    #[test]
    fn a_valid_document_or_no_yaml_at_all_is_not_mended() {
        assert!(errors("filesystem:\n  read: [/x]\n").is_empty());
        assert!(errors("filesystem: [unclosed\n").is_empty());
        assert!(errors("- just\n- a list\n").is_empty());
    }
}
