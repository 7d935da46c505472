//! What polling costs next to the websocket: the release `odoo-bus tail` against the emulator on
//! loopback, each transport in turn. Prints the delivery latency (from the server storing a
//! notification to its line on tail's stdout) while traffic flows and after the channel was idle,
//! and the requests per minute polling makes idle and under load. docs/performance.md explains
//! the figures.
//!
//!     cargo bench --bench polling                 # ~1.5 min
//!     cargo bench --bench polling -- --quick      # ~30 s, fewer samples
//!
//! Polling's interval is the default (250 ms while notifications flow, doubling to 3 s when
//! idle); the latency figures are therefore bounded by it, not by the machine.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use odoo_bus_emulator::Target;
use serde_json::json;
use support::TestEnv;
use support::running::Running;

const ADMIN_PARTNER: i64 = 3;
const WAIT: Duration = Duration::from_secs(20);

struct Plan {
    /// Notifications while traffic flows, and the gap between them.
    busy: usize,
    busy_gap: Duration,
    /// Notifications each after an idle gap.
    after_idle: usize,
    idle_gap: Duration,
    /// How long the request rate is measured, idle and under load.
    window: Duration,
    load_gap: Duration,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = if quick {
        Plan {
            busy: 20,
            busy_gap: Duration::from_millis(100),
            after_idle: 2,
            idle_gap: Duration::from_secs(6),
            window: Duration::from_secs(6),
            load_gap: Duration::from_millis(100),
        }
    } else {
        Plan {
            busy: 60,
            busy_gap: Duration::from_millis(100),
            after_idle: 8,
            idle_gap: Duration::from_secs(6),
            window: Duration::from_secs(20),
            load_gap: Duration::from_millis(100),
        }
    };
    println!("odoo-bus tail, websocket vs polling, emulator on loopback (release build)");
    println!(
        "latency = server stores the notification -> its line on stdout; busy: one every {}-{} ms; idle: one after {}-{} s of silence (random gaps)",
        plan.busy_gap.as_millis(),
        (plan.busy_gap + (plan.busy_gap / 2).max(Duration::from_millis(300))).as_millis(),
        plan.idle_gap.as_secs(),
        (plan.idle_gap + plan.idle_gap / 2).as_secs()
    );
    println!();
    println!(
        "{:<10} {:<10} {:>4} {:>9} {:>9} {:>9} {:>9}",
        "transport", "traffic", "n", "median", "p90", "max", "mean"
    );
    for transport in ["websocket", "poll"] {
        let env = TestEnv::new();
        env.logged_in("admin");
        let tail = start(&env, transport);
        let busy = latencies(&env, &tail, plan.busy, plan.busy_gap);
        row(transport, "busy", &busy);
        let idle = latencies(&env, &tail, plan.after_idle, plan.idle_gap);
        row(transport, "idle", &idle);
        tail.signal("INT");
    }

    println!();
    let env = TestEnv::new();
    env.logged_in("admin");
    let tail = start(&env, "poll");
    std::thread::sleep(Duration::from_secs(4)); // past the back-off to the idle interval
    let idle_rate = polls_per_minute(&env, plan.window, || {});
    let mut n = 0u32;
    let load_rate = polls_per_minute(&env, plan.window, || {
        env.control()
            .notify(Target::Partner(ADMIN_PARTNER), "bench/poll", json!(n));
        n += 1;
        std::thread::sleep(plan.load_gap);
    });
    tail.signal("INT");
    println!(
        "polling requests per minute: idle {idle_rate:.0}, under load (one notification every {} ms) {load_rate:.0}",
        plan.load_gap.as_millis()
    );
    println!(
        "websocket requests per minute: 0 (one connection; Odoo pings it after 45 s of silence)"
    );
}

fn start(env: &TestEnv, transport: &str) -> Running {
    let mut cmd = env.std_cmd();
    cmd.args(["tail", "--json", "-t", "bench/*", "--transport", transport]);
    let t = Running::spawn(cmd);
    let c = env.control();
    let ready = c.wait_until(WAIT, |s, events| {
        s.polls > 0 || events.iter().any(|e| e.event_name == "subscribe")
    });
    assert!(ready, "{transport} never started: {}", t.stderr_so_far());
    t
}

/// Notify `n` times, timing each one to its line on stdout. The gaps are random between `gap`
/// and 1.5 × `gap` (at least +300 ms), so a notification lands anywhere in the poll interval
/// rather than always at the same phase (a fixed gap would lock onto the poll timer).
fn latencies(env: &TestEnv, tail: &Running, n: usize, gap: Duration) -> Vec<Duration> {
    use rand::RngExt;
    let mut rng = rand::rng();
    let spread = (gap / 2).max(Duration::from_millis(300));
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        std::thread::sleep(gap + spread.mul_f64(rng.random::<f64>()));
        let sent = Instant::now();
        let id = env
            .control()
            .notify(Target::Partner(ADMIN_PARTNER), "bench/latency", json!(i));
        let needle = format!("\"id\":{id},");
        loop {
            let line = tail
                .next_line(WAIT)
                .unwrap_or_else(|| panic!("id {id} never arrived: {}", tail.stderr_so_far()));
            if line.contains(&needle) {
                break;
            }
        }
        out.push(sent.elapsed());
    }
    out
}

/// Polls the emulator answered during `window`, per minute, while `step` runs in a loop.
fn polls_per_minute(env: &TestEnv, window: Duration, mut step: impl FnMut()) -> f64 {
    let before = env.control().stats().polls;
    let started = Instant::now();
    while started.elapsed() < window {
        step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let polls = env.control().stats().polls - before;
    polls as f64 * 60.0 / started.elapsed().as_secs_f64()
}

fn row(transport: &str, traffic: &str, samples: &[Duration]) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "{:<10} {:<10} {:>4} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7.1}ms",
        transport,
        traffic,
        ms.len(),
        at(0.5),
        at(0.9),
        ms[ms.len() - 1],
        mean
    );
}
