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
use super::super::pyjson::{self, Dict, Nested};
use super::super::state::Shared;
use super::{Reply, Req, discuss, session};

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
}

impl Route {
    fn auth(self) -> AuthKind {
        match self {
            Route::VersionInfo | Route::DatabaseList | Route::Authenticate => AuthKind::None,
            Route::Check | Route::SessionInfo | Route::Destroy | Route::CallKw => AuthKind::User,
            Route::MessagePost
            | Route::NotifyTyping
            | Route::PeekNotifications
            | Route::UpdateBusPresence
            | Route::OnClosed => AuthKind::Public,
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

pub fn route(path: &str) -> Option<Route> {
    Some(match path {
        "/web/webclient/version_info" => Route::VersionInfo,
        "/web/database/list" => Route::DatabaseList,
        "/web/session/authenticate" => Route::Authenticate,
        "/web/session/check" => Route::Check,
        "/web/session/get_session_info" => Route::SessionInfo,
        "/web/session/destroy" => Route::Destroy,
        "/mail/message/post" => Route::MessagePost,
        "/discuss/channel/notify_typing" => Route::NotifyTyping,
        "/websocket/peek_notifications" => Route::PeekNotifications,
        "/websocket/update_bus_presence" => Route::UpdateBusPresence,
        "/websocket/on_closed" => Route::OnClosed,
        p if p == "/web/dataset/call_kw" || p.starts_with("/web/dataset/call_kw/") => Route::CallKw,
        _ => return None,
    })
}

/// An exception as the JSON-RPC error envelope reports it.
#[derive(Debug, Clone)]
pub struct RpcError {
    code: i64,
    message: &'static str,
    name: String,
    text: String,
    /// Raised while authenticating, before the request id was read.
    null_id: bool,
    /// werkzeug exceptions (NotFound) are serialised without a traceback and with no arguments.
    werkzeug: bool,
}

impl RpcError {
    pub fn server(name: &str, text: impl Into<String>) -> Self {
        RpcError {
            code: 200,
            message: "Odoo Server Error",
            name: name.into(),
            text: text.into(),
            null_id: false,
            werkzeug: false,
        }
    }
    pub fn access_denied(text: impl Into<String>) -> Self {
        RpcError::server("odoo.exceptions.AccessDenied", text)
    }
    pub fn access_error(text: impl Into<String>) -> Self {
        RpcError::server("odoo.exceptions.AccessError", text)
    }
    pub fn type_error(text: impl Into<String>) -> Self {
        RpcError::server("builtins.TypeError", text)
    }
    pub fn value_error(text: impl Into<String>) -> Self {
        RpcError::server("builtins.ValueError", text)
    }
    pub fn session_expired() -> Self {
        RpcError {
            code: 100,
            message: "Odoo Session Expired",
            name: "odoo.http.SessionExpiredException".into(),
            text: "Session expired".into(),
            null_id: true,
            werkzeug: false,
        }
    }
    /// `SessionExpiredException()` raised by a handler (not by authentication): the id is
    /// echoed and the message is empty (measured on `/websocket/update_bus_presence`).
    pub fn session_expired_in_handler() -> Self {
        RpcError {
            text: String::new(),
            null_id: false,
            ..RpcError::session_expired()
        }
    }
    pub fn not_found() -> Self {
        RpcError {
            code: 404,
            message: "404: Not Found",
            name: "werkzeug.exceptions.NotFound".into(),
            text: "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.".into(),
            null_id: false,
            werkzeug: true,
        }
    }

    fn to_json(&self, id: Value) -> String {
        let debug = format!(
            "Traceback (most recent call last):\n  File \"/opt/odoo18/src/odoo/http.py\", line 1954, in _transactioning\n    return service_model.retrying(func, env=self.env)\n  File \"/opt/odoo18/src/odoo/service/model.py\", line 137, in retrying\n    result = func()\n             ^^^^^^\n{}: {}\n",
            self.name, self.text
        );
        let mut data = Dict::new().set("name", self.name.clone());
        if !self.werkzeug {
            data.insert("debug", debug);
        }
        let arguments = if self.werkzeug {
            json!([])
        } else {
            json!([self.text])
        };
        let data = data
            .set("message", self.text.clone())
            .set("arguments", arguments)
            .set("context", json!({}));
        let error = Nested::Ordered(vec![
            ("code".into(), Nested::Plain(json!(self.code))),
            ("message".into(), Nested::Plain(json!(self.message))),
            ("data".into(), Nested::from(data)),
        ]);
        let id = if self.null_id { Value::Null } else { id };
        let envelope = Nested::Ordered(vec![
            ("jsonrpc".into(), Nested::Plain(json!("2.0"))),
            ("id".into(), Nested::Plain(id)),
            ("error".into(), error),
        ]);
        pyjson::dumps_utf8(&envelope)
    }
}

/// What a handler sees.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub req: &'a Req,
    /// The session the request runs in; a handler that rotates it updates this.
    pub sid: String,
    /// The authenticated user (None: public or auth='none').
    pub uid: Option<i64>,
    /// Extra `Set-Cookie` values for a successful answer.
    pub extra_cookies: Vec<String>,
}

pub type Params = Map<String, Value>;

/// Check required parameters like Python does when calling the endpoint.
pub fn require(params: &Params, names: &[&str], endpoint: &str) -> Result<(), RpcError> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !params.contains_key(**n))
        .map(|n| format!("'{n}'"))
        .collect();
    match missing.len() {
        0 => Ok(()),
        1 => Err(RpcError::type_error(format!(
            "{endpoint}() missing 1 required positional argument: {}",
            missing[0]
        ))),
        n => {
            let (last, rest) = missing.split_last().unwrap_or((&missing[0], &[]));
            Err(RpcError::type_error(format!(
                "{endpoint}() missing {n} required positional arguments: {} and {last}",
                rest.join(", ")
            )))
        }
    }
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
    let (sid, created) = super::request_session_new(shared, req);
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
    let mut ctx = Ctx {
        shared,
        req,
        sid: sid.clone(),
        uid,
        extra_cookies: Vec::new(),
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
            reply.session_cookie(&ctx.sid, max_age).nosniff()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_arguments_read_like_python() {
        let p = Params::new();
        let e = require(&p, &["db"], "Session.authenticate").unwrap_err();
        assert_eq!(
            e.text,
            "Session.authenticate() missing 1 required positional argument: 'db'"
        );
        let e = require(&p, &["db", "login", "password"], "Session.authenticate").unwrap_err();
        assert_eq!(
            e.text,
            "Session.authenticate() missing 3 required positional arguments: 'db', 'login' and 'password'"
        );
    }

    #[test]
    fn session_expired_has_a_null_id() {
        let text = RpcError::session_expired().to_json(json!(7));
        assert!(text.starts_with(r#"{"jsonrpc": "2.0", "id": null, "error": {"code": 100, "message": "Odoo Session Expired", "data": {"name": "odoo.http.SessionExpiredException""#), "{text}");
    }
}
