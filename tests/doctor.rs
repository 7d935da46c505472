//! `odoo-bus doctor` against the emulator stood up in each broken configuration, and through a
//! real nginx: the right hop is named (check name + ✘ + a key word of the fix) and the exit code
//! is 5; a healthy setup passes with 0.

mod support;

use support::nginx;

use std::time::Duration;

use odoo_bus_emulator::{EmulatorConfig, Faults, UserSpec};
use serde_json::Value;
use support::TestEnv;

/// What one run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The line of one check (`✘ upgrade …`), with its fix line.
    fn line(&self, name: &str) -> String {
        let mut out = String::new();
        let mut inside = false;
        for l in self.stdout.lines() {
            let starts = l.split_whitespace().nth(1).is_some_and(|n| n == name);
            if starts {
                inside = true;
                out.push_str(l);
                out.push('\n');
            } else if inside && l.starts_with(' ') {
                out.push_str(l);
                out.push('\n');
            } else {
                inside = false;
            }
        }
        assert!(!out.is_empty(), "no `{name}` line in:\n{}", self.stdout);
        out
    }

    fn assert_failed(&self, name: &str, keyword: &str) {
        assert_eq!(self.code, 5, "exit code\n{}\n{}", self.stdout, self.stderr);
        let line = self.line(name);
        assert!(
            line.starts_with('✘'),
            "`{name}` did not fail:\n{}",
            self.stdout
        );
        assert!(
            line.contains(keyword),
            "`{name}` does not mention `{keyword}`:\n{line}"
        );
        assert!(
            self.stdout.contains(&format!("the broken hop is `{name}`")),
            "summary does not name `{name}`:\n{}",
            self.stdout
        );
    }

    fn assert_passed(&self, name: &str) {
        let line = self.line(name);
        assert!(
            line.starts_with('✔'),
            "`{name}` did not pass:\n{}",
            self.stdout
        );
    }

    fn assert_skipped(&self, name: &str) {
        let line = self.line(name);
        assert!(
            line.starts_with('–'),
            "`{name}` was not skipped:\n{}",
            self.stdout
        );
    }
}

fn doctor(env: &TestEnv, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = env.cmd();
    cmd.arg("doctor")
        .args(args)
        .timeout(Duration::from_secs(60));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run odoo-bus");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A logged-in emulator with these faults.
fn broken(faults: Faults) -> TestEnv {
    broken_with(EmulatorConfig::fast(), faults)
}

fn broken_with(cfg: EmulatorConfig, faults: Faults) -> TestEnv {
    let env = TestEnv::with_config(cfg);
    env.logged_in("demo");
    env.control().set_faults(faults);
    env
}

/// Test timings, but no server PING while doctor waits: with `fast()`'s 200 ms pings, the
/// pongs of a waiting client alone exceed Odoo's 10-frames-in-2-s budget.
fn slow_pings() -> EmulatorConfig {
    EmulatorConfig {
        idle_ping: Duration::from_secs(30),
        ..EmulatorConfig::fast()
    }
}

const FAST_DELIVERY: (&str, &str) = ("ODOO_BUS_DOCTOR_DELIVERY", "1s");

#[test]
fn a_healthy_server_passes_every_check() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for name in [
        "url",
        "dns",
        "tcp",
        "odoo",
        "health",
        "session",
        "upgrade",
        "socket-auth",
        "delivery",
    ] {
        run.assert_passed(name);
    }
    run.assert_skipped("tls");
    assert!(run.line("delivery").contains("partner 7"), "{}", run.stdout);
    assert!(run.stdout.contains("all 9 checks passed"), "{}", run.stdout);
    // The probe is the settings call: the user's presence is left alone.
    assert!(
        run.line("delivery").contains("settings probe"),
        "{}",
        run.stdout
    );
    let presence: Vec<Value> = env
        .control()
        .client_events()
        .into_iter()
        .filter(|e| e.event_name == "update_presence")
        .map(|e| e.data)
        .collect();
    assert!(presence.is_empty(), "{presence:?}");
}

#[test]
fn json_has_the_same_verdicts_as_the_lines() {
    let env = broken(Faults {
        upgrade_status: Some((404, "text/html; charset=utf-8", String::new())),
        ..Faults::default()
    });
    let lines = doctor(&env, &[], &[]);
    let json = doctor(&env, &["--json"], &[]);
    assert_eq!(json.code, 5);
    let doc: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    let checks = doc["checks"].as_array().expect("checks");
    // The ten standard checks and `poll`, run because the upgrade failed.
    assert_eq!(checks.len(), 11);
    for c in checks {
        let name = c["name"].as_str().unwrap();
        let mark = match c["status"].as_str().unwrap() {
            "pass" => '✔',
            "fail" => '✘',
            "skip" => '–',
            other => panic!("status {other}"),
        };
        assert!(lines.line(name).starts_with(mark), "{name}: {c}");
        assert!(c["ms"].is_u64() && c["detail"].is_string(), "{c}");
    }
    let upgrade = checks.iter().find(|c| c["name"] == "upgrade").unwrap();
    assert_eq!(upgrade["status"], "fail");
    assert!(
        upgrade["hint"]
            .as_str()
            .unwrap()
            .contains("location /websocket")
    );
    assert_eq!(doc["summary"]["ok"], false);
    assert_eq!(doc["summary"]["first_failure"], "upgrade");
    assert_eq!(doc["summary"]["failed"], 1);
    assert_eq!(doc["session"], true);

    let healthy = TestEnv::new();
    healthy.logged_in("demo");
    let run = doctor(&healthy, &["--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["summary"]["ok"], true);
    assert_eq!(doc["summary"]["first_failure"], Value::Null);
}

#[test]
fn a_refused_upgrade_says_polling_still_works_and_still_fails() {
    let env = broken(Faults {
        upgrade_status: Some((502, "text/html", "<h1>502 Bad Gateway</h1>".into())),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 5, "the websocket is still broken: {}", run.stdout);
    run.assert_failed("upgrade", "cannot reach");
    let poll = run.line("poll");
    assert!(poll.starts_with('✔'), "{}", run.stdout);
    assert!(
        poll.contains(
            "the websocket is blocked at the proxy; odoo-bus can still listen by polling"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(env.control().stats().first_polls, 1);

    // On a healthy server the session is never made a polling one: the health check's POST
    // under /websocket (is a hop holding it?) marks nothing.
    let healthy = TestEnv::new();
    healthy.logged_in("demo");
    let run = doctor(&healthy, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let stats = healthy.control().stats();
    assert_eq!((stats.polls, stats.first_polls), (1, 0));
}

#[test]
fn a_400_names_the_stripped_upgrade_headers() {
    // Odoo 18 sends the headers of a refused handshake but no body.
    let env = broken(Faults {
        upgrade_status: Some((400, "text/html; charset=utf-8", String::new())),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[]);
    run.assert_failed("upgrade", "proxy_set_header Upgrade $http_upgrade");
    assert!(run.line("upgrade").contains("Upgrade/Connection"));
    run.assert_skipped("socket-auth");
    run.assert_skipped("delivery");
}

#[test]
fn a_404_names_the_missing_websocket_route() {
    let env = broken(Faults {
        upgrade_status: Some((404, "text/html; charset=utf-8", "<h1>Not Found</h1>".into())),
        ..Faults::default()
    });
    doctor(&env, &[], &[]).assert_failed("upgrade", "not routed");
}

#[test]
fn prefork_workers_without_the_gevent_port_are_named() {
    let env = broken(Faults {
        http_worker_mode: true,
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[]);
    run.assert_failed("upgrade", "8072");
    assert!(run.line("upgrade").contains("HTTP 500"), "{}", run.stdout);
}

#[test]
fn an_evented_port_message_is_quoted() {
    let env = broken(Faults {
        upgrade_status: Some((
            500,
            "text/plain",
            "RuntimeError: Couldn't bind the websocket. Is the connection opened on the evented port (8072)?".into(),
        )),
        ..Faults::default()
    });
    doctor(&env, &[], &[]).assert_failed("upgrade", "evented port");
}

#[test]
fn a_502_names_the_unreachable_upstream() {
    let env = broken(Faults {
        upgrade_status: Some((
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>".into(),
        )),
        ..Faults::default()
    });
    doctor(&env, &[], &[]).assert_failed("upgrade", "cannot reach");
}

#[test]
fn an_html_page_instead_of_an_upgrade_is_named() {
    let env = broken(Faults {
        upgrade_status: Some((
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><body>Odoo</body></html>".into(),
        )),
        ..Faults::default()
    });
    doctor(&env, &[], &[]).assert_failed("upgrade", "HTML page");
}

#[test]
fn a_session_lost_at_the_upgrade_is_named() {
    let env = broken(Faults {
        downgrade_session: true,
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("socket-auth", "proxy_mode = True");
    assert!(run.line("socket-auth").contains("public"), "{}", run.stdout);
    run.assert_passed("session");
    run.assert_passed("upgrade");
}

#[test]
fn notifications_that_never_arrive_are_named() {
    let env = broken_with(
        slow_pings(),
        Faults {
            no_dispatch: true,
            ..Faults::default()
        },
    );
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "pgbouncer");
    let line = run.line("delivery");
    assert!(line.contains("notifications never arrive"), "{line}");
    // As on a real Odoo with NOTIFY broken: the stored row is still handed over when asked
    // again, so doctor can tell a dead dispatcher from a public socket.
    assert!(line.contains("the server has it stored"), "{line}");
    run.assert_passed("socket-auth");
}

#[test]
fn a_portal_user_outside_every_channel_is_told_why_nothing_arrives() {
    let env = TestEnv::with_config(slow_pings());
    env.control().add_user(UserSpec {
        internal: false,
        ..UserSpec::internal("portal", "portal", "Portal User")
    });
    env.logged_in("portal");
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "never arrive");
    assert!(
        run.line("delivery").contains("portal user"),
        "{}",
        run.stdout
    );
    run.assert_passed("socket-auth");
}

#[test]
fn deep_passes_on_a_healthy_server() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let run = doctor(&env, &["--deep"], &[("ODOO_BUS_DOCTOR_IDLE", "2500ms")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_passed("ping");
    assert!(run.line("ping").contains("3 pings"), "{}", run.stdout);
    run.assert_passed("idle");
    // The test emulator pings after 1 s of silence; the answered pings kept it open.
    assert!(
        run.line("idle").contains("server ping at"),
        "{}",
        run.stdout
    );
}

#[test]
fn deep_names_a_proxy_that_cuts_idle_connections() {
    // No server ping within the hold: the cut comes first, as behind a 30 s proxy.
    let env = broken_with(
        slow_pings(),
        Faults {
            cut_idle_after: Some(Duration::from_millis(300)),
            ..Faults::default()
        },
    );
    let run = doctor(&env, &["--deep"], &[("ODOO_BUS_DOCTOR_IDLE", "3s")]);
    run.assert_failed("idle", "proxy_read_timeout 720s;");
    assert!(
        run.line("idle").contains("before Odoo's keep-alive ping"),
        "{}",
        run.stdout
    );
    run.assert_passed("delivery");
}

#[test]
fn without_a_url_or_a_profile_it_says_what_to_do() {
    let env = TestEnv::new();
    let out = env.cmd().arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no server to check"), "{stderr}");
    assert!(stderr.contains("odoo-bus login"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_url_argument_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.cmd().args(["doctor", "ftp://x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable server URL"));
}

#[test]
fn a_closed_port_fails_tcp_and_skips_the_rest() {
    let env = TestEnv::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let run = doctor(&env, &[&url], &[]);
    run.assert_failed("tcp", "start Odoo");
    for name in ["tls", "odoo", "upgrade", "delivery"] {
        run.assert_skipped(name);
    }
    assert!(run.line("odoo").contains("needs a TCP connection"));
}

#[test]
fn another_url_than_the_profiles_runs_without_the_session() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let other = TestEnv::new();
    let run = doctor(&env, &[&other.url()], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_passed("upgrade");
    assert!(run.line("upgrade").contains("without a session"));
    let session = run.line("session");
    assert!(session.starts_with('–'), "{session}");
    assert!(
        session.contains(&format!("odoo-bus login {}", other.url())),
        "{session}"
    );
    run.assert_skipped("delivery");
    assert!(run.stderr.contains("without a session"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Through a real nginx (Debian's nginx-light; CI installs it, the tests skip without it).

const UPGRADE_DIRECTIVES: &str = r#"proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 720s;"#;

fn nginx_missing() -> bool {
    if nginx::binary().is_some() {
        return false;
    }
    println!(
        "note: nginx is not installed; skipping the reverse proxy test (apt-get install nginx-light)"
    );
    true
}

#[test]
fn nginx_configured_for_websockets_passes_and_without_upgrade_headers_is_named() {
    if nginx_missing() {
        return;
    }
    let env = TestEnv::new();
    env.logged_in("demo");

    let good = nginx::start(&env.url(), UPGRADE_DIRECTIVES).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", good.port));
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_passed("upgrade");
    run.assert_passed("delivery");
    assert!(run.line("url").contains(&good.port.to_string()));
    drop(good);

    // nginx's defaults: HTTP/1.0 to the upstream, hop-by-hop Upgrade/Connection dropped.
    let stripped = nginx::start(&env.url(), "").expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", stripped.port));
    let run = doctor(&env, &[], &[]);
    run.assert_failed("upgrade", "proxy_set_header Upgrade $http_upgrade");
    assert!(
        run.line("upgrade").contains("Server: nginx"),
        "{}",
        run.stdout
    );
    run.assert_passed("session");
}

/// Odoo's gevent process behind Odoo's own mapped `Connection` (only upgrades say `upgrade`).
const MAPPED_SITE: &str = "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    '' close;\n}\nserver {\n    listen {listen};\n    location /websocket {\n        proxy_pass http://{upstream};\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $connection_upgrade;\n    }\n    location / {\n        proxy_pass http://{upstream};\n    }\n}\n";

#[test]
fn a_fixed_connection_upgrade_in_front_of_gevent_holds_polling_and_is_named() {
    if nginx_missing() {
        return;
    }
    let env = broken(Faults {
        gevent_holds_upgrade_posts: true,
        ..Faults::default()
    });
    let fixed = nginx::start(&env.url(), UPGRADE_DIRECTIVES).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", fixed.port));

    // doctor: every browser-facing check passes, the held POST is a warning (exit 0).
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_passed("health");
    let health = run.line("health");
    assert!(health.contains("a plain POST under /websocket"), "{health}");
    assert!(health.contains("`Connection: upgrade`"), "{health}");
    assert!(run.stdout.contains("$connection_upgrade"), "{}", run.stdout);
    run.assert_passed("delivery");

    // `tail --transport poll` for `for_at_most`, with a 1 s connect timeout: (exit code, stderr).
    let poll_tail = |for_at_most: &str| {
        let out = env
            .cmd()
            .args(["tail", "--transport", "poll", "--timeout", for_at_most])
            .env("ODOO_BUS_CONNECT_TIMEOUT", "1s")
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // tail --transport poll says why instead of hanging, with the connect timeout.
    let (code, stderr) = poll_tail("20s");
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("got no answer within 1 s"), "{stderr}");
    assert!(stderr.contains("$connection_upgrade"), "{stderr}");

    // The same file read by the config check names the line.
    let conf = fixed.conf.display().to_string();
    let files = doctor(&TestEnv::new(), &["--proxy-conf", &conf], &[]);
    assert!(
        files.stdout.contains("always sends `Connection: upgrade`"),
        "{}\n{}",
        files.stdout,
        files.stderr
    );
    drop(fixed);

    // Odoo's mapped form: no warning, and polling works.
    let mapped = nginx::start_server(&env.url(), MAPPED_SITE).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", mapped.port));
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        !run.line("health").contains("POST"),
        "{}",
        run.line("health")
    );
    let (code, stderr) = poll_tail("2s");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("polling"), "{stderr}");
    let files = doctor(
        &TestEnv::new(),
        &["--proxy-conf", &mapped.conf.display().to_string()],
        &[],
    );
    assert!(!files.stdout.contains("always sends"), "{}", files.stdout);
}

#[test]
fn nginx_rewriting_the_host_under_samesite_ws_gives_a_public_socket() {
    if nginx_missing() {
        return;
    }
    // ODOO_BUS_PUBLIC_SAMESITE_WS: an Origin that does not match the Host Odoo sees gets a
    // public socket, while the 101 keeps the caller's cookie (nothing to see in the handshake).
    let env = TestEnv::with_config(EmulatorConfig {
        public_samesite_ws: true,
        ..slow_pings()
    });
    env.logged_in("demo");

    // nginx sends `Host: <upstream>` by default, not the Host the client used.
    let rewriting = nginx::start(&env.url(), UPGRADE_DIRECTIVES).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", rewriting.port));
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "proxy_set_header Host $http_host");
    // The server stored the notification for the user, the socket never heard it: public; a
    // socket with the Origin of web.base.url (the upstream address nginx sends as Host) kept
    // the session, so doctor says what Odoo sees.
    let line = run.line("delivery");
    assert!(line.contains("socket downgraded to public"), "{line}");
    assert!(line.contains("Odoo sees http://127.0.0.1:"), "{line}");
    run.assert_passed("socket-auth");
    drop(rewriting);

    let directives = format!("{UPGRADE_DIRECTIVES}\n            proxy_set_header Host $http_host;");
    let forwarding = nginx::start(&env.url(), &directives).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", forwarding.port));
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_passed("delivery");
}

// --- Issue #21: which cause is behind a public socket (F5), and authentication gateways (F21) ---

/// A typical site: the forwarded headers at server level, and a `/websocket` location with its
/// own Upgrade/Connection lines plus `websocket_extra` (nginx inherits the server-level
/// `proxy_set_header`s only into a location that sets none).
fn forwarded_site(websocket_extra: &str) -> String {
    format!(
        "server {{\n    listen {{listen}};\n    proxy_set_header Host $http_host;\n    proxy_set_header X-Forwarded-Host $http_host;\n    proxy_set_header X-Forwarded-Proto $scheme;\n    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    location /websocket {{\n        proxy_pass http://{{upstream}};\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n        {websocket_extra}\n    }}\n    location / {{\n        proxy_pass http://{{upstream}};\n    }}\n}}\n"
    )
}

/// Odoo behind a proxy as the field runs it: proxy_mode, and ODOO_BUS_PUBLIC_SAMESITE_WS.
fn proxied_odoo() -> TestEnv {
    let env = TestEnv::with_config(EmulatorConfig {
        public_samesite_ws: true,
        proxy_mode: true,
        ..slow_pings()
    });
    env.logged_in("demo");
    env
}

fn evidence(run: &Run, check: &str) -> Value {
    let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .unwrap_or_else(|| panic!("no {check} in {}", run.stdout))["evidence"]
        .clone()
}

#[test]
fn the_nginx_header_inheritance_trap_is_named_and_its_fix_passes() {
    if nginx_missing() {
        return;
    }
    let env = proxied_odoo();
    let trap = nginx::start_server(&env.url(), &forwarded_site("")).expect("nginx starts");
    let url = format!("http://127.0.0.1:{}", trap.port);
    env.point_profile_at(&url);
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "proxy_mode is inert");
    let line = run.line("delivery");
    assert!(line.contains("socket downgraded to public"), "{line}");
    assert!(line.contains("location /websocket"), "{line}");
    assert!(line.contains(&format!("Origin is {url}")), "{line}");
    // web.base.url came through `location /`, which has the server-level headers.
    assert!(line.contains("only /websocket does not"), "{line}");
    assert!(line.contains("X-Forwarded-Host $http_host"), "{line}");
    run.assert_passed("socket-auth");

    let json = doctor(&env, &["--json"], &[FAST_DELIVERY]);
    let e = evidence(&json, "delivery");
    assert_eq!(e["cause"], "forwarded-host-missing", "{e}");
    assert_eq!(e["origin_sent"], url.as_str(), "{e}");
    assert!(
        e["server_101"].as_str().unwrap().starts_with("nginx"),
        "{e}"
    );
    assert_eq!(e["web_base_url"], url.as_str(), "{e}");

    // The same file read by the config check (no profile: the file alone) names the trap.
    let conf = trap.conf.display().to_string();
    let files = doctor(&TestEnv::new(), &["--proxy-conf", &conf], &[]);
    assert!(
        files.stdout.contains("header-inheritance trap"),
        "{}\n{}",
        files.stdout,
        files.stderr
    );
    drop(trap);

    let fixed = forwarded_site(
        "proxy_set_header Host $http_host;\n        proxy_set_header X-Forwarded-Host $http_host;\n        proxy_set_header X-Forwarded-Proto $scheme;",
    );
    let good = nginx::start_server(&env.url(), &fixed).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", good.port));
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_passed("delivery");
}

#[test]
fn a_wrong_forwarded_proto_is_told_from_a_missing_host() {
    if nginx_missing() {
        return;
    }
    let env = proxied_odoo();
    // Traefik-like: the proxy says https while the client came over http.
    let wrong = forwarded_site(
        "proxy_set_header X-Forwarded-Host $http_host;\n        proxy_set_header X-Forwarded-Proto https;",
    );
    let nginx = nginx::start_server(&env.url(), &wrong).expect("nginx starts");
    let url = format!("http://127.0.0.1:{}", nginx.port);
    env.point_profile_at(&url);
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "X-Forwarded-Proto");
    let line = run.line("delivery");
    let authority = url.trim_start_matches("http://");
    assert!(
        line.contains(&format!(
            "Odoo sees https://{authority} but the browser's Origin is {url}"
        )),
        "{line}"
    );
    assert!(!line.contains("proxy_mode is inert"), "{line}");
}

#[test]
fn a_proxy_that_sends_no_forwarded_host_on_the_websocket_is_named_without_nginx() {
    let env = proxied_odoo();
    env.control().set_faults(Faults {
        websocket_forwarded_dropped: Some("odoo-gevent:8072".into()),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "proxy_mode is inert");
    let line = run.line("delivery");
    // Odoo answered the 101 itself (Werkzeug): the load balancers are named, not nginx's rule.
    assert!(line.contains("AWS ALB"), "{line}");
    assert!(!line.contains("location /websocket`"), "{line}");
}

#[test]
fn a_dead_dispatcher_is_not_taken_for_a_public_socket() {
    let env = proxied_odoo();
    env.control().set_faults(Faults {
        no_dispatch: true,
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "keeps the session but nothing is dispatched");
    assert!(
        !run.line("delivery").contains("downgraded"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_auth_gateway_on_the_upgrade_is_named_with_its_realm() {
    let env = broken(Faults {
        auth_gateway: Some(odoo_bus_emulator::AuthGateway::basic("Staff only")),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[]);
    // `/websocket/health` meets the gateway first; the upgrade quotes what it asks for.
    run.assert_failed("health", "authentication gateway");
    let line = run.line("upgrade");
    assert!(line.contains("authentication gateway"), "{line}");
    assert!(line.contains("realm \"Staff only\""), "{line}");
    assert!(line.contains("auth_basic off"), "{line}");

    env.control().set_faults(Faults {
        auth_gateway: Some(odoo_bus_emulator::AuthGateway::proxy("corp")),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 5, "{}", run.stdout);
    let line = run.line("upgrade");
    assert!(line.contains("NO_PROXY"), "{line}");
    assert!(line.contains("Proxy-Authenticate"), "{line}");
}

#[test]
fn an_auth_gateway_in_front_of_everything_is_named_at_the_first_request() {
    let env = broken(Faults {
        auth_gateway: Some(odoo_bus_emulator::AuthGateway::portal().everywhere()),
        ..Faults::default()
    });
    let run = doctor(&env, &["--json"], &[]);
    assert_eq!(run.code, 5, "{}", run.stdout);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let odoo = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "odoo")
        .unwrap();
    assert_eq!(odoo["status"], "fail");
    assert!(
        odoo["detail"].as_str().unwrap().contains("SSO portal"),
        "{odoo}"
    );
    assert_eq!(odoo["evidence"]["status"], "403", "{odoo}");
}

#[test]
fn a_public_socket_no_experiment_explains_is_said_so() {
    // No proxy_mode: doctor's own X-Forwarded-Host changes nothing, and the Host Odoo sees on
    // /websocket is the upstream's, which no Origin doctor tries matches.
    let env = TestEnv::with_config(EmulatorConfig {
        public_samesite_ws: true,
        ..slow_pings()
    });
    env.logged_in("demo");
    env.control().set_faults(Faults {
        websocket_forwarded_dropped: Some("odoo-gevent:8072".into()),
        ..Faults::default()
    });
    let run = doctor(&env, &["--json"], &[FAST_DELIVERY]);
    assert_eq!(run.code, 5, "{}", run.stdout);
    let e = evidence(&run, "delivery");
    assert_eq!(e["cause"], "public-socket", "{e}");
    assert!(e.get("odoo_sees").is_none(), "{e}");
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "proxy_mode is off");
}

// ---------------------------------------------------------------------------------------------
// Field causes that share a symptom (issue #21): doctor names which one, from what it saw.

/// The upgrade and a frame's answer may take this long in the tests below.
const FAST_CONNECT: (&str, &str) = ("ODOO_BUS_DOCTOR_CONNECT", "1s");

#[test]
fn a_threaded_odoo_on_werkzeug_2_3_is_named_not_a_proxy() {
    // F9: the 101 comes from werkzeug itself, then no frame is ever read.
    let env = broken(Faults {
        swallow_frames_after_upgrade: Some(Faults::WERKZEUG_2_3),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_CONNECT]);
    run.assert_failed("socket-auth", "requirements.txt");
    let line = run.line("socket-auth");
    assert!(line.contains("running Werkzeug 2.3:"), "{line}");
    assert!(line.contains("Server: Werkzeug/2.3.7"), "{line}");
    assert!(!line.contains("a hop in between"), "{line}");
    run.assert_passed("upgrade");

    // The same silence behind something that says it is nginx: a proxy swallowing frames.
    env.control().set_faults(Faults {
        swallow_frames_after_upgrade: Some("nginx/1.22.1"),
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_CONNECT]);
    run.assert_failed("socket-auth", "a hop in between holds or swallows");
    assert!(
        run.line("socket-auth").contains("Server: nginx/1.22.1"),
        "{}",
        run.stdout
    );
}

#[test]
fn deep_names_werkzeug_for_a_socket_without_session() {
    // Without a session (another server than the profile's) only `ping` talks on the socket:
    // it names F9 just the same.
    let env = TestEnv::new();
    env.logged_in("demo");
    let other = TestEnv::new();
    other.control().set_faults(Faults {
        swallow_frames_after_upgrade: Some(Faults::WERKZEUG_2_3),
        ..Faults::default()
    });
    let run = doctor(
        &env,
        &["--deep", &other.url()],
        &[FAST_CONNECT, ("ODOO_BUS_DOCTOR_IDLE", "1s")],
    );
    run.assert_failed("ping", "requirements.txt");
    assert!(run.line("ping").contains("Werkzeug 2.3"), "{}", run.stdout);
    run.assert_skipped("socket-auth");
    run.assert_skipped("idle");
}

#[test]
fn an_upgrade_held_while_a_plain_get_answers_names_ssi() {
    // F8: only requests carrying `Upgrade: websocket` are held.
    let env = broken(Faults {
        hang_upgrades: true,
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_CONNECT]);
    run.assert_failed("upgrade", "ssi off;");
    let line = run.line("upgrade");
    assert!(line.contains("plain GET /websocket"), "{line}");
    assert!(line.contains("HTTP 400 in"), "{line}");
    assert!(line.contains("/websocket/health: pass"), "{line}");
    assert!(line.contains("F8"), "{line}");
}

#[test]
fn a_websocket_route_that_holds_everything_names_a_hung_process() {
    // `hang_handshake`: every request to /websocket hangs, the plain GET included (F11).
    let env = broken(Faults {
        hang_handshake: true,
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[FAST_CONNECT]);
    run.assert_failed("upgrade", "gevent");
    let line = run.line("upgrade");
    assert!(
        line.contains("a plain GET /websocket (no Upgrade header): no answer"),
        "{line}"
    );
    assert!(line.contains("F11"), "{line}");
    assert!(!line.contains("ssi off"), "{line}");
    // It still says polling works.
    assert!(run.line("poll").starts_with('✔'), "{}", run.stdout);
}

#[test]
fn a_full_gevent_pool_is_named_with_db_maxconn_gevent() {
    // F10: the pool has no room (`max_sockets: 0`): the socket is upgraded, then closed with
    // 1013 at once, after doctor sent nothing but its subscribe and a ping.
    let env = broken(Faults {
        max_sockets: Some(0),
        ..Faults::default()
    });
    let run = doctor(&env, &["--json"], &[FAST_CONNECT]);
    assert_eq!(run.code, 5, "{}", run.stdout);
    let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let auth = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "socket-auth")
        .unwrap()
        .clone();
    assert_eq!(auth["status"], "fail", "{auth}");
    assert_eq!(doc["summary"]["first_failure"], "socket-auth");
    let detail = auth["detail"].as_str().unwrap();
    assert!(detail.contains("1013 TRY_LATER"), "{detail}");
    assert!(detail.contains("connection pool is full"), "{detail}");
    assert!(!detail.contains("rate limit of 10 frames"), "{detail}");
    let hint = auth["hint"].as_str().unwrap();
    assert!(
        hint.contains("db_maxconn_gevent") && hint.contains("max_connections"),
        "{hint}"
    );
}

#[test]
fn an_intermittent_500_on_the_upgrade_is_the_pool_not_the_route() {
    // F10 as a real 18 shows it under load: the handshake itself gets a 500 (PoolError), the
    // next one upgrades. F1's 500 comes every time (`prefork_workers_…` above).
    let env = broken(Faults {
        pool_busy_upgrades: 1,
        ..Faults::default()
    });
    let run = doctor(&env, &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let line = run.line("upgrade");
    assert!(line.starts_with('✔'), "{line}");
    assert!(line.contains("the first upgrade got HTTP 500"), "{line}");
    assert!(line.contains("F10"), "{line}");
    assert!(line.contains("db_maxconn_gevent"), "{line}");
    run.assert_passed("delivery");
}

#[test]
fn a_chatty_socket_closed_by_the_rate_limit_is_not_blamed_on_the_pool() {
    // A hop (here the server itself) pinging every 100 ms: the pongs alone exceed Odoo's 10
    // frames in 2 s, and the 1013 that follows is the rate limit's.
    let env = broken_with(
        EmulatorConfig {
            idle_ping: Duration::from_millis(100),
            ..EmulatorConfig::fast()
        },
        Faults {
            no_dispatch: true,
            ..Faults::default()
        },
    );
    let run = doctor(
        &env,
        &[],
        &[FAST_CONNECT, ("ODOO_BUS_DOCTOR_DELIVERY", "3s")],
    );
    run.assert_failed("delivery", "websocket_rate_limit_burst");
    let line = run.line("delivery");
    assert!(line.contains("1013 TRY_LATER after doctor sent"), "{line}");
    assert!(line.contains("rate limit of 10 frames"), "{line}");
    assert!(!line.contains("db_maxconn_gevent"), "{line}");
    assert!(env.control().stats().close_codes_sent.contains(&1013));
}

#[test]
fn deep_warns_when_no_server_ping_ever_comes() {
    // `no_pings`: the socket stays open, but Odoo's keep-alive ping never arrives (a hop
    // answers or drops control frames itself). A warning: the run still exits 0.
    let env = broken_with(
        slow_pings(),
        Faults {
            no_pings: true,
            ..Faults::default()
        },
    );
    let run = doctor(
        &env,
        &["--deep"],
        &[
            ("ODOO_BUS_DOCTOR_IDLE", "2500ms"),
            ("ODOO_BUS_DOCTOR_PING_AFTER", "1s"),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let idle = run.line("idle");
    assert!(idle.starts_with('✔'), "{idle}");
    assert!(idle.contains("no server ping"), "{idle}");
    assert!(idle.contains("swallows control frames"), "{idle}");
    assert!(idle.contains("note:"), "{idle}");

    // The same hold with the server pinging: no warning.
    let healthy = TestEnv::new();
    healthy.logged_in("demo");
    let run = doctor(
        &healthy,
        &["--deep"],
        &[
            ("ODOO_BUS_DOCTOR_IDLE", "2500ms"),
            ("ODOO_BUS_DOCTOR_PING_AFTER", "1s"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!run.line("idle").contains("swallows"), "{}", run.stdout);
}

#[test]
fn a_hop_that_cuts_the_socket_after_a_message_is_named() {
    // `max_frames_per_socket`: the notification arrives, then the TCP connection is dropped.
    let env = broken_with(
        slow_pings(),
        Faults {
            max_frames_per_socket: Some(1),
            ..Faults::default()
        },
    );
    let run = doctor(&env, &[], &[]);
    run.assert_failed("delivery", "must not be limited in messages");
    let line = run.line("delivery");
    assert!(line.contains("came back in"), "{line}");
    assert!(line.contains("but right after it the connection"), "{line}");
    assert!(env.control().stats().tcp_drops >= 1);
}

#[test]
fn a_slow_delivery_warns_with_its_latency_and_fails_past_the_budget() {
    // `delivery_delay` under the budget: delivered, a warning naming the latency, exit 0.
    let env = broken_with(
        slow_pings(),
        Faults {
            delivery_delay: Some(Duration::from_millis(1200)),
            ..Faults::default()
        },
    );
    let run = doctor(&env, &[], &[("ODOO_BUS_DOCTOR_DELIVERY", "4s")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let line = run.line("delivery");
    assert!(line.starts_with('✔'), "{line}");
    assert!(line.contains("delivered, but slowly"), "{line}");
    assert!(line.contains("came back in 1"), "{line}");
    assert!(line.contains("db_maxconn_gevent"), "{line}");

    // Past the budget: late, named as slow rather than as broken NOTIFY.
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "overloaded");
    let line = run.line("delivery");
    assert!(line.contains("came back only after"), "{line}");
    assert!(!line.contains("pgbouncer"), "{line}");
}

#[test]
fn a_notification_lost_on_the_users_own_socket_is_named() {
    // `drop_fraction` 0.5 loses every second one: doctor's first comes, its second never does,
    // not even on a new subscribe, though it is stored: lost (F12), not a public socket.
    let env = broken_with(
        slow_pings(),
        Faults {
            drop_fraction: 0.5,
            ..Faults::default()
        },
    );
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_failed("delivery", "update Odoo");
    let line = run.line("delivery");
    assert!(line.contains("F12"), "{line}");
    assert!(
        line.contains("a second one on the same socket never did"),
        "{line}"
    );
    assert!(!line.contains("socket is public"), "{line}");
}

#[test]
fn deep_with_hold_names_a_connection_cut_while_idle() {
    // `cut_idle_after` with `--deep --hold`: the cut comes before the end of the hold.
    let env = broken_with(
        slow_pings(),
        Faults {
            cut_idle_after: Some(Duration::from_millis(1500)),
            ..Faults::default()
        },
    );
    let run = doctor(&env, &["--deep", "--hold", "3s"], &[]);
    run.assert_failed("idle", "raise the idle timeout");
    let line = run.line("idle");
    assert!(line.contains("cut after 1."), "{line}");
    assert!(line.contains("before Odoo's keep-alive ping"), "{line}");
    run.assert_passed("ping");
    run.assert_passed("delivery");
}

#[test]
fn nginx_with_ssi_on_holds_the_upgrade_and_is_named() {
    if nginx_missing() {
        return;
    }
    // F8 through a real nginx: the SSI filter holds the upstream's 101 (its Content-Type is
    // text/html), while a plain GET /websocket and /websocket/health pass straight through.
    // Odoo's first PING comes long after any connect timeout; the test emulator's 200 ms pings
    // would reach the client through the held response as raw bytes after the 101 it never got.
    let env = TestEnv::with_config(slow_pings());
    env.logged_in("demo");
    let directives = format!("{UPGRADE_DIRECTIVES}\n            ssi on;");
    let ssi = nginx::start(&env.url(), &directives).expect("nginx starts");
    env.point_profile_at(&format!("http://127.0.0.1:{}", ssi.port));
    // The follow-up requests get the upgrade's timeout: 1 s was once too short for nginx and a
    // debug emulator on a loaded machine to answer the plain GET.
    let run = doctor(&env, &[], &[("ODOO_BUS_DOCTOR_CONNECT", "3s")]);
    run.assert_failed("upgrade", "ssi off;");
    let line = run.line("upgrade");
    assert!(line.contains("HTTP 400 in"), "{line}");
    assert!(line.contains("/websocket/health: pass"), "{line}");
    run.assert_passed("health");
}

#[test]
fn a_websocket_location_on_another_odoo_is_named() {
    // F20: everything under /websocket is served by an Odoo that does not know the session.
    let env = broken_with(
        slow_pings(),
        Faults {
            websocket_other_instance: true,
            ..Faults::default()
        },
    );
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_passed("session");
    run.assert_passed("upgrade");
    run.assert_failed(
        "delivery",
        "/websocket reaches another Odoo than /web (two instances, or the proxy's /websocket location points at the wrong upstream): /web knows your session, /websocket/… does not",
    );
    let line = run.line("delivery");
    assert!(line.contains("as a public user"), "{line}");
    assert!(!line.contains("dispatch chain"), "{line}");

    let json = doctor(&env, &["--json"], &[FAST_DELIVERY]);
    let e = evidence(&json, "delivery");
    assert_eq!(e["cause"], "websocket-other-instance", "{e}");
    assert!(
        e["websocket_peek"].as_str().unwrap().contains("broadcast"),
        "{e}"
    );

    // The same server without the fault: the socket hears the user.
    env.control().set_faults(Faults::default());
    doctor(&env, &[], &[FAST_DELIVERY]).assert_passed("delivery");
}

#[test]
fn another_odoo_that_issues_a_new_cookie_at_the_upgrade_is_named() {
    // F20 across session-id formats (an 18 behind /, a 16 or 17 behind /websocket): the other
    // Odoo rejects the id's format and the 101 sets a new cookie.
    let env = broken(Faults {
        websocket_other_instance: true,
        other_instance_rejects_ids: true,
        ..Faults::default()
    });
    let run = doctor(&env, &["--json"], &[FAST_DELIVERY]);
    let e = evidence(&run, "socket-auth");
    assert_eq!(e["cause"], "websocket-other-instance", "{e}");
    assert_eq!(e["socket"], "the 101 set a new session cookie", "{e}");
    // The other Odoo's new cookie (on the peek too) did not replace the profile's session.
    let run = doctor(&env, &[], &[FAST_DELIVERY]);
    run.assert_passed("session");
    run.assert_failed("socket-auth", "/websocket reaches another Odoo than /web");
}

#[test]
fn a_worker_version_change_says_what_browsers_with_the_old_one_get() {
    // F15: the profile saved the worker version of before an upgrade; a browser with it is
    // closed at once with OUTDATED_VERSION (odoo-bus itself is not a browser and is never).
    let env = TestEnv::new();
    env.logged_in("demo");
    let path = env.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let old = text.replace(
        "websocket_worker_version = \"18.0-2\"",
        "websocket_worker_version = \"18.0-1\"",
    );
    assert_ne!(old, text);
    std::fs::write(&path, old).unwrap();
    let run = doctor(&env, &[], &[]);
    run.assert_passed("session");
    let line = run.line("session");
    assert!(line.contains("the profile saved 18.0-1"), "{line}");
    assert!(
        line.contains("?version=18.0-1 is closed at once with 1000 OUTDATED_VERSION"),
        "{line}"
    );
    run.assert_passed("delivery");
    let json = doctor(&env, &["--json"], &[]);
    assert_eq!(
        evidence(&json, "session")["browser_old_version"],
        "closed 1000 OUTDATED_VERSION"
    );
}

#[test]
fn origin_checks_the_live_chat_as_an_embedding_site_loads_it() {
    // F17: the worker script and a guest socket with the embedding site's Origin.
    let env = TestEnv::new();
    env.logged_in("demo");
    let run = doctor(&env, &["--origin", "https://shop.example.com/contact"], &[]);
    run.assert_passed("embed");
    let line = run.line("embed");
    assert!(
        line.contains("a page on https://shop.example.com can load"),
        "{line}"
    );
    // Without --origin there is no such check.
    let plain = doctor(&env, &[], &[]);
    assert!(!plain.stdout.contains("embed"), "{}", plain.stdout);

    // A WAF refusing websockets from other sites: doctor's own upgrade passes, the guest's not.
    env.control().set_faults(Faults {
        foreign_origin_refused: Some(403),
        ..Faults::default()
    });
    let run = doctor(
        &env,
        &["--json", "--origin", "https://shop.example.com"],
        &[],
    );
    assert_eq!(run.code, 5, "{}", run.stdout);
    let e = evidence(&run, "embed");
    assert_eq!(e["cause"], "foreign-origin-refused", "{e}");
    assert_eq!(e["status"], "403", "{e}");
    let run = doctor(&env, &["--origin", "https://shop.example.com"], &[]);
    run.assert_passed("upgrade");
    run.assert_failed("embed", "refused with HTTP 403");
}

#[test]
fn an_origin_that_is_not_a_site_is_a_usage_error() {
    let env = TestEnv::new();
    env.logged_in("demo");
    let run = doctor(&env, &["--origin", "shop.example.com"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--origin"), "{}", run.stderr);
}
