//! What `odoo-bus --version` says: the version, the commit the build came from, and the Odoo
//! versions it speaks to, so that a bug report names its build.
//!
//! Owns only that text. The commit is stamped by build.rs (empty when built without git, e.g.
//! from an sdist); `-V` stays clap's short `odoo-bus 0.1.0`, and the man pages use the short
//! version too, so the committed pages do not change with every commit (src/manpage.rs).

use std::sync::LazyLock;

/// The Odoo series this build speaks to (the emulator and the live tests cover each).
pub const ODOO_VERSIONS: &str = "16.0–19.0";

/// The commit of the checkout this binary was built from, if it was built from one.
pub fn commit() -> Option<&'static str> {
    Some(env!("ODOO_BUS_COMMIT")).filter(|c| !c.is_empty())
}

/// `0.1.0 (commit 1a2b3c4d5, Odoo 16.0–19.0)`; clap prints it after the name for `--version`.
pub fn long() -> &'static str {
    static LONG: LazyLock<String> = LazyLock::new(|| describe(env!("CARGO_PKG_VERSION"), commit()));
    LONG.as_str()
}

fn describe(version: &str, commit: Option<&str>) -> String {
    match commit {
        Some(commit) => format!("{version} (commit {commit}, Odoo {ODOO_VERSIONS})"),
        None => format!("{version} (Odoo {ODOO_VERSIONS})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_commit_when_there_is_one() {
        assert_eq!(
            describe("0.1.0", Some("1a2b3c4d5")),
            "0.1.0 (commit 1a2b3c4d5, Odoo 16.0–19.0)"
        );
        assert_eq!(describe("0.1.0", None), "0.1.0 (Odoo 16.0–19.0)");
    }

    #[test]
    fn the_long_version_starts_with_cargos() {
        assert!(
            long().starts_with(concat!(env!("CARGO_PKG_VERSION"), " (")),
            "{}",
            long()
        );
    }
}
