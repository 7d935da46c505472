//! `odoo-bus --version`: the build a bug report came from (version, commit, Odoo series).

use std::process::Command as Std;

use assert_cmd::Command;

fn run(arg: &str) -> String {
    let out = Command::cargo_bin("odoo-bus")
        .unwrap()
        .arg(arg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn long_version_names_the_commit_and_the_odoo_versions_short_stays_one_word() {
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(run("-V"), format!("odoo-bus {version}\n"));

    let long = run("--version");
    assert_eq!(long.lines().count(), 1, "{long}");
    assert!(long.starts_with(&format!("odoo-bus {version} (")), "{long}");
    assert!(long.trim_end().ends_with("Odoo 16.0–19.0)"), "{long}");
    // Built from this checkout (the tests always are): the commit is the checkout's HEAD.
    let head = Std::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(head) if head.status.success() => {
            let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
            assert!(
                long.contains(&format!("(commit {head}, ")),
                "{long} vs HEAD {head}"
            );
        }
        _ => eprintln!("skipped the commit check: no git checkout"),
    }
}
