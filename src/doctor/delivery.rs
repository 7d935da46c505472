//! Check 6, `delivery`: cause one notification for this user, through PostgreSQL's NOTIFY and
//! Odoo's dispatcher, and time it back over the socket.
//!
//! The round trip is [`odoo_bus_core::bus::roundtrip`], the very one `probe` repeats: a
//! `res.users.settings.set_res_users_settings(id, {})` that changes nothing and that every
//! version (16–19) echoes to the user's own partner, whatever the user's status, with nothing
//! for the user to see. A user without a settings record yet gets one with the defaults, as the
//! web client creates on its first Discuss load (said in the line).
//!
//! When nothing arrives, a new `subscribe` makes the server poll the table for this socket: the
//! notification comes then when only NOTIFY (or the dispatcher's wake-up) is broken ("stored but
//! not pushed"). When not even then, `POST /websocket/peek_notifications` (done by the round
//! trip on a miss) with the same session tells a socket that is not the user's (the row is
//! there: the socket is public) from "never stored".
//!
//! Where the settings record cannot be used (a portal user may not write it), the presence
//! probe of [`super::websocket::check_delivery_by_presence`] is the fallback.

use std::time::{Duration, Instant};

use super::check::Verdict;
use super::downgrade;
use super::instance;
use super::websocket::{self, SocketEnd};
use odoo_bus_core::bus::connection::{ConnectOptions, Connection, Observed};
use odoo_bus_core::bus::protocol;
use odoo_bus_core::bus::roundtrip::{self, Heard, Outcome, ProbeSocket, Target};
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient};
use odoo_bus_core::odoo::version::Flavor;
use odoo_bus_core::secret::SessionId;

/// How long to wait for the stored notification once doctor subscribes again.
const REPOLL_WAIT: Duration = Duration::from_secs(3);

/// How long each F5 experiment's socket waits for its echo (a socket that keeps the session
/// hears it in milliseconds).
const EXPERIMENT_WAIT: Duration = Duration::from_secs(3);

/// How much longer than the budget a late notification is still waited for before doctor
/// subscribes again: a slow dispatcher (late) is not a broken NOTIFY (never by itself).
const LATE_GRACE: Duration = Duration::from_secs(3);

/// A delivery slower than this passes with a warning: Odoo delivers in well under 100 ms when
/// idle (56 ms through nginx to the gevent process on a real 18), a few hundred under load.
const SLOW: Duration = Duration::from_secs(1);

/// How long the socket must still answer a ping after the delivery.
const STILL_OPEN_WAIT: Duration = Duration::from_secs(2);

const AFTER_PING: &[u8] = b"odoo-bus-doctor-after-delivery";

/// After the notification came: is the socket still open? A hop that cuts websockets once
/// they carried data shows up only here. `None` when it answered (or said nothing at all).
async fn still_open(conn: &mut Connection) -> Option<SocketEnd> {
    if let Err(e) = conn.send_ping(AFTER_PING.to_vec()).await {
        return Some(SocketEnd::Broken(format!("cannot send: {e}")));
    }
    let deadline = Instant::now() + STILL_OPEN_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_observed(left).await {
            Observed::Pong(p) if p.as_ref() == AFTER_PING => return None,
            Observed::Pong(_) | Observed::Ping => {}
            Observed::Frame(other) => match SocketEnd::seen(conn, other) {
                None => {}
                Some(SocketEnd::Timeout) => return None,
                Some(end) => return Some(end),
            },
        }
    }
}

/// Who the probe runs for.
pub struct Probe<'a> {
    pub client: &'a OdooClient,
    pub flavor: Flavor,
    pub uid: Option<i64>,
    pub partner_id: i64,
    pub internal_user: bool,
    /// For the F5 experiments on a miss (fresh sockets with the same session).
    pub connect: &'a ConnectOptions,
    pub session: &'a SessionId,
    pub web_base_url: Option<&'a str>,
    /// The session's database, as `/web` serves it (F20).
    pub db: Option<&'a str>,
    /// For a private client (the F20 peek must not touch the profile's cookie).
    pub client_options: &'a ClientOptions,
}

pub async fn check_delivery(
    conn: &mut Connection,
    probe: &Probe<'_>,
    timeout: Duration,
) -> Verdict {
    // Only internal users may read or write their settings (`base.group_user` in every
    // version's access rules); a portal user gets the presence probe.
    let target = match probe.uid {
        Some(uid) if probe.internal_user => Target::prepare(probe.client, uid).await.ok(),
        _ => None,
    };
    let Some(target) = target else {
        return websocket::check_delivery_by_presence(
            conn,
            probe.flavor,
            probe.partner_id,
            probe.internal_user,
            timeout,
        )
        .await;
    };
    let left = if target.created {
        format!(
            "; doctor created the user's Discuss settings record {} with the defaults, as the web client does on first use",
            target.settings_id
        )
    } else {
        String::new()
    };
    let start = Instant::now();
    let first = match roundtrip::round_trip(probe.client, &target, conn, timeout).await {
        Outcome::Delivered(latency) => latency,
        Outcome::Missed { stored } => {
            return missed(conn, probe, &target, timeout, start, stored, None).await;
        }
        other => return broken(conn, other, timeout),
    };
    if let Some(end) = still_open(conn).await {
        return Verdict::fail(
            format!(
                "a notification to partner {} came back in {} ms, but right after it {}: a hop in between drops websockets once they carried data (a WAF, IDS or proxy with a limit per connection), so browsers lose the connection after every few messages",
                probe.partner_id,
                first.as_millis(),
                end.describe()
            ),
            end.hint().unwrap_or_else(|| {
                "check the proxy's, WAF's or load balancer's log for that connection: websockets must not be limited in messages or bytes".into()
            }),
        );
    }
    // A second one on the same socket: this socket heard the user's first notification, so
    // it is the user's, and a second one stored but never sent is a lost one (F12).
    let start = Instant::now();
    let second = match roundtrip::round_trip(probe.client, &target, conn, timeout).await {
        Outcome::Delivered(latency) => latency,
        Outcome::Missed { stored } => {
            return missed(conn, probe, &target, timeout, start, stored, Some(first)).await;
        }
        other => return broken(conn, other, timeout),
    };
    let came = format!(
        "a notification to partner {} came back in {} ms, a second in {} ms (Odoo {}, settings probe, nothing changed{left})",
        probe.partner_id,
        first.as_millis(),
        second.as_millis(),
        probe.flavor.key(),
    );
    if first.max(second) >= SLOW {
        return Verdict::warn(
            format!("{came}: delivered, but slowly"),
            format!(
                "Odoo delivers in well under a second; this slow, its gevent process or the database is overloaded (F10: `db_maxconn_gevent`, PostgreSQL `max_connections`, the gevent memory limits; F23: busy HTTP workers): follow it with `odoo-bus probe` (over {} s doctor counts it as missed)",
                timeout.as_secs_f64()
            ),
        );
    }
    Verdict::pass(format!(
        "{came}: PostgreSQL NOTIFY, the dispatcher and the socket all work"
    ))
}

/// The probe call failed or the socket ended while waiting.
fn broken(conn: &Connection, outcome: Outcome, timeout: Duration) -> Verdict {
    match outcome {
        Outcome::CallFailed(e) => Verdict::fail(
            format!("the probe call (res.users.settings.set_res_users_settings) failed: {e}"),
            "run doctor again with -vv; if it repeats, check the Odoo log",
        ),
        Outcome::Ended(end) => match SocketEnd::seen(conn, end) {
            Some(SocketEnd::Timeout) | None => {
                websocket::delivery_failure(&websocket::Outcome::NeverHeard, timeout)
            }
            Some(end) => websocket::delivery_failure(&websocket::Outcome::Ended(end), timeout),
        },
        Outcome::Delivered(_) | Outcome::Missed { .. } => {
            websocket::delivery_failure(&websocket::Outcome::NeverHeard, timeout)
        }
    }
}

/// The probe's notification did not come within `timeout` (`stored`: whether an HTTP poll
/// with the session sees it). `heard_before`: the latency of an earlier one on this socket.
async fn missed(
    conn: &mut Connection,
    probe: &Probe<'_>,
    target: &Target,
    timeout: Duration,
    start: Instant,
    stored: Option<bool>,
    heard_before: Option<Duration>,
) -> Verdict {
    // Late rather than never: a slow dispatcher still delivers by itself.
    match conn
        .wait_for_echo(target, Instant::now() + LATE_GRACE)
        .await
    {
        Heard::Arrived => {
            return Verdict::fail(
                format!(
                    "the notification to partner {} came back only after {} ms, over the {} s doctor allows: Odoo's dispatch works but is far too slow",
                    probe.partner_id,
                    start.elapsed().as_millis(),
                    timeout.as_secs_f64()
                ),
                "the gevent process or the database is overloaded: check `db_maxconn_gevent` and PostgreSQL's `max_connections` (F10), the gevent memory limits, long transactions, and busy HTTP workers (F23); `odoo-bus probe` follows the latency over time",
            );
        }
        Heard::Ended(end) => {
            let end = SocketEnd::seen(conn, end).unwrap_or(SocketEnd::Timeout);
            return websocket::delivery_failure(&websocket::Outcome::Ended(end), timeout);
        }
        Heard::Nothing => {}
    }
    // A new subscribe makes the server poll the table for this socket itself, without
    // NOTIFY: the stored notification comes then if only NOTIFY is broken.
    let own = websocket::own_presence_channel(probe.partner_id);
    let again = match conn.send_text(protocol::subscribe_event(&[own], 0)).await {
        Ok(()) => {
            conn.wait_for_echo(target, Instant::now() + REPOLL_WAIT)
                .await
        }
        Err(e) => {
            let end = SocketEnd::Broken(format!("cannot send: {e}"));
            return websocket::delivery_failure(&websocket::Outcome::Ended(end), timeout);
        }
    };
    let outcome = match again {
        Heard::Arrived => websocket::Outcome::StoredNotPushed,
        Heard::Ended(end) => match SocketEnd::seen(conn, end) {
            Some(end) => websocket::Outcome::Ended(end),
            None => websocket::Outcome::NeverHeard,
        },
        Heard::Nothing => match (stored, heard_before) {
            // This socket heard the user's previous one: it is the user's, this one was lost.
            (Some(true), Some(first)) => return lost(probe.partner_id, first, timeout),
            // Stored for the user but never on this socket: the socket is not the user's.
            (Some(true), None) => websocket::Outcome::NotTheUsersSocket,
            _ => websocket::Outcome::NeverHeard,
        },
    };
    // Not the user's socket (or unknown: the peek failed): find out why (F5, F20).
    let public = outcome == websocket::Outcome::NotTheUsersSocket;
    let deaf = public || outcome == websocket::Outcome::NeverHeard;
    let elsewhere = match deaf {
        true => {
            instance::websocket_side(
                probe.client,
                probe.client_options,
                probe.partner_id,
                probe.db,
            )
            .await
        }
        false => None,
    };
    // The peek is a plain POST, which no Origin or forwarded-header rule downgrades: when it
    // does not know the session either, /websocket goes elsewhere, and the F5 experiments
    // (about 15 s of sockets) could not change that.
    if let Some(elsewhere) = &elsewhere {
        return instance::verdict(elsewhere, instance::Symptom::Deaf(timeout));
    }
    if public || (outcome == websocket::Outcome::NeverHeard && stored.is_none()) {
        let x = downgrade::Experiments {
            connect: probe.connect,
            session: probe.session,
            client: probe.client,
            target,
            partner_id: probe.partner_id,
            web_base_url: probe.web_base_url,
            wait: timeout.min(EXPERIMENT_WAIT),
        };
        let (finding, seen) = downgrade::investigate(&x).await;
        if public || finding != downgrade::Finding::Unexplained {
            return downgrade::verdict(&finding, &seen, timeout);
        }
    }
    websocket::delivery_failure(&outcome, timeout)
}

/// F12: one of two notifications never reached a socket that is the user's.
fn lost(partner_id: i64, first: Duration, timeout: Duration) -> Verdict {
    Verdict::fail(
        format!(
            "a notification to partner {partner_id} came back in {} ms, but a second one on the same socket never did (not within {} s, nor when doctor subscribed again) although the server stored it for the user: Odoo skipped it (notifications silently missed, F12)",
            first.as_millis(),
            timeout.as_secs_f64()
        ),
        "update Odoo: notifications missed under load were fixed in stages (odoo/odoo PR#176216, #176259 and #176340 for 17 and 18 in 2024; 19.x in 2026); a transaction that takes over 10 s between sending a notification and committing also loses it; `odoo-bus probe` counts misses over time",
    )
}
