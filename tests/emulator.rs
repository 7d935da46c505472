//! The emulator checked against the protocol reference (/work/shared/odoo-bus-protocol.md, cited
//! as §N) and the facts measured on a real Odoo 18, with plain reqwest / tokio-tungstenite /
//! raw TCP clients: never the odoo-bus client code, so the emulator cannot share its bugs.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use odoo_bus::emulator::{
    ChannelKind, Control, Emulator, EmulatorConfig, Faults, Frame, Target, UserSpec,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

const T: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Helpers: a JSON-RPC caller, a tungstenite client, and a raw websocket for protocol abuse.

async fn start(cfg: EmulatorConfig) -> (Emulator, Control) {
    let emu = Emulator::start(cfg).await.expect("emulator starts");
    let control = emu.control();
    (emu, control)
}

fn http() -> reqwest::Client {
    odoo_bus::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Rpc {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Rpc {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn cookie(&self) -> Option<String> {
        set_cookie_sid(&self.headers)
    }
}

fn set_cookie_sid(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("session_id=")
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

async fn rpc(url: &str, route: &str, params: Value, sid: Option<&str>) -> Rpc {
    let mut req = http()
        .post(format!("{url}{route}"))
        .header("content-type", "application/json")
        .body(json!({"jsonrpc": "2.0", "method": "call", "id": 7, "params": params}).to_string());
    if let Some(sid) = sid {
        req = req.header("cookie", format!("session_id={sid}"));
    }
    let resp = req.send().await.unwrap();
    Rpc {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.unwrap(),
    }
}

async fn login(url: &str, login: &str, password: &str) -> String {
    let r = rpc(
        url,
        "/web/session/authenticate",
        json!({"db": "odoo", "login": login, "password": password}),
        None,
    )
    .await;
    assert!(r.json()["result"]["uid"].is_i64(), "{}", r.text);
    r.cookie().expect("session cookie")
}

type Client = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A tungstenite client with Odoo's required headers (and optionally a cookie and a UA).
async fn connect(
    url: &str,
    sid: Option<&str>,
    ua: Option<&str>,
    version: Option<&str>,
) -> (Client, Option<String>) {
    let ws_url = match version {
        Some(v) => format!("{}/websocket?version={v}", url.replace("http://", "ws://")),
        None => format!("{}/websocket", url.replace("http://", "ws://")),
    };
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert("origin", url.parse().unwrap());
    if let Some(sid) = sid {
        req.headers_mut()
            .insert("cookie", format!("session_id={sid}").parse().unwrap());
    }
    if let Some(ua) = ua {
        req.headers_mut().insert("user-agent", ua.parse().unwrap());
    }
    let addr = url.trim_start_matches("http://").to_string();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("session_id="))
        .map(|r| r.split(';').next().unwrap_or("").to_string());
    (ws, cookie)
}

async fn send(ws: &mut Client, event: &str, data: Value) {
    ws.send(Message::text(
        json!({"event_name": event, "data": data}).to_string(),
    ))
    .await
    .unwrap();
}

async fn subscribe(ws: &mut Client, channels: Value, last: u64) {
    send(ws, "subscribe", json!({"channels": channels, "last": last})).await;
}

/// The next TEXT frame, as raw text (pings are answered by tungstenite).
async fn next_text(ws: &mut Client) -> String {
    loop {
        match timeout(T, ws.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next batch, parsed: (id, type, payload) triples.
async fn next_batch(ws: &mut Client) -> Vec<(u64, String, Value)> {
    let v: Value = serde_json::from_str(&next_text(ws).await).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_u64().unwrap(),
                n["message"]["type"].as_str().unwrap().to_string(),
                n["message"]["payload"].clone(),
            )
        })
        .collect()
}

/// No text frame within `d` (control frames are skipped).
async fn quiet_for(ws: &mut Client, d: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => {
                eprintln!("unexpected: {other:?}");
                return false;
            }
        }
    }
}

/// The close frame the server sends (code, reason).
async fn close_of(ws: &mut Client) -> (u16, String) {
    loop {
        match timeout(T, ws.next()).await.expect("a close in time") {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// A websocket spoken by hand over TCP, to send what no library would.
struct Raw {
    tcp: TcpStream,
    head: String,
}

impl Raw {
    async fn open(url: &str, extra_headers: &str) -> Raw {
        let addr = url.trim_start_matches("http://");
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /websocket?version=18.0-2 HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match timeout(T, tcp.read(&mut byte))
                .await
                .expect("response head in time")
                .unwrap()
            {
                0 => break,
                _ => head.push(byte[0]),
            }
        }
        Raw {
            tcp,
            head: String::from_utf8_lossy(&head).to_string(),
        }
    }

    async fn upgraded(url: &str, extra: &str) -> Raw {
        let std = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://x\r\n";
        let raw = Raw::open(url, &format!("{std}{extra}")).await;
        assert!(raw.status() == 101, "{}", raw.head);
        raw
    }

    fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// A client frame: masked unless `unmasked`, with the given first byte.
    async fn frame(&mut self, first: u8, payload: &[u8], unmasked: bool) {
        let mut out = vec![first];
        let mask_bit = if unmasked { 0 } else { 0x80 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n < 65536 => {
                out.push(mask_bit | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        if unmasked {
            out.extend(payload);
        } else {
            let key = [1u8, 2, 3, 4];
            out.extend(key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        let _ = self.tcp.write_all(&out).await;
    }

    async fn text(&mut self, s: &str) {
        self.frame(0x81, s.as_bytes(), false).await;
    }

    /// The next server frame: (opcode, payload); None at EOF.
    async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        timeout(T, self.tcp.read_exact(&mut h))
            .await
            .expect("frame in time")
            .ok()?;
        assert_eq!(h[1] & 0x80, 0, "server frames are never masked");
        assert_eq!(h[0] & 0x70, 0, "no RSV bits");
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.tcp.read_exact(&mut b).await.ok()?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.tcp.read_exact(&mut b).await.ok()?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        self.tcp.read_exact(&mut payload).await.ok()?;
        Some((h[0] & 0x0f, payload))
    }

    /// Skip pings/text until a close frame: (code, reason).
    async fn close(&mut self) -> (u16, String) {
        loop {
            match self.read_frame().await {
                Some((8, p)) => {
                    let code = u16::from_be_bytes([p[0], p[1]]);
                    return (code, String::from_utf8_lossy(&p[2..]).to_string());
                }
                Some(_) => continue,
                None => panic!("EOF before a close frame"),
            }
        }
    }

    /// True when the server closes TCP (EOF or reset) within `d`.
    async fn eof_within(&mut self, d: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}

fn admin_demo(control: &Control) -> (i64, i64) {
    (
        control.find_user("admin").unwrap().uid,
        control.find_user("demo").unwrap().uid,
    )
}

// ---------------------------------------------------------------------------------------------
// §1 HTTP, JSON-RPC and sessions

#[tokio::test]
async fn envelope_is_odoos_json_rpc_with_python_separators() {
    let (emu, _c) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    // §1.2 version_info, and the measured encoding (", " / ": ", key order).
    let r = rpc(&url, "/web/webclient/version_info", json!({}), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text,
        r#"{"jsonrpc": "2.0", "id": 7, "result": {"server_version": "18.0", "server_version_info": [18, 0, 0, "final", 0, ""], "server_serie": "18.0", "protocol_version": 1}}"#
    );
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    assert!(
        r.cookie().is_some_and(|s| s.len() == 84),
        "a session cookie on success"
    );
    // §1.1 wrong content type / GET → werkzeug 400 page.
    let resp = http()
        .post(format!("{url}/web/webclient/version_info"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Request inferred type is compatible with [&#39;http&#39;]")
    );
    let resp = http()
        .get(format!("{url}/web/webclient/version_info"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // §1.1 bad JSON, JSON that is not an object.
    for (body, text) in [
        ("{nope", "Invalid JSON data"),
        ("[1]", "Invalid JSON-RPC data"),
    ] {
        let resp = http()
            .post(format!("{url}/web/webclient/version_info"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.text().await.unwrap(), text);
    }
    // application/json-rpc is accepted too; `params` may be missing.
    let resp = http()
        .post(format!("{url}/web/webclient/version_info"))
        .header("content-type", "application/json-rpc")
        .body(r#"{"id": 3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Unknown route: 404 page.
    assert_eq!(
        rpc(&url, "/web/nothing/here", json!({}), None).await.status,
        404
    );
    // §1.2 health.
    for path in ["/web/health", "/websocket/health"] {
        let resp = http().get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.text().await.unwrap(), r#"{"status": "pass"}"#);
    }
}

#[tokio::test]
async fn database_list_and_list_db_false() {
    let (emu, _c) = start(EmulatorConfig {
        dbs: vec!["odoo".into(), "other".into()],
        ..EmulatorConfig::fast()
    })
    .await;
    let r = rpc(&emu.url(), "/web/database/list", json!({}), None).await;
    assert_eq!(r.json()["result"], json!(["odoo", "other"]));
    let (emu, _c) = start(EmulatorConfig {
        list_db: false,
        ..EmulatorConfig::fast()
    })
    .await;
    let r = rpc(&emu.url(), "/web/database/list", json!({}), None).await;
    assert_eq!(r.status, 200, "application errors are HTTP 200 (§1.1)");
    assert_eq!(
        r.json()["error"]["data"]["name"],
        "odoo.exceptions.AccessDenied"
    );
}

#[tokio::test]
async fn authenticate_rotates_the_cookie_and_returns_session_info() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let first = rpc(&url, "/web/webclient/version_info", json!({}), None)
        .await
        .cookie()
        .unwrap();
    let r = rpc(
        &url,
        "/web/session/authenticate",
        json!({"db": "odoo", "login": "admin", "password": "admin"}),
        Some(&first),
    )
    .await;
    let info = &r.json()["result"];
    // §1.5 session_info, ids as on a real -i mail demo database.
    assert_eq!(info["uid"], 2);
    assert_eq!(info["partner_id"], 3);
    assert_eq!(info["name"], "Mitchell Admin");
    assert_eq!(info["username"], "admin");
    assert_eq!(info["db"], "odoo");
    assert_eq!(
        info["server_version_info"],
        json!([18, 0, 0, "final", 0, ""])
    );
    assert_eq!(info["websocket_worker_version"], "18.0-2");
    assert_eq!(info["is_internal_user"], true);
    assert_eq!(info["is_public"], false);
    // §1.3/§1.4 rotated sid, Odoo's attributes.
    let sid = r.cookie().unwrap();
    assert_ne!(sid, first, "the sid rotates at login");
    assert!(
        sid.len() == 84
            && sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let set_cookie = r.headers["set-cookie"].to_str().unwrap();
    for attr in ["Max-Age=604800", "HttpOnly", "Path=/", "Expires="] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure") && !set_cookie.contains("SameSite"));
    assert!(control.session_is_valid(&odoo_bus::secret::SessionId::new(sid.clone())));
    assert!(!control.session_is_valid(&odoo_bus::secret::SessionId::new(first)));
    // Wrong password / unknown db / missing argument.
    let r = rpc(
        &url,
        "/web/session/authenticate",
        json!({"db": "odoo", "login": "admin", "password": "x"}),
        None,
    )
    .await;
    assert_eq!(r.json()["error"]["code"], 200);
    assert_eq!(
        r.json()["error"]["data"]["name"],
        "odoo.exceptions.AccessDenied"
    );
    assert_eq!(r.json()["error"]["data"]["message"], "Access Denied");
    assert!(r.cookie().is_none(), "errors carry no cookie");
    let r = rpc(
        &url,
        "/web/session/authenticate",
        json!({"db": "nope", "login": "admin", "password": "admin"}),
        None,
    )
    .await;
    assert_eq!(r.json()["error"]["data"]["message"], "Database not found.");
    let r = rpc(
        &url,
        "/web/session/authenticate",
        json!({"db": "odoo", "login": "admin"}),
        None,
    )
    .await;
    assert_eq!(r.json()["error"]["data"]["name"], "builtins.TypeError");
}

#[tokio::test]
async fn login_cooldown_after_five_failures() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    for _ in 0..5 {
        let r = rpc(
            &url,
            "/web/session/authenticate",
            json!({"db": "odoo", "login": "demo", "password": "bad"}),
            None,
        )
        .await;
        assert_eq!(r.json()["error"]["data"]["message"], "Access Denied");
    }
    // §1.3: even the right password is refused during the cooldown.
    let r = rpc(
        &url,
        "/web/session/authenticate",
        json!({"db": "odoo", "login": "demo", "password": "demo"}),
        None,
    )
    .await;
    assert_eq!(
        r.json()["error"]["data"]["message"],
        "Too many login failures, please wait a bit before trying again."
    );
    control.reset_login_failures();
    login(&url, "demo", "demo").await;
}

#[tokio::test]
async fn check_info_destroy_and_invalidation() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let sid = login(&url, "demo", "demo").await;
    // §1.6 check: null result → no "result" key.
    let r = rpc(&url, "/web/session/check", json!({}), Some(&sid)).await;
    assert_eq!(r.text, r#"{"jsonrpc": "2.0", "id": 7}"#);
    let r = rpc(&url, "/web/session/get_session_info", json!({}), Some(&sid)).await;
    assert_eq!(r.json()["result"]["uid"], 6);
    // §1.6 expired: code 100, id null.
    let r = rpc(&url, "/web/session/check", json!({}), None).await;
    assert_eq!(r.json()["error"]["code"], 100);
    assert_eq!(
        r.json()["error"]["data"]["name"],
        "odoo.http.SessionExpiredException"
    );
    assert_eq!(r.json()["id"], Value::Null);
    // A password change (§1.6 check_session) kills every session of the user.
    control.invalidate_sessions(6);
    assert_eq!(
        rpc(&url, "/web/session/check", json!({}), Some(&sid))
            .await
            .json()["error"]["code"],
        100
    );
    // destroy: null result, rotated cookie, old sid dead.
    let sid = login(&url, "demo", "demo").await;
    let r = rpc(&url, "/web/session/destroy", json!({}), Some(&sid)).await;
    assert_eq!(r.text, r#"{"jsonrpc": "2.0", "id": 7}"#);
    assert_ne!(r.cookie().unwrap(), sid);
    assert_eq!(
        rpc(&url, "/web/session/check", json!({}), Some(&sid))
            .await
            .json()["error"]["code"],
        100
    );
    // create_session / delete_session from the control handle.
    let minted = control.create_session(6);
    assert!(
        rpc(&url, "/web/session/check", json!({}), Some(minted.expose()))
            .await
            .json()
            .get("error")
            .is_none()
    );
    assert_eq!(control.current_session_ids(6).len(), 1);
    control.delete_session(&minted);
    assert_eq!(
        rpc(&url, "/web/session/check", json!({}), Some(minted.expose()))
            .await
            .json()["error"]["code"],
        100
    );
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf_token" value=""#)
        .expect("csrf input")
        + r#"name="csrf_token" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn form_and_totp_login_with_csrf() {
    let (emu, control) = start(EmulatorConfig {
        dbs: vec!["odoo".into(), "other".into()],
        ..EmulatorConfig::fast()
    })
    .await;
    control.add_user(UserSpec {
        totp_code: Some("123456".into()),
        ..UserSpec::internal("mfa", "pw", "Mfa User")
    });
    let url = emu.url();
    let c = http();
    // §1.7 step 1: GET /web/login?db= on a db-less session → 302 + cookie.
    let r = c
        .get(format!("{url}/web/login?db=odoo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/web/login?db=odoo");
    let sid = set_cookie_sid(r.headers()).unwrap();
    let cookie = format!("session_id={sid}");
    // Step 2: the form and its CSRF token.
    let html = c
        .get(format!("{url}/web/login"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    assert!(csrf.len() > 41 && csrf.as_bytes()[40] == b'o', "{csrf}");
    // Bad CSRF → 400.
    let r = c
        .post(format!("{url}/web/login"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", "x"), ("login", "mfa"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Session expired (invalid CSRF token)")
    );
    // Wrong password → 200 form with the message.
    let r = c
        .post(format!("{url}/web/login"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("login", "mfa"),
            ("password", "no"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Wrong login/password"));
    // Step 3: MFA user → 303 to /web/login/totp.
    let r = c
        .post(format!("{url}/web/login"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("login", "mfa"),
            ("password", "pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/web/login/totp");
    // §1.8 the TOTP form, a wrong code, then the right one.
    let html = c
        .get(format!("{url}/web/login/totp"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    assert!(html.contains(r#"name="totp_token""#));
    let r = c
        .post(format!("{url}/web/login/totp"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str()), ("totp_token", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Verification failed, please double-check the 6-digit code")
    );
    let r = c
        .post(format!("{url}/web/login/totp"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str()), ("totp_token", "123 456")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/odoo");
    let new_sid = set_cookie_sid(r.headers()).unwrap();
    assert_ne!(new_sid, sid, "finalize rotates the sid");
    let info = rpc(
        &url,
        "/web/session/get_session_info",
        json!({}),
        Some(&new_sid),
    )
    .await
    .json();
    assert_eq!(info["result"]["username"], "mfa");
    // The old CSRF token no longer matches the rotated sid.
    let r = c
        .post(format!("{url}/web/login"))
        .header("cookie", format!("session_id={new_sid}"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("login", "demo"),
            ("password", "demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn json_authenticate_for_a_2fa_user_is_half_done() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    control.add_user(UserSpec {
        totp_code: Some("654321".into()),
        ..UserSpec::internal("mfa", "pw", "Mfa User")
    });
    let r = rpc(
        &emu.url(),
        "/web/session/authenticate",
        json!({"db": "odoo", "login": "mfa", "password": "pw"}),
        None,
    )
    .await;
    // §1.3: {"uid": null} plus a pre-auth cookie; the session is not logged in.
    assert_eq!(
        r.text,
        r#"{"jsonrpc": "2.0", "id": 7, "result": {"uid": null}}"#
    );
    let sid = r.cookie().unwrap();
    assert_eq!(
        rpc(&emu.url(), "/web/session/check", json!({}), Some(&sid))
            .await
            .json()["error"]["code"],
        100
    );
    // The TOTP form accepts the pre-auth session (§1.8 JSON path, monodb).
    let html = http()
        .get(format!("{}/web/login/totp", emu.url()))
        .header("cookie", format!("session_id={sid}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("totp_token"));
}
