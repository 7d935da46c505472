//! odoo.conf: a small INI reader (Odoo reads it with Python's `RawConfigParser`: `[options]`,
//! `key = value` or `key: value`, `;`/`#` comment lines, indented continuation lines, no inline
//! comments) and the realtime pitfalls it can show on its own. Owns the defaults Odoo applies
//! to the options that matter here; the proxy checks ask it for [`OdooFacts`].

use std::collections::HashMap;

use super::Finding;
use crate::doctor::check::Level;

/// Odoo's defaults (odoo/tools/config.py, 16–19).
pub const DEFAULT_HTTP_PORT: u16 = 8069;
pub const DEFAULT_GEVENT_PORT: u16 = 8072;
const DEFAULT_DB_MAXCONN: i64 = 64;
const DEFAULT_CRON_THREADS: i64 = 2;
/// PostgreSQL's default `max_connections`.
const PG_DEFAULT_MAX_CONNECTIONS: i64 = 100;
/// Below this, a burst of sockets exhausts the gevent cursor pool: on a real 17.0 with
/// `db_maxconn_gevent = 6`, 45 of 50 simultaneous upgrades got HTTP 500 (`PoolError`).
const SMALL_GEVENT_POOL: i64 = 10;

/// One parsed odoo.conf.
#[derive(Debug, Clone)]
pub struct OdooConf {
    pub file: String,
    /// Key (lower case) → (value, line) in `[options]` (or before any section, for pasted
    /// snippets); the last assignment wins, as in ConfigParser.
    values: HashMap<String, (String, usize)>,
    /// Lines that are not `key = value`.
    bad_lines: Vec<usize>,
}

/// What the proxy checks need from odoo.conf.
#[derive(Debug, Clone)]
pub struct OdooFacts {
    pub file: String,
    /// `workers` and its line; `None` when unset (0: threaded).
    pub workers: i64,
    pub workers_line: Option<usize>,
    pub http_port: u16,
    pub gevent_port: u16,
    pub gevent_port_line: Option<usize>,
    pub proxy_mode: bool,
    pub proxy_mode_line: Option<usize>,
    /// The line of a `dbfilter` that uses the request's host (`%h`, `%d`): then the Host Odoo
    /// sees picks the database.
    pub host_dbfilter: Option<usize>,
}

impl OdooFacts {
    /// `odoo.conf:4` for the `workers` line, or the file.
    pub fn workers_place(&self) -> String {
        match self.workers_line {
            Some(l) => format!("{}:{l}", self.file),
            None => format!("{} (workers unset)", self.file),
        }
    }
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

impl OdooConf {
    pub fn parse(file: &str, text: &str) -> OdooConf {
        let mut values = HashMap::new();
        let mut bad_lines = Vec::new();
        let mut in_options = true;
        let mut last_key: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim_end();
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // A continuation of the previous value.
                if let (true, Some(k)) = (in_options, &last_key)
                    && let Some((v, _)) = values.get_mut(k)
                {
                    let v: &mut String = v;
                    v.push('\n');
                    v.push_str(trimmed);
                }
                continue;
            }
            if let Some(section) = trimmed.strip_prefix('[') {
                in_options = section.trim_end_matches(']').trim() == "options";
                last_key = None;
                continue;
            }
            if !in_options {
                continue;
            }
            let Some(at) = trimmed.find(['=', ':']) else {
                bad_lines.push(n);
                continue;
            };
            let key = trimmed[..at].trim().to_ascii_lowercase();
            let value = trimmed[at + 1..].trim().to_string();
            values.insert(key.clone(), (value, n));
            last_key = Some(key);
        }
        OdooConf {
            file: file.to_string(),
            values,
            bad_lines,
        }
    }

    /// The value and line of an option as written.
    pub fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.values.get(key).map(|(v, l)| (v.as_str(), *l))
    }

    /// A number, when the option is set to one (`None` also for `False`/`None`, Odoo's unset).
    fn int(&self, key: &str) -> Option<(i64, usize)> {
        let (v, l) = self.get(key)?;
        v.trim().parse().ok().map(|n| (n, l))
    }

    pub fn facts(&self) -> OdooFacts {
        let (workers, workers_line) = match self.int("workers") {
            Some((n, l)) => (n, Some(l)),
            None => (0, self.get("workers").map(|(_, l)| l)),
        };
        // 16 and 17 still read the old name as the gevent port.
        let gevent = self
            .int("gevent_port")
            .or_else(|| self.int("longpolling_port"));
        let port = |n: i64| u16::try_from(n).ok().filter(|p| *p != 0);
        OdooFacts {
            file: self.file.clone(),
            workers,
            workers_line,
            http_port: self
                .int("http_port")
                .and_then(|(n, _)| port(n))
                .unwrap_or(DEFAULT_HTTP_PORT),
            gevent_port: gevent
                .and_then(|(n, _)| port(n))
                .unwrap_or(DEFAULT_GEVENT_PORT),
            gevent_port_line: gevent.map(|(_, l)| l),
            proxy_mode: self.get("proxy_mode").is_some_and(|(v, _)| truthy(v)),
            proxy_mode_line: self.get("proxy_mode").map(|(_, l)| l),
            host_dbfilter: self
                .get("dbfilter")
                .filter(|(v, _)| v.contains("%h") || v.contains("%d"))
                .map(|(_, l)| l),
        }
    }

    /// What odoo.conf shows on its own; `proxied` when a proxy config was given too (then
    /// `proxy_mode` off is a warning, not a remark).
    pub fn check(&self, proxied: bool) -> Vec<Finding> {
        let f = self.facts();
        let file = self.file.as_str();
        let mut out = Vec::new();
        let at = |key: &str| self.get(key).map(|(_, l)| l);

        for &n in &self.bad_lines {
            out.push(
                Finding::new(Level::Warning, None, file, Some(n))
                    .what("not a `key = value` line: Odoo refuses to start on it")
                    .fix("write options as `key = value` under `[options]`"),
            );
        }
        for key in [
            "workers",
            "gevent_port",
            "http_port",
            "db_maxconn",
            "db_maxconn_gevent",
        ] {
            if let Some((v, l)) = self.get(key)
                && self.int(key).is_none()
                && !matches!(v, "False" | "None" | "")
            {
                out.push(
                    Finding::new(Level::Warning, None, file, Some(l))
                        .what(format!(
                            "`{key} = {v}` is not a number (no inline comments in odoo.conf)"
                        ))
                        .fix(format!("write a plain number: `{key} = 4`")),
                );
            }
        }

        let pool = self.int("db_maxconn_gevent").filter(|(n, _)| *n > 0);
        let maxconn = self
            .int("db_maxconn")
            .map_or(DEFAULT_DB_MAXCONN, |(n, _)| n);
        let mode = if f.workers > 0 {
            format!(
                "workers = {} (prefork: websockets are served only by the gevent process on port {})",
                f.workers, f.gevent_port
            )
        } else {
            format!(
                "workers = 0 (threaded: websockets are served on the HTTP port {}; no gevent process)",
                f.http_port
            )
        };
        let pool_text = match (f.workers > 0, pool) {
            (false, _) => String::new(),
            (true, Some((n, _))) => format!(", gevent cursor pool {n}"),
            (true, None) => format!(", gevent cursor pool {maxconn} (db_maxconn)"),
        };
        out.push(Finding::new(Level::Ok, None, file, None).what(format!(
            "{mode}, proxy_mode {}{pool_text}",
            if f.proxy_mode { "on" } else { "off" }
        )));

        if let Some((_, l)) = self.get("longpolling_port") {
            out.push(
                Finding::new(Level::Warning, Some(2), file, Some(l))
                    .what("`longpolling_port` is the name from before Odoo 16: 16 and 17 read it as `gevent_port` (deprecated), 18 and later ignore it and listen on 8072")
                    .fix("rename it `gevent_port` and route `location /websocket` (not /longpolling) to that port"),
            );
        }

        if f.workers > 0 {
            let iface = self.get("http_interface");
            let open = iface
                .is_none_or(|(v, _)| matches!(v.trim(), "" | "0.0.0.0" | "::" | "False" | "None"));
            if open {
                out.push(
                    Finding::new(Level::Warning, Some(1), file, iface.map(|(_, l)| l).or(f.workers_line))
                        .what(format!(
                            "the HTTP port {} listens on all interfaces: a browser that reaches it directly (not through the proxy) sends its websocket to an HTTP worker, which fails with \"Couldn't bind the websocket\"",
                            f.http_port
                        ))
                        .fix("behind a proxy on the same host set `http_interface = 127.0.0.1` (in containers: publish only the proxy's port)"),
                );
            }
            if f.gevent_port == f.http_port {
                out.push(
                    Finding::new(Level::Failure, Some(1), file, f.gevent_port_line)
                        .what(format!("gevent_port and http_port are both {}: the gevent process cannot listen", f.http_port))
                        .fix("give the gevent process its own port: `gevent_port = 8072`"),
                );
            }
            if let Some((n, l)) = pool
                && n < SMALL_GEVENT_POOL
            {
                out.push(
                    Finding::new(Level::Warning, Some(10), file, Some(l))
                        .what(format!(
                            "db_maxconn_gevent = {n}: every websocket takes a cursor from this pool to handle a message, so a burst of sockets (a restart, a busy hour) exhausts it: upgrades answer HTTP 500 and sockets close with 1013 (`PoolError: The Connection Pool Is Full` in the log)"
                        ))
                        .fix("raise db_maxconn_gevent (tens of connections for tens of concurrent users) and keep the total under PostgreSQL's max_connections"),
                );
            }
            let cron = self
                .int("max_cron_threads")
                .map_or(DEFAULT_CRON_THREADS, |(n, _)| n);
            let gevent = pool.map_or(maxconn, |(n, _)| n);
            let total = (f.workers + cron) * maxconn + gevent;
            if total > PG_DEFAULT_MAX_CONNECTIONS {
                out.push(
                    Finding::new(Level::Warning, Some(10), file, at("db_maxconn").or(at("db_maxconn_gevent")).or(f.workers_line))
                        .what(format!(
                            "up to {total} PostgreSQL connections: ({} workers + {cron} cron) × db_maxconn {maxconn} + the gevent pool {gevent}; more than PostgreSQL's default max_connections ({PG_DEFAULT_MAX_CONNECTIONS}), so under load new connections fail (\"too many clients\") and sockets close with 1013",
                            f.workers
                        ))
                        .fix("lower db_maxconn (Odoo's rule: (workers + max_cron_threads) × db_maxconn < max_connections) or raise max_connections in postgresql.conf"),
                );
            }
        }

        if !f.proxy_mode {
            let (level, what) = if proxied {
                (
                    Level::Warning,
                    "proxy_mode is off while a reverse proxy is in front: Odoo ignores X-Forwarded-Host/-Proto, sees the proxy's Host and http://, and under ODOO_BUS_PUBLIC_SAMESITE_WS downgrades the socket to a public one",
                )
            } else {
                (
                    Level::Info,
                    "proxy_mode is off: right without a reverse proxy; behind one Odoo would see the proxy's Host and scheme",
                )
            };
            out.push(
                Finding::new(level, Some(5), file, f.proxy_mode_line)
                    .what(what)
                    .fix("behind a reverse proxy set `proxy_mode = True` and forward X-Forwarded-Host and X-Forwarded-Proto"),
            );
        }

        let port = self.get("db_port");
        let host = self.get("db_host");
        let pgbouncer = port.is_some_and(|(v, _)| v.trim() == "6432")
            || host.is_some_and(|(v, _)| v.to_ascii_lowercase().contains("pgbouncer"));
        if pgbouncer {
            out.push(
                Finding::new(Level::Warning, Some(6), file, port.or(host).map(|(_, l)| l))
                    .what("the database looks like pgbouncer (port 6432): in transaction pooling mode LISTEN is lost, so notifications arrive only on the next poll or reload")
                    .fix("give the `postgres` database session pooling in pgbouncer (`postgres = host=… pool_mode=session`), or connect Odoo to PostgreSQL directly"),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(found: &[Finding]) -> Vec<(Level, Option<u8>, Option<usize>)> {
        found.iter().map(|f| (f.level, f.cause, f.line)).collect()
    }

    #[test]
    fn reads_options_with_lines_continuations_and_comments() {
        let c = OdooConf::parse(
            "odoo.conf",
            "; a comment\n[options]\naddons_path = /a,\n    /b\nworkers: 3\n# gone\n[other]\nworkers = 9\n",
        );
        assert_eq!(c.get("workers"), Some(("3", 5)));
        assert_eq!(c.get("addons_path"), Some(("/a,\n/b", 3)));
        let f = c.facts();
        assert_eq!((f.workers, f.gevent_port, f.http_port), (3, 8072, 8069));
        assert!(!f.proxy_mode);
    }

    #[test]
    fn old_port_name_is_read_as_the_gevent_port_and_flagged() {
        let c = OdooConf::parse(
            "o",
            "[options]\nworkers = 2\nlongpolling_port = 8077\nproxy_mode = True\nhttp_interface = 127.0.0.1\n",
        );
        assert_eq!(c.facts().gevent_port, 8077);
        assert!(causes(&c.check(true)).contains(&(Level::Warning, Some(2), Some(3))));
    }

    #[test]
    fn prefork_pitfalls_are_named_with_their_lines() {
        let c = OdooConf::parse(
            "o",
            "[options]\nworkers = 4\ndb_maxconn_gevent = 4\ndb_port = 6432\n",
        );
        let found = causes(&c.check(true));
        assert!(
            found.contains(&(Level::Warning, Some(1), Some(2))),
            "{found:?}"
        );
        assert!(
            found.contains(&(Level::Warning, Some(10), Some(3))),
            "{found:?}"
        );
        // (4 + 2) × 64 + 4 > 100
        assert!(
            found.iter().filter(|f| f.1 == Some(10)).count() == 2,
            "{found:?}"
        );
        assert!(
            found.contains(&(Level::Warning, Some(6), Some(4))),
            "{found:?}"
        );
        assert!(
            found.contains(&(Level::Warning, Some(5), None)),
            "{found:?}"
        );
    }

    #[test]
    fn a_threaded_local_setup_has_nothing_to_warn_about() {
        let c = OdooConf::parse("o", "[options]\nworkers = 0\nproxy_mode = True\n");
        let found = c.check(true);
        assert!(found.iter().all(|f| f.level <= Level::Info), "{found:?}");
        let c = OdooConf::parse(
            "o",
            "[options]\nworkers = 2 ; four\ngevent_port = 8069\nhttp_interface = 127.0.0.1\nproxy_mode = True\n",
        );
        let found = causes(&c.check(false));
        assert!(
            found.contains(&(Level::Warning, None, Some(2))),
            "{found:?}"
        );
    }
}
