//! The HTTP side: one hyper http1 connection per TCP connection, routed like Odoo's routing map.
//!
//! Owns the HTTP routes of the fake Odoo. May not touch: the client crates (it must not share their
//! bugs); behaviour that differs by version belongs to the personality, not to a route.
//!
//! Responses copy what werkzeug/Odoo put on the wire (measured on a real 18.0): upper-case reason
//! phrases ("400 BAD REQUEST"), `Server: Werkzeug/2.2.2 Python/3.11.2`, `Connection: close`
//! after every response, werkzeug's HTML error pages, and `X-Content-Type-Options: nosniff` only
//! on responses that went through Odoo's normal post-processing.

mod call;
mod discuss;
pub(crate) mod exchange;
mod form_login;
mod jsonrpc;
mod partners;
mod session;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::state::Shared;
use exchange::{Body, Reply, Req};

/// Serve one TCP connection until it closes, upgrades, or the emulator drops everything.
pub async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let mut kill = shared.drop_all.subscribe();
    let svc_shared = shared.clone();
    let svc = service_fn(move |req| {
        let shared = svc_shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, peer.ip(), req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        _ = kill.changed() => {}
    }
}

async fn handle(shared: Arc<Shared>, peer: IpAddr, req: Request<Incoming>) -> Response<Body> {
    shared.lock().stats.http_requests += 1;
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let gateway = shared.lock().faults.auth_gateway.clone();
    // A gateway on `location /websocket` covers every path under it (health, peek) too.
    if let Some(g) = gateway.filter(|g| g.everywhere || path.starts_with("/websocket")) {
        return gateway_reply(&g).into_response();
    }
    let (other_instance, rejects_ids) = {
        let f = &shared.lock().faults;
        (
            path.starts_with("/websocket") && f.websocket_other_instance,
            f.other_instance_rejects_ids,
        )
    };
    let mut parts = parts;
    if other_instance {
        other_instance_cookie(&mut parts.headers, rejects_ids);
    }
    let refuse_foreign = shared.lock().faults.foreign_origin_refused;
    if let Some(status) = refuse_foreign.filter(|_| path == "/websocket")
        && foreign_origin(&parts.headers)
    {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return Reply::html(status, "<html><body><h1>Request blocked</h1></body></html>")
            .header(header::SERVER, "nginx")
            .into_response();
    }
    if shared.lock().faults.gevent_holds_upgrade_posts
        && parts.method == hyper::Method::POST
        && path.starts_with("/websocket/")
        && says_connection_upgrade(&parts.headers)
    {
        // Read to the end of the connection: the answer never comes.
        std::future::pending::<()>().await;
    }
    if path == "/websocket" {
        let reply =
            super::ws::handshake::handle(shared, peer, Request::from_parts(parts, ())).await;
        return if other_instance {
            other_instance_reply(reply)
        } else {
            reply
        };
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let req = Req {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body,
        peer,
    };
    let reply = route(&shared, req).into_response();
    if other_instance {
        other_instance_reply(reply)
    } else {
        reply
    }
}

/// `Connection: upgrade`, compared as Odoo's gevent handler does (the whole value).
fn says_connection_upgrade(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("upgrade"))
}

/// Whether the request's `Origin` names another host than its `Host`.
fn foreign_origin(headers: &hyper::HeaderMap) -> bool {
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    match (get(header::ORIGIN), get(header::HOST)) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, a)| a) != Some(host),
        _ => false,
    }
}

/// The `websocket_other_instance` fault's second session store: the other Odoo keeps its
/// sessions under the reversed id (same length and alphabet, so a valid id there too), so the
/// id the client sends names nothing it knows, and whatever it saves stays its own.
fn other_instance_sid(sid: &str) -> String {
    sid.chars().rev().collect()
}

fn other_instance_cookie(headers: &mut hyper::HeaderMap, rejects_ids: bool) {
    let Some(cookie) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return;
    };
    let mapped: Vec<String> = cookie
        .split(';')
        .filter_map(|kv| match kv.trim().split_once('=') {
            Some(("session_id", _)) if rejects_ids => None,
            Some(("session_id", v)) => Some(format!("session_id={}", other_instance_sid(v))),
            _ => Some(kv.trim().to_string()),
        })
        .collect();
    if let Ok(v) = header::HeaderValue::from_str(&mapped.join("; ")) {
        headers.insert(header::COOKIE, v);
    }
}

/// The other Odoo's `Set-Cookie` names the id the client sent (Odoo keeps an unknown id).
fn other_instance_reply(mut reply: Response<Body>) -> Response<Body> {
    let cookies: Vec<String> = reply
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    if cookies.is_empty() {
        return reply;
    }
    reply.headers_mut().remove(header::SET_COOKIE);
    for c in cookies {
        let c = match c.strip_prefix("session_id=") {
            Some(rest) => {
                let (sid, tail) = rest.split_at(rest.find(';').unwrap_or(rest.len()));
                format!("session_id={}{tail}", other_instance_sid(sid))
            }
            None => c,
        };
        if let Ok(v) = header::HeaderValue::from_str(&c) {
            reply.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    reply
}

/// What an authentication gateway in front of Odoo answers (the `auth_gateway` fault): its
/// status, its challenge header and its own page, under its own `Server` name.
pub(crate) fn gateway_reply(g: &crate::faults::AuthGateway) -> Reply {
    let status = StatusCode::from_u16(g.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut reply = Reply::html(status, g.html.clone()).header(header::SERVER, "nginx");
    if let Some((name, value)) = &g.challenge {
        reply = reply.header(header::HeaderName::from_static(name), value.clone());
    }
    reply
}

fn route(shared: &Shared, req: Req) -> Reply {
    if let Some(route) = jsonrpc::route(&req.path, shared.cfg.version) {
        return jsonrpc::serve(shared, &req, route);
    }
    let get = req.method == Method::GET || req.method == Method::HEAD;
    if !get && req.method != Method::POST {
        return Reply::werkzeug(
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed for the requested URL.",
        );
    }
    match req.path.as_str() {
        "/web/health" | "/websocket/health" if get => Reply::new(StatusCode::OK)
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .nosniff()
            .body("{\"status\": \"pass\"}"),
        // The bus worker's script (`cors='*'`), which a page loads, from another site too.
        "/bus/websocket_worker_bundle" if get => Reply::new(StatusCode::OK)
            .content_type("application/javascript; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST")
            .nosniff()
            .body("/* bus.websocket_worker_assets */"),
        "/web/login" => form_login::login(shared, &req),
        "/web/login/totp" => form_login::totp(shared, &req),
        "/web/session/logout" if get => session::logout_http(shared, &req),
        "/odoo" | "/web" | "/web/login_successful" | "/" if get => {
            form_login::landing(shared, &req)
        }
        "/web/health"
        | "/websocket/health"
        | "/web/session/logout"
        | "/odoo"
        | "/web"
        | "/web/login_successful"
        | "/" => {
            // POST to an http route: the CSRF check fails before anything else.
            Reply::werkzeug(
                StatusCode::BAD_REQUEST,
                "Session expired (invalid CSRF token)",
            )
        }
        _ => Reply::not_found(),
    }
}
