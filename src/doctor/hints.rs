//! The fixes doctor suggests, in one place so every check quotes the same nginx directives and
//! the same Odoo options (the ones Odoo's own deployment documentation uses).

/// The three directives a websocket needs to pass through nginx.
/// `Connection` comes from a map so that only upgrades say `upgrade`: Odoo's gevent process
/// holds a plain POST that says it (see `poll::HELD_POST_CAUSE`).
pub const NGINX_UPGRADE: &str = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; (with `map $http_upgrade $connection_upgrade { default upgrade; '' close; }` at the http level)";

/// Route the websocket to Odoo's evented (gevent) process in prefork mode.
pub const NGINX_WEBSOCKET_LOCATION: &str =
    "location /websocket { proxy_pass http://odoo-gevent:8072; }";

/// Keep idle websockets open longer than Odoo's 45 s ping interval (Odoo's docs use 720 s).
pub const NGINX_READ_TIMEOUT: &str = "proxy_read_timeout 720s;";

/// Forwarded headers Odoo reads when `proxy_mode` is on (as in Odoo's deployment docs;
/// `$http_host` keeps a non-default port, which the Origin carries too).
pub const NGINX_FORWARDED: &str = "proxy_set_header Host $http_host; proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;";

/// F2: install scripts and templates written for Odoo ≤ 15 route `/longpolling`, which 16
/// replaced with `/websocket`.
pub const LONGPOLLING_IS_GONE: &str =
    "a `location /longpolling` does nothing since Odoo 16: the bus needs a `location /websocket`";

/// F4: a proxy in a container that points at 127.0.0.1 reaches its own container, not Odoo's.
pub const CONTAINER_LOOPBACK: &str = "in containers, 127.0.0.1 is the proxy's own container: use the Odoo service's name and make sure its port 8072 is reachable on that network";

/// The odoo.conf line that makes Odoo trust those headers.
pub const ODOO_PROXY_MODE: &str = "proxy_mode = True";

/// Why a failing check after `session` cannot run without a session, and what to do.
pub fn login_hint(login_command: &str) -> String {
    format!(
        "run `{login_command}` so doctor can also test that the socket is authenticated and delivers"
    )
}
