//! Throughput of the notification hot path, for profiling (not a test, not a benchmark gate).
//!
//!     cargo run --release --example decode_profile                 # all phases, 100 000 notifications
//!     cargo run --release --example decode_profile -- ndjson 20000 # one phase, fewer notifications
//!     REPEATS=1 valgrind --tool=callgrind target/release/examples/decode_profile ndjson 20000
//!
//! Frames are 10 notifications each, shaped like Odoo 18's (Python `json.dumps` spacing, `\u`
//! escapes, Store payloads; see crates/core/fixtures/odoo18), about 500 bytes per notification.
//! Phases: `decode` (decode_batch only), `ndjson` (decode + dedup + type filter + NDJSON printer
//! into a sink, the `tail -o ndjson -t ...` path), `channels` (the same plus `--only-channels`),
//! `raw` (decode + dedup + raw printer: the "copy the frame" baseline), `pretty`; and `rss`,
//! which streams N notifications generated on the fly through the ndjson path and prints the
//! peak RSS after a tenth of them and at the end (they match when memory is bounded).
//! A counting allocator reports heap allocations per frame for each phase.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use odoo_bus::cli::OutputFormat;
use odoo_bus::output::filter::{ChannelSelector, TypeFilter};
use odoo_bus::output::{FrameView, PrintOptions, printer};
use odoo_bus_core::bus::dedup::SeenIds;
use odoo_bus_core::bus::protocol::decode_batch;

struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const PER_FRAME: usize = 10;

/// One notification in Odoo 18's wire format, about 500 bytes, cycling through the common types.
fn notification(id: u64) -> String {
    let channel = 1 + id % 4;
    let payload = match id % 10 {
        // Chat messages: the bulk of a busy stream.
        0 | 3 | 6 => format!(
            r#"{{"data": {{"mail.message": [{{"attachment_ids": [], "author": {{"id": 7, "type": "partner"}}, "body": "<p>caf\u00e9 message {id} \ud83d\ude00 &amp; more</p>", "create_date": "2026-11-21 23:06:28", "id": {id}, "message_type": "comment", "model": "discuss.channel", "record_name": "general", "res_id": {channel}, "thread": {{"id": {channel}, "model": "discuss.channel"}}}}], "res.partner": [{{"id": 7, "name": "Marc Demo"}}]}}, "id": {channel}, "temporary_id": 0.5}}"#
        ),
        // Channel updates and unread counters.
        1 | 4 | 7 => format!(
            r#"{{"discuss.channel.member": [{{"id": 2, "message_unread_counter": 0, "message_unread_counter_bus_id": {id}, "new_message_separator": {id}, "persona": {{"id": 3, "type": "partner"}}, "syncUnread": true, "thread": {{"id": {channel}, "model": "discuss.channel"}}}}], "res.partner": [{{"id": 3, "name": "Mitchell Admin"}}], "discuss.channel": [{{"id": {channel}, "last_interest_dt": "2026-11-21 23:06:28", "is_pinned": true, "name": "general"}}]}}"#
        ),
        2 | 5 => format!(r#"{{"im_status": "online", "partner_id": {}}}"#, 7 + id % 3),
        _ => format!(
            r#"{{"channel_id": {channel}, "id": 5, "last_message_id": {id}, "partner_id": 3}}"#
        ),
    };
    let kind = match id % 10 {
        0 | 3 | 6 => "discuss.channel/new_message",
        1 | 4 | 7 => "mail.record/insert",
        2 | 5 => "bus.bus/im_status_updated",
        _ => "discuss.channel.member/fetched",
    };
    // Python's json.dumps puts ", " and ": " everywhere.
    let filler = "x".repeat(usize::try_from(70 + id % 7 * 20).unwrap_or(0));
    format!(
        r#"{{"id": {id}, "message": {{"type": "{kind}", "payload": {payload}}}, "trace": "{filler}"}}"#
    )
}

fn frames(notifications: usize) -> Vec<String> {
    (0..notifications.div_ceil(PER_FRAME))
        .map(|f| {
            let first = (f * PER_FRAME) as u64 + 1;
            let items: Vec<String> = (first..first + PER_FRAME as u64)
                .map(notification)
                .collect();
            format!("[{}]", items.join(", "))
        })
        .collect()
}

struct Outcome {
    printed: u64,
    elapsed: Duration,
    allocations: u64,
}

fn run(phase: &str, frames: &[String]) -> Outcome {
    let types = TypeFilter::new(
        &[
            "discuss.channel/*".into(),
            "mail.*".into(),
            "bus.bus/*".into(),
        ],
        &["mail.message/*".into()],
    )
    .expect("valid patterns");
    let channels = ChannelSelector::new(&["discuss.channel_1".into(), "discuss.channel_2".into()]);
    let format = match phase {
        "raw" => OutputFormat::Raw,
        "pretty" => OutputFormat::Pretty,
        _ => OutputFormat::Ndjson,
    };
    let opts = PrintOptions {
        color: false,
        timestamps: false,
        width: Some(120),
    };
    let mut out = printer(format, opts, Box::new(io::sink()));
    let mut seen = SeenIds::default();
    let mut printed = 0u64;

    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    for text in frames {
        let received_at = SystemTime::now();
        let Ok(mut batch) = decode_batch(text) else {
            panic!("generated frame does not decode")
        };
        if phase == "decode" {
            printed += black_box(&batch).len() as u64;
            continue;
        }
        batch.retain(|n| {
            seen.first_sighting(n.id)
                && types.accepts(&n.kind)
                && (phase != "channels" || channels.accepts(&n.kind, n.payload))
        });
        if batch.is_empty() {
            continue;
        }
        printed += batch.len() as u64;
        let frame = FrameView {
            text,
            received_at,
            notifications: &batch,
        };
        out.frame(&frame).expect("a sink never fails");
    }
    Outcome {
        printed,
        elapsed: start.elapsed(),
        allocations: ALLOCATIONS.load(Ordering::Relaxed) - allocations_before,
    }
}

/// Peak resident memory so far, from /proc (Linux), in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Streams `count` notifications through decode + dedup + filter + ndjson without keeping the
/// frames, to show that memory does not grow with the stream.
fn rss(count: usize) {
    let types = TypeFilter::new(&["*".into()], &["bus.bus/*".into()]).expect("valid patterns");
    let mut out = printer(
        OutputFormat::Ndjson,
        PrintOptions::default(),
        Box::new(io::sink()),
    );
    let mut seen = SeenIds::default();
    let frames = count.div_ceil(PER_FRAME);
    let mut at_tenth = None;
    for f in 0..frames {
        let first = (f * PER_FRAME) as u64 + 1;
        let items: Vec<String> = (first..first + PER_FRAME as u64)
            .map(notification)
            .collect();
        let text = format!("[{}]", items.join(", "));
        let mut batch = decode_batch(&text).expect("generated frames decode");
        batch.retain(|n| seen.first_sighting(n.id) && types.accepts(&n.kind));
        if !batch.is_empty() {
            let frame = FrameView {
                text: &text,
                received_at: SystemTime::now(),
                notifications: &batch,
            };
            out.frame(&frame).expect("a sink never fails");
        }
        if f == frames / 10 {
            at_tenth = peak_rss_kb();
        }
    }
    println!(
        "peak RSS after {} notifications: {:?} kB; after {}: {:?} kB",
        count / 10,
        at_tenth,
        count,
        peak_rss_kb()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let phase = args.next().unwrap_or_else(|| "all".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    if phase == "rss" {
        rss(count);
        return;
    }
    let frames = frames(count);
    let bytes: usize = frames.iter().map(String::len).sum();
    let notifications = frames.len() * PER_FRAME;
    println!(
        "{notifications} notifications in {} frames, {:.1} MB, {} bytes per notification on average",
        frames.len(),
        bytes as f64 / 1e6,
        bytes / notifications
    );
    let phases: Vec<&str> = if phase == "all" {
        vec!["decode", "ndjson", "channels", "raw", "pretty"]
    } else {
        vec![phase.as_str()]
    };
    let repeats: usize = std::env::var("REPEATS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    for phase in phases {
        // Warm up caches and the allocator, then measure several runs: the best one is the
        // figure (the machine is shared), the median shows the spread.
        run(phase, &frames[..frames.len().min(200)]);
        let mut outcomes: Vec<Outcome> = (0..repeats.max(1)).map(|_| run(phase, &frames)).collect();
        outcomes.sort_by_key(|o| o.elapsed);
        let best = &outcomes[0];
        let median = outcomes[outcomes.len() / 2].elapsed.as_secs_f64();
        let secs = best.elapsed.as_secs_f64();
        println!(
            "{phase:>8}: {:>9.0} notifications/s {:>7.1} MB/s (median {:>9.0}/s)  {} printed, {:.2} allocations per frame",
            notifications as f64 / secs,
            bytes as f64 / 1e6 / secs,
            notifications as f64 / median,
            best.printed,
            best.allocations as f64 / frames.len() as f64,
        );
    }
}
