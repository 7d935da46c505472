//! `tail` over several profiles: one task per profile (its own session, connection, reconnects,
//! resume position, version and transport), one merged output in arrival order.
//!
//! Each profile's task reads its stream, filters, and formats what it keeps with a printer that
//! labels every line with the profile; the formatted bytes travel to this loop through one
//! bounded queue (backpressure reaches every socket, never memory), which hands them to the
//! stdout thread with the profile's position (the pump keeps a written position per profile, so
//! `--resume` never skips what did not reach stdout). A profile that fails is reported on stderr
//! under its name and retried with backoff while the others go on: a server down at start or
//! later, and an expired session (the task waits for a new one in the config file: `odoo-bus
//! login -p NAME` in another terminal revives it). The tail ends with exit 3 only when every
//! profile needs a login at once.
//!
//! May not touch: the single-profile path (tail.rs keeps it byte-identical), the stream's rules.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::{
    Ending, Stops, Tally, backoff_from_env, choose_transport, drain, finish, hand_over,
    merged_channels, report, stdout_failure, stdout_printer_labelled, stream_options,
};
use crate::cli::TailArgs;
use crate::commands::Context;
use crate::output::filter::{ChannelSelector, TypeFilter};
use crate::output::pump::Pump;
use crate::output::{FrameView, ProfileLabel};
use odoo_bus_core::bus::stream::{Backoff, BusStream, Event, StartAt};
use odoo_bus_core::error::{Error, ErrorKind, Result};

/// Formatted frames waiting for this loop, across all profiles.
const QUEUE: usize = 256;

/// How much each websocket reads at once (the single-profile tail reads 128 KiB, which is
/// resident per connection: 125 MiB for a thousand profiles; see docs/performance.md).
const READ_BUFFER: usize = 16 << 10;

/// How often a profile whose session expired looks for a new one in the config file.
const LOGIN_POLL: Duration = Duration::from_secs(2);

/// What a profile's task tells the merging loop.
enum Msg {
    /// Lines for stdout: `count` notifications ending at stream position `position`.
    Piece {
        slot: usize,
        bytes: Vec<u8>,
        position: u64,
        kinds: Vec<String>,
    },
    /// The profile needs a login (true) or got a session again (false).
    NeedsLogin { slot: usize, needs: bool },
    /// The profile's stream is over: the server closed it (Ok) or it failed for good.
    Ended { slot: usize, result: Result<()> },
}

/// What every task shares.
struct Shared {
    args: TailArgs,
    types: TypeFilter,
    selector: Option<ChannelSelector>,
    /// `--count`: notifications that may still be printed, reserved by the tasks as they format.
    budget: Option<AtomicU64>,
    /// Per profile: the position to save if everything it sent is written (highest id seen, or
    /// where `--count` cut it).
    positions: Mutex<Vec<Option<u64>>>,
    backoff: Backoff,
}

pub(super) async fn run(ctx: &Context, args: TailArgs, names: Vec<String>) -> Result<i32> {
    if args.after_id.is_some() {
        return Err(Error::usage(
            "--after-id is one server's position: with several profiles use --resume (each profile continues from its own)",
        ));
    }
    let types = TypeFilter::new(&args.types, &args.exclude_types).map_err(Error::usage)?;
    let selector = args
        .only_channels
        .then(|| ChannelSelector::new(&args.channels));
    let labels = ProfileLabel::for_all(&names);
    odoo_bus_core::bus::connection::set_read_buffer_size(READ_BUFFER);
    let mut pump = Pump::start_for(std::io::stdout(), names.len())
        .map_err(|e| Error::other(format!("cannot start the stdout writer thread: {e}")))?;
    let shared = Arc::new(Shared {
        budget: args.count.map(AtomicU64::new),
        positions: Mutex::new(vec![None; names.len()]),
        backoff: backoff_from_env()?,
        args,
        types,
        selector,
    });
    let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for (slot, (name, label)) in names.iter().zip(labels).enumerate() {
        let task = Task {
            slot,
            ctx: ctx.for_profile(name),
            shared: shared.clone(),
            tx: tx.clone(),
            stop: stop_rx.clone(),
            label,
        };
        tasks.spawn(task.run());
    }
    drop(tx);

    let args = &shared.args;
    let mut stops = Stops::watch(args.timeout)?;
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut states = vec![State::Running; names.len()];
    // Per profile: the position of the last piece written into the pump.
    let mut accepted: Vec<Option<u64>> = vec![None; names.len()];
    let mut collector = pump.collector();

    let ending = loop {
        let burst = pump.collected_len() >= Pump::HAND_OVER_BYTES;
        let idle = pump.collected_len() > 0;
        let step = tokio::select! {
            biased;
            stop = stops.wait() => Err(stop),
            msg = rx.recv(), if !burst => Ok(msg),
            sent = pump.send_collected(), if burst || idle => match sent {
                Ok(()) => continue,
                Err(e) => Err(stdout_failure(e)),
            },
        };
        let msg = match step {
            Err(ending) => break ending,
            // Every task is gone (they end only by reporting, so this is after the last report).
            Ok(None) => break Ending::ServerClosed,
            Ok(Some(msg)) => msg,
        };
        match msg {
            Msg::Piece {
                slot,
                bytes,
                position,
                kinds,
            } => {
                // The collector never fails.
                let _ = collector.write_all(&bytes);
                pump.mark_in(slot, position);
                accepted[slot] = Some(position);
                for kind in &kinds {
                    tally.add(kind);
                }
                if args.count.is_some_and(|limit| tally.printed >= limit) {
                    break Ending::CountReached;
                }
            }
            Msg::NeedsLogin { slot, needs } => {
                states[slot] = if needs {
                    State::NeedsLogin
                } else {
                    State::Running
                };
                if states.iter().all(|s| *s == State::NeedsLogin) {
                    break Ending::Failed(Error::auth(format!(
                        "every profile needs a login ({}): run `odoo-bus login -p NAME` for each",
                        names.join(", ")
                    )));
                }
            }
            Msg::Ended { slot, result } => {
                if let Err(e) = &result {
                    if e.kind == ErrorKind::Usage || args.no_reconnect {
                        // It ends the tail: said once, as the final error, naming the profile.
                        break Ending::Failed(
                            e.clone().context(format!("profile `{}`", names[slot])),
                        );
                    }
                    ctx.for_profile(&names[slot]).ui.error(&e.message);
                }
                states[slot] = State::Ended(result.err());
                if let Some(ending) = all_over(&states, &names) {
                    break ending;
                }
            }
        }
    };
    stops.deadline = None;
    let _ = stop_tx.send(true);
    // Pieces still queued were never printed: those profiles resume after what was.
    let mut unprinted = vec![false; names.len()];
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Piece { slot, .. } = msg {
            unprinted[slot] = true;
        }
    }
    let ending = match ending {
        Ending::Signal(_) | Ending::TimeoutPassed | Ending::StdoutClosed => ending,
        _ => match hand_over(&mut pump, &mut stops).await {
            Ok(Some(stop)) => stop,
            Ok(None) => ending,
            Err(e) => stdout_failure(e),
        },
    };
    // The tasks close their websockets politely (each gets a moment; then it is dropped).
    let closing = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_millis(500), closing).await;
    tasks.abort_all();
    while let Ok(Some(Msg::Piece { slot, .. })) = rx.try_recv().map(Some) {
        unprinted[slot] = true;
    }
    let ending = drain(&mut pump, ending, &mut stops).await;
    let final_positions = shared
        .positions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for (slot, name) in names.iter().enumerate() {
        let position = if !pump.is_complete() {
            pump.written_position_of(slot)
        } else if unprinted[slot] {
            accepted[slot]
        } else {
            final_positions[slot].or(accepted[slot])
        };
        super::save_last_id(&ctx.for_profile(name), position);
    }
    finish(ctx, args, ending?, &tally, started.elapsed())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Running,
    NeedsLogin,
    /// Over: the server closed the stream (None) or it failed for good.
    Ended(Option<Error>),
}

/// When every profile's stream is over: how the tail ends (3 only when each one needs a login).
fn all_over(states: &[State], names: &[String]) -> Option<Ending> {
    let mut failures = Vec::new();
    for state in states {
        match state {
            State::Running | State::NeedsLogin => return None,
            State::Ended(Some(e)) => failures.push(e),
            State::Ended(None) => {}
        }
    }
    if failures.len() == states.len() && failures.iter().all(|e| e.kind == ErrorKind::Auth) {
        return Some(Ending::Failed(Error::auth(format!(
            "every profile needs a login ({}): run `odoo-bus login -p NAME` for each",
            names.join(", ")
        ))));
    }
    match failures.into_iter().find(|e| e.kind != ErrorKind::Auth) {
        Some(e) => Some(Ending::Failed(Error::new(
            e.kind,
            "no profile is left to tail (the errors are above)",
        ))),
        None => Some(Ending::ServerClosed),
    }
}

/// A writer whose bytes the task takes after each frame.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One profile of the tail.
struct Task {
    slot: usize,
    ctx: Context,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg>,
    stop: watch::Receiver<bool>,
    label: ProfileLabel,
}

/// Why a task stopped following.
enum Stop {
    /// The tail is ending.
    Asked,
    /// The queue to the merging loop is gone (the tail ended).
    Gone,
}

impl Task {
    async fn run(mut self) {
        // Either way the tail is ending or the end was reported: nothing more to say.
        let (Ok(()) | Err(Stop::Asked | Stop::Gone)) = self.follow().await;
    }

    async fn send(&mut self, msg: Msg) -> Result<(), Stop> {
        tokio::select! {
            biased;
            _ = self.stop.wait_for(|s| *s) => Err(Stop::Asked),
            sent = self.tx.send(msg) => sent.map_err(|_| Stop::Gone),
        }
    }

    async fn sleep(&mut self, d: Duration) -> Result<(), Stop> {
        tokio::select! {
            biased;
            _ = self.stop.wait_for(|s| *s) => Err(Stop::Asked),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    async fn end(&mut self, result: Result<()>) -> Result<(), Stop> {
        let slot = self.slot;
        self.send(Msg::Ended { slot, result }).await?;
        Err(Stop::Gone)
    }

    /// Follows the profile until the tail ends; `Err` says why it stopped.
    async fn follow(&mut self) -> Result<(), Stop> {
        let args = self.shared.args.clone();
        let mut start = StartAt::Recent;
        if args.resume {
            match self.ctx.load_profile().map(|p| p.last_id) {
                Ok(Some(id)) => start = StartAt::After(id),
                Ok(None) => self.ctx.ui.warn(
                    "no saved position yet (first tail of this profile): starting from recent notifications",
                ),
                Err(e) => return self.end(Err(e)).await,
            }
        }
        let buffer = Buffer::default();
        let mut printer = stdout_printer_labelled(
            &self.ctx,
            args.output,
            args.json,
            args.timestamps,
            Box::new(buffer.clone()),
            Some(self.label.clone()),
        );
        let backoff = self.shared.backoff;
        let mut delay = backoff.initial;
        let mut needs_login = false;
        loop {
            // A session: the saved one, checked with the server (a server that is down is
            // retried; an expired session waits for a new login).
            let me = match self.ctx.logged_in() {
                Ok(me) => me,
                Err(e) if e.kind == ErrorKind::Auth => {
                    self.wait_for_login(&e, &mut needs_login, None).await?;
                    continue;
                }
                Err(e) => return self.end(Err(e)).await,
            };
            let client = match self.ctx.logged_in_client(&me) {
                Ok(c) => c,
                Err(e) => return self.end(Err(e)).await,
            };
            match self.ctx.require_valid_session(&client).await {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Auth => {
                    self.wait_for_login(&e, &mut needs_login, Some(me.session.expose()))
                        .await?;
                    continue;
                }
                Err(e) if e.kind == ErrorKind::Connection && !args.no_reconnect => {
                    self.ctx.ui.warn(format!(
                        "{}; retrying in {}",
                        e.message,
                        humantime::format_duration(super::round_ms(delay))
                    ));
                    self.sleep(delay).await?;
                    delay = backoff.next(delay, rand_fraction());
                    continue;
                }
                Err(e) => return self.end(Err(e)).await,
            }
            if std::mem::take(&mut needs_login) {
                let slot = self.slot;
                self.send(Msg::NeedsLogin { slot, needs: false }).await?;
            }
            if let Err(e) = crate::commands::subscribe::check_subscription(
                &self.ctx,
                &me.profile,
                &args.channels,
            ) {
                return self.end(Err(e)).await;
            }
            let channels = merged_channels(&me.profile.channels, &args.channels);
            let options = stream_options(
                &self.ctx,
                &me,
                channels,
                start,
                !args.no_reconnect,
                args.presence,
            )
            .and_then(|mut o| {
                choose_transport(&me, &mut o, args.transport, args.poll_interval).map(|()| o)
            });
            let options = match options {
                Ok(o) => o,
                Err(e) => return self.end(Err(e)).await,
            };
            let keeper = crate::commands::client::ProfileSessionKeeper::new(&self.ctx, client);
            let mut stream = BusStream::new(options, keeper);
            let failure = loop {
                let before = stream.max_id();
                let event = tokio::select! {
                    biased;
                    _ = self.stop.wait_for(|s| *s) => None,
                    event = stream.next() => Some(event),
                };
                let Some(event) = event else {
                    stream.close().await;
                    return Err(Stop::Asked);
                };
                let batch = match event {
                    Err(e) => break e,
                    Ok(Event::End) => {
                        self.ctx
                            .ui
                            .info("the server closed the websocket cleanly (1000)");
                        return self.end(Ok(())).await;
                    }
                    Ok(Event::Status(status)) => {
                        if matches!(
                            status,
                            odoo_bus_core::bus::stream::Status::Connected { .. }
                                | odoo_bus_core::bus::stream::Status::Polling { .. }
                        ) {
                            delay = backoff.initial;
                        }
                        report(&self.ctx, &status, &mut None);
                        continue;
                    }
                    Ok(Event::Batch(batch)) => batch,
                };
                let shared = &self.shared;
                // The stream's highest id now (it is borrowed by the batch).
                let seen = batch.fresh.iter().map(|n| n.id).max().max(before);
                let mut chosen = batch.fresh;
                chosen.retain(|n| {
                    shared.types.accepts(&n.kind)
                        && shared
                            .selector
                            .as_ref()
                            .is_none_or(|s| s.accepts(&n.kind, n.payload))
                });
                let mut cut = None;
                if let Some(budget) = &shared.budget {
                    let want = chosen.len() as u64;
                    let got = budget
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                            Some(left.saturating_sub(want))
                        })
                        .map_or(0, |left| left.min(want));
                    if got < want {
                        chosen.truncate(got as usize);
                        // Resume after the last one printed, or where this frame started.
                        cut = Some(chosen.last().map(|n| n.id).or(before));
                    }
                }
                let position = match cut {
                    Some(p) => p,
                    None => seen,
                };
                self.shared
                    .positions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)[self.slot] = position;
                if chosen.is_empty() {
                    if cut.is_some() {
                        // --count is reached: this profile has nothing more to print.
                        let _ = self.stop.wait_for(|s| *s).await.map(|_| ());
                        return Err(Stop::Asked);
                    }
                    continue;
                }
                let frame = FrameView {
                    text: batch.text,
                    received_at: batch.received_at,
                    notifications: &chosen,
                };
                // Formatting goes to memory (never fails).
                let _ = printer.frame(&frame);
                let kinds = chosen.iter().map(|n| n.kind.to_string()).collect();
                let piece = Msg::Piece {
                    slot: self.slot,
                    bytes: buffer.take(),
                    position: chosen.last().map_or(0, |n| n.id).max(position.unwrap_or(0)),
                    kinds,
                };
                if let Err(stop) = self.send(piece).await {
                    stream.close().await;
                    return Err(stop);
                }
            };
            // The stream gave up: continue after what it saw, on a fresh session check.
            if let Some(seen) = stream.max_id() {
                start = StartAt::After(seen);
            }
            drop(stream);
            match failure.kind {
                ErrorKind::Auth => {
                    self.wait_for_login(&failure, &mut needs_login, None)
                        .await?;
                }
                ErrorKind::Connection if !args.no_reconnect => {
                    self.ctx.ui.warn(format!(
                        "{}; retrying in {}",
                        failure.message,
                        humantime::format_duration(super::round_ms(delay))
                    ));
                    self.sleep(delay).await?;
                    delay = backoff.next(delay, rand_fraction());
                }
                _ => return self.end(Err(failure)).await,
            }
        }
    }

    /// The session is gone: say so once, then look for a new one in the config file.
    async fn wait_for_login(
        &mut self,
        why: &Error,
        needs_login: &mut bool,
        expired: Option<&str>,
    ) -> Result<(), Stop> {
        let expired = match expired {
            Some(sid) => Some(sid.to_string()),
            None => self
                .ctx
                .load_profile()
                .ok()
                .and_then(|p| p.session_id)
                .map(|s| s.expose().to_string()),
        };
        if !std::mem::replace(needs_login, true) {
            self.ctx.ui.error(format!(
                "{}; the other profiles go on, this one resumes once logged in again",
                why.message
            ));
            let slot = self.slot;
            self.send(Msg::NeedsLogin { slot, needs: true }).await?;
        }
        loop {
            self.sleep(LOGIN_POLL).await?;
            let now = self
                .ctx
                .load_profile()
                .ok()
                .and_then(|p| p.session_id)
                .map(|s| s.expose().to_string());
            if now.is_some() && now != expired {
                return Ok(());
            }
        }
    }
}

fn rand_fraction() -> f64 {
    use rand::RngExt;
    rand::rng().random()
}
