//! `odoo-bus probe` against the emulator with its faults: slow deliveries, a fraction lost,
//! 1013 past K sockets; and `tail`'s gap warnings when the server may have forgotten rows.
//! The real binary each time; metrics are read back with a Prometheus text parser.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use odoo_bus_emulator::{EmulatorConfig, Faults, OdooVersion, Target};
use serde_json::Value;
use support::TestEnv;

/// Test timings, without the server PINGs of `fast()` (a waiting client's pongs alone would use
/// up Odoo's 10-frames-in-2-s budget over a long probe run).
fn quiet() -> EmulatorConfig {
    EmulatorConfig {
        idle_ping: Duration::from_secs(30),
        ..EmulatorConfig::fast()
    }
}

fn env_with(faults: Faults) -> TestEnv {
    let env = TestEnv::with_config(quiet());
    env.logged_in("demo");
    env.control().set_faults(faults);
    env
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(env: &TestEnv, args: &[&str]) -> Out {
    let out = env
        .cmd()
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run odoo-bus");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn probe_reports_percentiles_and_misses() {
    let env = env_with(Faults {
        delivery_delay: Some(Duration::from_millis(150)),
        drop_fraction: 0.5,
        ..Faults::default()
    });
    let out = run(
        &env,
        &[
            "probe",
            "--every",
            "100ms",
            "-n",
            "6",
            "--timeout",
            "700ms",
            "-o",
            "ndjson",
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    let results: Vec<&str> = lines
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    // Every second push is lost: the first probe arrives, the second does not, ...
    assert_eq!(
        results,
        ["ok", "miss", "ok", "miss", "ok", "miss"],
        "{}",
        out.stdout
    );
    for l in &lines {
        assert_eq!(l["type"], "odoo-bus/probe");
        assert_eq!(l["profile"], "default");
        assert!(l["http_s"].as_f64().is_some(), "{l}");
        assert_eq!(l["reconnects"], 0);
        match l["result"].as_str() {
            Some("ok") => assert!(l["latency_s"].as_f64().unwrap() >= 0.15, "{l}"),
            // The row is in the table; the socket never got it.
            _ => assert_eq!(l["stored"], true, "{l}"),
        }
    }
    let summary = out.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("6 probes, 3 missed, 0 errors; latency p50 1"),
        "{}",
        out.stderr
    );
    for q in ["p90", "p99", "max", "0 reconnects"] {
        assert!(summary.contains(q), "{summary}");
    }
}

#[test]
fn probe_counts_reconnects_with_their_close_codes() {
    let env = env_with(Faults::default());
    let probe = env.spawn(&[
        "probe",
        "--every",
        "300ms",
        "-n",
        "5",
        "--timeout",
        "2s",
        "-o",
        "ndjson",
    ]);
    probe
        .next_line(Duration::from_secs(10))
        .expect("a first probe");
    env.control().close_all(1013, "");
    let done = probe.wait(Duration::from_secs(30));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let lines = json_lines(&done.stdout.join("\n"));
    let reconnects: u64 = lines
        .iter()
        .map(|l| l["reconnects"].as_u64().unwrap())
        .sum();
    assert_eq!(reconnects, 1, "{:?}\n{}", done.stdout, done.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l["close_codes"] == serde_json::json!(["1013"])),
        "{:?}",
        done.stdout
    );
    assert!(
        done.stderr.contains("1 reconnects (1× close 1013)"),
        "{}",
        done.stderr
    );
}

/// `'label'=value[UOM];[warn];[crit];[min];[max]`, as the monitoring-plugins guidelines define.
fn assert_valid_perfdata(line: &str) {
    let (status, perf) = line.split_once(" | ").expect("a | before the perfdata");
    assert!(!status.contains('|') && !perf.contains('|'), "{line}");
    assert!(!line.contains('\n'));
    let number = |v: &str| v.is_empty() || v.parse::<f64>().is_ok();
    for item in perf.split(' ') {
        let (label, rest) = item.split_once('=').expect("label=value");
        assert!(
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad label in `{item}`"
        );
        let fields: Vec<&str> = rest.split(';').collect();
        assert_eq!(fields.len(), 5, "value;warn;crit;min;max in `{item}`");
        let value = fields[0];
        let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
        let uom = &value[digits.len()..];
        assert!(
            value == "U" || (number(digits) && !digits.is_empty()),
            "bad value in `{item}`"
        );
        assert!(
            ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"].contains(&uom) || value == "U",
            "bad unit in `{item}`"
        );
        assert!(
            fields[1..].iter().all(|f| number(f)),
            "bad thresholds in `{item}`"
        );
    }
}

#[test]
fn check_mode_exits_by_its_thresholds_with_valid_perfdata() {
    let env = env_with(Faults::default());
    let ok = run(
        &env,
        &["probe", "--check", "--warning", "500ms", "--critical", "2s"],
    );
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.stdout.lines().count(), 1, "{}", ok.stdout);
    assert!(
        ok.stdout.starts_with("ODOO-BUS OK - delivery "),
        "{}",
        ok.stdout
    );
    assert!(ok.stdout.contains("| latency="), "{}", ok.stdout);
    assert_valid_perfdata(ok.stdout.trim_end());
    assert_eq!(ok.stderr, "", "--check keeps stderr empty");

    env.control().set_faults(Faults {
        delivery_delay: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let warn = run(
        &env,
        &[
            "probe",
            "--check",
            "--warning",
            "100ms",
            "--critical",
            "1s",
            "--samples",
            "3",
            "--every",
            "50ms",
        ],
    );
    assert_eq!(warn.code, 1, "{}", warn.stdout);
    assert!(
        warn.stdout.starts_with("ODOO-BUS WARNING - delivery 3"),
        "{}",
        warn.stdout
    );
    assert!(warn.stdout.contains("(median of 3)"), "{}", warn.stdout);
    assert!(warn.stdout.contains(";0.1;1;0;"), "{}", warn.stdout);
    assert_valid_perfdata(warn.stdout.trim_end());

    let crit = run(
        &env,
        &[
            "probe",
            "--check",
            "--warning",
            "50ms",
            "--critical",
            "200ms",
        ],
    );
    assert_eq!(crit.code, 2, "{}", crit.stdout);
    assert!(
        crit.stdout.starts_with("ODOO-BUS CRITICAL - "),
        "{}",
        crit.stdout
    );
    assert_valid_perfdata(crit.stdout.trim_end());

    env.control().set_faults(Faults {
        drop_fraction: 1.0,
        ..Faults::default()
    });
    let lost = run(
        &env,
        &[
            "probe",
            "--check",
            "--warning",
            "1s",
            "--critical",
            "2s",
            "--timeout",
            "500ms",
        ],
    );
    assert_eq!(lost.code, 2, "{}", lost.stdout);
    assert!(
        lost.stdout.contains("no delivery within 500ms"),
        "{}",
        lost.stdout
    );
    assert!(lost.stdout.contains("latency=U;1;2;0;"), "{}", lost.stdout);
    assert_valid_perfdata(lost.stdout.trim_end());
}

#[test]
fn check_mode_is_unknown_when_it_cannot_probe() {
    let env = TestEnv::with_config(quiet());
    let out = run(
        &env,
        &["probe", "--check", "--warning", "1s", "--critical", "2s"],
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("ODOO-BUS UNKNOWN - "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("login"), "{}", out.stdout);
    env.logged_in("demo");
    let out = run(
        &env,
        &["probe", "--check", "--warning", "3s", "--critical", "2s"],
    );
    assert_eq!(out.code, 3, "{}", out.stdout);
    // Even a value clap rejects is UNKNOWN, on stdout, not the tool's usage error.
    let out = run(
        &env,
        &["probe", "--check", "--warning", "soon", "--critical", "2s"],
    );
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout
            .starts_with("ODOO-BUS UNKNOWN - invalid value 'soon'"),
        "{}",
        out.stdout
    );
}

/// Every sample line of the text must have been read by the parser as a sample: the crate
/// skips what it does not understand, so counting is what makes it a check.
fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the metrics parse");
    let sample_lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    let histogram_lines: usize = scrape
        .samples
        .iter()
        .map(|s| match &s.value {
            // One per bucket line (`_sum` and `_count` come as samples of their own).
            prometheus_parse::Value::Histogram(b) => b.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(
        histogram_lines, sample_lines,
        "some lines were not understood:\n{text}"
    );
    for s in &scrape.samples {
        assert_eq!(s.labels.get("profile"), Some("default"), "{}", s.metric);
    }
    scrape
}

fn value(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name)
        .unwrap_or_else(|| panic!("no {name}"));
    match &s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn metrics_file_parses_as_prometheus_text() {
    let env = env_with(Faults {
        drop_fraction: 0.5,
        ..Faults::default()
    });
    let file = env.home().join("textfile").join("odoo_bus.prom");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = run(
        &env,
        &[
            "probe",
            "--every",
            "100ms",
            "-n",
            "4",
            "--timeout",
            "500ms",
            "-o",
            "ndjson",
            "--metrics-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let scrape = parse_metrics(&text);
    assert_eq!(value(&scrape, "odoo_bus_probes_total"), 4.0);
    assert_eq!(value(&scrape, "odoo_bus_probe_misses_total"), 2.0);
    assert_eq!(value(&scrape, "odoo_bus_probe_up"), 0.0);
    assert!(value(&scrape, "odoo_bus_probe_last_success_timestamp_seconds") > 1.6e9);
    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "odoo_bus_probe_latency_seconds")
        .expect("the histogram");
    let prometheus_parse::Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {:?}", histogram.value)
    };
    assert_eq!(buckets.last().unwrap().count, 2.0, "{text}");
    assert!(text.contains("# TYPE odoo_bus_probe_latency_seconds histogram"));
    // The rename leaves no temporary file behind.
    let left: Vec<_> = std::fs::read_dir(file.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_are_served_with_reconnects_by_close_code() {
    let env = env_with(Faults::default());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let probe = env.spawn(&[
        "probe",
        "--every",
        "200ms",
        "--timeout",
        "2s",
        "-o",
        "ndjson",
        "--metrics-listen",
        &addr,
    ]);
    probe
        .next_line(Duration::from_secs(10))
        .expect("a first probe");
    env.control().close_all(1013, "");
    // Two more probes after the reconnect.
    for _ in 0..2 {
        probe
            .next_line(Duration::from_secs(10))
            .expect("probes go on");
    }
    let response = http_get(port, "/metrics");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scrape = parse_metrics(body);
    assert!(value(&scrape, "odoo_bus_probes_total") >= 3.0, "{body}");
    let reconnect = scrape
        .samples
        .iter()
        .find(|s| s.metric == "odoo_bus_probe_reconnects_total")
        .expect("a reconnect counter");
    assert_eq!(reconnect.labels.get("code"), Some("1013"));
    assert!(http_get(port, "/other").starts_with("HTTP/1.1 404"));
    probe.signal("INT");
    let done = probe.wait(Duration::from_secs(10));
    assert_eq!(done.code, Some(130));
    // A probe in flight when the server closes with 1013 may miss: 1013 asks the client to wait
    // before reconnecting, which can outlast that probe's --timeout. Every other probe arrives.
    let summary = done
        .stderr
        .lines()
        .find(|l| l.contains(" probes, "))
        .unwrap_or_else(|| panic!("no summary line: {}", done.stderr));
    let missed: u32 = summary
        .split(" probes, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no miss count in {summary}"));
    assert!(missed <= 1, "{summary}");
}

#[test]
fn the_capacity_test_finds_where_1013_starts() {
    // Six sockets fit: the probe's own and five more.
    let env = env_with(Faults {
        max_sockets: Some(6),
        ..Faults::default()
    });
    let out = run(
        &env,
        &[
            "probe",
            "--connections",
            "12",
            "--ramp",
            "40",
            "--hold",
            "500ms",
            "--every",
            "200ms",
            "--storm",
            "-o",
            "ndjson",
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("load test: opening up to 12 websockets to http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    let lines = json_lines(&out.stdout);
    let report = lines.last().unwrap();
    assert_eq!(report["type"], "odoo-bus/capacity", "{}", out.stdout);
    assert_eq!(report["attempted"], 12);
    assert_eq!(report["opened"], 12, "{report}");
    assert_eq!(report["first_refusal"]["why"], "close 1013", "{report}");
    assert_eq!(report["first_refusal"]["socket"], 6, "{report}");
    assert_eq!(report["first_refusal"]["open"], 5, "{report}");
    assert_eq!(report["refusals"]["close 1013"], 7, "{report}");
    assert_eq!(report["peak_open"], 6, "{report}");
    let storm = &report["storm"];
    assert_eq!(storm["sockets"], 5, "{report}");
    assert!(storm["settled_s"].as_f64().is_some(), "{report}");
    // Probes ran during the load and say how many sockets were open.
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "odoo-bus/probe" && l["sockets"].as_u64() == Some(5)),
        "{}",
        out.stdout
    );
}

#[test]
fn the_capacity_test_is_bounded_unless_lifted() {
    let env = env_with(Faults::default());
    let out = run(&env, &["probe", "--connections", "201"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--lift-load-limits"), "{}", out.stderr);
    let out = run(&env, &["probe", "--connections", "100", "--ramp", "0.1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("more than 5m"), "{}", out.stderr);
}

/// A profile whose last tail stopped an hour ago after notification `id`.
fn resume_point(env: &TestEnv, id: u64) {
    let path = env.config_path();
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("last_id"))
        .map(|l| format!("{l}\n"))
        .collect();
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let text = text.replacen(
        "[profiles.default]\n",
        &format!("[profiles.default]\nlast_id = {id}\nlast_id_at = {hour_ago}\n"),
        1,
    );
    std::fs::write(&path, text).unwrap();
}

#[test]
fn tail_warns_about_a_resume_point_older_than_the_server_keeps() {
    let env = TestEnv::with_config(quiet());
    env.logged_in("demo");
    let partner = env.control().find_user("demo").unwrap().partner_id;
    let id = env
        .control()
        .notify(Target::Partner(partner), "test/old", serde_json::json!({}));
    resume_point(&env, id);
    let out = run(
        &env,
        &[
            "tail",
            "--resume",
            "--gaps",
            "-o",
            "ndjson",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("may be missing"), "{}", out.stderr);
    assert!(out.stderr.contains("~100 s"), "{}", out.stderr);
    let gap: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(gap["type"], "odoo-bus/gap");
    assert_eq!(gap["after_id"], id);
    assert_eq!(gap["missing"], Value::Null, "18 cannot tell");
    assert!(gap["from"].as_str().is_some() && gap["to"].as_str().is_some());
    // Without --gaps: the warning only, stdout stays Odoo's.
    resume_point(&env, id);
    let out = run(
        &env,
        &["tail", "--resume", "-o", "ndjson", "--timeout", "1s"],
    );
    assert!(out.stderr.contains("may be missing"), "{}", out.stderr);
    assert!(!out.stdout.contains("odoo-bus/gap"), "{}", out.stdout);
}

#[test]
fn tail_on_19_says_whether_the_rows_are_really_gone() {
    let cfg = EmulatorConfig {
        retention: Duration::from_millis(300),
        ..quiet()
    }
    .with_version(OdooVersion::V19);
    let env = TestEnv::with_config(cfg);
    env.logged_in("demo");
    let partner = env.control().find_user("demo").unwrap().partner_id;
    let id = env
        .control()
        .notify(Target::Partner(partner), "test/old", serde_json::json!({}));
    std::thread::sleep(Duration::from_millis(600));
    resume_point(&env, id);
    let out = run(
        &env,
        &[
            "tail",
            "--resume",
            "--gaps",
            "-o",
            "ndjson",
            "--timeout",
            "1s",
        ],
    );
    assert!(
        out.stderr
            .contains("they are: the server no longer has notification"),
        "{}",
        out.stderr
    );
    let gap: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(gap["missing"], true);
}

#[test]
fn tail_warns_after_an_outage_longer_than_the_retention() {
    let env = TestEnv::with_config(quiet());
    env.logged_in("demo");
    let mut cmd = env.std_cmd();
    cmd.args(["tail", "-o", "ndjson", "--gaps", "--timeout", "8s"])
        .env("ODOO_BUS_RETENTION", "1s")
        .env("ODOO_BUS_RECONNECT_DELAY", "100ms");
    let tail = support::running::Running::spawn(cmd);
    assert!(
        env.control()
            .wait_for_subscribes(1, Duration::from_secs(10))
    );
    let partner = env.control().find_user("demo").unwrap().partner_id;
    env.control().notify(
        Target::Partner(partner),
        "test/before",
        serde_json::json!({}),
    );
    tail.next_line(Duration::from_secs(5))
        .expect("the first notification");
    env.control().restart(Duration::from_millis(2500));
    let done = tail.wait(Duration::from_secs(20));
    assert!(done.stderr.contains("may be missing"), "{}", done.stderr);
    assert!(
        done.stdout.iter().any(|l| l.contains("\"odoo-bus/gap\"")),
        "{:?}",
        done.stdout
    );
}

/// Profile `a` on a healthy emulator and `b` on one that loses every push, in one config.
fn two_servers() -> (TestEnv, TestEnv) {
    let healthy = TestEnv::with_config(quiet());
    healthy.logged_in_profile("a", "demo");
    let faulty = TestEnv::with_config(quiet());
    faulty.control().set_faults(Faults {
        drop_fraction: 1.0,
        ..Faults::default()
    });
    faulty.logged_in_at(&healthy.config_path(), "b", "demo");
    (healthy, faulty)
}

#[test]
fn several_profiles_are_probed_side_by_side_each_with_its_lines_summary_and_metrics() {
    let (env, _faulty) = two_servers();
    let file = env.home().join("odoo_bus.prom");
    let out = run(
        &env,
        &[
            "probe",
            "-p",
            "a",
            "-p",
            "b",
            "--every",
            "100ms",
            "-n",
            "3",
            "--timeout",
            "500ms",
            "-o",
            "ndjson",
            "--metrics-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    let results = |p: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["profile"] == p)
            .map(|l| l["result"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(results("a"), ["ok", "ok", "ok"], "{}", out.stdout);
    assert_eq!(results("b"), ["miss", "miss", "miss"], "{}", out.stdout);
    // One summary line per profile, naming it.
    assert!(
        out.stderr.contains("a: 3 probes, 0 missed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("b: 3 probes, 3 missed"),
        "{}",
        out.stderr
    );

    let text = std::fs::read_to_string(&file).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the metrics parse");
    let of = |name: &str, profile: &str| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("profile") == Some(profile))
            .unwrap_or_else(|| panic!("no {name}{{profile={profile}}} in\n{text}"));
        match &s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
            other => panic!("{name} is {other:?}"),
        }
    };
    assert_eq!(of("odoo_bus_probes_total", "a"), 3.0);
    assert_eq!(of("odoo_bus_probes_total", "b"), 3.0);
    assert_eq!(of("odoo_bus_probe_misses_total", "a"), 0.0);
    assert_eq!(of("odoo_bus_probe_misses_total", "b"), 3.0);
    assert_eq!(of("odoo_bus_probe_up", "a"), 1.0);
    assert_eq!(of("odoo_bus_probe_up", "b"), 0.0);

    // Pretty lines start with the profile.
    let out = run(
        &env,
        &[
            "probe",
            "-p",
            "a",
            "-p",
            "b",
            "--every",
            "100ms",
            "-n",
            "1",
            "--timeout",
            "300ms",
            "-o",
            "pretty",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut starts: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    starts.sort();
    assert_eq!(starts, ["a", "b"], "{}", out.stdout);
}

#[test]
fn check_mode_with_several_profiles_reports_the_worst_and_names_each() {
    let (env, faulty) = two_servers();
    let check = |profiles: &[&str]| {
        let mut args = vec!["probe"];
        for p in profiles {
            args.extend(["-p", p]);
        }
        args.extend([
            "--check",
            "--warning",
            "500ms",
            "--critical",
            "2s",
            "--timeout",
            "700ms",
        ]);
        run(&env, &args)
    };
    let bad = check(&["a", "b"]);
    assert_eq!(bad.code, 2, "{}\n{}", bad.stdout, bad.stderr);
    assert_eq!(bad.stdout.lines().count(), 1, "{}", bad.stdout);
    assert!(
        bad.stdout
            .starts_with("ODOO-BUS CRITICAL - b CRITICAL: no delivery within "),
        "{}",
        bad.stdout
    );
    assert!(bad.stdout.contains("; a OK: delivery "), "{}", bad.stdout);
    assert_valid_perfdata(bad.stdout.trim_end());
    assert!(bad.stdout.contains(" a_latency="), "{}", bad.stdout);
    assert!(bad.stdout.contains(" b_latency=U;"), "{}", bad.stdout);
    assert!(bad.stderr.is_empty(), "{}", bad.stderr);

    // Both healthy: OK.
    faulty.logged_in_at(&env.config_path(), "b", "demo");
    faulty.control().set_faults(Faults::default());
    let good = check(&["a", "b"]);
    assert_eq!(good.code, 0, "{}\n{}", good.stdout, good.stderr);
    assert!(good.stdout.starts_with("ODOO-BUS OK - "), "{}", good.stdout);
    assert_valid_perfdata(good.stdout.trim_end());

    // One profile not logged in: UNKNOWN for it, the other still judged.
    std::fs::write(
        env.config_path(),
        std::fs::read_to_string(env.config_path()).unwrap() + "\n[profiles.c]\n",
    )
    .unwrap();
    let unknown = check(&["a", "c"]);
    assert_eq!(unknown.code, 3, "{}\n{}", unknown.stdout, unknown.stderr);
    assert!(unknown.stdout.contains("c UNKNOWN: "), "{}", unknown.stdout);
    assert!(unknown.stdout.contains("a OK: "), "{}", unknown.stdout);
}

#[test]
fn the_capacity_test_refuses_several_profiles() {
    let (env, _faulty) = two_servers();
    let out = run(&env, &["probe", "-p", "a", "-p", "b", "--connections", "5"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("single -p NAME"), "{}", out.stderr);
}
