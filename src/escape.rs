//! Escaping for every place mcpcell writes a string it does not control (a path or host the
//! server named, a process name, a server entry of a client config): a terminal or log line,
//! a shell command to paste, a YAML scalar or comment. Each function is total: no input,
//! however hostile, leaves its context.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Characters a terminal, a log reader or a YAML parser may act on rather than show: C0
/// controls, DEL, C1 controls (NEL and the 8-bit CSI/OSC among them), the Unicode line and
/// paragraph separators (line breaks to YAML 1.1), bidirectional overrides and isolates
/// (text that reads differently from how it is stored), and the byte-order mark.
pub fn is_special(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'
                ..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// Characters that show as nothing, or as a blank, so that two different names look alike
/// (`time` and `ti\u{200b}me`) or text hides in plain sight (tag characters): Unicode's
/// format characters (category Cf: soft hyphen, zero-width space and joiners, word joiner,
/// invisible operators, interlinear annotation, tags, ...) and the Hangul fillers. mcpcell's
/// own messages escape them beside [`is_special`]; a server's stream shown on a terminal
/// keeps them (they reorder or act on nothing, and emoji sequences need the joiner).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{0600}'..='\u{0605}'
            | '\u{06dd}'
            | '\u{070f}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08e2}'
            | '\u{115f}'..='\u{1160}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200d}'
            | '\u{2060}'..='\u{2065}'
            | '\u{206a}'..='\u{206f}'
            | '\u{3164}'
            | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// What mcpcell's own messages show escaped: [`is_special`] and [`is_invisible`].
pub fn is_hidden(c: char) -> bool {
    is_special(c) || is_invisible(c)
}

fn push_escaped(out: &mut String, c: char) {
    let n = c as u32;
    let _ = if n < 0x80 {
        write!(out, "\\x{n:02x}")
    } else {
        write!(out, "\\u{{{n:04x}}}")
    };
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    escape_where(s, |c| is_hidden(c) && !keep(c))
}

fn escape_where(s: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escaped(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as one line for a terminal or a log: every special character (newlines included)
/// shown as a visible escape such as `\x1b`, `\x0a` or `\u{202e}`.
pub fn terminal(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// A stream's text for a terminal (what a server writes): line feeds and tabs stay, every
/// other special character is escaped as [`terminal`] does, carriage returns included.
pub fn terminal_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| is_special(c) && c != '\n' && c != '\t')
}

/// Multi-line text for a terminal (a report, a diff): line feeds, tabs and the carriage
/// return of a CRLF line end stay, every other special character is escaped as [`terminal`]
/// does.
pub fn terminal_text(s: &str) -> Cow<'_, str> {
    let kept = |c: char| c == '\n' || c == '\t';
    if !s.chars().any(|c| is_hidden(c) && !kept(c) && c != '\r') && !lone_cr(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let crlf = c == '\r' && chars.peek() == Some(&'\n');
        if is_hidden(c) && !kept(c) && !crlf {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn lone_cr(s: &str) -> bool {
    s.match_indices('\r')
        .any(|(i, _)| !s[i + 1..].starts_with('\n'))
}

/// Bytes that may not be UTF-8 (a path, an argument) as one terminal line: invalid bytes as
/// `\xNN`, the rest as [`terminal`] shows it.
pub fn terminal_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&terminal(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// The longest run of non-blank characters [`clip_words`] shows whole.
pub const WORD_MAX: usize = 200;

/// `s` with every run of non-blank characters longer than `max` characters shortened in
/// its middle: its first and last `max / 2` characters stay, with `…[N characters]…` between.
/// For a message that quotes what a file said (a key, a path): a hostile file's 40 KiB key
/// is then a line a reader can still read, and a legitimate long path keeps the start and
/// the end that tell it apart.
pub fn clip_words(s: &str, max: usize) -> Cow<'_, str> {
    let long = |w: &str| w.chars().nth(max).is_some();
    if !s.split(char::is_whitespace).any(long) {
        return Cow::Borrowed(s);
    }
    let half = max / 2;
    let mut out = String::with_capacity(2 * max + 64);
    let mut rest = s;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if long(word) {
            let n = word.chars().count();
            let head = word.char_indices().nth(half).map_or(word.len(), |(i, _)| i);
            let tail = word
                .char_indices()
                .nth(n - half)
                .map_or(word.len(), |(i, _)| i);
            let _ = write!(
                out,
                "{}…[{} characters]…{}",
                &word[..head],
                n - 2 * half,
                &word[tail..]
            );
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    Cow::Owned(out)
}

/// A path as one terminal line.
pub fn path(p: &Path) -> String {
    terminal_bytes(p.as_os_str().as_bytes())
}

/// Bytes a shell never reads as syntax, in any position of a word.
fn shell_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b)
}

/// One argument as a POSIX shell (and bash, zsh) must be given it to receive exactly these
/// bytes: bare when nothing in it is syntax, in single quotes when it holds only printable
/// text, and as `$'…'` with `\xNN` escapes when it holds a control character or a byte
/// that is not UTF-8, so that the command can also be shown on a terminal as it is.
pub fn shell_word(arg: &OsStr) -> String {
    let b = arg.as_bytes();
    if !b.is_empty() && b.iter().all(|&c| shell_plain(c)) {
        return String::from_utf8_lossy(b).into_owned();
    }
    let printable = std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(is_special));
    if printable {
        // Inside single quotes every byte but `'` is literal.
        return format!("'{}'", String::from_utf8_lossy(b).replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str(r"\\"),
                '\'' => out.push_str(r"\'"),
                c if is_special(c) || !c.is_ascii() => {
                    // Every byte of it as \xNN: `$'…'` has no portable \u.
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{byte:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('\'');
    out
}

/// A command's last operand as [`shell_word`], after `-- ` when it starts with `-`, which
/// the command would otherwise read as an option (a host name the server chose).
pub fn shell_operand(arg: &OsStr) -> String {
    match arg.as_bytes().first() {
        Some(b'-') => format!("-- {}", shell_word(arg)),
        _ => shell_word(arg),
    }
}

/// `argv` as a shell would need it typed: [`shell_word`] of each, separated by spaces.
pub fn shell_words<S: AsRef<OsStr>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_word(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words YAML 1.1 or 1.2 reads as something other than a string when unquoted.
const YAML_RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf",
];

/// `s` as a YAML scalar that reads back as exactly the string `s` in any position (block or
/// flow): plain when it is a path or word made of safe characters, otherwise double-quoted
/// with every special character, `"` and `\` escaped.
pub fn yaml_scalar(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/_.+-".contains(c);
    let first_ok = s.starts_with('/') || s.starts_with(|c: char| c.is_ascii_alphabetic());
    // `host:port` stays readable: a colon is syntax only before a space or at the end.
    let colons_ok = !s.ends_with(':') && !s.contains(": ");
    let plain = first_ok
        && s.chars().all(|c| safe(c) || c == ':')
        && colons_ok
        && !YAML_RESERVED.contains(&s.to_ascii_lowercase().as_str())
        && !s.ends_with('.');
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_special(c) || c == '\u{fffe}' || c == '\u{ffff}' => {
                let n = c as u32;
                let _ = if n < 0x100 {
                    write!(out, "\\x{n:02x}")
                } else {
                    write!(out, "\\u{n:04x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// [`yaml_scalar`] for a block-context position (a `- item` line, a `key: value` line): a
/// path that starts with a variable (`${HOME}/notes`) is written plain too, as profiles are
/// written by hand. Braces are flow indicators only inside `[...]` and `{...}`.
pub fn yaml_block_scalar(s: &str) -> String {
    if let Some(rest) = s.strip_prefix("${") {
        if let Some((name, after)) = rest.split_once('}') {
            let var = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            let tail_plain = after.is_empty() || yaml_scalar(after) == after;
            if var && tail_plain && (after.is_empty() || after.starts_with('/')) {
                return s.to_string();
            }
        }
    }
    yaml_scalar(s)
}

/// Text for a YAML comment: one line whatever it holds, as [`terminal`] shows it.
pub fn yaml_comment(s: &str) -> Cow<'_, str> {
    terminal(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::process::Command;

    /// Every character class that matters, and some of each byte value.
    fn adversarial() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [
            "",
            "plain",
            "/x'; touch /tmp/pwned; '",
            "a\nb",
            "a\rb",
            "\x1b]52;c;aGk=\x07",
            "\x1b[2K\x1b[1A",
            "$(id)",
            "`id`",
            "${HOME}",
            "\"quoted\"",
            "back\\slash",
            "'",
            "''",
            "a: b",
            "# c",
            "- x",
            "[a, b]",
            "{a: b}",
            "*anchor",
            "&a",
            "!tag",
            "|",
            ">",
            "%x",
            "@x",
            "?x",
            "true",
            "null",
            "~",
            "1.5",
            "0x10",
            ".inf",
            "\u{85}nel",
            "ls\u{2028}ps\u{2029}",
            "\u{202e}txt.exe",
            "\u{feff}bom",
            "tab\there",
            "del\x7f",
            "\u{9b}31m",
            "naïve ünïcode",
            "emoji 🦀",
            " lead",
            "trail ",
            "-",
            "--x",
            "a\\\n",
            "host.test:8080",
            "a:b:c",
            "a:",
            "http://x",
            "::1",
            "a:,b",
            "a:]",
            "a:#",
            "a:{",
            "${HOME}",
            "${HOME}/notes/a.txt",
            "${STATE_DIR}/x: y",
            "${HOME}/a #b",
            "${HOME}x",
            "${}/x",
            "${HOME}/x}",
            "${HOME}/${CWD}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        v.push(b"\xff\xfe invalid".to_vec());
        v.push((0u8..=255).collect());
        v.push((1u8..=127).collect());
        v
    }

    #[test]
    fn long_words_are_clipped_in_their_middle_and_short_ones_kept() {
        assert!(matches!(clip_words("a b  c", 4), Cow::Borrowed("a b  c")));
        let key = format!("head{}tail", "k".repeat(40_000));
        let s = format!("P:2:1: {key}: unknown field `{key}`, expected `read`");
        let c = clip_words(&s, WORD_MAX);
        assert!(c.len() < 600, "{}", c.len());
        assert!(c.starts_with("P:2:1: headkkk"), "{c}");
        assert!(c.ends_with("ktail`, expected `read`"), "{c}");
        assert_eq!(c.matches(" characters]…").count(), 2, "{c}");
        // Exactly `max` characters stay whole; one more is clipped, on character boundaries.
        assert_eq!(clip_words(&"é".repeat(6), 6), "é".repeat(6));
        assert_eq!(clip_words(&"é".repeat(7), 6), "ééé…[1 characters]…ééé");
    }

    #[test]
    fn terminal_output_holds_no_special_character() {
        for s in adversarial() {
            let t = terminal_bytes(&s);
            assert!(!t.chars().any(is_special), "{t:?}");
            assert!(!t.contains('\n'));
            if let Ok(text) = std::str::from_utf8(&s) {
                assert_eq!(terminal(text), t);
                let multi = terminal_text(text);
                assert!(
                    !multi
                        .replace("\r\n", "\n")
                        .chars()
                        .any(|c| is_special(c) && c != '\n' && c != '\t'),
                    "{multi:?}"
                );
            }
        }
        assert_eq!(terminal("a\x1b]52;c;x\x07"), "a\\x1b]52;c;x\\x07");
        assert_eq!(terminal("x\u{202e}y"), "x\\u{202e}y");
        // Look-alike and hidden text in mcpcell's own messages; a server's stream keeps it.
        assert_eq!(terminal("ti\u{200b}me"), "ti\\u{200b}me");
        assert_eq!(terminal("a\u{e0041}\u{061c}"), "a\\u{e0041}\\u{061c}");
        assert_eq!(
            terminal_lines("\u{1f468}\u{200d}\u{1f467}\n"),
            "\u{1f468}\u{200d}\u{1f467}\n"
        );
        assert_eq!(terminal_lines("\u{061c}"), "\\u{061c}");
        assert_eq!(terminal_text("a\r\nb\rc\n"), "a\r\nb\\x0dc\n");
        assert_eq!(terminal_bytes(b"a\xffb"), "a\\xffb");
        assert!(matches!(terminal("/usr/bin/node"), Cow::Borrowed(_)));
    }

    #[test]
    fn shell_words_survive_a_real_shell() {
        // `sh -c 'printf "%s\0" WORDS'` must print back exactly the bytes given.
        let args: Vec<OsString> = adversarial()
            .into_iter()
            .map(|b| b.into_iter().filter(|&c| c != 0).collect::<Vec<u8>>())
            .map(OsString::from_vec)
            .collect();
        let words = shell_words(&args);
        assert!(!words.chars().any(is_special), "{words}");
        for shell in ["bash", "sh"] {
            if shell == "sh" && words.contains("$'") {
                // dash, Debian's sh, learned `$'…'` only in 0.5.13; check what it does with
                // the quoted forms it knows.
                let simple: Vec<&OsString> = args
                    .iter()
                    .filter(|a| !shell_word(a).starts_with("$'"))
                    .collect();
                let w = shell_words(&simple);
                let out = Command::new(shell)
                    .arg("-c")
                    .arg(format!("printf '%s\\0' {w}"))
                    .output()
                    .unwrap();
                let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
                for (a, g) in simple.iter().zip(&got) {
                    assert_eq!(a.as_bytes(), *g, "{shell}: {a:?}");
                }
                continue;
            }
            let out = Command::new(shell)
                .arg("-c")
                .arg(format!("printf '%s\\0' {words}"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{shell}: {words}");
            let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
            assert_eq!(got.len(), args.len() + 1, "{shell}");
            for (a, g) in args.iter().zip(&got) {
                assert_eq!(a.as_bytes(), *g, "{shell}: {a:?}");
            }
        }
    }

    #[test]
    fn yaml_scalars_read_back_as_the_same_string() {
        for s in adversarial() {
            let s = String::from_utf8_lossy(&s).replace('\0', "\u{1}");
            let y = yaml_scalar(&s);
            assert!(!y.contains('\n') && !y.contains('\r'), "{y:?}");
            for doc in [
                format!("k: {y}\n"),
                format!("k: [{y}]\n"),
                format!("k:\n  - {y}\n"),
                format!("k: {{a: {y}}}\n"),
            ] {
                let v: serde_yaml::Value =
                    serde_yaml::from_str(&doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
                let got = match &v["k"] {
                    serde_yaml::Value::String(x) => x.clone(),
                    serde_yaml::Value::Sequence(q) => q[0].as_str().unwrap().to_string(),
                    serde_yaml::Value::Mapping(m) => m["a"].as_str().unwrap().to_string(),
                    other => panic!("{doc:?} read as {other:?}"),
                };
                assert_eq!(got, s, "{doc:?}");
            }
            let b = yaml_block_scalar(&s);
            for doc in [format!("k: {b}\n"), format!("k:\n  - {b}\n")] {
                let v: serde_yaml::Value =
                    serde_yaml::from_str(&doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
                let got = match &v["k"] {
                    serde_yaml::Value::String(x) => x.clone(),
                    serde_yaml::Value::Sequence(q) => q[0].as_str().unwrap().to_string(),
                    other => panic!("{doc:?} read as {other:?}"),
                };
                assert_eq!(got, s, "{doc:?}");
            }
            let c = format!("# {}\nk: 1\n", yaml_comment(&s));
            let v: serde_yaml::Value = serde_yaml::from_str(&c).unwrap();
            assert_eq!(
                v,
                serde_yaml::from_str::<serde_yaml::Value>("k: 1").unwrap(),
                "{c:?}"
            );
        }
        assert_eq!(yaml_scalar("/srv/plain"), "/srv/plain");
        assert_eq!(yaml_scalar("node"), "node");
        assert_eq!(yaml_scalar("api.test:8443"), "api.test:8443");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
        assert_eq!(yaml_block_scalar("${HOME}/notes"), "${HOME}/notes");
        assert_eq!(yaml_block_scalar("${STATE_DIR}"), "${STATE_DIR}");
        assert_ne!(yaml_block_scalar("${HOME}/a: b"), "${HOME}/a: b");
        assert_eq!(yaml_scalar("a\nb"), "\"a\\x0ab\"");
    }
}
