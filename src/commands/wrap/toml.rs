//! TOML: Codex's `config.toml`, servers under `[mcp_servers.NAME]`, and Mistral Vibe's, an
//! array of tables `[[mcp_servers]]` each with a `name`.
//!
//! `toml_edit` keeps every comment, blank line and value representation; the editor moves
//! values with their representation and gives inserted list elements the list's own
//! separators, so `unwrap` puts back the very bytes `wrap` took out.

use toml_edit::{Array, DocumentMut, Item, Key, RawString, Value};

use super::FormatError;
use super::model::{Edit, Kind, Server, Stdio};

const SECTION: &str = "mcp_servers";

/// Why a TOML file with both kinds of line break is left alone.
pub const MIXED_LINE_ENDS: &str =
    "the file mixes \\r\\n and \\n line breaks; make them all one kind first (nothing was changed)";

fn parse(text: &str) -> Result<DocumentMut, FormatError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let (line, column) = line_column(text, at);
        FormatError::Syntax {
            line,
            column,
            message: e.message().trim_end().to_string(),
        }
    })
}

fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

fn strings(arr: &Array) -> Option<Vec<String>> {
    arr.iter().map(|v| v.as_str().map(str::to_string)).collect()
}

fn classify(item: &Item) -> Kind {
    let Some(entry) = item.as_table_like() else {
        return Kind::Unsupported("the entry is not a table".into());
    };
    let transport = entry.get("transport").and_then(Item::as_str).unwrap_or("");
    let Some(command) = entry.get("command") else {
        if let Some(url) = entry.get("url").and_then(Item::as_str) {
            let how = if transport.is_empty() {
                "streamable HTTP"
            } else {
                transport
            };
            return Kind::Remote(format!("{how} server at {url}"));
        }
        if super::jsonc::REMOTE_TYPES.contains(&transport) {
            return Kind::Remote(format!("{transport} server"));
        }
        return Kind::Unsupported("no `command`, and not a remote server either".into());
    };
    let Some(command) = command.as_str() else {
        return Kind::Unsupported("`command` is not a string".into());
    };
    let args = match entry.get("args") {
        None => None,
        Some(a) => match a.as_array().and_then(strings) {
            Some(list) => Some(list),
            None => return Kind::Unsupported("`args` is not a list of strings".into()),
        },
    };
    let mut env: Vec<String> = entry
        .get("env")
        .and_then(Item::as_table_like)
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default();
    // Codex forwards these from its own environment.
    if let Some(names) = entry
        .get("env_vars")
        .and_then(Item::as_array)
        .and_then(strings)
    {
        super::model::push_new(&mut env, names);
    }
    Kind::Stdio(Stdio {
        command: command.to_string(),
        args,
        env,
        cwd: entry.get("cwd").and_then(Item::as_str).map(str::to_string),
        ..Stdio::default()
    })
}

/// The server sections found and every entry in them.
pub fn read(text: &str) -> Result<(Vec<String>, Vec<Server>), FormatError> {
    let doc = parse(text)?;
    let Some(section) = doc.get(SECTION) else {
        return Ok((vec![], vec![]));
    };
    if let Some(list) = section.as_array_of_tables() {
        let servers = list
            .iter()
            .enumerate()
            .map(|(i, t)| Server {
                section: format!("[[{SECTION}]]"),
                name: t
                    .get("name")
                    .and_then(Item::as_str)
                    .map_or_else(|| format!("{SECTION}[{i}]"), str::to_string),
                kind: classify(&Item::Table(t.clone())),
            })
            .collect();
        return Ok((vec![format!("[[{SECTION}]]")], servers));
    }
    let Some(table) = section.as_table_like() else {
        return Err(FormatError::Shape(format!("`{SECTION}` is not a table")));
    };
    let servers = table
        .iter()
        .map(|(name, item)| Server {
            section: SECTION.into(),
            name: name.to_string(),
            kind: classify(item),
        })
        .collect();
    Ok((vec![SECTION.into()], servers))
}

/// Applies `edits` (entry index as [`read`] numbers them, edit) and returns the new text.
pub fn rewrite(text: &str, edits: &[(usize, Edit)]) -> Result<String, FormatError> {
    // toml_edit writes every line break as `\n`. A file that uses `\r\n` throughout gets them
    // back; in a file that mixes both, which break was which could only be guessed, and a
    // guess would break the promise that `unwrap` gives back the very bytes.
    let crlf = text.matches("\r\n").count();
    if crlf > 0 && crlf < text.matches('\n').count() {
        return Err(FormatError::Shape(MIXED_LINE_ENDS.into()));
    }
    let mut doc = parse(text)?;
    let names: Vec<String> = doc
        .get(SECTION)
        .and_then(Item::as_table_like)
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default();
    for (index, edit) in edits {
        let missing = || FormatError::Shape(format!("entry {index} is not a stdio server"));
        if let Some(list) = doc.get_mut(SECTION).and_then(Item::as_array_of_tables_mut) {
            // An element of an array of tables is a table, not an item: it is edited as one
            // and put back in its place.
            let slot = list.get_mut(*index).ok_or_else(missing)?;
            let mut item = Item::Table(std::mem::take(slot));
            let done = edit_entry(&mut item, edit);
            *slot = item.into_table().map_err(|_| missing())?;
            done?;
            continue;
        }
        let name = names.get(*index).ok_or_else(missing)?;
        let entry = doc
            .get_mut(SECTION)
            .and_then(Item::as_table_like_mut)
            .and_then(|t| t.get_mut(name))
            .ok_or_else(missing)?;
        edit_entry(entry, edit)?;
    }
    let mut out = doc.to_string().replace("\r\n", "\n");
    if crlf > 0 {
        out = out.replace('\n', "\r\n");
    }
    // toml_edit ends every line it writes with a newline; a file that had none at its end
    // keeps none, so that `unwrap` gives back the very bytes.
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    // Nor does it write back a byte order mark.
    if text.starts_with('\u{feff}') && !out.starts_with('\u{feff}') {
        out.insert(0, '\u{feff}');
    }
    Ok(out)
}

fn edit_entry(entry: &mut Item, edit: &Edit) -> Result<(), FormatError> {
    let missing = || FormatError::Shape("the entry is not a stdio server".into());
    {
        match edit {
            Edit::Wrap {
                launcher,
                prefix,
                pins,
            } => {
                pin(entry, pins);
                wrap(entry, launcher, prefix).ok_or_else(missing)?;
            }
            Edit::Pin(pins) => pin(entry, pins),
            Edit::Unwrap => unwrap(entry)
                .ok_or_else(|| FormatError::Shape("the entry is not in the wrapped form".into()))?,
        }
    }
    Ok(())
}

fn args_mut(entry: &mut Item) -> Option<&mut Array> {
    entry.as_table_like_mut()?.get_mut("args")?.as_array_mut()
}

fn pin(entry: &mut Item, pins: &[(usize, String)]) {
    let Some(arr) = args_mut(entry) else {
        return;
    };
    for (i, value) in pins {
        if let Some(old) = arr.get_mut(*i) {
            let decor = old.decor().clone();
            *old = Value::from(value.as_str());
            *old.decor_mut() = decor;
        }
    }
}

fn raw(s: &str) -> RawString {
    RawString::from(s)
}

fn element(value: &str, prefix: RawString) -> Value {
    let mut v = Value::from(value);
    v.decor_mut().set_prefix(prefix);
    v.decor_mut().set_suffix(raw(""));
    v
}

fn prefix_of(v: &Value) -> RawString {
    v.decor().prefix().cloned().unwrap_or_else(|| raw(""))
}

fn wrap(entry: &mut Item, launcher: &str, run_prefix: &[String]) -> Option<()> {
    let table = entry.as_table_like_mut()?;
    let command = table.get_mut("command")?.as_value_mut()?;
    let mut original = command.clone();
    let mut launcher_value = Value::from(launcher);
    *launcher_value.decor_mut() = command.decor().clone();
    *command = launcher_value;
    match table.get_mut("args").and_then(Item::as_array_mut) {
        Some(arr) if !arr.is_empty() => {
            let first = prefix_of(arr.get(0)?);
            let sep = match arr.get(1) {
                Some(second) => prefix_of(second),
                None if first.as_str().is_some_and(|s| s.contains('\n')) => first.clone(),
                None => raw(" "),
            };
            let mut items: Vec<Value> = run_prefix
                .iter()
                .enumerate()
                .map(|(i, s)| element(s, if i == 0 { first.clone() } else { sep.clone() }))
                .collect();
            *original.decor_mut() = toml_edit::Decor::new(sep.clone(), raw(""));
            items.push(original);
            arr.get_mut(0)?.decor_mut().set_prefix(sep);
            for (i, v) in items.into_iter().enumerate() {
                arr.insert_formatted(i, v);
            }
        }
        Some(arr) => {
            *original.decor_mut() = toml_edit::Decor::new(raw(" "), raw(""));
            let mut items: Vec<Value> = run_prefix
                .iter()
                .enumerate()
                .map(|(i, s)| element(s, raw(if i == 0 { "" } else { " " })))
                .collect();
            items.push(original);
            for (i, v) in items.into_iter().enumerate() {
                arr.insert_formatted(i, v);
            }
        }
        None => {
            *original.decor_mut() = toml_edit::Decor::new(raw(" "), raw(""));
            let mut arr = Array::new();
            for (i, s) in run_prefix.iter().enumerate() {
                arr.push_formatted(element(s, raw(if i == 0 { "" } else { " " })));
            }
            arr.push_formatted(original);
            insert_after_command(entry, Value::Array(arr));
        }
    }
    Some(())
}

fn keys_after_command<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let keys: Vec<String> = keys.map(str::to_string).collect();
    let after = keys
        .iter()
        .position(|k| k == "command")
        .map_or(keys.len(), |i| i + 1);
    keys[after..].to_vec()
}

/// Inserts `args` right after `command`, keeping the keys that follow with their formatting.
fn insert_after_command(entry: &mut Item, args: Value) {
    match entry {
        Item::Table(t) => {
            let moved: Vec<(Key, Item)> = keys_after_command(t.iter().map(|(k, _)| k))
                .iter()
                .filter_map(|k| t.remove_entry(k))
                .collect();
            t.insert("args", Item::Value(args));
            for (k, v) in moved {
                t.insert_formatted(&k, v);
            }
        }
        Item::Value(Value::InlineTable(t)) => {
            let moved: Vec<(Key, Value)> = keys_after_command(t.iter().map(|(k, _)| k))
                .iter()
                .filter_map(|k| t.remove_entry(k))
                .collect();
            t.insert("args", args);
            for (k, v) in moved {
                t.insert_formatted(&k, v);
            }
        }
        _ => {}
    }
}

fn unwrap(entry: &mut Item) -> Option<()> {
    let table = entry.as_table_like_mut()?;
    let command = table.get("command")?.as_str()?.to_string();
    let list = strings(table.get("args")?.as_array()?)?;
    let stdio = Stdio {
        command: command.clone(),
        args: Some(list),
        ..Stdio::default()
    };
    let w = stdio.wrapped(&command)?;
    let arr = table.get_mut("args")?.as_array_mut()?;
    let mut original = arr.get(w.command_index)?.clone();
    let first = prefix_of(arr.get(0)?);
    // When nothing is left, what followed the last element (a comment, the line break before
    // `]`) belongs to the empty list again, as it did before `wrap`.
    let emptied = w.command_index + 1 == arr.len();
    let after_last = arr
        .get(w.command_index)?
        .decor()
        .suffix()
        .cloned()
        .unwrap_or_else(|| raw(""));
    for _ in 0..=w.command_index {
        arr.remove(0);
    }
    if emptied && after_last.as_str().is_some_and(|s| !s.is_empty()) {
        arr.set_trailing(after_last);
    }
    if let Some(v) = arr.get_mut(0) {
        v.decor_mut().set_prefix(first);
    }
    let command = table.get_mut("command")?.as_value_mut()?;
    *original.decor_mut() = command.decor().clone();
    *command = original;
    if w.args_added {
        table.remove("args");
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::wrap::model::run_prefix;

    fn round_trip(text: &str, expect_wrapped: &str) {
        crate::commands::wrap::round_trip(
            crate::commands::wrap::Format::Toml,
            "python",
            text,
            expect_wrapped,
        );
    }

    #[test]
    fn tables_and_inline_tables() {
        round_trip(
            "# servers\n[mcp_servers.time]\ncommand = 'uvx' # runner\nargs = [\"mcp-server-time\", \"--local-timezone=UTC\"]\n\n[mcp_servers.time.env]\nK = \"v\"\n",
            "# servers\n[mcp_servers.time]\ncommand = \"/bin/mcpcell\" # runner\nargs = [\"run\", \"-p\", \"python\", \"--pass-env\", \"K\", \"--\", 'uvx', \"mcp-server-time\", \"--local-timezone=UTC\"]\n\n[mcp_servers.time.env]\nK = \"v\"\n",
        );
        round_trip(
            "mcp_servers.x = { command = \"srv\", env = { K = \"1\" } }\n",
            "mcp_servers.x = { command = \"/bin/mcpcell\", args = [\"run\", \"--profile\", \"python\", \"--pass-env\", \"K\", \"--\", \"srv\"], env = { K = \"1\" } }\n",
        );
    }

    #[test]
    fn vibe_array_of_tables() {
        let text = "[[mcp_servers]]\nname = \"h\"\ntransport = \"http\"\nurl = \"http://localhost:8000\"\n\n[[mcp_servers]]\nname = \"fetch\" # the fetcher\ntransport = \"stdio\"\ncommand = \"uvx\"\nargs = [\"mcp-server-fetch\"]\n";
        let (_, s) = read(text).unwrap();
        assert_eq!(s[1].name, "fetch");
        assert!(matches!(s[0].kind, Kind::Remote(_)));
        round_trip(
            text,
            "[[mcp_servers]]\nname = \"h\"\ntransport = \"http\"\nurl = \"http://localhost:8000\"\n\n[[mcp_servers]]\nname = \"fetch\" # the fetcher\ntransport = \"stdio\"\ncommand = \"/bin/mcpcell\"\nargs = [\"run\", \"-p\", \"python\", \"--pass-env\", \"K\", \"--\", \"uvx\", \"mcp-server-fetch\"]\n",
        );
    }

    #[test]
    fn multi_line_and_missing_args() {
        round_trip(
            "[mcp_servers.a]\ncommand = \"node\"\nargs = [\n  \"index.js\", # entry\n]\nenv_vars = [\"K\"]\n\n[mcp_servers.b]\ncommand = \"b\"\nstartup_timeout_sec = 10\n",
            "[mcp_servers.a]\ncommand = \"/bin/mcpcell\"\nargs = [\n  \"run\",\n  \"-p\",\n  \"python\",\n  \"--pass-env\",\n  \"K\",\n  \"--\",\n  \"node\",\n  \"index.js\", # entry\n]\nenv_vars = [\"K\"]\n\n[mcp_servers.b]\ncommand = \"/bin/mcpcell\"\nargs = [\"run\", \"--profile\", \"python\", \"--pass-env\", \"K\", \"--\", \"b\"]\nstartup_timeout_sec = 10\n",
        );
    }

    #[test]
    fn pins_keep_their_place() {
        let text =
            "[mcp_servers.t]\ncommand = \"uvx\"\nargs = [\"mcp-server-time\"] # pinned later\n";
        let edit = Edit::Wrap {
            launcher: "/bin/mcpcell".into(),
            prefix: run_prefix("python", &[], false),
            pins: vec![(0, "mcp-server-time==1.0".into())],
        };
        let wrapped = rewrite(text, &[(0, edit)]).unwrap();
        assert_eq!(
            wrapped,
            "[mcp_servers.t]\ncommand = \"/bin/mcpcell\"\nargs = [\"run\", \"-p\", \"python\", \"--\", \"uvx\", \"mcp-server-time==1.0\"] # pinned later\n"
        );
        let repinned = rewrite(
            &wrapped,
            &[(0, Edit::Pin(vec![(5, "mcp-server-time==2.0".into())]))],
        )
        .unwrap();
        assert!(
            repinned.contains("\"uvx\", \"mcp-server-time==2.0\"]"),
            "{repinned}"
        );
        let back = rewrite(&repinned, &[(0, Edit::Unwrap)]).unwrap();
        assert_eq!(
            back,
            "[mcp_servers.t]\ncommand = \"uvx\"\nargs = [\"mcp-server-time==2.0\"] # pinned later\n"
        );
    }

    #[test]
    fn a_comment_in_an_empty_args_list() {
        round_trip(
            "[mcp_servers.t]\ncommand = \"srv\"\nargs = [ # none yet\n]\n",
            "[mcp_servers.t]\ncommand = \"/bin/mcpcell\"\nargs = [\"run\", \"-p\", \"python\", \"--pass-env\", \"K\", \"--\", \"srv\" # none yet\n]\n",
        );
    }

    #[test]
    fn crlf_line_ends() {
        round_trip(
            "[mcp_servers.t]\r\ncommand = \"srv\"\r\nargs = [\r\n  \"a\",\r\n]\r\n\r\n[other]\r\nk = 1\r\n",
            "[mcp_servers.t]\r\ncommand = \"/bin/mcpcell\"\r\nargs = [\r\n  \"run\",\r\n  \"-p\",\r\n  \"python\",\r\n  \"--pass-env\",\r\n  \"K\",\r\n  \"--\",\r\n  \"srv\",\r\n  \"a\",\r\n]\r\n\r\n[other]\r\nk = 1\r\n",
        );
        round_trip(
            "[mcp_servers.t]\r\ncommand = \"srv\"\r\n",
            "[mcp_servers.t]\r\ncommand = \"/bin/mcpcell\"\r\nargs = [\"run\", \"--profile\", \"python\", \"--pass-env\", \"K\", \"--\", \"srv\"]\r\n",
        );
    }

    #[test]
    fn mixed_line_ends_are_refused() {
        let text = "[mcp_servers.t]\r\ncommand = \"srv\"\nargs = [\"run\"]\r\n";
        let edit = Edit::Wrap {
            launcher: "/bin/mcpcell".into(),
            prefix: run_prefix("python", &[], false),
            pins: vec![],
        };
        let e = rewrite(text, &[(0, edit)]).unwrap_err();
        assert!(e.to_string().contains("mixes"), "{e}");
    }

    #[test]
    fn byte_order_mark() {
        round_trip(
            "\u{feff}[mcp_servers.t]\ncommand = \"srv\"\n",
            "\u{feff}[mcp_servers.t]\ncommand = \"/bin/mcpcell\"\nargs = [\"run\", \"--profile\", \"python\", \"--pass-env\", \"K\", \"--\", \"srv\"]\n",
        );
    }

    #[test]
    fn no_newline_at_the_end_of_the_file() {
        round_trip(
            "[mcp_servers.x]\ncommand = \"node\"\nargs = [\"a.js\"]",
            "[mcp_servers.x]\ncommand = \"/bin/mcpcell\"\nargs = [\"run\", \"-p\", \"python\", \"--pass-env\", \"K\", \"--\", \"node\", \"a.js\"]",
        );
        round_trip(
            "[mcp_servers.x]\ncommand = \"srv\" # last",
            "[mcp_servers.x]\ncommand = \"/bin/mcpcell\" # last\nargs = [\"run\", \"--profile\", \"python\", \"--pass-env\", \"K\", \"--\", \"srv\"]",
        );
    }

    #[test]
    fn errors_and_kinds() {
        let e = read("[mcp_servers.a]\ncommand = \"x\"\nargs = [\n").unwrap_err();
        assert!(matches!(e, FormatError::Syntax { line: 3, .. }), "{e:?}");
        let (_, s) = read("[mcp_servers.r]\nurl = \"https://x/mcp\"\n").unwrap();
        assert!(matches!(s[0].kind, Kind::Remote(_)));
        assert!(read("model = \"o3\"\n").unwrap().0.is_empty());
    }
}
