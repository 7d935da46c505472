//! One timed run: start a client, wait for its subscribe, flood it, close with 1000, wait for
//! every process to exit.

use std::time::{Duration, Instant};

use odoo_bus_emulator::{Control, PreparedFlood, Target};

use crate::clients::{Client, Setup, Sink};
use crate::process::{Proc, Usage};
use crate::{FILLER, INSERT_RATIO, PER_FRAME};

/// Frames per flood chunk in the long-stream run (memory in the bench stays bounded).
pub(crate) const CHUNK_FRAMES: usize = 1_000;

/// No single process may take longer than this.
pub(crate) const PROCESS_LIMIT: Duration = Duration::from_secs(120);

const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(30);

/// What the server sends in a run.
pub(crate) enum Flood<'a> {
    /// The same prebuilt batches every run (ids repeat across runs; each run is a new process).
    Prepared(&'a PreparedFlood),
    /// `n` notifications built in chunks while the client reads (bounded memory in the bench).
    Streamed { partner: i64, notifications: usize },
}

pub(crate) struct Measured {
    pub wall: Duration,
    pub usage: Usage,
    /// CPU time of the bench process over the run: the emulator sending (and the bench's own
    /// polling of the client's memory, which is small).
    pub server_cpu: Duration,
}

/// User + system time of this process (the emulator runs in it) so far.
pub(crate) fn own_cpu() -> Duration {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(u.ru_utime) + t(u.ru_stime)
}

/// One run: start the client, wait for its subscribe, flood, close with 1000, wait for every
/// process to exit. The wall time runs from just before the start to the last exit.
pub(crate) fn measure(
    setup: &Setup,
    client: &Client,
    sink: Sink,
    flood: &Flood,
) -> Result<Measured, String> {
    let control = setup.env.control();
    wait_for_no_sockets(control)?;
    // Counted before the start: a fast client subscribes before the bench starts waiting.
    let before = (control.stats().frames_received, subscribe_count(control));
    // The last run's output goes before the clock starts: truncating 40 MB takes milliseconds.
    let _ = std::fs::remove_file(setup.output_file());
    let t0 = Instant::now();
    let cpu0 = own_cpu();
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
            server_cpu: own_cpu().saturating_sub(cpu0),
        })
    })();
    outcome.map_err(|e| format!("{e}; stderr: {}", setup.stderr_text().trim()))
}

pub(crate) fn subscribe_count(control: &Control) -> usize {
    control
        .client_events()
        .iter()
        .filter(|e| e.event_name == "subscribe")
        .count()
}

/// The previous run's socket must be gone, or `close_all` would reach it too.
pub(crate) fn wait_for_no_sockets(control: &Control) -> Result<(), String> {
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
