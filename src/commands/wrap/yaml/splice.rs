//! Carrying out one entry's edit as splices of the original text.

use super::super::FormatError;
use super::super::jsonc::{Splice, newline, quote};
use super::super::model::Stdio;
use super::Parts;
use super::tree::Node;

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    pos + rest.find(['\r', '\n']).unwrap_or(rest.len())
}

/// The `-` of a block list item starting at `item`, and the indentation before it.
fn dash(text: &str, item: usize) -> Option<(usize, &str)> {
    let before = text[..item].trim_end_matches(' ');
    let d = before.len().checked_sub(1)?;
    if text.as_bytes()[d] != b'-' {
        return None;
    }
    let ls = line_start(text, d);
    let indent = &text[ls..d];
    indent.bytes().all(|b| b == b' ').then_some((d, indent))
}

/// The position just after the `]` that closes a flow list whose last content ends at `from`.
fn flow_close(text: &str, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' | b',' => i += 1,
            b'#' => i = line_end(text, i),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
    None
}

pub(super) struct Splicer<'t, 'o> {
    pub(super) text: &'t str,
    pub(super) out: &'o mut Vec<Splice>,
}

fn cannot(what: &str) -> FormatError {
    FormatError::Shape(format!(
        "the entry's layout cannot be edited exactly: {what}"
    ))
}

impl Splicer<'_, '_> {
    fn put(&mut self, start: usize, end: usize, with: String) {
        self.out.push(Splice { start, end, with });
    }

    pub(super) fn pins(&mut self, parts: &Parts<'_>, pins: &[(usize, String)]) {
        let Some(a) = &parts.args else { return };
        for (i, value) in pins {
            if let Some((s, e)) = a.items.get(*i) {
                self.put(*s, *e, quote(value));
            }
        }
    }

    pub(super) fn wrap(
        &mut self,
        parts: &Parts<'_>,
        launcher: &str,
        prefix: &[String],
    ) -> Result<(), FormatError> {
        let text = self.text;
        let (cs, ce) = parts.command;
        let original = text[cs..ce].to_string();
        self.put(cs, ce, quote(launcher));
        let mut items: Vec<String> = prefix.iter().map(|s| quote(s)).collect();
        items.push(original);
        let nl = newline(text);
        match &parts.args {
            Some(a) if a.flow && !a.items.is_empty() => {
                let gap = a
                    .items
                    .get(1)
                    .map(|(s, _)| &text[a.items[0].1..*s])
                    .filter(|g| g.trim() == "," && !g.contains(['\n', '\r']));
                let sep = gap.unwrap_or(", ").to_string();
                let at = a.items[0].0;
                self.put(at, at, format!("{}{sep}", items.join(&sep)));
            }
            Some(a) if a.flow => {
                let at = a.node.start() + 1;
                self.put(at, at, items.join(", "));
            }
            Some(a) => {
                let (d, indent) = dash(text, a.items[0].0)
                    .ok_or_else(|| cannot("a list item not on a line of its own"))?;
                let lines: String = items.iter().map(|i| format!("- {i}{nl}{indent}")).collect();
                self.put(d, d, lines);
            }
            None => {
                let ks = parts.command_key.start();
                let flow_map = text.as_bytes().get(parts.entry.start()) == Some(&b'{');
                if flow_map {
                    self.put(ce, ce, format!(", args: [{}]", items.join(", ")));
                } else {
                    let ls = line_start(text, ks);
                    if !text[ls..ks].bytes().all(|b| b == b' ' || b == b'-') {
                        return Err(cannot("the command's key does not start its line"));
                    }
                    let after = text[ce..line_end(text, ce)].trim_start();
                    if !(after.is_empty() || after.starts_with('#')) {
                        return Err(cannot("something follows the command on its line"));
                    }
                    let indent = " ".repeat(ks - ls);
                    let at = line_end(text, ce);
                    self.put(at, at, format!("{nl}{indent}args: [{}]", items.join(", ")));
                }
            }
        }
        Ok(())
    }

    pub(super) fn unwrap(&mut self, parts: &Parts<'_>) -> Result<(), FormatError> {
        let text = self.text;
        let not_wrapped = || FormatError::Shape("the entry is not in the wrapped form".into());
        let Some(a) = &parts.args else {
            return Err(not_wrapped());
        };
        let Node::Seq { items, .. } = a.node else {
            return Err(not_wrapped());
        };
        let stdio = Stdio {
            command: text[parts.command.0..parts.command.1].to_string(),
            args: Some(
                items
                    .iter()
                    .map(|n| n.str().unwrap_or("").to_string())
                    .collect(),
            ),
            ..Stdio::default()
        };
        let command = parts
            .entry
            .get(if parts.entry.key("cmd").is_some() {
                "cmd"
            } else {
                "command"
            })
            .and_then(Node::str)
            .unwrap_or("");
        let stdio = Stdio {
            command: command.to_string(),
            ..stdio
        };
        let w = stdio.wrapped(command).ok_or_else(not_wrapped)?;
        let (os, oe) = a.items[w.command_index];
        self.put(parts.command.0, parts.command.1, text[os..oe].to_string());
        let first = a.items[0].0;
        if w.args_added {
            let close =
                flow_close(text, oe).ok_or_else(|| cannot("`args` is not a one-line list"))?;
            let ks = a.key.start();
            let flow_map = text.as_bytes().get(parts.entry.start()) == Some(&b'{');
            if flow_map {
                let gap = &text[parts.command.1..ks];
                if gap.trim() != "," {
                    return Err(cannot("`args` does not follow the command"));
                }
                self.put(parts.command.1, close, String::new());
            } else {
                let ls = line_start(text, ks);
                let nl = newline(text);
                if !text[ls..ks].bytes().all(|b| b == b' ')
                    || ls < nl.len()
                    || &text[ls - nl.len()..ls] != nl
                {
                    return Err(cannot("`args` does not start its line"));
                }
                self.put(ls - nl.len(), close, String::new());
            }
        } else if let Some((next, _)) = a.items.get(w.command_index + 1) {
            if a.flow {
                self.put(first, *next, String::new());
            } else {
                let (d0, _) = dash(text, first)
                    .ok_or_else(|| cannot("a list item not on a line of its own"))?;
                let (dn, _) = dash(text, *next)
                    .ok_or_else(|| cannot("a list item not on a line of its own"))?;
                self.put(d0, dn, String::new());
            }
        } else if a.flow {
            // Nothing follows the command: the list is left empty, a trailing comma too.
            let after = &text[oe..];
            let comma = after.find(',').filter(|c| after[..*c].trim().is_empty());
            let end = comma.map_or(oe, |c| oe + c + 1);
            self.put(first, end, String::new());
        } else {
            return Err(cannot("a block list would be left empty"));
        }
        Ok(())
    }
}
