//! Proxies in front of the emulator (issue #21): Odoo's proxy fix, which needs `proxy_mode` and
//! `X-Forwarded-Host` (F5), the downgrade of `ODOO_BUS_PUBLIC_SAMESITE_WS` built on it, the
//! `websocket_forwarded_dropped` fault, and the `auth_gateway` fault (F21).

use odoo_bus_emulator::{AuthGateway, Control, EmulatorConfig, Faults, Target};
use serde_json::json;

mod common;
use common::*;

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

fn samesite(proxy_mode: bool) -> EmulatorConfig {
    EmulatorConfig {
        public_samesite_ws: true,
        proxy_mode,
        ..EmulatorConfig::fast()
    }
}

/// Whether a socket opened with `headers` (and demo's cookie) runs as demo: after a subscribe,
/// a notification to demo's partner arrives before a broadcast sent after it.
async fn runs_as_demo(url: &str, control: &Control, headers: &str) -> bool {
    let sid = login(url, "demo", "demo").await;
    let before = control.client_events().len();
    let mut raw = Raw::open(
        url,
        &format!("{UPGRADE}{headers}Cookie: session_id={sid}\r\n"),
    )
    .await;
    assert_eq!(raw.status(), 101, "{}", raw.head);
    // The 101 keeps the caller's cookie either way: nothing to see in the handshake.
    assert!(
        raw.header("set-cookie").is_some_and(|c| c.contains(&sid)),
        "{}",
        raw.head
    );
    // From the newest row: nothing older is replayed.
    let subscribe = format!(
        r#"{{"event_name": "subscribe", "data": {{"channels": [], "last": {}}}}}"#,
        control.max_id()
    );
    raw.frame(0x81, subscribe.as_bytes(), false).await;
    processed(control, before + 1).await;
    let demo = control.find_user("demo").unwrap().partner_id;
    let own = control.notify(Target::Partner(demo), "own", json!(null));
    control.notify(Target::Broadcast, "all", json!(null));
    let (_, text) = raw.read_frame().await.expect("a frame");
    String::from_utf8(text)
        .unwrap()
        .starts_with(&format!("[{{\"id\": {own}, "))
}

#[tokio::test]
async fn proxy_mode_is_inert_without_the_forwarded_host() {
    let (emu, control) = start(samesite(true)).await;
    let url = emu.url();
    let browser = "Origin: https://erp.example.com\r\n";
    // The request reaches Odoo as the proxy sent it: Host is the upstream address, plain http.
    assert!(!runs_as_demo(&url, &control, browser).await);
    // X-Forwarded-Proto alone does nothing: the proxy fix needs X-Forwarded-Host.
    let proto_only = format!("{browser}X-Forwarded-Proto: https\r\n");
    assert!(!runs_as_demo(&url, &control, &proto_only).await);
    // The host alone: Odoo sees http://erp.example.com, the Origin is https.
    let host_only = format!("{browser}X-Forwarded-Host: erp.example.com\r\n");
    assert!(!runs_as_demo(&url, &control, &host_only).await);
    let both = format!("{host_only}X-Forwarded-Proto: https\r\n");
    assert!(runs_as_demo(&url, &control, &both).await);
}

#[tokio::test]
async fn without_proxy_mode_forwarded_headers_mean_nothing() {
    let (emu, control) = start(samesite(false)).await;
    let url = emu.url();
    let forwarded = "Origin: https://erp.example.com\r\nX-Forwarded-Host: erp.example.com\r\nX-Forwarded-Proto: https\r\n";
    assert!(!runs_as_demo(&url, &control, forwarded).await);
    // The Origin of the address Odoo really sees keeps the session.
    let direct = format!("Origin: {url}\r\n");
    assert!(runs_as_demo(&url, &control, &direct).await);
}

#[tokio::test]
async fn a_websocket_location_that_adds_no_forwarded_headers_downgrades() {
    let (emu, control) = start(samesite(true)).await;
    let url = emu.url();
    let authority = url.trim_start_matches("http://");
    let direct = format!("Origin: http://{authority}\r\n");
    assert!(runs_as_demo(&url, &control, &direct).await);
    control.set_faults(Faults {
        websocket_forwarded_dropped: Some("odoo-upstream:8072".into()),
        ..Faults::default()
    });
    // The browser's Origin no longer matches: Odoo sees the upstream's address as Host.
    assert!(!runs_as_demo(&url, &control, &direct).await);
    let upstream = "Origin: http://odoo-upstream:8072\r\n";
    assert!(runs_as_demo(&url, &control, upstream).await);
    // A client's own forwarded headers pass through the proxy, and proxy_mode uses them.
    let own = format!("{direct}X-Forwarded-Host: {authority}\r\n");
    assert!(runs_as_demo(&url, &control, &own).await);
}

#[tokio::test]
async fn web_base_url_is_what_odoo_sees() {
    let (emu, _control) = start(samesite(true)).await;
    let url = emu.url();
    let sid = login(&url, "admin", "admin").await;
    let info = |headers: Vec<(&'static str, &'static str)>| {
        let url = url.clone();
        let sid = sid.clone();
        async move {
            let mut req = http()
                .post(format!("{url}/web/session/get_session_info"))
                .header("cookie", format!("session_id={sid}"))
                .json(&json!({"jsonrpc": "2.0", "method": "call", "params": {}}));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            v["result"]["web.base.url"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(info(vec![]).await, url);
    assert_eq!(
        info(vec![
            ("x-forwarded-host", "erp.example.com"),
            ("x-forwarded-proto", "https")
        ])
        .await,
        "https://erp.example.com"
    );
    assert_eq!(info(vec![("x-forwarded-proto", "https")]).await, url);
}

#[tokio::test]
async fn an_auth_gateway_answers_instead_of_odoo() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    control.set_faults(Faults {
        auth_gateway: Some(AuthGateway::basic("Staff only")),
        ..Faults::default()
    });
    let raw = Raw::open(&url, &format!("{UPGRADE}Origin: {url}\r\n")).await;
    assert_eq!(raw.status(), 401, "{}", raw.head);
    assert_eq!(
        raw.header("www-authenticate").as_deref(),
        Some("Basic realm=\"Staff only\"")
    );
    // Everything under /websocket, and nothing else.
    let r = http()
        .get(format!("{url}/websocket/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = rpc(&url, "/web/webclient/version_info", json!({}), None).await;
    assert_eq!(r.status, 200);

    control.set_faults(Faults {
        auth_gateway: Some(AuthGateway::proxy("squid").everywhere()),
        ..Faults::default()
    });
    let r = rpc(&url, "/web/webclient/version_info", json!({}), None).await;
    assert_eq!(r.status, 407);
    assert!(r.headers.get("proxy-authenticate").is_some());

    control.set_faults(Faults {
        auth_gateway: Some(AuthGateway::portal().everywhere()),
        ..Faults::default()
    });
    let r = rpc(&url, "/web/health", json!({}), None).await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("type=\"password\""), "{}", r.text);
}
