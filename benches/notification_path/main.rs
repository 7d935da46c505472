//! The notification-path benchmark: `odoo-bus tail` against the tools a user reaches for today
//! (`websocat`, `websocat | jq`), as whole processes on loopback, in one run. docs/performance.md
//! explains every figure and holds the latest table.
//!
//!     cargo bench --bench notification_path                   # everything (~3–4 min on 2 cores)
//!     cargo bench --bench notification_path -- --runs 3 --long 0 --startup 10
//!     cargo bench --bench notification_path -- --before /tmp/odoo-bus.old   # before/after
//!
//! `cargo bench` builds the release `odoo-bus` first (target/release/odoo-bus, the bench
//! profile inherits the release one) and this bench runs that binary.
//!
//! Options: `--runs N` timed runs per client after one warm-up (5); `--frames N` frames of 10
//! notifications per flood (50 000: 500 000 notifications, so that start-up is a few percent of
//! every run and the ratios are about streaming); `--before BIN` runs each `tail` client of
//! another `odoo-bus` binary too, in the same rounds (a before/after); `--long N` notifications of the long-stream memory run
//! (1 000 000; 0 skips it); `--startup N` start-up runs (20; 0 skips them); `--wrap CMD` runs
//! every `odoo-bus` under CMD, a profiling aid (`--wrap 'strace -f -c -o /tmp/s.txt'`,
//! `--wrap 'perf record -g -o /tmp/perf.data'`); its figures are the wrapper's then;
//! `--only TEXT` keeps the clients whose label contains TEXT, or one of the `|`-separated
//! TEXTs (`--only pretty`; `--only 'pretty|websocat >'` keeps websocat's row for the ratios).
//!
//! Besides the `tail` clients and the baselines it runs the *floor* (`floor.rs`, this same
//! executable started with `--floor-client`): the least any client can do with the flood,
//! so the report shows how far below websocat this emulator on this machine lets a client go.

#[path = "../../tests/support/mod.rs"]
mod support;

mod clients;
mod floor;
mod long_stream;
mod machine;
mod output_check;
mod process;
mod report;
mod run;
mod startup;
mod stats;

use std::time::Instant;

use odoo_bus_emulator::{EmulatorConfig, PreparedFlood, Target};

use clients::{Client, Setup, Sink, Tools};
use output_check::{count_output, expected_inserts, expected_lines};
use report::{Row, report_streaming, report_targets, report_throughput};
use run::{Flood, measure};
use stats::RunStats;
use support::TestEnv;

pub(crate) const PER_FRAME: usize = 10;
/// Filler characters per payload: the emulator's flood payloads are then ~500 bytes on average
/// (a `new_message` ≈ 505, an insert ≈ 410; the header prints the measured mean).
pub(crate) const FILLER: usize = 360;
pub(crate) const INSERT_RATIO: f64 = 0.1;
struct Options {
    /// Profiling aid: run `odoo-bus` under this command (figures are then the wrapper's).
    wrap: Vec<String>,
    /// Only the clients whose label contains this.
    only: Option<String>,
    /// Another odoo-bus binary to run side by side.
    before: Option<std::path::PathBuf>,
    runs: usize,
    frames: usize,
    long: usize,
    startup: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        wrap: Vec::new(),
        only: None,
        before: None,
        runs: 5,
        frames: 50_000,
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
            "--before" => {
                let bin = args.next().ok_or("--before needs a binary")?;
                o.before = Some(std::path::PathBuf::from(bin));
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some((first, rest)) = args.split_first()
        && first == floor::ARG
    {
        floor::main(rest);
    }
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
        ws_url: match &control.config().websocket_worker_version {
            Some(v) => format!("ws://127.0.0.1:{port}/websocket?version={v}"),
            None => format!("ws://127.0.0.1:{port}/websocket"),
        },
        origin: env.url(),
        dir: scratch.path(),
        wrap: opts.wrap.clone(),
        before: opts.before.clone(),
    };

    let build = Instant::now();
    let flood = control.prepare_flood(
        Target::Partner(partner),
        opts.frames,
        PER_FRAME,
        FILLER,
        INSERT_RATIO,
    );
    // The same run with one frame: what every client costs whatever the stream (start-up,
    // connection, close), to tell it apart from the cost of streaming.
    let one_frame =
        control.prepare_flood(Target::Partner(partner), 1, PER_FRAME, FILLER, INSERT_RATIO);
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
    if let Some(before) = &opts.before {
        println!(
            "- before/after: rows marked (before) run {}",
            before.display()
        );
    }
    println!(
        "- {} timed runs per client after one checked warm-up, clients in turn; each run is followed by the same client with a one-frame flood (its fixed cost)",
        opts.runs
    );
    println!();

    let tails: [(&'static str, &'static [&'static str], Sink); 4] = [
        (
            "tail -o ndjson -t mail.record/insert > /dev/null",
            &["-o", "ndjson", "-t", "mail.record/insert"],
            Sink::DevNull,
        ),
        ("tail -o pretty > file", &["-o", "pretty"], Sink::File),
        (
            "tail -o ndjson > /dev/null",
            &["-o", "ndjson"],
            Sink::DevNull,
        ),
        ("tail -o raw > /dev/null", &["-o", "raw"], Sink::DevNull),
    ];
    let mut rows = Vec::new();
    for (label, args, sink) in tails {
        for before in [true, false] {
            if before && opts.before.is_none() {
                continue;
            }
            rows.push(row(Client::Tail {
                label,
                args,
                sink,
                before,
            }));
        }
    }
    rows.push(row(Client::Floor));
    if tools.websocat.is_some() {
        rows.push(row(Client::Websocat));
        if tools.jq.is_some() {
            rows.push(row(Client::WebsocatJq));
        }
    }

    if let Some(only) = &opts.only {
        rows.retain(|r| only.split('|').any(|o| r.client.label().contains(o)));
    }
    // Warm-up: caches, the page cache for the binary, and a check that each client printed
    // exactly what it should.
    for r in &rows {
        eprintln!("warm-up and output check: {}", r.client.label());
        let (lines, _) = measure(&setup, &r.client, Sink::File, &Flood::Prepared(&flood))
            .and_then(|m| Ok((count_output(&setup, &r.client, flood.ids())?, m)))
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
            r.server_cpu.push(m.server_cpu.as_secs_f64());
            let m = measure(&setup, &r.client, sink, &Flood::Prepared(&one_frame))
                .map_err(|e| format!("{} (one frame): {e}", r.client.label()))?;
            r.fixed.add(m.wall, m.usage.cpu, m.usage.max_rss_kib);
        }
    }
    drop(flood);
    report_throughput(&rows, notifications);
    report_streaming(&rows, notifications);
    report_targets(&rows);

    if opts.long > 0 {
        long_stream::long_stream(&setup, partner, notifications, opts.long)?;
    }
    if opts.startup > 0 {
        startup::startup(&setup, &control, partner, opts.startup)?;
    }
    Ok(())
}

/// The mean payload size of the flood's first frame (its mix is the flood's).
fn mean_payload_bytes(flood: &PreparedFlood) -> usize {
    let batch = flood
        .frame(0)
        .and_then(|text| odoo_bus_core::bus::protocol::decode_batch(text).ok())
        .unwrap_or_default();
    let total: usize = batch.iter().map(|n| n.payload.get().len()).sum();
    total / batch.len().max(1)
}

fn row(client: Client) -> Row {
    Row {
        client,
        stats: RunStats::default(),
        fixed: RunStats::default(),
        server_cpu: stats::Samples::default(),
    }
}
