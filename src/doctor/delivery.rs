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
use super::websocket::{self, SocketEnd};
use odoo_bus_core::bus::connection::{ConnectOptions, Connection};
use odoo_bus_core::bus::protocol;
use odoo_bus_core::bus::roundtrip::{self, Heard, Outcome, ProbeSocket, Target};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::version::Flavor;
use odoo_bus_core::secret::SessionId;

/// How long to wait for the stored notification once doctor subscribes again.
const REPOLL_WAIT: Duration = Duration::from_secs(3);

/// How long each F5 experiment's socket waits for its echo (a socket that keeps the session
/// hears it in milliseconds).
const EXPERIMENT_WAIT: Duration = Duration::from_secs(3);

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
    match roundtrip::round_trip(probe.client, &target, conn, timeout).await {
        Outcome::Delivered(latency) => Verdict::pass(format!(
            "a notification to partner {} came back in {} ms (Odoo {}, settings probe, nothing changed{left}): PostgreSQL NOTIFY, the dispatcher and the socket all work",
            probe.partner_id,
            latency.as_millis(),
            probe.flavor.key(),
        )),
        Outcome::CallFailed(e) => Verdict::fail(
            format!("the probe call (res.users.settings.set_res_users_settings) failed: {e}"),
            "run doctor again with -vv; if it repeats, check the Odoo log",
        ),
        Outcome::Ended(end) => match SocketEnd::from_incoming(end) {
            Some(SocketEnd::Timeout) | None => {
                websocket::delivery_failure(&websocket::Outcome::NeverHeard, timeout)
            }
            Some(end) => websocket::delivery_failure(&websocket::Outcome::Ended(end), timeout),
        },
        Outcome::Missed { stored } => {
            // A new subscribe makes the server poll the table for this socket itself, without
            // NOTIFY: the stored notification comes then if only NOTIFY is broken.
            let own = websocket::own_presence_channel(probe.partner_id);
            let again = match conn.send_text(protocol::subscribe_event(&[own], 0)).await {
                Ok(()) => {
                    conn.wait_for_echo(&target, Instant::now() + REPOLL_WAIT)
                        .await
                }
                Err(e) => {
                    let end = SocketEnd::Broken(format!("cannot send: {e}"));
                    return websocket::delivery_failure(&websocket::Outcome::Ended(end), timeout);
                }
            };
            let outcome = match again {
                Heard::Arrived => websocket::Outcome::StoredNotPushed,
                Heard::Ended(end) => match SocketEnd::from_incoming(end) {
                    Some(end) => websocket::Outcome::Ended(end),
                    None => websocket::Outcome::NeverHeard,
                },
                // Stored for the user but never on this socket: the socket is not the user's.
                Heard::Nothing => match stored {
                    Some(true) => websocket::Outcome::NotTheUsersSocket,
                    _ => websocket::Outcome::NeverHeard,
                },
            };
            // Not the user's socket (or unknown: the peek failed): find out why (F5).
            let public = outcome == websocket::Outcome::NotTheUsersSocket;
            if public || (outcome == websocket::Outcome::NeverHeard && stored.is_none()) {
                let x = downgrade::Experiments {
                    connect: probe.connect,
                    session: probe.session,
                    client: probe.client,
                    target: &target,
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
    }
}
