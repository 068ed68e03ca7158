//! Logs go to stderr or `--log-file`, never stdout: stdout belongs to the MCP stream.

use std::io;
use std::sync::Mutex;

use clap::ValueEnum;
use tracing::level_filters::LevelFilter;

use crate::outfile::{OutFile, OutFileError};

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

/// Installs the global subscriber. Fails only when the log file cannot be opened: it is
/// opened without following links ([`OutFile::append`]), so a link planted in its place
/// cannot redirect mcpcell's lines into another file.
pub fn init(
    level: LogLevel,
    format: LogFormat,
    file: Option<&OutFile>,
) -> Result<(), OutFileError> {
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::from(level))
        .with_target(false);
    let result = match (file, format) {
        (Some(path), fmt) => {
            let f = path.append()?;
            let b = builder.with_ansi(false).with_writer(Mutex::new(f));
            match fmt {
                LogFormat::Json => b.json().flatten_event(true).try_init(),
                LogFormat::Text => b.try_init(),
            }
        }
        (None, LogFormat::Json) => builder
            .with_writer(io::stderr)
            .json()
            .flatten_event(true)
            .try_init(),
        (None, LogFormat::Text) => builder
            .with_writer(io::stderr)
            .without_time()
            .with_ansi(false)
            .try_init(),
    };
    // A second initialisation (tests) is harmless.
    let _ = result;
    Ok(())
}
