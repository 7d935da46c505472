//! Every scenario against every Odoo personality of the emulator: one list of versions times
//! one list of scenarios (the `matrix!` macro writes one test per pair, named
//! `<scenario>_<version>`), so a scenario is written once and a version added once.
//!
//! The scenarios are what a user does (login, status, subscribe, tail pretty and NDJSON with a
//! --type filter, send --wait, tail --presence, doctor, a restart mid-tail) and what each must
//! show whatever the version; the per-version expectations come from the client's own
//! [`odoo_bus_core::odoo::version::Flavor`] where the client decides, never from a copy here.

mod support;

use std::time::Duration;

use odoo_bus_core::odoo::version::Flavor;
use odoo_bus_emulator::OdooVersion;
use serde_json::Value;
use support::TestEnv;

const WAIT: Duration = Duration::from_secs(20);

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The client's flavor for an emulator personality (both spell the keys the same way).
fn flavor(v: OdooVersion) -> Flavor {
    match v {
        OdooVersion::V16 => Flavor::V16,
        OdooVersion::V17Early => Flavor::V17Early,
        OdooVersion::V17Late => Flavor::V17Late,
        OdooVersion::V18 => Flavor::V18,
        OdooVersion::V19 => Flavor::V19,
    }
}

fn env_as(v: OdooVersion, login: &str) -> TestEnv {
    let env = TestEnv::with_version(v);
    env.logged_in(login);
    env
}

fn login(v: OdooVersion) {
    let env = TestEnv::with_version(v);
    let out = env
        .cmd()
        .args([
            "login",
            &env.url(),
            "--db",
            &env.control().db(),
            "-u",
            "admin",
        ])
        .arg("--password-stdin")
        .write_stdin("admin\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{v:?}: {}", stderr(&out));
    let out = env.cmd().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{v:?}: {}", stderr(&out));
    let s: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(s["odoo_flavor"], flavor(v).key(), "{s}");
    assert_eq!(s["session_valid"], true, "{s}");
    // 16 and early 17 announce no worker version: none is saved, none is sent.
    assert_eq!(
        s["websocket_worker_version"].as_str(),
        v.websocket_worker_version(),
        "{s}"
    );
}

fn status(v: OdooVersion) {
    let env = env_as(v, "admin");
    let out = env.cmd().arg("status").output().unwrap();
    assert!(out.status.success(), "{v:?}: {}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("protocol"))
        .unwrap_or_else(|| panic!("no protocol row: {text}"));
    assert!(line.ends_with(flavor(v).label()), "{line}");
}

fn subscribe(v: OdooVersion) {
    let env = env_as(v, "admin");
    let out = env
        .cmd()
        .args(["subscribe", "mail.channel_1", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{v:?}: {}", stderr(&out));
    match flavor(v).channel_subscription(1) {
        // 16: said, not refused, and nothing saved.
        None => {
            assert!(stderr(&out).contains("by default"), "{}", stderr(&out));
            assert_eq!(stdout(&out), "");
        }
        Some(name) => assert_eq!(stdout(&out).trim(), name),
    }
}

/// Posts as demo in channel 1, then tails (the subscribe replays the last 50 s).
fn tail_with(v: OdooVersion, format: &str) -> String {
    let env = env_as(v, "admin");
    let demo = env.control().find_user("demo").unwrap();
    env.control()
        .post_message(demo.uid, 1, "<p>hello &amp; bye</p>");
    let out = env
        .cmd()
        .args(["tail", "-o", format, "--type", "*new_message"])
        .args([
            "--channel",
            "discuss.channel_1",
            "--count",
            "1",
            "--timeout",
            "20s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{v:?}: {}", stderr(&out));
    stdout(&out)
}

fn tail_ndjson(v: OdooVersion) {
    let text = tail_with(v, "ndjson");
    let n: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert!(
        n["type"].as_str().unwrap().ends_with("channel/new_message"),
        "{n}"
    );
    assert!(n["id"].is_u64(), "{n}");
}

fn tail_pretty(v: OdooVersion) {
    let text = tail_with(v, "pretty");
    assert!(text.contains(": hello & bye"), "{v:?}: {text}");
    assert!(!text.contains('{'), "summarised, not JSON: {text}");
}

fn send_wait(v: OdooVersion) {
    let env = env_as(v, "admin");
    for channel in ["mail.channel_1", "discuss.channel_1", "1"] {
        let out = env
            .cmd()
            .args(["send", channel, "ping", "--wait", "-o", "ndjson"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{v:?} {channel}: {}", stderr(&out));
        let r: Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
        assert!(r["message_id"].is_u64() && r["latency_ms"].is_u64(), "{r}");
    }
}

fn tail_presence(v: OdooVersion) {
    let env = env_as(v, "admin");
    let admin = env.control().find_user("admin").unwrap();
    let out = env
        .cmd()
        .args(["tail", "--presence", "-o", "ndjson", "--timeout", "2s"])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(124)),
        "{v:?}: {}",
        stderr(&out)
    );
    let events = env.control().client_events();
    let sent = events
        .iter()
        .find(|e| e.event_name == "update_presence")
        .expect("update_presence sent");
    let want: Value =
        serde_json::from_str(&flavor(v).update_presence_event(0, &[admin.partner_id])).unwrap();
    assert_eq!(sent.data, want["data"], "{v:?}");
    let subscribe = events.iter().find(|e| e.event_name == "subscribe").unwrap();
    let own = flavor(v).presence_channel(admin.partner_id);
    let channels = subscribe.data["channels"].as_array().unwrap();
    assert_eq!(
        channels
            .iter()
            .any(|c| Some(c.as_str().unwrap()) == own.as_deref()),
        own.is_some(),
        "{v:?}: {channels:?}"
    );
}

fn doctor(v: OdooVersion) {
    let env = env_as(v, "admin");
    let out = env
        .cmd()
        .arg("doctor")
        .env("ODOO_BUS_DOCTOR_DELIVERY", "5s")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{v:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains(flavor(v).label()), "{}", stdout(&out));
}

fn restart_mid_tail(v: OdooVersion) {
    let env = env_as(v, "admin");
    let c = env.control();
    let demo = c.find_user("demo").unwrap();
    let mut cmd = env.std_cmd();
    cmd.args([
        "tail",
        "--json",
        "--type",
        "*new_message",
        "-n",
        "3",
        "--timeout",
        "30s",
    ])
    .env("ODOO_BUS_RECONNECT_DELAY", "20ms");
    let t = support::running::Running::spawn(cmd);
    assert!(c.wait_for_subscribes(1, WAIT), "the tail never subscribed");
    let a = c.post_message(demo.uid, 1, "<p>a</p>");
    let first = t.next_line(WAIT).expect("the first message");
    let message_id = |l: &str| {
        let n: Value = serde_json::from_str(l).ok()?;
        odoo_bus_core::odoo::version::new_message(&n["payload"])?.message_id
    };
    assert_eq!(message_id(&first), Some(a), "{first}");
    c.restart(Duration::from_millis(300));
    let b = c.post_message(demo.uid, 1, "<p>b</p>");
    assert!(c.wait_for_subscribes(2, WAIT), "no reconnect");
    let d = c.post_message(demo.uid, 1, "<p>d</p>");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{v:?}: {}", done.stderr);
    let ids: Vec<i64> = done.stdout.iter().filter_map(|l| message_id(l)).collect();
    assert_eq!(ids, [b, d], "{v:?}: each message exactly once after {a}");
}

/// `matrix!(scenario, ...)`: one test per scenario and version.
macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {
        mod matrix {
            $(
                mod $scenario {
                    use odoo_bus_emulator::OdooVersion;
                    #[test] fn v16() { super::super::$scenario(OdooVersion::V16) }
                    #[test] fn v17_early() { super::super::$scenario(OdooVersion::V17Early) }
                    #[test] fn v17_late() { super::super::$scenario(OdooVersion::V17Late) }
                    #[test] fn v18() { super::super::$scenario(OdooVersion::V18) }
                    #[test] fn v19() { super::super::$scenario(OdooVersion::V19) }
                }
            )*
        }
    };
}

matrix!(
    login,
    status,
    subscribe,
    tail_ndjson,
    tail_pretty,
    send_wait,
    tail_presence,
    doctor,
    restart_mid_tail,
);

#[test]
fn the_matrix_covers_every_personality() {
    // The macro lists the versions by hand: fail when the emulator gains one.
    assert_eq!(OdooVersion::ALL.len(), 5);
    assert_eq!(Flavor::ALL.len(), 5);
}

/// 19 renews the session id (every 3 h on a real server; 1 s here) and sends the new one on
/// whatever answer comes next; the old one dies after a grace period. A tail that reconnects
/// after that must have saved the new one (mode 0600) and carry on as the user.
#[test]
fn a_long_tail_survives_19s_session_rotation() {
    use std::os::unix::fs::PermissionsExt;
    let cfg = odoo_bus_emulator::EmulatorConfig {
        session_rotation: Some(Duration::from_millis(500)),
        session_rotation_grace: Duration::from_millis(300),
        ..odoo_bus_emulator::EmulatorConfig::fast().with_version(OdooVersion::V19)
    };
    let env = TestEnv::with_config(cfg);
    let first = env.logged_in("admin");
    let c = env.control();
    let demo = c.find_user("demo").unwrap();
    let mut cmd = env.std_cmd();
    cmd.args([
        "tail",
        "--json",
        "--type",
        "*new_message",
        "-n",
        "1",
        "--timeout",
        "30s",
    ])
    .env("ODOO_BUS_RECONNECT_DELAY", "20ms");
    let t = support::running::Running::spawn(cmd);
    assert!(c.wait_for_subscribes(1, WAIT), "the tail never subscribed");
    std::thread::sleep(Duration::from_millis(800));
    // The reconnect's session check is the first answer after the rotation time.
    c.restart(Duration::from_millis(200));
    assert!(c.wait_for_subscribes(2, WAIT), "no reconnect");
    let posted = c.post_message(demo.uid, 1, "<p>after rotation</p>");
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let got = done.stdout.first().and_then(|l| {
        let n: Value = serde_json::from_str(l).ok()?;
        odoo_bus_core::odoo::version::new_message(&n["payload"])?.message_id
    });
    assert_eq!(got, Some(posted), "{:?}", done.stdout);
    let text = env.config_text();
    let saved = text
        .lines()
        .find_map(|l| l.strip_prefix("session_id = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a saved session");
    assert_ne!(saved, first.expose(), "the rotated session was not saved");
    assert!(
        c.session_is_valid(saved),
        "the saved session is the live one"
    );
    let mode = std::fs::metadata(env.config_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
