//! `odoo-bus tail` end to end: the real binary against the emulator over real sockets.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use odoo_bus_emulator::{Faults, Frame, Target};
use serde_json::{Value, json};
use support::TestEnv;

const ADMIN_PARTNER: i64 = 3;
const ADMIN_UID: i64 = 2;
const DEMO_UID: i64 = 6;
const GENERAL: i64 = 1;
const WAIT: Duration = Duration::from_secs(20);

/// A logged-in emulator and fast reconnects for tests.
fn env() -> TestEnv {
    let env = TestEnv::new();
    env.logged_in("admin");
    env
}

fn tail(env: &TestEnv, args: &[&str]) -> support::running::Running {
    let mut cmd = env.std_cmd();
    cmd.arg("tail")
        .args(args)
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms");
    support::running::Running::spawn(cmd)
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn wait_subscribed(env: &TestEnv, n: usize) {
    assert!(
        env.control().wait_for_subscribes(n, WAIT),
        "the tail never subscribed"
    );
}

#[test]
fn ndjson_lines_are_exactly_id_type_payload_with_the_payload_untouched() {
    let env = env();
    let t = tail(&env, &["-o", "ndjson", "--count", "1", "--timeout", "20s"]);
    wait_subscribed(&env, 1);
    let payload = json!({"message": "caf\u{e9} \u{1F600}", "list": [1, 2]});
    let id = env.control().notify(
        Target::Partner(ADMIN_PARTNER),
        "simple_notification",
        payload.clone(),
    );
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.stdout.len(), 1);
    let line = &done.stdout[0];
    let expected_prefix = format!("{{\"id\":{id},\"type\":\"simple_notification\",\"payload\":{{");
    assert!(line.starts_with(&expected_prefix), "{line}");
    // Odoo's own Python-style spacing and \u escapes survive: the payload is copied, not re-encoded.
    assert!(
        line.contains(r#""message": "caf\u00e9 \ud83d\ude00""#),
        "{line}"
    );
    assert_eq!(parse(line)["payload"], payload);
}

#[test]
fn timestamps_add_received_at() {
    let env = env();
    env.control()
        .notify(Target::Partner(ADMIN_PARTNER), "x/y", json!({}));
    let out = env
        .cmd()
        .args([
            "tail",
            "--json",
            "--timestamps",
            "--count",
            "1",
            "--timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = parse(String::from_utf8_lossy(&out.stdout).lines().next().unwrap());
    let at = v["received_at"].as_str().expect("received_at");
    assert!(
        at.ends_with('Z') && at.contains('T') && at.len() == 24,
        "{at}"
    );
}

#[test]
fn type_filters_include_globs_and_exclude_wins() {
    let env = env();
    let c = env.control();
    for kind in [
        "discuss.channel/new_message",
        "discuss.channel/transient_message",
        "mail.record/insert",
        "bus.bus/im_status_updated",
    ] {
        c.notify(Target::Partner(ADMIN_PARTNER), kind, json!({"k": kind}));
    }
    let out = env
        .cmd()
        .args([
            "tail",
            "-o",
            "ndjson",
            "-t",
            "discuss.channel/*",
            "-t",
            "bus.bus/im_status_updated",
        ])
        .args(["-x", "*/transient_message", "--timeout", "1500ms"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let types: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| parse(l)["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        ["discuss.channel/new_message", "bus.bus/im_status_updated"]
    );
}

#[test]
fn raw_prints_frames_as_received_and_pretty_summarises_messages() {
    let env = env();
    env.control()
        .post_message(DEMO_UID, GENERAL, "<p>Hello <b>team</b> &amp; co</p>");
    let raw = env
        .cmd()
        .args(["tail", "-o", "raw", "--timeout", "1s"])
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&raw.stdout);
    let first = raw.lines().next().expect("a frame");
    assert!(
        first.starts_with("[{\"id\": ") && first.contains("\"message\": {\"type\": "),
        "{first}"
    );
    let pretty = env
        .cmd()
        .args(["tail", "-o", "pretty", "--timeout", "1s"])
        .output()
        .unwrap();
    let pretty = String::from_utf8_lossy(&pretty.stdout);
    let line = pretty
        .lines()
        .find(|l| l.contains("discuss.channel/new_message"))
        .unwrap_or_else(|| panic!("no message line in:\n{pretty}"));
    assert!(
        line.contains("Marc Demo") && line.contains("Hello team & co"),
        "{line}"
    );
    assert!(
        !line.contains('\x1b'),
        "NO_COLOR must disable colors: {line:?}"
    );
}

#[test]
fn count_timeout_and_exit_codes() {
    let env = env();
    let c = env.control();
    c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(2));
    env.cmd()
        .args(["tail", "--json", "-n", "2", "--timeout", "10s"])
        .assert()
        .code(0);
    let out = env
        .cmd()
        .args(["tail", "--json", "-n", "5", "--timeout", "500ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out after 500ms: 2 of 5"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    env.cmd()
        .args(["tail", "--json", "--timeout", "300ms"])
        .assert()
        .code(0);
}

#[test]
fn expired_session_is_exit_3_before_any_socket() {
    let env = env();
    env.control().invalidate_sessions(ADMIN_UID);
    let out = env
        .cmd()
        .args(["tail", "--timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("session expired"));
    assert_eq!(
        env.control().stats().handshakes,
        0,
        "never a silent public socket"
    );
}

#[test]
fn not_logged_in_is_exit_3() {
    let env = TestEnv::new();
    let out = env.cmd().args(["tail"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"));
}

#[test]
fn saved_and_given_channels_are_subscribed_and_resume_uses_the_saved_id() {
    let env = env();
    let id = env
        .control()
        .notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    env.cmd()
        .args([
            "tail",
            "--json",
            "-n",
            "1",
            "-c",
            "custom-string",
            "--timeout",
            "10s",
        ])
        .assert()
        .code(0);
    assert!(
        env.config_text().contains(&format!("last_id = {id}")),
        "{}",
        env.config_text()
    );
    let events = env.control().client_events();
    let sub = events
        .iter()
        .find(|e| e.event_name == "subscribe")
        .expect("subscribed");
    assert_eq!(sub.data["channels"], json!(["custom-string"]));
    assert_eq!(sub.data["last"], json!(0));
    env.cmd()
        .args(["tail", "--json", "--resume", "--timeout", "300ms"])
        .assert()
        .code(0);
    let events = env.control().client_events();
    let last_sub = events
        .iter()
        .rev()
        .find(|e| e.event_name == "subscribe")
        .unwrap();
    assert_eq!(last_sub.data["last"], json!(id));
    env.cmd()
        .args(["tail", "--after-id", "7", "--timeout", "300ms"])
        .assert()
        .code(0);
    let events = env.control().client_events();
    let last_sub = events
        .iter()
        .rev()
        .find(|e| e.event_name == "subscribe")
        .unwrap();
    assert_eq!(last_sub.data["last"], json!(7));
}

#[test]
fn resume_without_a_saved_position_is_a_usage_error() {
    let env = env();
    env.cmd().args(["tail", "--resume"]).assert().code(2);
}

#[test]
fn bad_type_pattern_and_conflicts_are_usage_errors() {
    let env = env();
    env.cmd().args(["tail", "-t", ""]).assert().code(2);
    env.cmd()
        .args(["tail", "--resume", "--after-id", "3"])
        .assert()
        .code(2);
    env.cmd()
        .args(["tail", "--json", "-o", "raw"])
        .assert()
        .code(2);
}

#[test]
fn clean_close_ends_with_0_and_outdated_version_with_1() {
    let env = env();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    env.control().close_all(1000, "");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);

    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 2);
    env.control().close_all(1000, "OUTDATED_VERSION");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("OUTDATED_VERSION") && done.stderr.contains("login"),
        "{}",
        done.stderr
    );
}

#[test]
fn close_4001_reconnects_while_the_session_is_valid_and_exits_3_once_it_is_not() {
    let env = env();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    env.control().close_all(4001, "");
    wait_subscribed(&env, 2);
    env.control().invalidate_sessions(ADMIN_UID);
    env.control().close_all(4001, "");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    assert!(done.stderr.contains("session expired"), "{}", done.stderr);
    let subscribes = env
        .control()
        .client_events()
        .iter()
        .filter(|e| e.event_name == "subscribe")
        .count();
    assert_eq!(
        subscribes, 2,
        "no reconnect storm after the session expired"
    );
}

#[test]
fn keep_alive_timeout_and_server_errors_reconnect_and_resume() {
    let env = env();
    let c = env.control();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    let first = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    assert!(
        t.next_line(WAIT)
            .unwrap()
            .contains(&format!("\"id\":{first}"))
    );
    for (n, code) in [(2, 4002), (3, 1011), (4, 1013), (5, 1001)] {
        c.close_all(code, "");
        wait_subscribed(&env, n);
    }
    let events = c.client_events();
    let lasts: Vec<&Value> = events
        .iter()
        .filter(|e| e.event_name == "subscribe")
        .map(|e| &e.data["last"])
        .collect();
    assert_eq!(
        lasts[1..],
        [&json!(first); 4],
        "each resubscribe resumes after the highest id seen"
    );
    let second = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(2));
    assert!(
        t.next_line(WAIT)
            .unwrap()
            .contains(&format!("\"id\":{second}"))
    );
    t.signal("INT");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(130));
    assert!(
        done.stderr.contains("2 notifications (2 a/b)"),
        "{}",
        done.stderr
    );
}

#[test]
fn no_reconnect_exits_4_on_the_first_unexpected_close() {
    let env = env();
    let t = tail(&env, &["--json", "--no-reconnect"]);
    wait_subscribed(&env, 1);
    env.control().close_all(1011, "");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(4), "{}", done.stderr);
    assert!(done.stderr.contains("--no-reconnect"), "{}", done.stderr);
}

#[test]
fn an_error_exit_still_writes_everything_received_before_it() {
    // A burst and then the close, back to back: the tail is still formatting and writing when
    // the error ends it; every notification of the burst must reach stdout before the exit 4.
    let env = env();
    let t = tail(&env, &["--json", "--no-reconnect"]);
    wait_subscribed(&env, 1);
    let c = env.control();
    let flood = c.flood(Target::Partner(ADMIN_PARTNER), 2_000, 5, 200, 0.0);
    assert_eq!(flood.sockets, 1);
    c.close_all(1011, "");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(4), "{}", done.stderr);
    let ids: Vec<u64> = done
        .stdout
        .iter()
        .map(|l| parse(l)["id"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (flood.first_id..=flood.last_id).collect();
    assert_eq!(ids.len(), expected.len(), "{}", done.stderr);
    assert_eq!(ids, expected);
}

#[test]
fn sigterm_saves_the_position_and_exits_143() {
    let env = env();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    let id = env
        .control()
        .notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    assert!(t.next_line(WAIT).is_some());
    t.signal("TERM");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(143));
    assert!(env.config_text().contains(&format!("last_id = {id}")));
}

#[test]
fn out_of_order_ids_are_all_printed_once() {
    let env = env();
    let c = env.control();
    let t = tail(&env, &["--json", "-n", "3", "--timeout", "20s"]);
    wait_subscribed(&env, 1);
    let late = c.late_commit(
        Target::Partner(ADMIN_PARTNER),
        "late/commit",
        json!({}),
        Duration::from_millis(400),
    );
    let a = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    let b = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(2));
    assert!(late < a, "the late commit has the lower id");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let ids: Vec<u64> = done
        .stdout
        .iter()
        .map(|l| parse(l)["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [a, b, late],
        "printed in the order received, each once"
    );
}

#[test]
fn malformed_frames_are_reported_and_the_stream_goes_on() {
    let env = env();
    let c = env.control();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    c.inject_frame(Frame::Text("this is not json".into()));
    c.inject_frame(Frame::Text("{\"id\": 1}".into()));
    c.inject_frame(Frame::Binary(vec![0, 159, 146, 150]));
    // The emulator queues injected frames apart from dispatches: give them a head start.
    std::thread::sleep(Duration::from_millis(500));
    let id = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    assert!(t.next_line(WAIT).unwrap().contains(&format!("\"id\":{id}")));
    t.signal("INT");
    let done = t.wait(WAIT);
    let warnings = done.stderr.matches("skipped a malformed frame").count();
    assert_eq!(warnings, 3, "{}", done.stderr);
    assert!(
        done.stderr.contains("(16 bytes"),
        "the frame's size is named: {}",
        done.stderr
    );
}

#[test]
fn a_restarted_server_loses_nothing() {
    let env = env();
    let c = env.control();
    let t = tail(&env, &["--json", "-n", "4", "--timeout", "30s"]);
    wait_subscribed(&env, 1);
    let a = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    assert!(t.next_line(WAIT).is_some());
    c.restart(Duration::from_millis(300));
    // Posted while the client is away: must arrive after the reconnect.
    let b = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(2));
    let d = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(3));
    wait_subscribed(&env, 2);
    let e = c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(4));
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let ids: Vec<u64> = done
        .stdout
        .iter()
        .map(|l| parse(l)["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [b, d, e]);
    assert!(a < b);
    assert!(done.stderr.contains("reconnected"), "{}", done.stderr);
}

#[test]
fn fifty_disconnects_in_ten_thousand_notifications_lose_nothing_and_repeat_nothing() {
    let env = env();
    let c = env.control().clone();
    let t = tail(&env, &["--json", "-n", "10000", "--timeout", "120s"]);
    wait_subscribed(&env, 1);
    let producer = std::thread::spawn(move || {
        let mut ids = Vec::with_capacity(10_000);
        let mut disconnects = 0;
        for i in 0..10_000u32 {
            ids.push(c.notify(Target::Partner(ADMIN_PARTNER), "flood/n", json!(i)));
            // 50 disconnects of three kinds at scattered points, each after the client is back.
            if i % 200 == 97 {
                match (i / 200) % 3 {
                    0 => c.drop_all(),
                    1 => c.drop_all_mid_frame(),
                    _ => c.close_all(1011, ""),
                }
                disconnects += 1;
                assert!(
                    c.wait_for_subscribes(disconnects + 1, WAIT),
                    "no resubscribe after disconnect {disconnects}"
                );
            }
        }
        ids
    });
    let produced = producer.join().unwrap();
    let done = t.wait(Duration::from_secs(150));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let printed: Vec<u64> = done
        .stdout
        .iter()
        .map(|l| parse(l)["id"].as_u64().unwrap())
        .collect();
    let unique: HashSet<u64> = printed.iter().copied().collect();
    assert_eq!(unique.len(), printed.len(), "an id was printed twice");
    assert_eq!(
        unique,
        produced.iter().copied().collect::<HashSet<u64>>(),
        "an id was lost"
    );
    let disconnects = done.stderr.matches("disconnected").count();
    assert_eq!(disconnects, 50, "{}", done.stderr);
}

#[test]
fn a_closed_stdout_ends_quietly_with_0() {
    use std::io::{BufRead, BufReader};
    let env = env();
    let c = env.control();
    c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    let mut cmd = env.std_cmd();
    cmd.args(["tail", "--json"]);
    let mut t = support::running::Running::spawn_raw(cmd);
    let mut out = BufReader::new(t.take_stdout());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("a/b"));
    drop(out); // like `| head -1`
    for i in 0..5 {
        c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(i));
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        !done.stderr.contains("error") && !done.stderr.contains("panick"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_stuck_stdout_does_not_stop_sigterm() {
    // Nobody reads the tail's stdout (a paused `| less`): the pipe fills up, yet SIGTERM must
    // still end the process at once with 143.
    let env = env();
    let c = env.control();
    let mut cmd = env.std_cmd();
    cmd.args(["tail", "--json"]);
    let mut t = support::running::Running::spawn_raw(cmd);
    let unread = t.take_stdout();
    wait_subscribed(&env, 1);
    let sent_before = c.stats().frames_sent;
    c.flood(Target::Partner(ADMIN_PARTNER), 2_000, 10, 200, 0.0);
    // 300 frames of ~3 KB are far more than a pipe (64 KB) and the tail's queue hold.
    assert!(
        c.wait_until(WAIT, |s, _| s.frames_sent >= sent_before + 300),
        "the flood did not go out"
    );
    t.signal("TERM");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(143), "{}", done.stderr);
    drop(unread);
}

#[test]
fn a_session_lost_at_the_handshake_is_exit_3() {
    let env = env();
    env.control().set_faults(Faults {
        downgrade_session: true,
        ..Faults::default()
    });
    env.control().invalidate_sessions(ADMIN_UID);
    // The HTTP check passes first only if the session is valid; make it valid, then lose it at the
    // handshake: the rotated cookie is saved and the re-check fails.
    let sid = env.logged_in("admin");
    let out = env
        .cmd()
        .args(["tail", "--timeout", "5s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        assert!(err.contains("session expired"), "{err}");
        assert!(
            !env.config_text().contains(sid.expose()),
            "the rotated cookie was saved"
        );
    } else {
        panic!("expected exit 3, got {:?}: {err}", out.status.code());
    }
}

#[test]
fn a_resume_point_beyond_the_servers_ids_starts_over_instead_of_printing_nothing() {
    // After a database restore Odoo replaces a `last` above its highest id by 0 and replays the
    // recent window: those ids are new even though they are below the resume point.
    let env = env();
    let id = env
        .control()
        .notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(1));
    let out = env
        .cmd()
        .args([
            "tail",
            "--json",
            "--after-id",
            "999999",
            "-n",
            "1",
            "--timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        parse(String::from_utf8_lossy(&out.stdout).trim())["id"],
        json!(id)
    );
}

#[test]
fn count_cutting_a_frame_short_resumes_inside_that_frame() {
    let env = env();
    let c = env.control();
    // Posted before the tail starts, the three arrive together in the subscribe's replay frame.
    let ids: Vec<u64> = (0..3)
        .map(|i| c.notify(Target::Partner(ADMIN_PARTNER), "a/b", json!(i)))
        .collect();
    let first = env
        .cmd()
        .args(["tail", "--json", "-n", "1", "--timeout", "10s"])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(
        parse(String::from_utf8_lossy(&first.stdout).trim())["id"],
        json!(ids[0])
    );
    let rest = env
        .cmd()
        .args(["tail", "--json", "--resume", "-n", "2", "--timeout", "10s"])
        .output()
        .unwrap();
    assert_eq!(
        rest.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rest.stderr)
    );
    let got: Vec<Value> = String::from_utf8_lossy(&rest.stdout)
        .lines()
        .map(|l| parse(l)["id"].clone())
        .collect();
    assert_eq!(got, [json!(ids[1]), json!(ids[2])]);
}
