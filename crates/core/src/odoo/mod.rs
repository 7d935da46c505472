//! The HTTP side of Odoo: JSON-RPC, sessions, discuss.

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
