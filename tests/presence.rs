//! `tail --presence-of`: one person's presence on every version. 16 and early 17 are asked with
//! `update_presence` naming the partner (their web client's way, answered on the asker's own
//! partner channel); late 17 and later push `bus.bus/im_status_updated` on the partner's
//! presence channel. Either way: the current status first (`odoo-bus/presence`, read over
//! JSON-RPC), then one line per change, and names are resolved to partners.

mod support;

use std::time::Duration;

use odoo_bus_emulator::OdooVersion;
use serde_json::Value;
use support::TestEnv;

const LINE: Duration = Duration::from_secs(15);

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// `tail --presence-of 'Marc Demo' -o ndjson -n COUNT` (30 s at most), with one knob set.
fn follow_marc_demo(env: &TestEnv, count: u32, knob: (&str, &str)) -> support::running::Running {
    let mut cmd = env.std_cmd();
    cmd.args(["tail", "--presence-of", "Marc Demo", "-o", "ndjson"])
        .args(["-n", &count.to_string(), "--timeout", "30s"])
        .env(knob.0, knob.1);
    support::running::Running::spawn(cmd)
}

/// Follows demo by name as admin; demo goes online, then away, then offline. Returns the lines.
fn follow_demo(v: OdooVersion) -> (Vec<Value>, TestEnv) {
    let env = TestEnv::with_version(v);
    env.logged_in("admin");
    let demo = env.control().find_user("demo").unwrap();
    let run = follow_marc_demo(&env, 4, ("ODOO_BUS_PRESENCE_EVERY", "200ms"));
    let mut lines = Vec::new();
    let first = run
        .next_line(LINE)
        .expect("a first line: the current status");
    lines.push(json(&first));
    for status in ["online", "away", "offline"] {
        // Let the subscribe (late 17 on) land before the change is pushed.
        std::thread::sleep(Duration::from_millis(400));
        env.control().set_presence(demo.uid, status);
        let line = run
            .next_line(LINE)
            .unwrap_or_else(|| panic!("{v:?}: no line after {status}: {}", run.stderr_so_far()));
        lines.push(json(&line));
    }
    let done = run.wait(LINE);
    assert_eq!(done.code, Some(0), "{v:?}: {}", done.stderr);
    // Changes only: nothing but the four lines.
    assert!(done.stdout.is_empty(), "{v:?}: {:?}", done.stdout);
    for l in &lines[..1] {
        assert_eq!(l["type"], "odoo-bus/presence", "{v:?}: {l}");
        assert_eq!(l["partner_id"], demo.partner_id, "{v:?}: {l}");
        assert_eq!(l["name"], "Marc Demo");
        assert_eq!(l["im_status"], "offline");
    }
    (lines, env)
}

/// The status each later line says, whatever the version's shape.
fn statuses(lines: &[Value]) -> Vec<String> {
    lines[1..]
        .iter()
        .map(|l| {
            let p = &l["payload"];
            p["im_status"]
                .as_str()
                .or(p["partners"][0]["im_status"].as_str())
                .or(p["Persona"][0]["im_status"].as_str())
                .unwrap_or_else(|| panic!("no status in {l}"))
                .to_string()
        })
        .collect()
}

#[test]
fn on_16_the_partner_is_asked_for_every_period_and_changes_print() {
    let (lines, env) = follow_demo(OdooVersion::V16);
    for l in &lines[1..] {
        assert_eq!(l["type"], "bus/im_status", "{l}");
    }
    assert_eq!(statuses(&lines), ["online", "away", "offline"]);
    let asks: Vec<_> = env
        .control()
        .client_events()
        .into_iter()
        .filter(|e| e.event_name == "update_presence")
        .collect();
    assert!(asks.len() >= 3, "asked {} times", asks.len());
    for a in &asks {
        assert_eq!(
            a.data["im_status_ids_by_model"]["res.partner"],
            serde_json::json!([7])
        );
    }
    // No presence channel on 16.
    let subscribe = env
        .control()
        .client_events()
        .into_iter()
        .find(|e| e.event_name == "subscribe")
        .unwrap();
    assert!(
        !subscribe.data.to_string().contains("odoo-presence"),
        "{}",
        subscribe.data
    );
}

#[test]
fn on_early_17_the_answers_are_persona_inserts() {
    let (lines, _env) = follow_demo(OdooVersion::V17Early);
    for l in &lines[1..] {
        assert_eq!(l["type"], "mail.record/insert", "{l}");
    }
    assert_eq!(statuses(&lines), ["online", "away", "offline"]);
}

#[test]
fn on_18_and_19_the_presence_channel_is_subscribed_and_nothing_is_asked() {
    for v in [OdooVersion::V17Late, OdooVersion::V18, OdooVersion::V19] {
        let (lines, env) = follow_demo(v);
        for l in &lines[1..] {
            assert_eq!(l["type"], "bus.bus/im_status_updated", "{v:?}: {l}");
        }
        assert_eq!(statuses(&lines), ["online", "away", "offline"], "{v:?}");
        let events = env.control().client_events();
        let subscribe = events.iter().find(|e| e.event_name == "subscribe").unwrap();
        assert!(
            subscribe.data["channels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "odoo-presence-res.partner_7"),
            "{v:?}: {}",
            subscribe.data
        );
        assert!(
            !events.iter().any(|e| e.event_name == "update_presence"),
            "{v:?}: the watcher's own presence is not touched"
        );
    }
}

#[test]
fn pretty_says_who_and_an_id_works_too() {
    let env = TestEnv::with_version(OdooVersion::V18);
    env.logged_in("admin");
    let out = env
        .cmd()
        .args(["tail", "--presence-of", "7", "-o", "pretty", "-n", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" - odoo-bus/presence") && stdout.contains("Marc Demo is offline"),
        "a line of odoo-bus's own shows `-` where Odoo's lines show the bus id: {stdout}"
    );
    // A --type filter that excludes the first line leaves it out.
    let out = env
        .cmd()
        .args([
            "tail",
            "--presence-of",
            "7",
            "-o",
            "ndjson",
            "-x",
            "odoo-bus/*",
            "--timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unknown_and_ambiguous_names_are_usage_errors() {
    let env = TestEnv::with_version(OdooVersion::V16);
    env.logged_in("admin");
    for (who, says) in [
        (
            "Nobody Here",
            "no user's partner has a name containing that",
        ),
        ("m", "is ambiguous: Marc Demo (7), Mitchell Admin (3)"),
        ("999", "no partner with that id"),
    ] {
        let out = env
            .cmd()
            .args(["tail", "--presence-of", who, "--timeout", "5s"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{who}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_change_during_an_outage_is_read_again_after_the_reconnect() {
    // The bus forgets the push before the client is back: only reading again can tell.
    let env = TestEnv::with_config(odoo_bus_emulator::EmulatorConfig {
        retention: Duration::from_millis(300),
        ..odoo_bus_emulator::EmulatorConfig::fast().with_version(OdooVersion::V18)
    });
    env.logged_in("admin");
    let demo = env.control().find_user("demo").unwrap();
    let run = follow_marc_demo(&env, 3, ("ODOO_BUS_RECONNECT_DELAY", "200ms"));
    let first = json(&run.next_line(LINE).expect("the current status"));
    assert_eq!(first["im_status"], "offline");
    assert!(env.control().wait_for_subscribes(1, LINE));
    env.control().restart(Duration::from_secs(1));
    // Pushed while nobody listens.
    env.control().set_presence(demo.uid, "online");
    let second = json(
        &run.next_line(LINE)
            .unwrap_or_else(|| panic!("nothing after the reconnect: {}", run.stderr_so_far())),
    );
    assert_eq!(second["type"], "odoo-bus/presence", "{second}");
    assert_eq!(second["im_status"], "online", "{second}");
    // Said once (the read and a replay of the push do not both print).
    assert!(env.control().wait_for_subscribes(2, LINE));
    std::thread::sleep(Duration::from_millis(300));
    env.control().set_presence(demo.uid, "away");
    let third = json(&run.next_line(LINE).expect("the next change"));
    assert_eq!(third["payload"]["im_status"], "away", "{third}");
    let done = run.wait(LINE);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

#[test]
fn several_profiles_are_refused() {
    let env = TestEnv::new();
    env.logged_in_profile("a", "admin");
    env.logged_in_profile("b", "admin");
    let out = env
        .cmd()
        .args(["-p", "a", "-p", "b", "tail", "--presence-of", "7"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("single -p NAME"), "{stderr}");
}
