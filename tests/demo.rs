//! `odoo-bus demo`: the newcomer's first command must work with no server and no config.

mod support;

use std::time::Duration;

use support::TestEnv;

#[test]
fn demo_shows_traffic_as_ndjson_without_touching_the_users_config() {
    let env = TestEnv::new(); // only for its private HOME and config path
    let out = env
        .cmd()
        .args(["demo", "-o", "ndjson", "--count", "3", "--timeout", "30s"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    for v in &lines {
        assert!(
            v["id"].as_u64().is_some() && v["type"].as_str().is_some(),
            "{v}"
        );
    }
    assert!(
        !env.config_path().exists(),
        "demo must use a throwaway profile"
    );
}

#[test]
fn demo_serve_prints_a_server_every_command_can_use() {
    let env = TestEnv::new();
    let mut serve = env.spawn(&["demo", "--serve"]);
    let first = serve
        .next_line(Duration::from_secs(20))
        .expect("the URL line");
    let url = first
        .strip_prefix("Odoo 18.0 emulator running at ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let db_line = serve
        .next_line(Duration::from_secs(5))
        .expect("the database line");
    let db = db_line.trim_start_matches("database:").trim().to_string();
    env.cmd()
        .args([
            "login",
            &url,
            "--db",
            &db,
            "--user",
            "demo",
            "--password-stdin",
        ])
        .write_stdin("demo\n")
        .assert()
        .success();
    env.cmd()
        .args(["tail", "--json", "-n", "1", "--timeout", "30s"])
        .assert()
        .success();
    serve.signal("INT");
    let done =
        std::mem::replace(&mut serve, env.spawn(&["--version"])).wait(Duration::from_secs(10));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

#[test]
fn demo_plays_every_odoo_version() {
    let env = TestEnv::new();
    // The first action is always a colleague typing then posting: each version's own types.
    for (arg, label, allowed) in [
        (
            "16",
            "16.0",
            &[
                "mail.channel.member/typing_status",
                "mail.channel/new_message",
                "bus/im_status",
            ][..],
        ),
        (
            "17-early",
            "17.0 (early)",
            &[
                "discuss.channel.member/typing_status",
                "discuss.channel/last_interest_dt_changed",
                "discuss.channel/new_message",
                "mail.record/insert",
            ][..],
        ),
        (
            "17",
            "17.0 (late)",
            &[
                "discuss.channel.member/typing_status",
                "discuss.channel/last_interest_dt_changed",
                "discuss.channel/new_message",
                "bus.bus/im_status_updated",
                "mail.record/insert",
            ][..],
        ),
        (
            "18",
            "18.0",
            &[
                "mail.record/insert",
                "discuss.channel/new_message",
                "bus.bus/im_status_updated",
            ][..],
        ),
        (
            "19",
            "19.0",
            &[
                "mail.record/insert",
                "discuss.channel/new_message",
                "bus.bus/im_status_updated",
            ][..],
        ),
    ] {
        let out = env
            .cmd()
            .args(["demo", "--odoo-version", arg, "-o", "ndjson", "-n", "3"])
            .args(["--timeout", "30s"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{arg}: {stderr}");
        assert!(
            stderr.contains(&format!("an Odoo {label} emulator")),
            "{arg}: {stderr}"
        );
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON"))
            .collect();
        assert_eq!(lines.len(), 3, "{arg}");
        for line in &lines {
            let kind = line["type"].as_str().unwrap_or_default();
            assert!(allowed.contains(&kind), "{arg}: {line}");
        }
        assert_eq!(lines[0]["type"], allowed[0], "{arg}: typing comes first");
    }
    let out = env
        .cmd()
        .args(["demo", "--odoo-version", "15"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use 16, 17, 17-early"));
}
