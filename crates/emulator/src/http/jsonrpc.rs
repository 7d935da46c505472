//! The JSON-RPC dispatcher (`type='json'` routes): envelope checks, session authentication,
//! routing to the handlers, and Odoo's error envelope.
//!
//! Measured details reproduced here: a wrong content type or a GET gives werkzeug's 400 page
//! ("Request inferred type is compatible with ['http'] ..."), bad JSON a bare "Invalid JSON
//! data" 400; application errors are HTTP 200 with `error.code` 200 (100 for an expired session,
//! 404 for NotFound); an authentication failure answers with `"id": null` (it happens before the
//! request id is read) and without `Set-Cookie`; a null result leaves the `result` key out.

use hyper::{Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::super::model::Auth;
use super::super::personality::OdooVersion;

/// A device trace is refreshed (and the session saved again) after an hour.
const DEVICE_TRACE_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);
use super::super::pyjson::{self, Nested};
use super::super::state::Shared;
use super::call::{Ctx, RpcError};
use super::exchange::{Reply, Req};
use super::{discuss, session};

/// Who may call a route (`auth=` in the route decorator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    None,
    Public,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    VersionInfo,
    DatabaseList,
    Authenticate,
    Check,
    SessionInfo,
    Destroy,
    MessagePost,
    NotifyTyping,
    CallKw,
    PeekNotifications,
    UpdateBusPresence,
    OnClosed,
    /// 19: `/bus/has_missed_notifications`.
    HasMissedNotifications,
    /// 19: `/mail/set_manual_im_status`.
    SetManualImStatus,
}

impl Route {
    fn auth(self) -> AuthKind {
        match self {
            Route::VersionInfo | Route::DatabaseList | Route::Authenticate => AuthKind::None,
            Route::Check
            | Route::SessionInfo
            | Route::Destroy
            | Route::CallKw
            | Route::SetManualImStatus => AuthKind::User,
            Route::MessagePost
            | Route::NotifyTyping
            | Route::PeekNotifications
            | Route::UpdateBusPresence
            | Route::OnClosed
            | Route::HasMissedNotifications => AuthKind::Public,
        }
    }

    /// `cors='*'` routes (the bus controller's).
    fn cors(self) -> bool {
        matches!(
            self,
            Route::PeekNotifications | Route::UpdateBusPresence | Route::OnClosed
        )
    }
}

/// The route behind a path on this version (the typing route moved after 16; some routes
/// exist only from 18 or on 19).
pub fn route(path: &str, version: OdooVersion) -> Option<Route> {
    Some(match path {
        p if p == version.typing_path() => Route::NotifyTyping,
        "/websocket/on_closed" if version.has_on_closed() => Route::OnClosed,
        "/bus/has_missed_notifications" if version.has_19_routes() => Route::HasMissedNotifications,
        "/mail/set_manual_im_status" if version.has_19_routes() => Route::SetManualImStatus,
        "/web/webclient/version_info" => Route::VersionInfo,
        "/web/database/list" => Route::DatabaseList,
        "/web/session/authenticate" => Route::Authenticate,
        "/web/session/check" => Route::Check,
        "/web/session/get_session_info" => Route::SessionInfo,
        "/web/session/destroy" => Route::Destroy,
        "/mail/message/post" => Route::MessagePost,
        "/websocket/peek_notifications" => Route::PeekNotifications,
        "/websocket/update_bus_presence" => Route::UpdateBusPresence,
        p if p == "/web/dataset/call_kw" || p.starts_with("/web/dataset/call_kw/") => Route::CallKw,
        _ => return None,
    })
}

fn inferred_type_error(path: &str) -> Reply {
    Reply::werkzeug(
        StatusCode::BAD_REQUEST,
        &format!("Request inferred type is compatible with ['http'] but '{path}' is type='json'."),
    )
}

pub fn serve(shared: &Shared, req: &Req, route: Route) -> Reply {
    if req.method != Method::POST {
        return inferred_type_error(&req.path);
    }
    let mime = req
        .header(header::CONTENT_TYPE.as_str())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if mime != "application/json" && mime != "application/json-rpc" {
        return inferred_type_error(&req.path);
    }
    let (sid, created) = super::exchange::request_session_new(shared, req);
    let max_age = shared.cfg.session_max_age;
    // An error answer saves nothing: a session born in this request is forgotten again.
    let fail = |e: RpcError, id: Value| {
        if created {
            shared.lock().db.sessions.remove(&sid);
        }
        error_reply(route, e, id)
    };
    let plain_400 = |text: &'static str| {
        Reply::html(StatusCode::BAD_REQUEST, text)
            .session_cookie(&sid, max_age)
            .nosniff()
    };
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return plain_400("Invalid JSON data");
    };
    let Value::Object(mut envelope) = body else {
        return plain_400("Invalid JSON-RPC data");
    };
    let id = envelope.remove("id").unwrap_or(Value::Null);
    let params = match envelope.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return fail(
                RpcError::type_error(
                    "cannot convert dictionary update sequence element #0 to a sequence",
                ),
                id,
            );
        }
    };
    let uid = match authenticate(shared, &sid, route.auth()) {
        Ok(uid) => uid,
        Err(e) => return fail(e, id),
    };
    // 18 and 19 log devices: the first authenticated request from a browser/address (then
    // once an hour) changes the session, so its answer re-sends the cookie.
    let traced = uid.is_some() && shared.cfg.version.logs_devices() && {
        let key = format!(
            "{}|{}",
            req.header(header::USER_AGENT.as_str()).unwrap_or(""),
            req.peer
        );
        let now = std::time::Instant::now();
        let mut inner = shared.lock();
        inner.db.sessions.get_mut(&sid).is_some_and(|s| {
            let fresh = s
                .device_traces
                .get(&key)
                .is_some_and(|at| now.saturating_duration_since(*at) < DEVICE_TRACE_REFRESH);
            if !fresh {
                s.device_traces.insert(key, now);
            }
            !fresh
        })
    };
    let mut ctx = Ctx {
        shared,
        req,
        sid: sid.clone(),
        uid,
        extra_cookies: Vec::new(),
        dirty: created || traced,
    };
    let outcome = match route {
        Route::VersionInfo => Ok(session::version_info(&ctx)),
        Route::DatabaseList => session::database_list(&ctx),
        Route::Authenticate => session::authenticate(&mut ctx, &params),
        Route::Check => Ok(Nested::Plain(Value::Null)),
        Route::SessionInfo => session::get_session_info(&ctx),
        Route::Destroy => session::destroy(&mut ctx),
        Route::MessagePost => discuss::message_post(&ctx, &params),
        Route::NotifyTyping => discuss::notify_typing(&ctx, &params),
        Route::CallKw => discuss::call_kw(&ctx, &params),
        Route::PeekNotifications => discuss::peek_notifications(&mut ctx, &params),
        Route::UpdateBusPresence => discuss::update_bus_presence(&ctx, &params),
        Route::OnClosed => discuss::on_closed(&ctx),
        Route::HasMissedNotifications => discuss::has_missed_notifications(&ctx, &params),
        Route::SetManualImStatus => discuss::set_manual_im_status(&ctx, &params),
    };
    match outcome {
        Ok(result) => {
            let mut envelope = vec![
                ("jsonrpc".to_string(), Nested::Plain(json!("2.0"))),
                ("id".to_string(), Nested::Plain(id)),
            ];
            if !matches!(result, Nested::Plain(Value::Null)) {
                envelope.push(("result".to_string(), result));
            }
            let mut reply = json_reply(route, pyjson::dumps_utf8(&Nested::Ordered(envelope)));
            for cookie in ctx.extra_cookies {
                reply = reply.header(header::SET_COOKIE, cookie);
            }
            // Odoo's `_save_session`: a cookie only when the session changed or is not the
            // one the request named (login, logout, rotation), as the live servers showed.
            let renamed = req.cookie("session_id").as_deref() != Some(ctx.sid.as_str());
            if ctx.dirty || renamed || route == Route::Authenticate {
                reply = reply.session_cookie(&ctx.sid, max_age);
            }
            reply.nosniff()
        }
        Err(e) => fail(e, id),
    }
}

/// `ir.http._authenticate`: a stale token fails every route but auth='none' (and logs the
/// session out); auth='user' also needs a user.
fn authenticate(shared: &Shared, sid: &str, kind: AuthKind) -> Result<Option<i64>, RpcError> {
    if kind == AuthKind::None {
        return Ok(None);
    }
    let mut inner = shared.lock();
    match inner.db.auth(sid) {
        Auth::User(uid) => Ok(Some(uid)),
        Auth::Stale(_) => {
            if let Some(s) = inner.db.sessions.get_mut(sid) {
                s.uid = None;
                s.login = None;
            }
            Err(RpcError::session_expired())
        }
        Auth::Public | Auth::Missing if kind == AuthKind::User => Err(RpcError::session_expired()),
        Auth::Public | Auth::Missing => Ok(None),
    }
}

fn json_reply(route: Route, body: String) -> Reply {
    let reply = Reply::new(StatusCode::OK).content_type("application/json; charset=utf-8");
    let reply = if route.cors() {
        reply
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, "POST")
    } else {
        reply
    };
    reply.body(body)
}

fn error_reply(route: Route, error: RpcError, id: Value) -> Reply {
    json_reply(route, error.to_json(id))
}
