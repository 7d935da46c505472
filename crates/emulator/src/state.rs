//! The emulator's shared state: the database, the open sockets, the fault switches and the
//! counters, behind one `std::sync::Mutex` (never held across an `.await`), plus the handles the
//! synchronous [`super::Control`] needs to reach async tasks.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::bus::{self, Channel, Row};
use super::config::EmulatorConfig;
use super::faults::{Faults, Frame};
use super::model::Db;
use super::personality::OdooVersion;
use super::stats::{ClientEvent, Stats};

/// What the control handle can ask of one open socket.
#[derive(Debug)]
pub enum SocketCmd {
    /// Close with this code and reason (1000/1001/1012 wait for the client's close).
    Close(u16, String),
    /// Drop the TCP connection, no close frame.
    Drop,
    /// Write the first half of a frame, then drop.
    DropMidFrame,
    /// Send this frame as is.
    Inject(Frame),
    /// Send these prebuilt batches as fast as possible.
    Flood(Arc<Vec<Utf8Bytes>>),
}

/// An open websocket as the rest of the emulator sees it.
#[derive(Debug)]
pub struct SocketEntry {
    pub channels: HashSet<Channel>,
    /// One pending wake-up at most, like Odoo's socketpair byte.
    pub wake: Arc<Notify>,
    pub cmd: mpsc::UnboundedSender<SocketCmd>,
}

/// What the listener task can be told.
#[derive(Debug)]
pub enum ListenerCmd {
    /// Stop accepting, wait, rebind the same port. The sender is told once the port is closed.
    Restart(Duration, std::sync::mpsc::Sender<()>),
    Shutdown,
}

/// Everything behind the lock.
#[derive(Debug)]
pub struct Inner {
    /// The personality (copied from the config so the mail logic can reach it under the lock).
    pub version: OdooVersion,
    pub db: Db,
    pub sockets: std::collections::HashMap<u64, SocketEntry>,
    pub faults: Faults,
    pub stats: Stats,
    pub events: Vec<ClientEvent>,
    retention: Duration,
    late_tx: mpsc::UnboundedSender<(Instant, Channel)>,
}

impl Inner {
    /// Store a notification (`bus.bus._sendone`) and wake the sockets listening on its channel.
    pub fn send(&mut self, channel: Channel, kind: &str, payload: &Value) -> u64 {
        self.send_with_delay(channel, kind, payload, Duration::ZERO)
    }

    /// Like [`Inner::send`], but the transaction commits `delay` later: the id is taken now, the
    /// row becomes visible (and sockets are woken) only then.
    pub fn send_with_delay(
        &mut self,
        channel: Channel,
        kind: &str,
        payload: &Value,
        delay: Duration,
    ) -> u64 {
        let now = Instant::now();
        self.db.bus.purge(now, self.retention);
        let id = self.db.bus.allocate();
        let visible_at = now + delay;
        self.db.bus.insert(Row {
            id,
            channel: channel.clone(),
            message: Arc::from(bus::encode_message(kind, payload)),
            created: now,
            visible_at,
        });
        if delay.is_zero() {
            self.wake(&channel);
        } else {
            let _ = self.late_tx.send((visible_at, channel));
        }
        id
    }

    /// Wake every socket subscribed to `channel`.
    pub fn wake(&self, channel: &Channel) {
        for s in self.sockets.values() {
            if s.channels.contains(channel) {
                s.wake.notify_one();
            }
        }
    }

    pub fn retention(&self) -> Duration {
        self.retention
    }
}

/// Shared by the listener, every connection task and every [`super::Control`] clone.
#[derive(Debug)]
pub struct Shared {
    pub cfg: EmulatorConfig,
    inner: Mutex<Inner>,
    pub runtime: Handle,
    pub port: u16,
    pub listener: mpsc::UnboundedSender<ListenerCmd>,
    /// Bumped to make every connection task (HTTP and websocket) drop its TCP connection.
    pub drop_all: watch::Sender<u64>,
    next_socket: AtomicU64,
}

impl Shared {
    pub fn new(
        cfg: EmulatorConfig,
        runtime: Handle,
        port: u16,
        listener: mpsc::UnboundedSender<ListenerCmd>,
    ) -> Arc<Self> {
        let (late_tx, late_rx) = mpsc::unbounded_channel();
        let inner = Inner {
            version: cfg.version,
            db: Db {
                sid_len: cfg.version.sid_len(),
                ..Db::seed(cfg.main_db())
            },
            sockets: Default::default(),
            faults: Faults::default(),
            stats: Stats::default(),
            events: Vec::new(),
            retention: cfg.retention,
            late_tx,
        };
        let shared = Arc::new(Shared {
            cfg,
            inner: Mutex::new(inner),
            runtime,
            port,
            listener,
            drop_all: watch::channel(0).0,
            next_socket: AtomicU64::new(1),
        });
        shared
            .runtime
            .spawn(late_commits(Arc::downgrade(&shared), late_rx));
        shared
    }

    /// The lock. A panic while holding it (a bug) must not wedge every later test step, so a
    /// poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn next_socket_id(&self) -> u64 {
        self.next_socket.fetch_add(1, Ordering::Relaxed)
    }
}

/// Wake sockets when a late transaction commits.
async fn late_commits(
    shared: std::sync::Weak<Shared>,
    mut rx: mpsc::UnboundedReceiver<(Instant, Channel)>,
) {
    while let Some((at, channel)) = rx.recv().await {
        let weak = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            if let Some(shared) = weak.upgrade() {
                shared.lock().wake(&channel);
            }
        });
    }
}
