//! The emulator checked against the protocol reference (docs/protocol.md and the shared protocol notes,
//! cited as §N) and the facts measured on a real Odoo 18, with plain reqwest / tokio-tungstenite /
//! raw TCP clients: never the odoo-bus client code, so the emulator cannot share its bugs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use odoo_bus_emulator::{ChannelKind, Control, EmulatorConfig, Faults, Frame, Target, UserSpec};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

mod common;
use common::*;

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
    assert!(control.session_is_valid(&sid.clone()));
    assert!(!control.session_is_valid(&first));
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
async fn login_cooldown_after_the_configured_failures() {
    // A database with `mail` sets base.login_cooldown_after = 10 (measured); the code's own
    // fallback is 5 (§1.3). Both are a config value here.
    assert_eq!(EmulatorConfig::default().login_cooldown_after, 10);
    let (emu, control) = start(EmulatorConfig {
        login_cooldown_after: 5,
        ..EmulatorConfig::fast()
    })
    .await;
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
    // Even the right password is refused during the cooldown.
    let r = rpc(
        &url,
        "/web/session/authenticate",
        json!({"db": "odoo", "login": "demo", "password": "demo"}),
        None,
    )
    .await;
    assert_eq!(
        r.json()["error"]["data"]["name"],
        "odoo.exceptions.AccessDenied"
    );
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
        rpc(&url, "/web/session/check", json!({}), Some(&minted))
            .await
            .json()
            .get("error")
            .is_none()
    );
    assert_eq!(control.current_session_ids(6).len(), 1);
    control.delete_session(&minted);
    assert_eq!(
        rpc(&url, "/web/session/check", json!({}), Some(&minted))
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

// ---------------------------------------------------------------------------------------------
// §2 The websocket handshake

const STD_UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

#[tokio::test]
async fn handshake_rejections_match_the_real_server() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    // §2.2 Origin is required. Measured: 400, Content-Length 125 (the text), body withheld.
    let mut raw = Raw::open(&url, STD_UPGRADE).await;
    assert_eq!(raw.status(), 400, "{}", raw.head);
    assert_eq!(raw.header("content-length").as_deref(), Some("125"));
    assert!(raw.header("connection").is_none());
    assert!(raw.eof_within(T).await, "no body, connection closed");
    // Version 12: Odoo's 426 turns into a 500 on werkzeug 2.2 (live facts §1 item 1).
    let raw = Raw::open(
        &url,
        &format!(
            "{}Origin: http://x\r\n",
            STD_UPGRADE.replace("Version: 13", "Version: 12")
        ),
    )
    .await;
    assert_eq!(raw.status(), 500);
    assert!(raw.header("sec-websocket-version").is_none());
    // A key that is not base64 of 16 bytes.
    let raw = Raw::open(
        &url,
        &format!(
            "{}Origin: http://x\r\n",
            STD_UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "abc")
        ),
    )
    .await;
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.header("content-length").as_deref(), Some("130"));
    // No upgrade headers at all: werkzeug's generic page, with its body.
    let resp = http().get(format!("{url}/websocket")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["connection"], "close");
    assert!(
        resp.text().await.unwrap().contains(
            "The browser (or proxy) sent a request that this server could not understand."
        )
    );
    assert_eq!(control.stats().handshakes, 0);
    assert_eq!(control.stats().rejected_handshakes, 4);
}

#[tokio::test]
async fn successful_upgrade_sets_the_cookie_and_negotiates_nothing() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let raw = Raw::upgraded(
        &emu.url(),
        "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Protocol: chat\r\n",
    )
    .await;
    // §2.2: RFC 6455's sample key → its sample accept value.
    assert_eq!(
        raw.header("sec-websocket-accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert!(
        raw.header("set-cookie")
            .is_some_and(|c| c.starts_with("session_id=") && c.contains("HttpOnly"))
    );
    assert!(raw.header("sec-websocket-extensions").is_none());
    assert!(raw.header("sec-websocket-protocol").is_none());
    assert_eq!(
        raw.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(control.stats().handshakes, 1);
}

#[tokio::test]
async fn unknown_or_garbage_cookies_give_a_public_socket() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    // §2.4 + live facts: a well-formed unknown sid is kept as is, the socket is public.
    let unknown = "A".repeat(84);
    let (mut ws, cookie) = connect(&url, Some(&unknown), None, Some("18.0-2")).await;
    assert_eq!(cookie.as_deref(), Some(unknown.as_str()));
    subscribe(&mut ws, json!(["discuss.channel_1", "my-string"]), 0).await;
    control.notify(Target::Channel(1), "t", json!(1));
    let id = control.notify(Target::Str("my-string".into()), "t", json!(2));
    let batch = next_batch(&mut ws).await;
    assert_eq!(
        batch.iter().map(|n| n.0).collect::<Vec<_>>(),
        vec![id],
        "only the string channel"
    );
    // A malformed sid gets a new one.
    let (_ws, cookie) = connect(&url, Some("garbage"), None, Some("18.0-2")).await;
    assert!(cookie.is_some_and(|c| c.len() == 84));
}

#[tokio::test]
async fn stale_session_is_rotated_and_public_at_the_handshake() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let sid = login(&url, "demo", "demo").await;
    control.invalidate_sessions(6);
    let (mut ws, cookie) = connect(&url, Some(&sid), None, Some("18.0-2")).await;
    assert!(
        cookie.is_some_and(|c| c != sid),
        "logged out and rotated (§2.4)"
    );
    subscribe(&mut ws, json!([]), 0).await;
    control.notify(Target::Partner(7), "t", json!("for demo"));
    let id = control.notify(Target::Broadcast, "t", json!("everyone"));
    assert_eq!(next_batch(&mut ws).await[0].0, id);
}

#[tokio::test]
async fn outdated_version_only_for_browsers() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    // §2.3: browser UA with a wrong or missing version → 1000 "OUTDATED_VERSION" at once.
    for version in [None, Some("18.0-7")] {
        let (mut ws, _) = connect(&url, None, Some(chrome), version).await;
        assert_eq!(
            close_of(&mut ws).await,
            (1000, "OUTDATED_VERSION".to_string())
        );
    }
    // Right version, or no UA / a CLI UA with no version: never checked.
    for (i, (ua, version)) in [
        (Some(chrome), Some("18.0-2")),
        (None, None),
        (Some("odoo-bus/0.1"), None),
    ]
    .into_iter()
    .enumerate()
    {
        let (mut ws, _) = connect(&url, None, ua, version).await;
        subscribe(&mut ws, json!([format!("s{i}")]), 0).await;
        let id = control.notify(Target::Str(format!("s{i}")), "t", json!(null));
        assert_eq!(next_batch(&mut ws).await[0].0, id);
    }
}

// ---------------------------------------------------------------------------------------------
// §3-§4 Events and delivery

async fn ids_until(ws: &mut Client, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < n {
        ids.extend(next_batch(ws).await.into_iter().map(|x| x.0));
    }
    ids
}

#[tokio::test]
async fn frames_are_python_encoded_and_post_traffic_is_odoos() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let admin = login(&url, "admin", "admin").await;
    let (mut ws, _) = connect(&url, Some(&admin), None, Some("18.0-2")).await;
    subscribe(&mut ws, json!([]), 0).await;
    let demo = login(&url, "demo", "demo").await;
    let r = rpc(&url, "/mail/message/post", json!({
        "thread_model": "discuss.channel", "thread_id": 1,
        "post_data": {"body": "café 😀 <b>x</b> & y", "message_type": "comment", "subtype_xmlid": "mail.mt_comment", "bogus_key": 1},
        "context": {"temporary_id": 0.75}}), Some(&demo)).await;
    // §7.1 result: a Store, raw UTF-8 over HTTP, body sanitised as HTML.
    assert!(
        r.text
            .contains(r#""body": "<p>café 😀 <b>x</b> &amp; y</p>""#),
        "{}",
        r.text
    );
    let result = r.json()["result"].clone();
    assert_eq!(
        result["mail.message"][0]["author"],
        json!({"id": 7, "type": "partner"})
    );
    assert_eq!(result["res.partner"][0]["name"], "Marc Demo");
    assert_eq!(result["mail.message"][0]["is_discussion"], true);
    // §4.1/§7.2 one frame, Python-encoded, \u escapes, no channel field, sorted ids.
    let text = next_text(&mut ws).await;
    assert!(text.starts_with(r#"[{"id": "#), "{text}");
    assert!(
        text.contains(r#""body": "<p>caf\u00e9 \ud83d\ude00 <b>x</b> &amp; y</p>""#),
        "{text}"
    );
    assert!(text.is_ascii());
    let parsed: Value = serde_json::from_str(&text).unwrap();
    for n in parsed.as_array().unwrap() {
        let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "message"], "no channel field");
    }
    let batch: Vec<(u64, String, Value)> = serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_u64().unwrap(),
                n["message"]["type"].as_str().unwrap().to_string(),
                n["message"]["payload"].clone(),
            )
        })
        .collect();
    let ids: Vec<u64> = batch.iter().map(|b| b.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let types: Vec<&str> = batch.iter().map(|b| b.1.as_str()).collect();
    assert_eq!(
        types,
        [
            "mail.record/insert",
            "mail.record/insert",
            "discuss.channel/new_message"
        ],
        "author's own seen info goes to demo only"
    );
    assert!(batch[0].2["discuss.channel"][0]["last_interest_dt"].is_string());
    assert_eq!(
        batch[1].2,
        json!({"discuss.channel": [{"id": 1, "is_pinned": true}]})
    );
    assert_eq!(batch[2].2["id"], 1);
    assert_eq!(batch[2].2["temporary_id"], 0.75);
    assert_eq!(
        batch[2].2["data"]["mail.message"][0]["id"],
        result["mail.message"][0]["id"]
    );
    assert!(text.contains(r#""temporary_id": 0.75}"#));
    // A post through the control handle makes the same traffic.
    let (_a, d) = admin_demo(&control);
    let mid = control.post_message(d, 1, "hi");
    let batch = next_batch(&mut ws).await;
    assert_eq!(
        batch.last().unwrap().2["data"]["mail.message"][0]["id"],
        mid
    );
    assert_eq!(
        batch.last().unwrap().2["data"]["mail.message"][0]["body"],
        "<p>hi</p>"
    );
}

#[tokio::test]
async fn post_errors_and_access() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let demo = login(&url, "demo", "demo").await;
    let post = |id: i64| json!({"thread_model": "discuss.channel", "thread_id": id, "post_data": {"body": "x", "message_type": "comment"}});
    // §7.1: unreadable (2 "Administrators") or missing channel → 404 NotFound.
    for id in [2, 999] {
        let r = rpc(&url, "/mail/message/post", post(id), Some(&demo)).await;
        assert_eq!(r.json()["error"]["code"], 404);
        assert_eq!(
            r.json()["error"]["data"]["name"],
            "werkzeug.exceptions.NotFound"
        );
    }
    // A readable public channel without membership is fine (live facts); no session → 404.
    assert!(
        rpc(&url, "/mail/message/post", post(3), Some(&demo))
            .await
            .json()["result"]
            .is_object()
    );
    assert_eq!(
        rpc(&url, "/mail/message/post", post(1), None).await.json()["error"]["code"],
        404
    );
    // Without subtype_xmlid the message is a note (live facts §1 item 9).
    let r = rpc(&url, "/mail/message/post", post(1), Some(&demo)).await;
    assert_eq!(r.json()["result"]["mail.message"][0]["is_note"], true);
    let r = rpc(
        &url,
        "/mail/message/post",
        json!({"thread_model": "discuss.channel", "thread_id": 1}),
        Some(&demo),
    )
    .await;
    assert_eq!(r.json()["error"]["data"]["name"], "builtins.TypeError");
    // call_kw search_read: what the client uses to check channel access.
    let (admin, _) = admin_demo(&control);
    let private = control.add_channel("secret", ChannelKind::Private, &[admin]);
    for route in [
        "/web/dataset/call_kw/discuss.channel/search_read",
        "/web/dataset/call_kw",
    ] {
        let r = rpc(&url, route, json!({"model": "discuss.channel", "method": "search_read",
            "args": [[["id", "in", [1, 2, 3, private]]]], "kwargs": {"fields": ["id", "name", "channel_type"]}}), Some(&demo)).await;
        assert_eq!(
            r.json()["result"],
            json!([{"id": 1, "name": "general", "channel_type": "channel"}, {"id": 3, "name": "sales", "channel_type": "channel"}])
        );
    }
    let r = rpc(
        &url,
        "/web/dataset/call_kw",
        json!({"model": "discuss.channel", "method": "search_read",
        "args": [[["id", "=", 2]]], "kwargs": {"fields": ["name"]}}),
        Some(&demo),
    )
    .await;
    assert_eq!(r.json()["result"], json!([]));
    let r = rpc(
        &url,
        "/web/dataset/call_kw",
        json!({"model": "discuss.channel", "method": "search_read",
        "args": [[]], "kwargs": {"fields": ["name"]}}),
        Some(&demo),
    )
    .await;
    assert_eq!(
        r.json()["result"].as_array().unwrap().len(),
        7,
        "every channel but Administrators"
    );
}

#[tokio::test]
async fn subscribe_replaces_and_last_rules() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let x = |c: &Control| c.notify(Target::Str("x".into()), "t", json!(null));
    let (n1, n2, n3) = (x(&control), x(&control), x(&control));
    // §3.2 `last` is used on the first subscribe: everything after it.
    let (mut ws, _) = connect(&url, None, None, None).await;
    subscribe(&mut ws, json!(["x"]), n1).await;
    assert_eq!(ids_until(&mut ws, 2).await, vec![n2, n3]);
    // A later subscribe's `last` is ignored: the server keeps its own cursor.
    subscribe(&mut ws, json!(["x"]), 0).await;
    assert!(quiet_for(&mut ws, Duration::from_millis(300)).await);
    // Full replacement: "x" is gone.
    subscribe(&mut ws, json!(["y"]), 0).await;
    processed(&control, 3).await;
    x(&control);
    let y = control.notify(Target::Str("y".into()), "t", json!(null));
    assert_eq!(next_batch(&mut ws).await[0].0, y);
    // `last` above the largest id → 0 → the last-50-s window.
    let (mut ws, _) = connect(&url, None, None, None).await;
    subscribe(&mut ws, json!(["x"]), control.max_id() + 1000).await;
    let ids = ids_until(&mut ws, 4).await;
    assert_eq!(&ids[..3], &[n1, n2, n3]);
    // A non-string channel or a string `last` voids the subscription (nothing, socket open).
    let (mut ws, _) = connect(&url, None, None, None).await;
    subscribe(&mut ws, json!(["x", 1]), 0).await;
    send(
        &mut ws,
        "subscribe",
        json!({"channels": ["x"], "last": "abc"}),
    )
    .await;
    assert!(quiet_for(&mut ws, Duration::from_millis(300)).await);
    subscribe(&mut ws, json!(["z"]), 0).await;
    let z = control.notify(Target::Str("z".into()), "t", json!(null));
    assert_eq!(next_batch(&mut ws).await[0].0, z, "still open and usable");
}

#[tokio::test]
async fn last_zero_replays_only_the_window() {
    let (emu, control) = start(EmulatorConfig {
        last0_window: Duration::from_millis(300),
        ..EmulatorConfig::fast()
    })
    .await;
    control.notify(Target::Broadcast, "old", json!(null));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let recent = control.notify(Target::Broadcast, "recent", json!(null));
    let (mut ws, _) = connect(&emu.url(), None, None, None).await;
    subscribe(&mut ws, json!([]), 0).await;
    assert_eq!(
        next_batch(&mut ws)
            .await
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        vec![recent]
    );
}

#[tokio::test]
async fn implicit_channels_and_access_filtering() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let (admin, _) = admin_demo(&control);
    let private = control.add_channel("secret", ChannelKind::Private, &[admin]);
    let demo = login(&url, "demo", "demo").await;
    let (mut ws, _) = connect(&url, Some(&demo), None, None).await;
    // §3.2: [] still brings broadcast, groups, own partner, member channels + "members";
    // discuss.channel_N anywhere in a string, if readable; unreadable ids silently dropped.
    subscribe(
        &mut ws,
        json!([
            format!("discuss.channel_{private}"),
            "prefix-discuss.channel_3-suffix"
        ]),
        0,
    )
    .await;
    let mut expected = vec![];
    for target in [
        Target::Broadcast,
        Target::Group(1),
        Target::Partner(7),
        Target::Channel(1),
        Target::ChannelMembers(1),
        Target::Channel(3),
    ] {
        expected.push(control.notify(target, "t", json!(null)));
    }
    for target in [
        Target::Channel(private),
        Target::Partner(3),
        Target::ChannelMembers(3),
        Target::Group(4),
        Target::Str("discuss.channel_3".into()),
    ] {
        control.notify(target, "t", json!(null));
    }
    let marker = control.notify(Target::Broadcast, "marker", json!(null));
    let mut got = Vec::new();
    while !got.contains(&marker) {
        got.extend(next_batch(&mut ws).await.into_iter().map(|n| n.0));
    }
    expected.push(marker);
    assert_eq!(got, expected);
}

#[tokio::test]
async fn presence_updates_and_voiding() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let (admin_sid, demo_sid) = (
        login(&url, "admin", "admin").await,
        login(&url, "demo", "demo").await,
    );
    let (mut watcher, _) = connect(&url, Some(&admin_sid), None, None).await;
    // A malformed presence id voids the whole subscription (§3.2).
    subscribe(
        &mut watcher,
        json!(["odoo-presence-res.partner_abc", "s"]),
        0,
    )
    .await;
    processed(&control, 1).await;
    control.notify(Target::Str("s".into()), "t", json!(null));
    assert!(quiet_for(&mut watcher, Duration::from_millis(300)).await);
    subscribe(&mut watcher, json!(["odoo-presence-res.partner_7"]), 0).await;
    processed(&control, 2).await;
    let (mut demo, _) = connect(&url, Some(&demo_sid), None, None).await;
    let presence = |ms: u64| json!({"inactivity_period": ms, "im_status_ids_by_model": {}});
    // §3.3 online, no repeat, away after 30 min, wrong shape ignored, offline on close (§2.9).
    send(&mut demo, "update_presence", presence(0)).await;
    let b = next_batch(&mut watcher).await;
    assert_eq!(
        (b[0].1.as_str(), &b[0].2),
        (
            "bus.bus/im_status_updated",
            &json!({"im_status": "online", "partner_id": 7})
        )
    );
    send(&mut demo, "update_presence", presence(0)).await;
    send(
        &mut demo,
        "update_presence",
        json!({"inactivity_period": 0}),
    )
    .await;
    assert!(quiet_for(&mut watcher, Duration::from_millis(300)).await);
    send(&mut demo, "update_presence", presence(1_800_001)).await;
    assert_eq!(next_batch(&mut watcher).await[0].2["im_status"], "away");
    demo.close(Some(CloseFrame {
        code: 1000.into(),
        reason: "".into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        next_batch(&mut watcher).await[0].2,
        json!({"im_status": "offline", "partner_id": 7})
    );
}

// ---------------------------------------------------------------------------------------------
// §2.5-§2.8 Framing, limits, timers, close codes

#[tokio::test]
async fn framing_violations_close_with_odoos_codes() {
    let (emu, _c) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let cases: [(u8, Vec<u8>, bool, u16, &str); 5] = [
        (0x81, b"{}".to_vec(), true, 1002, "Frame must be masked"),
        (
            0xC1,
            b"{}".to_vec(),
            false,
            1002,
            "Reserved bits must be unset",
        ),
        (0x83, b"{}".to_vec(), false, 1002, "3 is not a valid Opcode"),
        (
            0x89,
            vec![b'p'; 126],
            false,
            1002,
            "Control frames payload must be smaller than 126",
        ),
        (
            0x81,
            vec![0xff, 0xfe],
            false,
            1007,
            "'utf-8' codec can't decode byte in position 0: invalid start byte",
        ),
    ];
    for (first, payload, unmasked, code, reason) in cases {
        let mut raw = Raw::upgraded(&url, "").await;
        raw.frame(first, &payload, unmasked).await;
        assert_eq!(raw.close().await, (code, reason.to_string()));
        assert!(
            raw.eof_within(Duration::from_secs(2)).await,
            "TCP dropped right after {code}"
        );
    }
    // §2.5 more than 1 MiB → 1009.
    let mut raw = Raw::upgraded(&url, "").await;
    raw.frame(0x81, &vec![b'a'; (1 << 20) + 1], false).await;
    assert_eq!(raw.close().await.0, 1009);
}

#[tokio::test]
async fn rate_limit_counts_control_frames() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let mut raw = Raw::upgraded(&emu.url(), "").await;
    // §2.6: 11 pings in a row → 10 pongs, then 1013 and EOF.
    for _ in 0..11 {
        raw.frame(0x89, b"", false).await;
    }
    let mut pongs = 0;
    loop {
        match raw.read_frame().await {
            Some((0xA, _)) => pongs += 1,
            Some((8, p)) => {
                assert_eq!(u16::from_be_bytes([p[0], p[1]]), 1013);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pongs, 10);
    assert!(raw.eof_within(Duration::from_secs(2)).await);
    assert!(control.stats().close_codes_sent.contains(&1013));
}

#[tokio::test]
async fn idle_ping_then_drop_without_close_frame() {
    // Pings every 200 ms: quick enough to see three within 1.2 s, slow enough for the rate limit.
    let (emu, control) = start(EmulatorConfig {
        idle_ping: Duration::from_millis(200),
        ..EmulatorConfig::fast()
    })
    .await;
    let mut raw = Raw::upgraded(&emu.url(), "").await;
    // §2.7: PING (empty) after idle_ping; no PONG within pong_timeout → TCP closed, no close.
    let (op, payload) = raw.read_frame().await.expect("a ping");
    assert_eq!((op, payload.len()), (9, 0));
    assert!(
        raw.read_frame().await.is_none(),
        "EOF without a close frame"
    );
    assert_eq!(control.stats().tcp_drops, 1);
    // A client that answers pings (tungstenite does) stays connected.
    let (mut ws, _) = connect(&emu.url(), None, None, None).await;
    assert!(quiet_for(&mut ws, Duration::from_millis(1200)).await);
    assert!(control.stats().pings_sent >= 3);
}

#[tokio::test]
async fn keep_alive_closes_with_4002() {
    let (emu, _c) = start(EmulatorConfig {
        keep_alive: Duration::from_millis(300),
        ..EmulatorConfig::fast()
    })
    .await;
    let (mut ws, _) = connect(&emu.url(), None, None, None).await;
    assert_eq!(close_of(&mut ws).await.0, 4002);
}

#[tokio::test]
async fn session_expiry_closes_with_4001_at_next_message_or_dispatch() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let sid = login(&url, "demo", "demo").await;
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(&mut ws, json!([]), 0).await;
    processed(&control, 1).await;
    // §2.4: nothing happens until the next client message...
    control.invalidate_sessions(6);
    assert!(quiet_for(&mut ws, Duration::from_millis(300)).await);
    send(&mut ws, "whoami", json!(null)).await;
    assert_eq!(close_of(&mut ws).await, (4001, String::new()));
    // ... or the next dispatch.
    let sid = login(&url, "demo", "demo").await;
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(&mut ws, json!([]), 0).await;
    processed(&control, 3).await;
    control.delete_session(&sid);
    control.notify(Target::Broadcast, "t", json!(null));
    assert_eq!(close_of(&mut ws).await.0, 4001);
}

#[tokio::test]
async fn client_closes_are_echoed_and_junk_is_ignored() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    // §3.1: invalid JSON, unknown events, bad data: ignored, socket open.
    let (mut ws, _) = connect(&url, None, None, None).await;
    ws.send(Message::text("not json")).await.unwrap();
    ws.send(Message::binary(vec![0u8])).await.unwrap();
    send(&mut ws, "nope", json!({})).await;
    send(&mut ws, "subscribe", json!({"channels": ["s"]})).await;
    subscribe(&mut ws, json!(["s"]), 0).await;
    let id = control.notify(Target::Str("s".into()), "t", json!(null));
    assert_eq!(next_batch(&mut ws).await[0].0, id);
    // §2.8: a close is echoed with its code and reason...
    ws.close(Some(CloseFrame {
        code: 4000.into(),
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    assert_eq!(close_of(&mut ws).await, (4000, "bye".to_string()));
    // ... and an empty close with 1000.
    let mut raw = Raw::upgraded(&url, "").await;
    raw.frame(0x88, b"", false).await;
    assert_eq!(raw.close().await, (1000, String::new()));
    assert!(raw.eof_within(Duration::from_secs(2)).await);
    let names: Vec<String> = control
        .client_events()
        .into_iter()
        .map(|e| e.event_name)
        .collect();
    assert_eq!(names, ["nope", "subscribe", "subscribe"]);
}

#[tokio::test]
async fn late_commit_arrives_after_a_higher_id_never_twice() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let (mut ws, _) = connect(&emu.url(), None, None, None).await;
    subscribe(&mut ws, json!(["x"]), 0).await;
    processed(&control, 1).await;
    // §4.2: a transaction that took its id first but commits later.
    let late = control.late_commit(
        Target::Str("x".into()),
        "late",
        json!(null),
        Duration::from_millis(400),
    );
    let early = control.notify(Target::Str("x".into()), "early", json!(null));
    assert!(late < early);
    assert_eq!(
        next_batch(&mut ws)
            .await
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        vec![early]
    );
    assert_eq!(
        next_batch(&mut ws)
            .await
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        vec![late]
    );
    let next = control.notify(Target::Str("x".into()), "next", json!(null));
    assert_eq!(
        next_batch(&mut ws)
            .await
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        vec![next],
        "no duplicate"
    );
}

#[tokio::test]
async fn retention_forgets_old_rows() {
    let (emu, control) = start(EmulatorConfig {
        retention: Duration::from_millis(300),
        ..EmulatorConfig::fast()
    })
    .await;
    let old = control.notify(Target::Str("x".into()), "old", json!(null));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = control.notify(Target::Str("x".into()), "new", json!(null));
    // §4.3: resuming with an old `last` returns only what remains.
    let (mut ws, _) = connect(&emu.url(), None, None, None).await;
    subscribe(&mut ws, json!(["x"]), old - 1).await;
    assert_eq!(
        next_batch(&mut ws)
            .await
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        vec![new]
    );
}

// ---------------------------------------------------------------------------------------------
// Control handle: restart, faults, flood, and the other routes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_drops_everything_refuses_then_keeps_state() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let sid = login(&url, "demo", "demo").await;
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(&mut ws, json!([]), 0).await;
    let before = control.notify(Target::Broadcast, "t", json!(null));
    assert_eq!(next_batch(&mut ws).await[0].0, before);
    control.restart(Duration::from_millis(500));
    // Dropped without a close frame; the port refuses connections during the downtime.
    match timeout(T, ws.next()).await.unwrap() {
        None | Some(Err(_)) => {}
        other => panic!("expected a dropped connection, got {other:?}"),
    }
    assert!(
        TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .is_err(),
        "refused while down"
    );
    // Same port again, same sessions and rows.
    let deadline = tokio::time::Instant::now() + T;
    while TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        rpc(&url, "/web/session/check", json!({}), Some(&sid))
            .await
            .json()
            .get("error")
            .is_none()
    );
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(&mut ws, json!([]), before - 1).await;
    assert_eq!(
        next_batch(&mut ws).await[0].0,
        before,
        "rows survive the restart"
    );
}

#[tokio::test]
async fn fault_upgrade_status_and_http_worker_mode() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    control.set_faults(Faults {
        upgrade_status: Some((502, "text/html", "<html>Bad Gateway</html>".into())),
        ..Faults::default()
    });
    let mut raw = Raw::open(&url, &format!("{STD_UPGRADE}Origin: http://x\r\n")).await;
    assert_eq!(raw.status(), 502);
    let mut body = String::new();
    let _ = timeout(T, raw.tcp.read_to_string(&mut body)).await;
    assert_eq!(body, "<html>Bad Gateway</html>");
    control.set_faults(Faults {
        http_worker_mode: true,
        ..Faults::default()
    });
    let raw = Raw::open(&url, &format!("{STD_UPGRADE}Origin: http://x\r\n")).await;
    assert_eq!(raw.status(), 500);
    assert!(control.faults().http_worker_mode);
    control.set_faults(Faults::default());
    let _ok = Raw::upgraded(&url, "").await;
}

#[tokio::test]
async fn fault_downgrade_session_and_no_dispatch() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let sid = login(&url, "demo", "demo").await;
    control.set_faults(Faults {
        downgrade_session: true,
        ..Faults::default()
    });
    let (mut ws, cookie) = connect(&url, Some(&sid), None, None).await;
    assert!(cookie.is_some_and(|c| c != sid), "rotated cookie");
    subscribe(&mut ws, json!([]), 0).await;
    processed(&control, 1).await;
    control.notify(Target::Partner(7), "t", json!(null));
    let b = control.notify(Target::Broadcast, "t", json!(null));
    assert_eq!(
        next_batch(&mut ws).await[0].0,
        b,
        "public: nothing for demo's partner"
    );
    assert!(
        control.session_is_valid(&sid.clone()),
        "the saved session itself stays valid"
    );
    control.set_faults(Faults {
        no_dispatch: true,
        ..Faults::default()
    });
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(&mut ws, json!([]), 0).await;
    // The subscribe's own poll replays the earlier row (last 50 s): wait for it, so the next
    // notification can only travel by NOTIFY.
    let replay = next_text(&mut ws).await;
    assert!(replay.contains("\"type\": \"t\""), "{replay}");
    let id = control.notify(Target::Partner(7), "t", json!(null));
    assert!(
        quiet_for(&mut ws, Duration::from_millis(400)).await,
        "stored, never pushed"
    );
    // Only NOTIFY is broken: a new subscribe polls on its own and hands the stored row over.
    subscribe(&mut ws, json!([]), 0).await;
    let frame = next_text(&mut ws).await;
    assert!(frame.contains(&format!("\"id\": {id}")), "{frame}");
}

#[tokio::test]
async fn fault_timers_hang_cut_idle_no_pings() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    // hang_handshake: TCP accepted, no answer.
    control.set_faults(Faults {
        hang_handshake: true,
        ..Faults::default()
    });
    let addr = url.trim_start_matches("http://").to_string();
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        format!("GET /websocket HTTP/1.1\r\nHost: {addr}\r\n{STD_UPGRADE}Origin: http://x\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        timeout(Duration::from_millis(500), tcp.read(&mut buf))
            .await
            .is_err(),
        "no answer"
    );
    // no_pings: silence past several idle_ping periods.
    control.set_faults(Faults {
        no_pings: true,
        ..Faults::default()
    });
    let mut raw = Raw::upgraded(&url, "").await;
    assert!(!raw.eof_within(Duration::from_millis(700)).await);
    assert_eq!(control.stats().pings_sent, 0);
    // cut_idle_after: a proxy drops the idle connection, no close frame.
    control.set_faults(Faults {
        no_pings: true,
        cut_idle_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let mut raw = Raw::upgraded(&url, "").await;
    assert!(raw.read_frame().await.is_none());
}

#[tokio::test]
async fn fault_max_frames_and_socket_commands() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    control.set_faults(Faults {
        max_frames_per_socket: Some(2),
        ..Faults::default()
    });
    let (mut ws, _) = connect(&url, None, None, None).await;
    subscribe(&mut ws, json!(["x"]), 0).await;
    processed(&control, 1).await;
    for _ in 0..2 {
        control.notify(Target::Str("x".into()), "t", json!(null));
        next_batch(&mut ws).await;
    }
    assert!(
        matches!(timeout(T, ws.next()).await.unwrap(), None | Some(Err(_))),
        "dropped after 2 frames"
    );
    control.set_faults(Faults::default());
    // inject_frame, close_all, drop_all, drop_all_mid_frame.
    let (mut ws, _) = connect(&url, None, None, None).await;
    processed(&control, 1).await;
    wait_sockets(&control, 1).await;
    control.inject_frame(Frame::Text("not json at all".into()));
    assert_eq!(next_text(&mut ws).await, "not json at all");
    control.close_all(1012, "restarting");
    assert_eq!(close_of(&mut ws).await, (1012, "restarting".to_string()));
    // 1012 waits for the client's close: answer it and let the socket go.
    ws.close(None).await.ok();
    drop(ws);
    wait_sockets(&control, 0).await;
    let (mut ws, _) = connect(&url, None, None, None).await;
    wait_sockets(&control, 1).await;
    control.drop_all();
    assert!(matches!(
        timeout(T, ws.next()).await.unwrap(),
        None | Some(Err(_))
    ));
    wait_sockets(&control, 0).await;
    let (mut ws, _) = connect(&url, None, None, None).await;
    wait_sockets(&control, 1).await;
    control.drop_all_mid_frame();
    assert!(
        matches!(timeout(T, ws.next()).await.unwrap(), None | Some(Err(_))),
        "half a frame then EOF"
    );
}

async fn wait_sockets(control: &Control, n: usize) {
    let deadline = tokio::time::Instant::now() + T;
    while control.stats().open_sockets != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} open sockets"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn flood_sends_prebuilt_batches_to_subscribers() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let demo = login(&emu.url(), "demo", "demo").await;
    let (mut ws, _) = connect(&emu.url(), Some(&demo), None, None).await;
    let (mut other, _) = connect(&emu.url(), None, None, None).await;
    subscribe(&mut ws, json!(["discuss.channel_3"]), 0).await;
    subscribe(&mut other, json!(["unrelated"]), 0).await;
    processed(&control, 2).await;
    let info = control.flood(Target::Channel(3), 50, 10, 64, 0.3);
    assert_eq!(info.sockets, 1, "only the subscriber");
    assert_eq!(info.last_id - info.first_id + 1, 500);
    let mut ids = Vec::new();
    for _ in 0..50 {
        let batch = next_batch(&mut ws).await;
        assert_eq!(batch.len(), 10);
        ids.extend(batch.into_iter().map(|b| b.0));
    }
    assert_eq!(ids, (info.first_id..=info.last_id).collect::<Vec<_>>());
    assert!(quiet_for(&mut other, Duration::from_millis(200)).await);
    assert!(control.max_id() >= info.last_id);
}

#[tokio::test]
async fn http_bus_fallback_and_typing() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let demo = login(&url, "demo", "demo").await;
    // §6.5 update_bus_presence needs a session that did a first poll: error 100, id echoed.
    let r = rpc(
        &url,
        "/websocket/update_bus_presence",
        json!({"inactivity_period": 0, "im_status_ids_by_model": {}}),
        Some(&demo),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], 100);
    assert_eq!(r.json()["id"], 7);
    let id = control.notify(Target::Partner(7), "for_demo", json!({"x": 1}));
    let r = rpc(
        &url,
        "/websocket/peek_notifications",
        json!({"channels": [], "last": 0, "is_first_poll": true}),
        Some(&demo),
    )
    .await;
    let result = r.json()["result"].clone();
    assert!(
        result["channels"]
            .as_array()
            .unwrap()
            .contains(&json!(["odoo", "res.partner", 7]))
    );
    assert_eq!(result["notifications"][0]["id"], id);
    assert_eq!(result["notifications"][0]["message"]["type"], "for_demo");
    let r = rpc(
        &url,
        "/websocket/update_bus_presence",
        json!({"inactivity_period": 0, "im_status_ids_by_model": {}}),
        Some(&demo),
    )
    .await;
    assert_eq!(r.json()["result"], json!({}));
    // on_closed: the user goes offline (null result, key omitted).
    let r = rpc(&url, "/websocket/on_closed", json!({}), Some(&demo)).await;
    assert_eq!(r.text, r#"{"jsonrpc": "2.0", "id": 7}"#);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    // notify_typing → mail.record/insert with isTyping on the channel.
    let (mut ws, _) = connect(&url, None, None, None).await;
    let admin = login(&url, "admin", "admin").await;
    let (mut ws2, _) = connect(&url, Some(&admin), None, None).await;
    subscribe(&mut ws2, json!([]), control.max_id()).await;
    processed(&control, 1).await;
    let r = rpc(
        &url,
        "/discuss/channel/notify_typing",
        json!({"channel_id": 1, "is_typing": true}),
        Some(&demo),
    )
    .await;
    assert!(r.json().get("error").is_none(), "{}", r.text);
    let b = next_batch(&mut ws2).await;
    assert_eq!(b[0].1, "mail.record/insert");
    assert_eq!(b[0].2["discuss.channel.member"][0]["isTyping"], true);
    assert_eq!(
        b[0].2["discuss.channel.member"][0]["persona"],
        json!({"id": 7, "type": "partner"})
    );
    drop(ws.close(None).await);
}

#[tokio::test]
async fn shutdown_says_going_away() {
    let (emu, _control) = start(EmulatorConfig::fast()).await;
    let (mut ws, _) = connect(&emu.url(), None, None, None).await;
    wait_sockets(&emu.control(), 1).await;
    let closing = tokio::spawn(emu.shutdown());
    assert_eq!(close_of(&mut ws).await.0, 1001);
    drop(ws);
    timeout(T, closing).await.unwrap().unwrap();
}

#[tokio::test]
async fn demo_traffic_is_believable_and_starts_at_once() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let admin = login(&emu.url(), "admin", "admin").await;
    let (mut ws, _) = connect(&emu.url(), Some(&admin), None, None).await;
    subscribe(&mut ws, json!([]), 0).await;
    processed(&control, 1).await;
    // The first notification comes ~200 ms / rate after the start (next_batch waits up to 5 s).
    let _traffic = odoo_bus_emulator::traffic::spawn(control.clone(), 4.0);
    let first = next_batch(&mut ws).await;
    assert_eq!(first[0].1, "mail.record/insert", "someone starts typing");
    assert_eq!(first[0].2["discuss.channel.member"][0]["isTyping"], true);
    // Within a few seconds (rate 4×), a chat message with a real author.
    let mut seen_message = false;
    while !seen_message {
        for (_, kind, payload) in next_batch(&mut ws).await {
            if kind == "discuss.channel/new_message" {
                let author = payload["data"]["res.partner"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert!(
                    ["Marc Demo", "Joel Willis", "Audrey Peterson"].contains(&author.as_str()),
                    "{author}"
                );
                seen_message = true;
            }
        }
    }
    assert!(control.find_user("joel").is_some() && control.find_channel("sales") == Some(3));
}

#[tokio::test]
async fn mixed_case_upgrade_and_samesite_origin() {
    let (emu, control) = start(EmulatorConfig {
        public_samesite_ws: true,
        ..EmulatorConfig::fast()
    })
    .await;
    let url = emu.url();
    // Live facts: `Upgrade: WebSocket` upgrades, with werkzeug's `Connection: close` left in.
    let mut raw = Raw::open(
        &url,
        &format!(
            "{}Origin: {url}\r\n",
            STD_UPGRADE.replace("Upgrade: websocket", "Upgrade: WebSocket")
        ),
    )
    .await;
    assert_eq!(raw.status(), 101, "{}", raw.head);
    assert!(
        raw.header("connection")
            .is_some_and(|c| c.contains("close")),
        "{}",
        raw.head
    );
    raw.frame(0x89, b"hi", false).await;
    assert_eq!(
        raw.read_frame().await,
        Some((0xA, b"hi".to_vec())),
        "the socket works"
    );
    // §2.4 ODOO_BUS_PUBLIC_SAMESITE_WS: an Origin that is not the Host → public socket, but the
    // 101 still sets the caller's own cookie.
    let sid = login(&url, "demo", "demo").await;
    let mut raw = Raw::open(
        &url,
        &format!("{STD_UPGRADE}Origin: http://elsewhere\r\nCookie: session_id={sid}\r\n"),
    )
    .await;
    assert!(raw.header("set-cookie").is_some_and(|c| c.contains(&sid)));
    raw.frame(
        0x81,
        br#"{"event_name": "subscribe", "data": {"channels": [], "last": 0}}"#,
        false,
    )
    .await;
    processed(&control, 1).await;
    control.notify(Target::Partner(7), "t", json!(null));
    let b = control.notify(Target::Broadcast, "t", json!(null));
    let (op, text) = raw.read_frame().await.unwrap();
    assert_eq!(op, 1);
    assert!(
        String::from_utf8(text)
            .unwrap()
            .starts_with(&format!("[{{\"id\": {b}, "))
    );
}

#[tokio::test]
async fn missed_presences_go_to_the_subscribers_own_partner() {
    let (emu, control) = start(EmulatorConfig::fast()).await;
    let url = emu.url();
    let (admin, demo) = admin_demo(&control);
    control.set_presence(demo, "online");
    // §3.2: a presence updated within the last 2 s is re-sent on subscribe, to the caller's
    // own partner channel (a new row), so it is not lost while the socket was connecting.
    let sid = control.create_session(admin);
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(
        &mut ws,
        json!(["odoo-presence-res.partner_7"]),
        control.max_id(),
    )
    .await;
    let batch = next_batch(&mut ws).await;
    assert_eq!(batch.len(), 1, "{batch:?}");
    assert_eq!(batch[0].1, "bus.bus/im_status_updated");
    assert_eq!(batch[0].2, json!({"im_status": "online", "partner_id": 7}));
    // Portal users may only watch partners they share a channel with.
    let portal = control.add_user(UserSpec {
        internal: false,
        ..UserSpec::internal("p", "p", "Portal Pete")
    });
    let sid = control.create_session(portal.uid);
    let (mut ws, _) = connect(&url, Some(&sid), None, None).await;
    subscribe(
        &mut ws,
        json!(["odoo-presence-res.partner_7"]),
        control.max_id(),
    )
    .await;
    processed(&control, 2).await;
    control.set_presence(demo, "away");
    assert!(quiet_for(&mut ws, Duration::from_millis(300)).await);
}
