//! Memory over a long stream: the same client fed 100 000 and 1 000 000 notifications.

use crate::clients::{Client, Setup, Sink};
use crate::report::target;
use crate::run::{Flood, measure};

/// Peak RSS of `tail -o ndjson > /dev/null` over a short and a long stream (same payloads).
pub(crate) fn long_stream(
    setup: &Setup,
    partner: i64,
    short: usize,
    long: usize,
) -> Result<(), String> {
    let client = Client::Tail {
        label: "tail -o ndjson > /dev/null",
        args: &["-o", "ndjson"],
        sink: Sink::DevNull,
        before: false,
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
