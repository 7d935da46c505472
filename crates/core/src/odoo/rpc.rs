//! Odoo's JSON-RPC envelope (protocol §1.1) and what its failures mean to a user.
//!
//! Every `type='json'` route answers HTTP 200 even for errors; the error is inside the body, and
//! two codes are special (100: session expired, 404: not found). Everything that can go wrong
//! between "send a request" and "hold a result" is one [`RpcError`], and [`RpcError::user_error`]
//! is the ONE place that phrases it for a human and picks the exit code, so every command says the
//! same thing for the same failure.

use std::fmt;

use serde_json::{Value, json};

use crate::error::{Error, ErrorKind};
use crate::odoo::url::ServerUrl;

/// Which way the network failed; each has its own advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on that port (or a firewall rejects).
    Refused,
    /// Connecting or waiting for the answer took longer than the client's timeout.
    Timeout,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    Other,
}

/// Everything that can go wrong with one request to Odoo.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcError {
    /// No HTTP answer at all.
    Transport { kind: TransportKind, detail: String },
    /// An HTTP status that no Odoo route answers with (502 from a proxy, 500, 403 from a WAF...).
    Http { status: u16, snippet: String },
    /// A redirect where Odoo answers directly (http → https, an SSO portal, a moved server).
    Redirected { status: u16, location: String },
    /// The answer is not Odoo's: HTML, or a 404 on a JSON route.
    NotOdoo(String),
    /// `code: 100`: the session is missing, expired or logged out.
    SessionExpired,
    /// `code: 404`: the record or route does not exist (or is not readable).
    NotFound(String),
    /// Any other error Odoo reports: `name` is the Python exception (`odoo.exceptions.AccessDenied`).
    Odoo {
        code: i64,
        name: String,
        message: String,
    },
    /// JSON that is not a JSON-RPC answer.
    BadResponse(String),
}

/// Python exception names the client reacts to.
pub mod names {
    pub const ACCESS_DENIED: &str = "odoo.exceptions.AccessDenied";
    pub const ACCESS_ERROR: &str = "odoo.exceptions.AccessError";
    /// Not a Python name: Odoo only re-renders its TOTP form with an alert, and the form flow
    /// reports that under this name.
    pub const TOTP_REFUSED: &str = "auth_totp.verification_failed";
}

/// Odoo's brute-force cooldown message (`res_users._assert_can_auth`), matched loosely because
/// it is translated into the user's language on some setups.
const COOLDOWN_MARKER: &str = "too many login failures";

impl RpcError {
    /// The Python exception name for `Odoo` errors.
    pub fn odoo_name(&self) -> Option<&str> {
        match self {
            RpcError::Odoo { name, .. } => Some(name),
            _ => None,
        }
    }

    /// `odoo.exceptions.AccessDenied`: wrong credentials, cooldown, or database listing disabled.
    pub fn is_access_denied(&self) -> bool {
        self.odoo_name() == Some(names::ACCESS_DENIED)
    }

    /// The brute-force cooldown ("Too many login failures").
    pub fn is_login_cooldown(&self) -> bool {
        matches!(self, RpcError::Odoo { message, .. } if message.to_lowercase().contains(COOLDOWN_MARKER))
    }

    /// The database given to authenticate does not exist or is filtered out.
    pub fn is_unknown_database(&self) -> bool {
        match self {
            RpcError::Odoo { name, message, .. } => {
                let m = message.to_lowercase();
                (name == names::ACCESS_ERROR && m.contains("database not found"))
                    || (name.starts_with("psycopg2") && m.contains("does not exist"))
            }
            _ => false,
        }
    }

    /// The one place that turns a failed request into a one-line message and an exit code.
    pub fn user_error(&self, cx: &ErrorContext<'_>) -> Error {
        let url = cx.server.as_str();
        match self {
            RpcError::Transport { kind, detail } => {
                Error::connection(transport_message(*kind, detail, cx.server))
            }
            RpcError::Http { status, snippet } => {
                let hint = match status {
                    502..=504 => {
                        "a proxy in front of Odoo cannot reach it: is Odoo running? check the proxy and the Odoo logs"
                    }
                    500 => "the server failed: check the Odoo logs",
                    401 | 403 => {
                        "something in front of Odoo (proxy, firewall, auth gateway) refused the request"
                    }
                    _ => "check the URL and the server",
                };
                Error::other(format!(
                    "{url} answered HTTP {status}{}: {hint}",
                    snippet_suffix(snippet)
                ))
            }
            RpcError::Redirected { location, .. } => Error::other(format!(
                "{url} redirects to {location}: use the address Odoo is really served at (e.g. `odoo-bus login {}`)",
                redirect_base(location).unwrap_or_else(|| location.clone())
            )),
            RpcError::NotOdoo(why) => Error::other(format!(
                "{url} is not an Odoo server ({why}): check the URL; it is the address you open Odoo at in a browser"
            )),
            RpcError::SessionExpired => Error::session_expired(cx.profile),
            RpcError::NotFound(what) => {
                Error::other(format!("not found on {url}: {}", one_line(what, 200)))
            }
            RpcError::Odoo { .. } if cx.login && self.is_login_cooldown() => Error::auth(
                "too many failed logins from this address: the server refuses new attempts for a while; wait a minute and try again",
            ),
            RpcError::Odoo { name, message, .. } if name == names::TOTP_REFUSED => {
                Error::auth(format!(
                    "the two-factor code was refused ({}): check your authenticator app's code and clock, and try again with a fresh code",
                    one_line(message, 100)
                ))
            }
            RpcError::Odoo { .. } if cx.login && self.is_access_denied() => Error::auth(
                "wrong login or password: check them and try again (API keys cannot open a web session)",
            ),
            RpcError::Odoo { .. } if cx.login && self.is_unknown_database() => {
                Error::other(format!(
                    "database not found on {url}: check --db (`odoo-bus login` without --db picks the only one when the server lists them)"
                ))
            }
            RpcError::Odoo { name, message, .. } => {
                let kind = if self.is_access_denied() {
                    ErrorKind::Auth
                } else {
                    ErrorKind::Other
                };
                // Server text: one line, like the message (a name with a newline once split the
                // error over two lines).
                let short = one_line(name.rsplit('.').next().unwrap_or(name), 80);
                Error::new(
                    kind,
                    format!(
                        "{url} refused the request: {} ({short}); see the Odoo logs for details",
                        one_line(message, 200)
                    ),
                )
            }
            RpcError::BadResponse(why) => Error::other(format!(
                "unexpected answer from {url} ({why}): is this an Odoo server, or is a proxy in between rewriting answers?"
            )),
        }
    }
}

/// What the user was doing, so [`RpcError::user_error`] can name the server and the profile and
/// treat `AccessDenied` as bad credentials only while logging in.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    pub server: &'a ServerUrl,
    pub profile: &'a str,
    /// True while logging in: `AccessDenied` then means a wrong login or password.
    pub login: bool,
}

fn transport_message(kind: TransportKind, detail: &str, server: &ServerUrl) -> String {
    let url = server.as_str();
    let host = server.host();
    let port = server.port();
    match kind {
        TransportKind::Dns => {
            format!(
                "cannot resolve host `{host}`: check the URL's spelling and your network or DNS settings"
            )
        }
        TransportKind::Refused => format!(
            "connection refused by {host}:{port}: is Odoo running there, and is the port right (Odoo's default is 8069)?"
        ),
        TransportKind::Timeout => format!(
            "no answer from {url} in time: the server or the network is down or very slow; check the URL and try again"
        ),
        TransportKind::Tls => format!(
            "TLS failure with {url} ({}): fix the server's certificate or your trust store; --insecure skips the check, as a last resort only",
            one_line(detail, 160)
        ),
        TransportKind::Other => format!(
            "cannot reach {url} ({}): check the URL and your network",
            one_line(detail, 160)
        ),
    }
}

fn snippet_suffix(snippet: &str) -> String {
    let s = one_line(snippet, 80);
    if s.is_empty() {
        String::new()
    } else {
        format!(" ({s})")
    }
}

/// `scheme://host[:port]` of a redirect target, to suggest as the server URL.
fn redirect_base(location: &str) -> Option<String> {
    let parsed = url::Url::parse(location).ok()?;
    Some(parsed.origin().ascii_serialization()).filter(|o| o != "null")
}

/// Squash whitespace and cut to `max` characters, so a server's multi-line text fits one line.
/// Control characters (an ESC sequence from a hostile server would reach the terminal) count as
/// whitespace.
pub fn one_line(text: &str, max: usize) -> String {
    let squashed = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if squashed.chars().count() <= max {
        squashed
    } else {
        let mut cut: String = squashed.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Dns => "dns",
            TransportKind::Refused => "refused",
            TransportKind::Timeout => "timeout",
            TransportKind::Tls => "tls",
            TransportKind::Other => "other",
        })
    }
}

/// A technical one-liner (for `-v` logs and tests); users see [`RpcError::user_error`].
impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Transport { kind, detail } => write!(f, "transport error ({kind}): {detail}"),
            RpcError::Http { status, snippet } => {
                write!(f, "HTTP {status}: {}", one_line(snippet, 80))
            }
            RpcError::Redirected { status, location } => {
                write!(f, "HTTP {status} redirect to {location}")
            }
            RpcError::NotOdoo(why) => write!(f, "not an Odoo answer: {why}"),
            RpcError::SessionExpired => f.write_str("session expired"),
            RpcError::NotFound(what) => write!(f, "not found: {what}"),
            RpcError::Odoo {
                code,
                name,
                message,
            } => write!(f, "Odoo error {code} {name}: {message}"),
            RpcError::BadResponse(why) => write!(f, "bad JSON-RPC answer: {why}"),
        }
    }
}

impl std::error::Error for RpcError {}

/// The request body for a JSON route: `params` must be an object of named arguments.
pub fn request_body(id: u64, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": id})
}

/// Decode one answer of a JSON route. `Ok(Value::Null)` when `result` is absent (Odoo leaves the
/// key out for a null result). Non-2xx and non-JSON answers are classified, never panicked on.
pub fn decode_response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Value, RpcError> {
    if (300..400).contains(&status) {
        // The caller fills in the Location; a JSON route never redirects on a real Odoo.
        return Err(RpcError::Redirected {
            status,
            location: String::new(),
        });
    }
    if status == 404 {
        return Err(RpcError::NotOdoo("HTTP 404 on a JSON route".into()));
    }
    let looks_html = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("html"))
        || starts_like_html(body);
    let parsed: Option<Value> = if looks_html {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    let Some(value) = parsed else {
        if !(200..300).contains(&status) {
            return Err(RpcError::Http {
                status,
                snippet: text_snippet(body),
            });
        }
        return Err(if looks_html {
            RpcError::NotOdoo("it answered an HTML page where Odoo answers JSON".into())
        } else {
            RpcError::NotOdoo(format!("the answer is not JSON: {}", text_snippet(body)))
        });
    };
    let Some(obj) = value.as_object() else {
        return Err(RpcError::NotOdoo(
            "the answer is JSON but not a JSON-RPC object".into(),
        ));
    };
    if let Some(error) = obj.get("error") {
        return Err(decode_error(error));
    }
    if !(200..300).contains(&status) {
        return Err(RpcError::Http {
            status,
            snippet: text_snippet(body),
        });
    }
    if !obj.contains_key("result") && !obj.contains_key("jsonrpc") {
        return Err(RpcError::NotOdoo(
            "the JSON answer has neither `jsonrpc` nor `result`".into(),
        ));
    }
    Ok(obj.get("result").cloned().unwrap_or(Value::Null))
}

/// Map the `error` member: 100 → expired, 404 → not found, else name + message from `data`.
pub fn decode_error(error: &Value) -> RpcError {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let data = error.get("data");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let top_message = text(error.get("message")).unwrap_or_default();
    let message = text(data.and_then(|d| d.get("message")))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| top_message.clone());
    let name = text(data.and_then(|d| d.get("name"))).unwrap_or_default();
    match code {
        100 => RpcError::SessionExpired,
        404 => RpcError::NotFound(if message.is_empty() {
            top_message
        } else {
            message
        }),
        _ if name == "odoo.http.SessionExpiredException" => RpcError::SessionExpired,
        _ => RpcError::Odoo {
            code,
            name,
            message,
        },
    }
}

fn starts_like_html(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii_start();
    trimmed.first() == Some(&b'<')
}

/// The start of a text body, for error messages (a title when it is HTML).
pub fn text_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    if let Some(title) = html_title(&text) {
        return one_line(&title, 80);
    }
    one_line(&text, 80)
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title = text.get(start..end)?.trim();
    (!title.is_empty()).then(|| html_escape::decode_html_entities(title).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Result<Value, RpcError> {
        decode_response(200, Some("application/json"), body.as_bytes())
    }

    /// An error as Odoo's dispatcher reports a Python exception (code 200).
    fn odoo_error(name: &str, message: &str) -> RpcError {
        RpcError::Odoo {
            code: 200,
            name: name.into(),
            message: message.into(),
        }
    }

    fn server() -> ServerUrl {
        ServerUrl::parse("http://127.0.0.1:8069").unwrap()
    }

    #[test]
    fn request_envelope_has_the_four_members() {
        let body = request_body(7, json!({"db": "x"}));
        assert_eq!(
            body,
            json!({"jsonrpc":"2.0","method":"call","params":{"db":"x"},"id":7})
        );
    }

    #[test]
    fn result_and_missing_result() {
        assert_eq!(
            ok(r#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#).unwrap(),
            json!({"a":1})
        );
        assert_eq!(ok(r#"{"jsonrpc":"2.0","id":1}"#).unwrap(), Value::Null);
        assert_eq!(
            ok(r#"{"jsonrpc":"2.0","id":1,"result":null}"#).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn special_error_codes() {
        let expired = r#"{"jsonrpc":"2.0","id":null,"error":{"code":100,"message":"Odoo Session Expired","data":{"name":"odoo.http.SessionExpiredException","message":"Session expired"}}}"#;
        assert_eq!(ok(expired).unwrap_err(), RpcError::SessionExpired);
        let not_found = r#"{"jsonrpc":"2.0","id":1,"error":{"code":404,"message":"404: Not Found","data":{"name":"werkzeug.exceptions.NotFound","message":"gone"}}}"#;
        assert_eq!(
            ok(not_found).unwrap_err(),
            RpcError::NotFound("gone".into())
        );
        let no_data = r#"{"jsonrpc":"2.0","id":1,"error":{"code":404,"message":"404: Not Found"}}"#;
        assert_eq!(
            ok(no_data).unwrap_err(),
            RpcError::NotFound("404: Not Found".into())
        );
    }

    #[test]
    fn server_errors_take_name_and_data_message() {
        let denied = r#"{"jsonrpc":"2.0","id":1,"error":{"code":200,"message":"Odoo Server Error","data":{"name":"odoo.exceptions.AccessDenied","debug":"tb","message":"Access Denied","arguments":[],"context":{}}}}"#;
        let e = ok(denied).unwrap_err();
        assert_eq!(
            e,
            RpcError::Odoo {
                code: 200,
                name: names::ACCESS_DENIED.into(),
                message: "Access Denied".into()
            }
        );
        assert!(e.is_access_denied());
        let bare = r#"{"error":{"code":200,"message":"Odoo Server Error"}}"#;
        assert_eq!(
            ok(bare).unwrap_err(),
            RpcError::Odoo {
                code: 200,
                name: String::new(),
                message: "Odoo Server Error".into()
            }
        );
    }

    #[test]
    fn html_404_and_garbage_are_not_odoo() {
        let html = b"<!doctype html><html><title>Welcome to nginx!</title></html>";
        assert!(matches!(
            decode_response(200, Some("text/html"), html),
            Err(RpcError::NotOdoo(_))
        ));
        assert!(matches!(
            decode_response(200, None, html),
            Err(RpcError::NotOdoo(_))
        ));
        assert!(matches!(
            decode_response(404, Some("text/html"), html),
            Err(RpcError::NotOdoo(_))
        ));
        assert!(matches!(
            decode_response(200, None, b"hello"),
            Err(RpcError::NotOdoo(_))
        ));
        assert!(matches!(
            decode_response(200, None, b"[1,2]"),
            Err(RpcError::NotOdoo(_))
        ));
        assert!(matches!(
            decode_response(200, None, b"{\"x\":1}"),
            Err(RpcError::NotOdoo(_))
        ));
        assert!(matches!(
            decode_response(200, None, b""),
            Err(RpcError::NotOdoo(_))
        ));
    }

    #[test]
    fn other_statuses_keep_a_snippet() {
        let e = decode_response(
            502,
            Some("text/html"),
            b"<html><title>502 Bad Gateway</title></html>",
        )
        .unwrap_err();
        assert_eq!(
            e,
            RpcError::Http {
                status: 502,
                snippet: "502 Bad Gateway".into()
            }
        );
        assert!(matches!(
            decode_response(302, None, b""),
            Err(RpcError::Redirected { status: 302, .. })
        ));
        // An Odoo error body with a non-200 status is still the Odoo error.
        let e = decode_response(500, Some("application/json"), br#"{"error":{"code":100}}"#)
            .unwrap_err();
        assert_eq!(e, RpcError::SessionExpired);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        for body in [
            &b"\xff\xfe\x00"[..],
            b"{",
            b"<",
            b"   ",
            b"null",
            b"{\"error\":5}",
            b"{\"error\":{\"code\":\"x\"}}",
        ] {
            for status in [200, 400, 404, 500, 301] {
                let _ = decode_response(status, None, body);
            }
        }
    }

    #[test]
    fn user_errors_pick_exit_codes_and_name_the_next_step() {
        let s = server();
        let login = ErrorContext {
            server: &s,
            profile: "default",
            login: true,
        };
        let other = ErrorContext {
            login: false,
            ..login
        };
        let denied = odoo_error(names::ACCESS_DENIED, "Access Denied");
        let e = denied.user_error(&login);
        assert_eq!(e.exit_code(), 3);
        assert!(e.message.contains("wrong login or password"), "{e}");
        let cooldown = odoo_error(
            names::ACCESS_DENIED,
            "Too many login failures, please wait a bit before trying again.",
        );
        let e = cooldown.user_error(&login);
        assert_eq!(e.exit_code(), 3);
        assert!(e.message.contains("wait a minute"), "{e}");
        let no_db = odoo_error(names::ACCESS_ERROR, "Database not found.");
        let e = no_db.user_error(&login);
        assert_eq!(e.exit_code(), 1);
        assert!(e.message.contains("--db"), "{e}");
        assert_eq!(RpcError::SessionExpired.user_error(&other).exit_code(), 3);
        assert!(
            RpcError::SessionExpired
                .user_error(&other)
                .message
                .contains("odoo-bus login")
        );
        for kind in [
            TransportKind::Dns,
            TransportKind::Refused,
            TransportKind::Timeout,
            TransportKind::Tls,
            TransportKind::Other,
        ] {
            let e = RpcError::Transport {
                kind,
                detail: "x\ny".into(),
            }
            .user_error(&other);
            assert_eq!(e.exit_code(), 4, "{kind}");
            assert!(!e.message.contains('\n'));
        }
        let tls = RpcError::Transport {
            kind: TransportKind::Tls,
            detail: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert!(tls.user_error(&other).message.contains("--insecure"));
        assert!(tls.user_error(&other).message.contains("last resort"));
        let refused = RpcError::Transport {
            kind: TransportKind::Refused,
            detail: String::new(),
        };
        assert!(
            refused
                .user_error(&other)
                .message
                .contains("127.0.0.1:8069")
        );
        let not_odoo = RpcError::NotOdoo("html".into()).user_error(&other);
        assert_eq!(not_odoo.exit_code(), 1);
        assert!(not_odoo.message.contains("is not an Odoo server"));
        let redirect = RpcError::Redirected {
            status: 301,
            location: "https://erp.example.com/web/webclient/version_info".into(),
        };
        assert!(
            redirect
                .user_error(&other)
                .message
                .contains("odoo-bus login https://erp.example.com`")
        );
        // Outside login, AccessDenied is still an auth problem but not "wrong password".
        let e = denied.user_error(&other);
        assert_eq!(e.exit_code(), 3);
        assert!(!e.message.contains("wrong login"));
    }

    #[test]
    fn one_line_squashes_and_cuts() {
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/rpc_response.rs`, crash-846ac82f): an exception name
    /// with a newline (here a traceback pasted into `data.name`) split the error over two lines.
    /// An ESC sequence from a hostile server would have reached the terminal the same way.
    #[test]
    fn server_text_in_errors_stays_on_one_line_without_control_characters() {
        let server = server();
        let cx = ErrorContext {
            server: &server,
            profile: "default",
            login: false,
        };
        let bodies = [
            r#"{"jsonrpc": "2.0", "id": 5, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": ":doo.exceptions.Access      ^^^^^^^^   result = endpoint(self, *args, **params_ok)\n             ^^^^\n  File \"/opt/odoo18/src/addons/web/controllers/session.py\"", "message": "Database not found."}}}"#,
            r#"{"jsonrpc": "2.0", "id": 5, "error": {"code": 404, "message": "Not Found", "data": {"name": "werkzeug.exceptions.NotFound", "message": "no such\nthing \u001b[31mred\u0007"}}}"#,
            r#"{"jsonrpc": "2.0", "id": 5, "error": {"code": 200, "message": "x", "data": {"name": "odoo.exceptions.\u001b]0;title\u0007UserError", "message": "a\r\nb\u0000c"}}}"#,
        ];
        for body in bodies {
            let err = decode_response(200, Some("application/json"), body.as_bytes()).unwrap_err();
            for login in [false, true] {
                let cx = ErrorContext { login, ..cx };
                let msg = err.user_error(&cx).message;
                assert!(!msg.chars().any(char::is_control), "{msg:?}");
            }
        }
        assert_eq!(one_line("a\u{1b}[31mb\u{7}", 20), "a [31mb");
    }
}
