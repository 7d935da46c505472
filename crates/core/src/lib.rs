//! odoo-bus-core: the client side of Odoo's realtime bus, with no terminal and no command line.
//!
//! Owns: the Odoo HTTP side ([`odoo`]: JSON-RPC, sessions, logins, posting), the bus side
//! ([`bus`]: frames, the websocket connection, the reconnecting stream with its dedup window),
//! the profile store ([`config`]), the redacting secret types ([`secret`]), TLS set-up ([`tls`])
//! and the one error type with its exit codes ([`error`]).
//! May not touch: stdout or stderr (request logs go to a [`trace::Trace`] the caller gives),
//! clap, colors, or the emulator. The `odoo-bus` CLI and anyone writing an Odoo realtime client
//! in Rust build on it.

pub mod bus;
pub mod config;
pub mod error;
pub mod odoo;
pub mod secret;
pub mod tls;
pub mod trace;
