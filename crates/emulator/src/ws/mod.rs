//! The `/websocket` endpoint: handshake, the per-socket loop, and the client events.
//!
//! Owns the fake Odoo's websocket. May not touch: the client crates; bus rows and cursors live in
//! `bus.rs`, sessions in `model.rs`.

pub mod events;
pub mod handshake;
pub mod socket;
