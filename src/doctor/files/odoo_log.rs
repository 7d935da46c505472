//! Odoo's log (and nginx's error or access log, which users paste along with it): the lines
//! that name a realtime cause, grouped (a log repeats them by the hundred) with the first line
//! number and a count, and the known noise (F24) marked harmless. The texts matched are Odoo's
//! own messages (bus/websocket.py, bus/models/bus.py, service/server.py, sql_db.py, 16–19) and
//! nginx's error-log format.

use super::{Finding, lines_text};
use crate::doctor::check::Level;

/// One kind of line, with where it was seen.
struct Group {
    lines: Vec<usize>,
    /// An excerpt of the first line (evidence: what Odoo said).
    first: String,
}

/// The kinds, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Bind,
    Downgrade,
    MissingHeaders,
    Ws500,
    Pool,
    GeventMemory,
    BusLoop,
    GeventCrash,
    Refused,
    RefusedIpv6,
    HeaderTimeout,
    IdleCut,
    WorkerTimeout,
    WsException,
    Serialize,
    RegistryReload,
}

/// What one pass over the log saw besides the groups.
#[derive(Default)]
struct Facts {
    version: Option<String>,
    upgrades_101: usize,
    prefork: bool,
    startup: bool,
    gevent: Option<String>,
    listening: bool,
}

fn excerpt(line: &str, from: &str) -> String {
    let s = line.find(from).map_or(line, |i| &line[i..]).trim();
    let mut out: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Which part of `Downgrading websocket session. Host=…, Origin=…, Scheme=….` differs: what
/// Odoo saw against what the browser sent, and the usual reason for that difference (F5).
fn downgrade_cause(line: &str) -> Option<String> {
    let between = |from: &str, to: &str| {
        let at = line.find(from)? + from.len();
        let rest = &line[at..];
        Some(
            rest[..rest.find(to).unwrap_or(rest.len())]
                .trim()
                .to_string(),
        )
    };
    let host = between("Host=", ", Origin=")?;
    let origin = between("Origin=", ", Scheme=")?;
    let scheme = between("Scheme=", ".")?;
    let (origin_scheme, origin_netloc) = origin.split_once("://")?;
    let origin_netloc = origin_netloc.trim_end_matches('/');
    Some(if host == origin_netloc {
        format!(
            "the host arrives but Odoo sees scheme {scheme} while the Origin is {origin_scheme}: X-Forwarded-Proto is missing or wrong (or proxy_mode is off behind TLS termination, or no X-Forwarded-Host makes proxy_mode act)"
        )
    } else if origin_netloc.starts_with(&format!("{host}:")) {
        format!(
            "Odoo sees Host {host} without the port the Origin {origin} carries: nginx's `$host` drops it, use `$http_host`"
        )
    } else {
        format!(
            "Odoo sees {scheme}://{host} while the Origin is {origin}: the proxy's own Host reached Odoo and proxy_mode did not replace it (proxy_mode off, or no X-Forwarded-Host on /websocket: in nginx a proxy_set_header inside `location /websocket` drops every server-level one)"
        )
    })
}

/// The status of an access-log line for `GET /websocket` (Odoo's werkzeug line or nginx's).
fn websocket_status(line: &str) -> Option<u16> {
    let at = line.find("\"GET /websocket")?;
    let rest = &line[at + 1..];
    let rest = &rest[rest.find('"')? + 1..];
    rest.split_whitespace().next()?.parse().ok()
}

fn classify(line: &str, facts: &mut Facts) -> Option<(Key, String)> {
    let has = |s: &str| line.contains(s);
    if has("Couldn't bind the websocket") {
        return Some((Key::Bind, excerpt(line, "Couldn't bind")));
    }
    if has("Downgrading websocket session") {
        return Some((Key::Downgrade, excerpt(line, "Downgrading")));
    }
    if has("Empty or missing header(s)") {
        return Some((Key::MissingHeaders, excerpt(line, "Empty or missing")));
    }
    if has("PoolError")
        || has("The Connection Pool Is Full")
        || has("Failed to acquire cursor after")
    {
        return Some((Key::Pool, excerpt(line, "")));
    }
    if has("Gevent virtual memory limit reached") {
        return Some((Key::GeventMemory, excerpt(line, "Gevent")));
    }
    if has("Bus.loop error") {
        return Some((Key::BusLoop, excerpt(line, "Bus.loop")));
    }
    if has("Evented Service") && has("uncaught error") {
        return Some((Key::GeventCrash, excerpt(line, "Evented")));
    }
    // Apache's mod_proxy: AH00957 / AH01114 "failed to make connection to backend".
    if (has("AH00957") || has("AH01114") || has("AH02454")) && (has("8072") || has("websocket")) {
        return Some((Key::Refused, excerpt(line, "AH0")));
    }
    if has("connect() failed (111") {
        if has("[::1]") {
            return Some((Key::RefusedIpv6, excerpt(line, "connect()")));
        }
        if has("/websocket") {
            return Some((Key::Refused, excerpt(line, "connect()")));
        }
        return None;
    }
    if has("upstream timed out (110") && has("/websocket") {
        if has("while reading response header") {
            return Some((Key::HeaderTimeout, excerpt(line, "upstream timed out")));
        }
        return Some((Key::IdleCut, excerpt(line, "upstream timed out")));
    }
    if (has("Worker") && has("timeout after")) || has("CPU time limit") {
        return Some((Key::WorkerTimeout, excerpt(line, "Worker")));
    }
    if has("Exception occurred during websocket request handling") {
        return Some((Key::WsException, excerpt(line, "Exception")));
    }
    if has("could not serialize access due to concurrent update") {
        return Some((Key::Serialize, excerpt(line, "could not")));
    }
    if has("Bus operation aborted; registry has been reloaded") {
        return Some((Key::RegistryReload, excerpt(line, "Bus operation")));
    }
    match websocket_status(line) {
        Some(101) => facts.upgrades_101 += 1,
        Some(400) => return Some((Key::MissingHeaders, excerpt(line, "\"GET"))),
        Some(500..=599) if !has("nginx") && !line.contains(" 502 ") => {
            return Some((Key::Ws500, excerpt(line, "\"GET")));
        }
        _ => {}
    }
    const VERSION: &str = "Odoo version ";
    const EVENTED: &str = "Evented Service (longpolling) running on ";
    if let Some(i) = line.find(VERSION) {
        facts.version = Some(line[i + VERSION.len()..].trim().to_string());
        facts.startup = true;
    }
    if has("HTTP service (werkzeug) running on") {
        facts.startup = true;
    }
    if has("Worker WorkerHTTP (") && has("alive") {
        facts.prefork = true;
    }
    if let Some(i) = line.find(EVENTED) {
        facts.gevent = Some(line[i + EVENTED.len()..].trim().to_string());
    }
    if has("Bus.loop listen imbus on db postgres") {
        facts.listening = true;
    }
    None
}

/// The exception a traceback after line `i` ends with (`TypeError: …`): the last unindented
/// line before the next log record.
fn traceback_end(lines: &[&str], i: usize) -> Option<String> {
    let mut last = None;
    for l in lines.iter().skip(i + 1).take(200) {
        let record = l.len() > 10 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit);
        if record {
            break;
        }
        if !l.starts_with([' ', '\t']) && !l.starts_with("Traceback") && l.contains(':') {
            last = Some(excerpt(l, ""));
        }
    }
    last
}

/// Every finding in one log.
pub fn check(file: &str, text: &str) -> Vec<Finding> {
    let mut facts = Facts::default();
    let mut groups: Vec<(Key, Group)> = Vec::new();
    let all: Vec<&str> = text.lines().collect();
    let count = all.len();
    for (i, line) in all.iter().enumerate() {
        let Some((key, mut first)) = classify(line, &mut facts) else {
            continue;
        };
        if key == Key::WsException
            && let Some(end) = traceback_end(&all, i)
        {
            first = format!("{first}` … `{end}");
        }
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.lines.push(i + 1),
            None => groups.push((
                key,
                Group {
                    lines: vec![i + 1],
                    first,
                },
            )),
        }
    }
    groups.sort_by_key(|(k, _)| *k);
    let seen = |k: Key| groups.iter().any(|(g, _)| *g == k);
    let (bind, pool) = (seen(Key::Bind), seen(Key::Pool));

    let mut out = Vec::new();
    for (key, g) in &groups {
        let times = match g.lines.len() {
            0..=2 => String::new(),
            n => format!(" ({n} times)"),
        };
        let said = format!("{}{times}: `{}`", lines_text(&g.lines), g.first);
        let (level, cause, what, fix): (Level, Option<u8>, String, String) = match key {
            Key::Bind => (
                Level::Failure,
                Some(1),
                format!("the websocket reached an HTTP worker in prefork mode (workers > 0), not the gevent process; {said}"),
                "route /websocket to the gevent port (gevent_port, 8072) in the proxy, and keep browsers off port 8069 (http_interface = 127.0.0.1 behind a local proxy)".into(),
            ),
            Key::Downgrade => (
                Level::Failure,
                Some(5),
                format!("Odoo gave the socket a public session because the Origin does not match the Host/scheme it sees (ODOO_BUS_PUBLIC_SAMESITE_WS){}; {said}", downgrade_cause(&said).map(|c| format!(": {c}")).unwrap_or_default()),
                "make Odoo see the browser's Host and scheme: proxy_mode = True and the proxy sending X-Forwarded-Host and X-Forwarded-Proto (in nginx repeated inside `location /websocket`)".into(),
            ),
            Key::MissingHeaders if facts.upgrades_101 > 0 => (
                Level::Info,
                Some(24),
                format!("upgrades refused with 400 while {} others got 101: these come from clients that are not browsers (scanners, health probes), harmless; {said}", facts.upgrades_101),
                "not the cause of a realtime failure; ignore them".into(),
            ),
            Key::MissingHeaders => (
                Level::Warning,
                Some(3),
                format!("websocket upgrades reached Odoo without their Upgrade/Connection headers (400) and none got 101 in this log; {said}"),
                "forward the upgrade in the proxy (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"); if browsers do connect, these lines are scanners (harmless, F24)".into(),
            ),
            Key::Ws500 if bind || pool => continue,
            Key::Ws500 => (
                Level::Failure,
                Some(1),
                format!("websocket upgrades answered with a 5xx: in prefork mode the websocket went to an HTTP worker (or, under load, the gevent pool is full: look for PoolError); {said}"),
                "route /websocket to the gevent port (8072); the traceback next to these lines names the cause".into(),
            ),
            Key::Pool => (
                Level::Failure,
                Some(10),
                format!("the gevent process ran out of database connections: upgrades fail with 500 and sockets close with 1013 (try later); {said}"),
                "raise db_maxconn_gevent (or db_maxconn) in odoo.conf, and PostgreSQL's max_connections to match".into(),
            ),
            Key::GeventMemory => (
                Level::Warning,
                Some(10),
                format!("the gevent process hit its memory limit and restarts, dropping every websocket; {said}"),
                "raise limit_memory_soft_gevent / limit_memory_hard_gevent in odoo.conf".into(),
            ),
            Key::BusLoop => (
                Level::Failure,
                Some(6),
                format!("the bus dispatcher cannot LISTEN on the `postgres` database and retries every 50 s, so notifications arrive late or only after a reload; {said}"),
                "let Odoo's database user connect to the `postgres` database (pg_hba.conf, GRANT CONNECT); behind pgbouncer use session pooling for it".into(),
            ),
            Key::GeventCrash => (
                Level::Failure,
                Some(4),
                format!("the gevent process crashed in its main loop: websockets have nowhere to go (502); {said}"),
                "read the traceback after this line and restart Odoo".into(),
            ),
            Key::Refused => (
                Level::Failure,
                Some(4),
                format!("the proxy could not reach the websocket's upstream (connection refused → 502): gevent not running, wrong address, or (in containers) 127.0.0.1 meaning the proxy's own container; {said}"),
                "point /websocket at the gevent port where it listens (in docker: the service name, `odoo:8072`), and check that Odoo runs with workers > 0 (gevent only starts then)".into(),
            ),
            Key::RefusedIpv6 => (
                Level::Info,
                Some(24),
                format!("nginx tried the upstream on IPv6 ([::1]) where Odoo does not listen, then IPv4: harmless; {said}"),
                "not the cause; write 127.0.0.1 instead of localhost in proxy_pass to silence them".into(),
            ),
            Key::HeaderTimeout => (
                Level::Failure,
                Some(11),
                format!("the websocket's upstream accepted the connection but never answered the upgrade: a hung or overloaded gevent process; {said}"),
                "check the gevent process (curl -s 127.0.0.1:8072/websocket/health on the Odoo host), restart Odoo, and look for addons that block at load".into(),
            ),
            Key::IdleCut => (
                Level::Warning,
                Some(7),
                format!("nginx cut websockets that were idle longer than proxy_read_timeout; {said}"),
                "proxy_read_timeout 720s; in the /websocket location (Odoo pings after 45 s of silence)".into(),
            ),
            Key::WorkerTimeout => (
                Level::Warning,
                Some(23),
                format!("workers killed for taking too long: requests in flight fail with 502/504 and notifications are late; {said}"),
                "find the slow requests; raise limit_time_real / limit_time_cpu only if they are legitimate".into(),
            ),
            Key::WsException => {
                let (cause, why) = if g.first.contains("PoolError") {
                    (Some(10), "the gevent cursor pool is full")
                } else if g.first.contains("AccessDenied") || g.first.contains("SessionExpired") {
                    (Some(5), "the socket's session is not the user's (public or expired)")
                } else if g.first.contains("unexpected keyword argument") || g.first.contains("missing 1 required") {
                    (Some(22), "a client or custom module sent an event in another Odoo version's shape (the bus API changed in 19)")
                } else {
                    (None, "the traceback below it names the cause")
                };
                (
                    Level::Warning,
                    cause,
                    format!("an exception while handling a websocket message: {why}; {said}"),
                    "read the traceback that follows the first line; PoolError is F10, AccessDenied F5, an unexpected keyword argument F22 (update the client or module to this Odoo version)".into(),
                )
            }
            Key::Serialize => (
                Level::Info,
                Some(10),
                format!("concurrent presence updates retried by Odoo: harmless alone, a sign of load when frequent; {said}"),
                "nothing, unless they come with PoolError or 1013 closes".into(),
            ),
            Key::RegistryReload => (
                Level::Info,
                None,
                format!("a bus operation aborted because a module was installed or updated: harmless; {said}"),
                "nothing; browsers reconnect".into(),
            ),
        };
        out.push(
            Finding::new(level, cause, file, g.lines.first().copied())
                .what(what)
                .fix(fix),
        );
    }
    if facts.startup && facts.prefork && facts.gevent.is_none() {
        out.push(
            Finding::new(Level::Warning, Some(4), file, None)
                .what("Odoo started in prefork mode (WorkerHTTP lines) but the gevent process never logged \"Evented Service (longpolling) running on …\": nothing serves websockets")
                .fix("check that the gevent port is free and that the gevent process starts (its traceback is in this log)"),
        );
    }

    let mut read = vec![format!("{count} lines")];
    if let Some(v) = &facts.version {
        read.push(format!("Odoo {v}"));
    }
    if facts.upgrades_101 > 0 {
        read.push(format!(
            "websocket upgrades answered 101: {}",
            facts.upgrades_101
        ));
    }
    if let Some(g) = &facts.gevent {
        read.push(format!("gevent process on {g}"));
    }
    if facts.listening {
        read.push("dispatcher listening on `postgres`".into());
    }
    let known = out.iter().filter(|f| f.level >= Level::Warning).count();
    if known == 0 {
        read.push("no known realtime failure".into());
    }
    out.push(Finding::new(Level::Ok, None, file, None).what(read.join(", ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Level, Option<u8>, Option<usize>)> {
        check("odoo.log", text)
            .iter()
            .map(|f| (f.level, f.cause, f.line))
            .collect()
    }

    #[test]
    fn known_lines_are_named_with_their_first_line() {
        let log = "2026-01-01 1 INFO ? odoo: Odoo version 18.0\n\
            2026-01-01 1 ERROR db werkzeug: Error on request:\n\
            RuntimeError: Couldn't bind the websocket. Is the connection opened on the evented port (8072)?\n\
            RuntimeError: Couldn't bind the websocket. Is the connection opened on the evented port (8072)?\n\
            2026-01-01 1 WARNING db odoo.addons.bus.websocket: Downgrading websocket session. Host=odoo:8069, Origin=https://erp.example.com, Scheme=http.\n\
            2026-01-01 1 ERROR ? odoo.addons.bus.models.bus: Bus.loop error, sleep and retry\n\
            psycopg2.pool.PoolError: The Connection Pool Is Full\n";
        let f = found(log);
        assert!(f.contains(&(Level::Failure, Some(1), Some(3))), "{f:?}");
        assert!(f.contains(&(Level::Failure, Some(5), Some(5))), "{f:?}");
        assert!(f.contains(&(Level::Failure, Some(6), Some(6))), "{f:?}");
        assert!(f.contains(&(Level::Failure, Some(10), Some(7))), "{f:?}");
        let all = check("odoo.log", log);
        let bind = all.iter().find(|x| x.cause == Some(1)).unwrap();
        assert!(bind.what.contains("lines 3 and 4"), "{}", bind.what);
        let down = all.iter().find(|x| x.cause == Some(5)).unwrap();
        assert!(
            down.what.contains("Origin=https://erp.example.com"),
            "{}",
            down.what
        );
    }

    #[test]
    fn a_downgrade_line_says_which_part_differs() {
        let line = |host: &str, origin: &str, scheme: &str| {
            format!("Downgrading websocket session. Host={host}, Origin={origin}, Scheme={scheme}.")
        };
        // Measured on a real 18 behind nginx with the header-inheritance trap.
        let c = downgrade_cause(&line("127.0.0.1:8098", "http://127.0.0.1:8091", "http")).unwrap();
        assert!(
            c.contains("Odoo sees http://127.0.0.1:8098 while the Origin is http://127.0.0.1:8091"),
            "{c}"
        );
        assert!(c.contains("location /websocket"), "{c}");
        // And with the proxy sending X-Forwarded-Proto https to an http client.
        let c = downgrade_cause(&line("127.0.0.1:8093", "http://127.0.0.1:8093", "https")).unwrap();
        assert!(c.contains("scheme https while the Origin is http"), "{c}");
        let c = downgrade_cause(&line(
            "erp.example.com",
            "https://erp.example.com:8443",
            "https",
        ))
        .unwrap();
        assert!(c.contains("$http_host"), "{c}");
        assert!(downgrade_cause("Downgrading websocket session").is_none());
    }

    #[test]
    fn scanner_400s_are_harmless_when_browsers_get_101() {
        let noise = "1 INFO db odoo.addons.bus.websocket: 400 Bad Request: Empty or missing header(s): upgrade\n";
        assert!(found(noise).contains(&(Level::Warning, Some(3), Some(1))));
        let with_101 = format!(
            "{noise}1 INFO db werkzeug: 10.0.0.1 - - [x] \"GET /websocket?version=18.0-2 HTTP/1.1\" 101 - 1 0.0 0.0\n"
        );
        let f = found(&with_101);
        assert!(f.contains(&(Level::Info, Some(24), Some(1))), "{f:?}");
        assert!(f.iter().all(|x| x.0 != Level::Failure));
    }

    #[test]
    fn nginx_lines_refused_ipv6_noise_and_timeouts() {
        let log = "2026/01/01 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, request: \"GET /websocket?version=17.0-1 HTTP/1.1\", upstream: \"http://127.0.0.1:8072/websocket?version=17.0-1\"\n\
            2026/01/01 [error] 7#7: *2 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, request: \"GET / HTTP/1.1\", upstream: \"http://[::1]:8069/\"\n\
            2026/01/01 [error] 7#7: *3 upstream timed out (110: Connection timed out) while reading response header from upstream, request: \"GET /websocket HTTP/1.1\"\n";
        let f = found(log);
        assert!(f.contains(&(Level::Failure, Some(4), Some(1))), "{f:?}");
        assert!(f.contains(&(Level::Info, Some(24), Some(2))), "{f:?}");
        assert!(f.contains(&(Level::Failure, Some(11), Some(3))), "{f:?}");
        let apache = "[proxy:error] [pid 9] (111)Connection refused: AH00957: WS: attempt to connect to 127.0.0.1:8072 (127.0.0.1) failed\n";
        assert!(found(apache).contains(&(Level::Failure, Some(4), Some(1))));
    }

    #[test]
    fn a_websocket_exception_is_named_by_the_end_of_its_traceback() {
        // As a real Odoo 19 logs an 18-shaped update_presence.
        let log = "2026-12-06 02:11:44,137 3713 ERROR odoo19 odoo.addons.bus.websocket: Exception occurred during websocket request handling \n\
            Traceback (most recent call last):\n\
            \x20 File \"/odoo/addons/bus/websocket.py\", line 1115, in _serve_forever\n\
            TypeError: IrWebsocket._update_mail_presence() got an unexpected keyword argument 'im_status_ids_by_model'\n\
            2026-12-06 02:11:45,645 3713 INFO odoo19 werkzeug: done\n";
        let all = check("odoo.log", log);
        let f = all.iter().find(|f| f.cause == Some(22)).expect("F22");
        assert_eq!((f.level, f.line), (Level::Warning, Some(1)));
        assert!(f.what.contains("im_status_ids_by_model"), "{}", f.what);
    }

    #[test]
    fn a_healthy_log_says_what_it_read() {
        let log = "1 INFO ? odoo: Odoo version 18.0\n1 INFO ? odoo.service.server: Evented Service (longpolling) running on 127.0.0.1:8072\n1 INFO db werkzeug: 127.0.0.1 - - [x] \"GET /websocket HTTP/1.1\" 101 - 1 0.0 0.0\n";
        let all = check("odoo.log", log);
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(
            all[0].what.contains("websocket upgrades answered 101: 1"),
            "{}",
            all[0].what
        );
        assert!(all[0].what.contains("no known realtime failure"));
    }
}
