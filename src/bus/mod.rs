//! The realtime side: decoding (`protocol`), deduplication (`dedup`), one websocket
//! (`connection`), and the reconnecting subscription (`stream`).

pub mod connection;
pub mod dedup;
pub mod protocol;
pub mod stream;
