//! The switches that make the emulator misbehave the way broken deployments do, and the raw
//! frames a test can push. Plain data: set through [`crate::Control::set_faults`] and
//! [`crate::Control::inject_frame`], read by the HTTP and websocket layers. Owns no behaviour.

use std::time::Duration;

/// A frame to push to every open socket, for malformed-traffic tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// Bytes written to the TCP stream as they are (a hand-made frame, garbage, ...).
    Raw(Vec<u8>),
}

/// Switches that make the emulator misbehave the way broken deployments do.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer `/websocket` with this status, content type and body instead of upgrading
    /// (a proxy's 502/504, a 404 from a wrong path, an HTML 200 from a catch-all...).
    pub upgrade_status: Option<(u16, &'static str, String)>,
    /// Prefork HTTP worker: `/websocket` fails with a 500 (it needs the evented port 8072).
    pub http_worker_mode: bool,
    /// Upgrade with a fresh public session (rotated cookie) whatever cookie was sent.
    pub downgrade_session: bool,
    /// Rows are stored but never pushed (a dead `ImDispatch` thread).
    pub no_dispatch: bool,
    /// A proxy that drops connections idle (no frame either way) for this long.
    pub cut_idle_after: Option<Duration>,
    /// Accept the TCP connection and the `/websocket` request, never answer.
    pub hang_handshake: bool,
    /// Never send a server PING.
    pub no_pings: bool,
    /// Drop the TCP connection after this many data frames on a socket.
    pub max_frames_per_socket: Option<usize>,
    /// A slow dispatcher: every push to a socket waits this long first (the delivery latency a
    /// probe should see grow).
    pub delivery_delay: Option<Duration>,
    /// Lose this fraction (0..=1) of the notifications pushed to sockets: the row exists, the
    /// socket's cursor moves past it, the frame never goes (F12's "one message missing").
    /// Deterministic: 0.5 loses every second one, 0.25 every fourth.
    pub drop_fraction: f64,
    /// The gevent worker's database pool: with this many sockets open, the next one is
    /// upgraded and then closed at once with 1013 TRY_LATER and an empty reason (`PoolError`).
    /// A real 18 (`db_maxconn_gevent = 4`) closes that way ~15 ms after the socket's first
    /// `subscribe` when simultaneous ones exhaust the pool (idle sockets hold no connection),
    /// with `Failed to acquire cursor after 10 retries` when a delivery finds it full, and
    /// answers the handshake itself with a 500 under the same pressure (`pool_busy_upgrades`).
    pub max_sockets: Option<usize>,

    // --- Proxies in front of Odoo (issue #21: F5 forwarded headers, F21 auth gateways) ---
    /// A proxy whose `/websocket` location adds none of the `X-Forwarded-*` headers and sends
    /// `Host: <this>` (nginx's default `$proxy_host`, the upstream's address): what a
    /// `proxy_set_header` inside `location /websocket` does to the server-level ones, or a load
    /// balancer that sends no forwarded host. Headers the client sent itself pass through, as
    /// nginx and load balancers pass them. With `public_samesite_ws` the socket is downgraded
    /// even under `proxy_mode`.
    pub websocket_forwarded_dropped: Option<String>,
    /// An authentication gateway (basic auth, a WAF, an SSO portal) answering instead of Odoo.
    pub auth_gateway: Option<AuthGateway>,
    /// Every request under `/websocket` (the upgrade, health, peek, presence) is served by
    /// another Odoo that does not know the sessions of this one (F20: two instances, or a
    /// proxy's `/websocket` location pointing at another upstream). As a real Odoo does with a
    /// session id it has no file for, it keeps the id and serves the request publicly; its
    /// sessions are its own (a second store), so nothing it does reaches this one's.
    pub websocket_other_instance: bool,
    /// With `websocket_other_instance`: that Odoo's session ids have another format (a 16 or
    /// 17 behind `/websocket` of an 18 or 19, or the reverse), so it rejects the id outright and
    /// answers with a new session cookie (the 101 and the JSON routes alike, as the real ones do).
    pub other_instance_rejects_ids: bool,
    /// A WAF or proxy rule that refuses, with this status, every upgrade whose `Origin` is not
    /// the server's own address (F17: a live chat embedded on another site never connects).
    pub foreign_origin_refused: Option<u16>,

    // --- Servers that accept the websocket and then fail it (issue #21: F8, F9, F11) ---
    /// Upgrade with this `Server` header in the 101, then never read or answer a frame (no
    /// pong, no notification, no ping; TCP stays open). With [`Faults::WERKZEUG_2_3`] it is threaded
    /// Odoo on Werkzeug ≥ 2.3 before odoo/odoo PR#166231, whose werkzeug discards what follows
    /// the handshake (F9); with a proxy's name (`nginx/1.22.1`) a hop that swallows frames.
    pub swallow_frames_after_upgrade: Option<&'static str>,
    /// Hold every `/websocket` request that asks for `Upgrade: websocket` forever, and answer
    /// the others as usual (a plain `GET /websocket` gets Odoo's 400 at once): what nginx's
    /// `ssi on` on the websocket location does to the 101 (F8). `hang_handshake` holds every
    /// request to `/websocket` instead (a hung websocket route, F11).
    pub hang_upgrades: bool,
    /// The next this many upgrades answer HTTP 500 (the handshake's request found the database
    /// pool full: `PoolError: The Connection Pool Is Full`, as a real 18 with a small
    /// `db_maxconn_gevent` does under load, F10), the ones after upgrade again.
    pub pool_busy_upgrades: usize,
    /// Odoo's gevent process (16–19, `workers > 0`): its server hands a request that says
    /// `Connection: upgrade` the raw socket as its body, so a plain POST under `/websocket`
    /// (a peek, a presence update) that says it is read to the end of the connection and never
    /// answered; GETs and upgrades are unaffected. A proxy that sends that header on every
    /// `/websocket` request (nginx's fixed `proxy_set_header Connection "upgrade"`) brings it to
    /// every peek. Measured on a real 18 (workers = 2): held through nginx and when sent
    /// straight to the gevent port; answered in 10–20 ms without the header.
    pub gevent_holds_upgrade_posts: bool,
}

/// What an authentication gateway in front of Odoo answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthGateway {
    /// 401, 403 or 407.
    pub status: u16,
    /// `WWW-Authenticate` (401) or `Proxy-Authenticate` (407) and its value, if any.
    pub challenge: Option<(&'static str, String)>,
    /// The page it sends (an SSO portal's login form, a WAF's block page).
    pub html: String,
    /// Every request; else only those under `/websocket` (the upgrade, health, peek), as an
    /// `auth_basic` inside nginx's `location /websocket` does.
    pub everywhere: bool,
}

impl AuthGateway {
    /// HTTP basic auth (`auth_basic "realm"` in nginx, `AuthType Basic` in Apache).
    pub fn basic(realm: &str) -> Self {
        AuthGateway {
            status: 401,
            challenge: Some(("www-authenticate", format!("Basic realm=\"{realm}\""))),
            html: "<html><head><title>401 Authorization Required</title></head><body><center><h1>401 Authorization Required</h1></center><hr><center>nginx</center></body></html>".into(),
            everywhere: false,
        }
    }

    /// A forward proxy (or gateway) that wants its own credentials.
    pub fn proxy(realm: &str) -> Self {
        AuthGateway {
            status: 407,
            challenge: Some(("proxy-authenticate", format!("Basic realm=\"{realm}\""))),
            html: "<html><body><h1>407 Proxy Authentication Required</h1></body></html>".into(),
            everywhere: false,
        }
    }

    /// An SSO portal or WAF answering 403 with its own login page.
    pub fn portal() -> Self {
        AuthGateway {
            status: 403,
            challenge: None,
            html: "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form method=\"post\" action=\"/oauth2/start\"><input type=\"password\" name=\"password\"><button>Sign in</button></form></body></html>".into(),
            everywhere: false,
        }
    }

    /// The same gateway on every request.
    pub fn everywhere(self) -> Self {
        AuthGateway {
            everywhere: true,
            ..self
        }
    }
}

impl Faults {
    /// The `Server` header of a threaded Odoo 16/17 run on Werkzeug 2.3 (a pip upgrade or a
    /// docker image with the wrong werkzeug, F9); werkzeug's dev server writes it this way.
    pub const WERKZEUG_2_3: &str = "Werkzeug/2.3.7 Python/3.11.7";

    /// Whether the `n`-th pushed notification (0-based) is lost under `drop_fraction`: the
    /// running total of lost ones is `floor((n + 1) × fraction)`.
    pub fn drops(&self, n: u64) -> bool {
        let f = self.drop_fraction.clamp(0.0, 1.0);
        f > 0.0 && ((n + 1) as f64 * f).floor() > (n as f64 * f).floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_fraction_is_exact_and_deterministic() {
        let f = |x| Faults {
            drop_fraction: x,
            ..Faults::default()
        };
        let lost = |x: f64| (0..100).filter(|n| f(x).drops(*n)).count();
        assert_eq!(lost(0.0), 0);
        assert_eq!(lost(0.5), 50);
        assert_eq!(lost(0.25), 25);
        assert_eq!(lost(1.0), 100);
        assert!(f(0.5).drops(1) && !f(0.5).drops(0));
    }
}
