//! `odoo-bus login` against the emulator (and against things that are not Odoo), through the
//! real binary: what a user sees, what lands in the config file, and which exit code.

mod harness;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use harness::{dead_port, html_server, saved_profile, saved_sid, stderr, stdout};
use odoo_bus_core::secret::SessionId;
use odoo_bus_emulator::{EmulatorConfig, UserSpec};
use serde_json::json;
use support::TestEnv;

/// The binary with `args`, and `stdin` on its standard input (never a terminal).
fn run(env: &TestEnv, args: &[&str], stdin: &str) -> Output {
    env.cmd()
        .args(args)
        .write_stdin(stdin.to_string())
        .output()
        .unwrap()
}

/// A login to something that is not a working Odoo (`url`), with made-up credentials.
fn login_to(env: &TestEnv, url: &str) -> Output {
    run(
        env,
        &["login", url, "--db", "x", "--user", "a", "--password-stdin"],
        "pw\n",
    )
}

/// `login URL --db DB --user LOGIN --password-stdin` with `password` on stdin, plus `extra` args.
fn login(env: &TestEnv, user: &str, password: &str, extra: &[&str]) -> Output {
    env.cmd()
        .args(["login", &env.url(), "--user", user, "--password-stdin"])
        .args(extra)
        .write_stdin(format!("{password}\n"))
        .output()
        .unwrap()
}

#[test]
fn login_saves_the_session_and_reports_on_stderr_only() {
    let env = TestEnv::new();
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).is_empty(),
        "stdout stays empty: {}",
        stdout(&out)
    );
    let expected = format!(
        "logged in to {} (odoo) as admin (uid 2), Odoo 18.0",
        env.url()
    );
    assert_eq!(stderr(&out).trim(), expected);

    let p = saved_profile(&env, "default");
    assert_eq!(p["url"].as_str(), Some(env.url().as_str()));
    assert_eq!(p["db"].as_str(), Some("odoo"));
    assert_eq!(p["login"].as_str(), Some("admin"));
    assert_eq!(p["uid"].as_integer(), Some(2));
    assert_eq!(p["partner_id"].as_integer(), Some(3));
    assert_eq!(p["server_version"].as_str(), Some("18.0"));
    assert_eq!(p["server_version_major"].as_integer(), Some(18));
    assert_eq!(p["websocket_worker_version"].as_str(), Some("18.0-2"));
    // The saved id is the one authenticate rotated to, and the server accepts it.
    let sid = saved_sid(&env, "default").unwrap();
    assert!(env.control().session_is_valid(sid.expose()));
    assert_eq!(
        env.control().current_session_ids(2),
        vec![sid.expose().to_string()]
    );
}

#[test]
fn a_second_login_needs_neither_url_nor_user() {
    let env = TestEnv::new();
    assert!(login(&env, "demo", "demo", &[]).status.success());
    let first = saved_sid(&env, "default").unwrap();
    let out = run(&env, &["login", "--password-stdin"], "demo\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("as demo (uid 6)"), "{}", stderr(&out));
    let second = saved_sid(&env, "default").unwrap();
    assert_ne!(first, second);
    assert!(env.control().session_is_valid(second.expose()));
}

#[test]
fn the_password_can_come_from_the_environment() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["login", &env.url(), "--user", "demo"])
        .env("ODOO_PASSWORD", "demo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_windows_line_ending_on_stdin_is_not_part_of_the_password() {
    let env = TestEnv::new();
    let out = run(
        &env,
        &["login", &env.url(), "--user", "demo", "--password-stdin"],
        "demo\r\nignored second line\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_empty_password_is_a_usage_error() {
    let env = TestEnv::new();
    let out = login(&env, "demo", "", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    assert_eq!(env.control().stats().logins, 0);
}

#[test]
fn no_password_source_is_a_usage_error_before_any_traffic() {
    let env = TestEnv::new();
    // assert_cmd's stdin is not a terminal, and there is neither --password-stdin nor ODOO_PASSWORD.
    let out = run(&env, &["login", &env.url(), "--user", "admin"], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.control().stats().http_requests, 0);
}

#[test]
fn missing_url_and_login_are_usage_errors() {
    let env = TestEnv::new();
    let out = run(
        &env,
        &["login", "--user", "admin", "--password-stdin"],
        "admin\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no server URL"), "{}", stderr(&out));
    let out = run(&env, &["login", &env.url(), "--password-stdin"], "admin\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--user"), "{}", stderr(&out));
}

#[test]
fn wrong_password_exits_3_and_keeps_an_earlier_session() {
    let env = TestEnv::new();
    let sid = env.logged_in("admin");
    let out = login(&env, "admin", "nope", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("wrong login or password"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // The failed attempt did not clobber the session saved before.
    assert_eq!(saved_sid(&env, "default"), Some(sid.clone()));
    assert!(env.control().session_is_valid(sid.expose()));
}

#[test]
fn the_brute_force_cooldown_says_wait() {
    let env = TestEnv::with_config(EmulatorConfig {
        login_cooldown_after: 2,
        ..EmulatorConfig::fast()
    });
    for _ in 0..2 {
        assert_eq!(login(&env, "demo", "bad", &[]).status.code(), Some(3));
    }
    // Even the right password is refused now.
    let out = login(&env, "demo", "demo", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("wait a minute"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong login"), "{}", stderr(&out));
}

#[test]
fn an_unknown_database_exits_1_and_names_the_real_ones() {
    let env = TestEnv::with_config(EmulatorConfig {
        dbs: vec!["odoo".into(), "staging".into()],
        ..EmulatorConfig::fast()
    });
    let out = login(&env, "admin", "admin", &["--db", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("database `nope` does not exist"), "{err}");
    assert!(err.contains("odoo, staging"), "{err}");
    assert_eq!(env.control().stats().logins, 0);
}

#[test]
fn an_unknown_database_is_caught_even_when_the_list_is_hidden() {
    let env = TestEnv::with_config(EmulatorConfig {
        list_db: false,
        ..EmulatorConfig::fast()
    });
    let out = login(&env, "admin", "admin", &["--db", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("database not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_only_database_is_picked() {
    let env = TestEnv::new();
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(saved_profile(&env, "default")["db"].as_str(), Some("odoo"));
}

#[test]
fn several_databases_need_db() {
    let env = TestEnv::with_config(EmulatorConfig {
        dbs: vec!["odoo".into(), "staging".into()],
        ..EmulatorConfig::fast()
    });
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("several databases (odoo, staging)"), "{err}");
    assert!(err.contains("--db NAME"), "{err}");
    let out = login(&env, "admin", "admin", &["--db", "odoo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_hidden_database_list_needs_db() {
    let env = TestEnv::with_config(EmulatorConfig {
        list_db: false,
        ..EmulatorConfig::fast()
    });
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the server does not list databases: pass --db"),
        "{}",
        stderr(&out)
    );
    let out = login(&env, "admin", "admin", &["--db", "odoo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_profiles_database_is_reused_for_the_same_server() {
    let env = TestEnv::with_config(EmulatorConfig {
        list_db: false,
        ..EmulatorConfig::fast()
    });
    assert!(
        login(&env, "admin", "admin", &["--db", "odoo"])
            .status
            .success()
    );
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn odoo_before_16_has_no_bus() {
    let env = TestEnv::with_config(EmulatorConfig {
        server_version: "15.0".into(),
        server_version_info: json!([15, 0, 0, "final", 0, ""]),
        ..EmulatorConfig::fast()
    });
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Odoo 15.0 has no websocket bus (needs 16 or later)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.control().stats().logins, 0);
    assert!(env.config_text().is_empty());
}

#[test]
fn unreachable_port_exits_4_and_saves_nothing() {
    let env = TestEnv::new();
    let url = format!("http://127.0.0.1:{}", dead_port());
    let out = login_to(&env, &url);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert!(!env.config_path().exists());
}

#[test]
fn unknown_hosts_exit_4_naming_dns() {
    let env = TestEnv::new();
    let out = login_to(&env, "http://no-such-host.invalid");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot resolve host `no-such-host.invalid`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_web_server_that_is_not_odoo_exits_1() {
    let env = TestEnv::new();
    let url = format!("http://127.0.0.1:{}", html_server());
    let out = run(
        &env,
        &["login", &url, "--user", "admin", "--password-stdin"],
        "pw\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is not an Odoo server"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

fn totp_user(env: &TestEnv) {
    env.control().add_user(UserSpec {
        totp_code: Some("123456".into()),
        ..UserSpec::internal("alice", "alice-pw", "Alice")
    });
}

#[test]
fn two_factor_without_a_code_exits_3() {
    let env = TestEnv::new();
    totp_user(&env);
    let out = login(&env, "alice", "alice-pw", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this account uses two-factor authentication: pass --totp CODE"),
        "{}",
        stderr(&out)
    );
    assert!(saved_sid(&env, "default").is_none());
}

#[test]
fn two_factor_with_the_code_logs_in() {
    let env = TestEnv::new();
    totp_user(&env);
    let uid = env.control().find_user("alice").unwrap().uid;
    let out = login(&env, "alice", "alice-pw", &["--totp", "123 456"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("as alice (uid {uid})")),
        "{}",
        stderr(&out)
    );
    let sid = saved_sid(&env, "default").unwrap();
    assert!(env.control().session_is_valid(sid.expose()));
    assert_eq!(
        saved_profile(&env, "default")["websocket_worker_version"].as_str(),
        Some("18.0-2")
    );
}

#[test]
fn two_factor_with_a_wrong_code_exits_3() {
    let env = TestEnv::new();
    totp_user(&env);
    let out = login(&env, "alice", "alice-pw", &["--totp", "654321"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("two-factor code was refused"),
        "{}",
        stderr(&out)
    );
    assert!(saved_sid(&env, "default").is_none());
}

#[test]
fn a_malformed_totp_code_is_a_usage_error() {
    let env = TestEnv::new();
    let out = login(&env, "admin", "admin", &["--totp", "12ab"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--totp"));
}

#[test]
fn an_existing_session_can_be_adopted() {
    let env = TestEnv::new();
    let demo = env.control().find_user("demo").unwrap();
    let sid = SessionId::new(env.control().create_session(demo.uid));
    let out = run(
        &env,
        &["login", &env.url(), "--session-id", sid.expose()],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("adopted the session of demo (uid 6)"),
        "{}",
        stderr(&out)
    );
    let p = saved_profile(&env, "default");
    assert_eq!(p["login"].as_str(), Some("demo"));
    assert_eq!(p["db"].as_str(), Some("odoo"));
    assert_eq!(p["partner_id"].as_integer(), Some(demo.partner_id));
    assert_eq!(saved_sid(&env, "default"), Some(sid));
}

#[test]
fn an_adopted_session_can_come_from_stdin_or_the_environment() {
    let env = TestEnv::new();
    let sid = SessionId::new(env.control().create_session(6));
    let out = run(
        &env,
        &["login", &env.url(), "--session-id", "-"],
        &format!("{}\n", sid.expose()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let other = TestEnv::new();
    let sid = SessionId::new(other.control().create_session(2));
    let out = other
        .cmd()
        .args(["login", &other.url()])
        .env("ODOO_BUS_SESSION_ID", sid.expose())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(saved_sid(&other, "default"), Some(sid));
}

#[test]
fn a_logged_out_session_is_not_adopted() {
    let env = TestEnv::new();
    let sid = SessionId::new(env.control().create_session(6));
    env.control().delete_session(sid.expose());
    let out = run(
        &env,
        &["login", &env.url(), "--session-id", sid.expose()],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("that session is not logged in"),
        "{}",
        stderr(&out)
    );
    assert!(!env.config_path().exists());
}

#[test]
fn malformed_session_ids_are_rejected_without_traffic() {
    let env = TestEnv::new();
    for sid in ["abc", &"x".repeat(85), &format!("{}!", "a".repeat(83))] {
        let out = run(&env, &["login", &env.url(), "--session-id", sid], "");
        assert_eq!(out.status.code(), Some(2), "{sid}: {}", stderr(&out));
        assert!(stderr(&out).contains("does not look like an Odoo session id"));
        assert!(!stderr(&out).contains(sid), "the value is not echoed");
    }
    let out = run(&env, &["login", &env.url(), "--session-id", "-"], "short\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(env.control().stats().http_requests, 0);
    assert!(!env.config_path().exists());
}

#[test]
fn profiles_are_chosen_with_p_or_the_environment() {
    let env = TestEnv::new();
    assert!(
        login(&env, "admin", "admin", &["-p", "boss"])
            .status
            .success()
    );
    let out = env
        .cmd()
        .args(["login", &env.url(), "--user", "demo", "--password-stdin"])
        .env("ODOO_BUS_PROFILE", "worker")
        .write_stdin("demo\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(saved_profile(&env, "boss")["login"].as_str(), Some("admin"));
    assert_eq!(
        saved_profile(&env, "worker")["login"].as_str(),
        Some("demo")
    );
    assert!(saved_profile(&env, "default").is_empty());
    let boss = saved_sid(&env, "boss").unwrap();
    let worker = saved_sid(&env, "worker").unwrap();
    assert_ne!(boss, worker);
    assert!(
        env.control().session_is_valid(boss.expose())
            && env.control().session_is_valid(worker.expose())
    );
}

#[test]
fn the_config_is_private() {
    let env = TestEnv::new();
    assert!(login(&env, "admin", "admin", &[]).status.success());
    let mode = std::fs::metadata(env.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let dir = env.config_path().parent().unwrap().to_path_buf();
    let dmode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dmode, 0o700);
}

#[test]
fn a_corrupt_config_is_reported_with_file_and_line_and_left_untouched() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.config_path().parent().unwrap()).unwrap();
    let text = "[profiles.default]\nurl = \"http://x\"\nthis is not toml\n";
    std::fs::write(env.config_path(), text).unwrap();
    for args in [
        vec!["login", &env.url(), "--user", "admin", "--password-stdin"],
        vec!["status"],
        vec!["logout"],
    ] {
        let out = env
            .cmd()
            .args(&args)
            .write_stdin("admin\n")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&env.config_path().display().to_string()),
            "{err}"
        );
        assert!(err.contains("line 3"), "{err}");
        assert_eq!(std::fs::read_to_string(env.config_path()).unwrap(), text);
    }
    assert_eq!(env.control().stats().logins, 0);
}

#[test]
fn a_read_only_config_is_reported_and_no_session_is_left_behind() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.config_path().parent().unwrap()).unwrap();
    let text = "[profiles.other]\nurl = \"http://x\"\n";
    std::fs::write(env.config_path(), text).unwrap();
    std::fs::set_permissions(env.config_path(), std::fs::Permissions::from_mode(0o400)).unwrap();
    let out = login(&env, "admin", "admin", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(env.config_path()).unwrap(), text);
    // The session the server opened could not be saved, so it was closed again.
    assert!(env.control().current_session_ids(2).is_empty());
}

#[test]
fn secrets_never_appear_in_any_output_even_at_vvv() {
    let env = TestEnv::new();
    let password = "s3cret-Passw0rd!";
    env.control()
        .add_user(UserSpec::internal("carol", password, "Carol"));
    let out = run(
        &env,
        &[
            "-vvv",
            "login",
            &env.url(),
            "--user",
            "carol",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sid = saved_sid(&env, "default").unwrap();
    let mut everything = format!("{}{}", stdout(&out), stderr(&out));
    // -vvv really logs: request lines and bodies are there, only redacted.
    assert!(
        everything.contains("/web/session/authenticate"),
        "{everything}"
    );
    assert!(everything.contains("[redacted]"), "{everything}");
    for args in [
        vec!["-vvv", "status"],
        vec!["-vvv", "status", "--json"],
        vec!["-vvv", "logout"],
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        everything.push_str(&stdout(&out));
        everything.push_str(&stderr(&out));
    }
    assert!(!everything.contains(password), "password leaked");
    assert!(!everything.contains(sid.expose()), "session id leaked");
    // Nor any other session id the server handed out along the way (anonymous, rotated).
    assert!(
        !everything
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .any(|w| w.len() == 84),
        "something shaped like a session id leaked: {everything}"
    );
}

#[test]
fn a_tls_failure_exits_4_and_mentions_insecure_as_a_last_resort() {
    let env = TestEnv::new();
    // A plain-HTTP server behind an https:// URL: the TLS handshake cannot succeed.
    let url = format!("https://127.0.0.1:{}", html_server());
    let out = login_to(&env, &url);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("TLS failure"), "{err}");
    assert!(
        err.contains("--insecure") && err.contains("last resort"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn an_explicit_password_wins_over_an_exported_session_id() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["login", &env.url(), "--user", "admin", "--password-stdin"])
        .env("ODOO_BUS_SESSION_ID", "x".repeat(84))
        .write_stdin("admin\n")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_session_id_starting_with_a_dash_is_a_value_not_an_option() {
    // Odoo's session ids are URL-safe base64, so about one in 32 starts with `-`.
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "login",
            &env.url(),
            "--session-id",
            &format!("-t{}", "a".repeat(82)),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "an unknown session is refused as such: {err}"
    );
}
