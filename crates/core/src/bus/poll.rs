//! The polling transport: `POST /websocket/peek_notifications` on a timer, for when a proxy (or a
//! firewall, or a hosting front end) refuses the websocket upgrade. It owns the HTTP side of one
//! poll, the adaptive interval and when to try the websocket again; it yields the notifications
//! array of each poll as text, exactly like a websocket frame, so `stream` keeps one copy of the
//! resume/dedup/restart/expiry rules for both transports. It decides nothing about reconnecting
//! and prints nothing.
//!
//! What the real servers do (16, 17, 18 and 19 checked, protocol notes §8.1):
//! - params `{channels, last, is_first_poll}`; the answer is `{channels, notifications}` at once
//!   (it never blocks), the notifications shaped like a websocket batch, ids above `last` (a `last`
//!   above the newest id is read as 0: the last 50 s, as on the socket);
//! - `is_first_poll: true` marks the session (`is_websocket_session`); a later poll on a session
//!   never marked, or logged out since, answers error 100. The mark lives in the session, so it
//!   survives a server restart;
//! - a first poll with a dead session is served *publicly* (no error, only the public channels),
//!   so the session is checked over HTTP before every first poll (the stream does it);
//! - `/websocket/update_bus_presence {inactivity_period, im_status_ids_by_model}` keeps the user
//!   online (16–18 in `bus`; 19 moved it to `mail` and drops the second key, which Odoo ignores).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::bus::connection::{self, ConnectError, ConnectOptions, Connection, Handshake};
use crate::odoo::client::OdooClient;
use crate::odoo::rpc::{self, RpcError, TransportKind};
use crate::secret::SessionId;

pub const PEEK_ROUTE: &str = "/websocket/peek_notifications";

/// How long a peek may take when nothing but the answer is awaited (doctor's and probe's
/// peeks): Odoo answers it at once, so a longer wait means something holds it.
pub const PEEK_ANSWERS_WITHIN: Duration = Duration::from_secs(5);

/// Why a plain POST under `/websocket` gets no answer while Odoo answers the rest: Odoo's
/// gevent process (16–19, `workers > 0`) reads the body of any request that says
/// `Connection: upgrade` to the end of the connection (its server hands such requests the raw
/// socket, for the websocket), so the answer never comes. A proxy that sends that header on
/// every `/websocket` request (nginx: a fixed `proxy_set_header Connection "upgrade"`) does it
/// to every peek. Browsers only upgrade there; polling and peeks POST. Measured on a real 18
/// (workers = 2) behind nginx: held until the client gave up; through the map below, 10 ms.
pub const HELD_POST_CAUSE: &str = "Odoo answers it at once, so a hop holds it: most often a proxy that sends `Connection: upgrade` on every /websocket request (nginx: a fixed `proxy_set_header Connection \"upgrade\"`), which makes Odoo's gevent process read the request until the connection closes (browsers do not mind: they only upgrade there)";

/// The fix for [`HELD_POST_CAUSE`]: `Connection: upgrade` only on upgrades (Odoo's own nginx
/// example does this).
pub const HELD_POST_FIX: &str = "`map $http_upgrade $connection_upgrade { default upgrade; '' close; }` at the http level and `proxy_set_header Connection $connection_upgrade;` in the /websocket location";

/// One line for a peek that got no answer within `within`.
pub fn held_post(route: &str, within: Duration) -> String {
    format!(
        "POST {route} got no answer within {} s: {HELD_POST_CAUSE}; fix: {HELD_POST_FIX}",
        within.as_secs_f64()
    )
}
pub const PRESENCE_ROUTE: &str = "/websocket/update_bus_presence";

/// Which transport the stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportMode {
    /// The websocket; polling when the upgrade is refused, and back to the socket when it works.
    #[default]
    Auto,
    /// The websocket only (a refused upgrade is an error, exit 4).
    Websocket,
    /// Polling only; the websocket is never tried.
    Poll,
}

/// Polling timing.
#[derive(Debug, Clone, Copy)]
pub struct PollOptions {
    /// The interval while notifications keep coming.
    pub fast: Duration,
    /// The longest interval, reached after a few empty polls.
    pub idle: Duration,
    /// In `auto`, how often to try the websocket again while polling.
    pub websocket_retry: Duration,
    /// How often presence is refreshed while polling (with `--presence`); Odoo marks a user away
    /// or offline when nothing refreshes it for about a minute.
    pub presence_every: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            fast: Duration::from_millis(250),
            idle: Duration::from_secs(3),
            websocket_retry: Duration::from_secs(300),
            presence_every: Duration::from_secs(30),
        }
    }
}

impl PollOptions {
    /// `--poll-interval D`: D is the idle interval; the fast one never exceeds it, so
    /// `--poll-interval 250ms` polls at a steady 250 ms.
    pub fn with_idle(mut self, idle: Duration) -> Self {
        self.idle = idle.max(Duration::from_millis(10));
        self.fast = self.fast.min(self.idle);
        self
    }
}

/// The adaptive interval: fast while notifications keep coming (and for [`STAY_FAST`] empty polls
/// after the last one, so a channel with a message every second or so is still followed within
/// one fast interval), then ×2 per empty poll up to the idle interval. An idle channel costs one
/// request every few seconds.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    fast: Duration,
    idle: Duration,
    current: Duration,
    quiet: u32,
}

/// Empty polls at the fast interval before backing off (about 1 s at 250 ms).
pub const STAY_FAST: u32 = 4;

impl Interval {
    pub fn new(opts: &PollOptions) -> Self {
        Interval {
            fast: opts.fast,
            idle: opts.idle,
            current: opts.fast,
            quiet: 0,
        }
    }

    /// The wait before the next poll, given whether this one brought notifications.
    pub fn after(&mut self, brought_any: bool) -> Duration {
        self.quiet = if brought_any { 0 } else { self.quiet + 1 };
        self.current = if self.quiet <= STAY_FAST {
            self.fast
        } else {
            (self.current * 2).min(self.idle)
        };
        self.current
    }
}

/// Why the websocket hop failed in a way polling can get around, or `None` when polling would
/// fail the same way (DNS, TCP, TLS, a redirect: those hit every HTTP request too).
pub fn fallback_reason(e: &ConnectError) -> Option<String> {
    match e {
        ConnectError::Refusal {
            status: 300..=399, ..
        } => None,
        ConnectError::Refusal { status: 200, .. } => {
            Some("the websocket upgrade was answered with HTTP 200 instead of 101".into())
        }
        // The status and who answered; the body (a proxy's error page) would only be noise here.
        ConnectError::Refusal { status, server, .. } => Some(format!(
            "the websocket upgrade was refused with HTTP {status}{}",
            server
                .as_deref()
                .map(|s| format!(" (by {})", crate::odoo::rpc::one_line(s, 40)))
                .unwrap_or_default()
        )),
        ConnectError::Timeout => Some("the websocket handshake never completed".into()),
        ConnectError::Other(d) => Some(d.clone()),
        ConnectError::Dns(_)
        | ConnectError::Refused(_)
        | ConnectError::Tls(_)
        | ConnectError::Proxy(_) => None,
    }
}

/// Why one poll failed.
#[derive(Debug)]
pub enum PeekError {
    /// Error 100: the session is not (or no longer) marked by a first poll, or is logged out.
    Unmarked,
    /// Anything else (server down, a proxy's error page, a bad answer): retried with back-off.
    Failed(String),
}

/// The result of a poll, the `notifications` array kept as received.
#[derive(Deserialize)]
struct Peeked<'a> {
    #[serde(borrow)]
    notifications: &'a RawValue,
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    result: Option<Peeked<'a>>,
}

/// Poll once. `Ok(None)` when nothing is new; otherwise the `notifications` array's text. No
/// answer `within` is a failure that names what usually holds it ([`HELD_POST_CAUSE`]).
pub async fn peek(
    client: &OdooClient,
    channels: &[String],
    last: u64,
    first: bool,
    within: Duration,
) -> Result<Option<String>, PeekError> {
    let params = json!({"channels": channels, "last": last, "is_first_poll": first});
    let response = client
        .post_json_within(PEEK_ROUTE, params, within)
        .await
        .map_err(|e| match e {
            RpcError::Transport {
                kind: TransportKind::Timeout,
                ..
            } => PeekError::Failed(held_post(PEEK_ROUTE, within)),
            e => PeekError::Failed(e.to_string()),
        })?;
    if response.status == 200
        && let Some(notifications) = notifications_of(&response.body)
    {
        return Ok(notifications);
    }
    // Not a plain answer: let the JSON-RPC decoder say what it is.
    let content_type = response
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Err(
        match rpc::decode_response(response.status, content_type, &response.body) {
            Err(RpcError::SessionExpired) => PeekError::Unmarked,
            Err(e) => PeekError::Failed(format!("{PEEK_ROUTE}: {e}")),
            Ok(_) => PeekError::Failed(format!(
                "{PEEK_ROUTE}: the answer has no notifications array"
            )),
        },
    )
}

/// The `notifications` array of a successful answer (`None` inside when it is empty); `None`
/// when the body is not one (an error, a proxy page).
pub fn notifications_of(body: &[u8]) -> Option<Option<String>> {
    let answer: Answer<'_> = serde_json::from_slice(body).ok()?;
    let raw = answer.result?.notifications.get();
    let inner = raw.trim_start_matches(['[', ' ', '\t', '\r', '\n']);
    if !raw.trim_start().starts_with('[') {
        return None;
    }
    Some((!inner.starts_with(']')).then(|| raw.to_string()))
}

/// Refresh presence (the polling twin of the socket's `update_presence`).
pub async fn update_presence(client: &OdooClient) -> Result<(), RpcError> {
    client
        .call::<serde_json::Value>(
            PRESENCE_ROUTE,
            json!({"inactivity_period": 0, "im_status_ids_by_model": {}}),
        )
        .await
        .map(|_| ())
}

type Upgrade = Pin<Box<dyn Future<Output = Result<(Connection, Handshake), ConnectError>> + Send>>;

/// What the poller waits for between polls.
pub enum Wake {
    /// Time to poll.
    Poll,
    /// The websocket opened meanwhile (auto): switch to it.
    Upgraded(Box<Connection>, Handshake),
}

/// One polling session: the timers between polls. The HTTP client stays with the stream's
/// session keeper; the resume point and dedup stay with the stream.
pub struct Poller {
    opts: PollOptions,
    interval: Interval,
    next_poll: Instant,
    /// A first poll (with `is_first_poll`) is still to be made on this session.
    pub first: bool,
    next_presence: Option<Instant>,
    /// In `auto`: when to try the websocket again, and the attempt under way.
    next_upgrade: Option<Instant>,
    upgrade: Option<Upgrade>,
    /// The wait before the next websocket attempt: it doubles after each failed one, up to
    /// `websocket_retry`.
    upgrade_gap: Duration,
    /// What the opening poll brought, handed out by the stream after its status.
    pub pending: Option<String>,
}

impl Poller {
    /// `retry_websocket`: in `auto`, the wait before the first websocket attempt. A websocket
    /// that worked earlier in this run and failed on a reconnect is most likely a server or
    /// its gevent process coming back (a proxy answers 502 until it is up), so the stream asks
    /// for a short first wait there, and `websocket_retry` when the upgrade never worked.
    pub fn new(opts: PollOptions, presence: bool, retry_websocket: Option<Duration>) -> Self {
        let now = Instant::now();
        let upgrade_gap = retry_websocket.unwrap_or(opts.websocket_retry);
        Poller {
            interval: Interval::new(&opts),
            next_poll: now,
            first: true,
            next_presence: presence.then_some(now),
            next_upgrade: retry_websocket.map(|first| now + first),
            upgrade: None,
            upgrade_gap,
            pending: None,
            opts,
        }
    }

    /// Schedule the next poll after one that brought (or did not bring) notifications.
    pub fn polled(&mut self, brought_any: bool) {
        self.next_poll = Instant::now() + self.interval.after(brought_any);
    }

    /// Until the next poll is due, or the websocket retried meanwhile opened. Safe to drop and
    /// call again: the deadlines are stored, an attempt under way is kept.
    pub async fn wait(&mut self, connect: &ConnectOptions, session: &SessionId) -> Wake {
        loop {
            if self.upgrade.is_none()
                && let Some(at) = self.next_upgrade
                && at <= Instant::now()
            {
                // Scheduled from the attempt's start, so a slow refusal does not add to the gap.
                self.upgrade_gap = (self.upgrade_gap * 2).min(self.opts.websocket_retry);
                self.next_upgrade = Some(Instant::now() + self.upgrade_gap);
                let (opts, sid) = (connect.clone(), session.clone());
                self.upgrade = Some(Box::pin(
                    async move { connection::connect(&opts, &sid).await },
                ));
            }
            let upgrade_at = self.next_upgrade;
            let next_poll = self.next_poll;
            let trying = self.upgrade.is_some();
            let upgrade = &mut self.upgrade;
            let step = tokio::select! {
                biased;
                done = async { upgrade.as_mut().expect("guarded").await }, if trying => Some(done),
                _ = tokio::time::sleep_until(next_poll) => return Wake::Poll,
                _ = sleep_until_opt(upgrade_at), if !trying => None,
            };
            if let Some(done) = step {
                self.upgrade = None;
                if let Ok((conn, handshake)) = done {
                    return Wake::Upgraded(Box::new(conn), handshake);
                }
            }
        }
    }

    /// True when presence is due now (and schedules the next refresh).
    pub fn presence_due(&mut self) -> bool {
        match self.next_presence {
            Some(at) if at <= Instant::now() => {
                self.next_presence = Some(Instant::now() + self.opts.presence_every);
                true
            }
            _ => false,
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_fast_with_traffic_and_backs_off_when_idle() {
        let opts = PollOptions::default();
        let mut i = Interval::new(&opts);
        assert_eq!(i.after(true), Duration::from_millis(250));
        for _ in 0..STAY_FAST {
            assert_eq!(i.after(false), Duration::from_millis(250));
        }
        assert_eq!(i.after(false), Duration::from_millis(500));
        assert_eq!(i.after(false), Duration::from_secs(1));
        assert_eq!(i.after(false), Duration::from_secs(2));
        assert_eq!(i.after(false), Duration::from_secs(3));
        assert_eq!(i.after(false), Duration::from_secs(3));
        assert_eq!(i.after(true), Duration::from_millis(250));
    }

    #[test]
    fn a_small_poll_interval_is_steady() {
        let opts = PollOptions::default().with_idle(Duration::from_millis(100));
        let mut i = Interval::new(&opts);
        assert_eq!(i.after(false), Duration::from_millis(100));
        assert_eq!(i.after(true), Duration::from_millis(100));
    }

    #[test]
    fn notifications_are_kept_as_received() {
        let body = br#"{"jsonrpc": "2.0", "id": 1, "result": {"channels": [["db", "res.partner", 3]], "notifications": [{"id": 7, "message": {"type": "x", "payload": {"a": 1}}}]}}"#;
        assert_eq!(
            notifications_of(body),
            Some(Some(
                r#"[{"id": 7, "message": {"type": "x", "payload": {"a": 1}}}]"#.to_string()
            ))
        );
        let empty =
            br#"{"jsonrpc": "2.0", "id": 1, "result": {"channels": [], "notifications": [ ]}}"#;
        assert_eq!(notifications_of(empty), Some(None));
    }

    #[test]
    fn errors_and_pages_are_not_answers() {
        let expired = br#"{"jsonrpc": "2.0", "id": 1, "error": {"code": 100, "message": "Odoo Session Expired"}}"#;
        assert_eq!(notifications_of(expired), None);
        assert_eq!(notifications_of(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(
            notifications_of(br#"{"result": {"notifications": {}}}"#),
            None
        );
    }

    #[test]
    fn only_upgrade_refusals_fall_back() {
        let refusal = |status| ConnectError::Refusal {
            status,
            content_type: None,
            server: Some("nginx".into()),
            location: None,
            challenge: None,
            body: String::new(),
        };
        for status in [400, 404, 426, 502, 503] {
            let reason = fallback_reason(&refusal(status)).expect("falls back");
            assert!(reason.contains(&status.to_string()), "{reason}");
        }
        assert!(
            fallback_reason(&refusal(200))
                .unwrap()
                .contains("200 instead of 101")
        );
        assert!(fallback_reason(&ConnectError::Timeout).is_some());
        assert!(fallback_reason(&refusal(302)).is_none());
        assert!(fallback_reason(&ConnectError::Refused("x".into())).is_none());
        assert!(fallback_reason(&ConnectError::Tls("x".into())).is_none());
        assert!(fallback_reason(&ConnectError::Dns("x".into())).is_none());
    }
}
