//! `odoo-bus doctor --proxy-conf/--odoo-conf/--odoo-log`: the real binary reads the fixtures in
//! tests/fixtures/doctor/ (or stdin) with no server at all, and names each pitfall's field cause,
//! file and line, in the table and in `--json`; with a profile the live checks run too. A real
//! nginx (skipped when absent) shows the header-inheritance trap both ways: live, as a public
//! socket, and in the config, as F5 at the location's line.

mod support;

use support::nginx;

use std::path::PathBuf;
use std::time::Duration;

use odoo_bus_emulator::EmulatorConfig;
use serde_json::Value;
use support::TestEnv;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
        .display()
        .to_string()
}

fn doctor(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = env.cmd();
    cmd.arg("doctor")
        .args(args)
        .timeout(Duration::from_secs(60));
    if let Some(text) = stdin {
        cmd.write_stdin(text.to_string());
    }
    let out = cmd.output().expect("run odoo-bus");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    /// The table line that starts with `mark`, names `place` (`file:line`) and `cause`.
    fn finding(&self, mark: &str, place: &str, cause: &str) -> &str {
        let wanted = format!("{place} {cause} ");
        self.stdout
            .lines()
            .find(|l| l.starts_with(mark) && l.contains(&wanted))
            .unwrap_or_else(|| {
                panic!(
                    "no `{mark}` line with `{wanted}` in:\n{}\n{}",
                    self.stdout, self.stderr
                )
            })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

#[test]
fn each_nginx_pitfall_is_named_with_its_cause_file_and_line_without_a_server() {
    let env = TestEnv::new(); // no profile: only the file checks run
    // (fixture, exit code, mark, line, cause, a word of the finding)
    let cases = [
        (
            "nginx-longpolling-only.conf",
            5,
            "✘",
            15,
            "F2",
            "/longpolling",
        ),
        ("nginx-missing-upgrade.conf", 5, "✘", 8, "F3", "Upgrade"),
        ("nginx-ssi-on.conf", 5, "✘", 5, "F8", "ssi off"),
        // The trap breaks the socket only with a host dbfilter or ODOO_BUS_PUBLIC_SAMESITE_WS.
        (
            "nginx-location-header-trap.conf",
            0,
            "!",
            15,
            "F5",
            "X-Forwarded-Host (line 6)",
        ),
        (
            "nginx-docker-loopback.conf",
            5,
            "✘",
            5,
            "F4",
            "service name",
        ),
        ("nginx-no-websocket.conf", 0, "!", 2, "F2", "workers = 0"),
        ("nginx-gevent-unrouted.conf", 0, "!", 8, "F1", "gevent port"),
    ];
    for (name, code, mark, line, cause, word) in cases {
        let path = fixture(name);
        let run = doctor(&env, &["--proxy-conf", &path], None);
        assert_eq!(run.code, code, "{name}:\n{}\n{}", run.stdout, run.stderr);
        let found = run.finding(mark, &format!("{path}:{line}"), cause);
        assert!(
            run.stdout.contains(word),
            "{name}: no `{word}`:\n{found}\n{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("✔ dns"),
            "no live check without a server:\n{}",
            run.stdout
        );
    }
    let good = doctor(&env, &["--proxy-conf", &fixture("nginx-good.conf")], None);
    assert_eq!(good.code, 0, "{}", good.stdout);
    assert!(good.stdout.contains("127.0.0.1:8072"), "{}", good.stdout);
    assert!(
        good.stdout
            .contains("files: 1 file read, nothing wrong found"),
        "{}",
        good.stdout
    );
}

#[test]
fn odoo_conf_and_proxy_conf_together_find_the_unrouted_gevent_port() {
    let env = TestEnv::new();
    let nginx = fixture("nginx-gevent-unrouted.conf");
    let conf = fixture("odoo-prefork.conf");
    let run = doctor(&env, &["--proxy-conf", &nginx, "--odoo-conf", &conf], None);
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let line = run.finding("✘", &format!("{nginx}:8"), "F1");
    assert!(line.contains(&format!("workers = 4 ({conf}:4)")), "{line}");
    // The same nginx config in front of a threaded Odoo is right.
    let run = doctor(
        &env,
        &[
            "--proxy-conf",
            &nginx,
            "--odoo-conf",
            &fixture("odoo-threaded.conf"),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    // And a gevent route with workers = 0 reaches nothing.
    let good = fixture("nginx-good.conf");
    let run = doctor(
        &env,
        &[
            "--proxy-conf",
            &good,
            "--odoo-conf",
            &fixture("odoo-threaded.conf"),
        ],
        None,
    );
    run.finding("✘", &format!("{good}:21"), "F4");
}

#[test]
fn odoo_conf_pitfalls_are_warnings_with_their_lines() {
    let env = TestEnv::new();
    let conf = fixture("odoo-pitfalls.conf");
    let run = doctor(&env, &["--odoo-conf", &conf], None);
    assert_eq!(run.code, 0, "warnings do not fail:\n{}", run.stdout);
    run.finding("!", &format!("{conf}:3"), "F1");
    run.finding("!", &format!("{conf}:4"), "F2");
    run.finding("!", &format!("{conf}:5"), "F6");
    run.finding("!", &format!("{conf}:6"), "F10");
    assert!(
        run.stdout.contains("files: no failure, 5 warnings"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_log_read_from_stdin_names_every_known_line() {
    let env = TestEnv::new();
    let log = std::fs::read_to_string(fixture("odoo-known-lines.log")).unwrap();
    let run = doctor(&env, &["--odoo-log", "-"], Some(&log));
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    for (line, cause) in [(8, "F1"), (10, "F5"), (12, "F6"), (15, "F10"), (16, "F4")] {
        run.finding("✘", &format!("stdin:{line}"), cause);
    }
    run.finding("!", "stdin:13", "F3");
    assert!(
        run.stdout.contains("Origin=https://erp.example.com"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fix `odoo-log` at stdin:8 (F1) first"),
        "{}",
        run.stdout
    );

    let noise = fixture("odoo-noise.log");
    let run = doctor(&env, &["--odoo-log", &noise], None);
    assert_eq!(run.code, 0, "noise is not a failure:\n{}", run.stdout);
    run.finding("i", &format!("{noise}:4"), "F24");
    run.finding("i", &format!("{noise}:6"), "F24");
    assert!(
        run.stdout.contains("no known realtime failure"),
        "{}",
        run.stdout
    );
}

#[test]
fn json_carries_file_line_cause_and_severity() {
    let env = TestEnv::new();
    let trap = fixture("nginx-location-header-trap.conf");
    let conf = fixture("odoo-multidb.conf");
    let log = std::fs::read_to_string(fixture("odoo-noise.log")).unwrap();
    let run = doctor(
        &env,
        &[
            "--json",
            "--proxy-conf",
            &trap,
            "--odoo-conf",
            &conf,
            "--odoo-log",
            "-",
        ],
        Some(&log),
    );
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["url"], Value::Null);
    let checks = v["checks"].as_array().unwrap();
    let f5 = checks
        .iter()
        .find(|c| c["cause"] == "F5")
        .unwrap_or_else(|| panic!("no F5 in {v:#}"));
    assert_eq!(f5["name"], "proxy-conf");
    assert_eq!(f5["status"], "fail");
    assert_eq!(f5["severity"], "failure");
    assert_eq!(f5["file"], trap.as_str());
    assert_eq!(f5["line"], 15);
    assert!(
        f5["hint"].as_str().unwrap().contains("X-Forwarded-Host"),
        "{f5}"
    );
    let dbfilter = format!("dbfilter ({conf}:7)");
    assert!(f5["detail"].as_str().unwrap().contains(&dbfilter), "{f5}");
    let noise: Vec<&Value> = checks.iter().filter(|c| c["cause"] == "F24").collect();
    assert_eq!(noise.len(), 2, "{v:#}");
    assert!(
        noise
            .iter()
            .all(|c| c["severity"] == "info" && c["status"] == "pass" && c["file"] == "stdin")
    );
    // The fixed `Connection "upgrade"` (line 16) in front of the gevent port: a remark.
    let connection = checks
        .iter()
        .find(|c| {
            c["detail"]
                .as_str()
                .is_some_and(|d| d.contains("always sends `Connection: upgrade`"))
        })
        .unwrap_or_else(|| panic!("no Connection remark in {v:#}"));
    assert_eq!(
        (&connection["severity"], &connection["line"]),
        (&Value::from("info"), &Value::from(16))
    );
    assert_eq!(v["summary"]["exit_code"], 5);
    assert_eq!(v["summary"]["files"]["failed"], 1);
    assert_eq!(v["summary"]["files"]["harmless"], 3);
    assert_eq!(v["summary"]["first_failure"], "proxy-conf");
}

#[test]
fn bad_file_arguments_are_usage_errors() {
    let env = TestEnv::new();
    let run = doctor(&env, &["--proxy-conf", "/nonexistent/nginx.conf"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot read --proxy-conf /nonexistent/nginx.conf"),
        "{}",
        run.stderr
    );
    let run = doctor(&env, &["--odoo-log", "-", "--proxy-conf", "-"], Some(""));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("only one of"), "{}", run.stderr);
    let run = doctor(&env, &["--hold", "5m"], None);
    assert_eq!(run.code, 2, "--hold needs --deep: {}", run.stderr);
    let run = doctor(
        &env,
        &["--deep", "--odoo-conf", &fixture("odoo-threaded.conf")],
        None,
    );
    assert_eq!(run.code, 2, "--deep needs a server: {}", run.stderr);
}

#[test]
fn with_a_profile_the_live_checks_and_the_files_both_run() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let conf = fixture("odoo-prefork.conf");
    let run = doctor(&env, &["--odoo-conf", &conf], None);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("✔ delivery"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("✔ odoo-conf    {conf}  workers = 4")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("all 9 checks passed, 1 skipped; files: 1 file read, nothing wrong found"),
        "{}",
        run.stdout
    );
}

#[test]
fn deep_holds_for_the_given_duration() {
    let env = TestEnv::with_config(EmulatorConfig {
        idle_ping: Duration::from_secs(30),
        ..EmulatorConfig::fast()
    });
    env.logged_in("demo");
    let run = doctor(&env, &["--deep", "--hold", "1500ms"], None);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let idle = run
        .stdout
        .lines()
        .find(|l| l.starts_with("✔ idle"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        idle.contains("held 1.5 s idle") || idle.contains("held 1."),
        "{idle}"
    );
}

#[test]
fn vv_prints_the_upgrade_headers_redacted_and_json_carries_them() {
    let env = TestEnv::new();
    let session = env.logged_in("demo");
    let run = doctor(&env, &["-vv"], None);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for wanted in [
        "> GET /websocket?version=",
        "> Sec-WebSocket-Version: 13",
        "> Origin: http://127.0.0.1:",
        "> Cookie: session_id=<redacted>",
        "< HTTP/1.1 101 Switching Protocols",
        "< Upgrade: websocket",
    ] {
        assert!(
            run.stderr.contains(wanted),
            "no `{wanted}` in:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains(session.expose()),
        "the session id leaked:\n{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("> GET"),
        "headers are not data: stderr only"
    );

    let run = doctor(&env, &["--json"], None);
    let v = run.json();
    let upgrade = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "upgrade")
        .unwrap()
        .clone();
    let headers = &upgrade["headers"];
    assert!(
        headers["request_line"]
            .as_str()
            .unwrap()
            .starts_with("GET /websocket"),
        "{upgrade}"
    );
    assert_eq!(headers["status_line"], "HTTP/1.1 101 Switching Protocols");
    let request: Vec<&str> = headers["request"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        request.contains(&"Cookie: session_id=<redacted>"),
        "{request:?}"
    );
    assert!(!run.stdout.contains(session.expose()));
}

// ---------------------------------------------------------------------------------------------
// A real nginx in front of the emulator (Debian's nginx-light; CI installs it, skipped without).

#[test]
fn the_nginx_fixtures_are_configs_nginx_itself_accepts() {
    let Some(bin) = nginx::binary() else {
        println!("note: nginx is not installed; skipping `nginx -t` on the fixtures");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().display();
    let fixtures = std::fs::read_dir(fixture("")).unwrap();
    let mut tested = 0;
    for entry in fixtures {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The docker one names the `odoo` service, which only resolves inside its network.
        if !name.starts_with("nginx-") || name.contains("docker") {
            continue;
        }
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "pid {dir_path}/nginx.pid;\nerror_log {dir_path}/error.log;\nevents {{}}\nhttp {{\n    include {};\n}}\n",
                path.display()
            ),
        )
        .unwrap();
        let out = std::process::Command::new(&bin)
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nginx -t refuses {name}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tested += 1;
    }
    assert!(tested >= 7, "only {tested} nginx fixtures");
}

/// The forwarded Host is set once at server level; the trap version adds the upgrade headers
/// inside the location, which makes nginx drop the server-level Host there.
const TRAP_SERVER: &str = r#"server {
    listen {listen};
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_http_version 1.1;
    location /websocket {
        proxy_pass http://{upstream};
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
    location / {
        proxy_pass http://{upstream};
    }
}
"#;

#[test]
fn real_nginx_header_inheritance_trap_gives_a_public_socket_and_is_found_in_its_config() {
    if nginx::binary().is_none() {
        println!(
            "note: nginx is not installed; skipping the real nginx test (apt-get install nginx-light)"
        );
        return;
    }
    // ODOO_BUS_PUBLIC_SAMESITE_WS: an Origin that does not match the Host Odoo sees gets a
    // public socket; the trap makes nginx send its upstream's address as Host.
    let env = TestEnv::with_config(EmulatorConfig {
        public_samesite_ws: true,
        idle_ping: Duration::from_secs(30),
        ..EmulatorConfig::fast()
    });
    env.logged_in("demo");
    let trap = nginx::start_server(&env.url(), TRAP_SERVER).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", trap.port));
    let conf = trap.conf.display().to_string();
    let run = {
        let mut cmd = env.cmd();
        cmd.args(["doctor", "--proxy-conf", &conf])
            .env("ODOO_BUS_DOCTOR_DELIVERY", "1s")
            .timeout(Duration::from_secs(60));
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    // Live: the socket is public, so the user's own presence never comes back.
    let delivery = run
        .stdout
        .lines()
        .find(|l| l.starts_with("✘ delivery"))
        .unwrap_or_else(|| panic!("delivery did not fail:\n{}", run.stdout));
    assert!(delivery.contains("public"), "{delivery}");
    // In the config: the trap, at the location's first proxy_set_header, naming the Host line
    // (a warning: whether it breaks depends on Odoo's environment, which files cannot show).
    let found = run.finding("!", &format!("{conf}:8"), "F5");
    assert!(found.contains("Host (line 3)"), "{found}");
    drop(trap);

    // The fix doctor gives (repeat the headers in the location) makes both pass.
    let fixed = TRAP_SERVER.replace(
        "proxy_set_header Connection \"upgrade\";",
        "proxy_set_header Connection \"upgrade\";\n        proxy_set_header Host $http_host;\n        proxy_set_header X-Forwarded-Host $http_host;\n        proxy_set_header X-Forwarded-Proto $scheme;",
    );
    let good = nginx::start_server(&env.url(), &fixed).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", good.port));
    let conf = good.conf.display().to_string();
    let run = doctor(&env, &["--proxy-conf", &conf], None);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("✔ delivery"), "{}", run.stdout);
}
