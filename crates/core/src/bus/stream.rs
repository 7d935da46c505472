//! The reconnecting subscription: what turns one fragile websocket into a stream where nothing is
//! lost or printed twice across disconnects. It yields events; it prints nothing.
//!
//! The rules follow Odoo 18's own browser worker (`websocket_worker.js`, §6 of the protocol notes):
//! - close 1000 stops (with `OUTDATED_VERSION` it is fatal); 4001 means the session may be gone, so
//!   we ask the server before retrying (an expired session ends the stream instead of hammering
//!   the server); 4002 (keep-alive lifetime) reconnects at once; anything else backs off
//!   (1 s × 1.5 per try + up to 1 s jitter, capped at 60 s, reset after a successful open);
//! - every (re)subscribe carries `last` = the highest id seen, so the server replays exactly what
//!   we missed; ids are not monotonic (late commits), so a bounded window of recent ids drops
//!   replays instead of trusting order;
//! - a connection that stays silent longer than the watchdog is treated as dead.
//!
//! The transport is a seam: when the upgrade is refused (`auto`) or polling is asked for, the
//! open link is a [`Poller`] instead of a websocket, and each poll's notifications array goes
//! through the very same resume point, dedup window and session rules as a frame. A failed poll
//! is a lost connection (backed off, then re-opened with a session check); error 100 on a poll is
//! the socket's 4001 (ask the server: expired ends the stream).

use std::time::{Duration, SystemTime};

use rand::RngExt;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::bus::connection::{self, ConnectError, ConnectOptions, Connection, Handshake, Incoming};
use crate::bus::dedup::SeenIds;
use crate::bus::poll::{self, PeekError, PollOptions, Poller, TransportMode, Wake};
use crate::bus::protocol::{self, CloseAction, Notification};
use crate::error::{Error, ErrorKind};
use crate::odoo::client::OdooClient;
use crate::secret::SessionId;

/// Answer of a session check over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCheck {
    Valid,
    Expired,
    /// The check itself failed (server down): not a verdict on the session.
    Unknown(String),
}

/// The stream's link to the HTTP side and the config file, kept abstract so the core knows
/// nothing of where sessions are saved.
pub trait SessionKeeper: Send {
    /// The logged-in HTTP client (polling goes through it, so its session rotations are saved
    /// like any call's).
    fn http(&self) -> &OdooClient;
    /// The session id to present on the next handshake.
    fn current(&self) -> SessionId;
    /// The server set a new session id: persist it.
    fn rotated(&mut self, sid: &SessionId);
    /// Ask the server whether the session is still logged in.
    fn check(&mut self) -> impl std::future::Future<Output = SessionCheck> + Send;
}

/// Where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// `last = 0`: what the server kept from the last 50 seconds, then live.
    Recent,
    /// Everything after this id that the server still retains.
    After(u64),
}

/// Reconnect timing, Odoo's worker constants by default.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    pub jitter: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            factor: 1.5,
            max: Duration::from_secs(60),
            jitter: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The next delay from the current one, as `_retryConnectionWithDelay` computes it.
    pub fn next(&self, current: Duration, jitter_fraction: f64) -> Duration {
        let grown = current.mul_f64(self.factor).min(self.max);
        grown + self.jitter.mul_f64(jitter_fraction.clamp(0.0, 1.0))
    }
}

/// Everything the stream needs to know.
#[derive(Clone)]
pub struct StreamOptions {
    pub connect: ConnectOptions,
    /// Channels to subscribe to (the server adds the implicit ones).
    pub channels: Vec<String>,
    pub start: StartAt,
    /// False: the first unexpected disconnect ends the stream (exit 4).
    pub reconnect: bool,
    /// The `update_presence` event to send after each subscribe (its shape depends on the
    /// server's version: [`crate::odoo::version::Flavor::update_presence_event`]).
    pub presence: Option<String>,
    pub backoff: Backoff,
    /// Longest silence before the connection is considered dead (Odoo pings after 45 s).
    pub watchdog: Duration,
    /// How many recent ids to remember for deduplication.
    pub dedup_window: usize,
    /// Websocket, polling, or the websocket with a fallback to polling.
    pub transport: TransportMode,
    pub poll: PollOptions,
}

/// A state change worth telling the user about (on stderr).
#[derive(Debug, Clone)]
pub enum Status {
    Connecting {
        attempt: u32,
    },
    Connected {
        url: String,
        last: u64,
        reconnect: bool,
    },
    /// Polling `/websocket/peek_notifications` (the first poll answered).
    Polling {
        url: String,
        last: u64,
        reconnect: bool,
        /// Why the websocket was given up, the first time `auto` falls back (said once).
        fell_back: Option<String>,
    },
    Disconnected {
        code: Option<u16>,
        reason: String,
        explanation: String,
        /// How long the stream waits before the next attempt (short after 4002, backing off
        /// after anything else), so the user knows it is not stuck.
        retry_in: Duration,
    },
    Retrying {
        delay: Duration,
        attempt: u32,
        error: String,
    },
    Malformed {
        size: usize,
        head: String,
        reason: String,
    },
}

/// A frame's notifications that were not seen before (possibly none).
pub struct Batch<'s> {
    pub text: &'s str,
    pub received_at: SystemTime,
    pub fresh: Vec<Notification<'s>>,
}

pub enum Event<'s> {
    Batch(Batch<'s>),
    Status(Status),
    /// The server closed cleanly (1000): the stream is over.
    End,
}

enum State {
    /// Connect after this delay (zero: now).
    Connect {
        delay: Duration,
    },
    Open(Box<Connection>),
    Polling(Box<Poller>),
}

/// The reconnecting subscription.
pub struct BusStream<K: SessionKeeper> {
    opts: StreamOptions,
    keeper: K,
    state: State,
    seen: SeenIds,
    /// The text of the frame the last `Batch` borrows from.
    frame: Utf8Bytes,
    /// Current backoff delay (grows per failed try, reset on open).
    delay: Duration,
    attempt: u32,
    ever_connected: bool,
    announced: bool,
    /// The `last` sent on the current connection. Odoo never sends an id at or below it on that
    /// connection unless it replaced `last` by 0 because no such id exists (database restored or
    /// switched): then our memory of ids is about another database and must go.
    subscribed_last: u64,
    /// `auto` fell back to polling (until the websocket works again).
    polling: bool,
    told_fallback: bool,
    /// A websocket was open earlier in this run: a refused upgrade now is most likely a restart
    /// under way, so polling tries the socket again within seconds instead of minutes.
    websocket_worked: bool,
}

/// The first websocket attempt after a fallback, when a websocket worked earlier in the run (the
/// attempts then double up to `PollOptions::websocket_retry`): behind a proxy, a restarted Odoo
/// answers HTTP before its gevent process is up, and the upgrade gets 502 for a few seconds.
const AFTER_A_WORKING_WEBSOCKET: Duration = Duration::from_secs(1);

impl<K: SessionKeeper> BusStream<K> {
    pub fn new(opts: StreamOptions, keeper: K) -> Self {
        let mut seen = SeenIds::new(opts.dedup_window);
        if let StartAt::After(id) = opts.start {
            seen.seed(id);
        }
        let delay = opts.backoff.initial;
        let polling = opts.transport == TransportMode::Poll;
        BusStream {
            opts,
            keeper,
            state: State::Connect {
                delay: Duration::ZERO,
            },
            seen,
            frame: Utf8Bytes::from_static(""),
            delay,
            attempt: 0,
            ever_connected: false,
            announced: false,
            subscribed_last: 0,
            polling,
            told_fallback: false,
            websocket_worked: false,
        }
    }

    /// The highest notification id seen so far (to save for `--resume`).
    pub fn max_id(&self) -> Option<u64> {
        self.seen.max()
    }

    /// The `last` to subscribe with now.
    fn resume_point(&self) -> u64 {
        match (self.seen.max(), self.opts.start) {
            (Some(m), StartAt::After(a)) => m.max(a),
            (Some(m), StartAt::Recent) => m,
            (None, StartAt::After(a)) => a,
            (None, StartAt::Recent) => 0,
        }
    }

    /// Send a raw event on the open connection (for `send --event`). Waits for the rate budget.
    pub async fn send_event(&mut self, text: String) -> Result<(), Error> {
        match &mut self.state {
            State::Open(conn) => conn
                .send_text(text)
                .await
                .map_err(|e| Error::connection(format!("cannot send on the websocket: {e}"))),
            State::Connect { .. } => Err(Error::connection("the websocket is not connected")),
            State::Polling(_) => Err(Error::connection(
                "the bus is being polled (the websocket is refused): events cannot be sent",
            )),
        }
    }

    /// Close the websocket politely (the server marks the user offline).
    pub async fn close(self) {
        if let State::Open(conn) = self.state {
            conn.close().await;
        }
    }

    /// The next event. Errors are final: the stream is over (session expired, outdated, refused,
    /// or a disconnect with reconnecting off).
    pub async fn next(&mut self) -> Result<Event<'_>, Error> {
        let conn = match &mut self.state {
            State::Connect { delay } => {
                // Two steps, so the caller can show "connecting" before the attempt blocks.
                let delay = *delay;
                if !self.announced {
                    self.announced = true;
                    self.attempt += 1;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    return Ok(Event::Status(Status::Connecting {
                        attempt: self.attempt,
                    }));
                }
                self.announced = false;
                return match self.open().await {
                    Ok(status) | Err(Step::Retry(status)) => Ok(Event::Status(status)),
                    Err(Step::Fatal(e)) => Err(e),
                };
            }
            State::Open(conn) => conn,
            State::Polling(_) => return self.poll_next().await,
        };
        match conn.next(self.opts.watchdog).await {
            Incoming::Text(text) => {
                let received_at = SystemTime::now();
                self.frame = text;
                Ok(self.batch(received_at))
            }
            Incoming::Binary(bytes) => Ok(Event::Status(malformed(
                &bytes,
                "a binary frame (Odoo only sends text)".into(),
            ))),
            Incoming::Closed { code, reason } => self.closed(code, reason).await,
            Incoming::Broken(why) => self.lost(None, why),
            Incoming::Silent(d) => self.lost(
                None,
                format!(
                    "nothing received for {}s: the server or a proxy dropped the connection",
                    d.as_secs()
                ),
            ),
        }
    }

    /// Decode the current frame and keep what was not seen before.
    fn batch(&mut self, received_at: SystemTime) -> Event<'_> {
        let text: &str = self.frame.as_str();
        match protocol::decode_batch(text) {
            Ok(mut all) => {
                if self.subscribed_last > 0 && all.iter().any(|n| n.id <= self.subscribed_last) {
                    self.seen.reset();
                    self.subscribed_last = 0;
                }
                let seen = &mut self.seen;
                all.retain(|n| seen.first_sighting(n.id));
                Event::Batch(Batch {
                    text,
                    received_at,
                    fresh: all,
                })
            }
            Err(e) => Event::Status(malformed(text.as_bytes(), e.to_string())),
        }
    }

    /// The next event while polling: what the opening poll brought, then one poll per interval
    /// (empty polls are not events), or the websocket when `auto` got it back.
    async fn poll_next(&mut self) -> Result<Event<'_>, Error> {
        loop {
            let last = self.resume_point();
            let State::Polling(poller) = &mut self.state else {
                // Only called in the polling state; should that change, the next call connects.
                return Ok(Event::Status(Status::Connecting {
                    attempt: self.attempt,
                }));
            };
            if let Some(text) = poller.pending.take() {
                self.frame = Utf8Bytes::from(text);
                return Ok(self.batch(SystemTime::now()));
            }
            let session = self.keeper.current();
            if let Wake::Upgraded(conn, handshake) = poller.wait(&self.opts.connect, &session).await
            {
                return match self.adopt(*conn, handshake).await {
                    Ok(status) | Err(Step::Retry(status)) => Ok(Event::Status(status)),
                    Err(Step::Fatal(e)) => Err(e),
                };
            }
            // Best effort, like the socket's update_presence: a failure shows in the next poll.
            if poller.presence_due() {
                let _ = poll::update_presence(self.keeper.http()).await;
            }
            let first = poller.first;
            match poll::peek(
                self.keeper.http(),
                &self.opts.channels,
                last,
                first,
                self.opts.connect.connect_timeout,
            )
            .await
            {
                Ok(found) => {
                    poller.first = false;
                    poller.polled(found.is_some());
                    if let Some(text) = found {
                        self.subscribed_last = last;
                        self.frame = Utf8Bytes::from(text);
                        return Ok(self.batch(SystemTime::now()));
                    }
                }
                Err(PeekError::Unmarked) if !first => match self.keeper.check().await {
                    SessionCheck::Expired => return Err(Error::session_expired_plain()),
                    // Still logged in but no longer marked (the session was rewritten): mark it
                    // again with the next poll.
                    SessionCheck::Valid => poller.first = true,
                    SessionCheck::Unknown(why) => return self.lost(None, why),
                },
                Err(PeekError::Unmarked) => {
                    return self.lost(None, "a first poll was answered with error 100".into());
                }
                Err(PeekError::Failed(why)) => {
                    return self.lost(None, format!("polling failed: {why}"));
                }
            }
        }
    }

    /// The first poll of a polling session (it marks the session), then the polling state.
    async fn open_poll(&mut self, fell_back: Option<String>) -> Result<Status, Step> {
        let last = self.resume_point();
        match poll::peek(
            self.keeper.http(),
            &self.opts.channels,
            last,
            true,
            self.opts.connect.connect_timeout,
        )
        .await
        {
            Ok(found) => {
                let retry = (self.opts.transport == TransportMode::Auto).then(|| {
                    let every = self.opts.poll.websocket_retry;
                    if self.websocket_worked {
                        AFTER_A_WORKING_WEBSOCKET.min(every)
                    } else {
                        every
                    }
                });
                let mut poller = Poller::new(self.opts.poll, self.opts.presence.is_some(), retry);
                poller.first = false;
                poller.polled(found.is_some());
                poller.pending = found;
                self.subscribed_last = last;
                let reconnect = self.ever_connected;
                self.ever_connected = true;
                self.delay = self.opts.backoff.initial;
                self.state = State::Polling(Box::new(poller));
                Ok(Status::Polling {
                    url: self.keeper.http().url().route(poll::PEEK_ROUTE),
                    last,
                    reconnect,
                    fell_back,
                })
            }
            Err(e) => {
                let why = match e {
                    PeekError::Unmarked => "a first poll was answered with error 100".to_string(),
                    PeekError::Failed(why) => why,
                };
                if !self.ever_connected || !self.opts.reconnect {
                    return Err(Step::Fatal(Error::connection(match fell_back {
                        Some(reason) => format!(
                            "{reason}, and polling failed too: {why} (run `odoo-bus doctor`)"
                        ),
                        None => format!("polling failed: {why} (run `odoo-bus doctor`)"),
                    })));
                }
                self.retry_after_failure(why)
            }
        }
    }

    async fn open(&mut self) -> Result<Status, Step> {
        if self.ever_connected {
            // A real Odoo 18 upgrades a destroyed or unknown session *with the same cookie* and
            // serves a silently public socket, so only an HTTP check can tell: ask before every
            // reconnect (the first connect was checked by the caller).
            match self.keeper.check().await {
                SessionCheck::Expired => return Err(Step::Fatal(Error::session_expired_plain())),
                SessionCheck::Valid => {}
                SessionCheck::Unknown(why) => return self.retry_after_failure(why),
            }
        }
        if self.polling {
            return self.open_poll(None).await;
        }
        let session = self.keeper.current();
        match connection::connect(&self.opts.connect, &session).await {
            Ok((conn, handshake)) => self.adopt(conn, handshake).await,
            Err(e) => {
                if self.opts.transport == TransportMode::Auto
                    && let Some(reason) = poll::fallback_reason(&e)
                {
                    self.polling = true;
                    let first_time = !std::mem::replace(&mut self.told_fallback, true);
                    return self.open_poll(first_time.then_some(reason)).await;
                }
                if !self.ever_connected || !self.opts.reconnect {
                    return Err(Step::Fatal(connect_error(&e)));
                }
                self.retry_after_failure(e.to_string())
            }
        }
    }

    /// An open websocket becomes the link: subscribe from the resume point (after a fallback,
    /// from the highest id polled, so the switch loses and repeats nothing).
    async fn adopt(&mut self, mut conn: Connection, handshake: Handshake) -> Result<Status, Step> {
        if let Some(new_sid) = &handshake.rotated_session {
            // Odoo rotates the id at the handshake when the one we sent was unusable: the
            // socket is public. Save what the server says, then confirm.
            self.keeper.rotated(new_sid);
            if self.keeper.check().await == SessionCheck::Expired {
                return Err(Step::Fatal(Error::new(
                    ErrorKind::Auth,
                    "session expired: the server logged it out at the websocket handshake; run `odoo-bus login`",
                )));
            }
        }
        let last = self.resume_point();
        self.subscribed_last = last;
        let subscribe = protocol::subscribe_event(&self.opts.channels, last);
        if let Err(e) = conn.send_text(subscribe).await {
            return self.retry_after_failure(format!("the subscribe could not be sent: {e}"));
        }
        if let Some(presence) = &self.opts.presence
            && let Err(e) = conn.send_text(presence.clone()).await
        {
            return self.retry_after_failure(format!("update_presence could not be sent: {e}"));
        }
        let reconnect = self.ever_connected;
        self.ever_connected = true;
        self.websocket_worked = true;
        self.polling = false;
        self.delay = self.opts.backoff.initial;
        self.state = State::Open(Box::new(conn));
        Ok(Status::Connected {
            url: handshake.url,
            last,
            reconnect,
        })
    }

    fn retry_after_failure(&mut self, error: String) -> Result<Status, Step> {
        if !self.opts.reconnect {
            return Err(Step::Fatal(Error::connection(format!(
                "{error} (not reconnecting: --no-reconnect)"
            ))));
        }
        let delay = self.schedule_backoff();
        Err(Step::Retry(Status::Retrying {
            delay,
            attempt: self.attempt,
            error,
        }))
    }

    /// Grow the delay and move to the Connect state; returns the delay.
    fn schedule_backoff(&mut self) -> Duration {
        let jitter: f64 = rand::rng().random();
        let delay = self.opts.backoff.next(self.delay, jitter);
        self.delay = delay;
        self.state = State::Connect { delay };
        delay
    }

    async fn closed(&mut self, code: Option<u16>, reason: String) -> Result<Event<'_>, Error> {
        let explanation = match code {
            Some(c) => protocol::close_explanation(c, &reason),
            None => "the server closed the websocket without a code".to_string(),
        };
        match protocol::close_action(code, &reason) {
            CloseAction::Stop => {
                self.state = State::Connect {
                    delay: Duration::ZERO,
                };
                Ok(Event::End)
            }
            CloseAction::Outdated => Err(Error::other(
                "the server closed the websocket with OUTDATED_VERSION: the worker version saved at login no longer matches; run `odoo-bus login` again to refresh it",
            )),
            CloseAction::SessionExpired => match self.keeper.check().await {
                SessionCheck::Expired => Err(Error::session_expired_plain()),
                _ => self.lost(code, format!("{explanation}; the session is still valid")),
            },
            CloseAction::ReconnectNow => {
                if !self.opts.reconnect {
                    return Err(Error::connection(format!(
                        "disconnected: {explanation} (not reconnecting: --no-reconnect)"
                    )));
                }
                let jitter: f64 = rand::rng().random();
                let delay = self.opts.backoff.jitter.mul_f64(jitter);
                self.state = State::Connect { delay };
                Ok(Event::Status(Status::Disconnected {
                    code,
                    reason,
                    explanation,
                    retry_in: delay,
                }))
            }
            CloseAction::Backoff => self.lost(code, explanation),
        }
    }

    /// An unexpected end of the connection: back off and reconnect, or give up.
    fn lost(&mut self, code: Option<u16>, explanation: String) -> Result<Event<'_>, Error> {
        if !self.opts.reconnect {
            return Err(Error::connection(format!(
                "disconnected: {explanation} (not reconnecting: --no-reconnect)"
            )));
        }
        let retry_in = self.schedule_backoff();
        Ok(Event::Status(Status::Disconnected {
            code,
            reason: String::new(),
            explanation,
            retry_in,
        }))
    }

    /// The delay before the next connection attempt, when one is scheduled.
    pub fn pending_delay(&self) -> Option<Duration> {
        match &self.state {
            State::Connect { delay } => Some(*delay),
            State::Open(_) | State::Polling(_) => None,
        }
    }
}

enum Step {
    Fatal(Error),
    Retry(Status),
}

fn malformed(bytes: &[u8], reason: String) -> Status {
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    Status::Malformed {
        size: bytes.len(),
        head,
        reason,
    }
}

/// The first connection failed: say which hop and what to try.
fn connect_error(e: &ConnectError) -> Error {
    if let ConnectError::Refusal {
        status: 300..=399,
        location,
        ..
    } = e
    {
        // Never followed: the session cookie must not travel to wherever this points.
        let target = location.as_deref().unwrap_or("another address");
        return Error::connection(format!(
            "{e}: it redirects to {target}; odoo-bus does not follow redirects, so the session stays with this server (log in at the address Odoo is really served at)"
        ));
    }
    let hint = match e {
        ConnectError::Refusal { status: 400, .. } => {
            " (a proxy may strip the Upgrade/Connection headers; run `odoo-bus doctor`)"
        }
        ConnectError::Refusal { status: 404, .. } => {
            " (/websocket is not routed to Odoo; run `odoo-bus doctor`)"
        }
        ConnectError::Refusal {
            status: 500..=599, ..
        } => " (in prefork mode /websocket must reach the gevent port 8072; run `odoo-bus doctor`)",
        ConnectError::Tls(_) => " (check the certificate; --insecure skips verification)",
        _ => " (run `odoo-bus doctor` to find the broken hop)",
    };
    Error::connection(format!("{e}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_half_and_caps() {
        let b = Backoff::default();
        let d1 = b.next(b.initial, 0.0);
        assert_eq!(d1, Duration::from_millis(1500));
        assert_eq!(b.next(d1, 0.0), Duration::from_millis(2250));
        assert_eq!(
            b.next(Duration::from_secs(59), 0.0),
            Duration::from_secs(60)
        );
        assert_eq!(
            b.next(Duration::from_secs(60), 1.0),
            Duration::from_secs(61)
        );
    }
}
