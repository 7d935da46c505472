//! `odoo-bus status` / `whoami`: the report on stdout, the verdict in the exit code.

mod harness;
mod support;

use harness::{dead_port, json_null_with_cookie, saved_sid, set_profile_url, stderr, stdout};
use support::TestEnv;

#[test]
fn a_valid_session_reports_everything_and_exits_0() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let store = odoo_bus_core::config::ConfigStore::locate(Some(&env.config_path())).unwrap();
    store
        .update_profile("default", |p| {
            p.channels = vec![
                "discuss.channel_1".into(),
                "odoo-presence-res.partner_3".into(),
            ];
            p.last_id = Some(42);
            Ok(())
        })
        .unwrap();
    let out = env.cmd().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = [
        "profile   default".to_string(),
        format!("url       {}", env.url()),
        "database  odoo".into(),
        "user      demo (uid 6, partner 7)".into(),
        "server    Odoo 18.0 (websocket worker 18.0-2)".into(),
        "protocol  Odoo 18.0".into(),
        "session   valid".into(),
        "channels  discuss.channel_1, odoo-presence-res.partner_3".into(),
        "last id   42".into(),
        format!("config    {}", env.config_path().display()),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn whoami_is_the_same_command() {
    let env = TestEnv::new();
    env.logged_in("admin");
    let out = env.cmd().arg("whoami").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("user      admin (uid 2, partner 3)"));
}

#[test]
fn json_is_one_object_without_the_session_id() {
    let env = TestEnv::new();
    let sid = env.logged_in("admin");
    let out = env.cmd().args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["session"], "valid");
    assert_eq!(v["session_valid"], true);
    assert_eq!(v["login"], "admin");
    assert_eq!(v["uid"], 2);
    assert_eq!(v["partner_id"], 3);
    assert_eq!(v["db"], "odoo");
    assert_eq!(v["url"], env.url());
    assert_eq!(v["server_version"], "18.0");
    assert_eq!(v["server_version_major"], 18);
    assert_eq!(v["websocket_worker_version"], "18.0-2");
    assert_eq!(v["channels"], serde_json::json!([]));
    assert_eq!(v["profile"], "default");
    assert!(v.get("session_id").is_none());
    assert!(!text.contains(sid.expose()));
}

#[test]
fn an_expired_session_still_reports_and_exits_3() {
    let env = TestEnv::new();
    env.logged_in("demo");
    env.control().invalidate_sessions(6);
    let out = env.cmd().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("session   expired"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("user      demo (uid 6, partner 7)"));
    assert!(
        stderr(&out).contains("session expired: run `odoo-bus login`"),
        "{}",
        stderr(&out)
    );
    let out = env.cmd().args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["session"], "expired");
    assert_eq!(v["session_valid"], false);
    // The expired session stays saved: status reports, it does not log out.
    assert!(saved_sid(&env, "default").is_some());
}

#[test]
fn an_unreachable_server_is_unknown_and_exits_4() {
    let env = TestEnv::new();
    env.logged_in("demo");
    set_profile_url(
        &env,
        "default",
        &format!("http://127.0.0.1:{}", dead_port()),
    );
    let out = env.cmd().args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["session"], "unknown");
    assert!(v["session_valid"].is_null());
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn not_logged_in_reports_and_exits_3() {
    let env = TestEnv::new();
    let out = env.cmd().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("session   none"), "{}", stdout(&out));
    assert!(stderr(&out).contains("not logged in"));
    let out = env.cmd().args(["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["session"], "none");
    assert_eq!(v["session_valid"], false);
}

#[test]
fn each_profile_reports_its_own_session() {
    let env = TestEnv::new();
    env.logged_in_profile("boss", "admin");
    env.logged_in_profile("worker", "demo");
    let out = env
        .cmd()
        .args(["-p", "boss", "status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["profile"].as_str(), v["login"].as_str()),
        (Some("boss"), Some("admin"))
    );
    let out = env
        .cmd()
        .args(["status", "--json"])
        .env("ODOO_BUS_PROFILE", "worker")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["profile"].as_str(), v["login"].as_str()),
        (Some("worker"), Some("demo"))
    );
}

#[test]
fn a_rotated_session_cookie_is_saved_at_once() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let rotated = "R".repeat(84);
    let port = json_null_with_cookie(&format!(
        "session_id={rotated}; Max-Age=604800; HttpOnly; Path=/"
    ));
    set_profile_url(&env, "default", &format!("http://127.0.0.1:{port}"));
    let out = env.cmd().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        saved_sid(&env, "default").map(|s| s.expose().to_string()),
        Some(rotated.clone())
    );
    assert!(!stdout(&out).contains(&rotated) && !stderr(&out).contains(&rotated));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("odoo-bus"))
        .arg("status")
        .env("ODOO_BUS_CONFIG", env.config_path())
        .env("HOME", env.home())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
