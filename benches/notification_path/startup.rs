//! Start-up: process start to the first notification printed, with the server-side steps.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use odoo_bus_emulator::{Control, Target};
use serde_json::json;

use crate::clients::Setup;
use crate::process::Proc;
use crate::report::target;
use crate::run::{PROCESS_LIMIT, wait_for_no_sockets};
use crate::stats::{self, Samples};

/// Process start → first notification printed, with a saved session: `tail -o ndjson -n 1`
/// against an emulator that holds one recent notification (sent right after the subscribe).
/// Also when the session check (first HTTP request) and the websocket upgrade reached the server.
pub(crate) fn startup(
    setup: &Setup,
    control: &Control,
    partner: i64,
    n: usize,
) -> Result<(), String> {
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
