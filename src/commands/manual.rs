//! `completions` and `man`: generated from the clap definitions, so they never drift from
//! the command line they describe.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::Error;
use crate::cli::Cli;

#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("failed to render the manual page of `{0}`")]
    Render(String, #[source] std::io::Error),
    #[error("failed to write {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Output(#[from] super::OutputError),
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<i32, Error> {
    let mut cmd = whole_tree();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mcpcell", &mut out);
    super::print(&out)?;
    Ok(0)
}

/// The command tree with every command's arguments defined. The commands' definitions are
/// deferred (`cli::Command`), and the `help` command clap adds copies the tree as it is when
/// the top is built, before the commands' own subcommands exist: so the commands of a tree
/// built once are put in a new one, whose `help` then offers `help export seccomp` too.
fn whole_tree() -> clap::Command {
    let mut built = Cli::command();
    built.build();
    Cli::command().mut_subcommands(|sub| {
        built
            .find_subcommand(sub.get_name())
            .cloned()
            .unwrap_or(sub)
    })
}

/// Prints `mcpcell.1`, or with `dir` writes it and a page for each command there.
pub fn man(dir: Option<&Path>) -> Result<i32, Error> {
    pages(dir)?;
    Ok(0)
}

fn pages(dir: Option<&Path>) -> Result<(), ManualError> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let Some(dir) = dir else {
        let text = render(top)?;
        super::print(&text)?;
        return Ok(());
    };
    let mut pages = vec![("mcpcell.1".to_string(), render(top.clone())?)];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        // `mcpcell-run.1`: the name `man mcpcell-run` finds, as git does for its commands.
        let name = format!("mcpcell-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(&name)
            .bin_name(format!("mcpcell {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(page)?));
    }
    // The user's man directory may not exist yet (`~/.local/share/man/man1` on a new
    // account): made, as `install -D` would.
    std::fs::create_dir_all(dir).map_err(|e| ManualError::Write(dir.to_path_buf(), e))?;
    for (file, text) in pages {
        let path = dir.join(file);
        write_page(&path, &text).map_err(|e| ManualError::Write(path, e))?;
    }
    Ok(())
}

/// The sections every page has (clap_mangen's), then, on the main page, what `--help`
/// says after the options as sections of their own instead of clap_mangen's "EXTRA".
fn render(cmd: clap::Command) -> Result<Vec<u8>, ManualError> {
    let name = cmd.get_name().to_string();
    let top = cmd.get_subcommands().next().is_some();
    let man = clap_mangen::Man::new(cmd).manual("mcpcell manual");
    let mut out = Vec::new();
    let r = (|| {
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        man.render_options_section(&mut out)?;
        if top {
            man.render_subcommands_section(&mut out)?;
            out.extend_from_slice(MAIN_PAGE_SECTIONS.as_bytes());
        }
        man.render_version_section(&mut out)
    })();
    r.map_err(|e| ManualError::Render(name, e))?;
    Ok(out)
}

/// Plain roff (no line starts with `.` or `'` except the requests, no backslash).
const MAIN_PAGE_SECTIONS: &str = r#".SH FILES
.TP
$XDG_CONFIG_HOME/mcpcell/profiles/NAME.yaml (default ~/.config/mcpcell/profiles)
The user's profiles, looked up first.
.TP
/etc/mcpcell/profiles/NAME.yaml
The system's profiles, looked up next; then the built-in set (mcpcell profiles lists them).
.TP
$XDG_STATE_HOME/mcpcell/ (default ~/.local/state/mcpcell)
Each server's private state directory.
.SH "WORKING DIRECTORY"
The server starts in mcpcell's working directory but may read it only where a grant covers
it; mcpcell never grants it by itself. When no grant covers it (and it is not /), mcpcell
says so on stderr with the --allow-read option that grants it. A working directory in the
host's /tmp is not reachable: the server starts in / instead.
.SH "EXIT STATUS"
run: the server's own status; 128+N when it died of signal N; 125 when mcpcell itself failed
(bad profile, a restriction that cannot be applied); 126 when the command cannot be
executed; 127 when it is not found.
.PP
Other commands: 0 success; 1 a negative answer (check found errors, explain found a denial);
125 usage or internal errors.
.SH "SEE ALSO"
mcpcell-run(1), mcpcell-check(1), mcpcell-explain(1), mcpcell-doctor(1)
"#;

/// Writes a page without following a symbolic link at its name.
fn write_page(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(text)
}
