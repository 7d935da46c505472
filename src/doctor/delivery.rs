//! Check 6, `delivery`: cause one notification for this user, through PostgreSQL's NOTIFY and
//! Odoo's dispatcher, and time it back over the socket.
//!
//! The round trip is [`odoo_bus_core::bus::roundtrip`], the very one `probe` repeats: a
//! `set_res_users_settings(id, {})` that changes nothing and that every version echoes to the
//! user's own partner, with `peek_notifications` telling "stored but not pushed" from "never
//! heard" when nothing arrives. This file turns its outcome into a verdict.
//!
//! "Stored" is read over HTTP with the user's session, so it says nothing of the socket: a
//! socket that Odoo made public never gets the row either. A `subscribe` makes Odoo poll the
//! table for this socket at once (no NOTIFY needed): the echo coming then means NOTIFY is what
//! is broken; not coming means the socket is not the user's.
//!
//! Where the settings record cannot be used (a portal user may not write it), the presence
//! probe of [`super::websocket::check_delivery_by_presence`] is the fallback.

use std::time::{Duration, Instant};

use super::check::Verdict;
use super::websocket::{self, SocketEnd};
use odoo_bus_core::bus::connection::Connection;
use odoo_bus_core::bus::protocol;
use odoo_bus_core::bus::roundtrip::{self, Heard, Outcome, ProbeSocket, Target};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::version::Flavor;

/// Who the probe runs for.
pub struct Probe<'a> {
    pub client: &'a OdooClient,
    pub flavor: Flavor,
    pub uid: Option<i64>,
    pub partner_id: i64,
    pub internal_user: bool,
}

pub async fn check_delivery(
    conn: &mut Connection,
    probe: &Probe<'_>,
    timeout: Duration,
) -> Verdict {
    let target = match probe.uid {
        Some(uid) => Target::prepare(probe.client, uid).await.ok(),
        None => None,
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
            let outcome = match stored {
                Some(true) if replayed_on_subscribe(conn, &target, timeout).await => {
                    websocket::Outcome::StoredNotPushed
                }
                _ => websocket::Outcome::NeverHeard,
            };
            websocket::delivery_failure(&outcome, timeout)
        }
    }
}

/// Subscribe again and wait a little: does this socket get the stored echo when Odoo polls?
async fn replayed_on_subscribe(conn: &mut Connection, target: &Target, timeout: Duration) -> bool {
    if conn
        .send_text(protocol::subscribe_event(&[], 0))
        .await
        .is_err()
    {
        return false;
    }
    let deadline = Instant::now() + timeout.min(Duration::from_secs(2));
    matches!(conn.wait_for_echo(target, deadline).await, Heard::Arrived)
}
