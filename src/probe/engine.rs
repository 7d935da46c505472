//! The probe's socket and one probe: a reconnecting subscription ([`BusStream`], in a task of
//! its own) that the shared round trip ([`roundtrip::round_trip`], doctor's very check) waits
//! on, and that is kept read between probes so pings are answered and reconnects happen.
//!
//! The socket subscribes to nothing but what Odoo adds by itself (the user's own partner, where
//! the echo goes). Disconnects and reconnects are counted for the next sample.

use std::time::{Duration, Instant, SystemTime};

use odoo_bus_core::bus::connection::Incoming;
use odoo_bus_core::bus::roundtrip::{self, Heard, Outcome, ProbeSocket, Target};
use odoo_bus_core::bus::stream::{BusStream, Event, SessionKeeper, Status};
use odoo_bus_core::error::Error;
use odoo_bus_core::odoo::client::OdooClient;
use tokio::sync::{mpsc, oneshot};

use super::sample::{Delivery, Sample, SocketEvents};

/// Told about every connection state change (the command prints them on stderr).
pub type StatusSink = Box<dyn FnMut(&Status) + Send>;

/// What the stream task hands over: owned, so waiting on it can stop at any moment.
enum Owned {
    /// The fresh notifications of a frame: (type, payload JSON).
    Batch(Vec<(String, String)>),
    Status(Status),
    Fatal(Error),
}

/// The probe's socket. The reconnecting stream runs in a task of its own and sends what it
/// sees here, so a probe's deadline never cuts a reconnect delay short (the stream keeps its
/// own pace, Odoo's browser backoff) and pings are answered even while a probe waits on HTTP.
pub struct ProbeStream {
    events: mpsc::UnboundedReceiver<Owned>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    socket: SocketEvents,
    fatal: Option<Error>,
    on_status: StatusSink,
}

impl ProbeStream {
    pub fn new<K: SessionKeeper + 'static>(
        mut stream: BusStream<K>,
        on_status: StatusSink,
    ) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                let owned = tokio::select! {
                    _ = &mut stopped => break,
                    event = stream.next() => match event {
                        Ok(Event::Batch(b)) => Owned::Batch(
                            b.fresh
                                .iter()
                                .map(|n| (n.kind.to_string(), n.payload.get().to_string()))
                                .collect(),
                        ),
                        Ok(Event::Status(s)) => Owned::Status(s),
                        Ok(Event::End) => Owned::Fatal(Error::connection(
                            "the server closed the websocket cleanly (1000)",
                        )),
                        Err(e) => Owned::Fatal(e),
                    },
                };
                let last = matches!(owned, Owned::Fatal(_));
                if tx.send(owned).is_err() || last {
                    break;
                }
            }
            stream.close().await;
        });
        ProbeStream {
            events,
            stop: Some(stop),
            task: Some(task),
            socket: SocketEvents::default(),
            fatal: None,
            on_status,
        }
    }

    /// Wait for the socket to open (the first connection's failure is final: wrong URL,
    /// refused upgrade), then read for `settle`, so the subscribe's replay of the last 50 s is
    /// not mistaken for the first probe's echo.
    pub async fn connect(&mut self, settle: Duration) -> Result<(), Error> {
        loop {
            match self.events.recv().await {
                None => return Err(Error::connection("the websocket task ended")),
                Some(Owned::Fatal(e)) => return Err(e),
                Some(Owned::Status(s)) => {
                    let connected = matches!(s, Status::Connected { .. });
                    (self.on_status)(&s);
                    if connected {
                        break;
                    }
                }
                Some(Owned::Batch(_)) => {}
            }
        }
        self.idle_until(Instant::now() + settle).await
    }

    /// Keep reading until `deadline`. A final error of the stream (session expired,
    /// OUTDATED_VERSION) ends the probe.
    pub async fn idle_until(&mut self, deadline: Instant) -> Result<(), Error> {
        loop {
            if let Some(e) = self.fatal.take() {
                return Err(e);
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            self.step(deadline, None).await;
        }
    }

    /// The disconnects and reconnects since the last call.
    pub fn take_events(&mut self) -> SocketEvents {
        std::mem::take(&mut self.socket)
    }

    /// The final error, if the stream ended.
    pub fn take_fatal(&mut self) -> Option<Error> {
        self.fatal.take()
    }

    /// Close the websocket politely and wait (briefly) for the task.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
    }

    /// One event, or nothing by `deadline`. `true` when `target`'s echo was in it.
    async fn step(&mut self, deadline: Instant, target: Option<&Target>) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        let owned = match tokio::time::timeout(left, self.events.recv()).await {
            Err(_) => return false,
            Ok(None) => {
                self.fatal = Some(Error::connection("the websocket task ended"));
                return false;
            }
            Ok(Some(owned)) => owned,
        };
        match owned {
            Owned::Batch(list) => target.is_some_and(|t| {
                list.iter().any(|(kind, payload)| {
                    serde_json::from_str::<serde_json::Value>(payload)
                        .is_ok_and(|v| t.is_echo(kind, &v))
                })
            }),
            Owned::Status(s) => {
                match &s {
                    Status::Disconnected { code, .. } => self.socket.closes.push(*code),
                    Status::Connected {
                        reconnect: true, ..
                    } => self.socket.reconnects += 1,
                    _ => {}
                }
                (self.on_status)(&s);
                false
            }
            Owned::Fatal(e) => {
                self.fatal = Some(e);
                false
            }
        }
    }
}

impl ProbeSocket for ProbeStream {
    async fn wait_for_echo(&mut self, target: &Target, deadline: Instant) -> Heard {
        loop {
            if let Some(e) = &self.fatal {
                return Heard::Ended(Incoming::Broken(e.to_string()));
            }
            if Instant::now() >= deadline {
                return Heard::Nothing;
            }
            if self.step(deadline, Some(target)).await {
                return Heard::Arrived;
            }
        }
    }
}

/// One probe: the HTTP check, then the delivery round trip.
pub struct Prober {
    pub profile: String,
    pub client: OdooClient,
    pub target: Target,
    pub socket: ProbeStream,
    pub timeout: Duration,
    seq: u64,
}

impl Prober {
    pub fn new(
        profile: String,
        client: OdooClient,
        target: Target,
        socket: ProbeStream,
        timeout: Duration,
    ) -> Self {
        Prober {
            profile,
            client,
            target,
            socket,
            timeout,
            seq: 0,
        }
    }

    pub async fn probe(&mut self) -> Sample {
        self.seq += 1;
        let at = SystemTime::now();
        let start = Instant::now();
        let http = match self.client.check().await {
            Ok(true) => Ok(start.elapsed()),
            Ok(false) => Err("the session is no longer valid".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let outcome =
            roundtrip::round_trip(&self.client, &self.target, &mut self.socket, self.timeout).await;
        let delivery = match outcome {
            Outcome::Delivered(d) => Delivery::Delivered(d),
            Outcome::Missed { stored } => Delivery::Missed { stored },
            Outcome::CallFailed(e) => Delivery::Error(format!("the probe call failed: {e}")),
            Outcome::Ended(end) => Delivery::Error(format!("the websocket ended: {end:?}")),
        };
        Sample {
            profile: self.profile.clone(),
            seq: self.seq,
            at,
            delivery,
            http,
            socket: self.socket.take_events(),
            sockets: None,
        }
    }
}
