//! One JSON-RPC call as a route handler sees it: its context ([`Ctx`]: the request, the session,
//! the user), its parameters, the parameter check Python's call makes, and the exceptions a
//! handler raises ([`RpcError`]) with their exact envelope. The router (`jsonrpc`) and the
//! handlers (`session`, `discuss`) both use it; it calls neither.

use serde_json::{Map, Value, json};

use super::exchange::Req;
use crate::pyjson::{self, Dict, Nested};
use crate::state::Shared;

/// The `fields` argument of a `read`/`search_read` on `model`: the names asked for, each one
/// known (`ValueError: Invalid field 'x' on model 'y'` otherwise, as the ORM says), or every
/// field in `known` when none is asked for.
pub fn requested_fields(
    v: Option<&Value>,
    known: &[&str],
    model: &str,
) -> Result<Vec<String>, RpcError> {
    let list: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = list.iter().find(|f| !known.contains(&f.as_str())) {
        return Err(RpcError::value_error(format!(
            "Invalid field '{bad}' on model '{model}'"
        )));
    }
    Ok(if list.is_empty() {
        known.iter().map(|s| s.to_string()).collect()
    } else {
        list
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

    pub(super) fn to_json(&self, id: Value) -> String {
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
    /// The handler changed the session (Odoo's `is_dirty`): the answer re-sends its cookie.
    pub dirty: bool,
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

    #[test]
    fn requested_fields_are_checked_against_the_model() {
        let known = ["name", "im_status"];
        assert_eq!(
            requested_fields(None, &known, "res.partner").unwrap(),
            ["name", "im_status"]
        );
        assert_eq!(
            requested_fields(Some(&json!(["im_status"])), &known, "res.partner").unwrap(),
            ["im_status"]
        );
        let bad = requested_fields(Some(&json!(["name", "nope"])), &known, "res.partner")
            .unwrap_err()
            .to_json(json!(1));
        assert!(
            bad.contains("Invalid field 'nope' on model 'res.partner'"),
            "{bad}"
        );
    }
}
