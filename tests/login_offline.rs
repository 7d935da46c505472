//! `login` failures that need no Odoo at all: bad input, nothing listening, something that is
//! not Odoo, a corrupt config. (Scenarios against the emulator are in tests/login.rs.)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn config(&self) -> PathBuf {
        self.dir.path().join("odoo-bus").join("config.toml")
    }
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("odoo-bus").unwrap();
        for var in [
            "ODOO_BUS_PROFILE",
            "ODOO_BUS_SESSION_ID",
            "ODOO_PASSWORD",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            c.env_remove(var);
        }
        c.env("ODOO_BUS_CONFIG", self.config())
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path());
        c
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A port where nothing listens.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A web server that answers every request with the same HTML page (a default nginx).
fn html_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let body = "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>hi</body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn assert_untouched(path: &Path, text: &str) {
    assert_eq!(std::fs::read_to_string(path).unwrap(), text);
}

#[test]
fn unreachable_port_exits_4_and_saves_nothing() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args([
            "login",
            &format!("http://127.0.0.1:{}", dead_port()),
            "--db",
            "x",
            "--user",
            "admin",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert!(!sb.config().exists());
}

#[test]
fn a_web_server_that_is_not_odoo_exits_1() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args([
            "login",
            &format!("http://127.0.0.1:{}", html_server()),
            "--user",
            "admin",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is not an Odoo server"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn unknown_hosts_exit_4_naming_dns() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args([
            "login",
            "http://no-such-host.invalid",
            "--db",
            "x",
            "--user",
            "a",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot resolve host `no-such-host.invalid`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_password_source_is_a_usage_error_before_any_traffic() {
    let sb = Sandbox::new();
    // A dead port: if the command tried the network it would exit 4, not 2.
    let out = sb
        .cmd()
        .args([
            "login",
            &format!("http://127.0.0.1:{}", dead_port()),
            "--db",
            "x",
            "--user",
            "admin",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_url_and_login_are_usage_errors() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["login", "--user", "admin", "--password-stdin"])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no server URL"), "{}", stderr(&out));
    let out = sb
        .cmd()
        .args([
            "login",
            &format!("http://127.0.0.1:{}", dead_port()),
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--user"), "{}", stderr(&out));
}

#[test]
fn malformed_session_ids_are_rejected_without_traffic() {
    let sb = Sandbox::new();
    let url = format!("http://127.0.0.1:{}", dead_port());
    for sid in ["abc", &"x".repeat(85), &format!("{}!", "a".repeat(83))] {
        let out = sb
            .cmd()
            .args(["login", &url, "--session-id", sid])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{sid}: {}", stderr(&out));
        assert!(stderr(&out).contains("does not look like an Odoo session id"));
        assert!(!stderr(&out).contains(sid), "the value is not echoed");
    }
    // From stdin, and from the environment.
    let out = sb
        .cmd()
        .args(["login", &url, "--session-id", "-"])
        .write_stdin("short\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = sb
        .cmd()
        .args(["login", &url])
        .env("ODOO_BUS_SESSION_ID", "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!sb.config().exists());
}

#[test]
fn bad_totp_format_is_a_usage_error() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args([
            "login",
            &format!("http://127.0.0.1:{}", dead_port()),
            "--db",
            "x",
            "--user",
            "a",
            "--password-stdin",
            "--totp",
            "12ab",
        ])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--totp"));
}

#[test]
fn corrupt_config_is_reported_with_file_and_line_and_left_untouched() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config().parent().unwrap()).unwrap();
    let text = "[profiles.default]\nurl = \"http://x\"\nthis is not toml\n";
    std::fs::write(sb.config(), text).unwrap();
    for args in [
        vec!["login", "--user", "a", "--password-stdin"],
        vec!["status"],
        vec!["logout"],
    ] {
        let out = sb.cmd().args(&args).write_stdin("pw\n").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("config.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert_untouched(&sb.config(), text);
    }
}

#[test]
fn status_and_logout_without_a_session() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("session   none"), "{stdout}");
    assert!(stderr(&out).contains("not logged in"));
    let out = sb.cmd().args(["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["session"], "none");
    assert_eq!(v["session_valid"], false);
    let out = sb.cmd().args(["logout"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("not logged in"));
}
