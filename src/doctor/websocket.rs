//! The websocket hops: the upgrade, whether the socket really runs as the user, and whether a
//! notification makes it all the way through Odoo's dispatch chain (protocol §5) to us.
//!
//! Facts from a real Odoo 18 shape these checks (odoo18-live-facts):
//! - a refused handshake sends its headers but **no body**, so refusals are classified by
//!   status first (the body only refines it when a proxy sent one);
//! - a destroyed or unknown session upgrades with **the same cookie** and a silently public
//!   socket, so a kept cookie proves nothing: the session is checked again over HTTP after the
//!   upgrade, and only a delivery to the user's own presence channel (which a public socket is
//!   never allowed to hear) proves the socket is authenticated;
//! - the notification used for that must travel through LISTEN/NOTIFY: a `subscribe` makes the
//!   server poll the table at once (so the "missed presences" it sends on subscribe would arrive
//!   even with NOTIFY broken), but an `update_presence` that changes the status only reaches the
//!   socket when the dispatcher hears PostgreSQL's NOTIFY.

use std::time::{Duration, Instant};

use super::causes;
use super::check::Verdict;
use super::hints;
use odoo_bus_core::bus::connection::{
    self, ConnectError, ConnectOptions, Connection, Handshake, Incoming, Observed,
};
use odoo_bus_core::bus::protocol::{self, close_code};
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::SessionId;

/// `inactivity_period` that makes Odoo mark the user "away" (its AWAY_TIMER is 30 min).
const AWAY_MS: u64 = 1_800_001;

/// Why the user's session may not be what the socket runs as.
fn session_lost_hint() -> String {
    format!(
        "make the upgrade reach Odoo with the Host, Origin and scheme of the login: {}",
        session_lost_fix()
    )
}

fn session_lost_fix() -> String {
    format!(
        "set `{}` in odoo.conf behind a proxy and forward the original Host and scheme (nginx: {}), since with ODOO_BUS_PUBLIC_SAMESITE_WS set the Origin must equal the Host Odoo sees",
        hints::ODOO_PROXY_MODE,
        hints::NGINX_FORWARDED
    )
}

/// How long to wait before trying again an upgrade refused with 500.
const RETRY_AFTER_500: Duration = Duration::from_millis(300);

/// The fix for a full database pool in the gevent process (F10).
pub const POOL_FIX: &str = "raise `db_maxconn_gevent` in odoo.conf (the gevent process's own pool, 16.4 and later; `db_maxconn` before) and keep PostgreSQL's `max_connections` above workers × db_maxconn + db_maxconn_gevent + cron threads; every upgrade, subscribe and delivery takes a connection for a moment, so simultaneous ones (a reconnect storm after a restart) exhaust a small pool";

/// The upgrade, with or without a session (a public socket tests the hop just as well). When
/// it gets no answer and `followup` is given, [`super::held`] asks two plain requests with it
/// to name what holds the upgrade.
pub async fn check_upgrade(
    opts: &ConnectOptions,
    session: Option<&SessionId>,
    followup: Option<&OdooClient>,
) -> (Verdict, Option<(Connection, Handshake)>) {
    let none = SessionId::new(String::new());
    let sid = session.unwrap_or(&none);
    let mut exchange = connection::Exchange::default();
    let mut result = connection::connect_recorded(opts, sid, &mut exchange).await;
    // A 500 is either every time (prefork, /websocket on the HTTP port: F1) or now and then
    // (the gevent process's database pool is full: F10, measured on a real 18 under load).
    let mut transient_500 = false;
    if matches!(result, Err(ConnectError::Refusal { status: 500, .. })) {
        tokio::time::sleep(RETRY_AFTER_500).await;
        let mut again = connection::Exchange::default();
        if let Ok(opened) = connection::connect_recorded(opts, sid, &mut again).await {
            (result, exchange, transient_500) = (Ok(opened), again, true);
        }
    }
    let (verdict, opened) = match (result, followup) {
        (Err(ConnectError::Timeout), Some(client)) => (
            super::held::explain(client, opts.connect_timeout).await,
            None,
        ),
        (Ok(opened), _) if transient_500 => (
            Verdict::warn(
                format!(
                    "the first upgrade got HTTP 500, the retry {} ms later a 101 at {}: an intermittent 500 is Odoo's gevent process running out of database connections (F10, `PoolError: The Connection Pool Is Full` in the Odoo log), not a routing error (that one fails every time)",
                    RETRY_AFTER_500.as_millis(),
                    opened.1.url
                ),
                POOL_FIX,
            ),
            Some(opened),
        ),
        (result, _) => upgrade_verdict(result, opts, session),
    };
    (verdict.with_exchange(exchange), opened)
}

fn upgrade_verdict(
    result: Result<(Connection, Handshake), ConnectError>,
    opts: &ConnectOptions,
    session: Option<&SessionId>,
) -> (Verdict, Option<(Connection, Handshake)>) {
    match result {
        Ok((conn, handshake)) => {
            let who = if session.is_some() {
                "with the saved session"
            } else {
                "without a session (public socket)"
            };
            (
                Verdict::pass(format!(
                    "101 Switching Protocols at {} {who}",
                    handshake.url
                )),
                Some((conn, handshake)),
            )
        }
        Err(e) => (upgrade_failure(&e, opts), None),
    }
}

fn upgrade_failure(e: &ConnectError, opts: &ConnectOptions) -> Verdict {
    match e {
        ConnectError::Refusal {
            status,
            content_type,
            server,
            location,
            challenge,
            body,
        } => diagnose_refusal(&Refusal {
            status: *status,
            content_type: content_type.as_deref(),
            server: server.as_deref(),
            location: location.as_deref(),
            challenge: challenge.as_deref(),
            body,
        }),
        ConnectError::Timeout => Verdict::fail(
            format!(
                "no answer to the upgrade within {} s: the request reached something that holds it",
                opts.connect_timeout.as_secs()
            ),
            format!(
                "check that the proxy passes upgrades straight through ({}) and that Odoo has a free worker (prefork: route /websocket to the gevent port, {})",
                hints::NGINX_UPGRADE,
                hints::NGINX_WEBSOCKET_LOCATION
            ),
        ),
        ConnectError::Other(d) => Verdict::fail(
            format!("the upgrade failed: {d}"),
            format!(
                "a proxy or firewall in front of Odoo drops websocket upgrades: check its log, and for nginx use {}",
                hints::NGINX_UPGRADE
            ),
        ),
        other => Verdict::fail(
            format!("the upgrade could not connect: {other}"),
            "the HTTP checks above passed, so the websocket is sent elsewhere: check the proxy's /websocket location",
        ),
    }
}

/// A refused handshake, as received.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub server: Option<&'a str>,
    pub location: Option<&'a str>,
    /// `WWW-Authenticate: …` / `Proxy-Authenticate: …` of a 401 or 407.
    pub challenge: Option<&'a str>,
    /// Often empty: Odoo 18 sends no body with a refused handshake.
    pub body: &'a str,
}

/// What a status other than 101 means for the hop, and how to fix it.
pub fn diagnose_refusal(r: &Refusal<'_>) -> Verdict {
    // A proxy puts its own name in `Server` even on answers it relays, so this says which
    // software spoke last, not who decided.
    let by = match r.server {
        Some(s) if !s.is_empty() => format!(" (Server: {s})"),
        _ => String::new(),
    };
    let body = r.body.to_lowercase();
    let html = r.content_type.is_some_and(|c| c.contains("html")) || body.contains("<html");
    let status = r.status;
    match status {
        400 => Verdict::fail(
            format!(
                "HTTP 400 instead of 101{by}: the upgrade request reached Odoo without its Upgrade/Connection headers (a proxy strips them) or without an Origin header"
            ),
            format!(
                "in the proxy's /websocket location forward the upgrade: {}",
                hints::NGINX_UPGRADE
            ),
        ),
        404 => Verdict::fail(
            format!("HTTP 404 instead of 101{by}: /websocket is not routed to Odoo"),
            format!(
                "route /websocket to Odoo (prefork: to its gevent port): {} with {}; check any path prefix in the URL ({})",
                hints::NGINX_WEBSOCKET_LOCATION,
                hints::NGINX_UPGRADE,
                hints::LONGPOLLING_IS_GONE
            ),
        ),
        426 => Verdict::fail(
            format!(
                "HTTP 426 Upgrade Required{by}: a hop in between does not speak websocket version 13 or downgraded the request to HTTP/1.0"
            ),
            format!(
                "make the proxy pass the upgrade unchanged: {}",
                hints::NGINX_UPGRADE
            ),
        ),
        502 => Verdict::fail(
            format!(
                "HTTP 502 Bad Gateway{by}: the proxy cannot reach the Odoo process behind /websocket (down, or the wrong address)"
            ),
            format!(
                "start Odoo (prefork: its gevent process on port 8072) and point the proxy at it: {} ({})",
                hints::NGINX_WEBSOCKET_LOCATION,
                hints::CONTAINER_LOOPBACK
            ),
        ),
        504 => Verdict::fail(
            format!(
                "HTTP 504 Gateway Timeout{by}: the Odoo process behind /websocket did not answer the proxy in time"
            ),
            format!(
                "check that Odoo's gevent process runs and is not overloaded (Odoo log, db connections), and that {} points at it",
                hints::NGINX_WEBSOCKET_LOCATION
            ),
        ),
        500..=599 => {
            let evented = body.contains("evented port") || body.contains("bind the websocket");
            let why = if evented {
                "Odoo says the websocket reached an HTTP worker instead of the evented port"
            } else {
                "likely prefork workers (workers > 0) with /websocket sent to the HTTP port instead of the gevent port (if it happens only sometimes: the gevent process's database pool is full, F10, `PoolError` in the Odoo log)"
            };
            Verdict::fail(
                format!("HTTP {status} instead of 101{by}: {why}"),
                format!(
                    "route the websocket to Odoo's gevent port: {} (the Odoo log shows the traceback; {})",
                    hints::NGINX_WEBSOCKET_LOCATION,
                    hints::LONGPOLLING_IS_GONE
                ),
            )
        }
        300..=399 => {
            let to = r.location.map(|l| format!(" to {l}")).unwrap_or_default();
            Verdict::fail(
                format!(
                    "HTTP {status} redirect{to} instead of 101{by}: websockets do not follow redirects"
                ),
                "use the URL the server redirects to (often https://) with `odoo-bus login`, or stop the proxy from redirecting /websocket",
            )
        }
        200..=299 if html => Verdict::fail(
            format!(
                "HTTP {status} with an HTML page instead of 101{by}: something answered /websocket without upgrading (a catch-all location or a proxy that does not pass upgrades)"
            ),
            format!(
                "send /websocket to Odoo with the upgrade headers: {} with {}",
                hints::NGINX_WEBSOCKET_LOCATION,
                hints::NGINX_UPGRADE
            ),
        ),
        401 | 403 | 407 => super::gateway::diagnose(
            &super::gateway::Answer {
                status,
                challenge: r.challenge,
                server: r.server,
                body: r.body,
            },
            "the websocket upgrade",
        )
        .unwrap_or_else(|| Verdict::fail(format!("HTTP {status}"), "see the proxy's log")),
        _ => Verdict::fail(
            format!("HTTP {status} instead of 101{by}: the upgrade did not happen"),
            format!(
                "send /websocket to Odoo with the upgrade headers: {} with {}",
                hints::NGINX_WEBSOCKET_LOCATION,
                hints::NGINX_UPGRADE
            ),
        ),
    }
}

/// How an open socket ended before a check could finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEnd {
    Closed {
        code: Option<u16>,
        reason: String,
    },
    Broken(String),
    /// Nothing came within the time allowed.
    Timeout,
    /// Closed with 1013 TRY_LATER; `sent`: frames doctor had sent just before (see
    /// [`causes::try_later`]).
    TryLater {
        reason: String,
        sent: usize,
    },
}

impl SocketEnd {
    /// The end an `Incoming` means (`None` for a data frame).
    pub fn from_incoming(i: Incoming) -> Option<SocketEnd> {
        match i {
            Incoming::Closed { code, reason } => Some(SocketEnd::Closed { code, reason }),
            Incoming::Broken(why) => Some(SocketEnd::Broken(why)),
            Incoming::Silent(_) => Some(SocketEnd::Timeout),
            Incoming::Text(_) | Incoming::Binary(_) => None,
        }
    }

    /// The end an `Incoming` on `conn` means: [`SocketEnd::from_incoming`], with a 1013 told
    /// apart by the frames `conn` sent just before it.
    pub fn seen(conn: &Connection, i: Incoming) -> Option<SocketEnd> {
        match SocketEnd::from_incoming(i)? {
            SocketEnd::Closed {
                code: Some(close_code::TRY_LATER),
                reason,
            } => Some(SocketEnd::TryLater {
                reason,
                sent: conn.frames_sent_within(causes::BURST_LOOKBACK),
            }),
            end => Some(end),
        }
    }

    /// What to do about it, when the end itself names a cause.
    pub fn hint(&self) -> Option<String> {
        match self {
            SocketEnd::TryLater { reason, sent } => Some(causes::try_later(reason, *sent).1),
            _ if self.session_expired() => Some(session_lost_hint()),
            _ => None,
        }
    }

    /// A sentence about it.
    pub fn describe(&self) -> String {
        match self {
            SocketEnd::TryLater { reason, sent } => {
                format!("the server {}", causes::try_later(reason, *sent).0)
            }
            SocketEnd::Closed {
                code: Some(code),
                reason,
            } => format!(
                "the server closed the socket: {}",
                protocol::close_explanation(*code, reason)
            ),
            SocketEnd::Closed { code: None, .. } => {
                "the server closed the socket without a close code".into()
            }
            SocketEnd::Broken(why) => format!("the connection broke: {why}"),
            SocketEnd::Timeout => "the server did not answer".into(),
        }
    }

    fn session_expired(&self) -> bool {
        matches!(self, SocketEnd::Closed { code: Some(code), .. } if *code == close_code::SESSION_EXPIRED)
    }
}

/// The channel string for a partner's presence (§3.2): internal users may watch any partner,
/// so a logged-in user may always watch their own, and a public socket never may.
pub fn own_presence_channel(partner_id: i64) -> String {
    format!("odoo-presence-res.partner_{partner_id}")
}

/// Subscribe to the user's own presence, then wait until the server has handled it: Odoo
/// reads a socket's frames in order and runs the subscribe's dispatch before it reads the
/// next frame, so once the PONG of a PING sent after the subscribe is back, every frame the
/// subscribe replayed has arrived. Returns how many replayed frames came.
pub async fn subscribe_and_settle(
    conn: &mut Connection,
    partner_id: i64,
    timeout: Duration,
) -> Result<usize, SocketEnd> {
    let subscribe = protocol::subscribe_event(&[own_presence_channel(partner_id)], 0);
    let sent = async {
        conn.send_text(subscribe).await?;
        conn.send_ping(BARRIER.to_vec()).await
    };
    sent.await
        .map_err(|e| SocketEnd::Broken(format!("cannot send: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut replayed = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_observed(left).await {
            Observed::Pong(p) if p.as_ref() == BARRIER => return Ok(replayed),
            Observed::Pong(_) | Observed::Ping => {}
            Observed::Frame(Incoming::Text(_)) => replayed += 1,
            Observed::Frame(other) => {
                if let Some(end) = SocketEnd::seen(conn, other) {
                    return Err(end);
                }
            }
        }
    }
}

const BARRIER: &[u8] = b"odoo-bus-doctor-barrier";

/// Check 5: the socket runs as the user. A rotated cookie in the 101 is proof it does not; a
/// kept one is not proof it does (see the module docs), so the session is asked again with
/// the very cookie the 101 left us, after the subscribe.
pub async fn check_socket_auth(
    conn: &mut Connection,
    handshake: &Handshake,
    session: &SessionId,
    partner_id: i64,
    url: &ServerUrl,
    client_options: &ClientOptions,
    timeout: Duration,
) -> (Verdict, bool) {
    if handshake.rotated_session.is_some() {
        return (
            Verdict::fail(
                "the 101 set a new session cookie: Odoo logged the session out during the upgrade, so the socket is public and never gets the user's notifications",
                session_lost_hint(),
            ),
            false,
        );
    }
    let replayed = match subscribe_and_settle(conn, partner_id, timeout).await {
        Ok(n) => n,
        Err(SocketEnd::Timeout) => {
            return (
                causes::frames_unanswered(
                    handshake,
                    timeout,
                    "a ping sent right after the subscribe",
                ),
                false,
            );
        }
        Err(end) => {
            let hint = end.hint().unwrap_or_else(|| {
                "check the Odoo log for the websocket error at that time".into()
            });
            return (
                Verdict::fail(format!("after subscribing, {}", end.describe()), hint),
                false,
            );
        }
    };
    let cookie = handshake.rotated_session.as_ref().unwrap_or(session);
    // A private client: whatever this answer does to the cookie must not touch the profile.
    let probe = match OdooClient::new(url.clone(), Some(cookie.clone()), client_options.clone()) {
        Ok(c) => c,
        Err(e) => return (Verdict::fail(e.message, "see the error"), true),
    };
    match probe.check().await {
        Ok(true) => (
            Verdict::pass(format!(
                "the 101 kept the session cookie and it is still logged in after subscribing ({replayed} replayed frame{}); delivery below proves the socket is not public",
                if replayed == 1 { "" } else { "s" }
            )),
            true,
        ),
        Ok(false) | Err(odoo_bus_core::odoo::rpc::RpcError::SessionExpired) => (
            Verdict::fail(
                "the session cookie the socket was opened with is no longer logged in after the upgrade: the socket is public",
                session_lost_hint(),
            ),
            true,
        ),
        Err(e) => (
            super::http::http_failure(&probe, "/web/session/check", &e),
            true,
        ),
    }
}

/// Whether one notification is the presence change doctor caused, in any version's shape.
fn is_own_presence(kind: &str, payload: &str, partner_id: i64, status: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(payload) else {
        return false;
    };
    odoo_bus_core::odoo::version::presence_changes(kind, &v)
        .iter()
        .any(|c| !c.guest && c.id == partner_id && c.status == status)
}

/// What came back while waiting for the presence change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    /// The "online" change, after this long (and the "away" one, if seen first).
    Online {
        after: Duration,
        away: Option<Duration>,
    },
    Nothing,
    Ended(SocketEnd),
}

/// Read frames until the user's own "online" presence change arrives.
async fn await_own_presence(conn: &mut Connection, partner_id: i64, timeout: Duration) -> Awaited {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut away = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let text = match conn.next(left).await {
            Incoming::Text(t) => t,
            Incoming::Binary(_) => continue,
            other => {
                return match SocketEnd::seen(conn, other) {
                    Some(SocketEnd::Timeout) | None => Awaited::Nothing,
                    Some(end) => Awaited::Ended(end),
                };
            }
        };
        let Ok(batch) = protocol::decode_batch(text.as_str()) else {
            continue;
        };
        let at = start.elapsed();
        for n in &batch {
            if is_own_presence(&n.kind, n.payload.get(), partner_id, "away") {
                away.get_or_insert(at);
            }
            if is_own_presence(&n.kind, n.payload.get(), partner_id, "online") {
                return Awaited::Online { after: at, away };
            }
        }
    }
}

/// How long to wait for the stored notifications once doctor subscribes again.
const REPOLL_WAIT: Duration = Duration::from_secs(3);

/// The fallback delivery probe (see [`super::delivery`]): cause a presence change for this user
/// and time it. The user goes "away" then back
/// "online" (the last state is the normal one; Odoo marks the user offline when the socket
/// closes anyway): at least the "online" change is a real change, so Odoo always emits it.
///
/// When nothing comes, a second `subscribe` tells the two remaining causes apart: Odoo answers
/// a subscribe by polling the table itself, without NOTIFY, so the stored change arrives then
/// if only the NOTIFY path is broken, and never if the socket is public (a public socket may
/// not listen to the user's presence, and its `update_presence` changed nothing).
pub async fn check_delivery_by_presence(
    conn: &mut Connection,
    flavor: odoo_bus_core::odoo::version::Flavor,
    partner_id: i64,
    internal_user: bool,
    timeout: Duration,
) -> Verdict {
    let sent = async {
        conn.send_text(flavor.update_presence_event(AWAY_MS, &[partner_id]))
            .await?;
        conn.send_text(flavor.update_presence_event(0, &[partner_id]))
            .await
    };
    if let Err(e) = sent.await {
        return Verdict::fail(
            format!("cannot send on the socket: {e}"),
            "run doctor again; if it repeats, check the proxy and the Odoo log",
        );
    }
    match await_own_presence(conn, partner_id, timeout).await {
        Awaited::Online { after, away } => {
            let away = away
                .map(|a| format!(" (the \"away\" change after {} ms)", a.as_millis()))
                .unwrap_or_default();
            return Verdict::pass(format!(
                "a presence change of partner {partner_id} came back in {} ms{away}: PostgreSQL NOTIFY, the dispatcher and the socket all work",
                after.as_millis()
            ));
        }
        Awaited::Ended(end) => return delivery_failure(&Outcome::Ended(end), timeout),
        Awaited::Nothing => {}
    }
    let subscribe = protocol::subscribe_event(&[own_presence_channel(partner_id)], 0);
    if let Err(e) = conn.send_text(subscribe).await {
        return delivery_failure(
            &Outcome::Ended(SocketEnd::Broken(format!("cannot send: {e}"))),
            timeout,
        );
    }
    let outcome = match await_own_presence(conn, partner_id, REPOLL_WAIT).await {
        Awaited::Online { .. } => Outcome::StoredNotPushed,
        Awaited::Nothing => Outcome::NeverHeard,
        Awaited::Ended(end) => Outcome::Ended(end),
    };
    let mut verdict = delivery_failure(&outcome, timeout);
    if outcome == Outcome::NeverHeard && !internal_user {
        // Odoo lets a portal user watch only the presence of people it shares a discuss
        // channel with, itself included: outside every channel it never hears its own.
        verdict.detail.push_str(
            " (or, for this portal user, it is in no discuss channel: Odoo then does not let it watch even its own presence; run doctor as an internal user)",
        );
    }
    verdict
}

/// Why the delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Only the server's own poll on a new subscribe brought the change: NOTIFY never woke it.
    StoredNotPushed,
    /// Not even the poll brought it: the socket does not hear the user's channels.
    NeverHeard,
    /// The server stored it for the user (an HTTP poll with the session sees it), yet the socket
    /// never got it, not even on a new subscribe: the socket is not the user's (public).
    NotTheUsersSocket,
    Ended(SocketEnd),
}

/// The LISTEN/NOTIFY causes, for the hints.
const NOTIFY_CAUSES: &str = "pgbouncer in transaction pooling mode breaks LISTEN/NOTIFY (connect Odoo to PostgreSQL directly or use session pooling), the database user must be able to connect to the `postgres` database (Odoo sends NOTIFY there), ODOO_NOTIFY_FUNCTION must be pg_notify or work like it, and the dispatcher thread must be running (Odoo log: `Bus.loop`)";

pub(super) fn delivery_failure(outcome: &Outcome, timeout: Duration) -> Verdict {
    let waited = timeout.as_secs_f64();
    match outcome {
        Outcome::StoredNotPushed => Verdict::fail(
            format!(
                "the socket keeps the session but nothing is dispatched, notifications never arrive by themselves: doctor's notification did not come within {waited} s, yet the server has it stored (it handed it over when asked again), so Odoo stores notifications but its dispatcher is never woken by PostgreSQL's NOTIFY"
            ),
            format!("fix LISTEN/NOTIFY between Odoo and PostgreSQL: {NOTIFY_CAUSES}"),
        ),
        Outcome::NeverHeard => Verdict::fail(
            format!(
                "the websocket is up but notifications never arrive: doctor's notification did not come within {waited} s and the server does not have it stored for this user, so the socket may be public (the session was lost at the upgrade although the cookie was kept) or the dispatch chain is broken"
            ),
            format!(
                "first make the upgrade keep the session ({}); else check LISTEN/NOTIFY: {NOTIFY_CAUSES}, and that dbfilter matches this database",
                session_lost_fix()
            ),
        ),
        Outcome::NotTheUsersSocket => Verdict::fail(
            format!(
                "the websocket is up but does not hear the user's channels: doctor's notification did not come within {waited} s, nor when doctor subscribed again, although the server stored it for the user (an HTTP poll with the same session sees it), so the socket is public: the session was lost at the upgrade although the cookie was kept"
            ),
            session_lost_hint(),
        ),
        Outcome::Ended(end) => Verdict::fail(
            format!("while waiting for the notification, {}", end.describe()),
            end.hint()
                .unwrap_or_else(|| "check the Odoo log and the proxy log for that moment".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    fn refusal(status: u16, content_type: Option<&'static str>, body: &'static str) -> Verdict {
        diagnose_refusal(&Refusal {
            status,
            content_type,
            server: None,
            location: None,
            challenge: None,
            body,
        })
    }

    #[test]
    fn refusals_name_the_hop_even_without_a_body() {
        let v = refusal(400, Some("text/html; charset=utf-8"), "");
        assert!(v.detail.contains("Upgrade/Connection"), "{v:?}");
        assert!(
            v.hint
                .unwrap()
                .contains("proxy_set_header Upgrade $http_upgrade")
        );
        let v = refusal(404, None, "");
        assert!(v.detail.contains("not routed"));
        let hint = v.hint.unwrap();
        assert!(hint.contains("location /websocket"));
        assert!(
            hint.contains("/longpolling` does nothing since Odoo 16"),
            "{hint}"
        );
        let v = refusal(500, Some("text/html"), "");
        assert!(v.detail.contains("gevent port"), "{v:?}");
        let hint = v.hint.unwrap();
        assert!(hint.contains("8072"));
        assert!(
            hint.contains("/longpolling` does nothing since Odoo 16"),
            "{hint}"
        );
        let v = refusal(
            500,
            Some("text/html"),
            "RuntimeError: Couldn't bind the websocket. Is the connection opened on the evented port (8072)?",
        );
        assert!(v.detail.contains("evented port"), "{v:?}");
        let v = refusal(503, None, "");
        assert!(v.hint.unwrap().contains("8072"));
        let v = refusal(502, Some("text/html"), "<html>bad gateway</html>");
        assert!(v.detail.contains("cannot reach"));
        let hint = v.hint.unwrap();
        assert!(
            hint.contains("127.0.0.1 is the proxy's own container"),
            "{hint}"
        );
        let v = refusal(504, None, "");
        assert!(v.detail.contains("in time"));
        let v = refusal(426, None, "");
        assert!(v.detail.contains("426"));
        let v = refusal(200, Some("text/html"), "<html><body>Odoo</body></html>");
        assert!(v.detail.contains("HTML page"), "{v:?}");
        for v in [refusal(403, None, ""), refusal(418, None, "")] {
            assert_eq!(v.status, Status::Fail);
            assert!(v.hint.is_some());
        }
    }

    #[test]
    fn handshakes_that_never_answer_or_break_are_named() {
        let opts = ConnectOptions {
            url: ServerUrl::parse("http://127.0.0.1:8069").unwrap(),
            worker_version: None,
            tls: odoo_bus_core::tls::client_config(false).unwrap(),
            user_agent: "t".into(),
            connect_timeout: Duration::from_secs(10),
        };
        let v = upgrade_failure(&ConnectError::Timeout, &opts);
        assert!(v.detail.contains("within 10 s"), "{v:?}");
        assert!(v.hint.unwrap().contains("proxy_http_version 1.1"));
        let v = upgrade_failure(
            &ConnectError::Other("connection lost during the handshake: eof".into()),
            &opts,
        );
        assert!(v.detail.contains("eof"), "{v:?}");
        assert!(v.hint.unwrap().contains("drops websocket upgrades"));
    }

    #[test]
    fn the_answering_server_and_redirects_are_quoted() {
        let v = diagnose_refusal(&Refusal {
            status: 301,
            content_type: Some("text/html"),
            server: Some("nginx/1.22.1"),
            location: Some("https://erp.example.com/websocket"),
            challenge: None,
            body: "",
        });
        assert!(v.detail.contains("(Server: nginx/1.22.1)"), "{v:?}");
        assert!(
            v.detail.contains("to https://erp.example.com/websocket"),
            "{v:?}"
        );
    }

    #[test]
    fn only_the_users_own_presence_counts() {
        let p = r#"{"im_status": "online", "partner_id": 3}"#;
        assert!(is_own_presence("bus.bus/im_status_updated", p, 3, "online"));
        assert!(!is_own_presence(
            "bus.bus/im_status_updated",
            p,
            7,
            "online"
        ));
        assert!(!is_own_presence("bus.bus/im_status_updated", p, 3, "away"));
        assert!(!is_own_presence("mail.record/insert", p, 3, "online"));
        assert!(!is_own_presence(
            "bus.bus/im_status_updated",
            "nope",
            3,
            "online"
        ));
    }

    #[test]
    fn a_silent_socket_is_told_apart_by_the_second_subscribe() {
        let t = Duration::from_secs(5);
        let v = delivery_failure(&Outcome::StoredNotPushed, t);
        assert!(v.detail.contains("never arrive by themselves"), "{v:?}");
        assert!(v.hint.unwrap().contains("pgbouncer"));
        let v = delivery_failure(&Outcome::NeverHeard, t);
        assert!(v.detail.contains("may be public"), "{v:?}");
        let hint = v.hint.unwrap();
        assert!(
            hint.contains("proxy_mode = True") && hint.contains("pgbouncer"),
            "{hint}"
        );
        let v = delivery_failure(
            &Outcome::Ended(SocketEnd::Closed {
                code: Some(4001),
                reason: String::new(),
            }),
            t,
        );
        assert!(v.hint.unwrap().contains("proxy_mode = True"));
    }
}
