//! The HTTP side of Odoo: JSON-RPC, sessions, discuss.
//!
//! Owns every HTTP request to Odoo. May not touch: the websocket (`bus`), stdout/stderr (request logs
//! go to the caller's `Trace`), the config file (callers save what it returns).

pub mod client;
pub mod discuss;
pub mod rpc;
pub mod session;
pub mod url;
pub mod version;

pub use client::{ClientOptions, OdooClient, RawResponse};
pub use rpc::{ErrorContext, RpcError, TransportKind};
pub use session::{AuthOutcome, DatabaseList, SessionInfo, VersionInfo};
pub use version::Flavor;
