//! A faithful Odoo (16 to 19) stand-in for the realtime bus: the test suite's server, the benchmarks'
//! flood peer, `odoo-bus demo`'s server and `doctor`'s broken-configuration lab.
//!
//! It speaks real HTTP (hyper) and real websockets (tungstenite over the upgraded connection)
//! and reproduces what a client can observe of Odoo 18.0 (and, through [`OdooVersion`], of 16.0,
//! 17.0 early and late, and 19.0) — the JSON-RPC envelope and its
//! errors, session cookies and their rotation, the form + TOTP login with CSRF, the websocket
//! handshake rules, framing errors and close codes, rate limiting, pings, keep-alive, the
//! subscribe and dispatch rules with their server-side cursor, Python-style frame encoding,
//! retention, chat posts and presence — following docs/protocol §9 and the facts measured on a
//! real server. [`Control`] drives it and injects faults. The client code never uses this
//! module.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use odoo_bus_emulator::{Emulator, EmulatorConfig, Target};
//! let emu = Emulator::start(EmulatorConfig::fast()).await?;
//! let control = emu.control();
//! control.notify(Target::Broadcast, "bundle_changed", serde_json::json!({"server_version": "18.0"}));
//! println!("{}", emu.url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod bus;
mod config;
mod control;
mod faults;
mod http;
mod mail;
mod model;
pub mod personality;
mod proxy_fix;
pub mod pyjson;
mod state;
mod stats;
mod time;
pub mod traffic;
mod ws;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

pub use config::EmulatorConfig;
pub use control::{Control, FloodInfo, PreparedFlood, Target};
pub use faults::{AuthGateway, Faults, Frame};
pub use model::{ChannelKind, UserIds, UserSpec};
pub use personality::OdooVersion;
pub use stats::{ClientEvent, Stats};

use state::{ListenerCmd, Shared, SocketCmd};

/// A running emulator. Dropping it stops it (connections are dropped); [`Emulator::shutdown`]
/// closes sockets politely with 1001 first.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    /// Bind and start serving on the current tokio runtime.
    pub async fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        let listener = TcpListener::bind(SocketAddr::new(cfg.bind, cfg.port)).await?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared::new(cfg, Handle::current(), port, tx);
        tokio::spawn(accept_loop(shared.clone(), listener, rx));
        Ok(Emulator { shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        base_url(self.shared.cfg.bind, self.shared.port)
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }

    /// Close every socket with 1001 (going away), wait briefly for them, stop listening.
    pub async fn shutdown(self) {
        {
            let inner = self.shared.lock();
            for s in inner.sockets.values() {
                let _ = s.cmd.send(SocketCmd::Close(1001, String::new()));
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !self.shared.lock().sockets.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.shared.listener.send(ListenerCmd::Shutdown);
        self.shared.drop_all.send_modify(|g| *g += 1);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shared.listener.send(ListenerCmd::Shutdown);
        self.shared.drop_all.send_modify(|g| *g += 1);
    }
}

pub(crate) fn base_url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("http://{v4}:{port}"),
    }
}

/// Accept connections; on a restart, close the port for the downtime and rebind the same one.
async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut cmds: mpsc::UnboundedReceiver<ListenerCmd>,
) {
    let mut listener = Some(listener);
    loop {
        let cmd = match &listener {
            Some(l) => tokio::select! {
                accepted = l.accept() => {
                    if let Ok((stream, peer)) = accepted {
                        // Without it every close waited on the client's delayed ACK (about 40 ms
                        // of every benchmark run's fixed cost, charged to every client alike).
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(http::serve_connection(shared.clone(), stream, peer));
                    }
                    continue;
                }
                cmd = cmds.recv() => cmd,
            },
            None => cmds.recv().await,
        };
        match cmd {
            None | Some(ListenerCmd::Shutdown) => return,
            Some(ListenerCmd::Restart(downtime, ack)) => {
                drop(listener.take());
                shared.drop_all.send_modify(|g| *g += 1);
                let _ = ack.send(());
                tokio::select! {
                    _ = tokio::time::sleep(downtime) => {}
                    cmd = cmds.recv() => if matches!(cmd, None | Some(ListenerCmd::Shutdown)) { return },
                }
                listener = rebind(&shared).await;
            }
        }
    }
}

/// Listen on the same port again (SO_REUSEADDR is set by tokio; retry while it frees up).
async fn rebind(shared: &Shared) -> Option<TcpListener> {
    let addr = SocketAddr::new(shared.cfg.bind, shared.port);
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The README's example, compiled with the tests so it cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
