//! The realtime side: what travels over Odoo's `/websocket` and how the client keeps track of it.
//!
//! `protocol` is pure (bytes in, values out, no I/O) so it can be tested against verbatim frames
//! from a real server; `dedup` is the bounded memory of ids already printed.

pub mod dedup;
pub mod protocol;
