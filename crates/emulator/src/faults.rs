//! The switches that make the emulator misbehave the way broken deployments do, and the raw
//! frames a test can push. Plain data: set through [`crate::Control::set_faults`] and
//! [`crate::Control::inject_frame`], read by the HTTP and websocket layers. Owns no behaviour.

use std::time::Duration;

/// A frame to push to every open socket, for malformed-traffic tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// Bytes written to the TCP stream as they are (a hand-made frame, garbage, ...).
    Raw(Vec<u8>),
}

/// Switches that make the emulator misbehave the way broken deployments do.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer `/websocket` with this status, content type and body instead of upgrading
    /// (a proxy's 502/504, a 404 from a wrong path, an HTML 200 from a catch-all...).
    pub upgrade_status: Option<(u16, &'static str, String)>,
    /// Prefork HTTP worker: `/websocket` fails with a 500 (it needs the evented port 8072).
    pub http_worker_mode: bool,
    /// Upgrade with a fresh public session (rotated cookie) whatever cookie was sent.
    pub downgrade_session: bool,
    /// Rows are stored but never pushed (a dead `ImDispatch` thread).
    pub no_dispatch: bool,
    /// A proxy that drops connections idle (no frame either way) for this long.
    pub cut_idle_after: Option<Duration>,
    /// Accept the TCP connection and the `/websocket` request, never answer.
    pub hang_handshake: bool,
    /// Never send a server PING.
    pub no_pings: bool,
    /// Drop the TCP connection after this many data frames on a socket.
    pub max_frames_per_socket: Option<usize>,
}
