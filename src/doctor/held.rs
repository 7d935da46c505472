//! An upgrade that got no answer at all: ask `/websocket` again without the upgrade headers,
//! and `/websocket/health`, to tell what holds it. Odoo answers a plain `GET /websocket` at
//! once (werkzeug's 400, measured on 16–19 and through nginx to the gevent port), so:
//! - plain GET and health answer, only the upgrade hangs ⇒ something holds upgraded responses
//!   only: nginx `ssi on` on that location (F8, odoo/odoo#139566) or another filter;
//! - the plain GET hangs too ⇒ whatever serves `/websocket` is stuck: a hung gevent process
//!   (F11), health included or not.
//!
//! Owns: these two follow-up requests and the verdict. May not touch: the websocket itself.

use std::time::{Duration, Instant};

use super::check::Verdict;
use super::hints;
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::rpc::{RpcError, TransportKind};

/// What one follow-up request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer (any status) after this long.
    Status(u16, Duration),
    /// Health only: `{"status": "pass"}` with a 200.
    Pass(Duration),
    /// Nothing within the time allowed.
    Hung,
    /// Refused, reset, or another transport error.
    Failed(String),
}

impl Answer {
    fn answered(&self) -> bool {
        matches!(self, Answer::Status(..) | Answer::Pass(_))
    }

    fn describe(&self) -> String {
        match self {
            Answer::Status(s, t) => format!("HTTP {s} in {} ms", t.as_millis()),
            Answer::Pass(t) => format!("pass in {} ms", t.as_millis()),
            Answer::Hung => "no answer".into(),
            Answer::Failed(e) => format!("failed ({e})"),
        }
    }
}

async fn ask(client: &OdooClient, route: &str, health: bool) -> Answer {
    let start = Instant::now();
    match client.get(route).await {
        Ok(r) => {
            let took = start.elapsed();
            let pass = r.status == 200
                && serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                    .is_some_and(|s| s == "pass");
            if health && pass {
                Answer::Pass(took)
            } else {
                Answer::Status(r.status, took)
            }
        }
        Err(RpcError::Transport {
            kind: TransportKind::Timeout,
            ..
        }) => Answer::Hung,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// The upgrade got no answer within `waited`: ask the two follow-ups with `client` (whose
/// timeout should be short, the upgrade's) and name what holds it.
pub async fn explain(client: &OdooClient, waited: Duration) -> Verdict {
    let plain = ask(client, "/websocket", false).await;
    let health = ask(client, "/websocket/health", true).await;
    judge(&plain, &health, waited)
}

pub fn judge(plain: &Answer, health: &Answer, waited: Duration) -> Verdict {
    let evidence = format!(
        "a plain GET /websocket (no Upgrade header): {}; /websocket/health: {}",
        plain.describe(),
        health.describe()
    );
    let secs = waited.as_secs_f64();
    match (plain.answered(), health) {
        (true, Answer::Pass(_)) => Verdict::fail(
            format!(
                "no answer to the upgrade within {secs} s, yet {evidence}: something between holds only upgraded (101) responses, typically nginx's `ssi on` (or another output filter) applying to /websocket (F8)"
            ),
            format!(
                "put `ssi off;` in nginx's `location /websocket` (and check any `ssi`, `sub_filter` or `gzip` directive inherited from the server or http block); elsewhere make the proxy pass upgrades straight through ({})",
                hints::NGINX_UPGRADE
            ),
        ),
        (false, _) if matches!(plain, Answer::Hung) => {
            let why = if health.answered() {
                "every request to /websocket itself hangs while its health route answers: the process behind /websocket is stuck in the websocket route, or a proxy rule for exactly /websocket holds requests"
            } else {
                "nothing under /websocket answers although the connection is accepted: the process behind it (in prefork mode the gevent process on port 8072) is hung"
            };
            Verdict::fail(
                format!(
                    "no answer to the upgrade within {secs} s; {evidence}: {why} (F11: a hung gevent process)"
                ),
                "restart Odoo's gevent process (or Odoo) and read its log from the start: an addon that deadlocks when loaded under gevent (one calling subprocess at import, as OCA server_environment did before its fix) hangs it for good; `py-spy dump --pid <gevent pid>` shows where it waits",
            )
        }
        _ => Verdict::fail(
            format!(
                "no answer to the upgrade within {secs} s: the request reached something that holds it ({evidence})"
            ),
            format!(
                "check that the proxy passes upgrades straight through ({}) and that Odoo has a free worker (prefork: route /websocket to the gevent port, {})",
                hints::NGINX_UPGRADE,
                hints::NGINX_WEBSOCKET_LOCATION
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    const T: Duration = Duration::from_secs(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn only_the_upgrade_held_names_ssi() {
        let v = judge(&Answer::Status(400, ms(9)), &Answer::Pass(ms(3)), T);
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("HTTP 400 in 9 ms"), "{v:?}");
        assert!(v.detail.contains("F8"), "{v:?}");
        assert!(v.hint.unwrap().contains("ssi off;"));
    }

    #[test]
    fn a_hanging_plain_get_names_a_hung_gevent_process() {
        let v = judge(&Answer::Hung, &Answer::Pass(ms(3)), T);
        assert!(v.detail.contains("health route answers"), "{v:?}");
        assert!(v.detail.contains("F11"), "{v:?}");
        let v = judge(&Answer::Hung, &Answer::Hung, T);
        assert!(v.detail.contains("is hung"), "{v:?}");
        assert!(v.hint.unwrap().contains("gevent"));
    }

    #[test]
    fn anything_else_keeps_the_generic_hint_with_the_evidence() {
        let v = judge(
            &Answer::Failed("connection refused".into()),
            &Answer::Pass(ms(1)),
            T,
        );
        assert!(v.detail.contains("connection refused"), "{v:?}");
        assert!(v.hint.unwrap().contains("proxy_http_version 1.1"));
    }
}
