//! The HTTP client every Odoo call goes through.
//!
//! Why it is built the way it is:
//! - **Redirects are never followed automatically.** Odoo's JSON routes do not redirect, and the
//!   few form flows that do (§1.7) follow them by hand through [`OdooClient::same_server_route`].
//!   This is what guarantees the session cookie is only ever sent to the server's own URL.
//! - **The session cookie is managed here, not by a cookie jar.** Any answer can rotate
//!   `session_id` (§1.4), so after every response `Set-Cookie` is read, and a change is handed to
//!   the listener at once so the caller can persist it before anything else can fail.
//! - **A non-browser User-Agent on purpose** (`odoo-bus/<version>`): a browser UA triggers Odoo's
//!   websocket version check (§2.3) and the TOTP "remember" crash (§1.8).
//! - **Logs never carry secrets**: `-vv` prints request lines only; `-vvv` adds bodies run through
//!   [`redact`].

use std::error::Error as StdError;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cookie::Cookie;
use cookie::time::OffsetDateTime;
use regex_lite::Regex;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::odoo::rpc::{self, RpcError, TransportKind};
use crate::odoo::url::ServerUrl;
use crate::secret::SessionId;
use crate::trace::Trace;

/// The cookie Odoo keeps its session in.
pub const SESSION_COOKIE: &str = "session_id";

/// Sent on every request; deliberately not a browser's (see the module docs).
pub const USER_AGENT: &str = concat!("odoo-bus/", env!("CARGO_PKG_VERSION"));

/// The default budget for one HTTP request (connect + answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting gets at most this long even when the request budget is larger: a host that does
/// not accept a TCP connection in 10 s is not going to.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many characters of a body `-vvv` shows.
const LOGGED_BODY_CHARS: usize = 2000;

/// How the client connects and reports.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Accept any TLS certificate (the caller has warned the user).
    pub insecure: bool,
    /// Budget for one request, connect included.
    pub timeout: Duration,
    /// Where `-vv`/`-vvv` request logs go.
    pub trace: Trace,
}

impl ClientOptions {
    pub fn new(trace: Trace, insecure: bool) -> Self {
        ClientOptions {
            insecure,
            timeout: DEFAULT_TIMEOUT,
            trace,
        }
    }
}

/// An HTTP answer as received (any status), for the form flows.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The `Location` header of a redirect.
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

type RotationListener = Arc<dyn Fn(&SessionId) + Send + Sync>;

/// A client bound to one Odoo server and (optionally) one session.
pub struct OdooClient {
    http: reqwest::Client,
    url: ServerUrl,
    session: Mutex<Option<SessionId>>,
    on_rotated: Option<RotationListener>,
    trace: Trace,
    next_id: std::sync::atomic::AtomicU64,
}

/// What a response's `Set-Cookie` headers did to the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieChange {
    Set(SessionId),
    Cleared,
}

impl OdooClient {
    pub fn new(url: ServerUrl, session: Option<SessionId>, opts: ClientOptions) -> Result<Self> {
        let tls = crate::tls::client_config(opts.insecure)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(MAX_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(OdooClient {
            http,
            url,
            session: Mutex::new(session),
            on_rotated: None,
            trace: opts.trace,
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// The session id as of the last response.
    pub fn session(&self) -> Option<SessionId> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replace the session (e.g. to start a login flow without one). Does not call the listener.
    pub fn set_session(&self, session: Option<SessionId>) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }

    /// Called with the new id whenever a response rotates `session_id`, before the call returns,
    /// so the caller can persist it at once. A cookie the server deletes does not call it (the
    /// session becomes `None`; the next call answers "session expired").
    pub fn on_session_rotated(&mut self, f: impl Fn(&SessionId) + Send + Sync + 'static) {
        self.on_rotated = Some(Arc::new(f));
    }

    /// Call a JSON route. `Ok(None)` when the result is null or absent.
    pub async fn call<T: DeserializeOwned>(
        &self,
        route: &str,
        params: Value,
    ) -> Result<Option<T>, RpcError> {
        self.call_with(route, params, None).await
    }

    /// [`OdooClient::call`] with its own deadline, for a route that answers at once (the bus
    /// peek): a hop that holds the request then costs `within`, not the client's whole timeout.
    pub async fn call_within<T: DeserializeOwned>(
        &self,
        route: &str,
        params: Value,
        within: Duration,
    ) -> Result<Option<T>, RpcError> {
        self.call_with(route, params, Some(within)).await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        route: &str,
        params: Value,
        within: Option<Duration>,
    ) -> Result<Option<T>, RpcError> {
        let response = self.post_json_with(route, params, within).await?;
        let content_type = response
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let value = match rpc::decode_response(response.status, content_type, &response.body) {
            Ok(v) => v,
            Err(RpcError::Redirected { status, .. }) => {
                return Err(RpcError::Redirected {
                    status,
                    location: response.location().unwrap_or_default().to_string(),
                });
            }
            Err(e) => return Err(e),
        };
        if value.is_null() {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| RpcError::BadResponse(format!("{route}: unexpected result shape: {e}")))
    }

    /// POST a JSON-RPC call and return the answer undecoded (any status; the session cookie is
    /// handled as for every call). For the bus poll, which reads the result without copying it.
    pub async fn post_json(&self, route: &str, params: Value) -> Result<RawResponse, RpcError> {
        self.post_json_with(route, params, None).await
    }

    /// [`OdooClient::post_json`] with its own deadline (see [`OdooClient::call_within`]).
    pub async fn post_json_within(
        &self,
        route: &str,
        params: Value,
        within: Duration,
    ) -> Result<RawResponse, RpcError> {
        self.post_json_with(route, params, Some(within)).await
    }

    async fn post_json_with(
        &self,
        route: &str,
        params: Value,
        within: Option<Duration>,
    ) -> Result<RawResponse, RpcError> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = rpc::request_body(id, params);
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| RpcError::BadResponse(format!("cannot encode the request: {e}")))?;
        let request = self
            .request(reqwest::Method::POST, route)?
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(bytes.clone());
        let request = match within {
            Some(d) => request.timeout(d),
            None => request,
        };
        self.send("POST", route, request, Some(&bytes)).await
    }

    /// GET a route; any status is returned as is (redirects are not followed).
    pub async fn get(&self, route: &str) -> Result<RawResponse, RpcError> {
        let request = self.request(reqwest::Method::GET, route)?;
        self.send("GET", route, request, None).await
    }

    /// POST an `application/x-www-form-urlencoded` form (the `/web/login` flows).
    pub async fn post_form(
        &self,
        route: &str,
        fields: &[(&str, &str)],
    ) -> Result<RawResponse, RpcError> {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .request(reqwest::Method::POST, route)?
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encoded.clone());
        self.send("POST", route, request, Some(encoded.as_bytes()))
            .await
    }

    /// The route of a redirect target, if it points back into this server (same origin, under
    /// the same path prefix). Anything else is refused, so the cookie never leaves the server.
    pub fn same_server_route(&self, location: &str) -> Option<String> {
        let base = url::Url::parse(&self.url.route("/")).ok()?;
        let target = base.join(location).ok()?;
        if target.origin() != base.origin() {
            return None;
        }
        let prefix = base.path().trim_end_matches('/');
        let path = target.path();
        let rest = path.strip_prefix(prefix)?;
        if !rest.starts_with('/') {
            return None;
        }
        Some(match target.query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        route: &str,
    ) -> Result<reqwest::RequestBuilder, RpcError> {
        // A route is a path on this server; a full URL here would be a bug that could send the
        // cookie elsewhere.
        if !route.starts_with('/') || route.starts_with("//") {
            return Err(RpcError::BadResponse(format!(
                "internal: `{route}` is not a route"
            )));
        }
        let mut builder = self.http.request(method, self.url.route(route));
        if let Some(sid) = self.session() {
            let mut value = HeaderValue::from_str(&format!("{SESSION_COOKIE}={}", sid.expose()))
                .map_err(|_| {
                    RpcError::BadResponse(
                        "the saved session id has characters a cookie cannot hold".into(),
                    )
                })?;
            value.set_sensitive(true);
            builder = builder.header(header::COOKIE, value);
        }
        Ok(builder)
    }

    async fn send(
        &self,
        method: &str,
        route: &str,
        request: reqwest::RequestBuilder,
        body: Option<&[u8]>,
    ) -> Result<RawResponse, RpcError> {
        let url = self.url.route(route);
        // Redacted now, while the session it may carry is still the one known to the redactor.
        let request_log = body
            .filter(|_| self.trace.enabled(3))
            .map(|b| self.redacted(&String::from_utf8_lossy(b)));
        let started = Instant::now();
        let outcome = request.send().await;
        let elapsed = started.elapsed().as_millis();
        let response = match outcome {
            Ok(r) => r,
            Err(e) => {
                let err = classify_transport(&e);
                self.trace.debug(
                    2,
                    format!("{method} {url} → failed after {elapsed} ms: {err}"),
                );
                return Err(err);
            }
        };
        let status = response.status().as_u16();
        self.trace
            .debug(2, format!("{method} {url} → {status} ({elapsed} ms)"));
        if let Some(text) = request_log {
            self.trace.debug(3, format!("  > {text}"));
        }
        let headers = response.headers().clone();
        // The cookie first: even an error answer can rotate the session.
        self.apply_set_cookie(&headers);
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                let err = classify_transport(&e);
                self.trace.debug(
                    2,
                    format!("{method} {url}: reading the answer failed: {err}"),
                );
                return Err(err);
            }
        };
        if self.trace.enabled(3) {
            self.trace.debug(
                3,
                format!("  < {}", self.redacted(&String::from_utf8_lossy(&body))),
            );
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    fn apply_set_cookie(&self, headers: &HeaderMap) {
        let values = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(change) = session_cookie_change(values, OffsetDateTime::now_utc()) else {
            return;
        };
        let rotated = {
            let mut current = self.session.lock().unwrap_or_else(PoisonError::into_inner);
            match change {
                CookieChange::Cleared => {
                    if current.is_some() {
                        self.trace
                            .debug(2, "  the server cleared the session cookie");
                    }
                    *current = None;
                    None
                }
                CookieChange::Set(sid) if current.as_ref() != Some(&sid) => {
                    *current = Some(sid.clone());
                    Some(sid)
                }
                CookieChange::Set(_) => None,
            }
        };
        if let Some(sid) = rotated {
            self.trace.debug(2, "  the server set a new session cookie");
            if let Some(listener) = &self.on_rotated {
                listener(&sid);
            }
        }
    }

    /// Body text for `-vvv`, with secrets (and the current session id) removed and cut short.
    fn redacted(&self, text: &str) -> String {
        let sid = self.session();
        let known: Vec<&str> = sid.iter().map(SessionId::expose).collect();
        let clean = redact(text, &known);
        if clean.chars().count() > LOGGED_BODY_CHARS {
            let cut: String = clean.chars().take(LOGGED_BODY_CHARS).collect();
            format!("{cut}… ({} bytes)", text.len())
        } else {
            clean
        }
    }
}

/// The last `session_id` cookie in these `Set-Cookie` values: set, or cleared (empty value,
/// `Max-Age<=0`, or an `Expires` in the past; `Max-Age` wins over `Expires` as in RFC 6265).
pub fn session_cookie_change<'a>(
    values: impl IntoIterator<Item = &'a str>,
    now: OffsetDateTime,
) -> Option<CookieChange> {
    let mut change = None;
    for value in values {
        let Ok(cookie) = Cookie::parse(value) else {
            continue;
        };
        if cookie.name() != SESSION_COOKIE {
            continue;
        }
        let expired = match cookie.max_age() {
            Some(age) => age.is_zero() || age.is_negative(),
            None => cookie.expires_datetime().is_some_and(|at| at <= now),
        };
        change = Some(if expired || cookie.value().is_empty() {
            CookieChange::Cleared
        } else {
            CookieChange::Set(SessionId::new(cookie.value()))
        });
    }
    change
}

/// Turn a reqwest failure into the transport kind the user gets advice for, by walking the
/// error's `source()` chain (reqwest wraps hyper wraps io wraps rustls).
pub fn classify_transport(err: &reqwest::Error) -> RpcError {
    let detail = error_chain(err);
    let mut kind = None;
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        match kind_of(e) {
            Some(TransportKind::Tls) => {
                kind = Some(TransportKind::Tls);
                break;
            }
            found => kind = kind.or(found),
        }
        // io::Error::source() skips the error it wraps, so step into it by hand.
        source = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    let lower = detail.to_lowercase();
    let kind = kind.unwrap_or(if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_dns()
        || lower.contains("dns error")
        || lower.contains("failed to lookup address")
    {
        TransportKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls handshake") {
        TransportKind::Tls
    } else if lower.contains("connection refused") {
        TransportKind::Refused
    } else {
        TransportKind::Other
    });
    // A timeout reported anywhere wins over an io kind seen lower in the chain.
    let kind = if err.is_timeout() && kind != TransportKind::Tls {
        TransportKind::Timeout
    } else {
        kind
    };
    RpcError::Transport { kind, detail }
}

/// The transport kind one link of an error chain tells, if any.
fn kind_of(e: &(dyn StdError + 'static)) -> Option<TransportKind> {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return Some(TransportKind::Tls);
    }
    match e.downcast_ref::<std::io::Error>()?.kind() {
        std::io::ErrorKind::ConnectionRefused => Some(TransportKind::Refused),
        std::io::ErrorKind::TimedOut => Some(TransportKind::Timeout),
        _ => None,
    }
}

/// "a: b: c" from an error and its sources, without repeated segments.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

static JSON_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)"(password|passwd|session_id|sid|session_token|csrf_token|totp_token|token|secret|api_key|access_token)"(\s*):(\s*)"(?:[^"\\]|\\.)*""#)
        .expect("static regex")
});
static FORM_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(^|[?&;\s])(password|session_id|csrf_token|totp_token|token)=[^&;\s]*")
        .expect("static regex")
});
static HTML_CSRF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(csrf_token["']?\s*[:=,]\s*["']|name=["']csrf_token["'][^>]*?value=["'])[^"']*"#,
    )
    .expect("static regex")
});
/// Anything shaped like a session id, token or hash: long runs of URL-safe characters.
static LONG_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9_\-]{32,}").expect("static regex"));

/// Remove secrets from text meant for a log: values of secret-looking keys (JSON, forms, the
/// CSRF token in HTML), anything shaped like a session id or token, and the `known` values.
pub fn redact(text: &str, known: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in known.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    let out = JSON_SECRET.replace_all(&out, "\"$1\"$2:$3\"[redacted]\"");
    let out = FORM_SECRET.replace_all(&out, "$1$2=[redacted]");
    let out = HTML_CSRF.replace_all(&out, "${1}[redacted]");
    LONG_TOKEN.replace_all(&out, "[redacted]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str =
        "UfZPnkrFQVwm4-49u15V9mqheZSpzaZjzUAxWroagcyDoXU_JLZa8MN5Xbe0Z2_TPDT7Ja1IGlskjdikwODV";

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn reads_odoo_set_cookie() {
        let v = format!(
            "session_id={SID}; Expires=Sun, 21 Nov 2027 23:11:23 GMT; Max-Age=604800; HttpOnly; Path=/"
        );
        assert_eq!(
            session_cookie_change([v.as_str()], now()),
            Some(CookieChange::Set(SessionId::new(SID)))
        );
    }

    #[test]
    fn ignores_other_cookies_and_garbage() {
        assert_eq!(
            session_cookie_change(
                ["tz=Europe/Brussels; Path=/", "frontend_lang=en_US", "=;;"],
                now()
            ),
            None
        );
        assert_eq!(session_cookie_change(Vec::<&str>::new(), now()), None);
    }

    #[test]
    fn the_last_session_cookie_wins() {
        let got = session_cookie_change(
            ["session_id=aaa; Path=/", "tz=x", "session_id=bbb; Path=/"],
            now(),
        );
        assert_eq!(got, Some(CookieChange::Set(SessionId::new("bbb"))));
    }

    #[test]
    fn deleted_cookies_clear_the_session() {
        for v in [
            "session_id=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
            "session_id=x; Max-Age=0; Path=/",
            "session_id=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "session_id=; Path=/",
        ] {
            assert_eq!(
                session_cookie_change([v], now()),
                Some(CookieChange::Cleared),
                "{v}"
            );
        }
        // Max-Age wins over an old Expires.
        let v = "session_id=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60";
        assert_eq!(
            session_cookie_change([v], now()),
            Some(CookieChange::Set(SessionId::new("x")))
        );
    }

    #[test]
    fn redaction_removes_secrets_in_every_shape() {
        let pw = "hunter2-very-secret";
        let samples = [
            format!(r#"{{"params":{{"db":"x","login":"admin","password":"{pw}"}}}}"#),
            format!(r#"{{"password" : "{pw}"}}"#),
            format!("csrf_token=abc&login=admin&password={pw}&type=password"),
            format!("Cookie: session_id={SID}"),
            format!(r#"{{"session_id":"{SID}"}}"#),
            format!("plain text with {SID} inside"),
            r#"<input type="hidden" name="csrf_token" value="e89e92272331a54d3d37f51ec5a71b30a3b1a347o1826838685"/>"#.to_string(),
            r#"csrf_token: "e89e92272331a54d3d37f51ec5a71b30a3b1a347o1826838685","#.to_string(),
        ];
        for s in &samples {
            let r = redact(s, &[]);
            assert!(!r.contains(pw), "{r}");
            assert!(!r.contains(SID), "{r}");
            assert!(!r.contains("e89e92272331a54d"), "{r}");
            assert!(r.contains("[redacted]"), "{r}");
        }
        // Known values go even when they do not look secret.
        assert_eq!(
            redact("the sid is abcd", &["abcd"]),
            "the sid is [redacted]"
        );
        // Ordinary content survives.
        assert_eq!(
            redact(r#"{"uid":2,"name":"Mitchell Admin"}"#, &[]),
            r#"{"uid":2,"name":"Mitchell Admin"}"#
        );
    }

    fn client(base: &str) -> OdooClient {
        OdooClient::new(
            ServerUrl::parse(base).unwrap(),
            None,
            ClientOptions::new(Trace::silent(), false),
        )
        .unwrap()
    }

    #[test]
    fn redirects_are_followed_only_inside_the_server() {
        let c = client("https://erp.example.com/erp");
        assert_eq!(
            c.same_server_route("/erp/web/login?db=x").as_deref(),
            Some("/web/login?db=x")
        );
        assert_eq!(
            c.same_server_route("https://erp.example.com/erp/web/login/totp")
                .as_deref(),
            Some("/web/login/totp")
        );
        assert_eq!(c.same_server_route("totp").as_deref(), Some("/totp"));
        assert_eq!(
            c.same_server_route("https://evil.example.com/erp/web/login"),
            None
        );
        assert_eq!(
            c.same_server_route("http://erp.example.com/erp/web/login"),
            None
        );
        assert_eq!(c.same_server_route("//evil.example.com/erp/x"), None);
        assert_eq!(c.same_server_route("/other/web/login"), None);
        assert_eq!(c.same_server_route("/erpx/web"), None);
        let root = client("http://127.0.0.1:8069");
        assert_eq!(root.same_server_route("/odoo").as_deref(), Some("/odoo"));
    }

    #[test]
    fn routes_must_be_paths() {
        let c = client("http://127.0.0.1:8069");
        assert!(c.request(reqwest::Method::GET, "http://evil/x").is_err());
        assert!(c.request(reqwest::Method::GET, "//evil/x").is_err());
        assert!(c.request(reqwest::Method::GET, "/web/health").is_ok());
    }

    #[tokio::test]
    async fn refused_connections_are_classified() {
        // Bind, learn the port, close: nothing listens there any more.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = client(&format!("http://127.0.0.1:{port}"));
        let err = c.get("/web/health").await.unwrap_err();
        assert!(
            matches!(
                err,
                RpcError::Transport {
                    kind: TransportKind::Refused,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn silent_servers_time_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let opts = ClientOptions {
            timeout: Duration::from_millis(300),
            ..ClientOptions::new(Trace::silent(), false)
        };
        let c = OdooClient::new(
            ServerUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            None,
            opts,
        )
        .unwrap();
        let err = c
            .call::<Value>("/web/session/check", serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                RpcError::Transport {
                    kind: TransportKind::Timeout,
                    ..
                }
            ),
            "{err:?}"
        );
        hold.abort();
    }

    #[tokio::test]
    async fn tls_failures_are_classified() {
        // A TCP server that answers the TLS ClientHello with garbage.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let c = client(&format!("https://127.0.0.1:{port}"));
        let err = c.get("/web/health").await.unwrap_err();
        assert!(
            matches!(
                err,
                RpcError::Transport {
                    kind: TransportKind::Tls,
                    ..
                }
            ),
            "{err:?}"
        );
        serve.abort();
    }

    #[tokio::test]
    async fn unknown_hosts_are_dns_failures() {
        let c = client("http://no-such-host.invalid");
        let err = c.get("/web/health").await.unwrap_err();
        assert!(
            matches!(
                err,
                RpcError::Transport {
                    kind: TransportKind::Dns,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
