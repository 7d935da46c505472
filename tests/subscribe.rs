//! `odoo-bus subscribe` against the emulator: which names are saved (and how), which are refused
//! with nothing saved, the access warning, the one-time reminder, and the list formats.

mod support;

use odoo_bus_core::config::ConfigStore;
use support::TestEnv;

const REMINDER: &str = "subscribes implicitly";

fn saved(env: &TestEnv) -> Vec<String> {
    let out = env.cmd().args(["subscribe", "--list"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Point the saved profile somewhere, or give it channels, as a hand edit would.
fn edit_profile(env: &TestEnv, change: impl FnOnce(&mut odoo_bus_core::config::Profile)) {
    let store = ConfigStore::locate(Some(&env.config_path())).unwrap();
    store
        .update_profile("default", |p| {
            change(p);
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_form_odoo_understands_is_saved_in_its_canonical_spelling() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let out = env
        .cmd()
        .args([
            "subscribe",
            "discuss.channel_1",
            "odoo-presence-res.partner_7",
            "odoo-presence-mail.guest_1",
            "mail.guest_1|secret-token",
            "pos_config-abc",
            "x discuss.channel_0003",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("warning"),
        "admin reads channels 1 and 3: {err}"
    );
    assert!(
        err.contains("as discuss.channel_3"),
        "the rewrite is explained: {err}"
    );
    assert_eq!(
        saved(&env),
        [
            "discuss.channel_1",
            "odoo-presence-res.partner_7",
            "odoo-presence-mail.guest_1",
            "mail.guest_1|secret-token",
            "pos_config-abc",
            "discuss.channel_3",
        ]
    );
}

#[test]
fn names_the_server_would_choke_on_are_refused_and_nothing_is_saved() {
    let env = TestEnv::new();
    env.logged_in("admin");
    env.cmd()
        .args(["subscribe", "discuss.channel_1"])
        .assert()
        .success();
    let before = env.config_text();
    let cases: &[(&[&str], &str)] = &[
        (&[""], "empty channel name"),
        (&["   "], "empty channel name"),
        (&["odoo-presence-res.partner_abc"], "must be a number"),
        (&["odoo-presence-res.partner"], "without _<id>"),
        (&["odoo-presence-res.partner_7-tok"], "Odoo 19"),
        (&["mail.guest_x|tok"], "must be a number"),
        (&["discuss.channel_99999999999"], "integer ids"),
        // One bad name among good ones: the good ones are not saved either.
        (
            &["discuss.channel_2", "odoo-presence-mail.guest_", "plain"],
            "must be a number",
        ),
    ];
    for (args, reason) in cases {
        let out = env.cmd().arg("subscribe").args(*args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(reason), "{args:?}: {err}");
        assert!(err.contains("nothing was saved"), "{args:?}: {err}");
        assert_eq!(env.config_text(), before, "{args:?} changed the config");
    }
    assert_eq!(saved(&env), ["discuss.channel_1"]);
}

#[test]
fn an_unreadable_channel_is_saved_with_a_warning() {
    let env = TestEnv::new();
    env.logged_in("demo");
    // 2 is "Administrators" (admin only); 999 does not exist: Odoo cannot tell them apart.
    for channel in ["discuss.channel_2", "discuss.channel_999"] {
        let out = env.cmd().args(["subscribe", channel]).output().unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "{channel} does not exist or user `demo` cannot read it"
            )) && err.contains("the server will silently ignore this channel"),
            "{err}"
        );
    }
    // Readable (sales has no members but is open to internal users): no warning.
    let out = env
        .cmd()
        .args(["subscribe", "discuss.channel_3"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(
        saved(&env),
        [
            "discuss.channel_2",
            "discuss.channel_999",
            "discuss.channel_3"
        ]
    );
}

#[test]
fn a_failed_check_warns_and_still_saves() {
    let env = TestEnv::new();
    env.logged_in("admin");
    // Nothing listens on port 1: the check cannot be made.
    edit_profile(&env, |p| p.url = Some("http://127.0.0.1:1".into()));
    let out = env
        .cmd()
        .args(["subscribe", "discuss.channel_1"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("could not check that discuss.channel_1 is readable")
            && err.contains("saved anyway"),
        "{err}"
    );
    assert_eq!(saved(&env), ["discuss.channel_1"]);

    // Not logged in at all: same, and the list is still managed.
    let fresh = TestEnv::new();
    let out = fresh
        .cmd()
        .args(["subscribe", "discuss.channel_4"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("could not check") && err.contains("not logged in"),
        "{err}"
    );
    assert_eq!(saved(&fresh), ["discuss.channel_4"]);
}

#[test]
fn the_implicit_channels_reminder_shows_when_the_list_stops_being_empty() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let reminder_shown = |args: &[&str]| {
        let out = env.cmd().arg("subscribe").args(args).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out).contains(REMINDER)
    };
    assert!(reminder_shown(&["discuss.channel_1"]));
    assert!(!reminder_shown(&["discuss.channel_2"]));
    assert!(!reminder_shown(&["--list"]));
    assert!(!reminder_shown(&["--remove", "discuss.channel_2"]));
    assert!(!reminder_shown(&["--clear"]));
    assert!(
        reminder_shown(&["discuss.channel_2"]),
        "empty again, then not"
    );
    let quiet = env
        .cmd()
        .args(["-q", "subscribe", "--clear"])
        .output()
        .unwrap();
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
}

#[test]
fn list_formats_and_no_arguments() {
    let env = TestEnv::new();
    env.logged_in("admin");
    env.cmd()
        .args(["subscribe", "discuss.channel_1", "a \"quoted\" name"])
        .assert()
        .success();
    for args in [
        &["subscribe"][..],
        &["subscribe", "--list"],
        &["subscribe", "-o", "pretty"],
    ] {
        env.cmd()
            .args(args)
            .assert()
            .success()
            .stdout("discuss.channel_1\na \"quoted\" name\n");
    }
    let out = env
        .cmd()
        .args(["subscribe", "--list", "-o", "ndjson"])
        .output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<String>(l).expect("a JSON string per line"))
        .collect();
    assert_eq!(lines, ["discuss.channel_1", "a \"quoted\" name"]);

    // An edit with --list prints the list as it is afterwards.
    env.cmd()
        .args(["subscribe", "x", "--list"])
        .assert()
        .success()
        .stdout("discuss.channel_1\na \"quoted\" name\nx\n");
    // An empty list prints nothing.
    env.cmd().args(["subscribe", "--clear"]).assert().success();
    env.cmd().arg("subscribe").assert().success().stdout("");
}

#[test]
fn adding_twice_is_a_no_op_said_at_verbose() {
    let env = TestEnv::new();
    env.logged_in("admin");
    env.cmd()
        .args(["subscribe", "discuss.channel_1"])
        .assert()
        .success();
    let before = env.config_text();
    let out = env
        .cmd()
        .args(["-v", "subscribe", "discuss.channel_1", "discuss.channel_01"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("discuss.channel_1 is already saved"),
        "{}",
        stderr(&out)
    );
    assert_eq!(saved(&env), ["discuss.channel_1"]);
    assert_eq!(env.config_text(), before);
    // Without -v it says nothing about it.
    let out = env
        .cmd()
        .args(["subscribe", "discuss.channel_1"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("already saved"));
}

#[test]
fn remove_and_clear() {
    let env = TestEnv::new();
    env.logged_in("admin");
    env.cmd()
        .args(["subscribe", "discuss.channel_1", "b", "c"])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["subscribe", "--remove", "discuss.channel_001", "nope"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("removed discuss.channel_1"), "{err}");
    assert!(
        err.contains("\"nope\" is not a saved channel"),
        "unknown removal warns: {err}"
    );
    assert_eq!(saved(&env), ["b", "c"]);
    // Remove and add in one call.
    env.cmd()
        .args(["subscribe", "d", "--remove", "b"])
        .assert()
        .success();
    assert_eq!(saved(&env), ["c", "d"]);
    let out = env.cmd().args(["subscribe", "--clear"]).output().unwrap();
    assert!(stderr(&out).contains("removed all 2 saved channels"));
    assert!(saved(&env).is_empty());
    // clap keeps --clear away from additions.
    env.cmd()
        .args(["subscribe", "--clear", "x"])
        .assert()
        .code(2);
}

#[test]
fn a_hand_edited_bad_name_blocks_tail_and_can_be_removed() {
    let env = TestEnv::new();
    env.logged_in("admin");
    edit_profile(&env, |p| {
        p.channels = vec!["ok".into(), "odoo-presence-res.partner_abc".into()]
    });
    let out = env
        .cmd()
        .args(["tail", "--timeout", "1s"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("would void the whole subscription")
            && err.contains("subscribe --remove odoo-presence-res.partner_abc"),
        "{err}"
    );
    assert_eq!(env.control().stats().handshakes, 0, "nothing was sent");
    env.cmd()
        .args(["subscribe", "--remove", "odoo-presence-res.partner_abc"])
        .assert()
        .success();
    assert_eq!(saved(&env), ["ok"]);
    // tail --channel is checked the same way.
    let out = env
        .cmd()
        .args([
            "tail",
            "-c",
            "odoo-presence-res.partner_",
            "--timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid channel"), "{}", stderr(&out));
}
