//! One check's result, and the report they add up to. Pure data: the command prints it.

use std::time::Duration;

use odoo_bus_core::bus::connection::Exchange;

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Not run: an earlier hop is broken, or it needs something this run does not have.
    Skip,
}

impl Status {
    /// `pass` / `fail` / `skip`, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// What a check found, before it is timed and named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    /// What was observed (for a failure: what is wrong and its likely cause; for a skip: why).
    pub detail: String,
    /// What a sysadmin should do; also set on a pass that carries a warning (a certificate
    /// about to expire).
    pub hint: Option<String>,
    /// The websocket upgrade's headers, on the check that performed it.
    pub exchange: Option<Exchange>,
    /// What doctor saw that names the cause (`origin_sent`, `odoo_sees` …), in order; the
    /// detail says it in words, `--json` carries it as an object.
    pub evidence: Vec<(&'static str, String)>,
}

impl Verdict {
    pub fn pass(detail: impl Into<String>) -> Self {
        Verdict {
            status: Status::Pass,
            detail: detail.into(),
            hint: None,
            exchange: None,
            evidence: Vec::new(),
        }
    }

    /// A pass that still deserves attention.
    pub fn warn(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Verdict {
            status: Status::Pass,
            detail: detail.into(),
            hint: Some(hint.into()),
            exchange: None,
            evidence: Vec::new(),
        }
    }

    pub fn fail(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Verdict {
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
            exchange: None,
            evidence: Vec::new(),
        }
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Verdict {
            status: Status::Skip,
            detail: reason.into(),
            hint: None,
            exchange: None,
            evidence: Vec::new(),
        }
    }

    /// The same verdict, carrying the upgrade's headers.
    pub fn with_exchange(mut self, exchange: Exchange) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// The same verdict, with what doctor saw.
    pub fn with_evidence(mut self, evidence: Vec<(&'static str, String)>) -> Self {
        self.evidence = evidence;
        self
    }

    /// A skip with something to do about it ("log in to run this check").
    pub fn skip_with(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Verdict {
            status: Status::Skip,
            detail: reason.into(),
            hint: Some(hint.into()),
            exchange: None,
            evidence: Vec::new(),
        }
    }
}

/// A finished check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable name (`dns`, `upgrade`, `delivery` …), used in the JSON report and by scripts.
    pub name: &'static str,
    pub status: Status,
    /// How long it took (zero for a skip).
    pub elapsed: Duration,
    pub detail: String,
    pub hint: Option<String>,
    /// Set on what the file checks found (`--odoo-log`, `--odoo-conf`, `--proxy-conf`): where,
    /// and which field cause. `None` for the live checks.
    pub located: Option<Located>,
    /// The websocket upgrade's request and response headers (`upgrade`, `ping`).
    pub exchange: Option<Exchange>,
    /// See [`Verdict::evidence`].
    pub evidence: Vec<(&'static str, String)>,
}

impl Check {
    pub fn new(name: &'static str, verdict: Verdict, elapsed: Duration) -> Self {
        Check {
            name,
            status: verdict.status,
            elapsed: if verdict.status == Status::Skip {
                Duration::ZERO
            } else {
                elapsed
            },
            detail: verdict.detail,
            hint: verdict.hint,
            located: None,
            exchange: verdict.exchange,
            evidence: verdict.evidence,
        }
    }

    /// A file check's finding: a failure fails the run; warnings, harmless lines and a clean
    /// file pass (warnings and harmless lines keep their advice in `hint`).
    pub fn finding(
        name: &'static str,
        located: Located,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Check {
            name,
            status: if located.level == Level::Failure {
                Status::Fail
            } else {
                Status::Pass
            },
            elapsed: Duration::ZERO,
            detail: detail.into(),
            hint: fix,
            located: Some(located),
            exchange: None,
            evidence: Vec::new(),
        }
    }
}

/// How much a file finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Read, nothing wrong (one per file, saying what was read).
    Ok,
    /// Known to be harmless (noise taken for the cause, F24), or a fact worth knowing.
    Info,
    /// Likely to break realtime in some setups, or worth changing; does not fail the run.
    Warning,
    /// Breaks realtime: the run exits 5.
    Failure,
}

impl Level {
    /// `ok` / `info` / `warning` / `failure`, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Failure => "failure",
        }
    }
}

/// Where a file check found something, and which field cause it is (F1–F24, as numbered in
/// docs/troubleshooting.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The path as given (`-` reads as `stdin`), or an included file's path.
    pub file: String,
    /// 1-based; `None` for what concerns the whole file.
    pub line: Option<usize>,
    pub cause: Option<u8>,
    pub level: Level,
}

impl Located {
    /// `nginx.conf:12`, or the file alone.
    pub fn place(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }

    /// `F5`, when a cause is known.
    pub fn cause_code(&self) -> Option<String> {
        self.cause.map(|c| format!("F{c}"))
    }
}

/// Every check of one run, in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The server checked.
    pub url: String,
    /// Whether a saved session took part.
    pub with_session: bool,
    pub checks: Vec<Check>,
}

impl Report {
    /// No check failed (skips do not count against it).
    pub fn passed(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The first failure: the hop to fix first, since later ones may only fail because of it.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// How many file findings have this level.
    pub fn count_level(&self, level: Level) -> usize {
        self.checks
            .iter()
            .filter(|c| c.located.as_ref().is_some_and(|l| l.level == level))
            .count()
    }

    /// The live checks ran (a URL was checked), not only files.
    pub fn live(&self) -> bool {
        self.checks.iter().any(|c| c.located.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &'static str, v: Verdict) -> Check {
        Check::new(name, v, Duration::from_millis(3))
    }

    #[test]
    fn a_report_passes_unless_something_failed() {
        let mut r = Report {
            url: "http://x".into(),
            with_session: false,
            checks: vec![
                check("dns", Verdict::pass("ok")),
                check("session", Verdict::skip("no session")),
            ],
        };
        assert!(r.passed());
        assert_eq!(r.first_failure(), None);
        r.checks
            .push(check("upgrade", Verdict::fail("400", "fix the proxy")));
        r.checks
            .push(check("delivery", Verdict::fail("timeout", "x")));
        assert!(!r.passed());
        assert_eq!(r.first_failure().map(|c| c.name), Some("upgrade"));
        assert_eq!(r.count(Status::Skip), 1);
        assert_eq!(r.get("dns").map(|c| c.status), Some(Status::Pass));
    }

    #[test]
    fn skips_take_no_time() {
        let c = check("tls", Verdict::skip("plain http"));
        assert_eq!(c.elapsed, Duration::ZERO);
        assert_eq!(c.status.as_str(), "skip");
    }
}
