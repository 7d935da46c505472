//! `odoo-bus send` against the emulator: what gets posted (read back from the bus), the printed
//! id, the `--wait` round trip and its timeout, the error exits, and `--event`.

mod support;

use std::time::Duration;

use odoo_bus_emulator::{EmulatorConfig, Faults};
use serde_json::Value;
use support::TestEnv;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `send` and return the message id it printed.
fn send_ok(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> i64 {
    let mut cmd = env.cmd();
    cmd.arg("send").args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.ends_with('\n'), "{text:?}");
    text.trim_end()
        .parse()
        .unwrap_or_else(|_| panic!("stdout is the id alone: {text:?}"))
}

/// The `new_message` notifications of the last 50 s, as `tail` replays them: the body the
/// emulator stored for each message id.
fn posted_bodies(env: &TestEnv, count: usize) -> Vec<(i64, String)> {
    let out = env
        .cmd()
        .args([
            "tail",
            "-o",
            "ndjson",
            "--type",
            "discuss.channel/new_message",
        ])
        .args(["--count", &count.to_string(), "--timeout", "20s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|line| {
            let n: Value = serde_json::from_str(line).unwrap();
            let message = &n["payload"]["data"]["mail.message"][0];
            (
                message["id"].as_i64().unwrap(),
                message["body"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn text_is_escaped_and_the_new_id_is_printed() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let id = send_ok(
        &env,
        &["discuss.channel_1", "a < b & \"c\" 'd'\nsecond line\n"],
        None,
    );
    // Odoo's sanitiser re-serialises the body: a real 18.0 stores the quotes of text as plain
    // `"` and `'`, the emulator keeps `&quot;` and `&#x27;`; both show the same text. What must
    // hold either way: `<`, `>` and `&` arrive escaped and the line break is a `<br>` (the exact
    // escaping is unit-tested in odoo::discuss).
    let bodies = posted_bodies(&env, 1);
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].0, id);
    assert_eq!(
        bodies[0].1.replace("&quot;", "\"").replace("&#x27;", "'"),
        "<p>a &lt; b &amp; \"c\" 'd'<br>second line</p>"
    );
}

#[test]
fn stdin_html_and_ndjson_output() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let from_pipe = send_ok(&env, &["1"], Some("piped <text>\n"));
    let from_dash = send_ok(&env, &["discuss.channel_1", "-"], Some("dash\n"));
    let html = send_ok(
        &env,
        &["discuss.channel_1", "<b>bold</b> &amp; kept", "--html"],
        None,
    );
    let out = env
        .cmd()
        .args(["send", "1", "json please", "-o", "ndjson"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
    let json_id = v["message_id"].as_i64().expect("{\"message_id\":N}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");

    let bodies = posted_bodies(&env, 4);
    let body_of = |id: i64| {
        bodies
            .iter()
            .find(|(m, _)| *m == id)
            .map(|(_, b)| b.as_str())
            .unwrap_or_else(|| panic!("message {id} not on the bus: {bodies:?}"))
    };
    assert_eq!(body_of(from_pipe), "<p>piped &lt;text&gt;</p>");
    assert_eq!(body_of(from_dash), "<p>dash</p>");
    assert_eq!(body_of(html), "<p><b>bold</b> &amp; kept</p>");
    assert_eq!(body_of(json_id), "<p>json please</p>");
}

#[test]
fn wait_prints_the_round_trip_latency() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let out = env
        .cmd()
        .args(["send", "discuss.channel_1", "ping", "--wait"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    let rest = line
        .strip_prefix("message ")
        .and_then(|r| r.strip_suffix(" ms\n"))
        .unwrap_or_else(|| panic!("{line:?}"));
    let (id, latency) = rest.split_once(" delivered in ").expect("shape");
    let id: i64 = id.parse().unwrap();
    latency.parse::<u64>().unwrap();

    let out = env
        .cmd()
        .args(["send", "1", "pong", "--wait", "-o", "ndjson"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
    assert!(v["message_id"].as_i64().unwrap() > id, "{v}");
    assert!(v["latency_ms"].is_u64(), "{v}");

    // The bus was opened and subscribed to the channel before the post.
    let events = env.control().client_events();
    let subscribe = events
        .iter()
        .find(|e| e.event_name == "subscribe")
        .expect("a subscribe");
    assert_eq!(
        subscribe.data["channels"],
        serde_json::json!(["discuss.channel_1"])
    );
}

#[test]
fn wait_times_out_with_124_when_the_bus_never_delivers() {
    // No NOTIFY, and no replay window: should the post be handled before the subscribe, the
    // subscribe's own poll (last = 0, "the last 50 s") must not hand the message over either.
    let env = TestEnv::with_config(odoo_bus_emulator::EmulatorConfig {
        last0_window: std::time::Duration::ZERO,
        ..odoo_bus_emulator::EmulatorConfig::fast()
    });
    env.logged_in("admin");
    env.control().set_faults(Faults {
        no_dispatch: true,
        ..Faults::default()
    });
    let out = env
        .cmd()
        .args(["send", "1", "lost", "--wait", "--timeout", "1s"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(stdout(&out).is_empty());
    assert!(
        err.contains("was posted")
            && err.contains("never delivered it within 1s")
            && err.contains("the classic realtime failure this tool exists to expose")
            && err.contains("odoo-bus doctor"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn a_channel_that_is_missing_or_unreadable_is_named() {
    let env = TestEnv::new();
    env.logged_in("demo");
    for (channel, named) in [
        ("discuss.channel_999", "discuss.channel_999"),
        ("2", "discuss.channel_2"),
    ] {
        let out = env.cmd().args(["send", channel, "hi"]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("{named} does not exist"))
                && err.contains("user `demo` cannot read it"),
            "{err}"
        );
    }
    // A non-member may post in a readable public channel (measured on Odoo 18).
    send_ok(&env, &["discuss.channel_3", "hi sales"], None);
}

#[test]
fn usage_errors_send_nothing() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&["send", "1", "   "], None, "the message is empty"),
        (&["send", "1", "-"], Some("\n \n"), "the message is empty"),
        (&["send", "1", "--html", ""], None, "the message is empty"),
        (&["send", "general", "hi"], None, "discuss.channel_<id>"),
        (
            &["send", "discuss.channel_0", "hi"],
            None,
            "discuss.channel_<id>",
        ),
    ];
    for (args, stdin, reason) in cases {
        let mut cmd = env.cmd();
        cmd.args(*args);
        if let Some(input) = stdin {
            cmd.write_stdin(*input);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }
    // Invalid UTF-8 on stdin is a usage error too.
    let out = env
        .cmd()
        .args(["send", "1"])
        .write_stdin(vec![0xff, 0xfe, b'x'])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
    assert_eq!(
        env.control().stats().http_requests,
        0,
        "nothing reached the server"
    );
}

#[test]
fn an_expired_session_exits_3() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let admin = env.control().find_user("admin").unwrap();
    env.control().invalidate_sessions(admin.uid);
    for wait in [false, true] {
        let mut cmd = env.cmd();
        cmd.args(["send", "1", "hi"]);
        if wait {
            cmd.arg("--wait");
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "wait={wait}: {err}");
        assert!(err.contains("session expired"), "{err}");
    }
    assert_eq!(
        env.control().stats().handshakes,
        0,
        "no websocket for a dead session"
    );
}

#[test]
fn event_with_invalid_data_is_refused_before_connecting() {
    let env = TestEnv::new();
    env.logged_in("admin");
    for data in ["{", "{'single': 'quotes'}", ""] {
        let out = env
            .cmd()
            .args(["send", "--event", "update_presence", "--data", data])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{data:?}: {err}");
        assert!(
            err.contains("--data is not valid JSON") && err.contains("nothing was sent"),
            "{err}"
        );
    }
    let out = env
        .cmd()
        .args(["send", "--event", "x", "--wait"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(env.control().client_events().is_empty());
    let stats = env.control().stats();
    assert_eq!((stats.handshakes, stats.http_requests), (0, 0));
}

#[test]
fn event_update_presence_prints_the_presence_notification() {
    // fast() pings every 200 ms of silence and, as Odoo does, counts the PONGs against the
    // 10-frames-per-2-s limit: a socket held for 3 s would be closed with 1013 by its own pongs.
    let env = TestEnv::with_config(EmulatorConfig {
        idle_ping: Duration::from_secs(30),
        ..EmulatorConfig::fast()
    });
    env.logged_in("admin");
    env.cmd()
        .args(["subscribe", "odoo-presence-res.partner_3"])
        .assert()
        .success();
    // Recent traffic the subscribe will replay: not caused by the event, so not printed.
    let admin = env.control().find_user("admin").unwrap();
    env.control()
        .post_message(admin.uid, 1, "<p>before the event</p>");
    let out = env
        .cmd()
        .args([
            "send",
            "--event",
            "update_presence",
            "-o",
            "ndjson",
            "--listen",
            "3s",
        ])
        .args([
            "--data",
            r#"{"inactivity_period":0,"im_status_ids_by_model":{}}"#,
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let printed: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        printed
            .iter()
            .any(|n| n["type"] == "bus.bus/im_status_updated"
                && n["payload"]["partner_id"] == 3
                && n["payload"]["im_status"] == "online"),
        "{printed:?}"
    );
    assert!(
        printed
            .iter()
            .all(|n| n["type"] == "bus.bus/im_status_updated"),
        "the replay of the earlier post is not printed: {printed:?}"
    );
    assert!(!err.contains("no notification arrived"), "{err}");
    // The saved channels were subscribed first, then the event went out as given.
    let names: Vec<(String, Value)> = env
        .control()
        .client_events()
        .into_iter()
        .map(|e| (e.event_name, e.data))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0].0, "subscribe");
    assert_eq!(
        names[0].1["channels"],
        serde_json::json!(["odoo-presence-res.partner_3"])
    );
    assert_eq!(names[1].0, "update_presence");
    assert_eq!(
        names[1].1,
        serde_json::json!({"inactivity_period": 0, "im_status_ids_by_model": {}})
    );
}

#[test]
fn a_bogus_event_gets_the_silence_note() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let admin = env.control().find_user("admin").unwrap();
    env.control()
        .post_message(admin.uid, 1, "<p>replayed, not an answer</p>");
    let out = env
        .cmd()
        .args([
            "send", "--event", "whoami", "--data", "{}", "--listen", "300ms",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout(&out).is_empty());
    assert!(
        err.contains("no notification arrived within 300ms")
            && err.contains("Odoo never answers an event it rejects, so a typo in NAME or DATA looks exactly like this"),
        "{err}"
    );
    assert!(
        env.control()
            .wait_until(Duration::from_secs(5), |_, events| events
                .iter()
                .any(|e| e.event_name == "whoami")),
        "the event was sent"
    );
}

#[test]
fn update_presence_without_watching_oneself_explains_the_silence() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let out = env
        .cmd()
        .args(["send", "--event", "update_presence", "--listen", "300ms"])
        .args([
            "--data",
            r#"{"inactivity_period":0,"im_status_ids_by_model":{}}"#,
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        err.contains("no notification arrived")
            && err.contains("`odoo-bus subscribe odoo-presence-res.partner_7` to see it"),
        "{err}"
    );
}
