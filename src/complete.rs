//! Dynamic shell completion: profile names and saved channels come from the config file.
//!
//! The completion scripts (`odoo-bus completions SHELL`) call the binary back with `COMPLETE=<shell>`
//! set; clap_complete's engine then asks these functions for candidates. They must never fail
//! loudly: a broken config simply completes nothing.
//!
//! Why dynamic scripts rather than static ones (`clap_complete::generate`): a static script knows
//! only what the CLI definition knows, and profile names and saved channels live in the user's
//! config file. The dynamic engine serves all five shells the same way, options and subcommands
//! included, so there is one completion path to keep right.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use clap::ValueEnum;
use odoo_bus_core::config::{Config, ConfigStore};

/// The command the scripts complete, and the one the committed scripts call back (found on PATH).
pub const BIN: &str = "odoo-bus";

/// The environment variable that turns a run of the binary into a completion request. It is
/// clap_complete's default, which is what `CompleteEnv` in main.rs listens to.
const COMPLETE_VAR: &str = "COMPLETE";

/// The shells `odoo-bus completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

/// The script that registers completion of `odoo-bus` in `shell`. On TAB the shell runs
/// `completer` (the odoo-bus binary: a name looked up on PATH, or an absolute path) with
/// `COMPLETE=<shell>`, and main.rs answers with the candidates before parsing anything.
pub fn registration_script(shell: Shell, completer: &str) -> String {
    let adapter: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Powershell => &Powershell,
        Shell::Elvish => &Elvish,
    };
    let mut script = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = adapter.write_registration(COMPLETE_VAR, BIN, BIN, completer, &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    match shell {
        Shell::Bash => script.replacen(BASH_AFTER_CANDIDATES, BASH_QUOTE_CANDIDATES, 1),
        Shell::Zsh => script.replacen(ZSH_REGISTRATION, ZSH_REGISTRATION_OR_AUTOLOAD, 1),
        Shell::Fish | Shell::Powershell | Shell::Elvish => script,
    }
}

// Two fixes to clap_complete's scripts, both seen in a real shell (the unit tests below fail when
// a new clap_complete changes the lines they patch):
//
// bash inserts candidates as they are, so `mail.guest_3|tok` became a pipe and a path with a
// space two words. `compopt -o filenames` makes readline quote them as it quotes file names
// (`mail.guest_3\|tok`, or inside the quote the user opened), and leaves a leading `~` alone.
const BASH_AFTER_CANDIDATES: &str = "        unset COMPREPLY\n    elif ";
const BASH_QUOTE_CANDIDATES: &str = "        unset COMPREPLY\n        return\n    fi
    # odoo-bus: quote candidates like file names (`mail.guest_3|tok`, paths with spaces).
    compopt -o filenames 2> /dev/null
    if ";
// zsh runs a `_odoo-bus` file found on $fpath as the completion function itself; clap's script
// only registers its function there, so the first TAB of every shell completed nothing.
const ZSH_REGISTRATION: &str = "\ncompdef _clap_dynamic_completer_odoo_bus odoo-bus";
const ZSH_REGISTRATION_OR_AUTOLOAD: &str = "
compdef _clap_dynamic_completer_odoo_bus odoo-bus
# odoo-bus: when autoloaded from $fpath as `_odoo-bus`, also complete this first TAB.
if [[ ${funcstack[1]} == _odoo-bus ]]; then
    _clap_dynamic_completer_odoo_bus \"$@\"
fi";

/// The name of each shell's committed script (completions/): names the shells load lazily from
/// their completion directories (bash-completion 2.11 accepts `odoo-bus.bash` as well as `odoo-bus`).
pub fn script_file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "odoo-bus.bash",
        Shell::Zsh => "_odoo-bus",
        Shell::Fish => "odoo-bus.fish",
        Shell::Powershell => "_odoo-bus.ps1",
        Shell::Elvish => "odoo-bus.elv",
    }
}

/// The words of the command line being completed: clap_complete runs us as
/// `odoo-bus -- odoo-bus WORD…`, so they follow the first `--`.
fn words_being_completed() -> Vec<OsString> {
    std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect()
}

/// The value of `--long VALUE`, `--long=VALUE`, `-s VALUE` or `-sVALUE` among `words` (the last
/// one wins; nothing after a bare `--` counts). Completion follows the `-p`/`--config` typed on
/// the line, as the command itself will when it runs.
fn option_value(words: &[OsString], long: &str, short: Option<char>) -> Option<String> {
    let long_eq = format!("{long}=");
    let short = short.map(|c| format!("-{c}"));
    let mut found = None;
    let mut words = words.iter().map(|w| w.to_string_lossy());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        if word == long || Some(word.as_ref()) == short.as_deref() {
            found = words.next().map(|v| v.into_owned());
        } else if let Some(value) = word.strip_prefix(&long_eq) {
            found = Some(value.to_owned());
        } else if let Some(value) = short.as_deref().and_then(|s| word.strip_prefix(s)) {
            found = Some(value.strip_prefix('=').unwrap_or(value).to_owned());
        }
    }
    found.filter(|v| !v.is_empty())
}

fn load_config() -> Option<Config> {
    let explicit = option_value(&words_being_completed(), "--config", None)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("ODOO_BUS_CONFIG").map(PathBuf::from));
    ConfigStore::locate(explicit.as_deref()).ok()?.load().ok()
}

fn matching<'a>(
    current: &OsStr,
    names: impl Iterator<Item = &'a String>,
) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    names
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(|n| CompletionCandidate::new(n.as_str()))
        .collect()
}

fn profile_names(current: &OsStr) -> Vec<CompletionCandidate> {
    load_config()
        .map(|c| matching(current, c.profiles.keys()))
        .unwrap_or_default()
}

fn channel_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let profile = option_value(&words_being_completed(), "--profile", Some('p'))
        .or_else(|| std::env::var("ODOO_BUS_PROFILE").ok())
        .unwrap_or_else(|| "default".into());
    load_config()
        .and_then(|c| {
            c.profiles
                .get(&profile)
                .map(|p| matching(current, p.channels.iter()))
        })
        .unwrap_or_default()
}

/// Completer for `--profile`.
pub fn profiles() -> ArgValueCompleter {
    ArgValueCompleter::new(profile_names)
}

/// Completer for `subscribe --remove`.
pub fn saved_channels() -> ArgValueCompleter {
    ArgValueCompleter::new(channel_names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn profile_typed_on_the_line_is_found_in_every_spelling() {
        for line in [
            "odoo-bus -p staging subscribe --remove ",
            "odoo-bus -pstaging subscribe --remove ",
            "odoo-bus -p=staging subscribe --remove ",
            "odoo-bus --profile staging subscribe --remove ",
            "odoo-bus subscribe --profile=staging --remove ",
            "odoo-bus -p prod subscribe -p staging --remove ",
        ] {
            assert_eq!(
                option_value(&words(line), "--profile", Some('p')).as_deref(),
                Some("staging"),
                "{line}"
            );
        }
    }

    #[test]
    fn absent_empty_or_escaped_options_are_not_found() {
        for line in [
            "odoo-bus subscribe --remove ",
            "odoo-bus --profile",
            "odoo-bus --profile= subscribe",
            "odoo-bus send -- -p staging",
            "odoo-bus --profiles x",
        ] {
            assert_eq!(
                option_value(&words(line), "--profile", Some('p')),
                None,
                "{line}"
            );
        }
    }

    #[test]
    fn options_without_a_short_form() {
        let line = words("odoo-bus --config /tmp/c.toml -p x subscribe --remove ");
        assert_eq!(
            option_value(&line, "--config", None).as_deref(),
            Some("/tmp/c.toml")
        );
        let line = words("odoo-bus --config=/tmp/d.toml tail");
        assert_eq!(
            option_value(&line, "--config", None).as_deref(),
            Some("/tmp/d.toml")
        );
    }

    #[test]
    fn every_shell_gets_a_script_calling_the_given_binary() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Powershell,
            Shell::Elvish,
        ] {
            let script = registration_script(shell, "/opt/odoo bus/odoo-bus");
            assert!(script.contains("COMPLETE"), "{shell:?}: {script}");
            assert!(script.contains("odoo bus/odoo-bus"), "{shell:?}: {script}");
        }
    }

    #[test]
    fn bash_script_quotes_candidates() {
        let script = registration_script(Shell::Bash, BIN);
        assert!(script.contains(BASH_QUOTE_CANDIDATES), "{script}");
        assert!(!script.contains(BASH_AFTER_CANDIDATES), "{script}");
    }

    #[test]
    fn zsh_script_completes_when_autoloaded() {
        let script = registration_script(Shell::Zsh, BIN);
        assert!(script.starts_with("#compdef odoo-bus\n"), "{script}");
        assert!(script.contains(ZSH_REGISTRATION_OR_AUTOLOAD), "{script}");
        assert_eq!(
            script
                .matches("compdef _clap_dynamic_completer_odoo_bus")
                .count(),
            1
        );
    }
}
