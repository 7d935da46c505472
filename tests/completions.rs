//! Shell completion through the real binary: the printed scripts, the `COMPLETE=<shell>` callback
//! that answers a TAB with profile names and saved channels from the config file, and the
//! committed scripts run by a real bash (and fish, when installed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::cargo_bin;
use tempfile::TempDir;

const CONFIG: &str = r#"
[profiles.default]
url = "https://erp.example.com"
channels = ["discuss.channel_1", "discuss.channel_42", "odoo-presence-res.partner_7"]

[profiles.staging]
url = "https://staging.example.com"
channels = ["discuss.channel_9", "mail.guest_3|tok"]
"#;

/// A config file with two profiles, in a directory of its own.
fn config_dir(content: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// PATH with the odoo-bus under test first, so `odoo-bus` runs it by name.
fn path_with_binary() -> std::ffi::OsString {
    let bin = cargo_bin("odoo-bus");
    let dir = bin.parent().unwrap().to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).unwrap()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the binary answers when bash asks it to complete the last of `words` (as the bash script
/// does: `COMPLETE=bash odoo-bus -- WORDS…` with the index of the word under the cursor).
fn bash_candidates(config: &Path, env: &[(&str, &str)], words: &[&str]) -> Vec<String> {
    let output = Command::new(cargo_bin("odoo-bus"))
        .arg("--")
        .args(words)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_IFS", "\n")
        .env("ODOO_BUS_CONFIG", config)
        .env_remove("ODOO_BUS_PROFILE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .split('\n')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn profile_names_complete_from_the_config_file() {
    let (_dir, config) = config_dir(CONFIG);
    assert_eq!(
        bash_candidates(&config, &[], &["odoo-bus", "-p", ""]),
        ["default", "staging"]
    );
    assert_eq!(
        bash_candidates(&config, &[], &["odoo-bus", "tail", "--profile", "st"]),
        ["staging"]
    );
    // Each -p of a multi-profile tail completes too.
    assert_eq!(
        bash_candidates(
            &config,
            &[],
            &["odoo-bus", "tail", "-p", "default", "-p", "st"]
        ),
        ["staging"]
    );
}

#[test]
fn saved_channels_complete_for_subscribe_remove_from_the_profile_in_use() {
    let (_dir, config) = config_dir(CONFIG);
    let default = [
        "discuss.channel_1",
        "discuss.channel_42",
        "odoo-presence-res.partner_7",
    ];
    let line = ["odoo-bus", "subscribe", "--remove", ""];
    assert_eq!(bash_candidates(&config, &[], &line), default);
    // The profile named on the line wins, as it will when the command runs; then the environment.
    let line = ["odoo-bus", "-p", "staging", "subscribe", "--remove", ""];
    assert_eq!(
        bash_candidates(&config, &[], &line),
        ["discuss.channel_9", "mail.guest_3|tok"]
    );
    let line = ["odoo-bus", "subscribe", "--remove", "discuss.channel_4"];
    assert_eq!(bash_candidates(&config, &[], &line), ["discuss.channel_42"]);
    let env = [("ODOO_BUS_PROFILE", "staging")];
    let line = ["odoo-bus", "subscribe", "--remove", "d"];
    assert_eq!(bash_candidates(&config, &env, &line), ["discuss.channel_9"]);
}

#[test]
fn a_config_given_on_the_line_is_the_one_completed_from() {
    let (_dir, other) = config_dir("[profiles.elsewhere]\n");
    let (_dir2, config) = config_dir(CONFIG);
    let other = other.to_str().unwrap();
    assert_eq!(
        bash_candidates(&config, &[], &["odoo-bus", "--config", other, "-p", ""]),
        ["elsewhere"]
    );
}

#[test]
fn a_broken_config_completes_nothing_without_failing() {
    let (_dir, config) = config_dir("[profiles.default\nurl = ");
    assert!(bash_candidates(&config, &[], &["odoo-bus", "-p", ""]).is_empty());
    let (_dir, missing) = config_dir("");
    std::fs::remove_file(&missing).unwrap();
    assert!(bash_candidates(&missing, &[], &["odoo-bus", "subscribe", "--remove", ""]).is_empty());
}

#[test]
fn subcommands_and_option_values_complete_too() {
    let (_dir, config) = config_dir(CONFIG);
    let subcommands = bash_candidates(&config, &[], &["odoo-bus", "su"]);
    assert_eq!(subcommands, ["subscribe"]);
    let colors = bash_candidates(&config, &[], &["odoo-bus", "--color", ""]);
    assert_eq!(colors, ["auto", "always", "never"]);
    let shells = bash_candidates(&config, &[], &["odoo-bus", "completions", "p"]);
    assert_eq!(shells, ["powershell"]);
}

fn completions_run_by(program: &Path, shell: &str) -> Output {
    Command::new(program)
        .args(["completions", shell])
        .env("PATH", path_with_binary())
        .output()
        .unwrap()
}

#[test]
fn run_from_path_it_prints_exactly_the_committed_scripts() {
    for (shell, file) in [
        ("bash", "odoo-bus.bash"),
        ("zsh", "_odoo-bus"),
        ("fish", "odoo-bus.fish"),
        ("powershell", "_odoo-bus.ps1"),
        ("elvish", "odoo-bus.elv"),
    ] {
        let output = completions_run_by(Path::new("odoo-bus"), shell);
        assert!(output.status.success(), "{shell}: {output:?}");
        let committed = std::fs::read_to_string(repo().join("completions").join(file)).unwrap();
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            committed,
            "{shell}"
        );
    }
}

#[test]
fn run_by_its_path_it_prints_a_script_calling_that_path_back() {
    let bin = cargo_bin("odoo-bus");
    let output = completions_run_by(&bin, "bash");
    assert!(output.status.success(), "{output:?}");
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(
        script.contains(&format!("\"{}\" -- ", bin.display())),
        "{script}"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let output = completions_run_by(&cargo_bin("odoo-bus"), "tcsh");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("possible values"),
        "{output:?}"
    );
}

fn have(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: `{program}` is not installed");
    }
    found
}

/// The committed bash script, sourced by a real bash whose completion function is called as
/// readline would call it for the line `words` (the last word under the cursor).
fn bash_script_candidates(config: &Path, words: &[&str]) -> String {
    let script = repo().join("completions/odoo-bus.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source "$1"
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_TYPE=9
_clap_complete_odoo_bus odoo-bus "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = quoted.join(" "),
        cword = words.len() - 1,
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(&script)
        .env("PATH", path_with_binary())
        .env("ODOO_BUS_CONFIG", config)
        .env_remove("ODOO_BUS_PROFILE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_committed_bash_script_completes_profiles_and_channels_in_bash() {
    if !have("bash") {
        return;
    }
    let (_dir, config) = config_dir(CONFIG);
    assert_eq!(
        bash_script_candidates(&config, &["odoo-bus", "-p", ""]),
        "default\nstaging\n"
    );
    let line = ["odoo-bus", "-p", "staging", "subscribe", "--remove", ""];
    assert_eq!(
        bash_script_candidates(&config, &line),
        "discuss.channel_9\nmail.guest_3|tok\n"
    );
}

#[test]
fn the_committed_fish_script_completes_profiles_and_channels_in_fish() {
    if !have("fish") {
        return;
    }
    let (_dir, config) = config_dir(CONFIG);
    let script = repo().join("completions/odoo-bus.fish");
    let complete = |line: &str| {
        let output = Command::new("fish")
            .args([
                "--no-config",
                "-c",
                "source $argv[1]; complete --do-complete $argv[2]",
            ])
            .arg(&script)
            .arg(line)
            .env("PATH", path_with_binary())
            .env("ODOO_BUS_CONFIG", &config)
            .env_remove("ODOO_BUS_PROFILE")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(complete("odoo-bus -p "), "default\nstaging\n");
    assert_eq!(
        complete("odoo-bus subscribe --remove discuss.channel_4"),
        "discuss.channel_42\n"
    );
}
