//! The polling transport: the real `odoo-bus tail` (and `send --wait`) against an emulator whose
//! `/websocket` is refused the way proxies refuse it. What must hold: `auto` falls back and says
//! so once, polling delivers each notification exactly once and in id order (across restarts and
//! the switch back to the websocket), an expired session is exit 3, `websocket` never falls
//! back. No assertion depends on timing; the knobs only make the waits short.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use odoo_bus_emulator::{Faults, Target};
use serde_json::{Value, json};
use support::TestEnv;
use support::running::Running;

const ADMIN_PARTNER: i64 = 3;
const ADMIN_UID: i64 = 2;
const WAIT: Duration = Duration::from_secs(30);

fn env() -> TestEnv {
    let env = TestEnv::new();
    env.logged_in("admin");
    env
}

/// A proxy that answers the upgrade with its own 502 page.
fn refuse_websocket(env: &TestEnv) {
    env.control().set_faults(Faults {
        upgrade_status: Some((
            502,
            "text/html",
            "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
        )),
        ..Faults::default()
    });
}

fn tail(env: &TestEnv, args: &[&str]) -> Running {
    let mut cmd = env.std_cmd();
    cmd.arg("tail")
        .args(["--json", "-t", "poll/*", "--poll-interval", "100ms"])
        .args(args)
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms")
        .env("ODOO_BUS_CONNECT_TIMEOUT", "1s");
    Running::spawn(cmd)
}

fn notify(env: &TestEnv, n: u32) -> u64 {
    env.control()
        .notify(Target::Partner(ADMIN_PARTNER), "poll/n", json!(n))
}

fn ids(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["id"].as_u64().expect("an id")
        })
        .collect()
}

fn wait_polls(env: &TestEnv, n: u64) {
    assert!(
        env.control().wait_until(WAIT, |s, _| s.polls >= n),
        "expected {n} polls, saw {}",
        env.control().stats().polls
    );
}

/// Every expected id once, nothing else, in increasing order.
fn assert_exactly_once_in_order(printed: &[u64], expected: &[u64]) {
    let unique: HashSet<u64> = printed.iter().copied().collect();
    assert_eq!(unique.len(), printed.len(), "an id was printed twice");
    assert_eq!(printed, expected, "lost, extra or out of order");
}

#[test]
fn a_refused_upgrade_falls_back_to_polling_once_and_delivers_each_notification_once() {
    let env = env();
    refuse_websocket(&env);
    let t = tail(&env, &["-n", "30", "--timeout", "60s"]);
    wait_polls(&env, 1);
    let mut produced = Vec::new();
    for round in 0..3 {
        for i in 0..10 {
            produced.push(notify(&env, round * 10 + i));
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let done = t.wait(Duration::from_secs(70));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_exactly_once_in_order(&ids(&done.stdout), &produced);
    assert_eq!(
        done.stderr.matches("falling back to polling").count(),
        1,
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("HTTP 502"), "{}", done.stderr);
    assert_eq!(env.control().stats().handshakes, 0);
}

#[test]
fn a_handshake_that_never_completes_falls_back_too() {
    let env = env();
    env.control().set_faults(Faults {
        hang_handshake: true,
        ..Faults::default()
    });
    let t = tail(&env, &["-n", "1", "--timeout", "30s"]);
    wait_polls(&env, 1);
    let id = notify(&env, 1);
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(ids(&done.stdout), [id]);
    assert!(
        done.stderr.contains("never completed") && done.stderr.contains("falling back"),
        "{}",
        done.stderr
    );
}

#[test]
fn transport_websocket_never_falls_back() {
    let env = env();
    refuse_websocket(&env);
    let done = tail(&env, &["--transport", "websocket", "--timeout", "20s"]).wait(WAIT);
    assert_eq!(done.code, Some(4), "{}", done.stderr);
    assert!(done.stderr.contains("HTTP 502"), "{}", done.stderr);
    assert_eq!(env.control().stats().polls, 0);
}

#[test]
fn transport_poll_never_tries_the_websocket_and_the_profile_can_ask_for_it() {
    let env = env();
    let t = tail(
        &env,
        &["--transport", "poll", "-n", "2", "--timeout", "30s"],
    );
    wait_polls(&env, 1);
    let a = notify(&env, 1);
    let b = notify(&env, 2);
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(ids(&done.stdout), [a, b]);
    assert!(!done.stderr.contains("falling back"), "{}", done.stderr);
    let stats = env.control().stats();
    assert_eq!(stats.handshakes + stats.rejected_handshakes, 0);

    // The same from the profile's setting.
    let config = env.config_text().replace(
        "[profiles.default]",
        "[profiles.default]\ntransport = \"poll\"",
    );
    std::fs::write(env.config_path(), config).unwrap();
    let after = b.to_string();
    let t = tail(&env, &["-n", "1", "--timeout", "30s", "--after-id", &after]);
    wait_polls(&env, stats.polls + 1);
    let c = notify(&env, 3);
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(ids(&done.stdout), [c]);
    let stats = env.control().stats();
    assert_eq!(stats.handshakes + stats.rejected_handshakes, 0);
}

#[test]
fn a_bad_transport_in_the_profile_is_a_usage_error() {
    let env = env();
    let config = env.config_text().replace(
        "[profiles.default]",
        "[profiles.default]\ntransport = \"pigeon\"",
    );
    std::fs::write(env.config_path(), &config).unwrap();
    let out = env
        .cmd()
        .args(["tail", "--timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pigeon") && err.contains("auto, websocket or poll"),
        "{err}"
    );
    assert_eq!(env.config_text(), config, "the config is left as it was");
}

#[test]
fn polling_resumes_from_the_highest_id_across_a_restart() {
    let env = env();
    refuse_websocket(&env);
    let c = env.control();
    let t = tail(&env, &["-n", "20", "--timeout", "60s"]);
    wait_polls(&env, 1);
    let mut produced: Vec<u64> = (0..5).map(|i| notify(&env, i)).collect();
    std::thread::sleep(Duration::from_millis(300));
    c.restart(Duration::from_millis(500));
    // While the port is closed: these wait in the bus table for the next poll.
    produced.extend((5..15).map(|i| notify(&env, i)));
    let before = c.stats().polls;
    wait_polls(&env, before + 2);
    produced.extend((15..20).map(|i| notify(&env, i)));
    let done = t.wait(Duration::from_secs(70));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_exactly_once_in_order(&ids(&done.stdout), &produced);
    assert!(done.stderr.contains("polling again"), "{}", done.stderr);
}

#[test]
fn an_expired_session_while_polling_is_exit_3_without_a_retry_storm() {
    let env = env();
    refuse_websocket(&env);
    let c = env.control();
    let t = tail(&env, &["--timeout", "30s"]);
    wait_polls(&env, 2);
    c.invalidate_sessions(ADMIN_UID);
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    assert!(done.stderr.contains("session expired"), "{}", done.stderr);
    let polls = c.stats().polls;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.stats().polls, polls, "no poll after the exit");
}

#[test]
fn auto_switches_back_to_the_websocket_without_loss_or_duplicates() {
    let env = env();
    refuse_websocket(&env);
    let c = env.control();
    let mut cmd = env.std_cmd();
    cmd.arg("tail")
        .args(["--json", "-t", "poll/*", "--poll-interval", "100ms"])
        .args(["-n", "30", "--timeout", "60s"])
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms")
        .env("ODOO_BUS_CONNECT_TIMEOUT", "1s")
        .env("ODOO_BUS_WEBSOCKET_RETRY", "300ms");
    let t = Running::spawn(cmd);
    wait_polls(&env, 1);
    let mut produced: Vec<u64> = (0..10).map(|i| notify(&env, i)).collect();
    // Wait until those were polled, then let the proxy pass websockets again.
    let polled = c.stats().polls;
    wait_polls(&env, polled + 2);
    c.set_faults(Faults::default());
    assert!(c.wait_for_subscribes(1, WAIT), "never switched back");
    produced.extend((10..30).map(|i| notify(&env, i)));
    let done = t.wait(Duration::from_secs(70));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_exactly_once_in_order(&ids(&done.stdout), &produced);
    // The socket took over from where polling stopped.
    let subscribe = c
        .client_events()
        .into_iter()
        .find(|e| e.event_name == "subscribe")
        .expect("a subscribe");
    assert!(
        subscribe.data["last"].as_u64().unwrap() >= produced[9],
        "{subscribe:?}"
    );
    assert!(done.stderr.contains("reconnected to"), "{}", done.stderr);
}

#[test]
fn raw_output_while_polling_is_the_notifications_array_of_each_poll() {
    let env = env();
    refuse_websocket(&env);
    let mut cmd = env.std_cmd();
    cmd.args([
        "tail",
        "-o",
        "raw",
        "-t",
        "poll/*",
        "-n",
        "1",
        "--timeout",
        "30s",
    ])
    .env("ODOO_BUS_CONNECT_TIMEOUT", "1s");
    let t = Running::spawn(cmd);
    wait_polls(&env, 1);
    let id = notify(&env, 7);
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let line = done.stdout.join("\n");
    let parsed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let array = parsed.as_array().expect("a JSON array");
    assert!(array.iter().any(|n| n["id"].as_u64() == Some(id)), "{line}");
}

#[test]
fn send_wait_falls_back_to_polling() {
    let env = env();
    refuse_websocket(&env);
    let out = env
        .cmd()
        .args([
            "send",
            "--wait",
            "1",
            "hello by polling",
            "--poll-interval",
            "100ms",
        ])
        .env("ODOO_BUS_CONNECT_TIMEOUT", "1s")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("delivered in"), "{text}");
    assert!(err.contains("falling back to polling"), "stderr: {err}");
}

/// A restart behind a proxy: the websocket worked, then the proxy answers 502 while Odoo's
/// gevent process comes back. The tail polls meanwhile and is back on the websocket within
/// seconds (not after the 5 minutes between attempts when the upgrade never worked), with no
/// notification lost or repeated. No retry knob is set: the short first attempt is the default.
#[test]
fn a_websocket_refused_after_working_is_tried_again_within_seconds() {
    let env = env();
    let c = env.control();
    let mut cmd = env.std_cmd();
    cmd.arg("tail")
        .args(["--json", "-t", "poll/*", "--poll-interval", "100ms"])
        .args(["-n", "20", "--timeout", "60s"])
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms")
        .env("ODOO_BUS_CONNECT_TIMEOUT", "1s");
    let t = Running::spawn(cmd);
    assert!(c.wait_for_subscribes(1, WAIT), "never subscribed");
    let mut produced: Vec<u64> = (0..5).map(|i| notify(&env, i)).collect();
    refuse_websocket(&env);
    c.close_all(1012, "restart");
    wait_polls(&env, 1);
    produced.extend((5..10).map(|i| notify(&env, i)));
    let polled = c.stats().polls;
    wait_polls(&env, polled + 2);
    c.set_faults(Faults::default());
    assert!(
        c.wait_for_subscribes(2, Duration::from_secs(15)),
        "not back on the websocket 15 s after the proxy passed it again"
    );
    produced.extend((10..20).map(|i| notify(&env, i)));
    let done = t.wait(Duration::from_secs(70));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_exactly_once_in_order(&ids(&done.stdout), &produced);
    assert!(done.stderr.contains("reconnected to"), "{}", done.stderr);
}
