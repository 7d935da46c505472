//! The realtime side: one websocket (`connection`), the reconnecting subscription (`stream`).

pub mod connection;
