//! Fault injection: the real `odoo-bus tail` against an emulator that misbehaves the way broken
//! servers, proxies and networks do. What must hold every time: nothing lost, nothing printed
//! twice, bounded memory, the documented exit code. No assertion depends on timing; the knobs
//! (`ODOO_BUS_RECONNECT_DELAY`, `ODOO_BUS_WATCHDOG`, `ODOO_BUS_CONNECT_TIMEOUT`) only make the
//! waits short.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use odoo_bus_emulator::{Faults, Frame, Target};
use serde_json::{Value, json};
use support::TestEnv;
use support::running::Running;

const ADMIN_PARTNER: i64 = 3;
const ADMIN_UID: i64 = 2;
const WAIT: Duration = Duration::from_secs(30);
/// Peak resident memory allowed to a tail that handled a 5 MB frame or a blocked stdout. A
/// release build idles at about 10 MB; the bound is generous on purpose (no benchmark here).
const MEMORY_BOUND: u64 = 100 << 20;

fn env() -> TestEnv {
    let env = TestEnv::new();
    env.logged_in("admin");
    env
}

/// `odoo-bus tail ARGS` with fast reconnects and a short connect timeout.
fn tail_cmd(env: &TestEnv, args: &[&str]) -> std::process::Command {
    let mut cmd = env.std_cmd();
    cmd.arg("tail")
        .args(args)
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms")
        .env("ODOO_BUS_CONNECT_TIMEOUT", "1s");
    cmd
}

fn tail(env: &TestEnv, args: &[&str]) -> Running {
    Running::spawn(tail_cmd(env, args))
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn ids<S: AsRef<str>>(lines: &[S]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| parse(l.as_ref())["id"].as_u64().expect("an id"))
        .collect()
}

fn subscribes(env: &TestEnv) -> Vec<Value> {
    env.control()
        .client_events()
        .into_iter()
        .filter(|e| e.event_name == "subscribe")
        .map(|e| e.data)
        .collect()
}

fn wait_subscribed(env: &TestEnv, n: usize) {
    assert!(
        env.control().wait_for_subscribes(n, WAIT),
        "expected {n} subscribes, saw {}",
        subscribes(env).len()
    );
}

fn notify(env: &TestEnv, n: u32) -> u64 {
    env.control()
        .notify(Target::Partner(ADMIN_PARTNER), "fault/n", json!(n))
}

/// Read stdout lines until the notification `id` shows up (others may come first: presence
/// changes the emulator announces on connect and disconnect).
fn wait_for_id(t: &Running, id: u64) {
    let needle = format!("\"id\":{id},");
    while let Some(line) = t.next_line(WAIT) {
        if line.contains(&needle) {
            return;
        }
    }
    panic!("id {id} never arrived; stderr:\n{}", t.stderr_so_far());
}

fn assert_once_each(printed: &[u64], expected: &[u64]) {
    let unique: HashSet<u64> = printed.iter().copied().collect();
    assert_eq!(unique.len(), printed.len(), "an id was printed twice");
    let expected: HashSet<u64> = expected.iter().copied().collect();
    let lost: Vec<_> = expected.difference(&unique).collect();
    assert!(lost.is_empty(), "ids lost: {lost:?}");
    let extra: Vec<_> = unique.difference(&expected).collect();
    assert!(extra.is_empty(), "unexpected ids: {extra:?}");
}

// ------------------------------------------------------------------------------------------------
// A handshake that never completes
// ------------------------------------------------------------------------------------------------

#[test]
fn a_server_that_never_answers_the_first_handshake_is_exit_4_after_the_connect_timeout() {
    let env = env();
    env.control().set_faults(Faults {
        hang_handshake: true,
        ..Faults::default()
    });
    // `--transport websocket`: the default (auto) polls instead (tests/poll.rs).
    let done = tail(&env, &["--json", "--transport", "websocket"]).wait(WAIT);
    assert_eq!(done.code, Some(4), "{}", done.stderr);
    assert!(
        done.stderr.contains("timed out while connecting"),
        "{}",
        done.stderr
    );
    assert!(done.stdout.is_empty());
}

#[test]
fn the_connect_timeout_knob_is_checked() {
    let env = env();
    let out = env
        .cmd()
        .args(["tail", "--timeout", "1s"])
        .env("ODOO_BUS_CONNECT_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ODOO_BUS_CONNECT_TIMEOUT"), "{err}");
}

#[test]
fn a_hanging_handshake_after_a_disconnect_is_retried_until_the_server_answers_again() {
    let env = env();
    let c = env.control();
    let mut t = tail(&env, &["--json", "--transport", "websocket"]);
    wait_subscribed(&env, 1);
    let before = notify(&env, 1);
    wait_for_id(&t, before);

    c.set_faults(Faults {
        hang_handshake: true,
        ..Faults::default()
    });
    c.restart(Duration::from_millis(100));
    // Posted while every handshake hangs: must arrive once the server answers again.
    let during = notify(&env, 2);
    // Several attempts time out (1 s each) and the process keeps going.
    let mut timeouts = 0;
    for _ in 0..200 {
        timeouts = t
            .stderr_so_far()
            .matches("timed out while connecting")
            .count();
        if timeouts >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(timeouts >= 2, "{}", t.stderr_so_far());
    assert!(t.is_running(), "tail gave up while the server hung");
    assert_eq!(
        subscribes(&env).len(),
        1,
        "no handshake got through yet: {}",
        t.stderr_so_far()
    );

    c.set_faults(Faults::default());
    wait_subscribed(&env, 2);
    let resumed = subscribes(&env)[1]["last"].as_u64().unwrap();
    assert!(
        before <= resumed && resumed < during,
        "resumed after {resumed}"
    );
    wait_for_id(&t, during);
    t.signal("INT");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    assert!(done.stderr.contains("reconnected"), "{}", done.stderr);
}

// ------------------------------------------------------------------------------------------------
// A connection that goes silent
// ------------------------------------------------------------------------------------------------

#[test]
fn a_silent_connection_is_declared_dead_by_the_watchdog_and_resumed() {
    let env = env();
    let c = env.control();
    c.set_faults(Faults {
        no_pings: true,
        ..Faults::default()
    });
    let mut cmd = tail_cmd(&env, &["--json"]);
    cmd.env("ODOO_BUS_WATCHDOG", "700ms");
    let t = Running::spawn(cmd);
    wait_subscribed(&env, 1);
    let first = notify(&env, 1);
    wait_for_id(&t, first);
    // Nothing more is sent, not even a ping: the watchdog must reconnect, resuming after `first`.
    wait_subscribed(&env, 2);
    let resumed = subscribes(&env)[1]["last"].as_u64().unwrap();
    assert!(resumed >= first, "resumed after {resumed}");
    let second = notify(&env, 2);
    wait_for_id(&t, second);
    t.signal("INT");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    assert!(
        done.stderr.contains("nothing received for"),
        "{}",
        done.stderr
    );
}

// ------------------------------------------------------------------------------------------------
// Big frames, many frames
// ------------------------------------------------------------------------------------------------

#[test]
fn a_5_mb_frame_is_printed_intact_with_bounded_memory() {
    let env = env();
    let c = env.control();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    // A valid batch whose payload is 5 MB of varied text, escapes included.
    let chunk = "caf\\u00e9 \\ud83d\\ude00 <p>x</p> \\\"quoted\\\" ";
    let body: String = chunk.repeat(5_000_000 / chunk.len() + 1);
    let payload = format!("{{\"body\": \"{body}\", \"n\": [1, 2.5, null, true]}}");
    assert!(payload.len() >= 5_000_000);
    let id = c.max_id() + 1_000;
    let frame = format!(
        "[{{\"id\": {id}, \"message\": {{\"type\": \"big/frame\", \"payload\": {payload}}}}}]"
    );
    c.inject_frame(Frame::Text(frame));
    let line = std::iter::from_fn(|| t.next_line(WAIT))
        .find(|l| l.contains("big/frame"))
        .expect("the big frame is printed");
    let expected = format!("{{\"id\":{id},\"type\":\"big/frame\",\"payload\":{payload}}}");
    assert!(
        line == expected,
        "the payload was altered ({} bytes printed, {} expected)",
        line.len(),
        expected.len()
    );
    let peak = t.peak_rss();
    eprintln!("5 MB frame: peak RSS {} MB", peak >> 20);
    assert!(peak < MEMORY_BOUND, "peak RSS {} MB", peak >> 20);
    // Still streaming afterwards.
    let next = notify(&env, 1);
    wait_for_id(&t, next);
    t.signal("INT");
    assert_eq!(t.wait(WAIT).code, Some(130));
}

#[test]
fn a_burst_of_10_000_frames_is_printed_exactly_once() {
    let env = env();
    let t = tail(&env, &["--json", "-n", "10000", "--timeout", "120s"]);
    wait_subscribed(&env, 1);
    let sent = env
        .control()
        .flood(Target::Partner(ADMIN_PARTNER), 10_000, 1, 16, 0.0);
    assert_eq!(sent.sockets, 1);
    let done = t.wait(Duration::from_secs(150));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let expected: Vec<u64> = (sent.first_id..=sent.last_id).collect();
    let printed = ids(&done.stdout);
    assert_once_each(&printed, &expected);
    assert_eq!(printed, expected, "a burst on one socket arrives in order");
}

// ------------------------------------------------------------------------------------------------
// Every close code of the protocol notes (§2.8)
// ------------------------------------------------------------------------------------------------

/// The delay the tail announced in its last "disconnected: …; reconnecting in D" line.
fn announced_delay(stderr: &str) -> Duration {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("disconnected:"))
        .unwrap_or_else(|| panic!("no disconnect line in:\n{stderr}"));
    let text = line
        .rsplit("reconnecting in ")
        .next()
        .unwrap_or_else(|| panic!("no delay in {line}"));
    humantime::parse_duration(text.trim()).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Close the tail's socket with `code` (1006: drop TCP without a close frame) and return what
/// the tail printed on stderr about it, once it has subscribed again.
fn close_and_resubscribe(
    env: &TestEnv,
    t: &Running,
    code: u16,
    subscribes_before: usize,
) -> String {
    if code == 1006 {
        env.control().drop_all();
    } else {
        env.control().close_all(code, "");
    }
    wait_subscribed(env, subscribes_before + 1);
    t.stderr_so_far()
}

#[test]
fn every_reconnecting_close_code_reconnects_and_resumes_after_the_last_id() {
    // 4002 reconnects at once (only jitter: below the 20 ms initial delay); every other code and
    // a TCP drop back off (at least 1.5 × 20 ms). All resume after the highest id seen.
    let env = env();
    let c = env.control();
    let t = tail(&env, &["--json"]);
    wait_subscribed(&env, 1);
    let mut expected = Vec::new();
    let codes = [
        1001, 1002, 1003, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4001, 4002, 4003,
    ];
    for (k, code) in codes.into_iter().enumerate() {
        let id = notify(&env, k as u32);
        expected.push(id);
        wait_for_id(&t, id);
        let stderr = close_and_resubscribe(&env, &t, code, k + 1);
        let delay = announced_delay(&stderr);
        if code == 4002 {
            assert!(delay < Duration::from_millis(20), "{code}: {delay:?}");
        } else {
            assert!(delay >= Duration::from_millis(30), "{code}: {delay:?}");
        }
        let resumed = subscribes(&env).pop().unwrap()["last"].as_u64().unwrap();
        assert!(resumed >= id, "after close {code}: resumed after {resumed}");
    }
    let id = notify(&env, 99);
    expected.push(id);
    wait_for_id(&t, id);
    t.signal("INT");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    let disconnects = done.stderr.matches("disconnected:").count();
    assert_eq!(disconnects, codes.len(), "{}", done.stderr);
    // 4001 asked the server first (one session check over HTTP) and found the session valid.
    assert!(
        done.stderr.contains("the session is still valid"),
        "{}",
        done.stderr
    );
    assert!(c.session_is_valid(&c.current_session_ids(ADMIN_UID)[0]));
}

#[test]
fn close_1000_ends_with_0_outdated_with_1_and_4001_with_an_expired_session_with_3() {
    let env = env();
    let c = env.control();
    for (code, reason, exit) in [(1000, "", 0), (1000, "OUTDATED_VERSION", 1)] {
        let t = tail(&env, &["--json"]);
        let n = subscribes(&env).len();
        wait_subscribed(&env, n + 1);
        c.close_all(code, reason);
        let done = t.wait(WAIT);
        assert_eq!(done.code, Some(exit), "{code} {reason}: {}", done.stderr);
    }
    let t = tail(&env, &["--json"]);
    let n = subscribes(&env).len();
    wait_subscribed(&env, n + 1);
    c.invalidate_sessions(ADMIN_UID);
    c.close_all(4001, "");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    assert_eq!(
        subscribes(&env).len(),
        n + 1,
        "no reconnect after 4001 + expired"
    );
}

// ------------------------------------------------------------------------------------------------
// A server restarted again and again
// ------------------------------------------------------------------------------------------------

#[test]
fn twenty_restarts_lose_nothing_repeat_nothing_and_never_end_the_tail() {
    let env = env();
    let c = env.control();
    const RESTARTS: usize = 20;
    const PER_ROUND: u32 = 5;
    let total = (RESTARTS as u32 + 1) * PER_ROUND * 2;
    let total_arg = total.to_string();
    let mut t = tail(&env, &["--json", "-n", &total_arg, "--timeout", "170s"]);
    wait_subscribed(&env, 1);
    let mut produced = Vec::new();
    for round in 0..RESTARTS {
        for i in 0..PER_ROUND {
            produced.push(notify(&env, i));
        }
        c.restart(Duration::from_millis(400));
        // While the port is closed: these wait in the bus table for the resubscribe.
        for i in 0..PER_ROUND {
            produced.push(notify(&env, 100 + i));
        }
        wait_subscribed(&env, round + 2);
        assert!(
            t.is_running(),
            "the tail ended during restart {}",
            round + 1
        );
    }
    for i in 0..PER_ROUND * 2 {
        produced.push(notify(&env, 1000 + i));
    }
    let done = t.wait(Duration::from_secs(180));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(produced.len(), total as usize);
    assert_once_each(&ids(&done.stdout), &produced);
    assert!(
        done.stderr.matches("reconnected").count() >= RESTARTS,
        "{}",
        done.stderr
    );
}

// ------------------------------------------------------------------------------------------------
// A reader that stops reading
// ------------------------------------------------------------------------------------------------

#[test]
fn a_blocked_stdout_holds_the_server_back_without_growing_memory_or_dropping_anything() {
    let env = env();
    let mut t = Running::spawn_raw(tail_cmd(&env, &["--json"]));
    wait_subscribed(&env, 1);
    // About 40 MB of NDJSON, far more than the pipe (64 KB) and the socket buffers hold.
    let sent = env
        .control()
        .flood(Target::Partner(ADMIN_PARTNER), 20_000, 2, 1000, 0.2);
    assert_eq!(sent.sockets, 1);
    // Nobody reads stdout for a while: the tail must wait, not buffer it all.
    std::thread::sleep(Duration::from_secs(3));
    assert!(t.is_running());
    let peak_blocked = t.peak_rss();

    let mut out = BufReader::new(t.take_stdout());
    let expected: Vec<u64> = (sent.first_id..=sent.last_id).collect();
    let mut printed = Vec::with_capacity(expected.len());
    let mut line = String::new();
    while printed.len() < expected.len() {
        line.clear();
        let n = out.read_line(&mut line).expect("stdout readable");
        assert!(n > 0, "stdout closed after {} lines", printed.len());
        printed.push(parse(&line)["id"].as_u64().unwrap());
    }
    let peak = t.peak_rss();
    eprintln!(
        "blocked stdout: {} MB sent, peak RSS {} MB while blocked, {} MB after",
        sent.bytes >> 20,
        peak_blocked >> 20,
        peak >> 20
    );
    assert!(
        peak_blocked < MEMORY_BOUND && peak < MEMORY_BOUND,
        "peak RSS {} MB while blocked, {} MB after ({} MB were sent)",
        peak_blocked >> 20,
        peak >> 20,
        sent.bytes >> 20
    );
    assert_once_each(&printed, &expected);
    assert_eq!(subscribes(&env).len(), 1, "the server never had to drop us");
    t.signal("INT");
    drop(out);
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
}

#[test]
fn a_blocked_stdout_does_not_stop_sigterm_or_the_timeout() {
    let env = env();
    for (signal, args, code) in [
        (Some("TERM"), &["--json"][..], 143),
        (Some("INT"), &["--json"][..], 130),
        (None, &["--json", "--timeout", "5s"][..], 0),
    ] {
        let mut t = Running::spawn_raw(tail_cmd(&env, args));
        let n = subscribes(&env).len();
        wait_subscribed(&env, n + 1);
        let sent = env
            .control()
            .flood(Target::Partner(ADMIN_PARTNER), 2_000, 2, 1000, 0.0);
        assert_eq!(sent.sockets, 1);
        // Nobody reads: the tail is stuck writing to stdout.
        std::thread::sleep(Duration::from_secs(1));
        assert!(t.is_running());
        if let Some(name) = signal {
            t.signal(name);
        }
        let _stdout = t.take_stdout(); // kept open (unread) until the process is gone
        let done = t.wait(WAIT);
        assert_eq!(done.code, Some(code), "{signal:?}: {}", done.stderr);
    }
}

#[test]
fn after_a_stuck_stdout_and_ctrl_c_resume_skips_nothing_unwritten() {
    // A paused `| less`, then Ctrl-C: what the tail received but never got written must not be
    // skipped by `--resume`. Lines of the write that was in progress when the process ended may
    // have reached the pipe unrecorded: those (at most 16 KiB of whole frames) may come again.
    let env = env();
    let mut t = Running::spawn_raw(tail_cmd(&env, &["--json"]));
    let mut stdout = BufReader::new(t.take_stdout());
    wait_subscribed(&env, 1);
    // One notification per frame (each waits for the last to go out): a frame is what the
    // saved position follows.
    let c = env.control();
    let body = "x".repeat(8_000);
    let send = |n: usize| {
        let before = c.stats().frames_sent;
        let id = c.notify(
            Target::Partner(ADMIN_PARTNER),
            "fault/n",
            json!({"n": n, "body": body}),
        );
        c.wait_until(Duration::from_secs(2), |s, _| s.frames_sent > before);
        id
    };
    let mut sent = vec![send(0)];
    // The first line proves the pipeline works; from here on nobody reads.
    let mut written = Vec::new();
    stdout.read_until(b'\n', &mut written).unwrap();
    // 1.6 MB in all: far more than the pipe (64 KB) and the tail's own queue hold, so the tail
    // gets stuck part way. The pause only lets it take in what it can; what is checked below
    // holds however far it got.
    sent.extend((1..200).map(send));
    std::thread::sleep(Duration::from_secs(1));
    assert!(t.is_running());
    t.signal("INT");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    std::io::Read::read_to_end(&mut stdout, &mut written).unwrap();
    // A line cut by the exit is not a notification the reader got.
    let text = String::from_utf8_lossy(&written);
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let first = ids(&whole.lines().collect::<Vec<_>>());
    assert!(
        !first.is_empty() && first.len() < sent.len(),
        "the tail should have been stuck part way: {} lines",
        first.len()
    );
    assert_eq!(first, sent[..first.len()]);
    let saved: u64 = env
        .config_text()
        .lines()
        .find_map(|l| l.strip_prefix("last_id = "))
        .unwrap_or_else(|| panic!("no position saved: {}", done.stderr))
        .parse()
        .unwrap();
    let resumed_from = sent.iter().position(|&id| id == saved).unwrap() + 1;
    // Never past what was written; behind it by one write of at most 16 KiB of whole frames
    // (two 8 KB lines; four if the server ever put two notifications in one frame).
    assert!(
        resumed_from <= first.len() && first.len() - resumed_from <= 4,
        "saved {saved} (line {resumed_from}), written {} lines",
        first.len()
    );

    let rest = sent.len() - resumed_from;
    let out = env
        .cmd()
        .args(["tail", "--json", "--resume", "--timeout", "20s", "-n"])
        .arg(rest.to_string())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = ids(&String::from_utf8_lossy(&out.stdout)
        .lines()
        .collect::<Vec<_>>());
    assert_eq!(second, sent[resumed_from..], "resume lost lines");
}
