//! Check 6, `delivery`: cause one notification for this user, through PostgreSQL's NOTIFY and
//! Odoo's dispatcher, and time it back over the socket.
//!
//! The probe is `res.users.settings.set_res_users_settings(id, {})` over JSON-RPC: it changes
//! nothing (no setting is named) and every version sends the user's own partner a notification
//! for it (`res.users.settings/insert` on 16, `res.users.settings` from 17; checked against the
//! real 16, early and late 17, 18 and 19). Unlike a presence change it does not depend on the
//! version's presence shape, nor on the user's status (19 never reports "online" for a user
//! who set "busy"), and the user sees nothing. A user without a settings record yet gets one
//! with the defaults, as the web client creates on its first Discuss load (said in the line).
//!
//! When nothing arrives, a new `subscribe` makes the server poll the table for this socket: the
//! notification comes then when only NOTIFY (or the dispatcher's wake-up) is broken ("stored but
//! not pushed"). When not even then, `POST /websocket/peek_notifications` (every version;
//! `is_first_poll` adds the user's default channels and replays the last 50 s) with the same
//! session tells a socket that is not the user's (the row is there: the socket is public) from
//! "never stored".
//!
//! Where the settings record cannot be used (a portal user may not write it), the presence
//! probe of [`super::websocket::check_delivery_by_presence`] is the fallback.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::check::Verdict;
use super::websocket::{self, SocketEnd};
use odoo_bus_core::bus::connection::{Connection, Incoming};
use odoo_bus_core::bus::protocol;
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::rpc::RpcError;
use odoo_bus_core::odoo::version::Flavor;

const SETTINGS: &str = "res.users.settings";

/// How long to wait for the stored notification once doctor subscribes again.
const REPOLL_WAIT: Duration = Duration::from_secs(3);

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
    // Only internal users may read or write their settings (`base.group_user` in every
    // version's access rules); a portal user gets the presence probe.
    let target = match probe.uid {
        Some(uid) if probe.internal_user => settings_record(probe.client, uid).await,
        _ => Err(RpcError::BadResponse(
            "no settings probe for this user".into(),
        )),
    };
    let Ok((settings_id, created)) = target else {
        return websocket::check_delivery_by_presence(
            conn,
            probe.flavor,
            probe.partner_id,
            probe.internal_user,
            timeout,
        )
        .await;
    };
    let start = Instant::now();
    let call = json!({
        "model": SETTINGS,
        "method": "set_res_users_settings",
        "args": [[settings_id], {}],
        "kwargs": {},
    });
    if let Err(e) = probe
        .client
        .call::<Value>(
            &format!("/web/dataset/call_kw/{SETTINGS}/set_res_users_settings"),
            call,
        )
        .await
    {
        return Verdict::fail(
            format!("the probe call ({SETTINGS}.set_res_users_settings) failed: {e}"),
            "run doctor again with -vv; if it repeats, check the Odoo log",
        );
    }
    let left = if created {
        format!(
            "; doctor created the user's Discuss settings record {settings_id} with the defaults, as the web client does on first use"
        )
    } else {
        String::new()
    };
    match await_settings(conn, settings_id, timeout.saturating_sub(start.elapsed())).await {
        Awaited::Arrived => Verdict::pass(format!(
            "a notification to partner {} came back in {} ms (Odoo {}, settings probe, nothing changed{left}): PostgreSQL NOTIFY, the dispatcher and the socket all work",
            probe.partner_id,
            start.elapsed().as_millis(),
            probe.flavor.key(),
        )),
        Awaited::Ended(end) => {
            websocket::delivery_failure(&websocket::Outcome::Ended(end), timeout)
        }
        Awaited::Nothing => {
            // A new subscribe makes the server poll the table for this socket itself, without
            // NOTIFY: the stored notification comes then if only NOTIFY is broken.
            let own = websocket::own_presence_channel(probe.partner_id);
            let resubscribed = conn.send_text(protocol::subscribe_event(&[own], 0)).await;
            let again = match resubscribed {
                Ok(()) => await_settings(conn, settings_id, REPOLL_WAIT).await,
                Err(e) => Awaited::Ended(SocketEnd::Broken(format!("cannot send: {e}"))),
            };
            let outcome = match again {
                Awaited::Arrived => websocket::Outcome::StoredNotPushed,
                Awaited::Ended(end) => websocket::Outcome::Ended(end),
                // Stored for the user but never on this socket: the socket is not the user's.
                Awaited::Nothing => match stored(probe.client, settings_id).await {
                    Some(true) => websocket::Outcome::NotTheUsersSocket,
                    _ => websocket::Outcome::NeverHeard,
                },
            };
            websocket::delivery_failure(&outcome, timeout)
        }
    }
}

/// The user's settings record, created (with the defaults) when the user has none yet.
async fn settings_record(client: &OdooClient, uid: i64) -> Result<(i64, bool), RpcError> {
    let params = json!({
        "model": SETTINGS,
        "method": "search_read",
        "args": [[["user_id", "=", uid]]],
        "kwargs": {"fields": ["id"], "limit": 1},
    });
    let rows: Option<Vec<Value>> = client
        .call(
            &format!("/web/dataset/call_kw/{SETTINGS}/search_read"),
            params,
        )
        .await?;
    if let Some(id) = rows
        .unwrap_or_default()
        .first()
        .and_then(|r| r.get("id"))
        .and_then(Value::as_i64)
    {
        return Ok((id, false));
    }
    let params = json!({
        "model": SETTINGS,
        "method": "create",
        "args": [{"user_id": uid}],
        "kwargs": {},
    });
    let created: Option<Value> = client
        .call(&format!("/web/dataset/call_kw/{SETTINGS}/create"), params)
        .await?;
    // 16 returns the id, later versions may return [id].
    let id = match created {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::Array(a)) => a.first().and_then(Value::as_i64),
        _ => None,
    };
    id.map(|id| (id, true))
        .ok_or_else(|| RpcError::BadResponse("create returned no id".into()))
}

/// Whether a notification is the probe's: either version's type, this record's id.
pub(super) fn is_probe(kind: &str, payload: &Value, settings_id: i64) -> bool {
    matches!(kind, "res.users.settings" | "res.users.settings/insert")
        && payload.get("id").and_then(Value::as_i64) == Some(settings_id)
}

enum Awaited {
    Arrived,
    Nothing,
    Ended(SocketEnd),
}

async fn await_settings(conn: &mut Connection, settings_id: i64, timeout: Duration) -> Awaited {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let text = match conn.next(left).await {
            Incoming::Text(t) => t,
            Incoming::Binary(_) => continue,
            other => {
                return match SocketEnd::from_incoming(other) {
                    Some(SocketEnd::Timeout) | None => Awaited::Nothing,
                    Some(end) => Awaited::Ended(end),
                };
            }
        };
        let Ok(batch) = protocol::decode_batch(text.as_str()) else {
            continue;
        };
        for n in &batch {
            if let Ok(v) = serde_json::from_str::<Value>(n.payload.get())
                && is_probe(&n.kind, &v, settings_id)
            {
                return Awaited::Arrived;
            }
        }
    }
}

/// Whether the probe's notification is in the bus table (what the user's default channels got
/// in the last 50 s), by polling over HTTP. `None` when the poll itself failed.
async fn stored(client: &OdooClient, settings_id: i64) -> Option<bool> {
    let params = json!({"channels": [], "last": 0, "is_first_poll": true});
    let answer: Value = client
        .call("/websocket/peek_notifications", params)
        .await
        .ok()??;
    let list = answer.get("notifications")?.as_array()?;
    Some(list.iter().any(|n| {
        let message = n.get("message");
        let kind = message.and_then(|m| m.get("type")).and_then(Value::as_str);
        let payload = message.and_then(|m| m.get("payload"));
        matches!((kind, payload), (Some(k), Some(p)) if is_probe(k, p, settings_id))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_recognised_on_every_version() {
        // Captured on the real servers (see docs/protocol.md, "Versions").
        let p = json!({"id": 2});
        assert!(is_probe("res.users.settings/insert", &p, 2)); // 16
        assert!(is_probe("res.users.settings", &p, 2)); // 17, 18, 19
        assert!(!is_probe("res.users.settings", &p, 3));
        assert!(!is_probe("bus.bus/im_status_updated", &p, 2));
    }
}
