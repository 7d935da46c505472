//! Helpers for the login/status/logout tests (next to `support`, the emulator's TestEnv):
//! reading outputs and the saved profile, and tiny HTTP servers for the cases the emulator must
//! not pretend to be (nothing listening, a web server that is not Odoo, a canned answer).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;

use odoo_bus_core::secret::SessionId;

use crate::support::TestEnv;

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The profile's table in the config file (empty when the file or the profile is missing).
pub fn saved_profile(env: &TestEnv, name: &str) -> toml::Table {
    let config: toml::Table = toml::from_str(&env.config_text()).unwrap();
    config
        .get("profiles")
        .and_then(|p| p.get(name))
        .and_then(|p| p.as_table())
        .cloned()
        .unwrap_or_default()
}

pub fn saved_sid(env: &TestEnv, profile: &str) -> Option<SessionId> {
    saved_profile(env, profile)
        .get("session_id")
        .and_then(|v| v.as_str())
        .map(SessionId::new)
}

/// Point a profile at another URL (to make its server unreachable or a stub).
pub fn set_profile_url(env: &TestEnv, profile: &str, url: &str) {
    let store = odoo_bus_core::config::ConfigStore::locate(Some(&env.config_path())).unwrap();
    store
        .update_profile(profile, |p| {
            p.url = Some(url.to_string());
            Ok(())
        })
        .unwrap();
}

/// A port where nothing listens (bound, then released).
pub fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serve `response` (a full HTTP/1.1 response, headers and body) to every request, forever.
/// Returns the port.
pub fn canned(response: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 16384];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    port
}

/// A web server that answers every request with the same HTML page (a default nginx).
pub fn html_server() -> u16 {
    let body =
        "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>hi</body></html>";
    canned(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// An "Odoo" whose every JSON route succeeds with a null result and hands out `set_cookie`
/// (e.g. a rotated `session_id=...`).
pub fn json_null_with_cookie(set_cookie: &str) -> u16 {
    let body = r#"{"jsonrpc": "2.0", "id": 1}"#;
    canned(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: {set_cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}
