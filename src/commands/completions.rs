//! `odoo-bus completions SHELL`: print the script that registers dynamic completion.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Context;
use crate::cli::CompletionsArgs;
use crate::complete::{self, BIN};
use odoo_bus_core::error::{Error, Result};

pub fn run(_ctx: &Context, args: CompletionsArgs) -> Result<i32> {
    let script = complete::registration_script(args.shell, &completer());
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(script.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(0),
        // `odoo-bus completions bash | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::other(format!(
            "cannot write the completion script to stdout: {e}"
        ))),
    }
}

/// How the script should call this binary back: the name it was run by when that was a bare
/// name (found on PATH, which is what the committed scripts assume), else its absolute path, so
/// a binary that is not on PATH (`./target/release/odoo-bus completions bash`) still completes.
fn completer() -> String {
    let cwd = std::env::current_dir().ok();
    std::env::args_os()
        .next()
        .and_then(|argv0| completer_for(Path::new(&argv0), cwd.as_deref()))
        .unwrap_or_else(|| BIN.to_owned())
}

fn completer_for(argv0: &Path, cwd: Option<&Path>) -> Option<String> {
    let path: PathBuf = match cwd {
        Some(cwd) if argv0.components().count() > 1 => cwd.join(argv0),
        _ => argv0.to_path_buf(),
    };
    // A path that is not UTF-8 cannot be written into a script faithfully: fall back to PATH.
    path.to_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_stay_bare_and_relative_paths_become_absolute() {
        let cwd = Path::new("/home/me/src/odoo-bus");
        assert_eq!(
            completer_for(Path::new("odoo-bus"), Some(cwd)).as_deref(),
            Some("odoo-bus")
        );
        assert_eq!(
            completer_for(Path::new("target/release/odoo-bus"), Some(cwd)).as_deref(),
            Some("/home/me/src/odoo-bus/target/release/odoo-bus")
        );
        assert_eq!(
            completer_for(Path::new("/usr/local/bin/odoo-bus"), Some(cwd)).as_deref(),
            Some("/usr/local/bin/odoo-bus")
        );
    }

    #[test]
    fn a_path_that_is_not_utf8_is_not_written_into_the_script() {
        use std::os::unix::ffi::OsStrExt;
        let argv0 = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff/odoo-bus"));
        assert_eq!(completer_for(argv0, None), None);
    }
}
