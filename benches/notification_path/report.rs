//! The throughput tables (start-up included, then excluded) and the verdicts on the targets.

use crate::clients::Client;
use crate::stats::{self, RunStats};

/// The figures of one client.
pub(crate) struct Row {
    pub client: Client,
    pub stats: RunStats,
    /// The same client with a one-frame flood: start-up, connection and close.
    pub fixed: RunStats,
    /// The bench process's CPU over each timed run: mostly the emulator sending the flood.
    pub server_cpu: stats::Samples,
}

impl Row {
    /// Median wall time minus the one-frame run's: the stream alone.
    fn streaming_wall(&self) -> f64 {
        (self.stats.wall.median() - self.fixed.wall.median()).max(1e-6)
    }

    /// Median CPU time minus the one-frame run's.
    fn streaming_cpu(&self) -> f64 {
        (self.stats.cpu.median() - self.fixed.cpu.median()).max(0.0)
    }
}

/// A client's label for a Markdown table cell (a `|` would end the cell).
fn cell(client: &Client) -> String {
    client.label().replace('|', "\\|")
}

fn websocat(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| matches!(r.client, Client::Websocat))
}

fn floor(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| matches!(r.client, Client::Floor))
}

/// `1.23 µs`
fn micros(seconds: f64, notifications: usize) -> String {
    format!("{:.2} µs", seconds / notifications as f64 * 1e6)
}

pub(crate) fn report_throughput(rows: &[Row], notifications: usize) {
    let baseline = websocat(rows).map(|r| r.stats.wall.median());
    let floor_wall = floor(rows).map(|r| r.stats.wall.median());
    println!(
        "## Throughput: {notifications} notifications, whole process, start to exit (start-up included)"
    );
    println!();
    println!(
        "| client | wall median (min–max) | CPU user+sys median (min–max) | CPU per notification | peak RSS median (min–max) | notifications/s | emulator CPU during the run | wall ÷ websocat | wall ÷ floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let ratio = |value: f64, base: Option<f64>| {
        base.map_or_else(|| "–".to_string(), |b| format!("{:.2}×", value / b))
    };
    for r in rows {
        println!(
            "| `{}` | {} | {} | {} | {} | {:.0} | {:.3} s | {} | {} |",
            cell(&r.client),
            stats::seconds_with_range(&r.stats.wall),
            stats::seconds_with_range(&r.stats.cpu),
            micros(r.stats.cpu.median(), notifications),
            stats::mib_with_range(&r.stats.rss),
            notifications as f64 / r.stats.wall.median(),
            r.server_cpu.median(),
            ratio(r.stats.wall.median(), baseline),
            ratio(r.stats.wall.median(), floor_wall),
        );
    }
    println!();
    println!(
        "*emulator CPU*: user + system time of the bench process over the run, which is the emulator \
         sending (the bench's own polling adds little). The *floor* reads the socket into a 1 MiB \
         buffer and only finds frame boundaries: no client can be faster against this emulator on \
         this machine, so its ratio to websocat bounds every target from below."
    );
    println!();
}

/// Wall time minus the one-frame run's: the cost of the stream itself, without what a client
/// pays once (websocat's start and exit take about 0.1 s of CPU; every run ends with the
/// server's close, which TCP can hold back up to 40 ms after the last frame).
pub(crate) fn report_streaming(rows: &[Row], notifications: usize) {
    let baseline = websocat(rows).map(Row::streaming_wall);
    println!("## Steady state: the stream alone (start-up excluded: wall − the one-frame run's)");
    println!();
    println!(
        "| client | one-frame run: wall (min–max) | one-frame run: CPU | start-up share of the run | streaming wall | streaming CPU | CPU per notification | notifications/s while streaming | streaming ÷ websocat's |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ratio = baseline.map_or_else(
            || "–".to_string(),
            |b| format!("{:.2}×", r.streaming_wall() / b),
        );
        println!(
            "| `{}` | {} | {:.3} s | {:.1} % | {:.3} s | {:.3} s | {} | {:.0} | {ratio} |",
            cell(&r.client),
            stats::seconds_with_range(&r.fixed.wall),
            r.fixed.cpu.median(),
            100.0 * r.fixed.wall.median() / r.stats.wall.median().max(1e-6),
            r.streaming_wall(),
            r.streaming_cpu(),
            micros(r.streaming_cpu(), notifications),
            notifications as f64 / r.streaming_wall(),
        );
    }
    println!();
}

/// Issue #17's targets: each client's wall ÷ websocat's raw pass-through, whole process (what
/// a user sees on a long run) and streaming alone; peak RSS.
pub(crate) fn report_targets(rows: &[Row]) {
    println!("### Targets (this tree's binary)");
    println!();
    let current = |label: &str| {
        rows.iter().find(|r| {
            matches!(r.client, Client::Tail { before: false, .. }) && r.client.label() == label
        })
    };
    match websocat(rows) {
        Some(base) => {
            let limits = [
                ("tail -o ndjson > /dev/null", 1.0),
                ("tail -o ndjson -t mail.record/insert > /dev/null", 0.6),
                ("tail -o pretty > file", 1.5),
                ("tail -o raw > /dev/null", 1.0),
            ];
            for (label, limit) in limits {
                let Some(r) = current(label) else { continue };
                let whole = r.stats.wall.median() / base.stats.wall.median();
                let streaming = r.streaming_wall() / base.streaming_wall();
                println!(
                    "- `{label}` ≤ {limit}× websocat: whole process {whole:.2}× ({}), streaming alone {streaming:.2}× ({})",
                    verdict(whole <= limit),
                    verdict(streaming <= limit),
                );
            }
            if let Some(f) = floor(rows) {
                let whole = f.stats.wall.median() / base.stats.wall.median();
                let streaming = f.streaming_wall() / base.streaming_wall();
                let cpu = f.stats.cpu.median() / base.stats.cpu.median();
                println!(
                    "- the floor (reading and finding frame boundaries, nothing else): whole process {whole:.2}× websocat, streaming alone {streaming:.2}×, CPU {cpu:.2}× websocat's; {}",
                    if whole.min(streaming) > 0.6 {
                        "above 0.6×: the filtered target cannot be met against this emulator on this machine, whatever the client does"
                    } else {
                        "a ratio target above this is reachable in principle"
                    }
                );
            }
            let jq = rows.iter().find(|r| matches!(r.client, Client::WebsocatJq));
            if let (Some(j), Some(f)) = (
                jq,
                current("tail -o ndjson -t mail.record/insert > /dev/null"),
            ) {
                let speedup = j.stats.wall.median() / f.stats.wall.median();
                println!(
                    "- websocat | jq ÷ tail -o ndjson -t …: {speedup:.1}× (target ≥ 5×): {}",
                    verdict(speedup >= 5.0)
                );
            }
        }
        None => println!("- ratios skipped: websocat is not installed (`cargo install websocat`)"),
    }
    let rss = rows
        .iter()
        .filter(|r| matches!(r.client, Client::Tail { before: false, .. }))
        .map(|r| r.stats.rss.max())
        .fold(0.0, f64::max);
    target(
        "peak RSS of every tail run (max) ≤ 20 MiB",
        rss,
        20.0,
        " MiB",
    );
    println!();
}

pub(crate) fn target(what: &str, value: f64, limit: f64, unit: &str) {
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
