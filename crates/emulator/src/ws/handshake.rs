//! `GET /websocket`: the upgrade, validated the way Odoo 18 on werkzeug 2.2 does it.
//!
//! Measured on a real server (raw captures kept outside the repository): without `Upgrade: websocket`
//! and a `Connection: upgrade` token the websocket rule does not match and werkzeug answers its
//! generic 400; Odoo's own rejections (missing header, bad key) are 400s whose body never
//! arrives; a wrong `Sec-WebSocket-Version` is a 500 (Odoo's `UpgradeRequired` breaks on
//! werkzeug ≥ 2.2), not the 426 the source intends. A cookie never makes the handshake fail:
//! unknown, garbage or stale cookies give a public socket.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use hyper::header::{self, HeaderName};
use hyper::{Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::socket::Accepted;
use crate::http::exchange::{Body, Reply, is_browser};
use crate::model::{self, Auth, Session};
use crate::state::Shared;

/// `_REQUIRED_HANDSHAKE_HEADERS`, in the order they are listed when missing.
const REQUIRED: &[&str] = &[
    "connection",
    "host",
    "origin",
    "sec-websocket-key",
    "sec-websocket-version",
    "upgrade",
];

fn reject(shared: &Shared, reply: Reply) -> Response<Body> {
    shared.lock().stats.rejected_handshakes += 1;
    reply.into_response()
}

pub async fn handle(shared: Arc<Shared>, _peer: IpAddr, req: Request<()>) -> Response<Body> {
    let faults = shared.lock().faults.clone();
    if faults.hang_handshake {
        std::future::pending::<()>().await;
    }
    if let Some(g) = &faults.auth_gateway {
        return reject(&shared, crate::http::gateway_reply(g));
    }
    if let Some((status, content_type, body)) = faults.upgrade_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut reply = Reply::new(status).content_type(content_type).body(body);
        if status == StatusCode::UPGRADE_REQUIRED {
            reply = reply.header(HeaderName::from_static("sec-websocket-version"), "13");
        }
        return reject(&shared, reply);
    }
    let h = req.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let upgrade_token = get("connection").is_some_and(|c| {
        c.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    let websocket = get("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    // With exactly `Upgrade: websocket`, Odoo's request handler has already swapped its output
    // for a buffer when an error is raised: the status line and headers go out, the body never.
    let exact_upgrade = h.get(header::UPGRADE).is_some_and(|v| v == "websocket");
    let error = |reply: Reply| {
        if exact_upgrade {
            reply.headers_only()
        } else {
            reply
        }
    };
    if !(upgrade_token && websocket) || req.method() != hyper::Method::GET {
        return reject(
            &shared,
            error(Reply::werkzeug(
                StatusCode::BAD_REQUEST,
                "The browser (or proxy) sent a request that this server could not understand.",
            )),
        );
    }
    if faults.hang_upgrades {
        // nginx's `ssi on` holds the upstream's 101 (F8); a request without the upgrade
        // headers is answered above, at once.
        std::future::pending::<()>().await;
    }
    if faults.pool_busy_upgrades > 0 {
        let mut inner = shared.lock();
        inner.faults.pool_busy_upgrades -= 1;
        inner.stats.server_errors.push(
            "Exception during request handling: PoolError: The Connection Pool Is Full".into(),
        );
        drop(inner);
        return reject(&shared, Reply::internal_error());
    }
    if faults.http_worker_mode {
        // RuntimeError("Couldn't bind the websocket. Is the connection opened on the evented
        // port (8072)?") reaches the client as werkzeug's generic 500.
        return reject(&shared, Reply::internal_error());
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|n| get(n).is_none())
        .collect();
    let bad = |text: &str| error(Reply::werkzeug(StatusCode::BAD_REQUEST, text));
    if !missing.is_empty() {
        return reject(
            &shared,
            bad(&format!(
                "Empty or missing header(s): {}",
                missing.join(", ")
            )),
        );
    }
    if get("sec-websocket-version") != Some("13") {
        // Odoo raises UpgradeRequired (426), whose get_headers() breaks on werkzeug 2.2: 500.
        return reject(&shared, error(Reply::internal_error()));
    }
    let key = get("sec-websocket-key").unwrap_or_default();
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Err(_) => return reject(&shared, bad("Sec-WebSocket-Key should be b64 encoded")),
        Ok(k) if k.len() != 16 => {
            return reject(
                &shared,
                bad("Sec-WebSocket-Key should be of length 16 once decoded"),
            );
        }
        Ok(_) => {}
    }
    let accept = derive_accept_key(key.as_bytes());
    let version = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "version")
            .map(|(_, v)| v.into_owned())
    });
    let browser = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_browser);
    // 16 and early 17 have no worker version: any `?version=` (or none) is fine there.
    let outdated = browser
        && shared
            .cfg
            .websocket_worker_version
            .as_deref()
            .is_some_and(|expected| version.as_deref() != Some(expected));
    let cookie = cookie_sid(&req);
    let same_site_violation = shared.cfg.public_samesite_ws
        && !origin_matches(
            &req,
            shared.cfg.proxy_mode,
            faults.websocket_forwarded_dropped.as_deref(),
            shared.port,
        );
    let (cookie_to_set, accepted) = open_session(
        &shared,
        cookie,
        faults.downgrade_session,
        same_site_violation,
        outdated,
    );

    let reply = Reply::new(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .content_type("text/html; charset=utf-8")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST")
        .session_cookie(&cookie_to_set, shared.cfg.session_max_age)
        .nosniff();
    // Odoo's header patch only recognises the exact value: `Upgrade: WebSocket` upgrades too,
    // but werkzeug's `Connection: close` stays in the 101.
    let reply = if exact_upgrade {
        reply
    } else {
        reply.header(header::CONNECTION, "close")
    };
    shared.lock().stats.handshakes += 1;
    let task_shared = shared.clone();
    tokio::spawn(async move {
        let mut req = req;
        if let Ok(upgraded) = hyper::upgrade::on(&mut req).await {
            super::socket::run(task_shared, upgraded, accepted).await;
        }
    });
    let mut response = reply.into_response();
    if let Some(server) = faults.swallow_frames_after_upgrade {
        response
            .headers_mut()
            .insert(header::SERVER, header::HeaderValue::from_static(server));
    }
    response
}

fn cookie_sid(req: &Request<()>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == "session_id")
        .map(|(_, v)| v.trim().to_string())
}

/// `ODOO_BUS_PUBLIC_SAMESITE_WS` (`_handle_public_configuration`): the Origin's netloc must be
/// the Host Odoo sees and its scheme the request's scheme, both after the proxy fix (which needs
/// `proxy_mode` and `X-Forwarded-Host`). `dropped_to`: a proxy's `/websocket` location that sends
/// no forwarded header and this Host (the `websocket_forwarded_dropped` fault).
fn origin_matches(
    req: &Request<()>,
    proxy_mode: bool,
    dropped_to: Option<&str>,
    port: u16,
) -> bool {
    let mut headers = req.headers().clone();
    if let Some(Ok(v)) = dropped_to.map(str::parse) {
        headers.insert(header::HOST, v);
    }
    let seen = crate::proxy_fix::seen(&headers, proxy_mode, &format!("127.0.0.1:{port}"));
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match url::Url::parse(origin) {
        Ok(u) => {
            // Python's urlparse keeps the netloc as written: a default port stays if given.
            let netloc = match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
                None => u.host_str().unwrap_or("").to_string(),
            };
            u.scheme() == seen.scheme && netloc == seen.host
        }
        Err(_) => false,
    }
}

/// The handshake's `auth='public'` processing: which session the socket runs in and which
/// cookie the 101 carries.
fn open_session(
    shared: &Shared,
    cookie: Option<String>,
    downgrade: bool,
    same_site_violation: bool,
    outdated: bool,
) -> (String, Accepted) {
    let monodb = (shared.cfg.dbs.len() == 1).then(|| shared.cfg.main_db().to_string());
    let mut inner = shared.lock();
    let public = |inner: &mut crate::state::Inner, sid: Option<String>| {
        let len = inner.db.sid_len;
        let sid = sid.unwrap_or_else(|| model::new_sid(len));
        inner
            .db
            .sessions
            .entry(sid.clone())
            .or_insert_with(|| Session::anonymous(monodb.clone()));
        sid
    };
    let len = inner.db.sid_len;
    let cfg = &shared.cfg;
    // The 101 is a response like any other: a due rotation sets the successor's cookie.
    let valid_cookie = cookie.filter(|c| model::is_valid_sid(c, len)).map(|c| {
        inner.db.rotation_step(
            &c,
            std::time::Instant::now(),
            cfg.session_rotation,
            cfg.session_rotation_grace,
        )
    });
    if downgrade {
        let sid = public(&mut inner, None);
        return (
            sid.clone(),
            Accepted {
                sid,
                uid: None,
                outdated,
            },
        );
    }
    let (cookie_sid, uid) = match valid_cookie.as_deref().map(|c| inner.db.auth(c)) {
        Some(Auth::User(uid)) => (valid_cookie.clone().unwrap_or_default(), Some(uid)),
        Some(Auth::Stale(_)) => {
            // check_session failed: logged out (db kept) and rotated, socket public.
            let old = valid_cookie.clone().unwrap_or_default();
            let db = inner.db.sessions.get(&old).and_then(|s| s.db.clone());
            let sid = inner.db.rotate(&old, Session::anonymous(db));
            (sid, None)
        }
        Some(Auth::Public) => (valid_cookie.clone().unwrap_or_default(), None),
        Some(Auth::Missing) | None => (public(&mut inner, valid_cookie.clone()), None),
    };
    if same_site_violation {
        let sid = public(&mut inner, None);
        return (
            cookie_sid,
            Accepted {
                sid,
                uid: None,
                outdated,
            },
        );
    }
    (
        cookie_sid.clone(),
        Accepted {
            sid: cookie_sid,
            uid,
            outdated,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_detection_follows_werkzeug() {
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "curl-like but Version/1",
            "Lynx/2.8",
            "Googlebot/2.1",
        ] {
            assert!(is_browser(ua), "{ua}");
        }
        for ua in ["odoo-bus/0.1", "curl/8.5.0", "python-requests/2.31", ""] {
            assert!(!is_browser(ua), "{ua}");
        }
    }
}
