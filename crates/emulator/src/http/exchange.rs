//! One HTTP exchange as the emulator's handlers see it: the parsed request ([`Req`]), the
//! session it runs in (resolved from the cookie as Odoo does), and the reply under construction
//! ([`Reply`]) with werkzeug's wire habits. Shared by the JSON-RPC routes, the form login and
//! the websocket handshake; owns no routing and no protocol logic.

use std::net::IpAddr;
use std::sync::LazyLock;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::model::{self, Session};
use crate::state::Shared;
use crate::time;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// A parsed request, with the body already read.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub peer: IpAddr,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `session_id` cookie, if any (whatever its shape).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().to_string())
    }

    /// Form fields of a urlencoded POST body.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The raw query string as sent, for redirects to "the same URL".
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            let qs: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(self.query.iter())
                .finish();
            format!("{}?{}", self.path, qs)
        }
    }
}

/// The session a request runs in (Odoo's `request.session`), resolved from the cookie like
/// `FilesystemSessionStore.get`: a well-formed unknown sid becomes a fresh session under that
/// sid, anything else a fresh session under a new sid. Monodb sessions always carry the db.
pub fn request_session(shared: &Shared, req: &Req) -> String {
    request_session_new(shared, req).0
}

/// [`request_session`], also telling whether the session was created by this request (werkzeug
/// then has to send its cookie).
pub fn request_session_new(shared: &Shared, req: &Req) -> (String, bool) {
    let mut inner = shared.lock();
    let sid_len = inner.db.sid_len;
    let cookie = req
        .cookie("session_id")
        .filter(|s| model::is_valid_sid(s, sid_len));
    let monodb = (shared.cfg.dbs.len() == 1).then(|| shared.cfg.main_db().to_string());
    let cfg = &shared.cfg;
    let sid = match cookie {
        Some(c) => inner.db.rotation_step(
            &c,
            std::time::Instant::now(),
            cfg.session_rotation,
            cfg.session_rotation_grace,
        ),
        None => model::new_sid(sid_len),
    };
    let mut created = false;
    let session = inner.db.sessions.entry(sid.clone()).or_insert_with(|| {
        created = true;
        Session::anonymous(None)
    });
    if session.db.is_none() {
        session.db = monodb;
    }
    (sid, created)
}

/// A response under construction.
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
    /// Send the headers (with the Content-Length of `body`) and close without the body, as
    /// Odoo's websocket handshake errors do on the real server.
    headers_only: bool,
}

impl Reply {
    pub fn new(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            headers_only: false,
        }
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn content_type(self, value: &str) -> Self {
        self.header(header::CONTENT_TYPE, value)
    }

    pub fn nosniff(self) -> Self {
        self.header(HeaderName::from_static("x-content-type-options"), "nosniff")
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn headers_only(mut self) -> Self {
        self.headers_only = true;
        self
    }

    /// `Set-Cookie: session_id=...` with werkzeug's attribute order.
    pub fn session_cookie(self, sid: &str, max_age: u64) -> Self {
        let expires = time::http_date_in_days(365);
        self.header(
            header::SET_COOKIE,
            format!("session_id={sid}; Expires={expires}; Max-Age={max_age}; HttpOnly; Path=/"),
        )
    }

    pub fn html(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Reply::new(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }

    /// A werkzeug `HTTPException` page.
    pub fn werkzeug(status: StatusCode, description: &str) -> Self {
        let code = status.as_u16();
        let name = status.canonical_reason().unwrap_or("Error");
        Reply::html(
            status,
            format!(
                "<!doctype html>\n<html lang=en>\n<title>{code} {name}</title>\n<h1>{name}</h1>\n<p>{}</p>\n",
                escape(description)
            ),
        )
    }

    pub fn not_found() -> Self {
        Reply::werkzeug(
            StatusCode::NOT_FOUND,
            "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        )
    }

    pub fn internal_error() -> Self {
        Reply::werkzeug(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.",
        )
    }

    /// A redirect as `request.redirect` makes it (werkzeug's small HTML body included).
    pub fn redirect(status: StatusCode, location: &str) -> Self {
        let body = format!(
            "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href=\"{0}\">{0}</a>. If not, click the link.\n",
            escape(location)
        );
        Reply::html(status, body).header(header::LOCATION, location)
    }

    pub fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(if self.headers_only {
            truncated_body()
        } else {
            Full::new(self.body.clone())
                .map_err(|never| match never {})
                .boxed()
        });
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::SERVER,
            HeaderValue::from_static("Werkzeug/2.2.2 Python/3.11.2"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        if self.headers_only {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        }
        // werkzeug's dev server closes after every response; the swallowed handshake errors and
        // the 101 are written by Odoo's own handler and lack the header.
        if !self.headers_only && self.status != StatusCode::SWITCHING_PROTOCOLS {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let reason = self
            .status
            .canonical_reason()
            .map(|r| r.to_ascii_uppercase())
            .and_then(|r| hyper::ext::ReasonPhrase::try_from(r).ok());
        if let Some(reason) = reason {
            resp.extensions_mut().insert(reason);
        }
        resp
    }
}

/// A body that never comes: hyper writes the head while the body is pending, then the body
/// fails and the connection is aborted, as on the real server.
fn truncated_body() -> Body {
    let stream = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Err::<hyper::body::Frame<Bytes>, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "body withheld",
        ))
    });
    http_body_util::StreamBody::new(stream).boxed()
}

/// markupsafe's escape (what werkzeug applies to descriptions).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// werkzeug's `UserAgentParser` browser patterns: any match makes a UA a "browser", and only
/// browsers get the `OUTDATED_VERSION` check.
static BROWSER: LazyLock<regex_lite::Regex> = LazyLock::new(|| {
    regex_lite::Regex::new(
        r"(?i)googlebot|msnbot|yahoo|ask jeeves|aol|america\s+online\s+browser|opera|opr|edge|edg|chrome|crios|seamonkey|firefox|firebird|phoenix|iceweasel|galeon|safari|version|webkit|camino|konqueror|k-meleon|netscape|msie|microsoft\s+internet\s+explorer|trident/.+? rv:|lynx|links|baiduspider|bingbot|mozilla",
    )
    .unwrap_or_else(|e| panic!("browser regex: {e}"))
});

pub fn is_browser(user_agent: &str) -> bool {
    BROWSER.is_match(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn werkzeug_pages_have_the_measured_lengths() {
        // Lengths of the real 18.0 pages (their Content-Length, measured).
        let generic = Reply::werkzeug(
            StatusCode::BAD_REQUEST,
            "The browser (or proxy) sent a request that this server could not understand.",
        );
        assert_eq!(generic.body.len(), 167);
        assert_eq!(
            Reply::werkzeug(
                StatusCode::BAD_REQUEST,
                "Empty or missing header(s): origin"
            )
            .body
            .len(),
            125
        );
        assert_eq!(
            Reply::werkzeug(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key should be b64 encoded"
            )
            .body
            .len(),
            130
        );
        assert_eq!(Reply::not_found().body.len(), 207);
        assert_eq!(Reply::internal_error().body.len(), 265);
        let inferred = Reply::werkzeug(
            StatusCode::BAD_REQUEST,
            "Request inferred type is compatible with ['http'] but '/web/webclient/version_info' is type='json'.",
        );
        assert_eq!(inferred.body.len(), 214);
    }
}
