//! Every personality against one table of what a client observes of each real Odoo (16, 17
//! early and late, 18, 19): the rows below are the only place the expectations differ, the test
//! bodies are shared. Plain clients only (reqwest, tungstenite), never odoo-bus's.

use std::time::Duration;

use odoo_bus_emulator::{EmulatorConfig, OdooVersion};
use serde_json::{Value, json};

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
}

const ROWS: &[Row] = &[
    Row {
        version: OdooVersion::V16,
        server_version: "16.0-20230301",
        major: 16,
        worker: None,
        chat_model: "mail.channel",
    },
    Row {
        version: OdooVersion::V17Early,
        server_version: "17.0-20240709",
        major: 17,
        worker: None,
        chat_model: "discuss.channel",
    },
    Row {
        version: OdooVersion::V17Late,
        server_version: "17.0",
        major: 17,
        worker: Some("17.0-1"),
        chat_model: "discuss.channel",
    },
    Row {
        version: OdooVersion::V18,
        server_version: "18.0",
        major: 18,
        worker: Some("18.0-2"),
        chat_model: "discuss.channel",
    },
    Row {
        version: OdooVersion::V19,
        server_version: "19.0+e-20251227",
        major: 19,
        worker: Some("19.0-2"),
        chat_model: "discuss.channel",
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
        let _: &Value = &cfg.server_version_info;
    }
}
