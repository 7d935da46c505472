//! One check's result, and the report they add up to. Pure data: the command prints it.

use std::time::Duration;

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
}

impl Verdict {
    pub fn pass(detail: impl Into<String>) -> Self {
        Verdict {
            status: Status::Pass,
            detail: detail.into(),
            hint: None,
        }
    }

    /// A pass that still deserves attention.
    pub fn warn(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Verdict {
            status: Status::Pass,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn fail(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Verdict {
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Verdict {
            status: Status::Skip,
            detail: reason.into(),
            hint: None,
        }
    }

    /// A skip with something to do about it ("log in to run this check").
    pub fn skip_with(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Verdict {
            status: Status::Skip,
            detail: reason.into(),
            hint: Some(hint.into()),
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
        }
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
