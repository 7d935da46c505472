//! `probe`'s parts that know nothing of the command line: the socket and one probe (`engine`),
//! a probe's result and a run's tally (`sample`), the stdout line (`line`), Prometheus metrics
//! (`metrics`), the monitoring-plugin verdict (`plugin`) and the capacity test (`capacity`).
//!
//! The delivery round trip itself is `odoo_bus_core::bus::roundtrip`, shared with `doctor`.
//! May not touch: the config file, clap; stdout/stderr are the command's (`commands::probe`).

pub mod capacity;
pub mod engine;
pub mod line;
pub mod metrics;
pub mod plugin;
pub mod sample;
