//! The realtime side: channel names (`channel`), decoding (`protocol`), deduplication (`dedup`), one websocket
//! (`connection`), polling when the websocket is refused (`poll`), and the reconnecting subscription (`stream`).

pub mod channel;
pub mod connection;
pub mod dedup;
pub mod poll;
pub mod protocol;
pub mod stream;
