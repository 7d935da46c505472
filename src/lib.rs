//! odoo-bus, the command line: commands, output and doctor over the client core.
//!
//! Layers, each using only those below it (docs/architecture.md draws them):
//! `main.rs` → `commands` (one file per subcommand) → `doctor` (hop-by-hop checks, prints
//! nothing) and `output` (filters and printers) → the client core `odoo_bus_core` (HTTP side,
//! bus protocol, connection, stream, config). `odoo_bus_emulator` is a faithful Odoo stand-in
//! used by `demo`, the tests and the benchmarks; no client code path uses it.

pub mod cli;
pub mod commands;
pub mod complete;
pub mod doctor;
pub mod manpage;
pub mod output;
pub mod ui;
pub mod version;
