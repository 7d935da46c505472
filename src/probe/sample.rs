//! One probe's result and the tally of a run: what the stdout lines, the summary, the metrics
//! and the plugin verdict are all made from. Pure data and arithmetic, no I/O.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How the delivery part of one probe went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The echo came back after this long.
    Delivered(Duration),
    /// Nothing within the timeout; `stored`: whether the row was in the bus table (`None`:
    /// the peek failed), which tells a broken NOTIFY/dispatcher from a notification never made.
    Missed { stored: Option<bool> },
    /// The probe could not run (the trigger call failed, the socket was down): not a miss.
    Error(String),
}

/// The socket's troubles seen since the previous probe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketEvents {
    pub reconnects: u32,
    /// Close codes of the disconnects (`None`: dropped without a close frame).
    pub closes: Vec<Option<u16>>,
}

/// One probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub profile: String,
    pub seq: u64,
    pub at: SystemTime,
    pub delivery: Delivery,
    /// The HTTP check (`/web/session/check`): how long it took, or what failed.
    pub http: Result<Duration, String>,
    pub socket: SocketEvents,
    /// Capacity test: sockets held open when this probe ran.
    pub sockets: Option<usize>,
}

impl Sample {
    pub fn result(&self) -> &'static str {
        match self.delivery {
            Delivery::Delivered(_) => "ok",
            Delivery::Missed { .. } => "miss",
            Delivery::Error(_) => "error",
        }
    }

    pub fn latency(&self) -> Option<Duration> {
        match self.delivery {
            Delivery::Delivered(d) => Some(d),
            _ => None,
        }
    }
}

/// A close code as a metric label and in text: the number, or `none` for a dropped connection.
pub fn close_label(code: Option<u16>) -> String {
    code.map_or_else(|| "none".to_string(), |c| c.to_string())
}

/// Everything a run saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub count: u64,
    pub misses: u64,
    pub errors: u64,
    /// Delivered latencies, in arrival order.
    pub latencies: Vec<Duration>,
    pub reconnects: u64,
    /// Disconnects per close label.
    pub closes: BTreeMap<String, u64>,
    pub last_success: Option<SystemTime>,
}

impl Tally {
    pub fn add(&mut self, s: &Sample) {
        self.count += 1;
        match &s.delivery {
            Delivery::Delivered(d) => {
                self.latencies.push(*d);
                self.last_success = Some(s.at);
            }
            Delivery::Missed { .. } => self.misses += 1,
            Delivery::Error(_) => self.errors += 1,
        }
        self.reconnects += u64::from(s.socket.reconnects);
        for c in &s.socket.closes {
            *self.closes.entry(close_label(*c)).or_default() += 1;
        }
    }

    /// The latency at quantile `q` (0..=1) of the delivered probes, nearest rank.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        quantile_of(&sorted, q)
    }

    /// One line for stderr: `12 probes, 1 missed, 0 errors; latency p50 41 ms, p90 …`.
    pub fn summary(&self, profile: Option<&str>) -> String {
        let who = profile.map(|p| format!("{p}: ")).unwrap_or_default();
        let mut line = format!(
            "{who}{} probes, {} missed, {} errors",
            self.count, self.misses, self.errors
        );
        if !self.latencies.is_empty() {
            let q = |x| ms(self.quantile(x).unwrap_or_default());
            line.push_str(&format!(
                "; latency p50 {}, p90 {}, p99 {}, max {}",
                q(0.5),
                q(0.9),
                q(0.99),
                q(1.0)
            ));
        }
        line.push_str(&format!("; {} reconnects", self.reconnects));
        if !self.closes.is_empty() {
            let list: Vec<String> = self
                .closes
                .iter()
                .map(|(c, n)| format!("{n}× {}", close_text(c)))
                .collect();
            line.push_str(&format!(" ({})", list.join(", ")));
        }
        line
    }
}

fn close_text(label: &str) -> String {
    if label == "none" {
        "dropped".into()
    } else {
        format!("close {label}")
    }
}

/// Nearest-rank quantile of sorted values.
pub fn quantile_of(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `0.8 ms`, `42 ms`, `1.25 s`.
pub fn ms(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(delivery: Delivery, closes: Vec<Option<u16>>) -> Sample {
        Sample {
            profile: "p".into(),
            seq: 1,
            at: SystemTime::UNIX_EPOCH,
            delivery,
            http: Ok(Duration::from_millis(3)),
            socket: SocketEvents {
                reconnects: closes.len() as u32,
                closes,
            },
            sockets: None,
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_of(&v, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(quantile_of(&v, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(quantile_of(&v, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(quantile_of(&v, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(quantile_of(&[], 0.5), None);
    }

    #[test]
    fn the_summary_counts_misses_and_closes() {
        let mut t = Tally::default();
        t.add(&sample(
            Delivery::Delivered(Duration::from_millis(40)),
            vec![],
        ));
        t.add(&sample(
            Delivery::Missed { stored: Some(true) },
            vec![Some(1013), None],
        ));
        t.add(&sample(
            Delivery::Delivered(Duration::from_millis(60)),
            vec![],
        ));
        let s = t.summary(None);
        assert!(s.starts_with("3 probes, 1 missed, 0 errors"), "{s}");
        assert!(s.contains("p50 40 ms") && s.contains("max 60 ms"), "{s}");
        assert!(
            s.contains("2 reconnects (1× close 1013, 1× dropped)"),
            "{s}"
        );
    }
}
