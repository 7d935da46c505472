//! `probe --connections N`: how many websocket clients the server holds before it refuses, while
//! one probe keeps measuring delivery. Each load socket is the lightest client there is: one
//! [`connection::connect`], one `subscribe` to nothing but Odoo's implicit channels, then reading
//! (pings answered) until told to stop. Nothing is retried: a refused socket stays refused.
//!
//! Owns the load sockets ([`open_socket`]), what they report ([`LoadEvent`]), the bookkeeping
//! ([`Ledger`]) and the report ([`Report`]). The command paces them and runs the probe.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use odoo_bus_core::bus::connection::{self, ConnectError, ConnectOptions, Incoming};
use odoo_bus_core::bus::protocol;
use odoo_bus_core::secret::SessionId;

use super::sample::ms;

/// Without `--lift-load-limits`: at most this many sockets ...
pub const MAX_CONNECTIONS: usize = 200;
/// ... and this long in all (ramp, hold and storm).
pub const MAX_TOTAL: Duration = Duration::from_secs(300);
/// The ramp stops after this many refusals in a row: past the ceiling, more is only load.
pub const STOP_AFTER_REFUSALS: usize = 10;

/// What a load socket tells the controller.
#[derive(Debug, Clone)]
pub enum LoadEvent {
    Opened {
        idx: usize,
        took: Duration,
    },
    /// The upgrade failed: `why` is `HTTP 500`, `timeout`, ...
    Refused {
        idx: usize,
        why: String,
    },
    /// An open socket ended (`None`: without a close frame); not sent for our own stop.
    Closed {
        idx: usize,
        code: Option<u16>,
    },
}

/// Open one load socket and keep it until `stop` changes; report on `events`.
pub async fn open_socket(
    idx: usize,
    opts: ConnectOptions,
    session: SessionId,
    mut stop: watch::Receiver<u64>,
    events: mpsc::UnboundedSender<LoadEvent>,
) {
    let start = Instant::now();
    let attempt = tokio::select! {
        r = connection::connect(&opts, &session) => r,
        _ = stop.changed() => return,
    };
    let mut conn = match attempt {
        Ok((conn, _)) => conn,
        Err(e) => {
            let _ = events.send(LoadEvent::Refused {
                idx,
                why: refusal_label(&e),
            });
            return;
        }
    };
    let _ = events.send(LoadEvent::Opened {
        idx,
        took: start.elapsed(),
    });
    if conn
        .send_text(protocol::subscribe_event(&[], 0))
        .await
        .is_err()
    {
        let _ = events.send(LoadEvent::Closed { idx, code: None });
        return;
    }
    loop {
        tokio::select! {
            _ = stop.changed() => {
                conn.close().await;
                return;
            }
            incoming = conn.next(Duration::from_secs(120)) => match incoming {
                Incoming::Text(_) | Incoming::Binary(_) => {}
                Incoming::Closed { code, .. } => {
                    let _ = events.send(LoadEvent::Closed { idx, code });
                    return;
                }
                Incoming::Broken(_) | Incoming::Silent(_) => {
                    let _ = events.send(LoadEvent::Closed { idx, code: None });
                    return;
                }
            },
        }
    }
}

/// A refused upgrade, short: `HTTP 500`, `timeout`, `connect refused`.
pub fn refusal_label(e: &ConnectError) -> String {
    match e {
        ConnectError::Refusal { status, .. } => format!("HTTP {status}"),
        ConnectError::Timeout => "timeout".into(),
        ConnectError::Refused(_) => "connect refused".into(),
        ConnectError::Dns(_) => "dns".into(),
        ConnectError::Tls(_) => "tls".into(),
        ConnectError::Proxy(_) => "proxy".into(),
        ConnectError::Other(_) => "dropped during the handshake".into(),
    }
}

/// A close code as a refusal: `close 1013`.
pub fn close_refusal(code: Option<u16>) -> String {
    match code {
        Some(c) => format!("close {c}"),
        None => "dropped".into(),
    }
}

/// The first refusal: which socket, and how many load sockets were open then.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstRefusal {
    /// 1-based attempt number.
    pub socket: usize,
    pub open: usize,
    pub why: String,
    pub after: Duration,
}

/// Everything the load sockets reported.
#[derive(Debug, Default)]
pub struct Ledger {
    pub attempted: usize,
    pub open: usize,
    pub peak_open: usize,
    pub opened: usize,
    pub refusals: BTreeMap<String, u64>,
    pub first_refusal: Option<FirstRefusal>,
    /// Refusals since the last open (to stop the ramp past the ceiling).
    pub refused_in_a_row: usize,
    pub connect_times: Vec<Duration>,
}

impl Ledger {
    pub fn apply(&mut self, e: &LoadEvent, since_start: Duration) {
        match e {
            LoadEvent::Opened { took, .. } => {
                self.open += 1;
                self.opened += 1;
                self.peak_open = self.peak_open.max(self.open);
                self.refused_in_a_row = 0;
                self.connect_times.push(*took);
            }
            LoadEvent::Refused { idx, why } => self.refused(*idx, why.clone(), since_start),
            LoadEvent::Closed { idx, code } => {
                self.open = self.open.saturating_sub(1);
                self.refused(*idx, close_refusal(*code), since_start);
            }
        }
    }

    fn refused(&mut self, idx: usize, why: String, after: Duration) {
        *self.refusals.entry(why.clone()).or_default() += 1;
        self.refused_in_a_row += 1;
        if self.first_refusal.is_none() {
            self.first_refusal = Some(FirstRefusal {
                socket: idx + 1,
                open: self.open,
                why,
                after,
            });
        }
    }
}

/// Where the probe's latency bent: the first probe slower than twice the unloaded baseline
/// plus 50 ms (loopback baselines are a few ms), or missed.
pub fn bent(baseline: Duration, latency: Option<Duration>) -> bool {
    match latency {
        None => true,
        Some(l) => l > baseline * 2 + Duration::from_millis(50),
    }
}

/// The storm: every socket closed and reopened at once.
#[derive(Debug, Clone, Default)]
pub struct Storm {
    pub sockets: usize,
    pub opened: usize,
    pub refused: BTreeMap<String, u64>,
    /// Until every attempt had an answer (`None`: some never did before the limit).
    pub settled_in: Option<Duration>,
    /// Until the probe delivered again after the storm.
    pub probe_back_in: Option<Duration>,
}

/// The test's findings.
#[derive(Debug, Clone)]
pub struct Report {
    pub url: String,
    pub asked: usize,
    pub ramp_per_s: f64,
    pub hold: Duration,
    pub attempted: usize,
    pub opened: usize,
    pub peak_open: usize,
    pub refusals: BTreeMap<String, u64>,
    pub first_refusal: Option<FirstRefusal>,
    pub baseline: Option<Duration>,
    /// Load sockets open at the first bent probe, with its latency (`None`: missed).
    pub bent_at: Option<(usize, Option<Duration>)>,
    pub max_latency: Option<(usize, Duration)>,
    pub ramp_stopped_early: bool,
    pub storm: Option<Storm>,
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    let list: Vec<String> = m.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    list.join(", ")
}

impl Report {
    /// The human report (stdout, pretty).
    pub fn text(&self) -> String {
        let mut out = vec![format!(
            "capacity of {}: asked for {} sockets at {}/s, held {}",
            self.url,
            self.asked,
            self.ramp_per_s,
            humantime::format_duration(self.hold)
        )];
        out.push(format!(
            "  opened      {} of {} attempted (at most {} open at once, plus the probe's own socket)",
            self.opened, self.attempted, self.peak_open
        ));
        match &self.first_refusal {
            Some(f) => out.push(format!(
                "  ceiling     first refusal at socket {} with {} open, after {}: {}{}",
                f.socket,
                f.open,
                ms(f.after),
                f.why,
                explain(&f.why)
            )),
            None => out.push("  ceiling     not reached: no socket was refused".into()),
        }
        if !self.refusals.is_empty() {
            out.push(format!("  refusals    {}", counts(&self.refusals)));
        }
        if self.ramp_stopped_early {
            out.push(format!(
                "  ramp        stopped after {STOP_AFTER_REFUSALS} refusals in a row (past the ceiling more is only load)"
            ));
        }
        let base = self.baseline.map(ms).unwrap_or_else(|| "unknown".into());
        match (&self.bent_at, &self.max_latency) {
            (Some((n, Some(l))), _) => out.push(format!(
                "  latency     baseline {base}; bent at {n} open ({})",
                ms(*l)
            )),
            (Some((n, None)), _) => out.push(format!(
                "  latency     baseline {base}; bent at {n} open (the probe missed)"
            )),
            (None, Some((n, l))) => out.push(format!(
                "  latency     baseline {base}; did not bend (max {} at {n} open)",
                ms(*l)
            )),
            (None, None) => out.push(format!("  latency     baseline {base}")),
        }
        if let Some(s) = &self.storm {
            let settled = s
                .settled_in
                .map(|d| format!("settled in {}", ms(d)))
                .unwrap_or_else(|| "did not settle".into());
            let back = s
                .probe_back_in
                .map(|d| format!("; the probe delivered again after {}", ms(d)))
                .unwrap_or_default();
            let refused = if s.refused.is_empty() {
                String::new()
            } else {
                format!(", refused: {}", counts(&s.refused))
            };
            out.push(format!(
                "  storm       {} sockets reconnected at once: {settled} ({} opened{refused}){back}",
                s.sockets, s.opened
            ));
        }
        out.join("\n")
    }

    /// The NDJSON line (`{"type":"odoo-bus/capacity",…}`).
    pub fn json(&self) -> Value {
        let secs = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e6;
        json!({
            "type": "odoo-bus/capacity",
            "url": self.url,
            "asked": self.asked,
            "ramp_per_s": self.ramp_per_s,
            "hold_s": secs(self.hold),
            "attempted": self.attempted,
            "opened": self.opened,
            "peak_open": self.peak_open,
            "refusals": self.refusals,
            "first_refusal": self.first_refusal.as_ref().map(|f| json!({
                "socket": f.socket, "open": f.open, "why": f.why, "after_s": secs(f.after),
            })),
            "baseline_s": self.baseline.map(secs),
            "bent_at_open": self.bent_at.map(|(n, _)| n),
            "bent_latency_s": self.bent_at.and_then(|(_, l)| l).map(secs),
            "ramp_stopped_early": self.ramp_stopped_early,
            "storm": self.storm.as_ref().map(|s| json!({
                "sockets": s.sockets,
                "opened": s.opened,
                "refused": s.refused,
                "settled_s": s.settled_in.map(secs),
                "probe_back_s": s.probe_back_in.map(secs),
            })),
        })
    }
}

/// What a refusal usually means on Odoo.
fn explain(why: &str) -> &'static str {
    if why == "close 1013" {
        " (TRY_LATER: the gevent worker's database pool is full, db_maxconn_gevent / db_maxconn)"
    } else if why.starts_with("HTTP 5") {
        " (PoolError on the upgrade, or a proxy's limit; see the Odoo log)"
    } else if why == "timeout" {
        " (no answer: no free worker or a proxy holding the upgrade)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_is_kept_with_the_open_count() {
        let mut l = Ledger::default();
        let t = Duration::from_millis(5);
        for idx in 0..3 {
            l.apply(
                &LoadEvent::Opened {
                    idx,
                    took: Duration::from_millis(2),
                },
                t,
            );
        }
        l.apply(
            &LoadEvent::Closed {
                idx: 3,
                code: Some(1013),
            },
            t,
        );
        l.apply(
            &LoadEvent::Refused {
                idx: 4,
                why: "HTTP 500".into(),
            },
            t,
        );
        let f = l.first_refusal.clone().unwrap();
        assert_eq!((f.socket, f.open, f.why.as_str()), (4, 2, "close 1013"));
        assert_eq!(l.refused_in_a_row, 2);
        assert_eq!(l.peak_open, 3);
        assert_eq!(counts(&l.refusals), "HTTP 500 ×1, close 1013 ×1");
    }

    #[test]
    fn latency_bends_past_twice_the_baseline_plus_50ms() {
        let b = Duration::from_millis(10);
        assert!(!bent(b, Some(Duration::from_millis(70))));
        assert!(bent(b, Some(Duration::from_millis(71))));
        assert!(bent(b, None));
    }
}
