//! `odoo-bus tail`: subscribe and print notifications until told to stop.
//!
//! This file is wiring: the reconnecting stream (`bus::stream`) yields fresh notifications, the
//! filters (`output::filter`) choose, a printer writes them, and this loop decides when to stop
//! and what exit code that means. The same loop serves `demo`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::client::duration_env;
use super::{Context, LoggedIn};
use crate::cli::{OutputFormat, TailArgs, Transport};
use crate::output::filter::{ChannelSelector, TypeFilter};
use crate::output::pump::Pump;
use crate::output::{self, FrameView, PrintOptions};
use odoo_bus_core::bus::poll::{PollOptions, TransportMode};
use odoo_bus_core::bus::stream::{Backoff, BusStream, Event, StartAt, Status, StreamOptions};
use odoo_bus_core::error::{Error, ErrorKind, Result};

/// Test knobs (documented in docs/testing.md): shorten the reconnect delay and the dead-peer
/// watchdog so fault-injection tests run in seconds instead of minutes.
const RECONNECT_DELAY_ENV: &str = "ODOO_BUS_RECONNECT_DELAY";
const WATCHDOG_ENV: &str = "ODOO_BUS_WATCHDOG";
/// Test knob: how often `auto` tries the websocket again while polling (default 5 minutes).
const WEBSOCKET_RETRY_ENV: &str = "ODOO_BUS_WEBSOCKET_RETRY";

/// After Ctrl-C, SIGTERM or `--timeout`, how long the output already formatted may take to
/// reach stdout.
const SIGNALLED_DRAIN: Duration = Duration::from_millis(200);

/// Odoo pings after 45 s of silence; 75 s without a single byte means the peer is gone.
const DEFAULT_WATCHDOG: Duration = Duration::from_secs(75);

/// How `tail` ended, before it becomes an exit code.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    CountReached,
    TimeoutPassed,
    ServerClosed,
    StdoutClosed,
    Signal(ErrorKind),
    /// The stream or stdout failed; the error is reported once the output is written.
    Failed(Error),
}

mod many;
mod presence;

pub async fn run(ctx: &Context, args: TailArgs) -> Result<i32> {
    let only;
    let mut ctx = ctx;
    if let super::profiles::Request::Many { .. } = super::profiles::request(ctx) {
        let names = super::profiles::select(ctx)?;
        if names.len() > 1 {
            if !args.presence_of.is_empty() {
                return Err(Error::usage(
                    "--presence-of follows people on one profile: give a single -p NAME",
                ));
            }
            return many::run(ctx, args, names).await;
        }
        // One profile matched the glob or --all: the single-profile tail, output unchanged.
        only = Context {
            ui: ctx.ui.clone(),
            ..ctx.for_profile(&names[0])
        };
        ctx = &only;
    }
    let me = ctx.logged_in()?;
    let client = ctx.logged_in_client(&me)?;
    ctx.require_valid_session(&client).await?;
    follow(ctx, &me, client, &args).await
}

/// The tail loop proper, shared with `demo`.
pub async fn follow(
    ctx: &Context,
    me: &LoggedIn,
    client: odoo_bus_core::odoo::client::OdooClient,
    args: &TailArgs,
) -> Result<i32> {
    let types = TypeFilter::new(&args.types, &args.exclude_types).map_err(Error::usage)?;
    let selector = args
        .only_channels
        .then(|| ChannelSelector::new(&args.channels));
    let start = start_point(ctx, me, args)?;
    super::subscribe::check_subscription(ctx, &me.profile, &args.channels)?;
    let mut channels = server_channels(
        ctx,
        me,
        merged_channels(&me.profile.channels, &args.channels),
    );
    if args.presence
        && let Some(own) = me
            .profile
            .partner_id
            .and_then(|p| me.profile.flavor().presence_channel(p))
        && !channels.contains(&own)
    {
        // Where presence has channels, the user's own status change is what --presence shows.
        channels.push(own);
    }
    let mut presence_of = match args.presence_of.is_empty() {
        true => None,
        false => Some(
            presence::PresenceOf::resolve(
                &client,
                me.profile.flavor(),
                &args.presence_of,
                &ctx.error_context(client.url(), false),
            )
            .await?,
        ),
    };
    let mut ask_presence = None;
    if let Some(p) = &presence_of {
        for c in p.channels() {
            if !channels.contains(&c) {
                channels.push(c);
            }
        }
        if p.asked() {
            let every = presence::PresenceOf::ask_every()?;
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ask_presence = Some(ticks);
        }
    }

    // Stdout is written by a thread of its own (see `output::pump`): a stuck reader of our
    // output must not stop this loop from seeing Ctrl-C, the deadline or the server's close.
    // No BufWriter: each frame arrives whole and goes out with one write(2) (Stdout's line
    // buffering passes a newline-terminated block straight through).
    let mut pump = Pump::start(std::io::stdout())
        .map_err(|e| Error::other(format!("cannot start the stdout writer thread: {e}")))?;
    let mut printer = stdout_printer(
        ctx,
        args.output,
        args.json,
        args.timestamps,
        Box::new(pump.collector()),
    );
    if tail_format(args.output, args.json) == OutputFormat::Pretty {
        // One batch read before the first line, so presence lines name people; a failure or a
        // slow server only leaves ids (never NDJSON: it reads no names).
        let read = tokio::time::timeout(NAMES_TIMEOUT, client.user_partner_names(NAMES_LIMIT));
        match read.await {
            Ok(Ok(names)) => printer.learn_partners(&names),
            Ok(Err(e)) => ctx
                .ui
                .debug(1, format!("could not read people's names: {e}")),
            Err(_) => ctx
                .ui
                .debug(1, "reading people's names took too long: showing ids"),
        }
    }
    let mut options = stream_options(ctx, me, channels, start, !args.no_reconnect, args.presence)?;
    choose_transport(me, &mut options, args.transport, args.poll_interval)?;
    let presence_client = presence_of
        .as_ref()
        .and_then(|_| ctx.logged_in_client(me).ok());
    let mut presence_out = pump.collector();
    let pretty = tail_format(args.output, args.json) == OutputFormat::Pretty;
    if let Some(p) = &presence_of {
        printer.learn_partners(&p.names());
        let own = me.profile.partner_id.filter(|_| args.presence);
        if let Some(ask) = p.ask_event(own) {
            // Sent after every subscribe, then every minute (below), as 16's web client does.
            options.presence = Some(ask);
        }
    }
    let mut gaps = super::gaps::GapWatch::new(
        ctx.ui.clone(),
        ctx.logged_in_client(me).ok(),
        me.profile.flavor(),
        start,
        me.profile.last_id_at.filter(|_| args.resume),
        args.gaps
            .then(|| Box::new(pump.collector()) as Box<dyn std::io::Write + Send>),
    );
    let keeper = super::client::ProfileSessionKeeper::new(ctx, client);
    let mut stream = BusStream::new(options, keeper);

    let mut stops = Stops::watch(args.timeout)?;
    let mut tally = Tally::default();
    let mut spinner = None;
    // Set when --count cut a frame short: the position to save instead of the highest id seen.
    let mut resume_after: Option<u64> = None;
    let started = Instant::now();
    let first = presence_of
        .as_ref()
        .map(|p| p.initial())
        .unwrap_or_default();
    // Ends the run before it starts when --count is reached by the first lines already.
    let mut ended_early = print_presence_lines(
        first,
        pretty,
        &mut printer,
        &mut presence_out,
        &types,
        &mut tally,
        args.count,
    );

    let ending = loop {
        if let Some(ending) = ended_early.take() {
            break ending;
        }
        // Output waits only while the next frame is already there: once the socket has nothing
        // ready, what was printed goes to the stdout thread (only on an open connection, where
        // dropping `stream.next()` is safe: a reconnect delay would be cut short). After a
        // burst filled the hand-over, it goes first and reading waits.
        let burst = pump.collected_len() >= Pump::HAND_OVER_BYTES;
        let idle = pump.collected_len() > 0 && stream.pending_delay().is_none();
        let step = tokio::select! {
            biased;
            stop = stops.wait() => Step::Stop(stop),
            event = stream.next(), if !burst => Step::Event(event),
            sent = pump.send_collected(), if burst || idle => Step::Written(sent),
            _ = tick(&mut ask_presence), if ask_presence.is_some() && stream.pending_delay().is_none() => Step::AskPresence,
        };
        let event = match step {
            Step::Stop(ending) => break ending,
            Step::Written(Ok(())) => continue,
            Step::Written(Err(e)) => break stdout_failure(e),
            Step::AskPresence => {
                let (Some(p), Some(client)) = (&mut presence_of, &presence_client) else {
                    continue;
                };
                let own = me.profile.partner_id.filter(|_| args.presence);
                let sent = match p.ask_event(own) {
                    Some(ask) => stream.send_event(ask).await,
                    None => continue,
                };
                if let Err(e) = sent {
                    // Polling, or between connections: read the statuses instead.
                    ctx.ui.debug(
                        1,
                        format!("presence not asked on the bus ({e}): reading it"),
                    );
                    let lines = p.refresh(client).await.unwrap_or_default();
                    if let Some(ending) = print_presence_lines(
                        lines,
                        pretty,
                        &mut printer,
                        &mut presence_out,
                        &types,
                        &mut tally,
                        args.count,
                    ) {
                        break ending;
                    }
                }
                continue;
            }
            Step::Event(event) => event,
        };
        match event {
            Err(e) => break Ending::Failed(e),
            Ok(Event::End) => break Ending::ServerClosed,
            Ok(Event::Status(status)) => {
                report(ctx, &status, &mut spinner);
                gaps.status(&status).await;
                let reconnected = matches!(
                    status,
                    Status::Connected {
                        reconnect: true,
                        ..
                    } | Status::Polling {
                        reconnect: true,
                        ..
                    }
                );
                if let (true, Some(p), Some(client)) =
                    (reconnected, &mut presence_of, &presence_client)
                {
                    // A change pushed while the socket was down is lost: read the statuses again.
                    let lines = match p.refresh(client).await {
                        Ok(lines) => lines,
                        Err(e) => {
                            ctx.ui
                                .warn(format!("could not read the followed presence again: {e}"));
                            Vec::new()
                        }
                    };
                    if let Some(ending) = print_presence_lines(
                        lines,
                        pretty,
                        &mut printer,
                        &mut presence_out,
                        &types,
                        &mut tally,
                        args.count,
                    ) {
                        break ending;
                    }
                }
            }
            Ok(Event::Batch(batch)) => {
                gaps.frame();
                let mut chosen = batch.fresh;
                chosen.retain(|n| {
                    types.accepts(&n.kind)
                        && selector
                            .as_ref()
                            .is_none_or(|s| s.accepts(&n.kind, n.payload))
                        && presence_of
                            .as_mut()
                            .is_none_or(|p| p.accepts(&n.kind, n.payload.get()))
                });
                if let Some(limit) = args.count {
                    let room = limit.saturating_sub(tally.printed) as usize;
                    if chosen.len() > room {
                        // The rest of this frame stays unprinted: resume after the last printed
                        // one (a frame is sorted by id), not after the frame's highest id.
                        chosen.truncate(room);
                        resume_after = chosen.last().map(|n| n.id);
                    }
                }
                if chosen.is_empty() {
                    continue;
                }
                let frame = FrameView {
                    text: batch.text,
                    received_at: batch.received_at,
                    notifications: &chosen,
                };
                // Formatting goes to memory (the collector never fails); writing is the pump's.
                if let Err(e) = printer.frame(&frame) {
                    break stdout_failure(e);
                }
                if let Some(last) = chosen.last() {
                    pump.mark(last.id);
                }
                for n in &chosen {
                    tally.add(&n.kind);
                }
                if args.count.is_some_and(|limit| tally.printed >= limit) {
                    break Ending::CountReached;
                }
            }
        }
    };
    drop(spinner);
    stops.deadline = None;
    // What was printed goes to the stdout thread now, to be written while the websocket closes
    // (after a stop, `drain` gives it a moment only).
    let ending = match ending {
        Ending::Signal(_) | Ending::TimeoutPassed | Ending::StdoutClosed => ending,
        _ => match hand_over(&mut pump, &mut stops).await {
            Ok(Some(stop)) => stop,
            Ok(None) => ending,
            Err(e) => stdout_failure(e),
        },
    };
    let last = resume_after.or(stream.max_id());
    stream.close().await;
    let ending = drain(&mut pump, ending, &mut stops).await;
    // The saved position must not pass what reached stdout: after a stuck reader and Ctrl-C, or
    // a closed pipe, `--resume` continues after the last notification actually written.
    save_last_id(
        ctx,
        if pump.is_complete() {
            last
        } else {
            pump.written_position()
        },
    );
    finish(ctx, args, ending?, &tally, started.elapsed())
}

/// What woke the tail loop.
enum Step<'s> {
    Stop(Ending),
    Event(Result<Event<'s>>),
    /// Time to ask for the followed presences again (16, early 17).
    AskPresence,
    /// Collected output was handed to the stdout thread (or could not be).
    Written(std::io::Result<()>),
}

/// What ends the tail from outside: Ctrl-C, SIGTERM, `--timeout`.
struct Stops {
    sigint: Signal,
    sigterm: Signal,
    deadline: Option<tokio::time::Instant>,
}

impl Stops {
    /// Ctrl-C, SIGTERM and `--timeout` (counted from now), for one tail, single or multi-profile.
    fn watch(timeout: Option<std::time::Duration>) -> Result<Stops> {
        Ok(Stops {
            sigint: signal(SignalKind::interrupt())
                .map_err(|e| Error::other(format!("cannot watch Ctrl-C: {e}")))?,
            sigterm: signal(SignalKind::terminate())
                .map_err(|e| Error::other(format!("cannot watch SIGTERM: {e}")))?,
            deadline: timeout.map(|d| tokio::time::Instant::now() + d),
        })
    }

    /// Resolves at the first of them (never without a signal when there is no deadline).
    async fn wait(&mut self) -> Ending {
        tokio::select! {
            biased;
            _ = self.sigint.recv() => Ending::Signal(ErrorKind::Interrupted),
            _ = self.sigterm.recv() => Ending::Signal(ErrorKind::Terminated),
            _ = sleep_until(self.deadline) => Ending::TimeoutPassed,
        }
    }
}

/// The next ask of `--presence-of` on 16 and early 17 (never without one).
async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Prints `--presence-of`'s own lines (see `presence`): through the pretty printer, as Odoo's
/// presence lines look; else one JSON object a line, as `--gaps` does. `Some` ends the run:
/// --count is reached, or stdout failed.
fn print_presence_lines(
    lines: Vec<serde_json::Value>,
    pretty: bool,
    printer: &mut Box<dyn output::Printer + Send>,
    out: &mut impl std::io::Write,
    types: &TypeFilter,
    tally: &mut Tally,
    count: Option<u64>,
) -> Option<Ending> {
    let write = move || -> std::io::Result<bool> {
        for line in lines {
            if !types.accepts(presence::LINE_TYPE) {
                continue;
            }
            if count.is_some_and(|limit| tally.printed >= limit) {
                return Ok(true);
            }
            if pretty {
                let payload = serde_json::value::to_raw_value(&line)?;
                let notification = odoo_bus_core::bus::protocol::Notification {
                    id: 0,
                    kind: std::borrow::Cow::Borrowed(presence::LINE_TYPE),
                    payload: &payload,
                };
                printer.frame(&FrameView {
                    text: "",
                    received_at: std::time::SystemTime::now(),
                    notifications: std::slice::from_ref(&notification),
                })?;
            } else {
                writeln!(out, "{line}")?;
            }
            tally.add(presence::LINE_TYPE);
        }
        Ok(count.is_some_and(|limit| tally.printed >= limit))
    };
    match write() {
        Ok(true) => Some(Ending::CountReached),
        Ok(false) => None,
        Err(e) => Some(stdout_failure(e)),
    }
}

/// Longest wait for the one read of people's names (pretty output only).
const NAMES_TIMEOUT: Duration = Duration::from_secs(3);
/// Users' partners named up front; more are learned from payloads as they come.
const NAMES_LIMIT: usize = 2000;

/// Tail's format rules: `--json` is NDJSON, else `-o`, else pretty on a terminal.
fn tail_format(output: Option<OutputFormat>, json: bool) -> OutputFormat {
    if json {
        return OutputFormat::Ndjson;
    }
    output.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Pretty
    } else {
        OutputFormat::Ndjson
    })
}

/// The stdout printer under tail's format rules (pretty on a terminal, NDJSON otherwise, `--json`
/// = `-o ndjson`); shared with `send --event`.
pub(super) fn stdout_printer(
    ctx: &Context,
    output: Option<OutputFormat>,
    json: bool,
    timestamps: bool,
    out: Box<dyn std::io::Write + Send>,
) -> Box<dyn output::Printer + Send> {
    stdout_printer_labelled(ctx, output, json, timestamps, out, None)
}

/// [`stdout_printer`] for one profile of several: its lines say which (see
/// [`output::labelled_printer`]).
pub(super) fn stdout_printer_labelled(
    ctx: &Context,
    output: Option<OutputFormat>,
    json: bool,
    timestamps: bool,
    out: Box<dyn std::io::Write + Send>,
    label: Option<output::ProfileLabel>,
) -> Box<dyn output::Printer + Send> {
    let stdout_tty = std::io::stdout().is_terminal();
    let format = tail_format(output, json);
    let width = stdout_tty
        .then(|| terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0 as usize))
        .flatten();
    output::labelled_printer(
        format,
        PrintOptions {
            color: ctx.ui.color_stdout,
            timestamps,
            width,
        },
        out,
        label,
    )
}

/// The stream settings of this profile (test knobs from the environment included); shared with
/// `send`.
pub(super) fn stream_options(
    ctx: &Context,
    me: &LoggedIn,
    channels: Vec<String>,
    start: StartAt,
    reconnect: bool,
    presence: bool,
) -> Result<StreamOptions> {
    let flavor = me.profile.flavor();
    // 16 and early 17 answer with the statuses asked for: the user's own.
    let own: Vec<i64> = me.profile.partner_id.into_iter().collect();
    let presence = presence.then(|| flavor.update_presence_event(0, &own));
    Ok(StreamOptions {
        connect: ctx.connect_options(me)?,
        channels,
        start,
        reconnect,
        presence,
        backoff: backoff_from_env()?,
        watchdog: duration_env(WATCHDOG_ENV)?.unwrap_or(DEFAULT_WATCHDOG),
        dedup_window: 8192,
        // Raw events (`send --event`) need the socket; `tail` and `send --wait` choose below.
        transport: TransportMode::Websocket,
        poll: PollOptions::default(),
    })
}

/// `--transport`, else the profile's `transport`, else auto; `--poll-interval`; shared with
/// `send --wait`.
pub(super) fn choose_transport(
    me: &LoggedIn,
    options: &mut StreamOptions,
    flag: Option<Transport>,
    poll_interval: Option<Duration>,
) -> Result<()> {
    let chosen = match (flag, me.profile.transport.as_deref()) {
        (Some(t), _) => t,
        (None, None) => Transport::Auto,
        (None, Some(saved)) => match saved.trim() {
            "auto" => Transport::Auto,
            "websocket" => Transport::Websocket,
            "poll" => Transport::Poll,
            other => {
                return Err(Error::usage(format!(
                    "the profile's `transport = \"{other}\"` is not a transport: use auto, websocket or poll in the config file"
                )));
            }
        },
    };
    options.transport = match chosen {
        Transport::Auto => TransportMode::Auto,
        Transport::Websocket => TransportMode::Websocket,
        Transport::Poll => TransportMode::Poll,
    };
    if let Some(idle) = poll_interval {
        options.poll = options.poll.with_idle(idle);
    }
    if let Some(retry) = duration_env(WEBSOCKET_RETRY_ENV)? {
        options.poll.websocket_retry = retry;
    }
    Ok(())
}

/// A write error: a closed stdout (`| head`) ends the tail quietly; anything else is an error,
/// reported once the position is saved.
fn stdout_failure(e: std::io::Error) -> Ending {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Ending::StdoutClosed;
    }
    Ending::Failed(Error::other(format!("cannot write to stdout: {e}")))
}

/// Hands the collected output over, waiting while the stdout thread is behind; a stop is
/// still heard meanwhile (`Some`).
async fn hand_over(pump: &mut Pump, stops: &mut Stops) -> std::io::Result<Option<Ending>> {
    tokio::select! {
        biased;
        stop = stops.wait() => Ok(Some(stop)),
        sent = pump.send_collected() => sent.map(|()| None),
    }
}

/// Lets the stdout thread write what is still queued before the process exits. After a signal
/// that gets a moment only (the user asked to stop); a signal during the wait ends it.
async fn drain(pump: &mut Pump, ending: Ending, stops: &mut Stops) -> Result<Ending> {
    // After Ctrl-C, SIGTERM or --timeout the user asked to stop: a stuck reader of stdout gets a
    // moment, not forever.
    let patience = match ending {
        Ending::Signal(_) | Ending::TimeoutPassed => Some(SIGNALLED_DRAIN),
        _ => None,
    };
    let written = async {
        match patience {
            Some(limit) => tokio::time::timeout(limit, pump.finish())
                .await
                .unwrap_or(Ok(())),
            None => pump.finish().await,
        }
    };
    tokio::select! {
        biased;
        stop = stops.wait() => Ok(stop),
        written = written => match written {
            Ok(()) => Ok(ending),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(match ending {
                Ending::Signal(_) => ending,
                _ => Ending::StdoutClosed,
            }),
            Err(e) => Err(Error::other(format!("cannot write to stdout: {e}"))),
        },
    }
}

/// Turn the way the loop ended into the documented exit code.
fn finish(
    ctx: &Context,
    args: &TailArgs,
    ending: Ending,
    tally: &Tally,
    elapsed: Duration,
) -> Result<i32> {
    match ending {
        Ending::CountReached | Ending::StdoutClosed => Ok(0),
        Ending::TimeoutPassed => match args.count {
            Some(n) => Err(Error::timeout(format!(
                "timed out after {}: {} of {n} notifications arrived",
                humantime::format_duration(args.timeout.map(round_ms).unwrap_or(elapsed)),
                tally.printed
            ))),
            None => Ok(0),
        },
        Ending::ServerClosed => match args.count {
            Some(n) if tally.printed < n => Err(Error::connection(format!(
                "the server closed the websocket (1000) after {} of {n} notifications",
                tally.printed
            ))),
            _ => {
                ctx.ui
                    .info("the server closed the websocket cleanly (1000)");
                Ok(0)
            }
        },
        Ending::Signal(kind) => {
            ctx.ui.info(tally.summary(elapsed));
            Ok(kind.exit_code())
        }
        Ending::Failed(e) => Err(e),
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `--after-id`, `--resume` (the id saved by the last tail), or the server's recent window.
fn start_point(ctx: &Context, me: &LoggedIn, args: &TailArgs) -> Result<StartAt> {
    if let Some(id) = args.after_id {
        return Ok(StartAt::After(id));
    }
    if args.resume {
        return match me.profile.last_id {
            Some(id) => Ok(StartAt::After(id)),
            None => Err(Error::usage(format!(
                "nothing to resume: profile `{}` has no saved position yet; run `odoo-bus tail` once without --resume",
                ctx.profile_name()
            ))),
        };
    }
    Ok(StartAt::Recent)
}

/// The saved channels, then the `--channel` ones, without repeats.
/// The names as this profile's server spells them (`mail.channel_5` → `discuss.channel_5` from
/// 17 on; chat channels dropped on 16, where they come by default), each change said once.
pub(super) fn server_channels(ctx: &Context, me: &LoggedIn, names: Vec<String>) -> Vec<String> {
    let flavor = me.profile.flavor();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mapped = flavor.map_channel(&name);
        if let Some(note) = flavor.channel_note(&mapped) {
            ctx.ui.info(note);
        }
        if let odoo_bus_core::odoo::version::MappedChannel::Send(to)
        | odoo_bus_core::odoo::version::MappedChannel::Renamed { to, .. } = mapped
            && !out.contains(&to)
        {
            out.push(to);
        }
    }
    out
}

fn merged_channels(saved: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(saved.len() + extra.len());
    for c in saved.iter().chain(extra) {
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

fn save_last_id(ctx: &Context, last: Option<u64>) {
    let Some(last) = last else { return };
    let result = ctx.store.update_profile(ctx.profile_name(), |p| {
        p.last_id = Some(last);
        p.last_id_at = Some(super::gaps::now_unix());
        Ok(())
    });
    if let Err(e) = result {
        ctx.ui.warn(format!(
            "could not save the last notification id ({last}): {e}"
        ));
    }
}

fn backoff_from_env() -> Result<Backoff> {
    let mut b = Backoff::default();
    if let Some(initial) = duration_env(RECONNECT_DELAY_ENV)? {
        b.initial = initial;
        b.jitter = initial;
    }
    Ok(b)
}

/// Connection states on stderr: a spinner on a terminal, plain lines otherwise, nothing with -q.
pub(super) fn report(ctx: &Context, status: &Status, spinner: &mut Option<crate::ui::Spinner>) {
    let ui = &ctx.ui;
    match status {
        Status::Connecting { attempt } => {
            let text = if *attempt == 1 {
                "connecting…".to_string()
            } else {
                format!("reconnecting (attempt {attempt})…")
            };
            if ui.interactive {
                *spinner = Some(ui.spinner(text));
            } else {
                ui.debug(1, text);
            }
        }
        Status::Connected {
            url,
            last,
            reconnect,
        } => {
            spinner.take();
            let what = if *reconnect {
                "reconnected to"
            } else {
                "connected to"
            };
            let from = if *last == 0 {
                "recent notifications".to_string()
            } else {
                format!("after id {last}")
            };
            ui.info(format!("{what} {} (from {from})", strip_query(url)));
        }
        Status::Polling {
            url,
            last,
            reconnect,
            fell_back,
        } => {
            spinner.take();
            if let Some(reason) = fell_back {
                ui.warn(format!(
                    "{reason}; falling back to polling (a proxy may refuse websockets; `odoo-bus doctor` names the hop)"
                ));
            }
            let what = if *reconnect {
                "polling again"
            } else {
                "polling"
            };
            let from = if *last == 0 {
                "recent notifications".to_string()
            } else {
                format!("after id {last}")
            };
            ui.info(format!("{what} {url} (from {from})"));
        }
        Status::Disconnected {
            explanation,
            retry_in,
            ..
        } => {
            spinner.take();
            ui.warn(format!(
                "disconnected: {explanation}; reconnecting in {}",
                humantime::format_duration(round_ms(*retry_in))
            ));
        }
        Status::Retrying { delay, error, .. } => {
            spinner.take();
            ui.warn(format!(
                "{error}; retrying in {}",
                humantime::format_duration(round_ms(*delay))
            ));
        }
        Status::Malformed { size, head, reason } => {
            ui.warn(format!(
                "skipped a malformed frame ({size} bytes, {reason}): {head}"
            ));
        }
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Counts per type, for the summary after Ctrl-C.
///
/// A run of the same type is counted apart and only added to the map when the type changes:
/// hashing every type string with SipHash was ~4% of `tail -o ndjson`'s instructions, and a
/// busy stream repeats the same type most of the time.
#[derive(Default)]
struct Tally {
    printed: u64,
    per_type: HashMap<String, u64>,
    /// The type of the current run and how many of it are not in `per_type` yet.
    run: (String, u64),
}

impl Tally {
    fn add(&mut self, kind: &str) {
        self.printed += 1;
        if self.run.0 != kind {
            self.flush_run();
            self.run.0.clear();
            self.run.0.push_str(kind);
        }
        self.run.1 += 1;
    }

    fn flush_run(&mut self) {
        let (kind, n) = (&self.run.0, std::mem::take(&mut self.run.1));
        if n == 0 {
            return;
        }
        match self.per_type.get_mut(kind.as_str()) {
            Some(total) => *total += n,
            None => {
                self.per_type.insert(kind.clone(), n);
            }
        }
    }

    fn summary(&self, elapsed: Duration) -> String {
        let mut per_type = self.per_type.clone();
        if self.run.1 > 0 {
            *per_type.entry(self.run.0.clone()).or_default() += self.run.1;
        }
        let mut kinds: Vec<_> = per_type.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let detail: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let secs = elapsed.as_secs();
        if detail.is_empty() {
            format!("stopped after {secs}s: no notifications")
        } else {
            format!(
                "stopped after {secs}s: {} notifications ({})",
                self.printed,
                detail.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_channels_keep_order_without_repeats() {
        let saved = vec!["a".to_string(), "b".to_string()];
        let extra = vec!["b".to_string(), "c".to_string()];
        assert_eq!(merged_channels(&saved, &extra), ["a", "b", "c"]);
    }

    #[test]
    fn summary_counts_per_type_most_first() {
        let mut t = Tally::default();
        for k in ["x/a", "x/b", "x/b"] {
            t.add(k);
        }
        let s = t.summary(Duration::from_secs(3));
        assert!(s.contains("3 notifications (2 x/b, 1 x/a)"), "{s}");
    }

    #[test]
    fn runs_of_a_type_are_counted_across_changes() {
        let mut t = Tally::default();
        for k in ["x/a", "x/a", "x/b", "x/a", "x/c", "x/c", "x/a"] {
            t.add(k);
        }
        let s = t.summary(Duration::from_secs(1));
        assert!(s.contains("7 notifications (4 x/a, 2 x/c, 1 x/b)"), "{s}");
        // The summary leaves the tally as it was.
        t.add("x/b");
        let s = t.summary(Duration::from_secs(1));
        assert!(s.contains("8 notifications (4 x/a, 2 x/b, 2 x/c)"), "{s}");
    }
}
