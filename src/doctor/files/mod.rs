//! The file checks: what users paste into bug reports (`doctor --odoo-log`, `--odoo-conf`,
//! `--proxy-conf`), read for the known field causes (F1–F24 in docs/troubleshooting.md).
//!
//! Owns turning texts into [`Check`]s with a [`Located`] (file, line, cause); every parser is a
//! pure function from text to findings, so it runs with no server reachable. Reading the files
//! themselves (and stdin) is the command's job; only nginx's `include`s are read from here,
//! through the reader the caller passes. Touches nothing of the live checks.

pub mod apache;
pub mod nginx;
pub mod nginx_syntax;
pub mod odoo_conf;
pub mod odoo_log;

use std::path::{Path, PathBuf};

use super::check::{Check, Level, Located};

/// The check names file findings carry in the table and the JSON report.
pub mod names {
    pub const ODOO_LOG: &str = "odoo-log";
    pub const ODOO_CONF: &str = "odoo-conf";
    pub const PROXY_CONF: &str = "proxy-conf";
}

/// Which option a file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Odoo's log, or a reverse proxy's error log (users paste both together).
    OdooLog,
    OdooConf,
    /// nginx, or Apache (told apart by their syntax).
    ProxyConf,
}

impl Kind {
    pub fn check_name(self) -> &'static str {
        match self {
            Kind::OdooLog => names::ODOO_LOG,
            Kind::OdooConf => names::ODOO_CONF,
            Kind::ProxyConf => names::PROXY_CONF,
        }
    }
}

/// One file as given on the command line.
#[derive(Debug, Clone)]
pub struct Pasted {
    pub kind: Kind,
    /// How findings name it: the path as given, or `stdin`.
    pub name: String,
    /// Where it is on disk, to resolve an nginx `include` (`None` for stdin).
    pub path: Option<PathBuf>,
    pub text: String,
}

/// Something a parser found, before it becomes a [`Check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub file: String,
    pub line: Option<usize>,
    pub cause: Option<u8>,
    /// What is wrong (or, for [`Level::Ok`], what was read).
    pub what: String,
    /// What to do (for a harmless line: why it is not the cause).
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(level: Level, cause: Option<u8>, file: &str, line: Option<usize>) -> Self {
        Finding {
            level,
            file: file.to_string(),
            line,
            cause,
            what: String::new(),
            fix: None,
        }
    }

    pub fn what(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn into_check(self, name: &'static str) -> Check {
        Check::finding(
            name,
            Located {
                file: self.file,
                line: self.line,
                cause: self.cause,
                level: self.level,
            },
            self.what,
            self.fix,
        )
    }
}

/// Reads what an nginx `include` names: the files a path (or a `*` pattern in its last part)
/// names, with their texts; empty when none is there or readable.
pub type Reader<'a> = &'a dyn Fn(&Path) -> Vec<(PathBuf, String)>;

/// The [`Reader`] for real runs: the disk, sorted like nginx's glob.
pub fn read_from_disk(path: &Path) -> Vec<(PathBuf, String)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = |p: PathBuf| {
        let text = std::fs::read(&p).ok()?;
        Some((p, String::from_utf8_lossy(&text).into_owned()))
    };
    if !name.contains('*') {
        return read(path.to_path_buf()).into_iter().collect();
    }
    let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
    let dir = path.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.len() >= prefix.len() + suffix.len()
                        && n.starts_with(prefix)
                        && n.ends_with(suffix)
                })
        })
        .collect();
    paths.sort();
    paths.into_iter().filter_map(read).collect()
}

/// Every file's findings, as checks: per file a line saying what was read, then what it
/// found in line order. Cross-file findings (odoo.conf's `workers` against the proxy's route)
/// appear under the proxy config.
pub fn analyze(pasted: &[Pasted], read: Reader<'_>) -> Vec<Check> {
    let confs: Vec<odoo_conf::OdooConf> = pasted
        .iter()
        .filter(|p| p.kind == Kind::OdooConf)
        .map(|p| odoo_conf::OdooConf::parse(&p.name, &p.text))
        .collect();
    let odoo = confs.first().map(odoo_conf::OdooConf::facts);
    let proxied = pasted.iter().any(|p| p.kind == Kind::ProxyConf);

    let mut checks = Vec::new();
    for conf in &confs {
        push(&mut checks, Kind::OdooConf, conf.check(proxied));
    }
    for p in pasted.iter().filter(|p| p.kind == Kind::ProxyConf) {
        let found = if apache::looks_like_apache(&p.text) {
            apache::check(&p.name, &p.text, odoo.as_ref())
        } else {
            nginx::check(&p.name, p.path.as_deref(), &p.text, odoo.as_ref(), read)
        };
        push(&mut checks, Kind::ProxyConf, found);
    }
    for p in pasted.iter().filter(|p| p.kind == Kind::OdooLog) {
        push(
            &mut checks,
            Kind::OdooLog,
            odoo_log::check(&p.name, &p.text),
        );
    }
    checks
}

/// The `Ok` line first, then the rest by file and line.
fn push(checks: &mut Vec<Check>, kind: Kind, mut found: Vec<Finding>) {
    found.sort_by(|a, b| {
        (a.level != Level::Ok)
            .cmp(&(b.level != Level::Ok))
            .then_with(|| a.file.cmp(&b.file))
            .then_with(|| a.line.cmp(&b.line))
    });
    checks.extend(found.into_iter().map(|f| f.into_check(kind.check_name())));
}

/// `line 12` or `lines 12, 40 and 3 more`, for findings that group repeated lines.
pub fn lines_text(lines: &[usize]) -> String {
    match lines {
        [] => String::new(),
        [one] => format!("line {one}"),
        [a, b] => format!("lines {a} and {b}"),
        [a, rest @ ..] => format!("line {a} and {} more", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_become_checks_with_their_place_and_cause() {
        let f = Finding::new(Level::Failure, Some(2), "nginx.conf", Some(12))
            .what("no /websocket")
            .fix("add it");
        let c = f.into_check(names::PROXY_CONF);
        assert_eq!(c.status, super::super::Status::Fail);
        let l = c.located.unwrap();
        assert_eq!(l.place(), "nginx.conf:12");
        assert_eq!(l.cause_code().as_deref(), Some("F2"));
        let warn = Finding::new(Level::Warning, None, "x", None).into_check(names::ODOO_LOG);
        assert_eq!(warn.status, super::super::Status::Pass);
    }

    #[test]
    fn garbage_never_panics_and_each_file_says_what_it_read() {
        let texts = [
            "",
            "{{{{",
            "}}};;;'\"",
            "server { location ${ { proxy_pass http://[::1; } ",
            "location = { } location ~ ( { proxy_pass http://; }",
            "<VirtualHost\nProxyPass\nProxyPass /websocket\n",
            "[options\nworkers = 99999999999999999999\n=\n  continued\n",
            "é\u{0}\u{1b}[2J Odoo version \nEvented Service (longpolling) running on \n\"GET /websocket\" x\nTraceback\n1234",
            "server { listen :; proxy_read_timeout 9999999999999999999999h; location /websocket { proxy_pass http://u; } } upstream u { server ; }",
        ];
        let none = |_: &Path| Vec::new();
        for text in texts {
            for kind in [Kind::OdooLog, Kind::OdooConf, Kind::ProxyConf] {
                let pasted = [Pasted {
                    kind,
                    name: "f".into(),
                    path: None,
                    text: text.to_string(),
                }];
                let checks = analyze(&pasted, &none);
                assert!(
                    checks
                        .iter()
                        .any(|c| c.located.as_ref().is_some_and(|l| l.level == Level::Ok))
                        || kind == Kind::ProxyConf,
                    "{kind:?} {text:?}: {checks:?}"
                );
            }
        }
    }

    #[test]
    fn the_ok_line_comes_first_then_line_order() {
        let mut checks = Vec::new();
        push(
            &mut checks,
            Kind::OdooLog,
            vec![
                Finding::new(Level::Warning, Some(3), "a", Some(9)),
                Finding::new(Level::Failure, Some(1), "a", Some(2)),
                Finding::new(Level::Ok, None, "a", None),
            ],
        );
        let lines: Vec<_> = checks
            .iter()
            .map(|c| c.located.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines, vec![None, Some(2), Some(9)]);
        assert_eq!(lines_text(&[4, 5, 6]), "line 4 and 2 more");
    }
}
