//! Medians and ranges over a handful of runs, formatted for the report.

use std::time::Duration;

/// Samples of one quantity over the timed runs.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The middle value (the mean of the two middle ones for an even count); 0 when empty.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(0.0)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(0.0)
    }
}

/// Wall time, CPU time and peak RSS of one client over the timed runs.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Seconds.
    pub wall: Samples,
    /// Seconds of user + system time.
    pub cpu: Samples,
    /// MiB.
    pub rss: Samples,
}

impl RunStats {
    pub fn add(&mut self, wall: Duration, cpu: Duration, rss_kib: u64) {
        self.wall.push(wall.as_secs_f64());
        self.cpu.push(cpu.as_secs_f64());
        self.rss.push(rss_kib as f64 / 1024.0);
    }
}

/// `0.412 s (0.398–0.431)`
pub fn seconds_with_range(s: &Samples) -> String {
    format!("{:.3} s ({:.3}–{:.3})", s.median(), s.min(), s.max())
}

/// `12.3 MiB (12.1–12.4)`
pub fn mib_with_range(s: &Samples) -> String {
    format!("{:.1} MiB ({:.1}–{:.1})", s.median(), s.min(), s.max())
}

/// `23.4 ms (21.0–30.2)`
pub fn millis_with_range(s: &Samples) -> String {
    format!(
        "{:.1} ms ({:.1}–{:.1})",
        s.median() * 1e3,
        s.min() * 1e3,
        s.max() * 1e3
    )
}
