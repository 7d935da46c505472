//! The control handle: what tests, benchmarks, `demo` and `doctor` use to drive the emulator.
//!
//! Every method is synchronous (a `std::sync::Mutex` and unbounded channels underneath), so a
//! plain `#[test]` can call it while the binary under test is running, and async code can call it
//! without `.await`. The only method that waits is [`Control::restart`], for the listener to close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::bus::{self, Channel};
use super::config::EmulatorConfig;
use super::faults::{Faults, Frame};
use super::mail::{self, PostData};
use super::model::{ChannelKind, UserIds, UserSpec};
use super::state::{ListenerCmd, Shared, SocketCmd};
use super::stats::{ClientEvent, Stats};

/// Where a notification goes, in Odoo's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A partner: where "for this user" notifications go.
    Partner(i64),
    /// A discuss channel (its subscribers).
    Channel(i64),
    /// The channel's `members` subchannel.
    ChannelMembers(i64),
    /// `"broadcast"`, which every socket gets.
    Broadcast,
    /// A `res.groups` record.
    Group(i64),
    /// `(partner, "presence")`.
    Presence(i64),
    /// Any string channel.
    Str(String),
}

impl Target {
    pub(crate) fn channel(&self) -> Channel {
        match self {
            Target::Partner(id) => Channel::partner(*id),
            Target::Channel(id) => Channel::discuss(*id),
            Target::ChannelMembers(id) => Channel::members(*id),
            Target::Broadcast => Channel::broadcast(),
            Target::Group(id) => Channel::group(*id),
            Target::Presence(id) => Channel::presence(*id),
            Target::Str(s) => Channel::Str(s.clone()),
        }
    }
}

/// What [`Control::flood`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodInfo {
    pub sockets: usize,
    pub first_id: u64,
    pub last_id: u64,
    pub bytes: usize,
}

/// Flood batches built by [`Control::prepare_flood`], ready for [`Control::send_flood`].
#[derive(Debug, Clone)]
pub struct PreparedFlood {
    channel: Channel,
    batches: Arc<Vec<Utf8Bytes>>,
    first_id: u64,
    last_id: u64,
    bytes: usize,
}

impl PreparedFlood {
    /// First and last notification id (consecutive).
    pub fn ids(&self) -> (u64, u64) {
        (self.first_id, self.last_id)
    }

    /// Total frame text, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn frames(&self) -> usize {
        self.batches.len()
    }

    /// The text of frame `i`, as it goes on the wire.
    pub fn frame(&self, i: usize) -> Option<&str> {
        self.batches.get(i).map(|b| b.as_str())
    }
}

/// A cloneable handle on a running emulator.
#[derive(Clone, Debug)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        super::base_url(self.shared.cfg.bind, self.shared.port)
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.cfg
    }

    /// The database users and channels live in.
    pub fn db(&self) -> String {
        self.shared.cfg.main_db().to_string()
    }

    pub fn add_user(&self, spec: UserSpec) -> UserIds {
        self.shared.lock().db.add_user(&spec)
    }

    /// A user by login (the seed has `admin` and `demo`).
    pub fn find_user(&self, login: &str) -> Option<UserIds> {
        let inner = self.shared.lock();
        inner.db.user_by_login(login).map(|u| UserIds {
            uid: u.uid,
            partner_id: u.partner_id,
        })
    }

    /// A new discuss channel with these users as members; returns its id.
    pub fn add_channel(&self, name: &str, kind: ChannelKind, members: &[i64]) -> i64 {
        self.shared.lock().db.add_channel(name, kind, members)
    }

    /// A discuss channel by name (the seed has "general" = 1, "sales" = 3, ...).
    pub fn find_channel(&self, name: &str) -> Option<i64> {
        self.shared.lock().db.channel_by_name(name)
    }

    /// Add a member to a channel.
    pub fn join_channel(&self, channel_id: i64, uid: i64) {
        self.shared.lock().db.add_member(channel_id, uid);
    }

    /// A logged-in session, as a finished login leaves it. Panics on an unknown uid (a bug in
    /// the test, not an input).
    pub fn create_session(&self, uid: i64) -> String {
        let sid = self.shared.lock().db.create_session(uid);
        sid.unwrap_or_else(|| panic!("emulator: create_session: no user with uid {uid}"))
    }

    /// Make every session of `uid` stale (a password change). Open sockets notice at their
    /// next client message or dispatch and close with 4001, as on a real server.
    pub fn invalidate_sessions(&self, uid: i64) {
        if let Some(u) = self.shared.lock().db.users.get_mut(&uid) {
            u.security_stamp += 1;
        }
    }

    /// Forget a session (its file deleted); sockets using it close with 4001 at their next
    /// client message or dispatch.
    pub fn delete_session(&self, sid: &str) {
        self.shared.lock().db.sessions.remove(sid);
    }

    /// True while `sid` is a logged-in session whose token still matches.
    pub fn session_is_valid(&self, sid: &str) -> bool {
        matches!(self.shared.lock().db.auth(sid), super::model::Auth::User(_))
    }

    /// The valid logged-in sessions of `uid`.
    pub fn current_session_ids(&self, uid: i64) -> Vec<String> {
        let inner = self.shared.lock();
        inner
            .db
            .sessions
            .keys()
            .filter(|sid| inner.db.auth(sid) == super::model::Auth::User(uid))
            .cloned()
            .collect()
    }

    /// Post a chat message as `author_uid`, with the same bus traffic as `/mail/message/post`.
    /// Returns the message id. Panics if the author cannot read the channel.
    pub fn post_message(&self, author_uid: i64, channel_id: i64, body_html: &str) -> i64 {
        let mut inner = self.shared.lock();
        let (id, _) = mail::post_message(
            &mut inner,
            author_uid,
            channel_id,
            &PostData::comment(body_html),
        )
        .unwrap_or_else(|_| {
            panic!("emulator: uid {author_uid} cannot post in channel {channel_id}")
        });
        id
    }

    /// Send one notification now; returns its id.
    pub fn notify(&self, target: Target, kind: &str, payload: Value) -> u64 {
        self.shared.lock().send(target.channel(), kind, &payload)
    }

    /// Take an id now, commit `delay` later: a lower id can then arrive after a higher one.
    pub fn late_commit(&self, target: Target, kind: &str, payload: Value, delay: Duration) -> u64 {
        self.shared
            .lock()
            .send_with_delay(target.channel(), kind, &payload, delay)
    }

    /// Push `frames` prebuilt batches of `per_frame` notifications (payloads about
    /// `payload_bytes` long, a share `insert_ratio` of them `mail.record/insert`, the rest
    /// `discuss.channel/new_message`) to every socket subscribed to `target`, as fast as the
    /// sockets take them. Ids come from the real sequence; no rows are stored.
    pub fn flood(
        &self,
        target: Target,
        frames: usize,
        per_frame: usize,
        payload_bytes: usize,
        insert_ratio: f64,
    ) -> FloodInfo {
        let flood = self.prepare_flood(target, frames, per_frame, payload_bytes, insert_ratio);
        self.send_flood(&flood)
    }

    /// The first half of [`Control::flood`]: take the ids and encode the batches, without
    /// sending anything. Why separate: a benchmark must not time the encoding (100 000
    /// notifications take a noticeable while to build), and can push the same batches to
    /// several clients in turn with [`Control::send_flood`].
    pub fn prepare_flood(
        &self,
        target: Target,
        frames: usize,
        per_frame: usize,
        payload_bytes: usize,
        insert_ratio: f64,
    ) -> PreparedFlood {
        let channel = target.channel();
        let total = (frames * per_frame) as u64;
        let mut inner = self.shared.lock();
        let first_id = inner.db.bus.allocate_many(total);
        let last_id = first_id + total.saturating_sub(1);
        inner.db.flood_max = inner.db.flood_max.max(last_id);
        drop(inner);
        let batches = build_flood(
            first_id,
            frames,
            per_frame,
            payload_bytes,
            insert_ratio,
            &channel,
        );
        let bytes = batches.iter().map(String::len).sum();
        PreparedFlood {
            channel,
            batches: Arc::new(batches.into_iter().map(Utf8Bytes::from).collect()),
            first_id,
            last_id,
            bytes,
        }
    }

    /// The second half of [`Control::flood`]: queue the prepared batches on every socket
    /// subscribed to its target. A socket sends them before any command queued after this call
    /// (so `close_all` right after arrives once the last batch went out). Sending the same
    /// flood again repeats its ids.
    pub fn send_flood(&self, flood: &PreparedFlood) -> FloodInfo {
        let inner = self.shared.lock();
        let mut sockets = 0;
        for s in inner
            .sockets
            .values()
            .filter(|s| s.channels.contains(&flood.channel))
        {
            if s.cmd.send(SocketCmd::Flood(flood.batches.clone())).is_ok() {
                sockets += 1;
            }
        }
        FloodInfo {
            sockets,
            first_id: flood.first_id,
            last_id: flood.last_id,
            bytes: flood.bytes,
        }
    }

    /// Set a user's presence ("online", "away", "offline"); a change is announced where the
    /// version pushes presence (late 17 on). On 16 and early 17 nothing is pushed: see
    /// [`Control::answer_presence_poll`].
    pub fn set_presence(&self, uid: i64, status: &str) {
        let status: &'static str = match status {
            "online" => "online",
            "away" => "away",
            _ => "offline",
        };
        let mut inner = self.shared.lock();
        if let Some(partner) = inner.db.partner_of(uid) {
            mail::set_status(&mut inner, partner, status);
        }
    }

    /// 19's manual status of `uid` ("away", "busy", "offline"; "online" clears it), as
    /// `/mail/set_manual_im_status` sets it: announced with the `debounce` shape, and what others
    /// see (`im_status`) stays that status while the user is connected. Ignored before 19.
    pub fn set_manual_status(&self, uid: i64, status: &str) {
        let mut inner = self.shared.lock();
        if let Some(partner) = inner.db.partner_of(uid) {
            mail::set_manual_status(&mut inner, partner, status);
        }
    }

    /// What `watcher_uid`'s client would get for an `update_presence` naming these users, on
    /// versions where presence is pulled (16: `bus/im_status`, early 17: `mail.record/insert`
    /// `Persona`), on the watcher's partner channel; the watcher counts as active. Later
    /// versions push presence instead: nothing is sent.
    pub fn answer_presence_poll(&self, watcher_uid: i64, uids: &[i64]) {
        let mut inner = self.shared.lock();
        if !inner.version.presence_is_pulled() {
            return;
        }
        let partners: Vec<i64> = uids
            .iter()
            .filter_map(|u| inner.db.partner_of(*u))
            .collect();
        if let Some(watcher) = inner.db.partner_of(watcher_uid) {
            let update = crate::ws::events::PresenceUpdate {
                inactivity_ms: 0.0,
                partners: Some(partners),
            };
            mail::update_presence(&mut inner, watcher, &update);
        }
    }

    /// Typing notification of `uid` (a member) in a channel.
    pub fn typing(&self, uid: i64, channel_id: i64, is_typing: bool) {
        let _ = mail::typing(&mut self.shared.lock(), uid, channel_id, is_typing);
    }

    /// Close every socket with this code (1000/1001/1012 wait for the client's close).
    pub fn close_all(&self, code: u16, reason: &str) {
        self.each_socket(|| SocketCmd::Close(code, reason.to_string()));
    }

    /// Drop every websocket's TCP connection without a close frame.
    pub fn drop_all(&self) {
        self.each_socket(|| SocketCmd::Drop);
    }

    /// Write half a frame on every websocket, then drop the connection.
    pub fn drop_all_mid_frame(&self) {
        self.each_socket(|| SocketCmd::DropMidFrame);
    }

    /// Send a frame to every open socket.
    pub fn inject_frame(&self, frame: Frame) {
        self.each_socket(|| SocketCmd::Inject(frame.clone()));
    }

    /// Drop every connection, close the listening port for `downtime` (connections are
    /// refused), then listen again on the same port. Sessions, users and rows are kept.
    /// Returns once the port is closed.
    pub fn restart(&self, downtime: Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self
            .shared
            .listener
            .send(ListenerCmd::Restart(downtime, tx))
            .is_err()
        {
            return;
        }
        let wait = || {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            // Blocking a current-thread runtime would stall the listener we wait for.
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => {}
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.clone()
    }

    pub fn stats(&self) -> Stats {
        let inner = self.shared.lock();
        let mut stats = inner.stats.clone();
        stats.open_sockets = inner.sockets.len();
        stats
    }

    /// Everything clients sent on websockets, oldest first.
    pub fn client_events(&self) -> Vec<ClientEvent> {
        self.shared.lock().events.clone()
    }

    /// The largest id handed out so far (rows, late commits and floods).
    pub fn max_id(&self) -> u64 {
        self.shared.lock().db.bus.last_allocated()
    }

    /// Forget login failures (end any cooldown).
    pub fn reset_login_failures(&self) {
        self.shared.lock().db.login_failures.clear();
    }

    /// Block until `pred` holds for the stats, or `timeout` passes; returns whether it held.
    /// For plain `#[test]`s waiting for the binary under test (connected, subscribed...).
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Stats, &[ClientEvent]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let (stats, events) = (self.stats(), self.client_events());
            if pred(&stats, &events) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Block until `n` `subscribe` events have been received (see [`Control::wait_until`]).
    pub fn wait_for_subscribes(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |_, events| {
            events
                .iter()
                .filter(|e| e.event_name == "subscribe")
                .count()
                >= n
        })
    }

    fn each_socket(&self, cmd: impl Fn() -> SocketCmd) {
        let inner = self.shared.lock();
        for s in inner.sockets.values() {
            let _ = s.cmd.send(cmd());
        }
    }
}

/// Prebuild flood batches: Python-encoded, ids consecutive from `first_id`.
fn build_flood(
    first_id: u64,
    frames: usize,
    per_frame: usize,
    payload_bytes: usize,
    insert_ratio: f64,
    channel: &Channel,
) -> Vec<String> {
    let channel_id = match channel {
        Channel::Record(_, id) | Channel::Sub(_, id, _) => *id,
        Channel::Str(_) => 1,
    };
    let filler = "x".repeat(payload_bytes);
    let insert = bus::encode_message(
        "mail.record/insert",
        &json!({"discuss.channel": [{"id": channel_id, "description": filler}]}),
    );
    // Encoded once with a sentinel message id, then cut around it: building 100,000
    // notifications is string concatenation, not JSON encoding.
    const SENTINEL: u64 = 987_654_321_987_654;
    let template = bus::encode_message(
        "discuss.channel/new_message",
        &json!({"data": {"mail.message": [{"author": {"id": 3, "type": "partner"}, "body": format!("<p>{filler}</p>"), "id": SENTINEL, "model": "discuss.channel", "res_id": channel_id}]}, "id": channel_id}),
    );
    let (before, after) = template
        .split_once(&SENTINEL.to_string())
        .unwrap_or((template.as_str(), ""));
    let mut out = Vec::with_capacity(frames);
    let mut k: u64 = 0;
    for _ in 0..frames {
        let mut batch = String::with_capacity(per_frame * (template.len() + 40) + 2);
        batch.push('[');
        for i in 0..per_frame {
            let id = first_id + k;
            // Spread inserts evenly: notification k is an insert when floor((k+1)·r) > floor(k·r).
            let is_insert =
                ((k + 1) as f64 * insert_ratio).floor() > (k as f64 * insert_ratio).floor();
            if i > 0 {
                batch.push_str(", ");
            }
            batch.push_str("{\"id\": ");
            batch.push_str(&id.to_string());
            batch.push_str(", \"message\": ");
            if is_insert {
                batch.push_str(&insert);
            } else {
                batch.push_str(before);
                batch.push_str(&id.to_string());
                batch.push_str(after);
            }
            batch.push('}');
            k += 1;
        }
        batch.push(']');
        out.push(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_batches_are_valid_json_with_the_requested_mix() {
        let batches = build_flood(100, 4, 5, 10, 0.25, &Channel::discuss(1));
        assert_eq!(batches.len(), 4);
        let mut ids = Vec::new();
        let mut inserts = 0;
        assert!(
            batches[0].starts_with(r#"[{"id": 100, "message": {"type": "#),
            "{}",
            batches[0]
        );
        for b in &batches {
            let v: Value = serde_json::from_str(b).unwrap();
            for n in v.as_array().unwrap() {
                ids.push(n["id"].as_u64().unwrap());
                if n["message"]["type"] == "mail.record/insert" {
                    inserts += 1;
                } else {
                    assert_eq!(
                        n["message"]["payload"]["data"]["mail.message"][0]["id"],
                        n["id"]
                    );
                }
            }
        }
        assert_eq!(ids, (100..120).collect::<Vec<_>>());
        assert_eq!(inserts, 5);
    }
}
