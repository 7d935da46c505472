//! `--deep`: round trips of websocket pings, and an idle connection held long enough to catch a
//! proxy that cuts idle websockets before Odoo's keep-alive ping (sent after 45 s of silence,
//! protocol §2.7). nginx's default `proxy_read_timeout` (60 s) survives it; anything under 45 s
//! does not, and shows up in the browser as "realtime connection lost" every minute.

use std::time::{Duration, Instant};

use super::causes;
use super::check::Verdict;
use super::hints;
use super::websocket::SocketEnd;
use odoo_bus_core::bus::connection::{Connection, Handshake, Incoming, Observed};

/// How long Odoo 18 stays silent before it pings.
pub const ODOO_PING_AFTER: Duration = Duration::from_secs(45);

/// The idle hold `--deep` uses by default: past the 45 s ping and nginx's default 60 s.
pub const DEFAULT_IDLE_HOLD: Duration = Duration::from_secs(70);

/// Pings sent by the round-trip check; with the spacing below this stays far inside Odoo's
/// budget of 10 frames in 2 s.
pub const PINGS: usize = 3;
const PING_SPACING: Duration = Duration::from_millis(250);

/// Send a few pings and time their pongs.
pub async fn check_ping(
    conn: &mut Connection,
    handshake: &Handshake,
    count: usize,
    timeout: Duration,
) -> Verdict {
    let mut rtts = Vec::with_capacity(count);
    for i in 0..count {
        if i > 0 {
            tokio::time::sleep(PING_SPACING).await;
        }
        let payload = format!("odoo-bus-doctor-ping-{i}").into_bytes();
        let sent = Instant::now();
        if let Err(e) = conn.send_ping(payload.clone()).await {
            return Verdict::fail(
                format!("cannot send a ping: {e}"),
                "check the proxy and the Odoo log",
            );
        }
        let deadline = sent + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.next_observed(left).await {
                Observed::Pong(p) if p.as_ref() == payload.as_slice() => {
                    rtts.push(sent.elapsed());
                    break;
                }
                Observed::Pong(_) | Observed::Ping => {}
                Observed::Frame(other) => match SocketEnd::seen(conn, other) {
                    None => {}
                    Some(SocketEnd::Timeout) => {
                        return causes::frames_unanswered(
                            handshake,
                            timeout,
                            &format!("ping {} (no pong)", i + 1),
                        );
                    }
                    Some(end) => {
                        return Verdict::fail(
                            format!("while pinging, {}", end.describe()),
                            end.hint().unwrap_or_else(|| {
                                "check the Odoo log and the proxy log for that moment".into()
                            }),
                        );
                    }
                },
            }
        }
    }
    Verdict::pass(format!("{} pings: {}", rtts.len(), summarize(&rtts)))
}

/// `min/avg/max 1.2/1.5/2.0 ms`.
pub fn summarize(rtts: &[Duration]) -> String {
    if rtts.is_empty() {
        return "no round trip".into();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let min = rtts.iter().copied().min().unwrap_or_default();
    let max = rtts.iter().copied().max().unwrap_or_default();
    let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
    format!(
        "round trip min/avg/max {:.1}/{:.1}/{:.1} ms",
        ms(min),
        ms(avg),
        ms(max)
    )
}

/// What happened while the connection sat idle.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleLog {
    pub held: Duration,
    /// When the server pinged, from the start of the hold.
    pub pings: Vec<Duration>,
    /// When the last frame of any kind went either way.
    pub last_traffic: Duration,
    /// How it ended, if before the end of the hold.
    pub end: Option<SocketEnd>,
}

/// Hold the socket open sending nothing (pings are answered, as a browser does).
pub async fn hold_idle(conn: &mut Connection, hold: Duration) -> IdleLog {
    let start = Instant::now();
    let deadline = start + hold;
    let mut log = IdleLog {
        held: Duration::ZERO,
        pings: Vec::new(),
        last_traffic: Duration::ZERO,
        end: None,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match conn.next_observed(left).await {
            Observed::Ping => {
                log.pings.push(start.elapsed());
                log.last_traffic = start.elapsed();
            }
            Observed::Pong(_) | Observed::Frame(Incoming::Text(_) | Incoming::Binary(_)) => {
                log.last_traffic = start.elapsed();
            }
            Observed::Frame(Incoming::Silent(_)) => break,
            Observed::Frame(closed @ Incoming::Closed { .. }) => {
                log.end = SocketEnd::seen(conn, closed);
                break;
            }
            Observed::Frame(Incoming::Broken(why)) => {
                log.end = Some(SocketEnd::Broken(why));
                break;
            }
        }
    }
    log.held = start.elapsed();
    log
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The verdict on an idle hold of `planned`.
pub fn judge_idle(log: &IdleLog, planned: Duration, ping_after: Duration) -> Verdict {
    let pings = match log.pings.as_slice() {
        [] => "no server ping".to_string(),
        [first, ..] => format!("server ping at {}", secs(*first)),
    };
    match &log.end {
        Some(end @ SocketEnd::TryLater { .. }) => Verdict::fail(
            format!(
                "the idle socket was closed after {}: {}",
                secs(log.held),
                end.describe()
            ),
            end.hint().unwrap_or_default(),
        ),
        None => {
            let detail = format!("held {} idle, {pings}, still open", secs(log.held));
            // Odoo's loop wakes up late by up to a fraction of its period: 10 s on 45 s.
            if log.pings.is_empty() && planned > ping_after.mul_f64(11.0 / 9.0) {
                Verdict::warn(
                    format!(
                        "{detail}: Odoo pings after {} s of silence and none arrived, so a hop in between swallows control frames",
                        ping_after.as_secs_f64()
                    ),
                    "let the proxy pass websocket control frames (a WAF or load balancer that answers or drops pings itself hides dead connections: they go unnoticed until the next message fails); browsers then see \"connection lost\" only much later",
                )
            } else {
                Verdict::pass(detail)
            }
        }
        Some(SocketEnd::Closed {
            code: Some(code), ..
        }) if *code != odoo_bus_core::bus::protocol::close_code::ABNORMAL_CLOSURE => Verdict::fail(
            format!(
                "the idle socket was closed after {}: {}",
                secs(log.held),
                log.end
                    .as_ref()
                    .map(SocketEnd::describe)
                    .unwrap_or_default()
            ),
            "check the Odoo log for that moment (a restart or the keep-alive limit)",
        ),
        Some(_) => {
            let idle = log.held.saturating_sub(log.last_traffic);
            let when = if log.pings.is_empty() {
                "before Odoo's keep-alive ping (sent after 45 s of silence)".to_string()
            } else {
                format!("although Odoo pinged ({pings})")
            };
            Verdict::fail(
                format!(
                    "the connection was cut after {} idle ({} after the last frame), {when}: a proxy or load balancer drops idle websockets",
                    secs(log.held),
                    secs(idle)
                ),
                format!(
                    "raise the idle timeout above Odoo's 45 s ping: in nginx's /websocket location set {} (and proxy_send_timeout 720s;); on a load balancer raise its idle timeout",
                    hints::NGINX_READ_TIMEOUT
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    fn log(held: u64, pings: &[u64], end: Option<SocketEnd>) -> IdleLog {
        IdleLog {
            held: Duration::from_millis(held),
            pings: pings.iter().map(|p| Duration::from_millis(*p)).collect(),
            last_traffic: pings
                .last()
                .map(|p| Duration::from_millis(*p))
                .unwrap_or_default(),
            end,
        }
    }

    #[test]
    fn a_cut_before_the_ping_names_proxy_read_timeout() {
        let v = judge_idle(
            &log(30_000, &[], Some(SocketEnd::Broken("eof".into()))),
            DEFAULT_IDLE_HOLD,
            ODOO_PING_AFTER,
        );
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("before Odoo's keep-alive ping"), "{v:?}");
        assert!(v.hint.unwrap().contains("proxy_read_timeout 720s;"));
        let v = judge_idle(
            &log(
                50_000,
                &[45_000],
                Some(SocketEnd::Closed {
                    code: None,
                    reason: String::new(),
                }),
            ),
            DEFAULT_IDLE_HOLD,
            ODOO_PING_AFTER,
        );
        assert!(v.detail.contains("although Odoo pinged"), "{v:?}");
    }

    #[test]
    fn a_full_hold_passes_and_a_missing_ping_warns() {
        let v = judge_idle(
            &log(70_000, &[45_000], None),
            DEFAULT_IDLE_HOLD,
            ODOO_PING_AFTER,
        );
        assert_eq!(v.status, Status::Pass);
        assert_eq!(v.hint, None);
        assert!(v.detail.contains("server ping at 45.0 s"), "{v:?}");
        let v = judge_idle(&log(70_000, &[], None), DEFAULT_IDLE_HOLD, ODOO_PING_AFTER);
        assert_eq!(v.status, Status::Pass);
        assert!(v.hint.is_some());
        // A short (test) hold expects no ping.
        let v = judge_idle(
            &log(1_000, &[], None),
            Duration::from_secs(1),
            ODOO_PING_AFTER,
        );
        assert_eq!(v.hint, None);
    }

    #[test]
    fn a_close_frame_is_not_a_proxy_cut() {
        let v = judge_idle(
            &log(
                3_000,
                &[],
                Some(SocketEnd::Closed {
                    code: Some(1001),
                    reason: String::new(),
                }),
            ),
            DEFAULT_IDLE_HOLD,
            ODOO_PING_AFTER,
        );
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("was closed"), "{v:?}");
    }

    #[test]
    fn round_trips_are_summarized() {
        let s = summarize(&[
            Duration::from_micros(1200),
            Duration::from_micros(1800),
            Duration::from_micros(1500),
        ]);
        assert_eq!(s, "round trip min/avg/max 1.2/1.5/1.8 ms");
        assert_eq!(summarize(&[]), "no round trip");
    }
}
