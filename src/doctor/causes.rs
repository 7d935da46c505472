//! Naming the field cause behind two websocket symptoms that several causes share (the F
//! numbers of docs/troubleshooting.md): a socket that was upgraded but answers no frame (F9,
//! Werkzeug ≥ 2.3 on a threaded Odoo, versus a hop that swallows frames) and a close with 1013
//! TRY_LATER (F10, a full database pool, versus Odoo's rate limit). Pure: the checks hand in
//! what they saw (the 101's headers, the frames doctor sent) and get words back.
//!
//! Owns: these judgements and their wording. May not touch: the socket, HTTP, printing.

use std::time::Duration;

use super::check::Verdict;
use super::hints;
use odoo_bus_core::bus::connection::Handshake;

/// Odoo's rate limit (`websocket_rate_limit_burst = 10` frames per `10 × 0.2 s`): a frame
/// arriving while ten came within the window closes the socket with 1013.
pub const RATE_LIMIT_BURST: usize = 10;
pub const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(2);

/// The window doctor counts its own frames in before a 1013: Odoo's, plus the trip there.
pub const BURST_LOOKBACK: Duration = Duration::from_millis(2_500);

/// `Werkzeug/2.3.7 Python/3.11.7` → `(2, 3)`.
pub fn werkzeug_version(server: &str) -> Option<(u32, u32)> {
    let rest = server.trim().strip_prefix("Werkzeug/")?;
    let version = rest.split_whitespace().next()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Who answered the upgrade, from the 101's `Server` and `Via` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answerer {
    /// Odoo's threaded server (werkzeug's dev server) and no proxy announcing itself.
    Werkzeug { version: (u32, u32), server: String },
    /// `Server` names something else, or a `Via` shows a proxy.
    Proxy(String),
    /// No `Server` and no `Via`: Odoo's gevent process sends no `Server` header.
    Anonymous,
}

fn answerer(h: &Handshake) -> Answerer {
    let server = h.server.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let via = h.via.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match (server, via) {
        (Some(s), None) => match werkzeug_version(s) {
            Some(version) => Answerer::Werkzeug {
                version,
                server: s.to_string(),
            },
            None => Answerer::Proxy(format!("Server: {s}")),
        },
        (Some(s), Some(v)) => Answerer::Proxy(format!("Server: {s}, Via: {v}")),
        (None, Some(v)) => Answerer::Proxy(format!("Via: {v}")),
        (None, None) => Answerer::Anonymous,
    }
}

/// The first Werkzeug that discards the socket's data after the handshake on a threaded Odoo
/// without odoo/odoo PR#166231.
const WERKZEUG_DISCARDS: (u32, u32) = (2, 3);

/// The fix for F9, as the checks and the troubleshooting page give it.
pub const F9_FIX: &str = "pin werkzeug to the version in Odoo's requirements.txt (pip install -r requirements.txt; in a docker image, rebuild it with that version), or update Odoo to a release with odoo/odoo PR#166231, or run with workers > 0 and route /websocket to the gevent port (8072)";

/// An upgraded socket answered nothing within `waited` after doctor's `what` (a ping after
/// the subscribe, a ping): name who most likely holds the frames.
pub fn frames_unanswered(h: &Handshake, waited: Duration, what: &str) -> Verdict {
    let secs = waited.as_secs_f64();
    match answerer(h) {
        Answerer::Werkzeug { version, server } if version >= WERKZEUG_DISCARDS => Verdict::fail(
            format!(
                "no answer within {secs} s to {what}: the 101 came from Odoo's threaded server itself (Server: {server}, no proxy header) running Werkzeug {}.{}: Werkzeug 2.3 and later discard the websocket's frames on Odoo releases without the fix (F9: a pip upgrade or a docker image with the wrong werkzeug)",
                version.0, version.1
            ),
            F9_FIX,
        ),
        Answerer::Werkzeug { version, server } => Verdict::fail(
            format!(
                "no answer within {secs} s to {what}: the 101 came from Odoo's threaded server itself (Server: {server}, no proxy header), and its Werkzeug {}.{} is not one that discards frames (F9 needs ≥ 2.3), so the Odoo process accepted the websocket and does not serve it",
                version.0, version.1
            ),
            "check the Odoo log at that moment (an exception in the websocket loop, every thread busy); a proxy that keeps Odoo's Server header (HAProxy, Traefik) may also hold frames: try without it",
        ),
        Answerer::Proxy(seen) => Verdict::fail(
            format!(
                "no answer within {secs} s to {what}: a hop in between holds or swallows websocket frames (the 101 came through a proxy: {seen})"
            ),
            format!(
                "let the proxy pass the websocket untouched ({}); a WAF or load balancer inspecting frames can hold them; if Odoo behind it is threaded (workers = 0), also check its werkzeug: {F9_FIX}",
                hints::NGINX_UPGRADE
            ),
        ),
        Answerer::Anonymous => Verdict::fail(
            format!(
                "no answer within {secs} s to {what}: the 101 carried no Server header, as Odoo's gevent process answers (or a proxy that strips it), and nothing read the frames after it"
            ),
            format!(
                "check the gevent process's log at that moment (restart it if it is stuck) and that no WAF or load balancer in between inspects websocket frames ({})",
                hints::NGINX_UPGRADE
            ),
        ),
    }
}

/// A close with 1013 TRY_LATER: what it means, given its reason and how many frames doctor
/// had sent in [`BURST_LOOKBACK`] before it (pongs included). Returns the detail and the fix.
pub fn try_later(reason: &str, sent_recently: usize) -> (String, String) {
    let pool_fix = super::websocket::POOL_FIX;
    if reason.contains("acquire cursor") {
        return (
            format!(
                "closed with 1013 TRY_LATER \"{reason}\": Odoo's gevent process could not get a database cursor to deliver notifications (its connection pool is full: F10)"
            ),
            pool_fix.to_string(),
        );
    }
    if sent_recently >= RATE_LIMIT_BURST {
        return (
            format!(
                "closed with 1013 TRY_LATER after doctor sent {sent_recently} frames within {} s (answers to server pings included): Odoo's rate limit of {RATE_LIMIT_BURST} frames per {} s",
                BURST_LOOKBACK.as_secs_f64(),
                RATE_LIMIT_WINDOW.as_secs()
            ),
            "a client may send at most 10 frames in 2 s, pongs included (odoo.conf `websocket_rate_limit_burst` / `websocket_rate_limit_delay`); find what makes the socket chatty (a proxy or load balancer pinging through it, a custom client) rather than raising the limit".to_string(),
        );
    }
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(" \"{reason}\"")
    };
    (
        format!(
            "closed with 1013 TRY_LATER{reason} with only {sent_recently} frame{} sent by doctor in the last {} s, far under the rate limit of {RATE_LIMIT_BURST}: Odoo's gevent process could not get a database cursor (its connection pool is full: F10; Odoo logs nothing for this close)",
            if sent_recently == 1 { "" } else { "s" },
            BURST_LOOKBACK.as_secs_f64()
        ),
        pool_fix.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    fn handshake(server: Option<&str>, via: Option<&str>) -> Handshake {
        Handshake {
            rotated_session: None,
            url: "ws://127.0.0.1:8069/websocket".into(),
            server: server.map(str::to_string),
            via: via.map(str::to_string),
        }
    }

    #[test]
    fn werkzeug_versions_are_read_from_the_server_header() {
        assert_eq!(
            werkzeug_version("Werkzeug/2.3.7 Python/3.11.7"),
            Some((2, 3))
        );
        assert_eq!(werkzeug_version("Werkzeug/3.0.1"), Some((3, 0)));
        assert_eq!(
            werkzeug_version("Werkzeug/2.0.2 Python/3.10.13"),
            Some((2, 0))
        );
        assert_eq!(werkzeug_version("nginx/1.22.1"), None);
        assert_eq!(werkzeug_version("Werkzeug/x"), None);
    }

    #[test]
    fn a_silent_socket_blames_werkzeug_only_when_it_answered_directly() {
        let t = Duration::from_secs(10);
        let v = frames_unanswered(
            &handshake(Some("Werkzeug/2.3.7 Python/3.11.7"), None),
            t,
            "a ping",
        );
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("running Werkzeug 2.3:"), "{v:?}");
        assert!(v.hint.unwrap().contains("requirements.txt"));
        let v = frames_unanswered(
            &handshake(Some("Werkzeug/2.2.2 Python/3.11.7"), None),
            t,
            "a ping",
        );
        assert!(v.detail.contains("not one that discards"), "{v:?}");
        let v = frames_unanswered(&handshake(Some("nginx/1.22.1"), None), t, "a ping");
        assert!(v.detail.contains("a hop in between"), "{v:?}");
        assert!(v.detail.contains("nginx/1.22.1"), "{v:?}");
        let v = frames_unanswered(
            &handshake(Some("Werkzeug/2.3.7"), Some("1.1 varnish")),
            t,
            "a ping",
        );
        assert!(v.detail.contains("Via: 1.1 varnish"), "{v:?}");
        let v = frames_unanswered(&handshake(None, None), t, "a ping");
        assert!(v.detail.contains("no Server header"), "{v:?}");
    }

    #[test]
    fn a_1013_is_a_full_pool_unless_doctor_sent_a_burst() {
        let (d, h) = try_later("", 2);
        assert!(d.contains("connection pool is full"), "{d}");
        assert!(h.contains("db_maxconn_gevent") && h.contains("max_connections"));
        let (d, h) = try_later("", 11);
        assert!(d.contains("rate limit"), "{d}");
        assert!(h.contains("websocket_rate_limit_burst"));
        let (d, _) = try_later("Failed to acquire cursor after 10 retries", 12);
        assert!(d.contains("could not get a database cursor"), "{d}");
    }
}
