//! The many-profiles benchmark: one `odoo-bus tail --all` holding N websocket connections (N
//! profiles, one emulator user each, all on one in-process emulator) and what each costs. Prints
//! figures; asserts nothing. docs/performance.md explains them and holds the latest table.
//!
//!     cargo bench --bench many_profiles                       # N = 10, 100, 500, 1000
//!     cargo bench --bench many_profiles -- --n 200 --notes 4000 --rate 1000
//!
//! Per N: peak RSS (`VmHWM` of the tail) and RSS per connection (the peak over N, and the slope
//! from the smallest N), CPU per notification (the tail's user+system time while the
//! notifications flow, over their number), and added latency p50/p99: each notification carries
//! the wall-clock time the bench asked the emulator to send it, and the bench reads the line on
//! the tail's stdout and subtracts (the emulator's fan-out, loopback, the tail, the pipe).
//! Notifications go round-robin to the N users at `--rate` per second, so every connection
//! carries a trickle, as when one administrator follows many quiet servers.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use odoo_bus_emulator::{EmulatorConfig, Target, UserSpec};
use serde_json::json;
use support::TestEnv;

struct Options {
    ns: Vec<usize>,
    /// Notifications per N.
    notes: usize,
    /// Notifications per second (all profiles together).
    rate: f64,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        ns: vec![10, 100, 500, 1000],
        notes: 3000,
        rate: 1000.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--n" => {
                o.ns = value()?
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|e| format!("--n: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--notes" => o.notes = value()?.parse().map_err(|e| format!("--notes: {e}"))?,
            "--rate" => o.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Each connection is a socket in the tail and one in the emulator (this process), plus the
/// HTTP client's: the default soft limit (1024) is too few for 1000 profiles.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `VmHWM` / `VmRSS` of a process, KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Row {
    n: usize,
    connect: Duration,
    rss_connected_kib: u64,
    peak_kib: u64,
    cpu_per_note: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    received: usize,
    sent: usize,
}

fn run(n: usize, o: &Options) -> Result<Row, String> {
    let env = TestEnv::with_config(EmulatorConfig::default());
    let control = env.control();
    let cfg = control.config();
    // The config file, written at once (one `update_profile` per profile is quadratic).
    let mut toml = String::new();
    let mut partners = Vec::with_capacity(n);
    for i in 0..n {
        let login = format!("bench{i}");
        let user = control.add_user(UserSpec::internal(&login, "x", &login));
        let sid = control.create_session(user.uid);
        partners.push(user.partner_id);
        toml.push_str(&format!(
            "[profiles.p{i:04}]\nurl = {url:?}\ndb = {db:?}\nlogin = {login:?}\nuid = {uid}\npartner_id = {pid}\nserver_version = {sv:?}\nserver_version_major = {major}\n{wwv}session_id = {sid:?}\n\n",
            url = env.url(),
            db = control.db(),
            uid = user.uid,
            pid = user.partner_id,
            sv = cfg.server_version,
            major = cfg.server_version_info[0].as_u64().unwrap_or(18),
            wwv = cfg
                .websocket_worker_version
                .as_ref()
                .map(|v| format!("websocket_worker_version = {v:?}\n"))
                .unwrap_or_default(),
        ));
    }
    let config = env.config_path();
    std::fs::create_dir_all(config.parent().unwrap()).map_err(|e| e.to_string())?;
    let mut file = std::fs::File::create(&config).map_err(|e| e.to_string())?;
    file.write_all(toml.as_bytes()).map_err(|e| e.to_string())?;
    drop(file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600));
    }

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_odoo-bus"));
    cmd.env("ODOO_BUS_CONFIG", &config)
        .env("HOME", env.home())
        .env("NO_COLOR", "1");
    for var in support::CLEARED_ENV {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let mut child = cmd
        .args([
            "tail",
            "--all",
            "-q",
            "-o",
            "ndjson",
            "-t",
            "simple_notification",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start odoo-bus: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let at = now_micros();
            // `"t": 1765000000000000` in the payload: the send time.
            let sent = line
                .find("\"t\": ")
                .map(|i| &line[i + 5..])
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse::<u64>().ok());
            if let Some(sent) = sent {
                let _ = tx.send(at.saturating_sub(sent));
            }
        }
    });
    if !control.wait_for_subscribes(n, Duration::from_secs(300)) {
        let _ = child.kill();
        return Err(format!("N={n}: not every profile subscribed within 300 s"));
    }
    let connect = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let rss_connected_kib = status_kib(pid, "VmRSS:");

    let cpu_before = cpu_time(pid);
    let interval = Duration::from_secs_f64(1.0 / o.rate);
    let t0 = Instant::now();
    for k in 0..o.notes {
        let due = t0 + interval * k as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        control.notify(
            Target::Partner(partners[k % n]),
            "simple_notification",
            json!({ "t": now_micros(), "k": k }),
        );
    }
    let mut latencies = Vec::with_capacity(o.notes);
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.len() < o.notes {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(us) => latencies.push(us),
            Err(_) => break,
        }
    }
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let peak_kib = status_kib(pid, "VmHWM:");
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();
    let _ = reader.join();
    latencies.sort_unstable();
    let pct = |p: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        Duration::from_micros(latencies[i])
    };
    Ok(Row {
        n,
        connect,
        rss_connected_kib,
        peak_kib,
        cpu_per_note: cpu / latencies.len().max(1) as u32,
        p50: pct(0.50),
        p99: pct(0.99),
        max: pct(1.0),
        received: latencies.len(),
        sent: o.notes,
    })
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let fds = raise_fd_limit();
    println!("# many_profiles: one `odoo-bus tail --all` over N connections");
    println!();
    println!(
        "- machine: {} cores, load average {} (start)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );
    println!("- fd limit (soft, raised to the hard one): {fds}");
    println!(
        "- {} notifications per N at {}/s, round-robin over the N users",
        o.notes, o.rate
    );
    println!();
    println!(
        "| N | connect all | RSS connected | peak RSS | peak RSS / conn | slope / conn | CPU / notification | p50 added | p99 added | max | received |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut first: Option<(usize, u64)> = None;
    for &n in &o.ns {
        match run(n, &o) {
            Ok(r) => {
                let mib = |kib: u64| kib as f64 / 1024.0;
                let slope = match first {
                    Some((n0, k0)) if r.n > n0 => format!(
                        "{:.1} KiB",
                        (r.peak_kib as f64 - k0 as f64) / (r.n - n0) as f64
                    ),
                    _ => "-".to_string(),
                };
                if first.is_none() {
                    first = Some((r.n, r.peak_kib));
                }
                println!(
                    "| {} | {:.2} s | {:.1} MiB | {:.1} MiB | {:.1} KiB | {} | {:.1} µs | {:.2} ms | {:.2} ms | {:.1} ms | {}/{} |",
                    r.n,
                    r.connect.as_secs_f64(),
                    mib(r.rss_connected_kib),
                    mib(r.peak_kib),
                    r.peak_kib as f64 / r.n as f64,
                    slope,
                    r.cpu_per_note.as_secs_f64() * 1e6,
                    r.p50.as_secs_f64() * 1e3,
                    r.p99.as_secs_f64() * 1e3,
                    r.max.as_secs_f64() * 1e3,
                    r.received,
                    r.sent,
                );
            }
            Err(e) => println!("| {n} | failed: {e} |"),
        }
    }
    println!();
    println!("- load average {} (end)", load());
}
