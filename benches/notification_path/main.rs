//! The notification-path benchmark: `odoo-bus tail` against the tools a user reaches for today
//! (`websocat`, `websocat | jq`), as whole processes on loopback, in one run. docs/performance.md
//! explains every figure and holds the latest table.
//!
//!     cargo bench --bench notification_path                   # everything (~2–3 min on 2 cores)
//!     cargo bench --bench notification_path -- --runs 3 --long 0 --startup 10
//!
//! `cargo bench` builds the release `odoo-bus` first (target/release/odoo-bus, the bench
//! profile inherits the release one) and this bench runs that binary.
//!
//! Options: `--runs N` timed runs per client after one warm-up (5); `--frames N` frames of 10
//! notifications per flood (10 000); `--long N` notifications of the long-stream memory run
//! (1 000 000; 0 skips it); `--startup N` start-up runs (20; 0 skips them); `--wrap CMD` runs
//! every `odoo-bus` under CMD, a profiling aid (`--wrap 'strace -f -c -o /tmp/s.txt'`,
//! `--wrap 'perf record -g -o /tmp/perf.data'`); its figures are the wrapper's then;
//! `--only TEXT` keeps the clients whose label contains TEXT (`--only pretty`).

#[path = "../../tests/support/mod.rs"]
mod support;

mod clients;
mod machine;
mod process;
mod stats;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use odoo_bus::emulator::{Control, EmulatorConfig, PreparedFlood, Target};
use serde_json::json;

use clients::{Client, Setup, Sink, Tools};
use process::{Proc, Usage};
use stats::{RunStats, Samples};
use support::TestEnv;

const PER_FRAME: usize = 10;
/// Filler characters per payload: the emulator's flood payloads are then ~500 bytes on average
/// (a `new_message` ≈ 505, an insert ≈ 410; the header prints the measured mean).
const FILLER: usize = 360;
const INSERT_RATIO: f64 = 0.1;
/// Frames per flood chunk in the long-stream run (memory in the bench stays bounded).
const CHUNK_FRAMES: usize = 1_000;
/// No single process may take longer than this.
const PROCESS_LIMIT: Duration = Duration::from_secs(120);
const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(30);

struct Options {
    /// Profiling aid: run `odoo-bus` under this command (figures are then the wrapper's).
    wrap: Vec<String>,
    /// Only the clients whose label contains this.
    only: Option<String>,
    runs: usize,
    frames: usize,
    long: usize,
    startup: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        wrap: Vec::new(),
        only: None,
        runs: 5,
        frames: 10_000,
        long: 1_000_000,
        startup: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            // cargo bench passes --bench to harness-less benches.
            "--bench" => continue,
            "--only" => {
                o.only = Some(args.next().ok_or("--only needs a text")?);
                continue;
            }
            "--wrap" => {
                let cmd = args.next().ok_or("--wrap needs a command")?;
                o.wrap = shell_words::split(&cmd).map_err(|e| format!("--wrap: {e}"))?;
                continue;
            }
            "--runs" => &mut o.runs,
            "--frames" => &mut o.frames,
            "--long" => &mut o.long,
            "--startup" => &mut o.startup,
            other => {
                return Err(format!(
                    "unknown option {other:?} (see the bench's doc comment)"
                ));
            }
        };
        *slot = args
            .next()
            .and_then(|v| v.replace('_', "").parse().ok())
            .ok_or_else(|| format!("{arg} needs a number"))?;
    }
    if o.runs == 0 || o.frames == 0 {
        return Err("--runs and --frames must be at least 1".into());
    }
    Ok(o)
}

fn main() {
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("notification_path: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&opts) {
        eprintln!("notification_path: {e}");
        std::process::exit(1);
    }
}

/// The figures of one client.
struct Row {
    client: Client,
    stats: RunStats,
}

fn run(opts: &Options) -> Result<(), String> {
    let env = TestEnv::with_config(EmulatorConfig::default());
    let control = env.control().clone();
    let session = env.logged_in("admin");
    let partner = control
        .find_user("admin")
        .ok_or("the emulator has no admin")?
        .partner_id;
    let port = env.url().rsplit(':').next().unwrap_or_default().to_string();
    let tools = Tools::find();
    let scratch = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let setup = Setup {
        env: &env,
        tools: &tools,
        session: session.expose(),
        ws_url: format!(
            "ws://127.0.0.1:{port}/websocket?version={}",
            control.config().websocket_worker_version
        ),
        origin: env.url(),
        dir: scratch.path(),
        wrap: opts.wrap.clone(),
    };

    let build = Instant::now();
    let flood = control.prepare_flood(
        Target::Partner(partner),
        opts.frames,
        PER_FRAME,
        FILLER,
        INSERT_RATIO,
    );
    let notifications = opts.frames * PER_FRAME;
    let inserts = expected_inserts(notifications);
    println!("# odoo-bus notification path benchmark");
    println!();
    println!(
        "- date: {}",
        jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z")
    );
    println!("- machine: {}", machine::describe());
    println!("- binary: {}", env!("CARGO_BIN_EXE_odoo-bus"));
    println!(
        "- flood: {} frames × {PER_FRAME} notifications = {notifications} ({inserts} mail.record/insert), {:.1} MB of frames, {} bytes per notification on the wire, payloads {} bytes on average; built in {:.2} s, not timed",
        opts.frames,
        flood.bytes() as f64 / 1e6,
        flood.bytes() / notifications,
        mean_payload_bytes(&flood),
        build.elapsed().as_secs_f64()
    );
    match (&tools.websocat, &tools.jq) {
        (Some(w), Some(j)) => println!("- baselines: {} and {}", w.display(), j.display()),
        (None, _) => {
            println!("- baselines: websocat is not installed (`cargo install websocat`): no ratios")
        }
        (Some(w), None) => println!("- baselines: {} (jq is not installed)", w.display()),
    }
    println!(
        "- {} timed runs per client after one checked warm-up, clients in turn",
        opts.runs
    );
    println!();

    let mut rows = vec![
        row(Client::Tail {
            label: "tail -o ndjson -t mail.record/insert > /dev/null",
            args: &["-o", "ndjson", "-t", "mail.record/insert"],
            sink: Sink::DevNull,
        }),
        row(Client::Tail {
            label: "tail -o pretty > file",
            args: &["-o", "pretty"],
            sink: Sink::File,
        }),
        row(Client::Tail {
            label: "tail -o ndjson > /dev/null",
            args: &["-o", "ndjson"],
            sink: Sink::DevNull,
        }),
    ];
    if tools.websocat.is_some() {
        rows.push(row(Client::Websocat));
        if tools.jq.is_some() {
            rows.push(row(Client::WebsocatJq));
        }
    }

    if let Some(only) = &opts.only {
        rows.retain(|r| r.client.label().contains(only.as_str()));
    }
    // Warm-up: caches, the page cache for the binary, and a check that each client printed
    // exactly what it should.
    for r in &rows {
        eprintln!("warm-up and output check: {}", r.client.label());
        let (lines, _) = measure(&setup, &r.client, Sink::File, &Flood::Prepared(&flood))
            .and_then(|m| Ok((count_flood_lines(&setup, flood.ids())?, m)))
            .map_err(|e| format!("{} (warm-up): {e}", r.client.label()))?;
        let want = expected_lines(&r.client, opts.frames, notifications, inserts);
        if lines != want {
            return Err(format!(
                "{}: printed {lines} flood lines, expected {want}",
                r.client.label()
            ));
        }
    }
    for round in 0..opts.runs {
        eprintln!(
            "round {}/{} (load {})",
            round + 1,
            opts.runs,
            machine::load()
        );
        for r in &mut rows {
            let sink = match r.client {
                Client::Tail { sink, .. } => sink,
                _ => Sink::DevNull,
            };
            let m = measure(&setup, &r.client, sink, &Flood::Prepared(&flood))
                .map_err(|e| format!("{}: {e}", r.client.label()))?;
            r.stats.add(m.wall, m.usage.cpu, m.usage.max_rss_kib);
        }
    }
    drop(flood);
    report_throughput(&rows, notifications);

    if opts.long > 0 {
        long_stream(&setup, partner, notifications, opts.long)?;
    }
    if opts.startup > 0 {
        startup(&setup, &control, partner, opts.startup)?;
    }
    Ok(())
}

/// The mean payload size of the flood's first frame (its mix is the flood's).
fn mean_payload_bytes(flood: &PreparedFlood) -> usize {
    let batch = flood
        .frame(0)
        .and_then(|text| odoo_bus::bus::protocol::decode_batch(text).ok())
        .unwrap_or_default();
    let total: usize = batch.iter().map(|n| n.payload.get().len()).sum();
    total / batch.len().max(1)
}

fn row(client: Client) -> Row {
    Row {
        client,
        stats: RunStats::default(),
    }
}

/// How many of `n` flood notifications are inserts (the emulator spreads them evenly).
fn expected_inserts(n: usize) -> usize {
    (n as f64 * INSERT_RATIO).floor() as usize
}

/// Lines carrying flood ids each client must print.
fn expected_lines(client: &Client, frames: usize, notifications: usize, inserts: usize) -> usize {
    match client {
        Client::Tail { args, .. } if args.contains(&"-t") => inserts,
        Client::Tail { .. } => notifications,
        Client::Websocat => frames,
        Client::WebsocatJq => inserts,
    }
}

/// What the server sends in a run.
enum Flood<'a> {
    /// The same prebuilt batches every run (ids repeat across runs; each run is a new process).
    Prepared(&'a PreparedFlood),
    /// `n` notifications built in chunks while the client reads (bounded memory in the bench).
    Streamed { partner: i64, notifications: usize },
}

struct Measured {
    wall: Duration,
    usage: Usage,
}

/// One run: start the client, wait for its subscribe, flood, close with 1000, wait for every
/// process to exit. The wall time runs from just before the start to the last exit.
fn measure(setup: &Setup, client: &Client, sink: Sink, flood: &Flood) -> Result<Measured, String> {
    let control = setup.env.control();
    wait_for_no_sockets(control)?;
    // Counted before the start: a fast client subscribes before the bench starts waiting.
    let before = (control.stats().frames_received, subscribe_count(control));
    let t0 = Instant::now();
    let mut started = setup
        .start(client, sink)
        .map_err(|e| format!("cannot start: {e}"))?;
    let outcome = (|| {
        wait_for_subscribe(control, before, &mut started.procs)?;
        match flood {
            Flood::Prepared(f) => {
                let sent = control.send_flood(f);
                if sent.sockets != 1 {
                    return Err(format!("the flood reached {} sockets, not 1", sent.sockets));
                }
            }
            Flood::Streamed {
                partner,
                notifications,
            } => stream_flood(control, *partner, *notifications, &mut started.procs)?,
        }
        control.close_all(1000, "");
        let mut usage = Usage::default();
        let mut last_end = t0;
        for p in &mut started.procs {
            let (exit, u, ended) = p.finish(PROCESS_LIMIT).map_err(|e| e.to_string())?;
            if !exit.success() {
                return Err(format!("pid {} ended with {exit}", p.pid()));
            }
            usage = usage.plus(u);
            last_end = last_end.max(ended);
        }
        Ok(Measured {
            wall: last_end - t0,
            usage,
        })
    })();
    outcome.map_err(|e| format!("{e}; stderr: {}", setup.stderr_text().trim()))
}

fn subscribe_count(control: &Control) -> usize {
    control
        .client_events()
        .iter()
        .filter(|e| e.event_name == "subscribe")
        .count()
}

/// The previous run's socket must be gone, or `close_all` would reach it too.
fn wait_for_no_sockets(control: &Control) -> Result<(), String> {
    if control.wait_until(Duration::from_secs(10), |s, _| s.open_sockets == 0) {
        Ok(())
    } else {
        Err("a websocket of the previous run is still open".into())
    }
}

/// Poll (0.2 ms) for the client's subscribe; a client that died meanwhile is an error.
///
/// The cheap counter of received frames is watched first: copying the event log (what
/// `subscribe_count` does) under the emulator's lock every 0.2 ms would slow the emulator down.
fn wait_for_subscribe(
    control: &Control,
    (frames, subscribes): (u64, usize),
    procs: &mut [Proc],
) -> Result<(), String> {
    let deadline = Instant::now() + SUBSCRIBE_LIMIT;
    while control.stats().frames_received == frames || subscribe_count(control) <= subscribes {
        for p in procs.iter_mut() {
            if let Ok(Some((exit, _))) = p.try_finish() {
                return Err(format!("pid {} ended before subscribing ({exit})", p.pid()));
            }
        }
        if Instant::now() > deadline {
            return Err("no subscribe within 30 s".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// Flood `n` notifications in chunks, never more than two chunks ahead of the socket.
fn stream_flood(
    control: &Control,
    partner: i64,
    n: usize,
    procs: &mut [Proc],
) -> Result<(), String> {
    let base = control.stats().frames_sent;
    let mut queued = 0usize;
    let mut left = n / PER_FRAME;
    while left > 0 {
        let frames = left.min(CHUNK_FRAMES);
        let chunk = control.prepare_flood(
            Target::Partner(partner),
            frames,
            PER_FRAME,
            FILLER,
            INSERT_RATIO,
        );
        loop {
            let sent = (control.stats().frames_sent - base) as usize;
            if queued <= sent + 2 * CHUNK_FRAMES {
                break;
            }
            for p in procs.iter_mut() {
                if let Ok(Some((exit, _))) = p.try_finish() {
                    return Err(format!("pid {} ended during the flood ({exit})", p.pid()));
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if control.send_flood(&chunk).sockets != 1 {
            return Err("the flood chunk reached no socket".into());
        }
        queued += frames;
        left -= frames;
    }
    Ok(())
}

/// Lines of the output file that carry an id of the flood.
fn count_flood_lines(setup: &Setup, (first, last): (u64, u64)) -> Result<usize, String> {
    let file = std::fs::File::open(setup.output_file()).map_err(|e| e.to_string())?;
    let mut n = 0;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line_id(&line).is_some_and(|id| (first..=last).contains(&id)) {
            n += 1;
        }
    }
    Ok(n)
}

/// The (first) notification id of an output line: JSON lines (`{"id":N…`, `[{"id": N…`) or
/// pretty ones (`23:06:28.123 N type …`).
fn line_id(line: &str) -> Option<u64> {
    let digits = if line.starts_with('{') || line.starts_with('[') {
        let at = line.find("\"id\":")? + 5;
        line[at..].trim_start()
    } else {
        line.split_whitespace().nth(1)?
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn report_throughput(rows: &[Row], notifications: usize) {
    let baseline = rows
        .iter()
        .find(|r| matches!(r.client, Client::Websocat))
        .map(|r| r.stats.wall.median());
    let jq = rows
        .iter()
        .find(|r| matches!(r.client, Client::WebsocatJq))
        .map(|r| r.stats.wall.median());
    println!("## Throughput: {notifications} notifications, whole process, start to exit");
    println!();
    println!(
        "| client | wall median (min–max) | CPU user+sys median (min–max) | peak RSS median (min–max) | notifications/s | wall ÷ websocat |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let ratio = baseline.map_or_else(
            || "–".to_string(),
            |b| format!("{:.2}×", r.stats.wall.median() / b),
        );
        println!(
            "| `{}` | {} | {} | {} | {:.0} | {ratio} |",
            r.client.label(),
            stats::seconds_with_range(&r.stats.wall),
            stats::seconds_with_range(&r.stats.cpu),
            stats::mib_with_range(&r.stats.rss),
            notifications as f64 / r.stats.wall.median(),
        );
    }
    println!();
    let wall = |label: &str| {
        rows.iter()
            .find(|r| r.client.label() == label)
            .map(|r| r.stats.wall.median())
    };
    let filtered = wall("tail -o ndjson -t mail.record/insert > /dev/null");
    let pretty = wall("tail -o pretty > file");
    let rss = rows
        .iter()
        .filter(|r| matches!(r.client, Client::Tail { .. }))
        .map(|r| r.stats.rss.max())
        .fold(0.0, f64::max);
    println!("### Targets");
    println!();
    match (baseline, filtered, pretty) {
        (Some(b), Some(f), Some(p)) => {
            target("tail -o ndjson -t … ≤ 1.3× websocat", f / b, 1.3, "×");
            if let Some(j) = jq {
                println!(
                    "- websocat | jq ÷ tail -o ndjson -t …: {:.1}× (target ≥ 5×): {}",
                    j / f,
                    verdict(j / f >= 5.0)
                );
            }
            target("tail -o pretty > file ≤ 2× websocat", p / b, 2.0, "×");
        }
        _ => println!("- ratios skipped: websocat is not installed (`cargo install websocat`)"),
    }
    target(
        "peak RSS of every tail run (max) ≤ 20 MiB",
        rss,
        20.0,
        " MiB",
    );
    println!();
}

fn target(what: &str, value: f64, limit: f64, unit: &str) {
    println!(
        "- {what}: {value:.2}{unit}: {}",
        if value <= limit {
            "met".to_string()
        } else {
            format!("MISSED by {:.2}{unit}", value - limit)
        }
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Peak RSS of `tail -o ndjson > /dev/null` over a short and a long stream (same payloads).
fn long_stream(setup: &Setup, partner: i64, short: usize, long: usize) -> Result<(), String> {
    let client = Client::Tail {
        label: "tail -o ndjson > /dev/null",
        args: &["-o", "ndjson"],
        sink: Sink::DevNull,
    };
    println!("## Memory over a long stream: `tail -o ndjson > /dev/null`, peak RSS (VmHWM)");
    println!();
    println!("| notifications | peak RSS | wall | CPU |");
    println!("|---|---|---|---|");
    let mut peaks = Vec::new();
    for n in [short, long] {
        eprintln!("long stream: {n} notifications…");
        let flood = Flood::Streamed {
            partner,
            notifications: n,
        };
        let m = measure(setup, &client, Sink::DevNull, &flood)
            .map_err(|e| format!("long stream ({n}): {e}"))?;
        let mib = m.usage.max_rss_kib as f64 / 1024.0;
        peaks.push(mib);
        println!(
            "| {n} | {mib:.1} MiB | {:.2} s | {:.2} s |",
            m.wall.as_secs_f64(),
            m.usage.cpu.as_secs_f64()
        );
    }
    println!();
    if let [a, b] = peaks[..] {
        target(
            &format!("peak RSS after {long} − after {short} ≤ 2 MiB"),
            b - a,
            2.0,
            " MiB",
        );
    }
    println!();
    Ok(())
}

/// Process start → first notification printed, with a saved session: `tail -o ndjson -n 1`
/// against an emulator that holds one recent notification (sent right after the subscribe).
/// Also when the session check (first HTTP request) and the websocket upgrade reached the server.
fn startup(setup: &Setup, control: &Control, partner: i64, n: usize) -> Result<(), String> {
    control.notify(
        Target::Partner(partner),
        "bus.bus/im_status_updated",
        json!({"im_status": "online", "partner_id": 7}),
    );
    let mut first = Samples::default();
    let (mut http, mut upgrade, mut subscribed) =
        (Samples::default(), Samples::default(), Samples::default());
    eprintln!("start-up: {n} runs after a warm-up");
    let began = Instant::now();
    for i in 0..=n {
        wait_for_no_sockets(control)?;
        let before = control.stats();
        let mut cmd = setup.tail_command();
        cmd.args(["tail", "-o", "ndjson", "-n", "1", "--timeout", "20s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(setup.stderr_file(0)).map_err(|e| e.to_string())?,
            ));
        let t0 = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or("stdout not piped")?;
        let mut proc = Proc::new(child);
        // Timestamps of the server-side steps, polled while this thread blocks on the read.
        let watcher = {
            let control = control.clone();
            std::thread::spawn(move || {
                let (mut h, mut u, mut s) = (None, None, None);
                let limit = t0 + Duration::from_secs(20);
                while s.is_none() && Instant::now() < limit {
                    let stats = control.stats();
                    if h.is_none() && stats.http_requests > before.http_requests {
                        h = Some(t0.elapsed());
                    }
                    if u.is_none() && stats.handshakes > before.handshakes {
                        u = Some(t0.elapsed());
                    }
                    // The subscribe is the first frame a client sends.
                    if stats.frames_received > before.frames_received {
                        s = Some(t0.elapsed());
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                (h, u, s)
            })
        };
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let took = t0.elapsed();
        let steps = watcher.join().unwrap_or((None, None, None));
        let (exit, _, _) = proc.finish(PROCESS_LIMIT).map_err(|e| e.to_string())?;
        if !matches!(read, Ok(len) if len > 0) || !exit.success() {
            return Err(format!(
                "start-up run: no line printed ({exit}); stderr: {}",
                setup.stderr_text().trim()
            ));
        }
        if i == 0 {
            continue; // warm-up
        }
        first.push(took.as_secs_f64());
        if let (Some(h), Some(u), Some(s)) = steps {
            http.push(h.as_secs_f64());
            upgrade.push(u.as_secs_f64());
            subscribed.push(s.as_secs_f64());
        }
    }
    if began.elapsed() > Duration::from_secs(45) {
        eprintln!("warning: the start-up runs took longer than the 50 s recent window");
    }
    println!("## Start-up: process start → first notification printed ({n} runs after a warm-up)");
    println!();
    println!("| step (from process start) | median (min–max) |");
    println!("|---|---|");
    if http.len() > 0 {
        println!(
            "| session check request reaches the server | {} |",
            stats::millis_with_range(&http)
        );
        println!(
            "| websocket upgrade reaches the server | {} |",
            stats::millis_with_range(&upgrade)
        );
        println!(
            "| subscribe reaches the server | {} |",
            stats::millis_with_range(&subscribed)
        );
    }
    println!(
        "| **first notification printed** | {} |",
        stats::millis_with_range(&first)
    );
    println!();
    target(
        "start to first notification ≤ 50 ms (median)",
        first.median() * 1e3,
        50.0,
        " ms",
    );
    Ok(())
}
