//! The emulator's knobs. `Default` is a production Odoo 18.0; [`EmulatorConfig::fast`] shrinks the
//! timers so tests can watch pings, timeouts and keep-alive closes without waiting minutes;
//! [`EmulatorConfig::with_version`] picks another Odoo version's personality.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::Value;

use super::personality::OdooVersion;

/// Everything that differs between two Odoo servers, as far as a bus client can tell.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (loopback by default).
    pub bind: IpAddr,
    /// TCP port; 0 picks a free one. Kept across [`super::Control::restart`].
    pub port: u16,
    /// Database names; the first is where users and channels live. With one db the server is
    /// "monodb" (every session gets it automatically), with several `/web/login?db=` redirects.
    pub dbs: Vec<String>,
    /// `list_db` server option: `false` makes `/web/database/list` fail with AccessDenied.
    pub list_db: bool,
    /// Which Odoo this server is: every version-dependent shape follows it (set it with
    /// [`EmulatorConfig::with_version`], which also sets the version strings below).
    pub version: OdooVersion,
    /// `version_info.server_version` / `session_info.server_version`.
    pub server_version: String,
    /// `server_version_info`, e.g. `[18, 0, 0, "final", 0, ""]`.
    pub server_version_info: Value,
    /// `session_info.websocket_worker_version`; browsers sending another `?version=` are told
    /// `OUTDATED_VERSION`. `None` (16, early 17): the key is absent and no version is checked.
    pub websocket_worker_version: Option<String>,
    /// Server PING after this long without any frame in or wake-up (Odoo: 45 s).
    pub idle_ping: Duration,
    /// How long a PING may stay unanswered before the TCP connection is dropped (Odoo: 15 s).
    pub pong_timeout: Duration,
    /// Connection lifetime before close 4002 (Odoo: 3600 s) ...
    pub keep_alive: Duration,
    /// ... plus a random share of it, up to this fraction (Odoo: 0.5).
    pub keep_alive_jitter: f64,
    /// Bus rows older than this are purged (Odoo autovacuum: 2 × 50 s).
    pub retention: Duration,
    /// With `last == 0`, a poll returns the rows created within this window (Odoo: 50 s).
    pub last0_window: Duration,
    /// How long a sent id stays in a socket's history before the cursor moves past it (10 s).
    pub history: Duration,
    /// Rate limit: at most this many incoming frames ...
    pub rate_limit_burst: usize,
    /// ... per `burst × delay` (Odoo: 10 × 0.2 s = 2 s).
    pub rate_limit_delay: Duration,
    /// Largest incoming websocket message (Odoo: 1 MiB); bigger closes with 1009.
    pub max_message: usize,
    /// Login failures (per client IP) before the cooldown starts (`base.login_cooldown_after`:
    /// the code's fallback is 5, but a database with `mail` sets 10, as measured).
    pub login_cooldown_after: u32,
    /// Cooldown length (`base.login_cooldown_duration`).
    pub login_cooldown_duration: Duration,
    /// `Max-Age` of the session cookie (`sessions.max_inactivity_seconds`).
    pub session_max_age: u64,
    /// 19's session rotation: a logged-in session older than this gets a new sid on its next
    /// request (any response may carry the new cookie, the websocket's 101 included). `None`
    /// (before 19): never.
    pub session_rotation: Option<Duration>,
    /// How long a rotated-away sid keeps working (Odoo's `SESSION_DELETION_TIMER`: 120 s).
    pub session_rotation_grace: Duration,
    /// `ODOO_BUS_PUBLIC_SAMESITE_WS`: an Origin whose host or scheme differs from what Odoo sees
    /// (see `proxy_mode`) gets a public socket, while the 101 keeps the caller's cookie.
    pub public_samesite_ws: bool,
    /// odoo.conf `proxy_mode`: trust `X-Forwarded-Host`/`-Proto`, but only on requests that carry
    /// `X-Forwarded-Host` (Odoo 16–19 apply ProxyFix under that condition alone).
    pub proxy_mode: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            dbs: vec!["odoo".to_string()],
            list_db: true,
            version: OdooVersion::V18,
            server_version: OdooVersion::V18.server_version().to_string(),
            server_version_info: OdooVersion::V18.server_version_info(),
            websocket_worker_version: OdooVersion::V18
                .websocket_worker_version()
                .map(str::to_string),
            idle_ping: OdooVersion::V18.idle_ping(),
            pong_timeout: Duration::from_secs(15),
            keep_alive: Duration::from_secs(3600),
            keep_alive_jitter: 0.5,
            retention: Duration::from_secs(100),
            last0_window: Duration::from_secs(50),
            history: Duration::from_secs(10),
            rate_limit_burst: 10,
            rate_limit_delay: Duration::from_millis(200),
            max_message: 1 << 20,
            login_cooldown_after: 10,
            login_cooldown_duration: Duration::from_secs(60),
            session_max_age: 604_800,
            public_samesite_ws: false,
            proxy_mode: false,
            session_rotation: None,
            session_rotation_grace: Duration::from_secs(120),
        }
    }
}

impl EmulatorConfig {
    /// Production semantics with test-sized timers: a PING after 1 s of silence, 500 ms to answer
    /// it. Not shorter: the client's PONGs count toward the 10-frames-per-2-s limit (as in Odoo),
    /// so pings much faster than that would close idle test sockets with 1013. Keep-alive stays at an hour (tests that need 4002 lower it), retention at 100 s.
    pub fn fast() -> Self {
        EmulatorConfig {
            idle_ping: Duration::from_secs(1),
            pong_timeout: Duration::from_millis(500),
            keep_alive: Duration::from_secs(3600),
            keep_alive_jitter: 0.0,
            ..EmulatorConfig::default()
        }
    }

    /// This configuration as another Odoo version would have it: its version strings, its
    /// websocket worker version (or none), its idle-ping delay (scaled like the current one, so
    /// `fast().with_version(V19)` keeps test-sized timers) and every shape the personality owns.
    pub fn with_version(self, version: OdooVersion) -> Self {
        let scale = self.idle_ping.as_secs_f64() / self.version.idle_ping().as_secs_f64();
        EmulatorConfig {
            version,
            server_version: version.server_version().to_string(),
            server_version_info: version.server_version_info(),
            websocket_worker_version: version.websocket_worker_version().map(str::to_string),
            idle_ping: version.idle_ping().mul_f64(scale),
            session_rotation: version.sid_rotation(),
            ..self
        }
    }

    /// The database users, channels and sessions belong to.
    pub fn main_db(&self) -> &str {
        self.dbs.first().map(String::as_str).unwrap_or("odoo")
    }

    /// The rolling window of the rate limiter.
    pub fn rate_limit_window(&self) -> Duration {
        self.rate_limit_delay * self.rate_limit_burst as u32
    }
}
