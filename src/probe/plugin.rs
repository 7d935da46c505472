//! `probe --check`: a monitoring plugin (Nagios, Icinga, Zabbix, Checkmk run it as is), as the
//! monitoring-plugins development guidelines define one: ONE line on stdout, `SERVICE STATUS -
//! text | performance data`, and the exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. These
//! codes replace the tool's own in this mode (a usage error is UNKNOWN, not 2).
//!
//! The verdict: every sample missed (or the realtime path is down) is CRITICAL; some missed is
//! at least WARNING; otherwise the median delivered latency against `--warning`/`--critical`.
//! With several profiles each is judged alone and the worst status wins ([`combine`]: CRITICAL,
//! then WARNING, then UNKNOWN, then OK); every performance label is prefixed with its profile
//! (`prod_latency`), since the guidelines want labels unique within a line.
//! Pure: the command gathers the samples.

use std::time::Duration;

use super::sample::{Delivery, Sample, quantile_of};

pub const OK: i32 = 0;
pub const WARNING: i32 = 1;
pub const CRITICAL: i32 = 2;
pub const UNKNOWN: i32 = 3;

/// The guidelines' name for each code.
pub fn status_name(code: i32) -> &'static str {
    match code {
        OK => "OK",
        WARNING => "WARNING",
        CRITICAL => "CRITICAL",
        _ => "UNKNOWN",
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub warning: Duration,
    pub critical: Duration,
}

/// `ODOO-BUS <STATUS> - <text> | <perfdata>` and its exit code.
pub fn verdict(samples: &[Sample], t: &Thresholds, timeout: Duration) -> (i32, String) {
    assess(samples, t, timeout).line()
}

/// One profile's judgement: its status, its text, its performance data (label=value;…).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub code: i32,
    pub text: String,
    pub perf: Vec<(String, String)>,
}

impl Verdict {
    /// A verdict without samples (the probe could not start): no performance data.
    pub fn bare(code: i32, why: &str) -> Verdict {
        Verdict {
            code,
            text: one_line(why),
            perf: Vec::new(),
        }
    }

    /// The plugin's line for this verdict alone.
    pub fn line(&self) -> (i32, String) {
        let mut line = format!("ODOO-BUS {} - {}", status_name(self.code), self.text);
        if !self.perf.is_empty() {
            let perf: Vec<String> = self.perf.iter().map(|(l, v)| format!("{l}={v}")).collect();
            line.push_str(" | ");
            line.push_str(&perf.join(" "));
        }
        (self.code, line)
    }
}

/// How bad a status is, for "the worst wins": CRITICAL, WARNING, UNKNOWN, OK.
fn severity(code: i32) -> u8 {
    match code {
        CRITICAL => 3,
        WARNING => 2,
        OK => 0,
        _ => 1,
    }
}

/// Several profiles' verdicts as one plugin line: the worst status, each profile's status and
/// text (worst first), and every profile's performance data under labels prefixed with its
/// name.
pub fn combine(verdicts: &[(String, Verdict)]) -> (i32, String) {
    let worst = verdicts
        .iter()
        .map(|(_, v)| v.code)
        .max_by_key(|c| severity(*c))
        .unwrap_or(UNKNOWN);
    let mut order: Vec<&(String, Verdict)> = verdicts.iter().collect();
    order.sort_by_key(|(_, v)| std::cmp::Reverse(severity(v.code)));
    let texts: Vec<String> = order
        .iter()
        .map(|(name, v)| format!("{} {}: {}", one_line(name), status_name(v.code), v.text))
        .collect();
    let perf: Vec<String> = verdicts
        .iter()
        .flat_map(|(name, v)| {
            v.perf
                .iter()
                .map(move |(label, value)| format!("{}={value}", perf_label(name, label)))
        })
        .collect();
    let mut line = format!("ODOO-BUS {} - {}", status_name(worst), texts.join("; "));
    if !perf.is_empty() {
        line.push_str(" | ");
        line.push_str(&perf.join(" "));
    }
    (worst, line)
}

/// `<profile>_<label>`, single-quoted when it holds a space (the guidelines forbid `=` and `'`
/// in labels: they become `_`).
fn perf_label(profile: &str, label: &str) -> String {
    let raw = format!("{profile}_{label}").replace(['=', '\'', '|'], "_");
    if raw.contains(' ') {
        format!("'{raw}'")
    } else {
        raw
    }
}

/// [`verdict`]'s parts.
pub fn assess(samples: &[Sample], t: &Thresholds, timeout: Duration) -> Verdict {
    let n = samples.len();
    let mut delivered: Vec<Duration> = samples.iter().filter_map(Sample::latency).collect();
    delivered.sort();
    let misses = samples
        .iter()
        .filter(|s| matches!(s.delivery, Delivery::Missed { .. }))
        .count();
    let errors: Vec<&str> = samples
        .iter()
        .filter_map(|s| match &s.delivery {
            Delivery::Error(e) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    let reconnects: u32 = samples.iter().map(|s| s.socket.reconnects).sum();
    let http = samples.iter().filter_map(|s| s.http.as_ref().ok()).max();
    let median = quantile_of(&delivered, 0.5);
    let max = delivered.last().copied();
    let of = if n > 1 {
        format!(" (median of {})", delivered.len())
    } else {
        String::new()
    };
    let stored = samples
        .iter()
        .any(|s| matches!(s.delivery, Delivery::Missed { stored: Some(true) }));
    let (code, text) = if delivered.is_empty() {
        let why = if let Some(e) = errors.first() {
            format!("probe failed: {e}")
        } else if stored {
            format!(
                "no delivery within {}: stored but not pushed (PostgreSQL NOTIFY or the dispatcher)",
                secs_text(timeout)
            )
        } else {
            format!("no delivery within {}", secs_text(timeout))
        };
        (CRITICAL, why)
    } else {
        let median = median.unwrap_or_default();
        let mut code = if median >= t.critical {
            CRITICAL
        } else if median >= t.warning {
            WARNING
        } else {
            OK
        };
        let mut text = format!(
            "delivery {}{of}",
            super::sample::ms(median).replace(' ', "")
        );
        if misses + errors.len() > 0 {
            code = code.max(WARNING);
            text.push_str(&format!(", {} of {n} not delivered", misses + errors.len()));
        }
        (code, text)
    };
    let mut perf = vec![
        (
            "latency".to_string(),
            format!(
                "{};{};{};0;",
                secs(median),
                secs_num(t.warning),
                secs_num(t.critical)
            ),
        ),
        ("latency_max".to_string(), format!("{};;;0;", secs(max))),
    ];
    if let Some(h) = http {
        perf.push(("http".to_string(), format!("{}s;;;0;", secs_num(*h))));
    }
    perf.push(("missed".to_string(), format!("{misses};;;0;{n}")));
    perf.push(("errors".to_string(), format!("{};;;0;{n}", errors.len())));
    perf.push(("reconnects".to_string(), format!("{reconnects};;;0;")));
    Verdict {
        code,
        text: one_line(&text),
        perf,
    }
}

/// A perfdata value in seconds, or `U` (the guidelines' "undetermined") when there is none.
fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "U".to_string(), |d| format!("{}s", secs_num(d)))
}

fn secs_num(d: Duration) -> String {
    let v = (d.as_secs_f64() * 1000.0).round() / 1000.0;
    format!("{v}")
}

fn secs_text(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// The line for a probe that could not run at all (bad arguments, not logged in): UNKNOWN.
pub fn unknown(why: &str) -> (i32, String) {
    (UNKNOWN, format!("ODOO-BUS UNKNOWN - {}", one_line(why)))
}

/// The line for a realtime path that is down before any sample (refused upgrade, session
/// gone, server unreachable): CRITICAL.
pub fn critical(why: &str) -> (i32, String) {
    (CRITICAL, format!("ODOO-BUS CRITICAL - {}", one_line(why)))
}

/// Plugin output is one line, and `|` starts the performance data.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('|', "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::sample::SocketEvents;
    use std::time::SystemTime;

    fn s(d: Delivery) -> Sample {
        Sample {
            profile: "p".into(),
            seq: 1,
            at: SystemTime::now(),
            delivery: d,
            http: Ok(Duration::from_millis(8)),
            socket: SocketEvents::default(),
            sockets: None,
        }
    }
    const T: Thresholds = Thresholds {
        warning: Duration::from_millis(500),
        critical: Duration::from_secs(2),
    };
    const TO: Duration = Duration::from_secs(5);

    #[test]
    fn thresholds_choose_the_code() {
        let ok = |ms| s(Delivery::Delivered(Duration::from_millis(ms)));
        let (code, line) = verdict(&[ok(42)], &T, TO);
        assert_eq!(code, OK);
        assert_eq!(
            line,
            "ODOO-BUS OK - delivery 42ms | latency=0.042s;0.5;2;0; latency_max=0.042s;;;0; http=0.008s;;;0; missed=0;;;0;1 errors=0;;;0;1 reconnects=0;;;0;"
        );
        assert_eq!(verdict(&[ok(600)], &T, TO).0, WARNING);
        assert_eq!(verdict(&[ok(2500)], &T, TO).0, CRITICAL);
        // The median of three: one slow sample does not page anyone.
        assert_eq!(verdict(&[ok(40), ok(3000), ok(50)], &T, TO).0, OK);
    }

    #[test]
    fn misses_warn_and_all_missed_is_critical() {
        let miss = || s(Delivery::Missed { stored: Some(true) });
        let ok = s(Delivery::Delivered(Duration::from_millis(10)));
        let (code, line) = verdict(&[ok, miss()], &T, TO);
        assert_eq!(code, WARNING, "{line}");
        assert!(line.contains("1 of 2 not delivered"), "{line}");
        let (code, line) = verdict(&[miss(), miss()], &T, TO);
        assert_eq!(code, CRITICAL);
        assert!(line.contains("stored but not pushed"), "{line}");
        assert!(line.contains("latency=U;0.5;2;0;"), "{line}");
        assert_eq!(line.matches('|').count(), 1);
    }

    #[test]
    fn several_profiles_worst_wins_and_labels_are_unique() {
        let ok = assess(&[s(Delivery::Delivered(Duration::from_millis(42)))], &T, TO);
        let miss = assess(
            &[s(Delivery::Missed {
                stored: Some(false),
            })],
            &T,
            TO,
        );
        let (code, line) = combine(&[("a".into(), ok.clone()), ("b".into(), miss)]);
        assert_eq!(code, CRITICAL);
        assert!(
            line.starts_with("ODOO-BUS CRITICAL - b CRITICAL: no delivery within 5s; a OK: delivery 42ms | a_latency=0.042s;0.5;2;0; "),
            "{line}"
        );
        assert!(line.contains(" b_latency=U;0.5;2;0; "), "{line}");
        assert_eq!(line.matches('|').count(), 1);
        let labels: Vec<&str> = line
            .split(" | ")
            .nth(1)
            .unwrap()
            .split(' ')
            .map(|p| p.split('=').next().unwrap())
            .collect();
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), labels.len(), "{labels:?}");
        // UNKNOWN loses to WARNING, wins over OK.
        let warn = assess(
            &[s(Delivery::Delivered(Duration::from_millis(600)))],
            &T,
            TO,
        );
        let unknown = Verdict::bare(UNKNOWN, "not logged in");
        assert_eq!(
            combine(&[("a".into(), unknown.clone()), ("b".into(), warn)]).0,
            WARNING
        );
        assert_eq!(
            combine(&[("a".into(), unknown), ("b".into(), ok)]).0,
            UNKNOWN
        );
        assert_eq!(perf_label("my prod", "latency"), "'my prod_latency'");
    }

    #[test]
    fn unknown_and_critical_lines_stay_one_line() {
        let (code, line) = unknown("bad\nthing | here");
        assert_eq!(code, UNKNOWN);
        assert_eq!(line, "ODOO-BUS UNKNOWN - bad thing / here");
        assert_eq!(critical("x").0, CRITICAL);
    }
}
