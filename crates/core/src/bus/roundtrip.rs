//! One delivery round trip that leaves nothing a user would see: what `doctor`'s `delivery`
//! check and `probe` both measure, so they can never disagree about what "delivered" means.
//!
//! The trigger is `res.users.settings.set_res_users_settings(id, {})` over JSON-RPC on the
//! user's own settings record: it changes nothing (no setting is named), and every version sends
//! the user's own partner a notification for it (`res.users.settings/insert` on 16,
//! `res.users.settings` from 17; checked on the real 16, early and late 17, 18 and 19). It goes
//! through the same path as every chat message: the row is written, PostgreSQL's NOTIFY wakes
//! the dispatcher, the dispatcher pushes to the socket. Unlike a presence change it does not
//! depend on the version's presence shape nor on the user's status.
//!
//! When nothing arrives, `POST /websocket/peek_notifications` (every version; `is_first_poll`
//! adds the user's default channels and replays the last 50 s) tells "stored but not pushed"
//! (NOTIFY or the dispatcher is broken) from "never heard".
//!
//! Owns: choosing the record, the trigger, recognising the echo, timing, the peek. Waiting is
//! the caller's socket's ([`ProbeSocket`]): a bare [`Connection`] for doctor, a reconnecting
//! stream for probe. May not touch: output, the config file.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bus::connection::{Connection, Incoming};
use crate::bus::poll;
use crate::bus::protocol;
use crate::odoo::client::OdooClient;
use crate::odoo::rpc::RpcError;

const SETTINGS: &str = "res.users.settings";

/// The user's settings record the probe writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub settings_id: i64,
    /// The record did not exist: it was created with the defaults, as the web client does on
    /// its first Discuss load.
    pub created: bool,
}

impl Target {
    /// The user's settings record, created (with the defaults) when the user has none yet. A
    /// portal user may not read or write it: the error says so and the caller falls back.
    pub async fn prepare(client: &OdooClient, uid: i64) -> Result<Target, RpcError> {
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
            return Ok(Target {
                settings_id: id,
                created: false,
            });
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
        id.map(|settings_id| Target {
            settings_id,
            created: true,
        })
        .ok_or_else(|| RpcError::BadResponse("create returned no id".into()))
    }

    /// The call that makes the server notify the user (and changes nothing).
    pub async fn trigger(&self, client: &OdooClient) -> Result<(), RpcError> {
        let call = json!({
            "model": SETTINGS,
            "method": "set_res_users_settings",
            "args": [[self.settings_id], {}],
            "kwargs": {},
        });
        client
            .call::<Value>(
                &format!("/web/dataset/call_kw/{SETTINGS}/set_res_users_settings"),
                call,
            )
            .await
            .map(|_| ())
    }

    /// Whether a notification is this probe's echo: either version's type, this record's id.
    pub fn is_echo(&self, kind: &str, payload: &Value) -> bool {
        is_probe(kind, payload, self.settings_id)
    }

    /// Whether the echo is in the bus table (what the user's default channels got in the last
    /// 50 s), by polling over HTTP. `None` when the poll itself failed.
    pub async fn stored(&self, client: &OdooClient) -> Option<bool> {
        let params = json!({"channels": [], "last": 0, "is_first_poll": true});
        let answer: Value = client
            .call_within(poll::PEEK_ROUTE, params, poll::PEEK_ANSWERS_WITHIN)
            .await
            .ok()??;
        let list = answer.get("notifications")?.as_array()?;
        Some(list.iter().any(|n| {
            let message = n.get("message");
            let kind = message.and_then(|m| m.get("type")).and_then(Value::as_str);
            let payload = message.and_then(|m| m.get("payload"));
            matches!((kind, payload), (Some(k), Some(p)) if self.is_echo(k, p))
        }))
    }
}

/// The newest notification id the user's channels got in the last 50 s (what a `subscribe`
/// with `last = 0` would replay), so a probe socket can start after it: an echo of an earlier
/// run (doctor, another probe) replayed at connect must not pass for this run's first.
pub async fn newest_id(client: &OdooClient) -> Option<u64> {
    let params = json!({"channels": [], "last": 0, "is_first_poll": true});
    let answer: Value = client
        .call_within(poll::PEEK_ROUTE, params, poll::PEEK_ANSWERS_WITHIN)
        .await
        .ok()??;
    answer
        .get("notifications")?
        .as_array()?
        .iter()
        .filter_map(|n| n.get("id").and_then(Value::as_u64))
        .max()
}

/// Whether a notification is a settings echo for this record, on any version.
pub fn is_probe(kind: &str, payload: &Value, settings_id: i64) -> bool {
    matches!(kind, "res.users.settings" | "res.users.settings/insert")
        && payload.get("id").and_then(Value::as_i64) == Some(settings_id)
}

/// Whether a frame's text holds the echo.
pub fn frame_has_echo(text: &str, target: &Target) -> bool {
    let Ok(batch) = protocol::decode_batch(text) else {
        return false;
    };
    batch.iter().any(|n| {
        serde_json::from_str::<Value>(n.payload.get()).is_ok_and(|v| target.is_echo(&n.kind, &v))
    })
}

/// What waiting on a socket gave.
#[derive(Debug)]
pub enum Heard {
    /// The echo arrived.
    Arrived,
    /// Nothing by the deadline.
    Nothing,
    /// The socket ended (a bare connection does not come back).
    Ended(Incoming),
}

/// Where the echo is awaited: reads until it arrives or `deadline` passes.
pub trait ProbeSocket: Send {
    fn wait_for_echo(
        &mut self,
        target: &Target,
        deadline: Instant,
    ) -> impl Future<Output = Heard> + Send;
}

impl ProbeSocket for Connection {
    async fn wait_for_echo(&mut self, target: &Target, deadline: Instant) -> Heard {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Incoming::Text(t) => {
                    if frame_has_echo(t.as_str(), target) {
                        return Heard::Arrived;
                    }
                }
                Incoming::Binary(_) => {}
                Incoming::Silent(_) => return Heard::Nothing,
                end => return Heard::Ended(end),
            }
        }
    }
}

/// How one round trip went.
#[derive(Debug)]
pub enum Outcome {
    /// The echo came back this long after the trigger was sent.
    Delivered(Duration),
    /// Not within the timeout; `stored`: whether the row exists (`None`: the peek failed).
    Missed { stored: Option<bool> },
    /// The trigger call itself failed (HTTP, access, server error).
    CallFailed(RpcError),
    /// The socket ended while waiting.
    Ended(Incoming),
}

/// Trigger, and wait for the echo on `socket` at the same time (so a notification that beats
/// the HTTP answer is timed when it really arrives), at most `timeout`. A miss is followed by
/// the peek that says whether the row was stored.
pub async fn round_trip<S: ProbeSocket>(
    client: &OdooClient,
    target: &Target,
    socket: &mut S,
    timeout: Duration,
) -> Outcome {
    let start = Instant::now();
    let deadline = start + timeout;
    let trigger = target.trigger(client);
    let wait = socket.wait_for_echo(target, deadline);
    tokio::pin!(trigger, wait);
    let mut called = false;
    let heard = loop {
        tokio::select! {
            call = &mut trigger, if !called => match call {
                Ok(()) => called = true,
                Err(e) => return Outcome::CallFailed(e),
            },
            heard = &mut wait => break heard,
        }
    };
    let latency = start.elapsed();
    if !called {
        // The echo beat the HTTP answer; the call's own failure still counts.
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        if let Ok(Err(e)) = tokio::time::timeout(left, &mut trigger).await {
            return Outcome::CallFailed(e);
        }
    }
    match heard {
        Heard::Arrived => Outcome::Delivered(latency),
        Heard::Ended(end) => Outcome::Ended(end),
        Heard::Nothing => Outcome::Missed {
            stored: target.stored(client).await,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_is_recognised_on_every_version() {
        // Captured on the real servers (see docs/protocol.md, "Versions").
        let p = json!({"id": 2});
        assert!(is_probe("res.users.settings/insert", &p, 2)); // 16
        assert!(is_probe("res.users.settings", &p, 2)); // 17, 18, 19
        assert!(!is_probe("res.users.settings", &p, 3));
        assert!(!is_probe("bus.bus/im_status_updated", &p, 2));
    }

    #[test]
    fn frames_are_searched_for_the_echo() {
        let t = Target {
            settings_id: 4,
            created: false,
        };
        let with = r#"[{"id": 9, "message": {"type": "x", "payload": {}}}, {"id": 10, "message": {"type": "res.users.settings", "payload": {"id": 4}}}]"#;
        let without =
            r#"[{"id": 10, "message": {"type": "res.users.settings", "payload": {"id": 5}}}]"#;
        assert!(frame_has_echo(with, &t));
        assert!(!frame_has_echo(without, &t));
        assert!(!frame_has_echo("not json", &t));
    }
}
