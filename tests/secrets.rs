//! The user's session never leaks: not into any output at any verbosity, not to another host
//! through a redirect, not in clear text without a warning, not to other local users through
//! the config file's mode.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use odoo_bus_core::secret::SessionId;
use odoo_bus_emulator::{Target, UserSpec};
use serde_json::json;
use support::TestEnv;
use support::running::Running;

const WAIT: Duration = Duration::from_secs(30);
/// A password that appears nowhere else (unlike the seed's admin/admin).
const PASSWORD: &str = "Zq7-unique-Pa55word-Xv2";
const GENERAL: i64 = 1;

/// Everything one command printed, stdout and stderr together.
fn run(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = env.cmd();
    cmd.args(args)
        .env("ODOO_PASSWORD", PASSWORD)
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms");
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    let out = cmd.output().unwrap();
    format!(
        "$ odoo-bus {} → {:?}\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn saved_session(env: &TestEnv, profile: &str) -> Option<String> {
    let text = env.config_text();
    let table: toml::Table = toml::from_str(&text).ok()?;
    table
        .get("profiles")?
        .get(profile)?
        .get("session_id")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Assert `secret` (or any 16-character piece of it) is nowhere in `output`.
fn assert_absent(output: &str, secret: &str, what: &str) {
    assert!(!secret.is_empty());
    let bytes = secret.as_bytes();
    let window = bytes.len().min(16);
    for piece in bytes.windows(window) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !output.contains(piece),
            "{what} (or a piece of it, {piece:?}) leaked:\n{output}"
        );
    }
}

#[test]
fn a_full_session_at_maximum_verbosity_never_prints_a_session_id_or_the_password() {
    let env = TestEnv::new();
    let c = env.control();
    let user = c.add_user(UserSpec::internal("eve", PASSWORD, "Eve Example"));
    c.join_channel(GENERAL, user.uid);
    let url = env.url();
    let db = c.db();
    let mut sids: BTreeSet<String> = BTreeSet::new();
    let track = |env: &TestEnv, sids: &mut BTreeSet<String>| {
        for sid in env.control().current_session_ids(user.uid) {
            sids.insert(sid.clone());
        }
        for profile in ["default", "adopted"] {
            if let Some(sid) = saved_session(env, profile) {
                sids.insert(sid);
            }
        }
    };
    let mut output = String::new();

    // Password from the environment, then from stdin.
    output += &run(
        &env,
        &["-vvv", "login", &url, "--db", &db, "--user", "eve"],
        None,
    );
    track(&env, &mut sids);
    output += &run(
        &env,
        &[
            "-vvv",
            "login",
            &url,
            "--db",
            &db,
            "--user",
            "eve",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    track(&env, &mut sids);
    assert!(saved_session(&env, "default").is_some(), "{output}");
    // A session adopted from a "browser" through stdin.
    let adopted = c.create_session(user.uid);
    sids.insert(adopted.clone());
    output += &run(
        &env,
        &["-vvv", "-p", "adopted", "login", &url, "--session-id", "-"],
        Some(&format!("{}\n", adopted)),
    );
    track(&env, &mut sids);

    // A tail that sees frames (-vvv logs them), a disconnect and a resubscribe.
    let mut cmd = env.std_cmd();
    cmd.args(["-vvv", "tail", "--json", "-n", "2", "--timeout", "20s"])
        .env("ODOO_BUS_RECONNECT_DELAY", "20ms");
    let t = Running::spawn(cmd);
    assert!(c.wait_for_subscribes(1, WAIT));
    c.notify(
        Target::Partner(user.partner_id),
        "secret/test",
        json!({"n": 1}),
    );
    assert!(t.next_line(WAIT).is_some());
    c.close_all(4001, "");
    assert!(c.wait_for_subscribes(2, WAIT));
    c.notify(
        Target::Partner(user.partner_id),
        "secret/test",
        json!({"n": 2}),
    );
    let done = t.wait(WAIT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    output += &done.stdout.join("\n");
    output.push('\n');
    output += &done.stderr;
    track(&env, &mut sids);

    for args in [
        &["-vvv", "send", "discuss.channel_1", "hello from eve"][..],
        &["-vvv", "send", "discuss.channel_1", "hello again", "--wait"],
        &["-vvv", "status"],
        &["-vvv", "status", "--json"],
        &["-vvv", "-p", "adopted", "status"],
        &["-vvv", "doctor"],
        &["-vvv", "doctor", "--json"],
    ] {
        output += &run(&env, args, None);
        track(&env, &mut sids);
    }
    output += &run(&env, &["-vvv", "logout"], None);
    output += &run(&env, &["-vvv", "-p", "adopted", "logout"], None);
    output += &run(&env, &["-vvv", "status"], None);

    assert!(sids.len() >= 2, "the session ids were tracked: {sids:?}");
    for sid in &sids {
        assert!(SessionId::new(sid.clone()).looks_valid(), "{sid}");
        assert_absent(&output, sid, "a session id");
    }
    assert_absent(&output, PASSWORD, "the password");
    assert!(!output.contains("panicked"), "{output}");
    // The run did what it claims (so the absence above means something).
    assert!(output.contains("secret/test"), "{output}");
    assert!(output.contains("logged out"), "{output}");
}

// ------------------------------------------------------------------------------------------------
// Redirects to another host
// ------------------------------------------------------------------------------------------------

/// A tiny HTTP/1.1 server on a loopback address: answers every request with `response` and
/// records each request's head. Stops accepting after 20 s (bounded, whatever the test does).
struct TinyServer {
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TinyServer {
    fn start(ip: &str, response: impl Fn(&str) -> String + Send + 'static) -> TinyServer {
        let listener = TcpListener::bind((ip, 0)).expect("bind loopback");
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => serve_one(stream, &response, &seen),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TinyServer { addr, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Read one request, record its head (before answering, so the test sees it as soon as the
/// client has its answer), answer.
fn serve_one(stream: TcpStream, response: &dyn Fn(&str) -> String, seen: &Mutex<Vec<String>>) {
    let _ = answer_one(stream, response, seen);
}

fn answer_one(
    stream: TcpStream,
    response: &dyn Fn(&str) -> String,
    seen: &Mutex<Vec<String>>,
) -> Option<()> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let answer = response(&head);
    seen.lock().unwrap().push(head);
    let mut stream = stream;
    stream.write_all(answer.as_bytes()).ok()
}

fn redirect_to(location: String) -> impl Fn(&str) -> String + Send + 'static {
    move |_| {
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    }
}

#[test]
fn a_redirect_to_another_host_never_carries_the_cookie_and_is_a_clear_error() {
    // B is another host (127.0.0.2): it records what reaches it.
    let b = TinyServer::start("127.0.0.2", |_| {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 36\r\nConnection: close\r\n\r\n{\"jsonrpc\": \"2.0\", \"result\": true}\r\n"
            .to_string()
    });
    // A redirects every request to the same path on B, as a hijacked proxy would.
    let target = format!("http://{}", b.addr);
    let a = TinyServer::start("127.0.0.1", move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        redirect_to(format!("{target}{path}"))(head)
    });
    let env = TestEnv::new();
    let sid =
        "UfZPnkrFQVwm4-49u15V9mqheZSpzaZjzUAxWroagcyDoXU_JLZa8MN5Xbe0Z2_TPDT7Ja1IGlskjdikwODV";
    config_with_url_and_session(&env, &format!("http://{}", a.addr), sid);

    for args in [
        &["status"][..],
        &["tail", "--timeout", "2s"],
        &["send", "discuss.channel_1", "hi"],
        &["logout"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() || args == ["logout"],
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("redirects to") || stderr.contains("redirect"),
            "{args:?}: the user is told about the redirect:\n{stderr}"
        );
        assert!(!stderr.contains(sid));
    }
    // Same for a session adopted on the command line.
    let out = env
        .cmd()
        .args([
            "-p",
            "other",
            "login",
            &format!("http://{}", a.addr),
            "--session-id",
            sid,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let at_a = a.requests();
    assert!(!at_a.is_empty(), "the commands did talk to A");
    assert!(
        at_a.iter()
            .any(|h| h.to_ascii_lowercase().contains("cookie: session_id=")),
        "A (the configured server) gets the cookie: {at_a:?}"
    );
    let at_b = b.requests();
    assert!(
        at_b.iter().all(|h| !h.contains(sid)),
        "the session reached the other host: {at_b:?}"
    );
    assert!(
        at_b.is_empty(),
        "redirects are not followed at all: {at_b:?}"
    );
}

#[test]
fn a_websocket_upgrade_redirected_to_another_host_never_carries_the_cookie() {
    let b = TinyServer::start("127.0.0.2", |_| {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    });
    // A is a fine Odoo over HTTP (the session checks out) whose /websocket redirects to B.
    let target = format!("http://{}/websocket", b.addr);
    let a = TinyServer::start("127.0.0.1", move |head| {
        if head.starts_with("GET /websocket") {
            redirect_to(target.clone())(head)
        } else {
            let body = r#"{"jsonrpc": "2.0", "id": 1, "result": true}"#;
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    });
    let env = TestEnv::new();
    let sid =
        "UfZPnkrFQVwm4-49u15V9mqheZSpzaZjzUAxWroagcyDoXU_JLZa8MN5Xbe0Z2_TPDT7Ja1IGlskjdikwODV";
    config_with_url_and_session(&env, &format!("http://{}", a.addr), sid);
    let out = env
        .cmd()
        .args(["tail", "--timeout", "5s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("redirects to http://{}/websocket", b.addr))
            && stderr.contains("does not follow redirects"),
        "{stderr}"
    );
    let at_a = a.requests();
    assert!(
        at_a.iter()
            .any(|h| h.starts_with("GET /websocket") && h.contains(sid)),
        "the upgrade went to A with the cookie: {at_a:?}"
    );
    assert!(
        b.requests().is_empty(),
        "B was contacted: {:?}",
        b.requests()
    );
}

// ------------------------------------------------------------------------------------------------
// Clear text and --insecure
// ------------------------------------------------------------------------------------------------

fn config_with_url(env: &TestEnv, url: &str) {
    config_with_url_and_session(
        env,
        url,
        "UfZPnkrFQVwm4-49u15V9mqheZSpzaZjzUAxWroagcyDoXU_JLZa8MN5Xbe0Z2_TPDT7Ja1IGlskjdikwODV",
    );
}

/// A private config whose `default` profile points at `url` with session `sid`.
fn config_with_url_and_session(env: &TestEnv, url: &str, sid: &str) {
    let config = env.config_path();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!("[profiles.default]\nurl = \"{url}\"\nsession_id = \"{sid}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn plain_http_to_a_remote_host_warns_before_anything_is_sent() {
    let env = TestEnv::new();
    // No DNS here: the name cannot resolve, so the warning must come before the connection error.
    config_with_url(&env, "http://localhost.example:1");
    for args in [
        &["tail", "--timeout", "2s"][..],
        &["status"],
        &["-q", "status"],
        &["logout"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warning = stderr
            .lines()
            .position(|l| l.starts_with("warning:") && l.contains("travels in clear text"))
            .unwrap_or_else(|| panic!("{args:?}: no cleartext warning:\n{stderr}"));
        if let Some(error) = stderr.lines().position(|l| l.starts_with("error:")) {
            assert!(
                warning < error,
                "{args:?}: warning after the error:\n{stderr}"
            );
        }
        config_with_url(&env, "http://localhost.example:1");
    }
    // A loopback server over http is not warned about.
    let env = TestEnv::new();
    env.logged_in("admin");
    let out = env.cmd().args(["status"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("clear text"));
}

#[test]
fn insecure_warns_on_every_command_even_quiet() {
    let env = TestEnv::new();
    env.logged_in("admin");
    for args in [
        &["--insecure", "status"][..],
        &["--insecure", "tail", "--timeout", "300ms"],
        &["--insecure", "-q", "status"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches("TLS certificates are NOT verified").count(),
            1,
            "{args:?}: {stderr}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// File modes
// ------------------------------------------------------------------------------------------------

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_config_is_private_even_with_a_permissive_umask_and_a_readable_one_is_warned_about() {
    let env = TestEnv::new();
    let user = env.control().find_user("admin").unwrap();
    let sid = env.control().create_session(user.uid);
    let config = env.home().join("fresh").join("dir").join("config.toml");
    let bin = assert_cmd::cargo::cargo_bin!("odoo-bus");
    let script = format!(
        "umask 000 && exec '{}' --config '{}' login '{}' --session-id -",
        bin.display(),
        config.display(),
        env.url()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("HOME", env.home())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{}\n", sid).as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&config), 0o600, "config file");
    assert_eq!(mode(config.parent().unwrap()), 0o700, "config directory");
    let lock = config.with_file_name("config.toml.lock");
    if lock.exists() {
        assert_eq!(mode(&lock), 0o600, "lock file");
    }
    // Made readable by others: warned about, ssh-style, on the next command.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env
        .cmd()
        .env("ODOO_BUS_CONFIG", &config)
        .arg("status")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is readable by others (mode 644)") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    // The next write (logout forgets the session) makes it private again.
    let out = env
        .cmd()
        .env("ODOO_BUS_CONFIG", &config)
        .arg("logout")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&config), 0o600, "config file after a write");
}
