//! nginx configs: the realtime pitfalls of the server blocks that proxy to Odoo, read from the
//! directives [`super::nginx_syntax`] parses (with their files and lines).
//!
//! The rules of nginx this relies on (nginx docs, "ngx_http_core_module" / "proxy_module"):
//! - a location is chosen for `/websocket` by exact match, then the longest prefix (final if
//!   `^~`), then the first matching regex, else that longest prefix;
//! - `proxy_set_header` is inherited from the enclosing level **only when the level sets none
//!   of its own**: one `proxy_set_header` in `location /websocket` drops every server-level one
//!   (the header-inheritance trap, F5);
//! - other directives (`proxy_http_version`, `ssi`, `proxy_read_timeout`, `auth_basic`) are
//!   inherited one by one; `proxy_pass` is not inherited at all.

use std::path::Path;

use super::nginx_syntax::{Directive, expand, parse};
use super::odoo_conf::OdooFacts;
use super::{Finding, Reader};
use crate::doctor::check::Level;
use odoo_bus_core::bus::poll;

/// A location's match rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modifier {
    Prefix,
    /// `^~`: a prefix that stops the regex search.
    PrefixFinal,
    Exact,
    Regex {
        case_insensitive: bool,
    },
    Named,
}

fn location_rule(d: &Directive) -> (Modifier, &str) {
    match (d.arg(0), d.args.len()) {
        ("=", 2) => (Modifier::Exact, d.arg(1)),
        ("^~", 2) => (Modifier::PrefixFinal, d.arg(1)),
        ("~", 2) => (
            Modifier::Regex {
                case_insensitive: false,
            },
            d.arg(1),
        ),
        ("~*", 2) => (
            Modifier::Regex {
                case_insensitive: true,
            },
            d.arg(1),
        ),
        (a, _) if a.starts_with('@') => (Modifier::Named, a),
        (a, _) => (Modifier::Prefix, a),
    }
}

/// The location nginx picks for `uri` among a server's locations.
fn select<'a>(locations: &[&'a Directive], uri: &str) -> Option<&'a Directive> {
    let mut longest: Option<(&Directive, Modifier, usize)> = None;
    for d in locations {
        let (m, path) = location_rule(d);
        match m {
            Modifier::Exact if path == uri => return Some(d),
            Modifier::Prefix | Modifier::PrefixFinal
                if uri.starts_with(path) && longest.is_none_or(|(_, _, n)| path.len() > n) =>
            {
                longest = Some((d, m, path.len()));
            }
            _ => {}
        }
    }
    if let Some((d, Modifier::PrefixFinal, _)) = longest {
        return Some(d);
    }
    for d in locations {
        if let (Modifier::Regex { case_insensitive }, pattern) = location_rule(d) {
            let pattern = if case_insensitive {
                format!("(?i){pattern}")
            } else {
                pattern.to_string()
            };
            if regex_lite::Regex::new(&pattern).is_ok_and(|r| r.is_match(uri)) {
                return Some(d);
            }
        }
    }
    longest.map(|(d, _, _)| d)
}

/// Where a `proxy_pass` sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// As written (`http://odoochat`).
    written: String,
    /// The address: the upstream's first server, or the URL's host:port.
    host: String,
    port: Option<u16>,
    file: String,
    line: usize,
}

impl Target {
    fn describe(&self) -> String {
        let addr = match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        if self.written.contains(&addr) {
            self.written.clone()
        } else {
            format!("{} ({addr})", self.written)
        }
    }

    fn loopback(&self) -> bool {
        matches!(
            self.host.as_str(),
            "127.0.0.1" | "localhost" | "[::1]" | "::1"
        )
    }
}

/// `host:port` → (host, port).
fn split_addr(addr: &str, default_port: Option<u16>) -> (String, Option<u16>) {
    let addr = addr.trim_start_matches("unix:");
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (format!("[{host}]"), port.or(default_port));
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse().ok())
        }
        _ => (addr.to_string(), default_port),
    }
}

/// The whole parsed config, with what the checks look up across it.
struct Config<'a> {
    /// `upstream` name → its first `server` address.
    upstreams: Vec<(&'a str, &'a Directive)>,
    /// Every proxy_pass host that is a name (not an IP, not localhost, not an upstream).
    named_hosts: Vec<String>,
}

fn walk<'a>(dirs: &'a [Directive], f: &mut dyn FnMut(&'a Directive)) {
    for d in dirs {
        f(d);
        walk(d.children(), f);
    }
}

impl<'a> Config<'a> {
    fn new(all: &'a [Directive]) -> Self {
        let mut upstreams = Vec::new();
        walk(all, &mut |d| {
            if d.name == "upstream"
                && let Some(s) = d.children().iter().find(|c| c.name == "server")
            {
                upstreams.push((d.arg(0), s));
            }
        });
        let mut config = Config {
            upstreams,
            named_hosts: Vec::new(),
        };
        let mut named = Vec::new();
        walk(all, &mut |d| {
            if d.name == "proxy_pass"
                && let Some(t) = config.target(d)
                && !t.loopback()
                && t.host.parse::<std::net::IpAddr>().is_err()
                && !t.host.starts_with('[')
                && !t.host.contains('$')
            {
                named.push(t.host);
            }
        });
        config.named_hosts = named;
        config
    }

    fn target(&self, proxy_pass: &Directive) -> Option<Target> {
        let url = proxy_pass.arg(0);
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let default = if scheme == "https" { 443 } else { 80 };
        let (host, port) = match self.upstreams.iter().find(|(n, _)| *n == authority) {
            Some((_, server)) => split_addr(server.arg(0), Some(80)),
            None => split_addr(authority, Some(default)),
        };
        Some(Target {
            written: url.to_string(),
            host,
            port,
            file: proxy_pass.file.clone(),
            line: proxy_pass.line,
        })
    }
}

/// The innermost directive `name` along `levels` (outermost first): nginx's inheritance.
fn effective<'a>(levels: &[&'a [Directive]], name: &str) -> Option<&'a Directive> {
    levels
        .iter()
        .rev()
        .find_map(|l| l.iter().rev().find(|d| d.name == name))
}

/// The `proxy_set_header`s that apply: those of the innermost level that sets any, and that
/// level's index.
fn headers<'a>(levels: &[&'a [Directive]]) -> (Option<usize>, Vec<&'a Directive>) {
    for (i, l) in levels.iter().enumerate().rev() {
        let set: Vec<&Directive> = l.iter().filter(|d| d.name == "proxy_set_header").collect();
        if !set.is_empty() {
            return (Some(i), set);
        }
    }
    (None, Vec::new())
}

fn header<'a>(set: &[&'a Directive], name: &str) -> Option<&'a Directive> {
    set.iter()
        .rev()
        .find(|d| d.arg(0).eq_ignore_ascii_case(name))
        .copied()
}

/// Headers Odoo needs forwarded; dropping any of them is what the inheritance trap costs.
const FORWARDED: &[&str] = &[
    "Host",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Real-IP",
    "Upgrade",
    "Connection",
];

/// nginx time (`720s`, `1m`, `60`, `500ms`) in seconds.
fn seconds(v: &str) -> Option<f64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    })
}

fn at(d: &Directive) -> String {
    format!("{}:{}", d.file, d.line)
}

/// `line 12` inside `file`, or `other.conf:12` for a directive from an include.
fn at_in(d: &Directive, file: &str) -> String {
    if d.file == file {
        format!("line {}", d.line)
    } else {
        at(d)
    }
}

fn location_text(d: &Directive) -> String {
    format!("`location {}`", d.args.join(" "))
}

/// Every finding for one nginx config; `odoo` is odoo.conf's facts when it was given too.
pub fn check(
    file: &str,
    path: Option<&Path>,
    text: &str,
    odoo: Option<&OdooFacts>,
    read: Reader<'_>,
) -> Vec<Finding> {
    let mut notes = Vec::new();
    let parsed = parse(text, file, &mut notes);
    let all = expand(parsed, path.and_then(Path::parent), read, 0, &mut notes);
    let mut out: Vec<Finding> = notes
        .iter()
        .map(|n| {
            let level = if n.text.contains("was not read") {
                Level::Info
            } else {
                Level::Warning
            };
            Finding::new(level, None, &n.file, Some(n.line)).what(n.text.clone())
        })
        .collect();
    let config = Config::new(&all);

    // The http level: an `http` block's contents, or the top of a site file (which nginx
    // includes inside `http`).
    let http: Vec<&[Directive]> = {
        let blocks: Vec<&[Directive]> = all
            .iter()
            .filter(|d| d.name == "http")
            .map(Directive::children)
            .collect();
        if blocks.is_empty() {
            vec![all.as_slice()]
        } else {
            blocks
        }
    };
    let mut servers: Vec<(&[Directive], &[Directive], Option<&Directive>)> = Vec::new();
    for h in &http {
        for s in h.iter().filter(|d| d.name == "server" && d.block.is_some()) {
            servers.push((h, s.children(), Some(s)));
        }
        // A pasted fragment: locations without their server.
        if h.iter().any(|d| d.name == "location") {
            servers.push((h, h, None));
        }
    }
    let proxies = |dirs: &[Directive]| {
        let mut any = false;
        walk(dirs, &mut |d| any |= d.name == "proxy_pass");
        any
    };
    let relevant: Vec<_> = servers.into_iter().filter(|(_, s, _)| proxies(s)).collect();
    if relevant.is_empty() {
        out.push(
            Finding::new(Level::Warning, None, file, None)
                .what("no server block here proxies to anything (no proxy_pass): give the file with the server block that serves Odoo")
                .fix("on Debian/Ubuntu it is usually in /etc/nginx/sites-enabled/; `nginx -T` prints the whole config"),
        );
        return out;
    }
    let mut summary = Vec::new();
    for (h, s, opener) in relevant {
        let server_name = s
            .iter()
            .find(|d| d.name == "server_name")
            .map(|d| d.args.join(" "))
            .unwrap_or_else(|| "_".into());
        let where_ = opener.map_or_else(|| "locations only".to_string(), |o| at_in(o, file));
        let found = check_server(&config, h, s, opener, file, odoo);
        summary.push(format!("server {server_name} ({where_}): {}", found.0));
        out.extend(found.1);
    }
    out.push(
        Finding::new(Level::Ok, None, file, None).what(format!("nginx: {}", summary.join("; "))),
    );
    out
}

/// What the checks of one server block share.
struct Ws<'a> {
    config: &'a Config<'a>,
    server: &'a [Directive],
    /// http, server, the chosen location: the levels nginx inherits directives through.
    levels: Vec<&'a [Directive]>,
    /// The location nginx picks for /websocket.
    chosen: &'a Directive,
    /// `chosen`, when it is a websocket location (not a catch-all).
    dedicated: Option<&'a Directive>,
    root: Option<&'a Directive>,
    longpolling: Option<&'a Directive>,
    target: Option<Target>,
    file: &'a str,
    server_file: &'a str,
    server_line: Option<usize>,
    odoo: Option<&'a OdooFacts>,
    /// An `include` in the server block was not read: what it might set is unknown.
    unread_include: bool,
}

impl Ws<'_> {
    /// A failure an unread include might fix is only a warning.
    fn soften(&self, level: Level) -> Level {
        if self.unread_include && level == Level::Failure {
            Level::Warning
        } else {
            level
        }
    }
}

/// One server block: a one-line summary of its /websocket route, and its findings.
fn check_server(
    config: &Config<'_>,
    http: &[Directive],
    server: &[Directive],
    opener: Option<&Directive>,
    file: &str,
    odoo: Option<&OdooFacts>,
) -> (String, Vec<Finding>) {
    let mut out = Vec::new();
    let locations: Vec<&Directive> = server.iter().filter(|d| d.name == "location").collect();
    let unread_include = server
        .iter()
        .any(|d| d.name == "include" && d.block.is_none());
    let server_file = opener.map_or(file, |o| o.file.as_str());
    let server_line = opener.map(|o| o.line);
    let chosen = select(&locations, "/websocket");
    let root = select(&locations, "/");
    let longpolling = locations
        .iter()
        .find(|d| location_rule(d).1.contains("longpolling"))
        .copied();
    let dedicated = chosen.filter(|d| location_rule(d).1.contains("websocket"));

    if let Some(slash) = locations
        .iter()
        .find(|d| location_rule(d).1 == "/websocket/")
        .filter(|_| dedicated.is_none())
    {
        out.push(
            Finding::new(Level::Failure, Some(2), &slash.file, Some(slash.line))
                .what(format!(
                    "{} does not match Odoo's /websocket (no trailing slash): nginx answers /websocket with a 301 redirect to /websocket/, and websockets do not follow redirects",
                    location_text(slash)
                ))
                .fix("write `location /websocket {` without the trailing slash"),
        );
    }

    let Some(chosen) = chosen else {
        out.push(
            Finding::new(
                if unread_include { Level::Warning } else { Level::Failure },
                Some(2),
                server_file,
                server_line,
            )
                .what("no location serves /websocket (and no `location /`): nginx answers the upgrade with 404")
                .fix(format!("add a websocket location: {}", ws_location(odoo))),
        );
        return ("/websocket → nothing (404)".into(), out);
    };
    let target = chosen
        .children()
        .iter()
        .find(|d| d.name == "proxy_pass")
        .and_then(|d| config.target(d));
    let route = format!(
        "/websocket → {} ({}){}",
        location_text(chosen),
        at_in(chosen, file),
        target
            .as_ref()
            .map(|t| format!(" → {}", t.describe()))
            .unwrap_or_default()
    );

    let w = Ws {
        config,
        server,
        levels: vec![http, server, chosen.children()],
        chosen,
        dedicated,
        root,
        longpolling,
        target,
        file,
        server_file,
        server_line,
        odoo,
        unread_include,
    };
    route_findings(&w, &mut out);
    header_findings(&w, &mut out);
    filter_findings(&w, &mut out);
    (route, out)
}

/// Which process gets the websocket: the location, the port against odoo.conf, containers.
fn route_findings(w: &Ws<'_>, out: &mut Vec<Finding>) {
    let config = w.config;
    let chosen = w.chosen;
    let dedicated = w.dedicated;
    let root = w.root;
    let longpolling = w.longpolling;
    let odoo = w.odoo;
    let file = w.file;
    let server_file = w.server_file;
    let server_line = w.server_line;
    let target = &w.target;
    let soften = |level| w.soften(level);
    // Which process gets the websocket.
    let port = target.as_ref().and_then(|t| t.port);
    if dedicated.is_none() {
        let via = format!(
            "/websocket falls to {} ({}){}",
            location_text(chosen),
            at_in(chosen, file),
            target
                .as_ref()
                .map(|t| format!(" → {}", t.describe()))
                .unwrap_or_default()
        );
        let prefork = odoo.filter(|o| o.workers > 0);
        if let Some(lp) = longpolling {
            let level = if odoo.is_some_and(|o| o.workers == 0) {
                Level::Warning
            } else {
                soften(Level::Failure)
            };
            out.push(
                Finding::new(level, Some(2), &lp.file, Some(lp.line))
                    .what(format!(
                        "{} and no `location /websocket`: the /longpolling route is gone since Odoo 16, so this rule does nothing and {via}",
                        location_text(lp)
                    ))
                    .fix(format!(
                        "replace it with a websocket location: {}",
                        ws_location(odoo)
                    )),
            );
        } else if let Some(o) = prefork {
            if port != Some(o.gevent_port) {
                out.push(
                    Finding::new(soften(Level::Failure), Some(1), &chosen.file, Some(chosen.line))
                        .what(format!(
                            "no `location /websocket`: {via}, the HTTP workers, but workers = {} ({}) means only the gevent process (port {}) serves websockets: Odoo logs \"Couldn't bind the websocket\" and the upgrade fails",
                            o.workers,
                            o.workers_place(),
                            o.gevent_port
                        ))
                        .fix(format!("add {}", ws_location(odoo))),
                );
            }
        } else if odoo.is_none() {
            out.push(
                Finding::new(Level::Warning, Some(2), server_file, server_line)
                    .what(format!(
                        "no `location /websocket`: {via}; that works only when Odoo runs threaded (workers = 0); with workers > 0 the websocket must reach the gevent port (8072)"
                    ))
                    .fix(format!(
                        "add {} (give --odoo-conf to check the workers)",
                        ws_location(odoo)
                    )),
            );
        }
    } else if let (Some(o), Some(t), Some(p)) = (odoo, &target, port) {
        if o.workers > 0 && p != o.gevent_port {
            let level = if p == o.http_port {
                Level::Failure
            } else {
                Level::Warning
            };
            out.push(
                Finding::new(level, Some(1), &t.file, Some(t.line))
                    .what(format!(
                        "{} sends /websocket to port {p}, but with workers = {} ({}) websockets are served only by the gevent process on port {}{}",
                        location_text(chosen),
                        o.workers,
                        o.workers_place(),
                        o.gevent_port,
                        if p == o.http_port {
                            ": Odoo's HTTP workers answer \"Couldn't bind the websocket\""
                        } else {
                            ""
                        }
                    ))
                    .fix(format!("proxy_pass /websocket to the gevent port {}", o.gevent_port)),
            );
        } else if o.workers <= 0 && p == o.gevent_port && p != o.http_port {
            out.push(
                Finding::new(Level::Failure, Some(4), &t.file, Some(t.line))
                    .what(format!(
                        "{} sends /websocket to the gevent port {p}, but workers = 0 ({}) starts no gevent process: nginx answers 502 (connect() failed (111))",
                        location_text(chosen),
                        o.workers_place()
                    ))
                    .fix(format!(
                        "either set `workers` > 0 in odoo.conf, or (threaded) send /websocket to the HTTP port {}",
                        o.http_port
                    )),
            );
        }
    } else if let (None, Some(t), Some(p)) = (odoo, &target, port) {
        let root_port = root
            .and_then(|r| r.children().iter().find(|d| d.name == "proxy_pass"))
            .and_then(|d| config.target(d))
            .and_then(|t| t.port);
        if root_port == Some(p) && root.is_some_and(|r| !std::ptr::eq(r, chosen)) {
            out.push(
                Finding::new(Level::Warning, Some(1), &t.file, Some(t.line))
                    .what(format!(
                        "{} sends /websocket to port {p}, the same as `location /`: right for a threaded Odoo (workers = 0); with workers > 0 the HTTP workers answer \"Couldn't bind the websocket\"",
                        location_text(chosen)
                    ))
                    .fix("with workers > 0 proxy_pass /websocket to the gevent port (8072); give --odoo-conf to check"),
            );
        }
    }

    // The rest of Odoo on another port than odoo.conf's: another instance behind the proxy.
    if let Some(o) = odoo
        && let Some(r) = root.filter(|r| !std::ptr::eq(*r, chosen) || dedicated.is_none())
        && let Some(t) = r
            .children()
            .iter()
            .find(|d| d.name == "proxy_pass")
            .and_then(|d| config.target(d))
        && let Some(p) = t.port
        && p != o.http_port
        && p != o.gevent_port
    {
        out.push(
            Finding::new(Level::Warning, Some(20), &t.file, Some(t.line))
                .what(format!(
                    "{} sends Odoo's pages to port {p}, but odoo.conf ({}) has http_port {}: the proxy may point at another Odoo instance (or the ports are remapped by a container)",
                    location_text(r),
                    o.file,
                    o.http_port
                ))
                .fix("make the proxy's ports match this instance's http_port and gevent_port"),
        );
    }

    // Containers: 127.0.0.1 inside nginx's container is nginx itself.
    if let Some(t) = target.as_ref().filter(|t| t.loopback())
        && let Some(name) = config.named_hosts.first()
    {
        out.push(
            Finding::new(Level::Failure, Some(4), &t.file, Some(t.line))
                .what(format!(
                    "/websocket goes to {} while other routes go to `{name}` (a container or service name): inside nginx's container 127.0.0.1 is nginx itself, so the upgrade gets 502 (connect() failed (111))",
                    t.describe()
                ))
                .fix(format!(
                    "use the service name for the websocket too: `proxy_pass http://{name}:8072;`"
                )),
        );
    }
    if let Some(t) = target.as_ref().filter(|t| t.host == "localhost") {
        out.push(
            Finding::new(Level::Info, Some(24), &t.file, Some(t.line))
                .what("the upstream is `localhost`: nginx tries ::1 as well as 127.0.0.1, so with Odoo on IPv4 only its error.log fills with harmless `connect() failed (111) … upstream: \"http://[::1]:…\"` lines")
                .fix("write 127.0.0.1 instead of localhost to silence them; they are not the cause of a realtime failure"),
        );
    }
    if let (Some(lp), Some(_)) = (longpolling, dedicated) {
        out.push(
            Finding::new(Level::Info, Some(2), &lp.file, Some(lp.line))
                .what(format!(
                    "{} is left from Odoo 15 or older: it does nothing since 16 (harmless next to the /websocket location)",
                    location_text(lp)
                ))
                .fix("remove it"),
        );
    }
}

/// The upgrade headers, the forwarded ones, and the inheritance trap.
fn header_findings(w: &Ws<'_>, out: &mut Vec<Finding>) {
    let server = w.server;
    let chosen = w.chosen;
    let odoo = w.odoo;
    let levels = &w.levels;
    let soften = |level| w.soften(level);
    // The upgrade headers, and the inheritance trap.
    let (level_index, set) = headers(levels);
    let version = effective(levels, "proxy_http_version");
    let mut missing = Vec::new();
    let old_http = version.is_none_or(|d| d.arg(0) != "1.1");
    if old_http {
        missing.push("proxy_http_version 1.1;".to_string());
    }
    if header(&set, "Upgrade").is_none_or(|d| {
        !d.arg(1).to_ascii_lowercase().contains("upgrade")
            && !d.arg(1).eq_ignore_ascii_case("websocket")
    }) {
        missing.push("proxy_set_header Upgrade $http_upgrade;".to_string());
    }
    if header(&set, "Connection").is_none_or(|d| !d.arg(1).to_ascii_lowercase().contains("upgrade"))
    {
        missing.push("proxy_set_header Connection $connection_upgrade;".to_string());
    }
    // A fixed `Connection: upgrade` also goes with the plain POSTs under /websocket, which
    // Odoo's gevent process then reads to the end of the connection (poll::HELD_POST_CAUSE):
    // only where that process serves /websocket (workers > 0, or odoo.conf not given).
    if let Some(d) = header(&set, "Connection")
        .filter(|d| !d.arg(1).starts_with('$') && d.arg(1).eq_ignore_ascii_case("upgrade"))
        && odoo.is_none_or(|o| o.workers > 0)
    {
        out.push(
            Finding::new(Level::Info, None, &d.file, Some(d.line))
                .what(format!(
                    "{} always sends `Connection: upgrade`: browsers' websockets work, but Odoo's gevent process (workers > 0) then holds every plain POST under /websocket, so `odoo-bus tail --transport poll` (and its fallback) hangs",
                    location_text(chosen)
                ))
                .fix(poll::HELD_POST_FIX),
        );
    }
    // What an enclosing level sets but the location's own list drops.
    let mut dropped: Vec<&Directive> = Vec::new();
    if level_index == Some(2) {
        let (_, outer) = headers(&levels[..2]);
        for d in outer {
            let name = d.arg(0);
            if FORWARDED.iter().any(|f| f.eq_ignore_ascii_case(name))
                && header(&set, name).is_none()
                && !dropped.iter().any(|x| x.arg(0).eq_ignore_ascii_case(name))
            {
                dropped.push(d);
            }
        }
    }
    if missing.len() == 1 && old_http {
        // Measured through nginx 1.22 on a real Odoo 18 (threaded and gevent): with Upgrade
        // and Connection forwarded, an HTTP/1.0 upgrade still gets its 101 and works. Odoo's
        // own deployment doc omits the line.
        out.push(
            Finding::new(Level::Info, Some(3), &chosen.file, Some(chosen.line))
                .what(format!(
                    "{} has no `proxy_http_version 1.1`: nginx speaks HTTP/1.0 to Odoo, which still upgrades since Upgrade and Connection are forwarded (measured on Odoo 18)",
                    location_text(chosen)
                ))
                .fix("nginx's websocket guide asks for `proxy_http_version 1.1;`: add it to be safe with other upstreams"),
        );
        missing.clear();
    }
    if !missing.is_empty() {
        let trap = if dropped
            .iter()
            .any(|d| ["upgrade", "connection"].contains(&d.arg(0).to_ascii_lowercase().as_str()))
        {
            " (the server level sets them, but a proxy_set_header in this location drops every server-level one)"
        } else {
            ""
        };
        out.push(
            Finding::new(soften(Level::Failure), Some(3), &chosen.file, Some(chosen.line))
                .what(format!(
                    "{} does not forward the websocket upgrade{trap}: missing `{}`, so Odoo answers 400 (\"Empty or missing header(s): upgrade\")",
                    location_text(chosen),
                    missing.join(" ").trim_end_matches(';')
                ))
                .fix(format!(
                    "add to {}: {}{}",
                    location_text(chosen),
                    missing.join(" "),
                    if missing.iter().any(|m| m.contains("$connection_upgrade")) {
                        " (with `map $http_upgrade $connection_upgrade { default upgrade; '' close; }` at the http level)"
                    } else {
                        ""
                    }
                )),
        );
    }
    let forwarded: Vec<&&Directive> = dropped
        .iter()
        .filter(|d| !["upgrade", "connection"].contains(&d.arg(0).to_ascii_lowercase().as_str()))
        .collect();
    // Whether a wrong Host breaks the socket: only with a dbfilter on the host, or with
    // ODOO_BUS_PUBLIC_SAMESITE_WS (not visible in the files). Measured: a real Odoo 18
    // without either works through the trap.
    let by_host = odoo.and_then(|o| o.host_dbfilter.map(|l| format!("{}:{l}", o.file)));
    let (level, consequence) = match &by_host {
        Some(at) => (
            soften(Level::Failure),
            format!(
                "the dbfilter ({at}) picks the database from that Host, so the socket is matched to the wrong database (or none)"
            ),
        ),
        None => (
            Level::Warning,
            "that breaks the socket when Odoo runs with ODOO_BUS_PUBLIC_SAMESITE_WS (a public socket: \"Downgrading websocket session\") or a dbfilter on %h/%d; without them realtime still works".to_string(),
        ),
    };
    if !forwarded.is_empty() {
        let first = set.first().copied().unwrap_or(chosen);
        let list = forwarded
            .iter()
            .map(|d| format!("{} (line {})", d.arg(0), d.line))
            .collect::<Vec<_>>()
            .join(", ");
        let repeat = forwarded
            .iter()
            .map(|d| format!("proxy_set_header {} {};", d.arg(0), d.args[1..].join(" ")))
            .collect::<Vec<_>>()
            .join(" ");
        out.push(
            Finding::new(level, Some(5), &first.file, Some(first.line))
                .what(format!(
                    "header-inheritance trap: the proxy_set_header here makes nginx drop every server-level one in {}, so {list} never reach Odoo: proxy_mode does nothing without X-Forwarded-Host and Odoo sees the proxy's Host and scheme; {consequence}",
                    location_text(chosen)
                ))
                .fix(format!("repeat them inside {}: {repeat}", location_text(chosen))),
        );
    } else {
        let tls = server.iter().any(|d| {
            (d.name == "listen" && d.args.iter().any(|a| a == "ssl" || a.ends_with("443")))
                || (d.name == "ssl" && d.arg(0) == "on")
        });
        if header(&set, "X-Forwarded-Host").is_none() {
            let why = match odoo.filter(|o| o.proxy_mode) {
                Some(o) => format!(
                    "proxy_mode = True ({}:{}) does nothing: Odoo applies the forwarded headers only when X-Forwarded-Host is present",
                    o.file,
                    o.proxy_mode_line.unwrap_or(0)
                ),
                None => "Odoo's proxy_mode applies the forwarded headers only when X-Forwarded-Host is present".to_string(),
            };
            out.push(
                Finding::new(level, Some(5), &chosen.file, Some(chosen.line))
                    .what(format!(
                        "{} does not send X-Forwarded-Host: {why}, so Odoo sees the proxy's Host and scheme; {consequence}",
                        location_text(chosen),
                    ))
                    .fix(format!(
                        "in {}: proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; (and proxy_mode = True in odoo.conf)",
                        location_text(chosen)
                    )),
            );
        } else if tls && header(&set, "X-Forwarded-Proto").is_none() {
            out.push(
                Finding::new(Level::Warning, Some(5), &chosen.file, Some(chosen.line))
                    .what(format!(
                        "{} does not send X-Forwarded-Proto on an https server: Odoo sees http://, and with ODOO_BUS_PUBLIC_SAMESITE_WS the https Origin gets a public socket",
                        location_text(chosen),
                    ))
                    .fix(format!(
                        "in {}: proxy_set_header X-Forwarded-Proto $scheme;",
                        location_text(chosen)
                    )),
            );
        }
    }
    // `$host` loses a non-default port that the browser's Origin carries.
    let odd_port = server
        .iter()
        .filter(|d| d.name == "listen")
        .filter_map(|d| {
            split_addr(d.arg(0), None)
                .1
                .or_else(|| d.arg(0).parse().ok())
        })
        .find(|p| *p != 80 && *p != 443);
    if let (Some(p), Some(h)) = (
        odd_port,
        ["X-Forwarded-Host", "Host"]
            .iter()
            .find_map(|n| header(&set, n).filter(|d| d.arg(1) == "$host")),
    ) {
        out.push(
            Finding::new(Level::Warning, Some(5), &h.file, Some(h.line))
                .what(format!(
                    "`proxy_set_header {} $host` drops the port {p} this server listens on, which the browser's Origin carries: Origin and Host differ, and with ODOO_BUS_PUBLIC_SAMESITE_WS the socket is public",
                    h.arg(0)
                ))
                .fix(format!("use $http_host: `proxy_set_header {} $http_host;`", h.arg(0))),
        );
    }
}

/// What sits on the way: SSI, read timeouts, basic auth.
fn filter_findings(w: &Ws<'_>, out: &mut Vec<Finding>) {
    let chosen = w.chosen;
    let levels = &w.levels;
    let soften = |level| w.soften(level);
    if let Some(ssi) = effective(levels, "ssi").filter(|d| d.arg(0) == "on") {
        out.push(
            Finding::new(soften(Level::Failure), Some(8), &ssi.file, Some(ssi.line))
                .what(format!(
                    "`ssi on` applies to {}: nginx's SSI filter holds the 101, so the websocket never opens (the upgrade hangs while plain requests work)",
                    location_text(chosen)
                ))
                .fix(format!("add `ssi off;` to {}", location_text(chosen))),
        );
    }
    if let Some(t) = effective(levels, "proxy_read_timeout")
        && let Some(secs) = seconds(t.arg(0))
        && secs < 60.0
    {
        let level = if secs < 45.0 {
            Level::Failure
        } else {
            Level::Warning
        };
        out.push(
            Finding::new(level, Some(7), &t.file, Some(t.line))
                .what(format!(
                    "proxy_read_timeout {} for {}: an idle websocket is cut {} Odoo's keep-alive ping (after 45 s of silence): \"realtime connection lost\" every minute",
                    t.arg(0),
                    location_text(chosen),
                    if secs < 45.0 { "before" } else { "just after" }
                ))
                .fix("proxy_read_timeout 720s; (as in Odoo's deployment docs)"),
        );
    }
    if let Some(auth) = effective(levels, "auth_basic").filter(|d| d.arg(0) != "off") {
        out.push(
            Finding::new(Level::Warning, Some(21), &auth.file, Some(auth.line))
                .what(format!(
                    "basic auth covers {}: a websocket without the credentials gets 401",
                    location_text(chosen)
                ))
                .fix(format!(
                    "add `auth_basic off;` to {} (Odoo checks the session itself)",
                    location_text(chosen)
                )),
        );
    }
}

/// The websocket location to suggest, with the gevent port odoo.conf gives.
fn ws_location(odoo: Option<&OdooFacts>) -> String {
    let port = match odoo {
        Some(o) if o.workers <= 0 => o.http_port,
        Some(o) => o.gevent_port,
        None => 8072,
    };
    format!(
        "`location /websocket {{ proxy_pass http://127.0.0.1:{port}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }}` (with `map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}` at the http level)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn no_files(_: &Path) -> Vec<(PathBuf, String)> {
        Vec::new()
    }

    fn findings(text: &str) -> Vec<Finding> {
        check("n.conf", None, text, None, &no_files)
    }

    fn has(found: &[Finding], level: Level, cause: u8, line: usize) -> bool {
        found
            .iter()
            .any(|f| f.level == level && f.cause == Some(cause) && f.line == Some(line))
    }

    #[test]
    fn location_selection_follows_nginx() {
        let mut notes = Vec::new();
        let d = parse(
            "location / {}\nlocation /web {}\nlocation ~ ^/websock {}\nlocation ^~ /websocket {}\nlocation = /x {}",
            "f",
            &mut notes,
        );
        let locs: Vec<&Directive> = d.iter().collect();
        assert_eq!(select(&locs, "/websocket").map(|d| d.line), Some(4));
        assert_eq!(select(&locs[..3], "/websocket").map(|d| d.line), Some(3));
        assert_eq!(select(&locs[..2], "/websocket").map(|d| d.line), Some(2));
        assert_eq!(select(&locs, "/x").map(|d| d.line), Some(5));
    }

    const GOOD: &str = "upstream odoo { server 127.0.0.1:8069; }
upstream odoochat { server 127.0.0.1:8072; }
server {
    listen 443 ssl;
    proxy_read_timeout 720s;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Proto $scheme;
    location /websocket {
        proxy_pass http://odoochat;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
    location / { proxy_pass http://odoo; }
}
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
";

    #[test]
    fn a_good_config_has_only_its_summary() {
        let found = findings(GOOD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].what.contains("odoochat (127.0.0.1:8072)"),
            "{}",
            found[0].what
        );
    }

    #[test]
    fn a_fixed_connection_upgrade_is_a_remark_where_gevent_serves_the_websocket() {
        let fixed = GOOD.replace("Connection $connection_upgrade", "Connection \"upgrade\"");
        let found = findings(&fixed);
        let remark = found
            .iter()
            .find(|f| f.what.contains("always sends `Connection: upgrade`"))
            .unwrap_or_else(|| panic!("{found:#?}"));
        assert_eq!((remark.level, remark.line), (Level::Info, Some(12)));
        let fix = remark.fix.as_deref().unwrap_or_default();
        assert!(fix.contains("$connection_upgrade"), "{fix}");
        // A threaded Odoo (workers = 0) reads such a POST like any other: nothing to say.
        let conf = super::super::odoo_conf::OdooConf::parse("o", "[options]\nworkers = 0\n");
        let facts = conf.facts();
        let found = check("n.conf", None, &fixed, Some(&facts), &no_files);
        assert!(
            !found.iter().any(|f| f.what.contains("always sends")),
            "{found:#?}"
        );
    }

    #[test]
    fn the_inheritance_trap_names_the_dropped_headers() {
        let trap = GOOD.replace("        proxy_set_header X-Forwarded-Host $http_host;\n        proxy_set_header X-Forwarded-Proto $scheme;\n    }", "    }");
        let found = findings(&trap);
        assert!(has(&found, Level::Warning, 5, 11), "{found:#?}");
        let conf = super::super::odoo_conf::OdooConf::parse(
            "o",
            "[options]\nworkers = 2\ndbfilter = ^%d$\nproxy_mode = True\n",
        );
        let facts = conf.facts();
        let found = check("n.conf", None, &trap, Some(&facts), &no_files);
        assert!(has(&found, Level::Failure, 5, 11), "{found:#?}");
        assert!(
            found.iter().any(|f| f.what.contains("dbfilter (o:3)")),
            "{found:#?}"
        );
        let f = found.iter().find(|f| f.cause == Some(5)).unwrap();
        assert!(f.what.contains("X-Forwarded-Host (line 6)"), "{}", f.what);
    }

    #[test]
    fn longpolling_only_missing_upgrade_ssi_and_timeouts() {
        let found = findings(
            "server {\n location /longpolling { proxy_pass http://127.0.0.1:8072; }\n location / { proxy_pass http://127.0.0.1:8069; }\n}\n",
        );
        assert!(has(&found, Level::Failure, 2, 2), "{found:#?}");
        assert!(has(&found, Level::Failure, 3, 3), "{found:#?}");
        let found = findings(&GOOD.replace("listen 443 ssl;", "listen 443 ssl; ssi on;"));
        assert!(has(&found, Level::Failure, 8, 4), "{found:#?}");
        let found = findings(&GOOD.replace("720s", "30s"));
        assert!(has(&found, Level::Failure, 7, 5), "{found:#?}");
        let found = findings(&GOOD.replace("720s", "50s"));
        assert!(has(&found, Level::Warning, 7, 5), "{found:#?}");
    }

    #[test]
    fn a_missing_forwarded_proto_matters_only_on_https() {
        let no_proto = GOOD.replace("proxy_set_header X-Forwarded-Proto $scheme;", "");
        let found = findings(&no_proto);
        assert!(has(&found, Level::Warning, 5, 8), "{found:#?}");
        let plain = findings(&no_proto.replace("listen 443 ssl;", "listen 80;"));
        assert!(plain.iter().all(|f| f.cause != Some(5)), "{plain:#?}");
    }

    #[test]
    fn http_1_0_with_the_upgrade_headers_is_only_a_remark() {
        let found = findings(&GOOD.replace("        proxy_http_version 1.1;\n", ""));
        assert!(has(&found, Level::Info, 3, 8), "{found:#?}");
        assert!(
            found.iter().all(|f| f.level != Level::Failure),
            "{found:#?}"
        );
    }

    #[test]
    fn container_addressing_and_localhost_noise() {
        let found = findings(
            "server {\n location /websocket { proxy_pass http://127.0.0.1:8072; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; }\n location / { proxy_pass http://odoo:8069; }\n}\n",
        );
        assert!(has(&found, Level::Failure, 4, 2), "{found:#?}");
        let found = findings(&GOOD.replace("127.0.0.1:8072", "localhost:8072"));
        assert!(has(&found, Level::Info, 24, 9), "{found:#?}");
    }

    #[test]
    fn ports_are_compared_with_odoo_conf() {
        let conf = super::super::odoo_conf::OdooConf::parse(
            "odoo.conf",
            "[options]\nworkers = 2\nhttp_port = 8169\ngevent_port = 8172\n",
        );
        let facts = conf.facts();
        let found = check("n.conf", None, GOOD, Some(&facts), &no_files);
        assert!(has(&found, Level::Warning, 20, 16), "{found:#?}");
        assert!(has(&found, Level::Warning, 1, 9), "{found:#?}");
    }

    #[test]
    fn includes_are_followed_when_readable() {
        let read = |p: &Path| {
            if p.ends_with("ws.conf") {
                vec![(
                    p.to_path_buf(),
                    "proxy_set_header X-Forwarded-Host $http_host;\nssi on;\n".to_string(),
                )]
            } else {
                Vec::new()
            }
        };
        let text = "server {\n include snippets/ws.conf;\n include missing.conf;\n location / { proxy_pass http://127.0.0.1:8069; }\n}\n";
        let found = check(
            "/etc/nginx/sites-enabled/odoo",
            Some(Path::new("/etc/nginx/sites-enabled/odoo")),
            text,
            None,
            &read,
        );
        let ssi = found
            .iter()
            .find(|f| f.cause == Some(8))
            .expect("ssi found through the include");
        assert_eq!(ssi.line, Some(2));
        assert!(ssi.file.ends_with("ws.conf"), "{ssi:?}");
        // The include not read makes a failure a warning, and is itself noted.
        assert_eq!(ssi.level, Level::Warning);
        assert!(
            found
                .iter()
                .any(|f| f.line == Some(3) && f.what.contains("was not read"))
        );
    }
}
