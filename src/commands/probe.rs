//! `odoo-bus probe`: measure realtime delivery over time. Three modes share one prober (the
//! probe socket plus the round trip doctor's `delivery` check makes):
//! - watching (default): one probe every `--every`, one stdout line each, metrics on
//!   `--metrics-listen` / `--metrics-file`, a summary on stderr at the end or on Ctrl-C;
//! - `--check`: a monitoring plugin (one line, exit 0/1/2/3; see `probe::plugin`);
//! - `--connections N`: the capacity test (see `probe::capacity`), with the probe measuring.
//!
//! Profiles: [`selected_profiles`] is the one place that says which profiles run, as `tail` takes
//! them (`-p a -p b`, `-p 'cust-*'`, `--all`: `commands::profiles::select`). Each gets its own
//! prober (its own socket and round trips), all running side by side on the one thread; pretty
//! lines start with the profile when there are several (NDJSON lines always carry it), the
//! summary is one line per profile, the metrics carry a `profile` label, and `--check` judges
//! each profile and reports the worst (see `probe::plugin::combine`). The capacity test is one
//! server's: it refuses several profiles.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::client::ProfileSessionKeeper;
use super::{Context, LoggedIn};
use crate::cli::{ProbeArgs, ProbeFormat};
use crate::probe::capacity::{self, Ledger, LoadEvent, Report, Storm};
use crate::probe::engine::{ProbeStream, Prober, StatusSink};
use crate::probe::line;
use crate::probe::metrics::{self, Registry};
use crate::probe::plugin::{self, Thresholds};
use crate::probe::sample::{Sample, Tally};
use crate::ui::Ui;
use odoo_bus_core::bus::roundtrip::{self, Target};
use odoo_bus_core::bus::stream::{BusStream, StartAt, Status};
use odoo_bus_core::error::{Error, ErrorKind, Result};

/// After connecting, how long to read before the first probe (the subscribe's replay of the
/// last 50 s must not pass for the first echo).
const SETTLE: Duration = Duration::from_millis(300);

pub async fn run(ctx: &Context, args: ProbeArgs) -> Result<i32> {
    if args.check {
        return Ok(check(ctx, &args).await);
    }
    if let Some(n) = args.connections {
        if selected_profiles(ctx)?.len() > 1 {
            return Err(Error::usage(
                "the capacity test (--connections) loads one server: give a single -p NAME",
            ));
        }
        return load(ctx, &args, n as usize).await;
    }
    watch_probes(ctx, &args).await
}

/// Which profiles run: `-p` (repeatable, globs) or `--all`, as `tail` takes them.
fn selected_profiles(ctx: &Context) -> Result<Vec<String>> {
    super::profiles::select(ctx)
}

/// One context per profile: the given one when there is one profile (stderr unchanged), else
/// one per profile whose stderr lines are labelled with its name.
fn contexts(ctx: &Context, profiles: &[String]) -> Vec<Context> {
    profiles
        .iter()
        .map(|p| {
            if profiles.len() > 1 {
                ctx.for_profile(p)
            } else {
                Context {
                    ui: ctx.ui.clone(),
                    ..ctx.for_profile(p)
                }
            }
        })
        .collect()
}

/// Log in to the profile's server, find the settings record, open the probe socket.
async fn start(ctx: &Context, ui: &Ui, timeout: Duration) -> Result<(Prober, LoggedIn)> {
    let me = ctx.logged_in()?;
    let client = ctx.logged_in_client(&me)?;
    ctx.require_valid_session(&client).await?;
    let uid = me.profile.uid.ok_or_else(|| {
        Error::auth(format!(
            "profile `{}` does not know its user id: run `odoo-bus login` again",
            ctx.profile_name()
        ))
    })?;
    let target = Target::prepare(&client, uid).await.map_err(|e| {
        Error::other(format!(
            "the probe writes nothing but needs the user's Discuss settings (res.users.settings), which this user cannot use ({e}); probe with an internal user"
        ))
    })?;
    if target.created {
        ui.info(format!(
            "created the user's Discuss settings record {} with the defaults, as the web client does on first use",
            target.settings_id
        ));
    }
    let start_at = match roundtrip::newest_id(&client).await {
        Some(id) => StartAt::After(id),
        None => StartAt::Recent,
    };
    let options = super::tail::stream_options(ctx, &me, Vec::new(), start_at, true, false)?;
    let keeper = ProfileSessionKeeper::new(ctx, ctx.logged_in_client(&me)?);
    let status_ui = ui.clone();
    let sink: StatusSink = Box::new(move |s| report_status(&status_ui, s));
    let mut socket = ProbeStream::new(BusStream::new(options, keeper), sink);
    socket.connect(SETTLE).await?;
    let prober = Prober::new(
        ctx.profile_name().to_string(),
        client,
        target,
        socket,
        timeout,
    );
    Ok((prober, me))
}

/// Connection states on stderr, one plain line each.
fn report_status(ui: &Ui, status: &Status) {
    match status {
        Status::Connecting { attempt } if *attempt > 1 => {
            ui.debug(1, format!("reconnecting (attempt {attempt})…"))
        }
        Status::Connecting { .. } => ui.debug(1, "connecting…"),
        Status::Connected { url, reconnect, .. } => {
            let what = if *reconnect {
                "reconnected to"
            } else {
                "connected to"
            };
            ui.info(format!("{what} {}", url.split('?').next().unwrap_or(url)));
        }
        Status::Disconnected { explanation, .. } => {
            ui.warn(format!("probe socket disconnected: {explanation}"))
        }
        Status::Retrying { error, delay, .. } => ui.warn(format!(
            "{error}; retrying in {}",
            humantime::format_duration(Duration::from_millis(delay.as_millis() as u64))
        )),
        Status::Malformed { reason, .. } => ui.warn(format!("skipped a malformed frame: {reason}")),
        // The probe measures the websocket: its stream never falls back to polling.
        Status::Polling { url, .. } => ui.info(format!("polling {url}")),
    }
}

/// Ctrl-C and SIGTERM.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        let watch = |k| signal(k).map_err(|e| Error::other(format!("cannot watch signals: {e}")));
        Ok(Signals {
            int: watch(SignalKind::interrupt())?,
            term: watch(SignalKind::terminate())?,
        })
    }

    async fn wait(&mut self) -> ErrorKind {
        tokio::select! {
            _ = self.int.recv() => ErrorKind::Interrupted,
            _ = self.term.recv() => ErrorKind::Terminated,
        }
    }
}

/// Where probe lines go.
struct Out {
    format: ProbeFormat,
    with_profile: bool,
}

impl Out {
    fn new(format: Option<ProbeFormat>, with_profile: bool) -> Self {
        let format = format.unwrap_or(if std::io::stdout().is_terminal() {
            ProbeFormat::Pretty
        } else {
            ProbeFormat::Ndjson
        });
        Out {
            format,
            with_profile,
        }
    }

    /// `false` when stdout is closed (`| head`): the run ends quietly.
    fn sample(&self, s: &Sample) -> Result<bool> {
        let text = match self.format {
            ProbeFormat::Pretty => line::pretty(s, self.with_profile),
            ProbeFormat::Ndjson => line::json(s).to_string(),
        };
        self.write(&text)
    }

    fn write(&self, text: &str) -> Result<bool> {
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(Error::other(format!("cannot write to stdout: {e}"))),
        }
    }
}

/// `--metrics-listen` and `--metrics-file`.
struct Metrics {
    registry: metrics::Shared,
    file: Option<std::path::PathBuf>,
    ui: Ui,
}

impl Metrics {
    async fn start(ctx: &Context, args: &ProbeArgs, profiles: &[String]) -> Result<Metrics> {
        let registry = Registry::shared(profiles);
        if let Some(addr) = args.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Error::usage(format!(
                    "--metrics-listen {addr}: cannot listen there ({e}); pick a free port"
                ))
            })?;
            let bound = listener.local_addr().unwrap_or(addr);
            ctx.ui.info(format!("metrics at http://{bound}/metrics"));
            tokio::spawn(metrics::serve(listener, registry.clone()));
        }
        let m = Metrics {
            registry,
            file: args.metrics_file.clone(),
            ui: ctx.ui.clone(),
        };
        // The file exists (with zero counters) before the first probe ends.
        m.write_file()?;
        Ok(m)
    }

    fn record(&self, s: &Sample) -> Result<()> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(s);
        self.write_file()
    }

    fn write_file(&self) -> Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let text = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .render();
        metrics::write_atomically(path, &text).map_err(|e| {
            Error::other(format!(
                "cannot write --metrics-file {}: {e}",
                path.display()
            ))
        })?;
        self.ui
            .debug(1, format!("metrics written to {}", path.display()));
        Ok(())
    }
}

/// How a watching run ended.
enum Ending {
    Done,
    Signal(ErrorKind),
    Failed(Error),
}

async fn watch_probes(ctx: &Context, args: &ProbeArgs) -> Result<i32> {
    let profiles = selected_profiles(ctx)?;
    let many = profiles.len() > 1;
    let every = args.every.unwrap_or(Duration::from_secs(30));
    let mut signals = Signals::new()?;
    let metrics = Metrics::start(ctx, args, &profiles).await?;
    let out = Out::new(args.output, many);
    let (stop_tx, stop_rx) = watch::channel(None::<ErrorKind>);
    let contexts = contexts(ctx, &profiles);
    let runs: Vec<_> = contexts
        .iter()
        .map(|c| watch_one(c, args, every, &metrics, &out, stop_rx.clone()))
        .collect();
    let all = super::profiles::join_all(runs);
    tokio::pin!(all);
    let results = tokio::select! {
        r = &mut all => r,
        kind = signals.wait() => {
            let _ = stop_tx.send(Some(kind));
            (&mut all).await
        }
    };
    let mut failure = None;
    let mut code = 0;
    for (name, tally, ending) in results {
        if let Some(tally) = tally {
            ctx.ui.info(tally.summary(many.then_some(name.as_str())));
        }
        match ending {
            Ending::Done => {}
            Ending::Signal(kind) => code = kind.exit_code(),
            Ending::Failed(e) => {
                let e = if many && !e.message.contains(&format!("`{name}`")) {
                    Error::new(e.kind, format!("profile `{name}`: {}", e.message))
                } else {
                    e
                };
                failure.get_or_insert(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// Resolves once a signal was heard (the sender says which); never if the sender is gone.
async fn stopped(stop: &mut watch::Receiver<Option<ErrorKind>>) -> ErrorKind {
    loop {
        if let Some(kind) = *stop.borrow_and_update() {
            return kind;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One profile's probes until --count, a signal (`stop`) or a failure. The tally is `None` when
/// the profile never started (its error is in the ending, and with several profiles on stderr at
/// once: the others go on).
async fn watch_one(
    ctx: &Context,
    args: &ProbeArgs,
    every: Duration,
    metrics: &Metrics,
    out: &Out,
    mut stop: watch::Receiver<Option<ErrorKind>>,
) -> (String, Option<Tally>, Ending) {
    let name = ctx.profile_name().to_string();
    let started = tokio::select! {
        biased;
        kind = stopped(&mut stop) => return (name, None, Ending::Signal(kind)),
        r = start(ctx, &ctx.ui, args.timeout) => r,
    };
    let mut prober = match started {
        Ok((prober, _me)) => prober,
        Err(e) => {
            if out.with_profile {
                ctx.ui.error(&e.message);
            }
            return (name, None, Ending::Failed(e));
        }
    };
    let mut tally = Tally::default();
    let mut next = Instant::now();
    let ending = loop {
        let step = async {
            prober.socket.idle_until(next).await?;
            Ok::<_, Error>(prober.probe().await)
        };
        let sample = tokio::select! {
            biased;
            kind = stopped(&mut stop) => break Ending::Signal(kind),
            r = step => r,
        };
        let sample = match sample {
            Ok(s) => s,
            Err(e) => break Ending::Failed(e),
        };
        tally.add(&sample);
        if let Err(e) = metrics.record(&sample) {
            break Ending::Failed(e);
        }
        match out.sample(&sample) {
            Ok(true) => {}
            Ok(false) => break Ending::Done,
            Err(e) => break Ending::Failed(e),
        }
        if let Some(e) = prober.socket.take_fatal() {
            break Ending::Failed(e);
        }
        if args.count.is_some_and(|n| tally.count >= n) {
            break Ending::Done;
        }
        next = (next + every).max(Instant::now());
    };
    prober.socket.close().await;
    (name, Some(tally), ending)
}

/// `--check`: the plugin's one line on stdout and its exit code; nothing else on stdout. With
/// several profiles each is judged on its own, side by side, and the worst status wins.
async fn check(ctx: &Context, args: &ProbeArgs) -> i32 {
    let thresholds = match (args.warning, args.critical) {
        (Some(warning), Some(critical)) if warning <= critical => Thresholds { warning, critical },
        _ => {
            return plugin_out(plugin::unknown(
                "--warning must be at most --critical (e.g. --warning 500ms --critical 2s)",
            ));
        }
    };
    let profiles = match selected_profiles(ctx) {
        Ok(p) => p,
        Err(e) => return plugin_out(plugin::unknown(&e.message)),
    };
    let contexts = contexts(ctx, &profiles);
    let checks: Vec<_> = contexts
        .iter()
        .map(|c| check_one(c, args, &thresholds))
        .collect();
    let verdicts = super::profiles::join_all(checks).await;
    if let [one] = verdicts.as_slice() {
        return plugin_out(one.line());
    }
    let named: Vec<(String, plugin::Verdict)> = profiles.into_iter().zip(verdicts).collect();
    plugin_out(plugin::combine(&named))
}

/// One profile's verdict.
async fn check_one(ctx: &Context, args: &ProbeArgs, thresholds: &Thresholds) -> plugin::Verdict {
    // Icinga shows stderr with the status: keep it empty unless asked for (-v).
    let ui = if ctx.global.verbose > 0 {
        ctx.ui.clone()
    } else {
        Ui::silent()
    };
    let samples = async {
        let (mut prober, _me) = start(ctx, &ui, args.timeout).await?;
        let every = args.every.unwrap_or(Duration::from_secs(1));
        let mut samples = Vec::new();
        for i in 0..args.samples {
            if i > 0 {
                prober.socket.idle_until(Instant::now() + every).await?;
            }
            samples.push(prober.probe().await);
            if let Some(e) = prober.socket.take_fatal() {
                return Err(e);
            }
        }
        prober.socket.close().await;
        Ok::<_, Error>(samples)
    };
    match samples.await {
        Ok(samples) => plugin::assess(&samples, thresholds, args.timeout),
        Err(e) => match e.kind {
            // The realtime path is down: that is the news a check exists for.
            ErrorKind::Connection | ErrorKind::Timeout => {
                plugin::Verdict::bare(plugin::CRITICAL, &e.message)
            }
            _ => plugin::Verdict::bare(plugin::UNKNOWN, &e.message),
        },
    }
}

fn plugin_out((code, line): (i32, String)) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    code
}

/// The capacity test.
async fn load(ctx: &Context, args: &ProbeArgs, asked: usize) -> Result<i32> {
    if !(args.ramp.is_finite() && args.ramp > 0.0) {
        return Err(Error::usage(format!(
            "--ramp {}: give a positive number of sockets per second (e.g. --ramp 10)",
            args.ramp
        )));
    }
    let ramp_time = Duration::from_secs_f64(asked as f64 / args.ramp);
    let total = ramp_time
        + args.hold
        + if args.storm {
            args.hold
        } else {
            Duration::ZERO
        };
    if !args.lift_load_limits {
        if asked > capacity::MAX_CONNECTIONS {
            return Err(Error::usage(format!(
                "--connections {asked} is more than {} sockets: this is load on someone's server; add --lift-load-limits if it is yours and you mean it",
                capacity::MAX_CONNECTIONS
            )));
        }
        if total > capacity::MAX_TOTAL {
            return Err(Error::usage(format!(
                "this test would take about {} (ramp {} + hold, twice with --storm), more than {}: raise --ramp, shorten --hold, or add --lift-load-limits",
                humantime::format_duration(Duration::from_secs(total.as_secs())),
                humantime::format_duration(Duration::from_secs(ramp_time.as_secs())),
                humantime::format_duration(capacity::MAX_TOTAL)
            )));
        }
    }
    let profiles = selected_profiles(ctx)?;
    let every = args.every.unwrap_or(Duration::from_secs(2));
    let metrics = Metrics::start(ctx, args, &profiles).await?;
    let out = Out::new(args.output, false);
    let mut signals = Signals::new()?;
    let (mut prober, me) = start(ctx, &ctx.ui, args.timeout).await?;
    ctx.ui.warn_always(format!(
        "load test: opening up to {asked} websockets to {} as {} (profile `{}`), {} per second, held {}; run it only against a server you are responsible for",
        me.url,
        me.profile.login.as_deref().unwrap_or("the profile's user"),
        ctx.profile_name(),
        args.ramp,
        humantime::format_duration(args.hold)
    ));
    let connect = ctx.connect_options(&me)?;
    let session = prober
        .client
        .session()
        .unwrap_or_else(|| me.session.clone());

    // Baseline: two probes before any load.
    let mut baseline = Vec::new();
    for _ in 0..2 {
        let s = prober.probe().await;
        if let Some(l) = s.latency() {
            baseline.push(l);
        }
        metrics.record(&s)?;
        if !out.sample(&s)? {
            break;
        }
    }
    baseline.sort();
    let baseline = crate::probe::sample::quantile_of(&baseline, 0.5);

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(0u64);
    let started = Instant::now();
    let mut ledger = Ledger::default();
    let mut bent_at = None;
    let mut max_latency: Option<(usize, Duration)> = None;
    let mut stopped_early = false;
    let mut next_socket = 0usize;
    let mut next_probe = Instant::now() + every;
    let interval = Duration::from_secs_f64(1.0 / args.ramp);
    let mut ramp_done_at: Option<Instant> = None;
    let mut interrupted = None;

    // Ramp and hold: open sockets on schedule, probe every `every`, read what the sockets say.
    loop {
        let now = Instant::now();
        while let Ok(e) = events.try_recv() {
            ledger.apply(&e, started.elapsed());
        }
        if ramp_done_at.is_none() {
            if ledger.refused_in_a_row >= capacity::STOP_AFTER_REFUSALS {
                stopped_early = true;
                ramp_done_at = Some(now);
            } else if next_socket >= asked {
                ramp_done_at = Some(now);
            }
        }
        if ramp_done_at.is_some_and(|t| now >= t + args.hold) {
            break;
        }
        let socket_due = started + interval.mul_f64(next_socket as f64);
        if ramp_done_at.is_none() && now >= socket_due {
            tokio::spawn(capacity::open_socket(
                next_socket,
                connect.clone(),
                session.clone(),
                stop_rx.clone(),
                events_tx.clone(),
            ));
            ledger.attempted += 1;
            next_socket += 1;
            continue;
        }
        if now >= next_probe {
            let mut s = tokio::select! {
                biased;
                kind = signals.wait() => { interrupted = Some(kind); break; }
                s = prober.probe() => s,
            };
            while let Ok(e) = events.try_recv() {
                ledger.apply(&e, started.elapsed());
            }
            s.sockets = Some(ledger.open);
            if let (Some(b), None) = (baseline, bent_at)
                && capacity::bent(b, s.latency())
            {
                bent_at = Some((ledger.open, s.latency()));
            }
            if let Some(l) = s.latency()
                && max_latency.is_none_or(|(_, m)| l > m)
            {
                max_latency = Some((ledger.open, l));
            }
            metrics.record(&s)?;
            if !out.sample(&s)? {
                break;
            }
            next_probe = Instant::now() + every;
            continue;
        }
        let mut wake = next_probe;
        if ramp_done_at.is_none() {
            wake = wake.min(socket_due);
        }
        if let Some(t) = ramp_done_at {
            wake = wake.min(t + args.hold);
        }
        tokio::select! {
            biased;
            kind = signals.wait() => { interrupted = Some(kind); break; }
            e = events.recv() => if let Some(e) = e { ledger.apply(&e, started.elapsed()) },
            r = prober.socket.idle_until(wake) => r?,
        }
    }

    // The storm: close every load socket, then reopen as many at once.
    let mut storm = None;
    if args.storm && interrupted.is_none() && ledger.open > 0 {
        let n = ledger.open;
        let _ = stop_tx.send(1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        while events.try_recv().is_ok() {}
        let (storm_tx, mut storm_events) = mpsc::unbounded_channel();
        let storm_start = Instant::now();
        // A receiver that has seen the stop above (a clone of the old one would not).
        let storm_stop = stop_tx.subscribe();
        for i in 0..n {
            tokio::spawn(capacity::open_socket(
                i,
                connect.clone(),
                session.clone(),
                storm_stop.clone(),
                storm_tx.clone(),
            ));
        }
        drop(storm_tx);
        let mut st = Storm {
            sockets: n,
            ..Storm::default()
        };
        let limit = storm_start + args.hold.max(Duration::from_secs(5)) + Duration::from_secs(15);
        let mut answered = 0;
        while answered < n {
            let left = limit.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, storm_events.recv()).await {
                Ok(Some(LoadEvent::Opened { .. })) => {
                    st.opened += 1;
                    answered += 1;
                }
                Ok(Some(LoadEvent::Refused { why, .. })) => {
                    *st.refused.entry(why).or_default() += 1;
                    answered += 1;
                }
                Ok(Some(LoadEvent::Closed { code, .. })) => {
                    *st.refused.entry(capacity::close_refusal(code)).or_default() += 1;
                    st.opened = st.opened.saturating_sub(1);
                }
                Ok(None) | Err(_) => break,
            }
        }
        if answered == n {
            st.settled_in = Some(storm_start.elapsed());
        }
        // Until the probe delivers again.
        for _ in 0..10 {
            let mut s = prober.probe().await;
            s.sockets = Some(st.opened);
            metrics.record(&s)?;
            let delivered = s.latency().is_some();
            if !out.sample(&s)? || delivered {
                if delivered {
                    st.probe_back_in = Some(storm_start.elapsed());
                }
                break;
            }
        }
        // Closes that came right after the storm's opens (1013 after the upgrade).
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(e) = storm_events.try_recv() {
            if let LoadEvent::Closed { code, .. } = e {
                *st.refused.entry(capacity::close_refusal(code)).or_default() += 1;
                st.opened = st.opened.saturating_sub(1);
            }
        }
        storm = Some(st);
    }
    let _ = stop_tx.send(2);
    let report = Report {
        url: me.url.to_string(),
        asked,
        ramp_per_s: args.ramp,
        hold: args.hold,
        attempted: ledger.attempted,
        opened: ledger.opened,
        peak_open: ledger.peak_open,
        refusals: ledger.refusals.clone(),
        first_refusal: ledger.first_refusal.clone(),
        baseline,
        bent_at,
        max_latency,
        ramp_stopped_early: stopped_early,
        storm,
    };
    let text = match out.format {
        ProbeFormat::Pretty => report.text(),
        ProbeFormat::Ndjson => report.json().to_string(),
    };
    out.write(&text)?;
    // Let the load sockets say goodbye (each closes politely, in parallel).
    tokio::time::sleep(Duration::from_millis(600)).await;
    prober.socket.close().await;
    Ok(interrupted.map_or(0, ErrorKind::exit_code))
}
