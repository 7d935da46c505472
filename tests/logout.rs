//! `odoo-bus logout`: destroy on the server, forget locally, never fail for lack of a session.

mod harness;
mod support;

use harness::{dead_port, saved_profile, saved_sid, set_profile_url, stderr};
use support::TestEnv;

#[test]
fn logout_destroys_the_session_and_keeps_who_and_where() {
    let env = TestEnv::new();
    let sid = env.logged_in("demo");
    let out = env.cmd().arg("logout").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim(), format!("logged out of {}", env.url()));
    assert!(out.stdout.is_empty());
    assert!(!env.control().session_is_valid(sid.expose()));
    assert!(saved_sid(&env, "default").is_none());
    let p = saved_profile(&env, "default");
    assert_eq!(p["url"].as_str(), Some(env.url().as_str()));
    assert_eq!(p["db"].as_str(), Some("odoo"));
    assert_eq!(p["login"].as_str(), Some("demo"));
}

#[test]
fn logging_out_twice_is_fine() {
    let env = TestEnv::new();
    env.logged_in("demo");
    assert!(env.cmd().arg("logout").output().unwrap().status.success());
    let out = env.cmd().arg("logout").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("not logged in"), "{}", stderr(&out));
}

#[test]
fn an_expired_session_is_forgotten_quietly() {
    let env = TestEnv::new();
    env.logged_in("demo");
    env.control().invalidate_sessions(6);
    let out = env.cmd().arg("logout").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("already expired"), "{}", stderr(&out));
    assert!(saved_sid(&env, "default").is_none());
}

#[test]
fn an_unreachable_server_still_forgets_locally_with_a_warning() {
    let env = TestEnv::new();
    let sid = env.logged_in("demo");
    set_profile_url(
        &env,
        "default",
        &format!("http://127.0.0.1:{}", dead_port()),
    );
    let out = env.cmd().arg("logout").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("warning: forgot the session locally"),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(saved_sid(&env, "default").is_none());
    // The server never heard of it, so there it is still valid.
    assert!(env.control().session_is_valid(sid.expose()));
}

#[test]
fn logout_touches_only_the_chosen_profile() {
    let env = TestEnv::new();
    let boss = env.logged_in_profile("boss", "admin");
    let worker = env.logged_in_profile("worker", "demo");
    let out = env.cmd().args(["-p", "worker", "logout"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(saved_sid(&env, "boss"), Some(boss.clone()));
    assert!(saved_sid(&env, "worker").is_none());
    assert!(env.control().session_is_valid(boss.expose()));
    assert!(!env.control().session_is_valid(worker.expose()));
}
