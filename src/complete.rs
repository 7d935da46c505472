//! Dynamic shell completion: profile names and saved channels come from the config file.
//!
//! The completion scripts (`odoo-bus completions SHELL`) call the binary back with `COMPLETE=<shell>`
//! set; clap_complete's engine then asks these functions for candidates. They must never fail
//! loudly: a broken config simply completes nothing.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

use crate::config::{Config, ConfigStore};

fn load_config() -> Option<Config> {
    let explicit = std::env::var_os("ODOO_BUS_CONFIG").map(PathBuf::from);
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
    let profile = std::env::var("ODOO_BUS_PROFILE").unwrap_or_else(|_| "default".into());
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
