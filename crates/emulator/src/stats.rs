//! What the emulator saw and did, for assertions and for `doctor`'s lab: counters and the
//! client messages received. Plain data, filled in by the serving layers and read through
//! [`crate::Control::stats`] and [`crate::Control::client_events`].

use serde_json::Value;

/// Counters, for assertions and for `doctor`'s lab.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub open_sockets: usize,
    /// Successful upgrades (101).
    pub handshakes: u64,
    /// `/websocket` requests answered with anything but 101.
    pub rejected_handshakes: u64,
    pub http_requests: u64,
    /// Every websocket frame received (data and control).
    pub frames_received: u64,
    /// Data frames (batches) sent.
    pub frames_sent: u64,
    pub pings_sent: u64,
    pub pongs_received: u64,
    /// Close codes the server sent, in order.
    pub close_codes_sent: Vec<u16>,
    /// TCP connections dropped without a close frame (timeouts, faults, restarts).
    pub tcp_drops: u64,
    /// Successful logins (JSON, form, TOTP).
    pub logins: u64,
    /// What the real server would have logged as an error while serving a websocket message
    /// (e.g. 19's TypeError for the 18-shaped `update_presence`); the socket stays open.
    pub server_errors: Vec<String>,
    /// `/websocket/peek_notifications` calls answered (any outcome).
    pub polls: u64,
    /// Of those, the ones with `is_first_poll: true`: they mark the session as a polling one.
    pub first_polls: u64,
}

/// One message a client sent on a websocket (parsed, whatever its validity).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    pub socket: u64,
    pub event_name: String,
    pub data: Value,
}
