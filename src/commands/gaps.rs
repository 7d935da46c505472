//! `tail`'s gap warnings: when a resume point (`--resume`) or a reconnect after an outage is
//! older than what Odoo guarantees to keep, say on stderr which time range may be missing.
//!
//! Odoo's autovacuum deletes `bus.bus` rows older than 2 × 50 s (`_gc_messages`, protocol notes
//! §4.3): a client away longer cannot count on a replay. Only 19 can say for sure:
//! `/bus/has_missed_notifications {last_notification_id}` answers `true` when that row is gone
//! (so what followed it may be too). `--gaps` also prints `{"type":"odoo-bus/gap",…}` on stdout.
//!
//! Owns the clock of the last frame and of the disconnect; tail.rs calls [`GapWatch::frame`]
//! and [`GapWatch::status`] and nothing else.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use odoo_bus_core::bus::stream::{StartAt, Status};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::version::Flavor;

use crate::ui::Ui;

/// What Odoo keeps for sure: rows younger than this survive the next autovacuum.
pub const RETENTION: Duration = Duration::from_secs(100);

/// Test knob (docs/testing.md): the retention assumed, so a test need not wait 100 s.
const RETENTION_ENV: &str = "ODOO_BUS_RETENTION";

fn retention() -> Duration {
    super::client::duration_env(RETENTION_ENV)
        .ok()
        .flatten()
        .unwrap_or(RETENTION)
}

/// A time range that may be missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub from: SystemTime,
    pub to: SystemTime,
    pub after_id: u64,
}

/// The range of rows that may be gone when the stream comes back at `now` after being away
/// since `since` (nothing when it was away for less than the retention).
pub fn gap_between(
    since: SystemTime,
    now: SystemTime,
    retention: Duration,
    after_id: u64,
) -> Option<Gap> {
    let away = now.duration_since(since).ok()?;
    (away > retention).then(|| Gap {
        from: since,
        to: now - retention,
        after_id,
    })
}

pub struct GapWatch {
    ui: Ui,
    client: Option<OdooClient>,
    flavor: Flavor,
    /// When the resume point arrived (from the profile), for the first connection.
    resume_at: Option<SystemTime>,
    /// The first connection resumes (`--resume`/`--after-id`) rather than starting recent.
    resuming: bool,
    last_traffic: Option<SystemTime>,
    down_since: Option<SystemTime>,
    json_out: Option<Box<dyn Write + Send>>,
}

impl GapWatch {
    pub fn new(
        ui: Ui,
        client: Option<OdooClient>,
        flavor: Flavor,
        start: StartAt,
        resume_at: Option<i64>,
        json_out: Option<Box<dyn Write + Send>>,
    ) -> Self {
        GapWatch {
            ui,
            client,
            flavor,
            resume_at: resume_at
                .and_then(|s| u64::try_from(s).ok())
                .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            resuming: matches!(start, StartAt::After(_)),
            last_traffic: None,
            down_since: None,
            json_out,
        }
    }

    /// A frame arrived.
    pub fn frame(&mut self) {
        self.last_traffic = Some(SystemTime::now());
    }

    /// A state change of the stream: a disconnect starts the clock, a (re)connect checks it.
    pub async fn status(&mut self, status: &Status) {
        match status {
            Status::Disconnected { .. } | Status::Retrying { .. } if self.down_since.is_none() => {
                self.down_since = Some(self.last_traffic.unwrap_or_else(SystemTime::now));
            }
            Status::Connected {
                last, reconnect, ..
            } => {
                let since = if *reconnect {
                    self.down_since.take()
                } else if self.resuming {
                    self.resume_at
                } else {
                    None
                };
                let first_resume = !*reconnect && self.resuming;
                if *last > 0 && (since.is_some() || first_resume) {
                    self.check(since, *last).await;
                }
                self.last_traffic = Some(SystemTime::now());
            }
            _ => {}
        }
    }

    async fn check(&mut self, since: Option<SystemTime>, last: u64) {
        let now = SystemTime::now();
        let retention = retention();
        let gap = since.and_then(|s| gap_between(s, now, retention, last));
        if gap.is_none() && since.is_some() {
            return;
        }
        // 19 says for sure whether the row after which we resume is still there.
        let missing = match (&self.client, self.flavor) {
            (Some(client), Flavor::V19) => has_missed(client, last).await,
            _ => None,
        };
        let range = match &gap {
            Some(g) => format!("from {} to {}", clock(g.from), clock(g.to)),
            None => format!("after notification {last}"),
        };
        let verdict = match missing {
            Some(true) => format!(
                "they are: the server no longer has notification {last}, so what followed it may be gone too"
            ),
            Some(false) => {
                format!("none is: the server still has notification {last} and what followed it")
            }
            None => format!(
                "Odoo keeps notifications only ~{} s for sure (19 can tell; this server cannot)",
                retention.as_secs()
            ),
        };
        if missing == Some(false) {
            self.ui.info(format!("resumed after {last}: {verdict}"));
        } else {
            self.ui
                .warn(format!("notifications {range} may be missing: {verdict}"));
        }
        if let Some(out) = &mut self.json_out {
            let line = gap_json(gap.as_ref(), last, missing);
            let _ = writeln!(out, "{line}");
        }
    }
}

/// `{"type":"odoo-bus/gap","from":…,"to":…,"after_id":N,"missing":true|false|null}`.
pub fn gap_json(gap: Option<&Gap>, after_id: u64, missing: Option<bool>) -> Value {
    let time = |t: SystemTime| {
        jiff::Timestamp::try_from(t)
            // Whole seconds, cut like the stderr clock (not rounded), so both say the same.
            .map(|ts| {
                jiff::Timestamp::from_second(ts.as_second())
                    .unwrap_or(ts)
                    .to_string()
            })
            .ok()
    };
    json!({
        "type": "odoo-bus/gap",
        "from": gap.and_then(|g| time(g.from)),
        "to": gap.and_then(|g| time(g.to)),
        "after_id": after_id,
        "missing": missing,
    })
}

fn clock(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// 19's `/bus/has_missed_notifications`: `None` when the route is missing or failed.
async fn has_missed(client: &OdooClient, last: u64) -> Option<bool> {
    client
        .call::<bool>(
            "/bus/has_missed_notifications",
            json!({"last_notification_id": last}),
        )
        .await
        .ok()
        .flatten()
}

/// Now, as the profile stores it (`last_id_at`).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_absence_longer_than_the_retention_is_a_gap() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            gap_between(t0, t0 + Duration::from_secs(99), RETENTION, 5),
            None
        );
        let g = gap_between(t0, t0 + Duration::from_secs(250), RETENTION, 5).unwrap();
        assert_eq!(g.from, t0);
        assert_eq!(g.to, t0 + Duration::from_secs(150));
        let v = gap_json(Some(&g), 5, Some(true));
        assert_eq!(v["type"], "odoo-bus/gap");
        assert_eq!(v["from"], "1970-01-12T13:46:40Z");
        assert_eq!(v["to"], "1970-01-12T13:49:10Z");
        assert_eq!(v["missing"], true);
    }
}
