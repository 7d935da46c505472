//! Plain clients shared by the emulator's test files: a JSON-RPC caller, a tungstenite client
//! and a raw websocket for protocol abuse (never odoo-bus's client code).
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use odoo_bus_emulator::{Control, Emulator, EmulatorConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const T: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Helpers: a JSON-RPC caller, a tungstenite client, and a raw websocket for protocol abuse.

pub async fn start(cfg: EmulatorConfig) -> (Emulator, Control) {
    let emu = Emulator::start(cfg).await.expect("emulator starts");
    let control = emu.control();
    (emu, control)
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Rpc {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Rpc {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn cookie(&self) -> Option<String> {
        set_cookie_sid(&self.headers)
    }
}

pub fn set_cookie_sid(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("session_id=")
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

pub async fn rpc(url: &str, route: &str, params: Value, sid: Option<&str>) -> Rpc {
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

pub async fn login(url: &str, login: &str, password: &str) -> String {
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

pub type Client = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A tungstenite client with Odoo's required headers (and optionally a cookie and a UA).
pub async fn connect(
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

pub async fn send(ws: &mut Client, event: &str, data: Value) {
    ws.send(Message::text(
        json!({"event_name": event, "data": data}).to_string(),
    ))
    .await
    .unwrap();
}

pub async fn subscribe(ws: &mut Client, channels: Value, last: u64) {
    send(ws, "subscribe", json!({"channels": channels, "last": last})).await;
}

/// The next TEXT frame, as raw text (pings are answered by tungstenite).
pub async fn next_text(ws: &mut Client) -> String {
    loop {
        match timeout(T, ws.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next batch, parsed: (id, type, payload) triples.
pub async fn next_batch(ws: &mut Client) -> Vec<(u64, String, Value)> {
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
pub async fn quiet_for(ws: &mut Client, d: Duration) -> bool {
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
pub async fn close_of(ws: &mut Client) -> (u16, String) {
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
pub struct Raw {
    pub tcp: TcpStream,
    pub head: String,
}

impl Raw {
    pub async fn open(url: &str, extra_headers: &str) -> Raw {
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

    pub async fn upgraded(url: &str, extra: &str) -> Raw {
        let std = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://x\r\n";
        let raw = Raw::open(url, &format!("{std}{extra}")).await;
        assert!(raw.status() == 101, "{}", raw.head);
        raw
    }

    pub fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// A client frame: masked unless `unmasked`, with the given first byte.
    pub async fn frame(&mut self, first: u8, payload: &[u8], unmasked: bool) {
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

    /// The next server frame: (opcode, payload); None at EOF.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
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
    pub async fn close(&mut self) -> (u16, String) {
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
    pub async fn eof_within(&mut self, d: Duration) -> bool {
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

/// Wait until the server has handled `n` client events in total (so a subscribe is in effect).
pub async fn processed(control: &Control, n: usize) {
    let deadline = tokio::time::Instant::now() + T;
    while control.client_events().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not handle {n} events"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn admin_demo(control: &Control) -> (i64, i64) {
    (
        control.find_user("admin").unwrap().uid,
        control.find_user("demo").unwrap().uid,
    )
}
