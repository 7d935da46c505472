//! One open websocket: Odoo 18's `Websocket` class (framing errors, rate limit, ping/pong,
//! keep-alive, close semantics) and `_dispatch_bus_notifications`.
//!
//! tungstenite parses the frames (and answers pings); the emulator writes its close frames
//! itself, straight to the TCP stream, because Odoo's closing differs from tungstenite's: an
//! empty client close is echoed as 1000, and for every code but 1000/1001/1012 the server drops
//! TCP right after its close frame instead of waiting for the answer.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rand::RngExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::events;
use crate::bus::{self, Channel, Cursor};
use crate::faults::Frame;
use crate::mail;
use crate::model::Auth;
use crate::state::{Shared, SocketCmd, SocketEntry};
use crate::stats::ClientEvent;

type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// Why the loop ended.
enum End {
    /// Normal end (closed, dropped, timed out): the user goes offline.
    Closed,
    /// The emulator is restarting or shutting down: no presence change.
    Killed,
}

/// What a client event asks of the loop.
enum Reaction {
    Nothing,
    SessionExpired,
    Dispatch,
}

/// What a step of the loop decided.
enum Step {
    Continue,
    End(End),
}

struct Socket {
    shared: Arc<Shared>,
    id: u64,
    sid: String,
    uid: Option<i64>,
    channels: HashSet<Channel>,
    cursor: Cursor,
    rate: VecDeque<Instant>,
    /// Last incoming frame or wake-up (the idle-ping clock).
    last_activity: Instant,
    /// Last frame either way (what an idle-killing proxy watches).
    last_traffic: Instant,
    awaiting_pong: Option<Instant>,
    keep_alive_deadline: Instant,
    data_frames_sent: usize,
    /// Notifications pushed (or lost to the `drop_fraction` fault) on this socket.
    pushed: u64,
}

/// What the socket task needs to know about the accepted connection.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub sid: String,
    pub uid: Option<i64>,
    /// A browser asked for another worker version: close with OUTDATED_VERSION at once.
    pub outdated: bool,
}

pub async fn run(shared: Arc<Shared>, upgraded: Upgraded, accepted: Accepted) {
    let cfg = &shared.cfg;
    let config = WebSocketConfig::default()
        .max_message_size(Some(cfg.max_message))
        .max_frame_size(Some(cfg.max_message));
    let mut ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    if shared.lock().faults.swallow_frames_after_upgrade.is_some() {
        swallow(&shared, ws).await;
        return;
    }
    if accepted.outdated {
        close_and_wait(&shared, &mut ws, 1000, "OUTDATED_VERSION").await;
        return;
    }
    let pool_full = {
        let mut inner = shared.lock();
        let full = inner
            .faults
            .max_sockets
            .is_some_and(|k| inner.sockets.len() >= k);
        if full {
            inner.stats.server_errors.push(
                "Exception occurred during websocket request handling: PoolError: The Connection Pool Is Full".into(),
            );
        }
        full
    };
    if pool_full {
        // websocket.py: `except PoolError: websocket.close(CloseCode.TRY_LATER)`.
        close_now(&shared, &mut ws, 1013, "").await;
        return;
    }
    let id = shared.next_socket_id();
    let wake = Arc::new(Notify::new());
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    shared.lock().sockets.insert(
        id,
        SocketEntry {
            channels: HashSet::new(),
            wake: wake.clone(),
            cmd: cmd_tx,
        },
    );
    let now = Instant::now();
    let jitter = if cfg.keep_alive_jitter > 0.0 {
        rand::rng().random_range(0.0..cfg.keep_alive_jitter)
    } else {
        0.0
    };
    let mut socket = Socket {
        shared: shared.clone(),
        id,
        sid: accepted.sid,
        uid: accepted.uid,
        channels: HashSet::new(),
        cursor: Cursor::default(),
        rate: VecDeque::new(),
        last_activity: now,
        last_traffic: now,
        awaiting_pong: None,
        keep_alive_deadline: now + cfg.keep_alive.mul_f64(1.0 + jitter),
        data_frames_sent: 0,
        pushed: 0,
    };
    let end = socket.serve(&mut ws, &wake, cmd_rx).await;
    drop(ws);
    let mut inner = shared.lock();
    inner.sockets.remove(&id);
    if let (End::Closed, Some(uid)) = (end, socket.uid)
        && let Some(partner) = inner.db.partner_of(uid)
    {
        mail::go_offline(&mut inner, partner);
    }
}

impl Socket {
    async fn serve(
        &mut self,
        ws: &mut Ws,
        wake: &Notify,
        mut cmds: mpsc::UnboundedReceiver<SocketCmd>,
    ) -> End {
        let mut kill = self.shared.drop_all.subscribe();
        loop {
            let timer = self.next_timer();
            // Biased: frames already received (a PONG that arrived during a long flood) are
            // handled before a timer that expired meanwhile can drop the connection.
            let step = tokio::select! {
                biased;
                _ = kill.changed() => Step::End(End::Killed),
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.command(ws, cmd).await,
                    None => Step::End(End::Killed),
                },
                msg = ws.next() => self.incoming(ws, msg).await,
                _ = wake.notified() => {
                    self.last_activity = Instant::now();
                    self.dispatch(ws, Wake::Notify).await
                }
                _ = tokio::time::sleep_until(timer.into()) => self.timers(ws).await,
            };
            if let Step::End(end) = step {
                return end;
            }
        }
    }

    /// The earliest moment a timer needs attention.
    fn next_timer(&self) -> Instant {
        let cfg = &self.shared.cfg;
        let faults = self.shared.lock().faults.clone();
        let mut at = self.keep_alive_deadline;
        match self.awaiting_pong {
            Some(sent) => at = at.min(sent + cfg.pong_timeout),
            None if !faults.no_pings => at = at.min(self.last_activity + cfg.idle_ping),
            None => {}
        }
        if let Some(cut) = faults.cut_idle_after {
            at = at.min(self.last_traffic + cut);
        }
        at
    }

    async fn timers(&mut self, ws: &mut Ws) -> Step {
        let now = Instant::now();
        let cfg = &self.shared.cfg;
        let faults = self.shared.lock().faults.clone();
        if faults
            .cut_idle_after
            .is_some_and(|cut| now >= self.last_traffic + cut)
        {
            return self.drop_tcp();
        }
        if now >= self.keep_alive_deadline {
            return close_now(&self.shared, ws, 4002, "").await;
        }
        match self.awaiting_pong {
            Some(sent) if now >= sent + cfg.pong_timeout => return self.drop_tcp(),
            None if !faults.no_pings && now >= self.last_activity + cfg.idle_ping => {
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return Step::End(End::Closed);
                }
                self.shared.lock().stats.pings_sent += 1;
                self.awaiting_pong = Some(now);
                self.last_activity = now;
                self.last_traffic = now;
            }
            _ => {}
        }
        Step::Continue
    }

    fn drop_tcp(&self) -> Step {
        self.shared.lock().stats.tcp_drops += 1;
        Step::End(End::Closed)
    }

    async fn command(&mut self, ws: &mut Ws, cmd: SocketCmd) -> Step {
        match cmd {
            SocketCmd::Close(code, reason) => {
                if !self.shared.cfg.version.sends_close_frame(code) {
                    // 19's KILL_NOW: `_terminate()` at once, no close frame at all.
                    self.shared.lock().stats.tcp_drops += 1;
                    return terminate(ws).await;
                }
                if self.shared.cfg.version.waits_for_client_close(code) {
                    close_and_wait(&self.shared, ws, code, &reason).await;
                    Step::End(if code == 1001 {
                        End::Killed
                    } else {
                        End::Closed
                    })
                } else {
                    close_now(&self.shared, ws, code, &reason).await
                }
            }
            SocketCmd::Drop => self.drop_tcp(),
            SocketCmd::DropMidFrame => {
                // A text frame announcing 100 bytes, cut after 50.
                let mut bytes = vec![0x81, 100];
                bytes.extend(std::iter::repeat_n(b'[', 50));
                let _ = write_raw(ws, &bytes).await;
                self.drop_tcp()
            }
            SocketCmd::Inject(frame) => {
                self.last_traffic = Instant::now();
                let sent = match frame {
                    Frame::Text(t) => ws.send(Message::text(t)).await.is_ok(),
                    Frame::Binary(b) => ws.send(Message::binary(b)).await.is_ok(),
                    Frame::Raw(b) => write_raw(ws, &b).await.is_ok(),
                };
                if sent {
                    Step::Continue
                } else {
                    Step::End(End::Closed)
                }
            }
            SocketCmd::Flood(batches) => {
                for (i, batch) in batches.iter().enumerate() {
                    if ws.feed(Message::Text(batch.clone())).await.is_err() {
                        return Step::End(End::Closed);
                    }
                    if i % 64 == 63 && ws.flush().await.is_err() {
                        return Step::End(End::Closed);
                    }
                    if let Step::End(e) = self.count_sent_frame() {
                        let _ = ws.flush().await;
                        return Step::End(e);
                    }
                }
                self.last_traffic = Instant::now();
                if ws.flush().await.is_err() {
                    Step::End(End::Closed)
                } else {
                    Step::Continue
                }
            }
        }
    }

    /// Count a data frame; the `max_frames_per_socket` fault drops the connection at its limit.
    fn count_sent_frame(&mut self) -> Step {
        self.data_frames_sent += 1;
        let mut inner = self.shared.lock();
        inner.stats.frames_sent += 1;
        match inner.faults.max_frames_per_socket {
            Some(max) if self.data_frames_sent >= max => {
                inner.stats.tcp_drops += 1;
                Step::End(End::Closed)
            }
            _ => Step::Continue,
        }
    }

    async fn incoming(&mut self, ws: &mut Ws, msg: Option<Result<Message, WsError>>) -> Step {
        let msg = match msg {
            None => return Step::End(End::Closed),
            Some(Err(e)) => return self.protocol_error(ws, e).await,
            Some(Ok(m)) => m,
        };
        let now = Instant::now();
        self.last_activity = now;
        self.last_traffic = now;
        self.shared.lock().stats.frames_received += 1;
        if self.rate_limited(now) {
            return close_now(&self.shared, ws, 1013, "").await;
        }
        match msg {
            Message::Ping(_) | Message::Frame(_) => Step::Continue,
            Message::Pong(_) => {
                self.awaiting_pong = None;
                self.shared.lock().stats.pongs_received += 1;
                Step::Continue
            }
            Message::Close(frame) => {
                // Echo (an empty close is answered with 1000), then terminate. tungstenite has
                // already swapped a code that is not allowed (1005, 1015, ...) for 1002
                // "Protocol violation"; Odoo answers those with 1002 "Invalid close code: N".
                let (code, reason) = match frame {
                    None => (1000, String::new()),
                    Some(f)
                        if f.code == CloseCode::Protocol && f.reason == "Protocol violation" =>
                    {
                        (1002, "Invalid close code".to_string())
                    }
                    Some(f) => (u16::from(f.code), f.reason.to_string()),
                };
                send_close_frame(&self.shared, ws, code, &reason).await;
                Step::End(End::Closed)
            }
            Message::Text(t) => self.client_message(ws, t.as_str()).await,
            // 19's browser sends a 1-byte 0x00 as a liveness probe and 19 skips it; older
            // servers try to parse it, log the failure and carry on: silent on the wire either way.
            Message::Binary(b) if b.as_ref() == [0u8] => {
                if !self.shared.cfg.version.ignores_zero_frame() {
                    self.shared.lock().stats.server_errors.push(
                        "Exception occurred during websocket request handling: InvalidWebsocketRequest: Invalid JSON data".into(),
                    );
                }
                Step::Continue
            }
            Message::Binary(b) => match std::str::from_utf8(&b) {
                Ok(t) => self.client_message(ws, t).await,
                Err(_) => Step::Continue,
            },
        }
    }

    /// Odoo's sliding window: a frame arriving while `burst` frames are recorded and the
    /// oldest is younger than `burst × delay` is one too many.
    fn rate_limited(&mut self, now: Instant) -> bool {
        let cfg = &self.shared.cfg;
        if self.rate.len() >= cfg.rate_limit_burst
            && let Some(oldest) = self.rate.front()
            && now.saturating_duration_since(*oldest) < cfg.rate_limit_window()
        {
            return true;
        }
        self.rate.push_back(now);
        while self.rate.len() > cfg.rate_limit_burst {
            self.rate.pop_front();
        }
        false
    }

    async fn protocol_error(&mut self, ws: &mut Ws, e: WsError) -> Step {
        let (code, reason) = match e {
            WsError::Capacity(CapacityError::MessageTooLong { .. }) => (1009, String::new()),
            WsError::Utf8(detail) => (1007, python_utf8_error(&detail)),
            WsError::Protocol(p) => match p {
                ProtocolError::UnmaskedFrameFromClient => (1002, "Frame must be masked".into()),
                ProtocolError::NonZeroReservedBits => (1002, "Reserved bits must be unset".into()),
                ProtocolError::ControlFrameTooBig => (
                    1002,
                    "Control frames payload must be smaller than 126".into(),
                ),
                ProtocolError::FragmentedControlFrame => {
                    (1002, "Control frames cannot be fragmented".into())
                }
                ProtocolError::UnknownControlFrameType(n)
                | ProtocolError::UnknownDataFrameType(n)
                | ProtocolError::InvalidOpcode(n) => (1002, format!("{n} is not a valid Opcode")),
                ProtocolError::UnexpectedContinueFrame => {
                    (1002, "Unexpected continuation frame".into())
                }
                ProtocolError::ExpectedFragment(_) => {
                    (1002, "A continuation frame was expected".into())
                }
                ProtocolError::InvalidCloseSequence => (
                    1002,
                    "Close frame payload must be empty or at least 2 bytes".into(),
                ),
                // The peer went away without a close frame.
                _ => return Step::End(End::Closed),
            },
            _ => return Step::End(End::Closed),
        };
        close_now(&self.shared, ws, code, &reason).await
    }

    /// A TEXT/BINARY message: `serve_websocket_message`. Anything malformed is ignored.
    async fn client_message(&mut self, ws: &mut Ws, text: &str) -> Step {
        // Odoo raises InvalidWebsocketRequest, logs it and reads on.
        let log = |what: &str| {
            self.shared.lock().stats.server_errors.push(format!(
                "Exception occurred during websocket request handling: InvalidWebsocketRequest: {what}"
            ));
            Step::Continue
        };
        let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(text) else {
            return log("Invalid JSON data");
        };
        let Some(Value::String(event)) = message.remove("event_name") else {
            return log("Key 'event_name' is missing from request");
        };
        let data = message.remove("data").unwrap_or(Value::Null);
        match self.handle_event(event, data) {
            Reaction::Nothing => Step::Continue,
            Reaction::SessionExpired => close_now(&self.shared, ws, 4001, "").await,
            Reaction::Dispatch => self.dispatch(ws, Wake::Subscribe).await,
        }
    }

    /// Re-check the session (4001 when gone or stale), then run the event.
    fn handle_event(&mut self, event: String, data: Value) -> Reaction {
        let mut inner = self.shared.lock();
        inner.events.push(ClientEvent {
            socket: self.id,
            event_name: event.clone(),
            data: data.clone(),
        });
        // 19's sockets follow a rotated session to its successor.
        self.sid = inner.db.follow(&self.sid);
        let uid = match inner.db.auth(&self.sid) {
            Auth::User(uid) => Some(uid),
            Auth::Public => None,
            Auth::Missing | Auth::Stale(_) => return Reaction::SessionExpired,
        };
        let partner = uid.and_then(|u| inner.db.partner_of(u));
        match event.as_str() {
            "subscribe" => {
                let sub = data
                    .as_object()
                    .and_then(|d| Some((d.get("channels")?, d.get("last")?)))
                    .and_then(|(c, l)| {
                        events::prepare_subscribe(&inner.db, inner.version, uid, c, l)
                    });
                let Some(sub) = sub else {
                    return Reaction::Nothing;
                };
                self.channels = sub.channels.clone();
                if let Some(entry) = inner.sockets.get_mut(&self.id) {
                    entry.channels = sub.channels;
                }
                self.cursor.subscribe(sub.last);
                if let Some(partner) = partner {
                    mail::send_missed_presences(&mut inner, partner, &sub.presence_partners);
                }
                Reaction::Dispatch
            }
            "update_presence" => {
                match events::read_update_presence(inner.version, &data) {
                    Ok(update) => {
                        if let Some(partner) = partner {
                            mail::update_presence(&mut inner, partner, &update);
                        }
                    }
                    // Odoo logs the exception and keeps the socket open.
                    Err(log) => inner.stats.server_errors.push(log),
                }
                Reaction::Nothing
            }
            _ => Reaction::Nothing,
        }
    }

    /// `_dispatch_bus_notifications`: re-check the session, poll, send one batch. The
    /// `no_dispatch` fault breaks only the NOTIFY path: Odoo's `subscribe` polls on its own, so a
    /// fresh subscription still gets the stored rows even when LISTEN/NOTIFY is broken.
    async fn dispatch(&mut self, ws: &mut Ws, wake: Wake) -> Step {
        let frame = {
            let mut inner = self.shared.lock();
            self.sid = inner.db.follow(&self.sid);
            match inner.db.auth(&self.sid) {
                Auth::Missing | Auth::Stale(_) => None,
                _ if inner.faults.no_dispatch && wake == Wake::Notify => Some(None),
                _ => {
                    let now = Instant::now();
                    let cfg = &self.shared.cfg;
                    let retention = inner.retention();
                    inner.db.bus.purge(now, retention);
                    let rows = inner.db.bus.poll(
                        &self.channels,
                        self.cursor.last,
                        |id| self.cursor.was_sent(id),
                        now,
                        cfg.last0_window,
                    );
                    let ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
                    // The `drop_fraction` fault: lost rows count as sent (never replayed here).
                    let faults = &inner.faults;
                    let kept: Vec<_> = rows
                        .iter()
                        .filter(|_| {
                            let lost = faults.drops(self.pushed);
                            self.pushed += 1;
                            !lost
                        })
                        .collect();
                    if !ids.is_empty() {
                        self.cursor.record_sent(ids, now, cfg.history);
                    }
                    if kept.is_empty() {
                        Some(None)
                    } else {
                        Some(Some(bus::encode_batch(
                            kept.iter().map(|r| (r.id, &*r.message)),
                        )))
                    }
                }
            }
        };
        match frame {
            None => close_now(&self.shared, ws, 4001, "").await,
            Some(None) => Step::Continue,
            Some(Some(text)) => {
                let delay = self.shared.lock().faults.delivery_delay;
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                self.last_traffic = Instant::now();
                if ws.send(Message::text(text)).await.is_err() {
                    return Step::End(End::Closed);
                }
                self.count_sent_frame()
            }
        }
    }
}

/// The `swallow_frames_after_upgrade` fault: read what the client sends and drop it, answer
/// nothing, until the client goes or the emulator drops every connection.
async fn swallow(shared: &Shared, mut ws: Ws) {
    let mut kill = shared.drop_all.subscribe();
    let io = ws.get_mut();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            _ = kill.changed() => return,
            read = io.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

/// Python's wording for a decoding error, from Rust's ("... from index N").
fn python_utf8_error(detail: &str) -> String {
    let position = detail
        .rsplit("index ")
        .next()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    format!("'utf-8' codec can't decode byte in position {position}: invalid start byte")
}

/// A close frame as the server writes it: unmasked, code + reason (≤ 125 bytes).
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut reason = reason;
    while reason.len() > 123 {
        let mut cut = 123;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason = &reason[..cut];
    }
    let mut bytes = vec![0x88, (2 + reason.len()) as u8];
    bytes.extend_from_slice(&code.to_be_bytes());
    bytes.extend_from_slice(reason.as_bytes());
    bytes
}

async fn write_raw(ws: &mut Ws, bytes: &[u8]) -> std::io::Result<()> {
    let io = ws.get_mut();
    io.write_all(bytes).await?;
    io.flush().await
}

async fn send_close_frame(shared: &Shared, ws: &mut Ws, code: u16, reason: &str) {
    shared.lock().stats.close_codes_sent.push(code);
    let _ = write_raw(ws, &close_frame(code, reason)).await;
}

/// Close and drop TCP at once (every code but 1000/1001/1012): `shutdown(WR)`, then read
/// until EOF for at most a second so unread client data does not turn the FIN into a RST.
async fn close_now(shared: &Shared, ws: &mut Ws, code: u16, reason: &str) -> Step {
    send_close_frame(shared, ws, code, reason).await;
    terminate(ws).await
}

/// `_terminate`: shut the write side, drain what the client still sends (1 s at most), close.
async fn terminate(ws: &mut Ws) -> Step {
    let io = ws.get_mut();
    let _ = io.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 8192];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    Step::End(End::Closed)
}

/// Close with a "clean" code and wait (up to the pong timeout) for the client's close.
async fn close_and_wait(shared: &Shared, ws: &mut Ws, code: u16, reason: &str) {
    send_close_frame(shared, ws, code, reason).await;
    let wait = async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(
        shared.cfg.pong_timeout.max(Duration::from_millis(500)),
        wait,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_frames_are_unmasked_and_bounded() {
        assert_eq!(close_frame(1000, ""), vec![0x88, 2, 0x03, 0xe8]);
        let long = close_frame(1002, &"é".repeat(100));
        assert_eq!(long[1] as usize, long.len() - 2);
        assert!(long.len() - 2 <= 125);
        assert!(std::str::from_utf8(&long[4..]).is_ok());
    }
}

/// What woke a dispatch: the bus (a NOTIFY from another transaction) or the socket's own subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Notify,
    Subscribe,
}
