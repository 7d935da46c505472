//! The HTTP hops: is it Odoo (and new enough for a websocket bus), do its health routes answer,
//! and does the saved session still work.

use serde_json::{Value, json};

use super::check::Verdict;
use super::hints;
use odoo_bus_core::bus::poll;
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::rpc::{ErrorContext, RpcError, TransportKind, one_line};
use odoo_bus_core::odoo::session::VersionInfo;

/// The first major version with the websocket bus (15 and older long-poll).
pub const FIRST_WEBSOCKET_MAJOR: u32 = 16;

/// A failed HTTP call: what happened, and the one-line advice the rest of the tool gives for it.
pub fn http_failure(client: &OdooClient, route: &str, e: &RpcError) -> Verdict {
    let advice = e.user_error(&ErrorContext {
        server: client.url(),
        profile: "default",
        login: false,
    });
    Verdict::fail(format!("{route}: {e}"), advice.message)
}

/// `/web/webclient/version_info`: Odoo answers it without a database or session.
pub async fn check_odoo(client: &OdooClient) -> (Verdict, Option<VersionInfo>) {
    match client.version_info().await {
        Ok(v) if v.major < FIRST_WEBSOCKET_MAJOR => (
            Verdict::fail(
                format!(
                    "Odoo {} has no websocket bus (before 16 the bus long-polls /longpolling/poll)",
                    v.server_version
                ),
                "odoo-bus needs Odoo 16 or later: upgrade the server",
            ),
            None,
        ),
        Ok(v) => (Verdict::pass(format!("Odoo {}", v.server_version)), Some(v)),
        Err(e) => match gateway_in_front(client, "/web/webclient/version_info").await {
            Some(v) => (v, None),
            None => (
                http_failure(client, "/web/webclient/version_info", &e),
                None,
            ),
        },
    }
}

/// Whether a 401/403/407 at `route` comes from an authentication gateway (F21), read from a
/// plain GET (a gateway answers before any route, whatever the method).
async fn gateway_in_front(client: &OdooClient, route: &str) -> Option<Verdict> {
    let r = client.get(route).await.ok()?;
    let header = |name: http::header::HeaderName| {
        r.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .map(|v| (name, v.to_string()))
    };
    let challenge = header(http::header::WWW_AUTHENTICATE)
        .map(|(_, v)| format!("WWW-Authenticate: {v}"))
        .or_else(|| {
            header(http::header::PROXY_AUTHENTICATE)
                .map(|(_, v)| format!("Proxy-Authenticate: {v}"))
        });
    let server = header(http::header::SERVER).map(|(_, v)| v);
    let body = String::from_utf8_lossy(&r.body[..r.body.len().min(4096)]).into_owned();
    super::gateway::diagnose(
        &super::gateway::Answer {
            status: r.status,
            challenge: challenge.as_deref(),
            server: server.as_deref(),
            body: &body,
        },
        route,
    )
}

/// What one health route said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Pass,
    /// Any other answer: the status and a short description.
    Bad(u16, String),
    Unreachable(String),
}

/// `{"status": "pass"}` with a 200 is healthy; anything else is described.
fn read_health(status: u16, body: &[u8]) -> Health {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let said = json
        .as_ref()
        .and_then(|j| j.get("status"))
        .and_then(Value::as_str);
    match (status, said) {
        (200, Some("pass")) => Health::Pass,
        (200, Some(other)) => Health::Bad(200, format!("status \"{other}\"")),
        (200, None) => Health::Bad(
            200,
            format!(
                "not Odoo's health answer: {}",
                one_line(&String::from_utf8_lossy(body), 60)
            ),
        ),
        (s, _) => Health::Bad(s, format!("HTTP {s}")),
    }
}

async fn probe(client: &OdooClient, route: &str) -> Health {
    match client.get(route).await {
        Ok(r) => read_health(r.status, &r.body),
        Err(e) => Health::Unreachable(e.to_string()),
    }
}

/// `GET /web/health` and `GET /websocket/health`. In prefork mode a proxy sends `/websocket`
/// to another process (the gevent port) than `/web`, so the second one tests that route.
///
/// When both pass, one plain POST under `/websocket` (a peek that marks nothing) tells whether a
/// hop holds such requests: harmless for browsers, fatal for polling and for the peeks doctor
/// and probe make (see [`poll::HELD_POST_CAUSE`]).
pub async fn check_health(client: &OdooClient) -> Verdict {
    let web = probe(client, "/web/health").await;
    let ws = probe(client, "/websocket/health").await;
    let verdict = judge_health(&web, &ws);
    if (&web, &ws) != (&Health::Pass, &Health::Pass) || !post_is_held(client).await {
        return verdict;
    }
    Verdict::warn(
        format!(
            "{}, but a plain POST under /websocket ({}) got no answer within {} s: {}. Browsers' websockets work; odoo-bus's polling (`tail --transport poll`, the fallback when the upgrade is refused) would hang",
            verdict.detail,
            poll::PEEK_ROUTE,
            poll::PEEK_ANSWERS_WITHIN.as_secs(),
            poll::HELD_POST_CAUSE
        ),
        poll::HELD_POST_FIX,
    )
}

/// Whether a peek that marks nothing (`is_first_poll: false`: Odoo answers error 100 at once
/// to a session that never polled) gets no answer in time.
async fn post_is_held(client: &OdooClient) -> bool {
    let params = json!({"channels": [], "last": 0, "is_first_poll": false});
    matches!(
        client
            .post_json_within(poll::PEEK_ROUTE, params, poll::PEEK_ANSWERS_WITHIN)
            .await,
        Err(RpcError::Transport {
            kind: TransportKind::Timeout,
            ..
        })
    )
}

fn judge_health(web: &Health, ws: &Health) -> Verdict {
    let describe = |h: &Health| match h {
        Health::Pass => "pass".to_string(),
        Health::Bad(_, d) => d.clone(),
        Health::Unreachable(d) => format!("no answer ({d})"),
    };
    let detail = format!(
        "/web/health: {}; /websocket/health: {}",
        describe(web),
        describe(ws)
    );
    match (web, ws) {
        (Health::Pass, Health::Pass) => Verdict::pass(detail),
        // Odoo's own error page from the process behind /websocket: on a real 18 under load
        // this is its database pool running out (PoolError), the route itself is fine.
        (Health::Pass, Health::Bad(500, _)) => Verdict::fail(
            format!(
                "{detail}: the process behind /websocket answers but fails; if it comes and goes, its database pool is full (F10, `PoolError: The Connection Pool Is Full` in the Odoo log)"
            ),
            super::websocket::POOL_FIX,
        ),
        // Accepted but never answered: not down (that is refused or a 502), hung.
        (_, Health::Unreachable(d)) if d.contains("(timeout)") => Verdict::fail(
            format!(
                "{detail}: the process behind /websocket accepts the connection but does not answer (a hung gevent process, F11)"
            ),
            "restart Odoo's gevent process (or Odoo) and read its log from the start (an addon that deadlocks when loaded under gevent hangs it for good); the upgrade check below tells it from nginx's `ssi on`",
        ),
        (_, Health::Bad(502..=504, _)) | (_, Health::Unreachable(_)) => Verdict::fail(
            format!("{detail}: the proxy cannot reach the process that serves /websocket"),
            format!(
                "start Odoo's evented (gevent) process and route the websocket to it: {} ({})",
                hints::NGINX_WEBSOCKET_LOCATION,
                hints::CONTAINER_LOOPBACK
            ),
        ),
        (_, Health::Bad(404, _)) => Verdict::fail(
            format!("{detail}: the /websocket path is not routed to Odoo"),
            format!(
                "add a websocket location to the proxy: {} with {}",
                hints::NGINX_WEBSOCKET_LOCATION,
                hints::NGINX_UPGRADE
            ),
        ),
        // Odoo never answers these: something in front of it wants a login (F21).
        (_, Health::Bad(401 | 403 | 407, _)) => Verdict::fail(
            format!(
                "{detail}: an authentication gateway, access rule or WAF in front of Odoo answers /websocket"
            ),
            "let /websocket through the gateway without its own login (the upgrade check quotes what it asks for)",
        ),
        (Health::Pass, _) => Verdict::fail(
            format!("{detail}: /websocket/health does not reach Odoo"),
            format!(
                "route /websocket to Odoo (prefork: its gevent port): {}",
                hints::NGINX_WEBSOCKET_LOCATION
            ),
        ),
        _ => Verdict::fail(
            format!("{detail}: Odoo reports itself unhealthy or something else answers"),
            "check the Odoo log and that the proxy sends /web to Odoo (a maintenance page or a WAF may answer instead)",
        ),
    }
}

/// What the server says about the saved session.
#[derive(Debug, Clone, Default)]
pub struct SessionFacts {
    pub uid: Option<i64>,
    /// What the server is (see [`odoo_bus_core::odoo::version::Flavor`]).
    pub flavor: odoo_bus_core::odoo::version::Flavor,
    pub partner_id: Option<i64>,
    pub worker_version: Option<String>,
    /// An internal user (not portal): may watch any partner's presence.
    pub internal_user: bool,
    /// `web.base.url` from `session_info`: evidence of the address Odoo believes it has.
    pub web_base_url: Option<String>,
    /// The session's database (F20: compared with the one `/websocket` answers from).
    pub db: Option<String>,
}

/// `/web/session/check`, then `get_session_info` for the user and the websocket worker version.
pub async fn check_session(
    client: &OdooClient,
    saved_worker_version: Option<&str>,
    login_command: &str,
) -> (Verdict, Option<SessionFacts>) {
    match client.check().await {
        Ok(true) => {}
        Ok(false) | Err(RpcError::SessionExpired) => {
            return (
                Verdict::fail(
                    "the saved session is no longer valid (expired, logged out, or the database was restored)",
                    format!("log in again: run `{login_command}`"),
                ),
                None,
            );
        }
        Err(e) => return (http_failure(client, "/web/session/check", &e), None),
    }
    let info = match client.session_info().await {
        Ok(i) => i,
        Err(e) => {
            return (
                http_failure(client, "/web/session/get_session_info", &e),
                None,
            );
        }
    };
    let who = match (&info.username, info.uid, info.partner_id) {
        (Some(login), Some(uid), Some(partner)) => {
            format!("{login} (uid {uid}, partner {partner})")
        }
        (Some(login), _, _) => login.clone(),
        _ => "a user".to_string(),
    };
    let db = info
        .db
        .as_deref()
        .map(|d| format!(" on database {d}"))
        .unwrap_or_default();
    let worker = match (
        info.websocket_worker_version.as_deref(),
        saved_worker_version,
    ) {
        (Some(now), Some(saved)) if now != saved => format!(
            "; websocket worker {now} (the profile saved {saved}; `{login_command}` refreshes it)"
        ),
        (Some(now), _) => format!("; websocket worker {now}"),
        (None, _) => {
            "; no websocket worker version announced (connecting without ?version=)".into()
        }
    };
    let flavor = odoo_bus_core::odoo::version::Flavor::detect(
        info.major_version(),
        info.websocket_worker_version.as_deref(),
    );
    let facts = SessionFacts {
        uid: info.uid,
        flavor,
        partner_id: info.partner_id,
        worker_version: info.websocket_worker_version.clone(),
        internal_user: info.is_internal_user.unwrap_or(true),
        web_base_url: info.web_base_url.clone(),
        db: info.db.clone(),
    };
    (
        Verdict::pass(format!(
            "valid: {who}{db}; spoken to as Odoo {}{worker}",
            flavor.label()
        )),
        Some(facts),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    #[test]
    fn health_answers_are_read_strictly() {
        assert_eq!(read_health(200, br#"{"status": "pass"}"#), Health::Pass);
        assert!(matches!(
            read_health(200, br#"{"status": "fail"}"#),
            Health::Bad(200, d) if d.contains("fail")
        ));
        assert!(matches!(
            read_health(200, b"<html>welcome</html>"),
            Health::Bad(200, d) if d.contains("not Odoo")
        ));
        assert!(matches!(read_health(502, b""), Health::Bad(502, _)));
    }

    #[test]
    fn the_broken_health_route_names_its_fix() {
        let v = judge_health(&Health::Pass, &Health::Pass);
        assert_eq!(v.status, Status::Pass);
        let v = judge_health(&Health::Pass, &Health::Bad(502, "HTTP 502".into()));
        assert_eq!(v.status, Status::Fail);
        let hint = v.hint.unwrap();
        assert!(hint.contains("8072"));
        assert!(
            hint.contains("127.0.0.1 is the proxy's own container"),
            "{hint}"
        );
        let v = judge_health(
            &Health::Pass,
            &Health::Unreachable("transport error (timeout): operation timed out".into()),
        );
        assert!(v.detail.contains("F11"), "{v:?}");
        let v = judge_health(
            &Health::Pass,
            &Health::Unreachable("transport error (refused): connection refused".into()),
        );
        assert!(v.hint.as_deref().unwrap_or("").contains("8072"), "{v:?}");
        let v = judge_health(&Health::Pass, &Health::Bad(500, "HTTP 500".into()));
        assert!(v.detail.contains("PoolError"), "{v:?}");
        assert!(v.hint.unwrap().contains("db_maxconn_gevent"));
        let v = judge_health(&Health::Pass, &Health::Bad(404, "HTTP 404".into()));
        assert!(v.detail.contains("not routed"));
        let v = judge_health(&Health::Pass, &Health::Bad(401, "HTTP 401".into()));
        assert!(v.detail.contains("authentication gateway"), "{v:?}");
        let v = judge_health(
            &Health::Bad(200, "status \"fail\"".into()),
            &Health::Bad(200, "status \"fail\"".into()),
        );
        assert!(v.detail.contains("unhealthy"), "{v:?}");
    }
}
