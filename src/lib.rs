//! odoo-bus: speak Odoo's realtime bus from a shell.
//!
//! Layers, each using only those below it (see docs/protocol.md and ../shared/architecture.md):
//! `commands` (one file per subcommand) → `odoo` (HTTP/JSON-RPC) and `bus` (websocket) →
//! `output` (printers). `doctor` holds the hop-by-hop checks of `odoo-bus doctor` over `odoo`
//! and `bus` (it prints nothing). `emulator` is a faithful Odoo stand-in for tests, benchmarks
//! and `demo`; the client code never uses it.

pub mod bus;
pub mod cli;
pub mod commands;
pub mod complete;
pub mod config;
pub mod doctor;
pub mod emulator;
pub mod error;
pub mod manpage;
pub mod odoo;
pub mod output;
pub mod secret;
pub mod tls;
pub mod ui;
