//! The `bus.bus` table and the per-socket cursor, with Odoo 18's exact polling rules.
//!
//! Why the rules are reproduced to the letter (`bus.bus._poll`, `Websocket._dispatch_bus_notifications`):
//! a client's resume and dedup logic is only tested if the server can hand it a lower id after a
//! higher one, re-send nothing it already sent on the same socket, forget rows after the
//! retention time, and answer `last == 0` with "the last 50 s" rather than "everything".

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::pyjson;

/// A bus channel key, as `channel_with_db` builds them server-side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A record: `(db, model, id)`, e.g. a partner, a discuss channel, a group.
    Record(&'static str, i64),
    /// A record with a subchannel: `(db, model, id, sub)`, e.g. `(partner, "presence")`.
    Sub(&'static str, i64, &'static str),
    /// A plain string channel: `(db, string)`, e.g. `"broadcast"`.
    Str(String),
}

pub const PARTNER: &str = "res.partner";
pub const DISCUSS_CHANNEL: &str = "discuss.channel";
pub const GROUP: &str = "res.groups";

impl Channel {
    pub fn partner(id: i64) -> Self {
        Channel::Record(PARTNER, id)
    }
    pub fn presence(partner_id: i64) -> Self {
        Channel::Sub(PARTNER, partner_id, "presence")
    }
    pub fn discuss(id: i64) -> Self {
        Channel::Record(DISCUSS_CHANNEL, id)
    }
    pub fn members(id: i64) -> Self {
        Channel::Sub(DISCUSS_CHANNEL, id, "members")
    }
    pub fn group(id: i64) -> Self {
        Channel::Record(GROUP, id)
    }
    pub fn broadcast() -> Self {
        Channel::Str("broadcast".to_string())
    }

    /// The key as Odoo stores it in `bus.bus.channel` and returns it from `peek_notifications`
    /// (chat channels are stored under one internal name and shown under the version's model).
    pub fn key_json(&self, db: &str, chat_model: &str) -> Value {
        let model = |m: &'static str| if m == DISCUSS_CHANNEL { chat_model } else { m };
        match self {
            Channel::Record(m, id) => serde_json::json!([db, model(m), id]),
            Channel::Sub(m, id, sub) => serde_json::json!([db, model(m), id, sub]),
            Channel::Str(s) => serde_json::json!([db, s]),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Record(m, id) => write!(f, "{m}_{id}"),
            Channel::Sub(m, id, sub) => write!(f, "{m}_{id}/{sub}"),
            Channel::Str(s) => f.write_str(s),
        }
    }
}

/// One `bus.bus` row. `message` is already encoded the way Odoo stores it
/// (`json.dumps({"type": T, "payload": P})`), so building a frame is string concatenation.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: u64,
    pub channel: Channel,
    pub message: Arc<str>,
    /// `create_date`: when the id was taken (the transaction's start).
    pub created: Instant,
    /// When the transaction committed; invisible to polls before.
    pub visible_at: Instant,
}

/// Encode `{"type": T, "payload": P}` with Python's key order and escaping.
pub fn encode_message(kind: &str, payload: &Value) -> String {
    format!(
        "{{\"type\": {}, \"payload\": {}}}",
        pyjson::dumps(&Value::String(kind.to_string())),
        pyjson::dumps(payload)
    )
}

/// One notification as delivered: `{"id": N, "message": {...}}`.
pub fn encode_notification(id: u64, message: &str) -> String {
    format!("{{\"id\": {id}, \"message\": {message}}}")
}

/// A websocket batch: a JSON array of notifications, sorted by id by the caller.
pub fn encode_batch<'a>(items: impl IntoIterator<Item = (u64, &'a str)>) -> String {
    let mut out = String::from("[");
    for (i, (id, message)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&encode_notification(id, message));
    }
    out.push(']');
    out
}

/// The table. Rows are kept in id order (ids are taken in order; a late commit keeps its early
/// id), so the oldest are at the front and purging is a pop.
#[derive(Debug, Default)]
pub struct Bus {
    rows: VecDeque<Row>,
    /// Last id handed out (rows and flood frames alike).
    last_allocated: u64,
}

impl Bus {
    /// Take the next id of the sequence.
    pub fn allocate(&mut self) -> u64 {
        self.last_allocated += 1;
        self.last_allocated
    }

    /// Take `n` consecutive ids; returns the first.
    pub fn allocate_many(&mut self, n: u64) -> u64 {
        let first = self.last_allocated + 1;
        self.last_allocated += n;
        first
    }

    /// Whether the row with this id is still kept (19's `has_missed_notifications`).
    pub fn contains(&self, id: u64) -> bool {
        self.rows.binary_search_by_key(&id, |r| r.id).is_ok()
    }

    pub fn last_allocated(&self) -> u64 {
        self.last_allocated
    }

    pub fn insert(&mut self, row: Row) {
        // Ids are allocated in order and inserted right away, so pushing keeps the order.
        let at = self.rows.partition_point(|r| r.id < row.id);
        self.rows.insert(at, row);
    }

    /// Drop rows older than `retention` (Odoo's autovacuum, here done lazily).
    pub fn purge(&mut self, now: Instant, retention: Duration) {
        while let Some(front) = self.rows.front() {
            if now.saturating_duration_since(front.created) > retention {
                self.rows.pop_front();
            } else {
                break;
            }
        }
    }

    /// `_bus_last_id`: the largest committed id still in the table (or ever handed to a flood).
    pub fn last_id(&self, now: Instant, flood_max: u64) -> u64 {
        let stored = self
            .rows
            .iter()
            .rev()
            .find(|r| r.visible_at <= now)
            .map(|r| r.id)
            .unwrap_or(0);
        stored.max(flood_max)
    }

    /// `_poll(channels, last, ignore_ids)`: with `last == 0` the rows created within `window`,
    /// else every row with `id > last`; always minus `ignore` and uncommitted rows.
    pub fn poll<'a>(
        &'a self,
        channels: &HashSet<Channel>,
        last: i64,
        already_sent: impl Fn(u64) -> bool,
        now: Instant,
        window: Duration,
    ) -> Vec<&'a Row> {
        let visible =
            |r: &&Row| r.visible_at <= now && !already_sent(r.id) && channels.contains(&r.channel);
        if last == 0 {
            self.rows
                .iter()
                .filter(|r| now.saturating_duration_since(r.created) < window)
                .filter(visible)
                .collect()
        } else {
            let start = if last < 0 {
                0
            } else {
                self.rows.partition_point(|r| (r.id as i64) <= last)
            };
            self.rows.range(start..).filter(visible).collect()
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// A socket's delivery state: Odoo's `_last_notif_sent_id` and `_notif_history`.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    pub last: i64,
    /// Sent ids with the time they were sent (ordered by id).
    history: BTreeMap<u64, Instant>,
}

impl Cursor {
    /// `subscribe`: the client's `last` only counts while the server has no cursor of its own.
    pub fn subscribe(&mut self, last: i64) {
        if self.last == 0 {
            self.last = last;
        }
    }

    /// Sent on this socket and still in the history (excluded from polls).
    pub fn was_sent(&self, id: u64) -> bool {
        self.history.contains_key(&id)
    }

    /// Record a sent batch, then move the cursor past history entries older than `keep`,
    /// smallest ids first and never past a younger one (so nothing is ever sent twice).
    pub fn record_sent(
        &mut self,
        ids: impl IntoIterator<Item = u64>,
        now: Instant,
        keep: Duration,
    ) {
        for id in ids {
            self.history.insert(id, now);
        }
        while let Some((&id, &sent)) = self.history.first_key_value() {
            if now.saturating_duration_since(sent) <= keep {
                break;
            }
            self.last = id as i64;
            self.history.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bus: &mut Bus, ch: Channel, created: Instant, visible: Instant) -> u64 {
        let id = bus.allocate();
        bus.insert(Row {
            id,
            channel: ch,
            message: Arc::from(encode_message("t", &Value::Null)),
            created,
            visible_at: visible,
        });
        id
    }

    #[test]
    fn poll_rules_last_zero_window_and_id_cursor() {
        let t0 = Instant::now();
        let mut bus = Bus::default();
        let a = row(&mut bus, Channel::broadcast(), t0, t0);
        let b = row(&mut bus, Channel::partner(3), t0, t0);
        let later = t0 + Duration::from_secs(60);
        let c = row(&mut bus, Channel::broadcast(), later, later);
        let chans: HashSet<_> = [Channel::broadcast()].into();
        let ids = |v: Vec<&Row>| v.iter().map(|r| r.id).collect::<Vec<_>>();
        // last == 0: only the last 50 s.
        assert_eq!(
            ids(bus.poll(&chans, 0, |_| false, later, Duration::from_secs(50))),
            vec![c]
        );
        // last > 0: everything after it, on subscribed channels only.
        assert_eq!(
            ids(bus.poll(&chans, a as i64, |_| false, later, Duration::from_secs(50))),
            vec![c]
        );
        assert_eq!(
            ids(bus.poll(&chans, -1, |_| false, later, Duration::from_secs(50))),
            vec![a, c]
        );
        let _ = b;
        // Retention.
        bus.purge(later, Duration::from_secs(30));
        assert_eq!(bus.len(), 1);
    }

    #[test]
    fn late_commit_is_delivered_after_a_higher_id_but_never_twice() {
        let t0 = Instant::now();
        let mut bus = Bus::default();
        let chans: HashSet<_> = [Channel::broadcast()].into();
        let late = row(
            &mut bus,
            Channel::broadcast(),
            t0,
            t0 + Duration::from_secs(2),
        );
        let early = row(&mut bus, Channel::broadcast(), t0, t0);
        let mut cur = Cursor::default();
        cur.subscribe(0);
        let keep = Duration::from_secs(10);
        let w = Duration::from_secs(50);
        let first: Vec<u64> = bus
            .poll(&chans, cur.last, |id| cur.was_sent(id), t0, w)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(first, vec![early]);
        cur.record_sent(first, t0, keep);
        let t1 = t0 + Duration::from_secs(3);
        let second: Vec<u64> = bus
            .poll(&chans, cur.last, |id| cur.was_sent(id), t1, w)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            second,
            vec![late],
            "lower id delivered after the higher one"
        );
        cur.record_sent(second, t1, keep);
        let t2 = t0 + Duration::from_secs(30);
        assert!(
            bus.poll(&chans, cur.last, |id| cur.was_sent(id), t2, w)
                .is_empty()
        );
        cur.record_sent([], t2, keep);
        assert_eq!(cur.last, early as i64, "cursor moved past every expired id");
        assert!(
            bus.poll(&chans, cur.last, |id| cur.was_sent(id), t2, w)
                .is_empty()
        );
    }

    #[test]
    fn cursor_takes_client_last_only_once() {
        let mut cur = Cursor::default();
        cur.subscribe(15);
        cur.subscribe(5);
        assert_eq!(cur.last, 15);
    }

    #[test]
    fn batch_encoding_is_python_style() {
        let m = encode_message(
            "bus.bus/im_status_updated",
            &serde_json::json!({"partner_id": 7, "im_status": "online"}),
        );
        assert_eq!(
            encode_batch([(28, m.as_str())]),
            r#"[{"id": 28, "message": {"type": "bus.bus/im_status_updated", "payload": {"im_status": "online", "partner_id": 7}}}]"#
        );
    }
}
