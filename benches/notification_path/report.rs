//! The throughput table and the verdicts on the targets.

use crate::clients::Client;
use crate::stats::{self, RunStats};

/// The figures of one client.
pub(crate) struct Row {
    pub client: Client,
    pub stats: RunStats,
    /// The same client with a one-frame flood: start-up, connection and close.
    pub fixed: RunStats,
}

pub(crate) fn report_throughput(rows: &[Row], notifications: usize) {
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

/// Wall time minus the one-frame run's: the cost of the stream itself, without what a client
/// pays once (websocat's start and exit take about 0.1 s of CPU; every run ends with the
/// server's close, which TCP can hold back up to 40 ms after the last frame).
pub(crate) fn report_streaming(rows: &[Row], notifications: usize) {
    let streaming = |r: &Row| (r.stats.wall.median() - r.fixed.wall.median()).max(1e-6);
    let baseline = rows
        .iter()
        .find(|r| matches!(r.client, Client::Websocat))
        .map(streaming);
    println!("## Fixed cost and streaming cost (medians)");
    println!();
    println!(
        "| client | one-frame run: wall (min–max) | one-frame run: CPU | streaming = wall − one-frame wall | notifications/s while streaming | streaming ÷ websocat's |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let ratio =
            baseline.map_or_else(|| "–".to_string(), |b| format!("{:.2}×", streaming(r) / b));
        println!(
            "| `{}` | {} | {:.3} s | {:.3} s | {:.0} | {ratio} |",
            r.client.label(),
            stats::seconds_with_range(&r.fixed.wall),
            r.fixed.cpu.median(),
            streaming(r),
            notifications as f64 / streaming(r),
        );
    }
    println!();
}
