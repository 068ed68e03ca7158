//! Logs go to stderr or `--log-file`, never stdout: stdout belongs to the MCP stream.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use crate::escape;
use crate::outfile::{OutFile, OutFileError};

use clap::ValueEnum;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Event, Metadata, span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogLevel {
    Error,
    #[default]
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per event, for log shippers.
    Json,
}

impl From<LogLevel> for LevelFilter {
    fn from(l: LogLevel) -> LevelFilter {
        match l {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// A log writer that lets no control character through: tracing's text format escapes ESC,
/// BEL, BS, FF, DEL and C1 in messages but passes CR, LF, VT and the other C0 controls, so a
/// host name or path the server chose could forge or rewrite log lines. Every special
/// character ([`escape::is_special`]) but the line feed that ends an event is escaped: as
/// `\x0d`-style text in the text format, as a `\u000d` escape (valid inside the string it
/// can only occur in) in JSON. The formatter hands each event over in one write.
struct Escaping<W> {
    inner: W,
    json: bool,
}

impl<W: io::Write> io::Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (text.as_ref(), ""),
        };
        let escaped = if self.json {
            let mut out = String::with_capacity(body.len());
            for c in body.chars() {
                if escape::is_hidden(c) {
                    // JSON escapes UTF-16 units: a pair for a character past the BMP.
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            escape::terminal(body).into_owned()
        };
        self.inner.write_all(escaped.as_bytes())?;
        self.inner.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Installs the global subscriber. Fails only when the log file cannot be opened: it is
/// opened without following links ([`OutFile::append`]), so a link planted in its place
/// cannot redirect mcpcell's lines into another file.
///
/// The formatting subscriber itself is built at the first event at `level` or above
/// ([`Lazy`]): most runs log nothing at the default level, and building it allocates its span
/// registry (32 KiB, the largest block a launch held) and runs its set-up code, for nothing.
pub fn init(
    level: LogLevel,
    format: LogFormat,
    file: Option<&OutFile>,
) -> Result<(), OutFileError> {
    let level = LevelFilter::from(level);
    let file = match file {
        Some(path) => Some(Arc::new(Mutex::new(path.append()?))),
        None => None,
    };
    let lazy = Lazy {
        level,
        inner: OnceLock::new(),
        make: Box::new(move || formatter(level, format, file.clone())),
    };
    // A second initialisation (tests) is harmless.
    let _ = tracing::subscriber::set_global_default(lazy);
    Ok(())
}

type Formatter = Box<dyn Subscriber + Send + Sync>;

/// tracing's formatting subscriber as mcpcell configures it.
fn formatter(
    level: LevelFilter,
    format: LogFormat,
    file: Option<Arc<Mutex<std::fs::File>>>,
) -> Formatter {
    let json = format == LogFormat::Json;
    // A failed write is not said on stderr either: tracing's own message there would be an
    // `eprintln!`, which aborts mcpcell when stderr is a pipe nobody reads.
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .log_internal_errors(false);
    match (file, format) {
        (Some(f), fmt) => {
            let writer = move || Escaping {
                inner: LockedFile(Arc::clone(&f)),
                json,
            };
            let b = builder.with_ansi(false).with_writer(writer);
            match fmt {
                LogFormat::Json => Box::new(b.json().flatten_event(true).finish()),
                LogFormat::Text => Box::new(b.finish()),
            }
        }
        (None, LogFormat::Json) => Box::new(
            builder
                .with_writer(move || Escaping {
                    inner: io::stderr(),
                    json,
                })
                .json()
                .flatten_event(true)
                .finish(),
        ),
        (None, LogFormat::Text) => Box::new(
            builder
                .with_writer(move || Escaping {
                    inner: io::stderr(),
                    json,
                })
                .without_time()
                .with_ansi(false)
                .finish(),
        ),
    }
}

/// A subscriber that decides by level alone, and builds the one that writes (`make`) only
/// when something is to be written. Every other call is passed on to it.
struct Lazy {
    level: LevelFilter,
    inner: OnceLock<Formatter>,
    make: Box<dyn Fn() -> Formatter + Send + Sync>,
}

impl Lazy {
    fn get(&self) -> &Formatter {
        self.inner.get_or_init(|| (self.make)())
    }

    fn wanted(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.level
    }
}

impl Subscriber for Lazy {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.wanted(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.get().new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.get().record(span, values)
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.get().record_follows_from(span, follows)
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.get().event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        self.get().event(event)
    }

    fn enter(&self, span: &span::Id) {
        self.get().enter(span)
    }

    fn exit(&self, span: &span::Id) {
        self.get().exit(span)
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.get().clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.get().try_close(id)
    }
}

/// The log file, locked for one event's write.
struct LockedFile(Arc<Mutex<std::fs::File>>);

impl io::Write for LockedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// The writing subscriber is built at the first event that is written, once; events
    /// below the level build nothing.
    #[test]
    fn the_formatter_is_built_at_the_first_event_written() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let lazy = Lazy {
            level: LevelFilter::WARN,
            inner: OnceLock::new(),
            make: Box::new(|| {
                MADE.fetch_add(1, Ordering::SeqCst);
                Box::new(tracing_subscriber::fmt().with_writer(io::sink).finish())
            }),
        };
        tracing::subscriber::with_default(lazy, || {
            tracing::info!("below the level");
            tracing::debug!("below the level");
            assert_eq!(MADE.load(Ordering::SeqCst), 0);
            assert!(!tracing::enabled!(tracing::Level::INFO));
            assert!(tracing::enabled!(tracing::Level::WARN));
            tracing::warn!("written");
            tracing::error!("written");
            assert_eq!(MADE.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn log_lines_carry_no_control_characters() {
        let hostile = "evil.test\r\nmcpcell: proxy: connected to bank.example:443\x1b]52;c;aGk=\x07\x0b\u{2028}";
        let mut text = Escaping {
            inner: Vec::new(),
            json: false,
        };
        text.write_all(format!("WARN proxy: refused {hostile}:443\n").as_bytes())
            .unwrap();
        let out = String::from_utf8(text.inner).unwrap();
        assert_eq!(out.matches('\n').count(), 1, "{out:?}");
        assert!(out.ends_with('\n'));
        assert!(!out.trim_end().chars().any(escape::is_special), "{out:?}");
        assert!(out.contains("evil.test\\x0d\\x0a"), "{out:?}");

        // JSON stays JSON, with the same string inside.
        let line = serde_json::json!({ "host": hostile }).to_string() + "\n";
        let mut json = Escaping {
            inner: Vec::new(),
            json: true,
        };
        json.write_all(line.as_bytes()).unwrap();
        let out = String::from_utf8(json.inner).unwrap();
        assert!(!out.trim_end().chars().any(escape::is_special), "{out:?}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["host"], hostile);
    }
}
