//! One websocket to Odoo's `/websocket`: dial, TLS, handshake, send within the rate limit, read
//! with a dead-peer watchdog. No reconnecting and no printing here (that is `stream` and `output`).
//!
//! Why these details matter, from Odoo 18's `addons/bus/websocket.py`:
//! - The handshake must carry `Origin` (else 400) and the `session_id` cookie (else the socket is
//!   silently *public*), and must not look like a browser (a browser User-Agent with a stale
//!   `?version=` is closed with `OUTDATED_VERSION`).
//! - The server counts every frame it receives, pongs and close included, and closes with 1013 past
//!   10 frames in 2 s. [`SendBudget`] keeps us below that.
//! - The server pings after 45 s of silence; if *nothing* arrives for much longer the peer (or a
//!   proxy between us) is dead even though TCP has not noticed. [`Connection::next`] enforces that.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use http::header::{COOKIE, ORIGIN, SET_COOKIE, USER_AGENT};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use crate::odoo::client::{CookieChange, session_cookie_change};
use crate::odoo::url::ServerUrl;
use crate::secret::SessionId;

/// Anything we can run a websocket over: plain TCP, TLS, either through a proxy tunnel.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// Odoo never caps what it sends (a resume can return every stored row in one frame), so we only
/// guard against absurd sizes.
const MAX_INCOMING_MESSAGE: usize = 512 << 20;

/// How much the websocket reads from the socket at once: the capacity of the buffered reader
/// under tungstenite (see [`TUNGSTENITE_READ`]). 1 MiB suits one busy stream: a flood is read
/// in few system calls, and each read acknowledges more at once (500 000 notifications, CPU of
/// the filtered tail, medians of 7 side by side: 128 KiB 0.237 s, 512 KiB 0.211 s, 1 MiB
/// 0.192–0.203 s); pages the stream never fills stay untouched, so a quiet stream does not hold
/// it. A tail over hundreds of profiles sets less with [`set_read_buffer_size`] (a bigger frame
/// still arrives whole: tungstenite grows its own buffer to the frame's length).
static READ_BUFFER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1 << 20);

/// tungstenite's own read buffer. tungstenite asks its stream for no more than the rest of the
/// frame it is reading (its buffer is reserved to the frame's length), so reading the socket
/// directly took one `recvfrom` per frame even with a full socket (50 000 for a 50 000-frame
/// flood, strace), and it zero-fills the room it reads into before each read. With a
/// `BufReader` of [`READ_BUFFER`] between them, tungstenite's reads are copies out of memory
/// and one `recvfrom` takes whatever the socket holds; tungstenite's buffer can stay small.
const TUNGSTENITE_READ: usize = 8 << 10;

/// Sets how much every websocket opened from now on reads at once (see [`READ_BUFFER`]).
/// Process-wide: one command holds one kind of connection.
pub fn set_read_buffer_size(bytes: usize) {
    READ_BUFFER.store(bytes.max(4096), std::sync::atomic::Ordering::Relaxed);
}

/// How to reach the websocket.
#[derive(Clone)]
pub struct ConnectOptions {
    pub url: ServerUrl,
    /// `session_info.websocket_worker_version`; sent as `?version=` when known.
    pub worker_version: Option<String>,
    pub tls: Arc<rustls::ClientConfig>,
    pub user_agent: String,
    /// Limit for DNS + TCP + TLS + the HTTP upgrade together.
    pub connect_timeout: Duration,
}

/// Why a connection attempt failed, classified so `doctor` and the messages can name the hop.
#[derive(Debug)]
pub enum ConnectError {
    /// The host name did not resolve.
    Dns(String),
    /// TCP connect refused or unreachable.
    Refused(String),
    /// Nothing answered within the connect timeout.
    Timeout,
    /// The TLS handshake failed (certificate, protocol).
    Tls(String),
    /// The HTTP proxy from the environment refused the tunnel.
    Proxy(String),
    /// The server answered the upgrade with something other than 101.
    Refusal {
        status: u16,
        content_type: Option<String>,
        /// The `Server` header: tells a proxy's answer (`nginx`) from Odoo's (`Werkzeug/…`).
        server: Option<String>,
        /// The `Location` header of a redirect.
        location: Option<String>,
        /// `WWW-Authenticate` or `Proxy-Authenticate` (name: value) of a 401 or 407: which
        /// gateway wants credentials, and its realm.
        challenge: Option<String>,
        /// What arrived of the body with the headers (a real Odoo 18 sends none on a refused
        /// handshake, facts §1.2).
        body: String,
    },
    /// Anything else during the handshake.
    Other(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Dns(d) => write!(f, "cannot resolve the host: {d}"),
            ConnectError::Refused(d) => write!(f, "cannot connect: {d}"),
            ConnectError::Timeout => f.write_str("timed out while connecting"),
            ConnectError::Tls(d) => write!(f, "TLS handshake failed: {d}"),
            ConnectError::Proxy(d) => write!(f, "the proxy refused the tunnel: {d}"),
            ConnectError::Refusal { status, body, .. } => {
                let body = body.trim();
                if body.is_empty() {
                    write!(f, "the websocket upgrade was refused with HTTP {status}")
                } else {
                    // The body is whatever the server or a proxy sent: one line, and no
                    // control character (an ESC sequence) reaches the terminal.
                    write!(
                        f,
                        "the websocket upgrade was refused with HTTP {status}: {}",
                        crate::odoo::rpc::one_line(body, 120)
                    )
                }
            }
            ConnectError::Other(d) => f.write_str(d),
        }
    }
}

/// The upgrade's request and response as they went over the wire (headers in order, cookie
/// values redacted): what Odoo's maintainers ask for in a bug report, and what `doctor -vv` and
/// `doctor --json` show. The response part stays empty when none came (a timeout, a cut).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// `GET /websocket?version=18.0-2 HTTP/1.1`.
    pub request_line: String,
    /// `Name: value`, cookie values replaced by `<redacted>`.
    pub request: Vec<String>,
    /// `HTTP/1.1 101 Switching Protocols`, when an answer came.
    pub status_line: Option<String>,
    pub response: Vec<String>,
}

impl Exchange {
    fn headers(map: &http::HeaderMap) -> Vec<String> {
        map.iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes());
                let value = match name.as_str() {
                    "cookie" => redact_cookies(&value, "; "),
                    "set-cookie" => redact_set_cookie(&value),
                    "authorization" | "proxy-authorization" => "<redacted>".to_string(),
                    _ => value.into_owned(),
                };
                format!("{}: {value}", canonical(name.as_str()))
            })
            .collect()
    }

    fn answer(&mut self, version: http::Version, status: http::StatusCode, map: &http::HeaderMap) {
        self.status_line = Some(format!(
            "{version:?} {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
        self.response = Exchange::headers(map);
    }

    /// The whole exchange as text: request line, headers, a blank line, the answer.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("> {}\n", self.request_line));
        for h in &self.request {
            out.push_str(&format!("> {h}\n"));
        }
        match &self.status_line {
            Some(status) => {
                out.push_str(&format!("< {status}\n"));
                for h in &self.response {
                    out.push_str(&format!("< {h}\n"));
                }
            }
            None => out.push_str("< (no answer)\n"),
        }
        out
    }
}

/// `set-cookie` → `Set-Cookie` (http keeps names in lower case; reports read better as sent).
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            if part == "websocket" {
                return "WebSocket".to_string();
            }
            if part == "www" {
                return "WWW".to_string();
            }
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `a=1; b=2` → `a=<redacted>; b=<redacted>`.
fn redact_cookies(value: &str, sep: &str) -> String {
    value
        .split(';')
        .map(|pair| match pair.trim().split_once('=') {
            Some((name, _)) => format!("{name}=<redacted>"),
            None => pair.trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// Only the cookie's own value: its attributes (Path, Expires, SameSite) help a diagnosis.
fn redact_set_cookie(value: &str) -> String {
    match value.split_once(';') {
        Some((first, attrs)) => format!("{};{attrs}", redact_cookies(first, "; ")),
        None => redact_cookies(value, "; "),
    }
}

/// What the successful handshake told us.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The `session_id` the 101 set, when it differs from the one we sent. Odoo re-saves the
    /// session on every handshake; a *different* id means it logged the session out and the socket
    /// is public (§2.4 of the protocol notes).
    pub rotated_session: Option<SessionId>,
    /// The URL actually dialled (for messages).
    pub url: String,
    /// The 101's `Server` header: `Werkzeug/…` when Odoo's threaded server answered directly,
    /// a proxy's name (`nginx/…`) when one rewrote it, none from Odoo's gevent process.
    pub server: Option<String>,
    /// The 101's `Via` header: proxies that keep `Server` still announce themselves here.
    pub via: Option<String>,
}

/// What one read produced.
#[derive(Debug)]
pub enum Incoming {
    /// A text frame: a batch of notifications (not parsed yet).
    Text(Utf8Bytes),
    /// A binary frame: Odoo never sends these; reported as malformed.
    Binary(bytes::Bytes),
    /// The peer closed the websocket (code and reason, if it sent a close frame).
    Closed { code: Option<u16>, reason: String },
    /// The TCP connection broke without a close frame (Odoo's "1006").
    Broken(String),
    /// Nothing arrived for the watchdog period.
    Silent(Duration),
}

/// What [`Connection::next_observed`] saw: a frame that matters, or a control frame.
#[derive(Debug)]
pub enum Observed {
    Frame(Incoming),
    /// The server pinged (already answered).
    Ping,
    /// A pong, with its payload.
    Pong(bytes::Bytes),
}

/// At most `limit` frames in any `window`, as Odoo's `_limit_rate` enforces on what it receives.
#[derive(Debug)]
pub struct SendBudget {
    limit: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl SendBudget {
    /// Odoo's defaults are 10 frames per 2 s; we keep one frame of margin for the close frame.
    pub fn odoo_default() -> Self {
        SendBudget::new(9, Duration::from_millis(2_100))
    }

    pub fn new(limit: usize, window: Duration) -> Self {
        SendBudget {
            limit: limit.max(1),
            window,
            sent: VecDeque::with_capacity(limit),
        }
    }

    /// How long to wait before one more frame may go, given the frames already sent.
    pub fn delay_at(&mut self, now: Instant) -> Duration {
        while let Some(&t) = self.sent.front() {
            if now.duration_since(t) >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if self.sent.len() < self.limit {
            Duration::ZERO
        } else {
            let oldest = self.sent[0];
            self.window.saturating_sub(now.duration_since(oldest))
        }
    }

    /// Record a frame that went (or will go, like tungstenite's automatic pong) at `now`.
    pub fn record(&mut self, now: Instant) {
        if self.sent.len() == self.limit {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
    }
}

/// An open websocket to Odoo.
pub struct Connection {
    ws: WebSocketStream<Box<dyn Transport>>,
    budget: SendBudget,
    /// When the last frames went, pongs included (at most [`SENT_LOG`]): tells a close 1013
    /// for sending too fast from one for any other reason (`doctor`).
    sent: VecDeque<Instant>,
}

/// How many send times [`Connection`] keeps: more than Odoo's burst of 10.
const SENT_LOG: usize = 16;

/// Dial, upgrade, and return the open connection with what the handshake said.
pub async fn connect(
    opts: &ConnectOptions,
    session: &SessionId,
) -> Result<(Connection, Handshake), ConnectError> {
    connect_recorded(opts, session, &mut Exchange::default()).await
}

/// [`connect`], keeping the upgrade's request and response headers in `record` (whatever part
/// happened, also when it fails).
pub async fn connect_recorded(
    opts: &ConnectOptions,
    session: &SessionId,
    record: &mut Exchange,
) -> Result<(Connection, Handshake), ConnectError> {
    connect_with_headers(opts, session, &[], record).await
}

/// [`connect_recorded`] with headers set on the upgrade request, replacing the usual ones of
/// the same name: `doctor` varies the `Origin` and sends `X-Forwarded-*` to find out what the
/// server compares the Origin with.
pub async fn connect_with_headers(
    opts: &ConnectOptions,
    session: &SessionId,
    extra: &[(&str, String)],
    record: &mut Exchange,
) -> Result<(Connection, Handshake), ConnectError> {
    let work = connect_inner(opts, session, extra, record);
    match tokio::time::timeout(opts.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout),
    }
}

async fn connect_inner(
    opts: &ConnectOptions,
    session: &SessionId,
    extra: &[(&str, String)],
    record: &mut Exchange,
) -> Result<(Connection, Handshake), ConnectError> {
    let ws_url = opts.url.websocket(opts.worker_version.as_deref());
    let transport: Box<dyn Transport> = Box::new(tokio::io::BufReader::with_capacity(
        READ_BUFFER.load(std::sync::atomic::Ordering::Relaxed),
        dial(&opts.url, &opts.tls).await?,
    ));

    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Other(format!("bad websocket URL {ws_url}: {e}")))?;
    let headers = request.headers_mut();
    let header = |v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| ConnectError::Other("a header value is not valid".into()))
    };
    // An empty session means "no session" (doctor tests the hop without one): no cookie at all,
    // rather than an empty one, so Odoo opens a plain public socket.
    if !session.expose().is_empty() {
        let mut cookie = header(&format!("session_id={}", session.expose()))?;
        cookie.set_sensitive(true);
        headers.insert(COOKIE, cookie);
    }
    headers.insert(ORIGIN, header(&opts.url.origin())?);
    headers.insert(USER_AGENT, header(&opts.user_agent)?);
    for (name, value) in extra {
        let name = http::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConnectError::Other(format!("bad header name {name}")))?;
        headers.insert(name, header(value)?);
    }
    record.request_line = format!(
        "GET {} HTTP/1.1",
        request
            .uri()
            .path_and_query()
            .map_or("/websocket", |p| p.as_str())
    );
    record.request = Exchange::headers(request.headers());

    let config = WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ)
        .max_message_size(Some(MAX_INCOMING_MESSAGE))
        .max_frame_size(Some(MAX_INCOMING_MESSAGE));
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, transport, Some(config))
            .await
            .map_err(|e| {
                if let tungstenite::Error::Http(r) = &e {
                    record.answer(r.version(), r.status(), r.headers());
                }
                classify_handshake_error(e)
            })?;
    record.answer(response.version(), response.status(), response.headers());

    // The same reading of Set-Cookie as every HTTP response gets (last one wins, deletions
    // recognised); a deleted cookie at the handshake is not a rotation we could use.
    let set_cookies = response.headers().get_all(SET_COOKIE);
    let rotated_session = match session_cookie_change(
        set_cookies.iter().filter_map(|v| v.to_str().ok()),
        cookie::time::OffsetDateTime::now_utc(),
    ) {
        Some(CookieChange::Set(sid)) if sid.expose() != session.expose() => Some(sid),
        _ => None,
    };

    Ok((
        Connection {
            ws,
            budget: SendBudget::odoo_default(),
            sent: VecDeque::with_capacity(SENT_LOG),
        },
        Handshake {
            rotated_session,
            url: ws_url,
            server: answer_header(&response, http::header::SERVER),
            via: answer_header(&response, http::header::VIA),
        },
    ))
}

/// One header of the 101, as text.
fn answer_header<B>(
    response: &http::Response<B>,
    name: http::header::HeaderName,
) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn classify_handshake_error(e: tungstenite::Error) -> ConnectError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let header = |name: http::header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let content_type = header(http::header::CONTENT_TYPE);
            let server = header(http::header::SERVER);
            let location = header(http::header::LOCATION);
            let challenge = [
                http::header::WWW_AUTHENTICATE,
                http::header::PROXY_AUTHENTICATE,
            ]
            .into_iter()
            .find_map(|name| {
                let value = header(name.clone())?;
                Some(format!("{}: {value}", canonical(name.as_str())))
            });
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(2048)]).into_owned())
                .unwrap_or_default();
            ConnectError::Refusal {
                status,
                content_type,
                server,
                location,
                challenge,
                body,
            }
        }
        tungstenite::Error::Io(io) => {
            ConnectError::Other(format!("connection lost during the handshake: {io}"))
        }
        other => ConnectError::Other(format!("websocket handshake failed: {other}")),
    }
}

/// TCP (through an environment proxy if one applies), then TLS for https servers.
async fn dial(
    url: &ServerUrl,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Box<dyn Transport>, ConnectError> {
    let tcp = match proxy_for(url) {
        Some(proxy) => tunnel(url, proxy).await?,
        None => {
            let addrs = resolve(url.host(), url.port()).await?;
            connect_any(&addrs).await?
        }
    };
    let _ = tcp.set_nodelay(true);
    if !url.is_https() {
        return Ok(Box::new(tcp));
    }
    Ok(Box::new(tls_handshake(url, tcp, tls).await?))
}

/// The dial steps one by one, public so `doctor` can time and report each hop with the very
/// code the real connection uses.
///
/// Resolve `host` (brackets of an IPv6 literal allowed) to socket addresses.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ConnectError::Dns(format!("{host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Dns(format!("{host}: no address")));
    }
    Ok(addrs)
}

/// Connect to the first address that accepts, in order.
pub async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(ConnectError::Refused(
        last.unwrap_or_else(|| "no address to connect to".into()),
    ))
}

/// The TLS handshake for `url`'s host over an open TCP connection.
pub async fn tls_handshake(
    url: &ServerUrl,
    tcp: TcpStream,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
    let host = url
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let server_name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| ConnectError::Tls(format!("bad server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls.clone());
    connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| ConnectError::Tls(e.to_string()))
}

/// The proxy the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) assigns to this
/// server, the same rules reqwest applies to our HTTP calls.
pub fn proxy_for(url: &ServerUrl) -> Option<hyper_util::client::proxy::matcher::Intercept> {
    let uri: http::Uri = url.as_str().parse().ok()?;
    hyper_util::client::proxy::matcher::Matcher::from_env().intercept(&uri)
}

/// An HTTP CONNECT tunnel through the proxy to the server.
pub async fn tunnel(
    url: &ServerUrl,
    proxy: hyper_util::client::proxy::matcher::Intercept,
) -> Result<TcpStream, ConnectError> {
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::client::legacy::connect::proxy::Tunnel;
    use tower_service::Service;

    if proxy.uri().scheme_str() == Some("https") {
        return Err(ConnectError::Proxy(
            "https:// proxies are not supported for the websocket; use an http:// proxy URL".into(),
        ));
    }
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    let mut tunnel = Tunnel::new(proxy.uri().clone(), connector);
    if let Some(auth) = proxy.basic_auth() {
        tunnel = tunnel.with_auth(auth.clone());
    }
    let dst: http::Uri = format!("http://{}:{}", url.host(), url.port())
        .parse()
        .map_err(|e| ConnectError::Other(format!("bad tunnel destination: {e}")))?;
    std::future::poll_fn(|cx| tunnel.poll_ready(cx))
        .await
        .map_err(|e| ConnectError::Proxy(e.to_string()))?;
    let io = tunnel
        .call(dst)
        .await
        .map_err(|e| ConnectError::Proxy(e.to_string()))?;
    Ok(io.into_inner())
}

impl Connection {
    /// Send one text frame, waiting first if the rate budget is spent.
    pub async fn send_text(&mut self, text: String) -> Result<(), tungstenite::Error> {
        let delay = self.budget.delay_at(Instant::now());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.record_sent();
        self.ws.send(Message::text(text)).await
    }

    /// Send a websocket PING (counted against the rate budget like any frame). Odoo answers
    /// with a PONG carrying the same payload (≤ 125 bytes).
    pub async fn send_ping(&mut self, payload: Vec<u8>) -> Result<(), tungstenite::Error> {
        let delay = self.budget.delay_at(Instant::now());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.record_sent();
        self.ws.send(Message::Ping(payload.into())).await
    }

    fn record_sent(&mut self) {
        let now = Instant::now();
        self.budget.record(now);
        if self.sent.len() == SENT_LOG {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
    }

    /// How many frames (pongs included) this side sent within the last `window`: Odoo closes
    /// with 1013 when more than 10 arrive in 2 s, and with the same code when its database pool
    /// is full, so this is what tells the two apart.
    pub fn frames_sent_within(&self, window: Duration) -> usize {
        let now = Instant::now();
        self.sent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= window)
            .count()
    }

    /// The next frame that matters. Pings are answered by tungstenite (and counted against the
    /// budget); pongs are ignored. `watchdog` is the longest silence we accept.
    pub async fn next(&mut self, watchdog: Duration) -> Incoming {
        loop {
            match self.next_observed(watchdog).await {
                Observed::Frame(incoming) => return incoming,
                Observed::Ping | Observed::Pong(_) => {}
            }
        }
    }

    /// Like [`Connection::next`], but control frames are reported too, for `doctor`, which
    /// times pongs and watches for Odoo's keep-alive ping. A ping is answered all the same.
    pub async fn next_observed(&mut self, watchdog: Duration) -> Observed {
        loop {
            let msg = match tokio::time::timeout(watchdog, self.ws.next()).await {
                Err(_) => return Observed::Frame(Incoming::Silent(watchdog)),
                Ok(None) => {
                    return Observed::Frame(Incoming::Broken(
                        "the connection closed without a close frame".into(),
                    ));
                }
                Ok(Some(Err(e))) => return Observed::Frame(classify_read_error(e)),
                Ok(Some(Ok(msg))) => msg,
            };
            return match msg {
                Message::Text(t) => Observed::Frame(Incoming::Text(t)),
                Message::Binary(b) => Observed::Frame(Incoming::Binary(b)),
                Message::Ping(_) => {
                    // tungstenite queues the pong and flushes it with the next read or write.
                    self.record_sent();
                    Observed::Ping
                }
                Message::Pong(payload) => Observed::Pong(payload),
                // Raw frames are only ever written, never read.
                Message::Frame(_) => continue,
                Message::Close(frame) => {
                    let (code, reason) = match frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.to_string()),
                        None => (None, String::new()),
                    };
                    Observed::Frame(Incoming::Closed { code, reason })
                }
            };
        }
    }

    /// Close politely (code 1000), without waiting long for the server's echo.
    pub async fn close(mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let _ = self.ws.close(Some(frame)).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

fn classify_read_error(e: tungstenite::Error) -> Incoming {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => Incoming::Closed {
            code: None,
            reason: String::new(),
        },
        E::Utf8(detail) => Incoming::Broken(format!(
            "the server sent a text frame that is not valid UTF-8 ({detail})"
        )),
        E::Capacity(c) => {
            Incoming::Broken(format!("the server sent a frame too large to handle ({c})"))
        }
        E::Protocol(p) => Incoming::Broken(format!("websocket protocol error: {p}")),
        E::Io(io) => Incoming::Broken(format!("connection lost: {io}")),
        other => Incoming::Broken(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_allows_a_burst_then_spaces_frames() {
        let mut b = SendBudget::new(3, Duration::from_secs(2));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.delay_at(t0), Duration::ZERO);
            b.record(t0);
        }
        assert_eq!(b.delay_at(t0), Duration::from_secs(2));
        let later = t0 + Duration::from_millis(1500);
        assert_eq!(b.delay_at(later), Duration::from_millis(500));
        assert_eq!(b.delay_at(t0 + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn a_refusal_body_is_one_line_without_control_characters() {
        let e = ConnectError::Refusal {
            status: 502,
            content_type: Some("text/html".into()),
            server: Some("nginx".into()),
            location: None,
            challenge: None,
            body: "<h1>Bad\r\nGateway</h1>\u{1b}[2J\u{7}".into(),
        };
        let text = e.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(
            text.ends_with("HTTP 502: <h1>Bad Gateway</h1> [2J"),
            "{text}"
        );
    }

    #[test]
    fn recorded_headers_hide_cookie_values_only() {
        let mut map = http::HeaderMap::new();
        map.insert(
            COOKIE,
            HeaderValue::from_static("session_id=s3cr3t; frontend_lang=en_US"),
        );
        map.insert(ORIGIN, HeaderValue::from_static("https://erp.example.com"));
        map.insert(
            SET_COOKIE,
            HeaderValue::from_static(
                "session_id=n3w; Expires=Sat, 05 Dec 2027 00:00:00 GMT; HttpOnly; Path=/",
            ),
        );
        let lines = Exchange::headers(&map);
        assert!(
            lines.contains(&"Cookie: session_id=<redacted>; frontend_lang=<redacted>".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"Origin: https://erp.example.com".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"Set-Cookie: session_id=<redacted>; Expires=Sat, 05 Dec 2027 00:00:00 GMT; HttpOnly; Path=/".to_string()),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("s3cr3t") && !l.contains("n3w"))
        );
        let mut ex = Exchange {
            request_line: "GET /websocket HTTP/1.1".into(),
            request: lines,
            ..Exchange::default()
        };
        assert!(ex.text().ends_with("< (no answer)\n"));
        ex.answer(
            http::Version::HTTP_11,
            http::StatusCode::SWITCHING_PROTOCOLS,
            &http::HeaderMap::new(),
        );
        assert!(
            ex.text().contains("< HTTP/1.1 101 Switching Protocols"),
            "{}",
            ex.text()
        );
    }
}
