//! The realtime side: channel names (`channel`), decoding (`protocol`), deduplication (`dedup`), one websocket
//! (`connection`), and the reconnecting subscription (`stream`).

pub mod channel;
pub mod connection;
pub mod dedup;
pub mod protocol;
pub mod stream;
