//! Every personality against one table of what a client observes of each real Odoo (16, 17
//! early and late, 18, 19): the rows below are the only place the expectations differ, the test
//! bodies are shared. Plain clients only (reqwest, tungstenite), never odoo-bus's.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use odoo_bus_emulator::{EmulatorConfig, OdooVersion};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::*;

/// What one version shows a client.
struct Row {
    version: OdooVersion,
    server_version: &'static str,
    major: u64,
    /// `session_info.websocket_worker_version` (None: the key is absent).
    worker: Option<&'static str>,
    chat_model: &'static str,
    /// The new-message notification type and where its message sits (`message` or `data`).
    new_message: (&'static str, &'static str),
    /// Where the post's `temporary_id` comes back in that notification.
    temporary_id: Echo,
    post_result: PostResult,
    typing_type: &'static str,
    presence: PresenceOut,
    settings_type: &'static str,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Echo {
    Nowhere,
    InMessage,
    TopLevel,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum PostResult {
    /// The message_format dict (`id`, `author.name`).
    MessageFormat,
    /// A bare Store (`mail.message`).
    Store,
    /// `{store_data, message_id}`.
    StoreDataAndId,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum PresenceOut {
    /// Only as the answer to the watcher's own `update_presence` naming partners.
    Pull(&'static str),
    /// `bus.bus/im_status_updated` on `odoo-presence-res.partner_N`, with these keys.
    Push(&'static [&'static str]),
}

const ROWS: &[Row] = &[
    Row {
        version: OdooVersion::V16,
        server_version: "16.0-20230301",
        major: 16,
        worker: None,
        chat_model: "mail.channel",
        new_message: ("mail.channel/new_message", "message"),
        temporary_id: Echo::Nowhere,
        post_result: PostResult::MessageFormat,
        typing_type: "mail.channel.member/typing_status",
        presence: PresenceOut::Pull("bus/im_status"),
        settings_type: "res.users.settings/insert",
    },
    Row {
        version: OdooVersion::V17Early,
        server_version: "17.0-20240709",
        major: 17,
        worker: None,
        chat_model: "discuss.channel",
        new_message: ("discuss.channel/new_message", "message"),
        temporary_id: Echo::InMessage,
        post_result: PostResult::MessageFormat,
        typing_type: "discuss.channel.member/typing_status",
        presence: PresenceOut::Pull("mail.record/insert"),
        settings_type: "res.users.settings",
    },
    Row {
        version: OdooVersion::V17Late,
        server_version: "17.0",
        major: 17,
        worker: Some("17.0-1"),
        chat_model: "discuss.channel",
        new_message: ("discuss.channel/new_message", "message"),
        temporary_id: Echo::InMessage,
        post_result: PostResult::MessageFormat,
        typing_type: "discuss.channel.member/typing_status",
        presence: PresenceOut::Push(&["im_status", "partner_id", "presence_status"]),
        settings_type: "res.users.settings",
    },
    Row {
        version: OdooVersion::V18,
        server_version: "18.0",
        major: 18,
        worker: Some("18.0-2"),
        chat_model: "discuss.channel",
        new_message: ("discuss.channel/new_message", "data"),
        temporary_id: Echo::TopLevel,
        post_result: PostResult::Store,
        typing_type: "mail.record/insert",
        presence: PresenceOut::Push(&["im_status", "partner_id"]),
        settings_type: "res.users.settings",
    },
    Row {
        version: OdooVersion::V19,
        server_version: "19.0+e-20251227",
        major: 19,
        worker: Some("19.0-2"),
        chat_model: "discuss.channel",
        new_message: ("discuss.channel/new_message", "data"),
        temporary_id: Echo::TopLevel,
        post_result: PostResult::StoreDataAndId,
        typing_type: "mail.record/insert",
        presence: PresenceOut::Push(&["guest_id", "im_status", "partner_id", "presence_status"]),
        settings_type: "res.users.settings",
    },
];

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0";

#[test]
fn the_table_covers_every_personality_once() {
    let listed: Vec<OdooVersion> = ROWS.iter().map(|r| r.version).collect();
    assert_eq!(listed, OdooVersion::ALL.to_vec());
}

#[tokio::test]
async fn login_and_session_info_per_version() {
    for row in ROWS {
        let v = row.version;
        let (emu, _c) = start(EmulatorConfig::fast().with_version(v)).await;
        let url = emu.url();
        let info = rpc(&url, "/web/webclient/version_info", json!({}), None).await;
        let info = &info.json()["result"];
        assert_eq!(info["server_version"], row.server_version, "{v}");
        assert_eq!(info["server_version_info"][0], row.major, "{v}");
        assert_eq!(info["server_serie"], format!("{}.0", row.major), "{v}");

        let r = rpc(
            &url,
            "/web/session/authenticate",
            json!({"db": "odoo", "login": "admin", "password": "admin"}),
            None,
        )
        .await;
        let si = &r.json()["result"];
        assert_eq!(si["uid"], 2, "{v}");
        let set_cookies = |h: &reqwest::header::HeaderMap| -> Vec<String> {
            h.get_all("set-cookie")
                .iter()
                .filter_map(|c| c.to_str().ok())
                .filter_map(|c| c.split('=').next().map(str::to_string))
                .collect()
        };
        let sid = r.cookie().expect("a session cookie");
        assert_eq!(sid.len(), if row.major >= 18 { 84 } else { 40 }, "{v}");
        let twice = row.major == 19;
        assert_eq!(
            set_cookies(&r.headers),
            if twice {
                vec!["session_id"; 2]
            } else {
                vec!["session_id"]
            },
            "{v}"
        );
        // A cookie only when the session changed: 18+ re-save it once for the device log.
        let check = |sid: String| {
            let url = url.clone();
            async move { rpc(&url, "/web/session/check", json!({}), Some(&sid)).await }
        };
        let first = check(sid.clone()).await.cookie();
        assert_eq!(first.is_some(), row.major >= 18, "{v}: {first:?}");
        assert_eq!(check(sid.clone()).await.cookie(), None, "{v}");
        let gone = rpc(&url, "/web/session/destroy", json!({}), Some(&sid)).await;
        let mut names = set_cookies(&gone.headers);
        names.sort();
        let expected: &[&str] = match row.major {
            16 => &["session_id"],
            19 => &["cids", "color_scheme", "session_id"],
            _ => &["cids", "session_id"],
        };
        assert_eq!(names, expected, "{v}");
        assert_eq!(si["server_version"], row.server_version, "{v}");
        assert_eq!(si["server_version_info"][0], row.major, "{v}");
        match row.worker {
            Some(w) => assert_eq!(si["websocket_worker_version"], w, "{v}"),
            None => assert!(
                si.get("websocket_worker_version").is_none(),
                "{v}: the key must be absent: {si}"
            ),
        }
        // Keys that tell versions apart, as the real servers showed them.
        let has = |k: &str| si.get(k).is_some();
        assert_eq!(has("storeData"), row.major >= 18, "{v} storeData");
        assert_eq!(has("user_id"), row.major <= 17, "{v} user_id");
        assert_eq!(has("is_public"), row.worker.is_some(), "{v} is_public");
        assert_eq!(has("registry_hash"), row.major == 19, "{v} registry_hash");
        assert_eq!(has("user_settings"), row.major >= 17, "{v} user_settings");
        assert_eq!(
            si["user_settings"]["id"].as_i64(),
            (row.major >= 17).then_some(1),
            "{v}"
        );
        if row.major == 19 {
            // 19's Store names ids instead of nesting personas.
            assert_eq!(si["storeData"]["Store"]["self_partner"], 3);
            assert_eq!(si["currencies"]["1"]["name"], "USD");
        }
        assert_eq!(emu.control().config().version, v);
    }
}

#[tokio::test]
async fn websocket_url_rules_per_version() {
    for row in ROWS {
        let v = row.version;
        let (emu, control) = start(EmulatorConfig::fast().with_version(v)).await;
        let url = emu.url();
        let sid = login(&url, "admin", "admin").await;
        // Without `?version=` a browser is outdated only where a worker version exists.
        let (mut ws, _) = connect(&url, Some(&sid), Some(BROWSER), None).await;
        if row.worker.is_some() {
            assert_eq!(
                close_of(&mut ws).await,
                (1000, "OUTDATED_VERSION".to_string()),
                "{v}"
            );
        } else {
            subscribe(&mut ws, json!([]), 0).await;
            control.notify(
                odoo_bus_emulator::Target::Broadcast,
                "probe",
                json!({"v": v.label()}),
            );
            let batch = next_batch(&mut ws).await;
            assert_eq!(batch[0].1, "probe", "{v}");
        }
        // The version the server names is always accepted, from a browser too.
        if let Some(w) = row.worker {
            let (mut ws, _) = connect(&url, Some(&sid), Some(BROWSER), Some(w)).await;
            assert!(quiet_for(&mut ws, Duration::from_millis(300)).await, "{v}");
        }
    }
}

#[test]
fn config_follows_the_personality() {
    for row in ROWS {
        let cfg = EmulatorConfig::default().with_version(row.version);
        assert_eq!(cfg.server_version, row.server_version);
        assert_eq!(cfg.websocket_worker_version.as_deref(), row.worker);
        assert_eq!(row.version.chat_model(), row.chat_model);
        assert_eq!(cfg.server_version_info, row.version.server_version_info());
        // 19 pings after 40 s of silence instead of 45, and `fast()` keeps the proportion.
        let fast = EmulatorConfig::fast();
        let ratio = |c: &EmulatorConfig| c.idle_ping.as_secs_f64() / fast.idle_ping.as_secs_f64();
        let expected = if row.major == 19 { 40.0 / 45.0 } else { 1.0 };
        let got = ratio(&fast.clone().with_version(row.version));
        assert!((got - expected).abs() < 1e-9, "{:?}: {got}", row.version);
        assert_eq!(cfg.session_rotation.is_some(), row.major == 19);
    }
}

/// Read batches until a notification of `kind` arrives; its payload.
async fn until_type(ws: &mut Client, kind: &str) -> Value {
    for _ in 0..20 {
        for (_, t, payload) in next_batch(ws).await {
            if t == kind {
                return payload;
            }
        }
    }
    panic!("no {kind} notification");
}

/// Open a logged-in socket the way this version's browser does (with `?version=` only where
/// the server has a worker version).
async fn open(url: &str, sid: &str, row: &Row) -> Client {
    connect(url, Some(sid), None, row.worker).await.0
}

#[tokio::test]
async fn chat_typing_presence_and_polling_per_version() {
    for row in ROWS {
        let v = row.version;
        let (emu, control) = start(EmulatorConfig::fast().with_version(v)).await;
        let url = emu.url();
        let admin = login(&url, "admin", "admin").await;
        let demo = login(&url, "demo", "demo").await;
        let mut ws = open(&url, &admin, row).await;
        // What this version's browser subscribes to: no strings on 16, the channel after,
        // demo's presence channel where presence is pushed.
        let mut channels = vec![];
        if v.parses_chat_strings() {
            channels.push(format!("{}_1", row.chat_model));
        }
        if matches!(row.presence, PresenceOut::Push(_)) {
            channels.push("odoo-presence-res.partner_7".to_string());
        }
        subscribe(&mut ws, json!(channels), 0).await;
        processed(&control, 1).await;

        // Post as demo, with the web client's temporary id.
        let post = rpc(
            &url,
            "/mail/message/post",
            json!({
                "thread_model": row.chat_model, "thread_id": 1,
                "post_data": {"body": "hello", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
                "context": {"temporary_id": 0.01},
            }),
            Some(&demo),
        )
        .await;
        let result = &post.json()["result"];
        let message_id = match row.post_result {
            PostResult::MessageFormat => {
                assert_eq!(result["author"]["name"], "Marc Demo", "{v}: {result}");
                assert_eq!(result["model"], row.chat_model, "{v}");
                result["id"].clone()
            }
            PostResult::Store => result["mail.message"][0]["id"].clone(),
            PostResult::StoreDataAndId => {
                assert_eq!(
                    result["store_data"]["mail.message"][0]["id"], result["message_id"],
                    "{v}"
                );
                result["message_id"].clone()
            }
        };
        assert!(message_id.is_i64(), "{v}: {result}");
        let (kind, key) = row.new_message;
        let payload = until_type(&mut ws, kind).await;
        assert_eq!(payload["id"], 1, "{v}");
        let inner = &payload[key];
        match key {
            "message" => {
                assert_eq!(inner["id"], message_id, "{v}");
                assert_eq!(inner["body"], "<p>hello</p>", "{v}");
            }
            _ => assert_eq!(inner["mail.message"][0]["id"], message_id, "{v}"),
        }
        match row.temporary_id {
            Echo::Nowhere => {
                assert!(
                    inner.get("temporary_id").is_none() && payload.get("temporary_id").is_none(),
                    "{v}"
                )
            }
            Echo::InMessage => assert_eq!(inner["temporary_id"], 0.01, "{v}"),
            Echo::TopLevel => assert_eq!(payload["temporary_id"], 0.01, "{v}"),
        }
        if v == OdooVersion::V19 {
            // The author's name is only in the Store's partner; `email_from` is the pretty form.
            assert_eq!(inner["res.partner"][0]["name"], "Marc Demo");
            assert_eq!(inner["mail.message"][0]["author_id"], 7);
            assert_eq!(
                inner["mail.message"][0]["body"],
                json!(["markup", "<p>hello</p>"])
            );
        }

        // Typing, on the version's route.
        let typing = rpc(
            &url,
            v.typing_path(),
            json!({"channel_id": 1, "is_typing": true}),
            Some(&demo),
        )
        .await;
        assert!(typing.json().get("error").is_none(), "{v}: {}", typing.text);
        let t = until_type(&mut ws, row.typing_type).await;
        assert!(t.to_string().contains("Marc Demo"), "{v}: {t}");

        // Presence: demo comes online on its own socket.
        let mut demo_ws = open(&url, &demo, row).await;
        subscribe(&mut demo_ws, json!([]), 0).await;
        let data = if v == OdooVersion::V19 {
            json!({"inactivity_period": 0})
        } else {
            json!({"inactivity_period": 0, "im_status_ids_by_model": {}})
        };
        send(&mut demo_ws, "update_presence", data).await;
        processed(&control, 3).await;
        match row.presence {
            PresenceOut::Push(keys) => {
                let p = until_type(&mut ws, "bus.bus/im_status_updated").await;
                let mut got: Vec<&str> =
                    p.as_object().unwrap().keys().map(String::as_str).collect();
                got.sort_unstable();
                assert_eq!(got, keys, "{v}: {p}");
                assert_eq!(
                    (p["partner_id"].clone(), p["im_status"].clone()),
                    (json!(7), json!("online")),
                    "{v}"
                );
            }
            PresenceOut::Pull(kind) => {
                // Nothing pushed; admin's own poll names demo and gets the answer.
                send(
                    &mut ws,
                    "update_presence",
                    json!({"inactivity_period": 0, "im_status_ids_by_model": {"res.partner": [7]}}),
                )
                .await;
                let p = until_type(&mut ws, kind).await;
                let status = p["partners"][0]["im_status"].clone();
                let status = if status.is_null() {
                    p["Persona"][0]["im_status"].clone()
                } else {
                    status
                };
                assert_eq!(status, "online", "{v}: {p}");
            }
        }

        // The self-notification: demo re-saves its settings unchanged.
        let ids = rpc(
            &url,
            "/web/dataset/call_kw",
            json!({"model": "res.users.settings", "method": "search", "args": [[["user_id", "=", 6]]], "kwargs": {}}),
            Some(&demo),
        )
        .await
        .json()["result"]
        .clone();
        let set = rpc(
            &url,
            "/web/dataset/call_kw",
            json!({"model": "res.users.settings", "method": "set_res_users_settings", "args": [ids], "kwargs": {"new_settings": {}}}),
            Some(&demo),
        )
        .await;
        assert!(set.json().get("error").is_none(), "{v}: {}", set.text);
        let echo = until_type(&mut demo_ws, row.settings_type).await;
        assert_eq!(echo, json!({"id": 2}), "{v}");

        // Polling: a fresh session's first poll names the version's channel keys.
        let poller = login(&url, "admin", "admin").await;
        let peek = rpc(
            &url,
            "/websocket/peek_notifications",
            json!({"channels": [], "last": 0, "is_first_poll": true}),
            Some(&poller),
        )
        .await;
        let keys = peek.json()["result"]["channels"].to_string();
        assert!(
            keys.contains(&format!("[\"odoo\",\"{}\",1]", row.chat_model)),
            "{v}: {keys}"
        );
        assert_eq!(
            keys.contains("res.groups"),
            v >= OdooVersion::V18,
            "{v}: {keys}"
        );
        assert_eq!(
            keys.contains("internal_users"),
            v == OdooVersion::V19,
            "{v}: {keys}"
        );
        let missed = rpc(
            &url,
            "/bus/has_missed_notifications",
            json!({"last_notification_id": 1}),
            Some(&poller),
        )
        .await;
        // The 1-byte 0x00 probe: silent on the wire everywhere, a logged error before 19.
        ws.send(Message::binary(vec![0u8])).await.unwrap();
        assert!(quiet_for(&mut ws, Duration::from_millis(150)).await, "{v}");
        let logged = control.stats().server_errors.len();
        assert_eq!(logged, usize::from(v != OdooVersion::V19), "{v}");
        if v == OdooVersion::V19 {
            assert_eq!(missed.json()["result"], false, "{}", missed.text);
        } else {
            assert_eq!(missed.status, 404, "{v}: only 19 has the route");
        }
    }
}

#[tokio::test]
async fn nineteen_rejects_the_18_presence_shape_without_closing() {
    let (emu, control) = start(EmulatorConfig::fast().with_version(OdooVersion::V19)).await;
    let url = emu.url();
    let admin = login(&url, "admin", "admin").await;
    let mut ws = connect(&url, Some(&admin), None, Some("19.0-2")).await.0;
    subscribe(&mut ws, json!([]), 0).await;
    send(
        &mut ws,
        "update_presence",
        json!({"inactivity_period": 0, "im_status_ids_by_model": {}}),
    )
    .await;
    processed(&control, 2).await;
    let errors = control.stats().server_errors;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unexpected keyword argument 'im_status_ids_by_model'")),
        "{errors:?}"
    );
    // No presence came of it (admin's own presence channel stays quiet), the socket lives on.
    assert!(quiet_for(&mut ws, Duration::from_millis(300)).await);
    send(&mut ws, "update_presence", json!({"inactivity_period": 0})).await;
    let p = until_type(&mut ws, "bus.bus/im_status_updated").await;
    assert_eq!(p["presence_status"], "online");
    // A manual status: others see it, the connection state stays online.
    control.set_manual_status(2, "busy");
    let p = until_type(&mut ws, "bus.bus/im_status_updated").await;
    assert_eq!(
        p,
        json!({"debounce": false, "im_status": "busy", "partner_id": 3})
    );
    // The 1-byte liveness frame is fine on 19 (and logged as an error nowhere).
    ws.send(Message::binary(vec![0u8])).await.unwrap();
    assert!(quiet_for(&mut ws, Duration::from_millis(200)).await);
    assert_eq!(control.stats().server_errors.len(), 1);
    // KILL_NOW (4003) ends the TCP connection without any close frame.
    control.close_all(4003, "");
    match tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .expect("ends")
    {
        None | Some(Err(_)) => {}
        other => panic!("no close frame on KILL_NOW, got {other:?}"),
    }
}

#[tokio::test]
async fn nineteen_rotates_the_session_and_keeps_the_old_one_briefly() {
    let cfg = EmulatorConfig {
        session_rotation: Some(Duration::from_millis(300)),
        session_rotation_grace: Duration::from_millis(800),
        ..EmulatorConfig::fast().with_version(OdooVersion::V19)
    };
    let (emu, _control) = start(cfg).await;
    let url = emu.url();
    let old = login(&url, "admin", "admin").await;
    let r = rpc(&url, "/web/session/check", json!({}), Some(&old)).await;
    assert_eq!(r.cookie().as_deref(), Some(old.as_str()), "not due yet");
    tokio::time::sleep(Duration::from_millis(350)).await;
    // Due: the next answer (here the websocket's 101) carries the successor.
    let (mut ws, cookie) = connect(&url, Some(&old), None, Some("19.0-2")).await;
    let new = cookie.expect("a cookie on the 101");
    assert_ne!(new, old);
    assert_eq!(new[..42], old[..42], "the identifying half stays");
    // The old sid still works for a while, and answers with the successor.
    let r = rpc(&url, "/web/session/check", json!({}), Some(&old)).await;
    assert!(r.json().get("error").is_none(), "{}", r.text);
    assert_eq!(r.cookie().as_deref(), Some(new.as_str()));
    subscribe(&mut ws, json!([]), 0).await;
    assert!(
        quiet_for(&mut ws, Duration::from_millis(200)).await,
        "the socket lives on"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let r = rpc(&url, "/web/session/check", json!({}), Some(&old)).await;
    assert_eq!(
        r.json()["error"]["code"],
        100,
        "gone after the grace period"
    );
    let r = rpc(&url, "/web/session/check", json!({}), Some(&new)).await;
    assert!(r.json().get("error").is_none(), "{}", r.text);
}
