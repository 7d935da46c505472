//! The realtime side: channel names (`channel`), decoding (`protocol`), deduplication (`dedup`), one websocket
//! (`connection`), polling when the websocket is refused (`poll`), and the reconnecting subscription (`stream`).
//!
//! Owns everything after the HTTP login: frames, sockets, exactly-once delivery. May not touch:
//! stdout/stderr, the config file (the caller saves positions and cookies), the emulator.

pub mod channel;
pub mod connection;
pub mod dedup;
pub mod poll;
pub mod protocol;
pub mod stream;
