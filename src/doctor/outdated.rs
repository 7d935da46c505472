//! F15: browsers left with the worker of before an upgrade. Owns one socket that connects as a
//! browser would with the worker version the profile saved at login, and what its close says;
//! the session check calls it only when the server now announces another version. May not
//! touch the profile.
//!
//! The rule (17.0 late, 18 and 19, `addons/bus/websocket.py`, `_serve_forever`): a request whose
//! User-Agent werkzeug recognises as a browser, with a `?version=` other than the server's
//! `_VERSION`, is upgraded and then closed at once with 1000 and the reason `OUTDATED_VERSION`,
//! a clean close so the old SharedWorker does not reconnect; the page shows "The page is out of
//! date". Clients that are not browsers are never checked, which is why odoo-bus's own socket
//! passes whatever version it sends. So the check is deterministic: the old version plus a
//! browser User-Agent gets that close, every time.

use std::time::{Duration, Instant};

use odoo_bus_core::bus::connection::{self, ConnectOptions, Incoming, Observed};
use odoo_bus_core::secret::SessionId;

/// A current desktop Chrome's User-Agent (what werkzeug's parser must recognise as a browser).
const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// How long the browser-like socket waits for the close (Odoo sends it right after the 101).
const WAIT: Duration = Duration::from_secs(3);

/// What the browser-like socket with the old version got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Closed with 1000 `OUTDATED_VERSION`: open tabs of before the upgrade are told to reload.
    Outdated,
    /// Kept open (or closed otherwise): the server does not check the version for browsers.
    NotChecked,
    /// Could not open it at all (the upgrade check below says why).
    NoSocket,
}

/// Connect as a browser with `saved` as `?version=` and wait for the close.
pub async fn browser_with(connect: &ConnectOptions, session: &SessionId, saved: &str) -> Seen {
    let mut opts = connect.clone();
    opts.worker_version = Some(saved.to_string());
    opts.user_agent = BROWSER_UA.to_string();
    let Ok((mut conn, _)) = connection::connect(&opts, session).await else {
        return Seen::NoSocket;
    };
    let deadline = Instant::now() + WAIT;
    let seen = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Seen::NotChecked;
        }
        match conn.next_observed(left).await {
            Observed::Frame(Incoming::Closed { code, reason }) => {
                break if code == Some(1000) && reason == "OUTDATED_VERSION" {
                    Seen::Outdated
                } else {
                    Seen::NotChecked
                };
            }
            Observed::Frame(Incoming::Text(_)) | Observed::Ping | Observed::Pong(_) => {}
            Observed::Frame(_) => break Seen::NotChecked,
        }
    };
    conn.close().await;
    seen
}

/// What the session line adds for it.
pub fn note(seen: &Seen, saved: &str) -> Option<String> {
    match seen {
        Seen::Outdated => Some(format!(
            "; a browser connecting with the old ?version={saved} is closed at once with 1000 OUTDATED_VERSION (F15): tabs opened before the upgrade show \"The page is out of date\" and stop getting notifications until reloaded"
        )),
        Seen::NotChecked | Seen::NoSocket => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_outdated_close_is_named() {
        let n = note(&Seen::Outdated, "18.0-1").unwrap();
        assert!(n.contains("?version=18.0-1"), "{n}");
        assert!(n.contains("OUTDATED_VERSION"), "{n}");
        assert_eq!(note(&Seen::NotChecked, "18.0-1"), None);
        assert_eq!(note(&Seen::NoSocket, "18.0-1"), None);
    }
}
