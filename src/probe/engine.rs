//! The probe's socket and one probe: a reconnecting subscription ([`BusStream`]) that the
//! shared round trip ([`roundtrip::round_trip`], doctor's very check) waits on, and that is
//! kept read between probes so pings are answered and reconnects happen when they must.
//!
//! The socket subscribes to nothing but what Odoo adds by itself (the user's own partner, where
//! the echo goes). Disconnects and reconnects are counted for the next sample.

use std::time::{Duration, Instant, SystemTime};

use odoo_bus_core::bus::connection::Incoming;
use odoo_bus_core::bus::roundtrip::{self, Heard, Outcome, ProbeSocket, Target};
use odoo_bus_core::bus::stream::{BusStream, Event, SessionKeeper, Status};
use odoo_bus_core::error::Error;
use odoo_bus_core::odoo::client::OdooClient;

use super::sample::{Delivery, Sample, SocketEvents};

/// Told about every connection state change (the command prints them on stderr).
pub type StatusSink = Box<dyn FnMut(&Status) + Send>;

/// The probe's socket.
pub struct ProbeStream<K: SessionKeeper> {
    stream: BusStream<K>,
    events: SocketEvents,
    fatal: Option<Error>,
    on_status: StatusSink,
}

impl<K: SessionKeeper> ProbeStream<K> {
    pub fn new(stream: BusStream<K>, on_status: StatusSink) -> Self {
        ProbeStream {
            stream,
            events: SocketEvents::default(),
            fatal: None,
            on_status,
        }
    }

    /// Open the socket (the first connection's failure is final: wrong URL, refused upgrade).
    /// Then read for `settle`, so the subscribe's replay of the last 50 s is not mistaken for
    /// the first probe's echo.
    pub async fn connect(&mut self, settle: Duration) -> Result<(), Error> {
        loop {
            match self.stream.next().await? {
                Event::Status(s) => {
                    let connected = matches!(s, Status::Connected { .. });
                    (self.on_status)(&s);
                    if connected {
                        break;
                    }
                }
                Event::Batch(_) => {}
                Event::End => return Err(Error::connection("the server closed the websocket")),
            }
        }
        self.idle_until(Instant::now() + settle).await
    }

    /// Keep reading until `deadline` (pings answered, reconnects made). A final error of the
    /// stream (session expired, OUTDATED_VERSION) ends the probe.
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
        std::mem::take(&mut self.events)
    }

    /// The final error, if the stream ended.
    pub fn take_fatal(&mut self) -> Option<Error> {
        self.fatal.take()
    }

    pub async fn close(self) {
        self.stream.close().await;
    }

    /// One event, or nothing by `deadline`. `true` when `target`'s echo was in it.
    async fn step(&mut self, deadline: Instant, target: Option<&Target>) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Some(delay) = self.stream.pending_delay()
            && delay > left
        {
            // A reconnect is due after the deadline: wait without cutting its delay short.
            tokio::time::sleep(left).await;
            return false;
        }
        let event = match tokio::time::timeout(left, self.stream.next()).await {
            Err(_) => return false,
            Ok(Err(e)) => {
                self.fatal = Some(e);
                return false;
            }
            Ok(Ok(event)) => event,
        };
        match event {
            Event::Batch(batch) => target.is_some_and(|t| {
                batch.fresh.iter().any(|n| {
                    serde_json::from_str::<serde_json::Value>(n.payload.get())
                        .is_ok_and(|v| t.is_echo(&n.kind, &v))
                })
            }),
            Event::Status(s) => {
                match &s {
                    Status::Disconnected { code, .. } => self.events.closes.push(*code),
                    Status::Connected {
                        reconnect: true, ..
                    } => self.events.reconnects += 1,
                    _ => {}
                }
                (self.on_status)(&s);
                false
            }
            Event::End => {
                self.fatal = Some(Error::connection(
                    "the server closed the websocket cleanly (1000)",
                ));
                false
            }
        }
    }
}

impl<K: SessionKeeper> ProbeSocket for ProbeStream<K> {
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
pub struct Prober<K: SessionKeeper> {
    pub profile: String,
    pub client: OdooClient,
    pub target: Target,
    pub socket: ProbeStream<K>,
    pub timeout: Duration,
    seq: u64,
}

impl<K: SessionKeeper> Prober<K> {
    pub fn new(
        profile: String,
        client: OdooClient,
        target: Target,
        socket: ProbeStream<K>,
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
