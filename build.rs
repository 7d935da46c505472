//! Stamps the build with the git commit it came from, for `odoo-bus --version` (src/version.rs).
//!
//! Why: a bug report that says "0.1.0" could come from any checkout; the commit names the build.
//! Owns only the `ODOO_BUS_COMMIT` compile-time variable; it never fails the build. Where the
//! commit comes from, in order:
//! 1. a git checkout whose top level is this package (a clone, a worktree): `git rev-parse`;
//! 2. the `.cargo_vcs_info.json` that `cargo package`/`cargo publish` writes (a crates.io build);
//! 3. nothing (a source tarball without git, or no git installed): the version says no commit.
//!
//! The build script reruns when the commit moves (the HEAD file and the branch it points to), not
//! on every build, so an ordinary rebuild stays incremental.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = from_git(&manifest_dir).or_else(|| from_vcs_info(&manifest_dir));
    println!(
        "cargo:rustc-env=ODOO_BUS_COMMIT={}",
        commit.unwrap_or_default()
    );
}

/// The short commit of the checkout this package is the top of, with the files to watch.
fn from_git(dir: &Path) -> Option<String> {
    // A package unpacked inside some other repository (target/package/…, a home directory kept in
    // git) must not borrow that repository's commit.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // `--git-path` resolves worktrees (where .git is a file) and the shared refs directory.
    let head = PathBuf::from(git(dir, &["rev-parse", "--git-path", "HEAD"])?);
    watch(dir, &head);
    if let Ok(text) = std::fs::read_to_string(dir.join(&head))
        && let Some(branch) = text.trim().strip_prefix("ref: ")
    {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", branch]) {
            watch(dir, Path::new(&path));
        }
        if let Some(path) = git(dir, &["rev-parse", "--git-path", "packed-refs"]) {
            watch(dir, Path::new(&path));
        }
    }
    git(dir, &["rev-parse", "--short=9", "HEAD"])
}

/// Watch a file only if it exists: cargo reruns a build script on every build when a watched path
/// is missing (an unborn branch, refs that are only packed, no vcs info).
fn watch(dir: &Path, path: &Path) {
    let path = dir.join(path);
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// `{"git": {"sha1": "<40 hex>"}, ...}` as cargo writes it into a packaged crate.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    watch(dir, &path);
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let start = after.find('"')? + 1;
    let sha: String = after[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (sha.len() >= 9).then(|| sha[..9].to_owned())
}
