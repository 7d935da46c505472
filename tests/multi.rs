//! One `tail` over several profiles: the real binary against two or three emulators (different
//! Odoo personalities) over real sockets, all profiles in one config file.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use odoo_bus_emulator::{EmulatorConfig, OdooVersion, Target};
use serde_json::{Value, json};
use support::TestEnv;
use support::running::Running;

const ADMIN_PARTNER: i64 = 3;
const ADMIN_UID: i64 = 2;
const WAIT: Duration = Duration::from_secs(20);

/// Emulators with the given personalities; profile `p<i>` of the FIRST one's config file is
/// logged in on emulator i.
fn servers(versions: &[OdooVersion]) -> Vec<TestEnv> {
    let envs: Vec<TestEnv> = versions
        .iter()
        .map(|v| TestEnv::with_config(EmulatorConfig::fast().with_version(*v)))
        .collect();
    let config = envs[0].config_path();
    for (i, env) in envs.iter().enumerate() {
        env.logged_in_at(&config, &format!("p{i}"), "admin");
    }
    envs
}

fn tail(envs: &[TestEnv], args: &[&str]) -> Running {
    let mut cmd = envs[0].std_cmd();
    cmd.arg("tail")
        .args(args)
        .env("ODOO_BUS_RECONNECT_DELAY", "50ms");
    Running::spawn(cmd)
}

fn subscribed(env: &TestEnv) {
    assert!(
        env.control().wait_for_subscribes(1, WAIT),
        "a tail never subscribed"
    );
}

fn subscribes(env: &TestEnv) -> usize {
    env.control()
        .client_events()
        .iter()
        .filter(|e| e.event_name == "subscribe")
        .count()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn note(env: &TestEnv, text: &str) -> u64 {
    env.control().notify(
        Target::Partner(ADMIN_PARTNER),
        "simple_notification",
        json!({ "message": text }),
    )
}

#[test]
fn ndjson_merges_every_profile_once_each_line_naming_its_profile() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19, OdooVersion::V17Late]);
    let t = tail(
        &envs,
        &[
            "-p",
            "p0",
            "-p",
            "p1",
            "-p",
            "p2",
            "-o",
            "ndjson",
            "-t",
            "simple_notification",
            "--count",
            "6",
            "--timeout",
            "30s",
        ],
    );
    envs.iter().for_each(subscribed);
    let mut sent = HashMap::new();
    for round in 0..2 {
        for (i, env) in envs.iter().enumerate() {
            let text = format!("from p{i} #{round}");
            let id = note(env, &text);
            sent.insert(text, (format!("p{i}"), id));
        }
    }
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.stdout.len(), 6, "{:?}", done.stdout);
    let mut seen = HashMap::new();
    for line in &done.stdout {
        let v = parse(line);
        let text = v["payload"]["message"].as_str().unwrap().to_string();
        let (profile, id) = &sent[&text];
        assert_eq!(v["profile"], profile.as_str(), "{line}");
        assert_eq!(v["id"], *id, "{line}");
        // The key comes last: the single-profile keys keep their places.
        assert!(
            line.ends_with(&format!(",\"profile\":\"{profile}\"}}")),
            "{line}"
        );
        *seen.entry(text).or_insert(0) += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert_eq!(seen.len(), 6);
}

#[test]
fn pretty_and_raw_lines_start_with_the_profile() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    for (format, check) in [
        (
            "pretty",
            &(|line: &str, p: &str| line.starts_with(&format!("{p} ")))
                as &dyn Fn(&str, &str) -> bool,
        ),
        ("raw", &|line: &str, p: &str| {
            line.starts_with(&format!("{p}\t["))
        }),
    ] {
        for env in &envs {
            env.control().close_all(1000, "");
        }
        let before: Vec<usize> = envs.iter().map(subscribes).collect();
        let t = tail(
            &envs,
            &[
                "-p",
                "p0",
                "-p",
                "p1",
                "-o",
                format,
                "-t",
                "simple_notification",
                "--count",
                "2",
                "--timeout",
                "30s",
            ],
        );
        for (env, n) in envs.iter().zip(&before) {
            assert!(env.control().wait_for_subscribes(n + 1, WAIT));
        }
        note(&envs[0], "zero");
        note(&envs[1], "one");
        let done = t.wait(WAIT);
        assert_eq!(done.code, Some(0), "{format}: {}", done.stderr);
        assert_eq!(done.stdout.len(), 2, "{format}: {:?}", done.stdout);
        for line in &done.stdout {
            let p = if line.contains("zero") { "p0" } else { "p1" };
            assert!(check(line, p), "{format}: {line}");
        }
    }
}

#[test]
fn a_server_down_is_reported_by_name_while_the_other_flows() {
    let mut envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    // p1's server is gone before the tail starts.
    let gone = envs.pop().unwrap();
    drop(gone);
    let t = tail(
        &envs,
        &[
            "-p",
            "p0",
            "-p",
            "p1",
            "-o",
            "ndjson",
            "-t",
            "simple_notification",
            "--timeout",
            "4s",
        ],
    );
    subscribed(&envs[0]);
    note(&envs[0], "still flowing");
    let line = t.next_line(WAIT).expect("p0's notification");
    assert_eq!(parse(&line)["profile"], "p0");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("[p1]"), "{}", done.stderr);
    assert!(done.stderr.contains("retrying in"), "{}", done.stderr);
    assert!(!done.stderr.contains("[p0] warning"), "{}", done.stderr);
}

#[test]
fn a_server_that_comes_back_is_followed_again() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    let t = tail(
        &envs,
        &[
            "-p",
            "p0",
            "-p",
            "p1",
            "-o",
            "ndjson",
            "-t",
            "simple_notification",
            "--count",
            "2",
            "--timeout",
            "30s",
        ],
    );
    envs.iter().for_each(subscribed);
    envs[1].control().restart(Duration::from_millis(500));
    note(&envs[0], "p0 meanwhile");
    assert!(
        envs[1].control().wait_for_subscribes(2, WAIT),
        "p1 never came back"
    );
    note(&envs[1], "p1 after its restart");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let profiles: Vec<Value> = done
        .stdout
        .iter()
        .map(|l| parse(l)["profile"].clone())
        .collect();
    assert!(
        profiles.contains(&json!("p0")) && profiles.contains(&json!("p1")),
        "{:?}",
        done.stdout
    );
}

#[test]
fn exit_3_only_when_every_session_expired() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    // One expires: the other goes on, the tail ends by its timeout (0).
    let t = tail(
        &envs,
        &["-p", "p0", "-p", "p1", "-o", "ndjson", "--timeout", "5s"],
    );
    envs.iter().for_each(subscribed);
    envs[1].control().invalidate_sessions(ADMIN_UID);
    envs[1].control().close_all(4001, "SESSION_EXPIRED");
    std::thread::sleep(Duration::from_millis(500));
    note(&envs[0], "p0 goes on");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains("[p1] error: session expired"),
        "{}",
        done.stderr
    );
    assert!(
        done.stdout.iter().any(|l| l.contains("p0 goes on")),
        "{:?}",
        done.stdout
    );

    // Both expire: exit 3, long before the timeout.
    let t = tail(
        &envs,
        &["-p", "p0", "-p", "p1", "-o", "ndjson", "--timeout", "60s"],
    );
    assert!(envs[0].control().wait_for_subscribes(2, WAIT));
    for env in &envs {
        env.control().invalidate_sessions(ADMIN_UID);
        env.control().close_all(4001, "SESSION_EXPIRED");
    }
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    assert!(
        done.stderr.contains("every profile needs a login"),
        "{}",
        done.stderr
    );
}

#[test]
fn all_and_globs_select_from_the_config_file() {
    let env = TestEnv::new();
    for name in ["cust-a", "cust-b", "prod"] {
        env.logged_in_profile(name, "admin");
    }
    // Known to the config file but not logged in: --all leaves it out.
    std::fs::write(
        env.config_path(),
        env.config_text() + "\n[profiles.staging]\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    for (select, expected) in [
        (&["--all"][..], &["cust-a", "cust-b", "prod"][..]),
        (&["-p", "cust-*"][..], &["cust-a", "cust-b"][..]),
    ] {
        let before = subscribes(&env);
        let mut args = select.to_vec();
        args.extend(["-o", "ndjson", "-t", "simple_notification", "--count"]);
        let count = expected.len().to_string();
        args.extend([count.as_str(), "--timeout", "30s"]);
        let mut cmd = env.std_cmd();
        cmd.arg("tail").args(&args);
        let t = Running::spawn(cmd);
        assert!(
            env.control()
                .wait_for_subscribes(before + expected.len(), WAIT)
        );
        // One notification, delivered to every session of the user: once per profile.
        note(&env, "to everyone");
        let done = t.wait(WAIT);
        assert_eq!(done.code, Some(0), "{select:?}: {}", done.stderr);
        let mut got: Vec<String> = done
            .stdout
            .iter()
            .map(|l| parse(l)["profile"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(got, expected, "{select:?}");
    }
    let bad = env.cmd().args(["tail", "-p", "zz-*"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(
        stderr.contains("matches no profile") && stderr.contains("cust-a, cust-b"),
        "{stderr}"
    );
    let bad = env
        .cmd()
        .args(["tail", "-p", "prod", "-p", "nope"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(stderr.contains("no profile `nope`"), "{stderr}");
}

#[test]
fn single_profile_commands_refuse_several_in_one_line() {
    let env = TestEnv::new();
    env.logged_in_profile("a", "admin");
    env.logged_in_profile("b", "admin");
    for args in [
        &["-p", "a", "-p", "b", "status"][..],
        &["status", "--all"][..],
        &["-p", "*", "logout"][..],
        &["-p", "a", "-p", "b", "subscribe", "--list"][..],
        &["-p", "a", "-p", "b", "send", "general", "hi"][..],
    ] {
        let out = env.cmd().args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("works on one profile"),
            "{args:?}: {stderr}"
        );
    }
    // Nothing was logged out.
    assert!(env.config_text().contains("session_id"));
}

#[test]
fn one_profile_by_glob_prints_exactly_the_single_profile_output() {
    let env = TestEnv::new();
    env.logged_in_profile("only", "admin");
    let mut cmd = env.std_cmd();
    cmd.args([
        "tail",
        "-p",
        "on*",
        "-o",
        "ndjson",
        "-t",
        "simple_notification",
        "--count",
        "1",
        "--timeout",
        "30s",
    ]);
    let t = Running::spawn(cmd);
    assert!(env.control().wait_for_subscribes(1, WAIT));
    let id = note(&env, "single");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(
        done.stdout,
        [format!(
            "{{\"id\":{id},\"type\":\"simple_notification\",\"payload\":{{\"message\": \"single\"}}}}"
        )]
    );
}

#[test]
fn resume_continues_each_profile_from_its_own_position() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    let first = tail(
        &envs,
        &[
            "-p",
            "p0",
            "-p",
            "p1",
            "-o",
            "ndjson",
            "-t",
            "simple_notification",
            "--count",
            "2",
            "--timeout",
            "30s",
        ],
    );
    envs.iter().for_each(subscribed);
    note(&envs[0], "a1");
    note(&envs[1], "b1");
    let done = first.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // Missed while no tail ran.
    let a2 = note(&envs[0], "a2");
    let b2 = note(&envs[1], "b2");
    let second = tail(
        &envs,
        &[
            "-p",
            "p0",
            "-p",
            "p1",
            "-o",
            "ndjson",
            "-t",
            "simple_notification",
            "--resume",
            "--count",
            "2",
            "--timeout",
            "30s",
        ],
    );
    let done = second.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let mut got: Vec<(String, u64)> = done
        .stdout
        .iter()
        .map(|l| {
            let v = parse(l);
            (
                v["profile"].as_str().unwrap().to_string(),
                v["id"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("p0".to_string(), a2), ("p1".to_string(), b2)],
        "{:?}",
        done.stdout
    );
}

#[test]
fn send_wait_posts_in_each_profile_and_prints_a_line_for_each() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    let out = envs[0]
        .cmd()
        .args([
            "send",
            "-p",
            "p0",
            "-p",
            "p1",
            "1",
            "hello both",
            "--wait",
            "-o",
            "ndjson",
        ])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let mut profiles: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v = parse(l);
            assert!(
                v["message_id"].as_i64().is_some() && v["latency_ms"].as_u64().is_some(),
                "{l}"
            );
            v["profile"].as_str().unwrap().to_string()
        })
        .collect();
    profiles.sort();
    assert_eq!(profiles, ["p0", "p1"], "{stdout}");

    // One server gone: the other still answers; the exit code is the failure's (4).
    let mut envs = envs;
    drop(envs.pop());
    let out = envs[0]
        .cmd()
        .args([
            "send",
            "-p",
            "p0",
            "-p",
            "p1",
            "1",
            "one left",
            "--wait",
            "--timeout",
            "5s",
        ])
        .assert()
        .code(4);
    let output = out.get_output();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stdout.starts_with("p0\tmessage ") && stdout.lines().count() == 1,
        "{stdout}"
    );
    assert!(stderr.contains("[p1] error:"), "{stderr}");
}

#[test]
fn doctor_prints_one_row_per_profile_and_fails_when_one_does() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    let run = |envs: &[TestEnv], extra: &[&str]| {
        let mut cmd = envs[0].cmd();
        cmd.args(["doctor", "-p", "p0", "-p", "p1"]).args(extra);
        cmd.env("ODOO_BUS_DOCTOR_DELIVERY", "5s");
        cmd.timeout(Duration::from_secs(60)).output().expect("runs")
    };
    let out = run(&envs, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("PROFILE"), "{stdout}");
    assert!(
        lines[1].starts_with("p0 ") && lines[1].contains(" ok "),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("p1 ") && lines[2].contains(&envs[1].url()),
        "{stdout}"
    );

    let mut envs = envs;
    drop(envs.pop());
    let out = run(&envs, &["--json"]);
    assert_eq!(out.status.code(), Some(5));
    let v = parse(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(v["profiles"][0]["profile"], "p0");
    assert_eq!(v["profiles"][0]["summary"]["ok"], true);
    assert_eq!(v["profiles"][1]["summary"]["ok"], false);
    assert_eq!(v["summary"]["exit_code"], 5);
}

#[test]
fn no_reconnect_ends_the_tail_at_the_first_profile_that_fails() {
    let envs = servers(&[OdooVersion::V18, OdooVersion::V19]);
    let t = tail(
        &envs,
        &["-p", "p0", "-p", "p1", "--no-reconnect", "--timeout", "30s"],
    );
    envs.iter().for_each(subscribed);
    envs[1].control().drop_all();
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(4), "{}", done.stderr);
    let errors: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", done.stderr);
    assert!(errors[0].contains("profile `p1`"), "{}", done.stderr);
}
