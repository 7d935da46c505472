//! The HTTP side of Odoo: JSON-RPC, sessions, discuss.

pub mod url;
