//! The `/websocket` endpoint: handshake, the per-socket loop, and the client events.

pub mod events;
pub mod handshake;
pub mod socket;
