//! What kind of Odoo the server is, chosen once at login, and every per-version choice the
//! client makes: what to send (websocket query, chat model, channel names, `update_presence`,
//! `/mail/message/post` params, doctor's probe) and what to accept (post results, new-message
//! and presence shapes).
//!
//! Why one type: the wire differs in small ways between 16, 17 (early and late), 18 and 19
//! (docs/protocol.md, "Versions"). Keeping every difference here, as methods of [`Flavor`],
//! means printers and commands never test a version number themselves. Readers are lenient:
//! they accept every known shape whatever the flavor, so a profile whose saved flavor is stale
//! still reads what the server sends; senders pick the one shape the flavor needs.
//!
//! Owns no I/O: the profile stores the inputs (`server_version_major`,
//! `websocket_worker_version`), callers do the HTTP and websocket work.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::bus::protocol;

/// The server's generation, as far as the realtime bus is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flavor {
    /// 16.0: `mail.channel`, no channel strings, presence as `bus/im_status`.
    V16,
    /// 17.0 without `websocket_worker_version`: `discuss.channel`, presence as a `Persona` insert.
    V17Early,
    /// 17.0 with `websocket_worker_version` ("17.0-1"): presence channels, `?version=`.
    V17Late,
    /// 18.0, the reference: Store payloads.
    #[default]
    V18,
    /// 19.0 and anything newer: `update_presence {inactivity_period}` only, post result
    /// `{store_data, message_id}`.
    V19,
}

impl Flavor {
    pub const ALL: [Flavor; 5] = [
        Flavor::V16,
        Flavor::V17Early,
        Flavor::V17Late,
        Flavor::V18,
        Flavor::V19,
    ];

    /// From `server_version_info[0]` and whether `session_info.websocket_worker_version` is
    /// there (the only thing that tells early 17.0 from late). Unknown major: 18, the
    /// reference; older than 16: 16 (the oldest this client speaks); newer than 19: 19.
    pub fn detect(major: Option<u32>, worker_version: Option<&str>) -> Flavor {
        let has_worker = worker_version.is_some_and(|v| !v.is_empty());
        match major {
            None => Flavor::V18,
            Some(m) if m <= 16 => Flavor::V16,
            Some(17) if has_worker => Flavor::V17Late,
            Some(17) => Flavor::V17Early,
            Some(18) => Flavor::V18,
            Some(_) => Flavor::V19,
        }
    }

    /// What `status` and `doctor` show.
    pub fn label(self) -> &'static str {
        match self {
            Flavor::V16 => "16.0",
            Flavor::V17Early => "17.0 (early: no websocket worker version)",
            Flavor::V17Late => "17.0 (late)",
            Flavor::V18 => "18.0",
            Flavor::V19 => "19.0",
        }
    }

    /// Short key, as `--odoo-version` and the config spell it: 16, 17-early, 17, 18, 19.
    pub fn key(self) -> &'static str {
        match self {
            Flavor::V16 => "16",
            Flavor::V17Early => "17-early",
            Flavor::V17Late => "17",
            Flavor::V18 => "18",
            Flavor::V19 => "19",
        }
    }

    /// The chat channel model: `mail.channel` on 16, `discuss.channel` after.
    pub fn chat_model(self) -> &'static str {
        match self {
            Flavor::V16 => "mail.channel",
            _ => "discuss.channel",
        }
    }

    /// The type of a new chat message notification.
    pub fn new_message_type(self) -> &'static str {
        match self {
            Flavor::V16 => "mail.channel/new_message",
            _ => "discuss.channel/new_message",
        }
    }

    /// The channel string to subscribe to for a chat channel, or `None` on 16, which reads no
    /// channel strings at all: a member gets all its channels by default.
    pub fn channel_subscription(self, channel_id: u64) -> Option<String> {
        match self {
            Flavor::V16 => None,
            _ => Some(format!("discuss.channel_{channel_id}")),
        }
    }

    /// The presence channel of a partner, where the version has them (late 17, 18, 19).
    pub fn presence_channel(self, partner_id: i64) -> Option<String> {
        match self {
            Flavor::V16 | Flavor::V17Early => None,
            _ => Some(format!("odoo-presence-res.partner_{partner_id}")),
        }
    }

    /// Whether `odoo-presence-…` names mean anything to this server.
    pub fn has_presence_channels(self) -> bool {
        self.presence_channel(0).is_some()
    }

    /// The `update_presence` event. 16 and early 17 answer with the statuses of the partners
    /// listed in `im_status_ids_by_model` (so `partners` are asked for: e.g. the user's own);
    /// late 17 and 18 require the key but ignore it; 19 raises TypeError on any key but
    /// `inactivity_period`.
    pub fn update_presence_event(self, inactivity_period_ms: u64, partners: &[i64]) -> String {
        let data = match self {
            Flavor::V19 => json!({"inactivity_period": inactivity_period_ms}),
            Flavor::V16 | Flavor::V17Early if !partners.is_empty() => json!({
                "inactivity_period": inactivity_period_ms,
                "im_status_ids_by_model": {"res.partner": partners},
            }),
            _ => return protocol::update_presence_event(inactivity_period_ms),
        };
        let raw = serde_json::value::to_raw_value(&data).expect("JSON values always serialize");
        protocol::event("update_presence", Some(&raw))
    }

    /// The params of `POST /mail/message/post` for a comment in a chat channel. `temporary_id`
    /// goes in the context (17+ echo it in the bus payload; 16 ignores it).
    pub fn post_params(self, channel_id: i64, body_html: &str, temporary_id: Option<f64>) -> Value {
        let mut context = json!({"mail_post_autofollow": false});
        if let Some(t) = temporary_id {
            context["temporary_id"] = json!(t);
        }
        json!({
            "thread_model": self.chat_model(),
            "thread_id": channel_id,
            "post_data": {
                "body": body_html,
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
            "context": context,
        })
    }

    /// The notification `res.users.settings.set_res_users_settings` sends to the user's own
    /// partner (doctor's delivery probe): `res.users.settings/insert` on 16,
    /// `res.users.settings` after. Verified on the real 16, 17 early/late, 18 and 19.
    pub fn settings_notification_type(self) -> &'static str {
        match self {
            Flavor::V16 => "res.users.settings/insert",
            _ => "res.users.settings",
        }
    }
}

/// What a channel name given by the user becomes on a server of some [`Flavor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappedChannel {
    /// Subscribe to this string (the name itself, unless it named a chat channel).
    Send(String),
    /// A chat channel named in another version's spelling (`mail.channel_5` on 18, a bare id):
    /// subscribe to `to` instead.
    Renamed { from: String, to: String },
    /// A chat channel on 16, which reads no channel strings: a member gets it by default, a
    /// non-member cannot listen to it at all. Nothing to subscribe.
    ByDefault { id: u64 },
    /// An `odoo-presence-…` name on a version without presence channels (16, early 17).
    NoPresenceChannels,
}

impl Flavor {
    /// Maps `mail.channel_N`, `discuss.channel_N` and a bare id to this server's form; other
    /// names pass through unchanged (the channel parser checks them).
    pub fn map_channel(self, name: &str) -> MappedChannel {
        let chat = name.starts_with("mail.channel_")
            || name.starts_with("discuss.channel_")
            || name.bytes().all(|b| b.is_ascii_digit());
        if chat && let Some(id) = chat_channel_id(name) {
            return match self.channel_subscription(id) {
                None => MappedChannel::ByDefault { id },
                Some(to) if to == name => MappedChannel::Send(to),
                Some(to) => MappedChannel::Renamed {
                    from: name.to_string(),
                    to,
                },
            };
        }
        if name.starts_with("odoo-presence-") && !self.has_presence_channels() {
            return MappedChannel::NoPresenceChannels;
        }
        MappedChannel::Send(name.to_string())
    }

    /// The sentence a user reads when a name was mapped or dropped (`None`: sent as given).
    pub fn channel_note(self, mapped: &MappedChannel) -> Option<String> {
        match mapped {
            MappedChannel::Send(_) => None,
            MappedChannel::Renamed { from, to } => Some(format!(
                "Odoo {} names chat channel {from:?} {to}: using that",
                self.key()
            )),
            MappedChannel::ByDefault { id } => Some(format!(
                "Odoo 16 has no channel names: a member gets mail.channel {id} by default, so there is nothing to subscribe (not a member? join it in Discuss)"
            )),
            MappedChannel::NoPresenceChannels => Some(format!(
                "Odoo {} has no presence channels: use `tail --presence`, which asks the server for statuses instead",
                self.key()
            )),
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Flavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "16" | "16.0" => Ok(Flavor::V16),
            "17-early" | "17e" => Ok(Flavor::V17Early),
            "17" | "17.0" | "17-late" | "17l" => Ok(Flavor::V17Late),
            "18" | "18.0" => Ok(Flavor::V18),
            "19" | "19.0" => Ok(Flavor::V19),
            other => Err(format!(
                "unknown Odoo version {other:?}: give 16, 17-early, 17, 18 or 19"
            )),
        }
    }
}

/// The message id in `/mail/message/post`'s answer, whatever the version: 19's
/// `{store_data, message_id}`, 18's Store (`{"mail.message": [{"id": …}]}`, a list or a single
/// record), 16/17's message_format dict itself.
pub fn message_id_from_post_result(result: &Value) -> Option<i64> {
    if let Some(id) = result.get("message_id").and_then(Value::as_i64) {
        return Some(id);
    }
    if let Some(store) = result.get("store_data") {
        return message_id_from_post_result(store);
    }
    let record = match result.get("mail.message") {
        Some(Value::Array(list)) => list.first()?,
        Some(one @ Value::Object(_)) => one,
        _ => result,
    };
    record.get("id").and_then(Value::as_i64)
}

/// What a `*/new_message` payload says about the message, whatever the version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub channel_id: Option<i64>,
    pub message_id: Option<i64>,
    pub temporary_id: Option<f64>,
}

/// Whether `kind` is a new chat message notification on any version.
pub fn is_new_message(kind: &str) -> bool {
    matches!(
        kind,
        "discuss.channel/new_message" | "mail.channel/new_message"
    )
}

/// Reads a new-message payload: `{id, message}` (16, 17) or `{id, data: Store, temporary_id}`
/// (18, 19). 17 echoes `temporary_id` inside the message too.
pub fn new_message(payload: &Value) -> Option<NewMessage> {
    let obj = payload.as_object()?;
    let channel_id = obj.get("id").and_then(Value::as_i64);
    let (message_id, inner_tmp) = match (obj.get("message"), obj.get("data")) {
        (Some(m), _) => (
            m.get("id").and_then(Value::as_i64),
            m.get("temporary_id").and_then(Value::as_f64),
        ),
        (None, Some(store)) => (message_id_from_post_result(store), None),
        (None, None) => (None, None),
    };
    Some(NewMessage {
        channel_id,
        message_id,
        temporary_id: obj
            .get("temporary_id")
            .and_then(Value::as_f64)
            .or(inner_tmp),
    })
}

/// One status change read from any presence shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    /// `true` for a `mail.guest`, `false` for a `res.partner`.
    pub guest: bool,
    pub id: i64,
    pub status: String,
}

/// Presence changes in a notification, whatever the version: `bus/im_status`
/// `{partners:[{id,im_status}], guests:[…]}` (16), `mail.record/insert` `{"Persona":[{id,
/// im_status, type}]}` (early 17), `bus.bus/im_status_updated` `{im_status, partner_id|guest_id}`
/// (late 17, 18, 19). Empty when the notification carries none.
pub fn presence_changes(kind: &str, payload: &Value) -> Vec<PresenceChange> {
    let mut out = Vec::new();
    match kind {
        "bus.bus/im_status_updated" => {
            let status = payload.get("im_status").and_then(Value::as_str);
            let partner = payload.get("partner_id").and_then(Value::as_i64);
            let guest = payload.get("guest_id").and_then(Value::as_i64);
            if let Some(status) = status {
                match (partner, guest) {
                    (Some(id), _) => out.push(change(false, id, status)),
                    (None, Some(id)) => out.push(change(true, id, status)),
                    _ => {}
                }
            }
        }
        "bus/im_status" => {
            for (key, guest) in [("partners", false), ("guests", true)] {
                for rec in records(payload.get(key)) {
                    push_record(&mut out, rec, guest);
                }
            }
        }
        "mail.record/insert" => {
            for rec in records(payload.get("Persona")) {
                let guest = rec.get("type").and_then(Value::as_str) == Some("guest");
                push_record(&mut out, rec, guest);
            }
        }
        _ => {}
    }
    out
}

fn change(guest: bool, id: i64, status: &str) -> PresenceChange {
    PresenceChange {
        guest,
        id,
        status: status.to_string(),
    }
}

fn records(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn push_record(out: &mut Vec<PresenceChange>, rec: &Value, guest: bool) {
    if let (Some(id), Some(status)) = (
        rec.get("id").and_then(Value::as_i64),
        rec.get("im_status").and_then(Value::as_str),
    ) {
        out.push(change(guest, id, status));
    }
}

/// A chat channel as a user names it on the command line: `mail.channel_N`,
/// `discuss.channel_N` or a bare id. `None` when it is none of those.
pub fn chat_channel_id(arg: &str) -> Option<u64> {
    let digits = arg
        .strip_prefix("discuss.channel_")
        .or_else(|| arg.strip_prefix("mail.channel_"))
        .unwrap_or(arg);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<u64>().ok())
        .flatten()
        .filter(|id| (1..=crate::bus::channel::MAX_RECORD_ID).contains(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn detection_table() {
        let cases = [
            (Some(15), None, Flavor::V16),
            (Some(16), None, Flavor::V16),
            (Some(17), None, Flavor::V17Early),
            (Some(17), Some(""), Flavor::V17Early),
            (Some(17), Some("17.0-1"), Flavor::V17Late),
            (Some(18), Some("18.0-2"), Flavor::V18),
            (Some(18), None, Flavor::V18),
            (Some(19), Some("19.0-2"), Flavor::V19),
            (Some(20), Some("20.0-1"), Flavor::V19),
            (None, None, Flavor::V18),
        ];
        for (major, worker, want) in cases {
            assert_eq!(Flavor::detect(major, worker), want, "{major:?} {worker:?}");
        }
    }

    #[test]
    fn choices_table() {
        // flavor, chat model, channel 5's subscription, presence channel of 7, settings type
        let table = [
            (
                Flavor::V16,
                "mail.channel",
                None,
                None,
                "res.users.settings/insert",
            ),
            (
                Flavor::V17Early,
                "discuss.channel",
                Some("discuss.channel_5"),
                None,
                "res.users.settings",
            ),
            (
                Flavor::V17Late,
                "discuss.channel",
                Some("discuss.channel_5"),
                Some("odoo-presence-res.partner_7"),
                "res.users.settings",
            ),
            (
                Flavor::V18,
                "discuss.channel",
                Some("discuss.channel_5"),
                Some("odoo-presence-res.partner_7"),
                "res.users.settings",
            ),
            (
                Flavor::V19,
                "discuss.channel",
                Some("discuss.channel_5"),
                Some("odoo-presence-res.partner_7"),
                "res.users.settings",
            ),
        ];
        for (flavor, model, sub, presence, settings) in table {
            assert_eq!(flavor.chat_model(), model, "{flavor}");
            assert_eq!(flavor.new_message_type(), format!("{model}/new_message"));
            assert_eq!(flavor.channel_subscription(5).as_deref(), sub, "{flavor}");
            assert_eq!(flavor.presence_channel(7).as_deref(), presence, "{flavor}");
            assert_eq!(flavor.settings_notification_type(), settings, "{flavor}");
            assert_eq!(flavor.post_params(5, "x", None)["thread_model"], model);
            assert_eq!(flavor.key().parse::<Flavor>().unwrap(), flavor);
        }
    }

    #[test]
    fn update_presence_shapes() {
        let data = |f: Flavor, ids: &[i64]| event(&f.update_presence_event(0, ids))["data"].clone();
        assert_eq!(data(Flavor::V19, &[3]), json!({"inactivity_period": 0}));
        assert_eq!(
            data(Flavor::V18, &[3]),
            json!({"inactivity_period": 0, "im_status_ids_by_model": {}})
        );
        assert_eq!(
            data(Flavor::V17Late, &[]),
            json!({"inactivity_period": 0, "im_status_ids_by_model": {}})
        );
        for f in [Flavor::V16, Flavor::V17Early] {
            assert_eq!(
                data(f, &[3]),
                json!({"inactivity_period": 0, "im_status_ids_by_model": {"res.partner": [3]}})
            );
        }
        assert_eq!(
            event(&Flavor::V19.update_presence_event(5, &[]))["event_name"],
            "update_presence"
        );
    }

    #[test]
    fn post_results_of_every_version() {
        assert_eq!(
            message_id_from_post_result(
                &json!({"store_data": {"mail.message": [{"id": 58}]}, "message_id": 58})
            ),
            Some(58)
        );
        assert_eq!(
            message_id_from_post_result(&json!({"store_data": {"mail.message": [{"id": 9}]}})),
            Some(9)
        );
        assert_eq!(
            message_id_from_post_result(&json!({"mail.message": [{"id": 42}]})),
            Some(42)
        );
        assert_eq!(
            message_id_from_post_result(&json!({"mail.message": {"id": 43}})),
            Some(43)
        );
        assert_eq!(
            message_id_from_post_result(&json!({"id": 44, "body": "x"})),
            Some(44)
        );
        assert_eq!(
            message_id_from_post_result(&json!({"mail.message": []})),
            None
        );
        assert_eq!(message_id_from_post_result(&json!(null)), None);
    }

    #[test]
    fn the_real_19_post_result() {
        let real: Value =
            serde_json::from_str(include_str!("../../fixtures/odoo19/post_result.json")).unwrap();
        assert_eq!(message_id_from_post_result(&real), Some(60));
        assert_eq!(message_id_from_post_result(&real["store_data"]), Some(60));
    }

    #[test]
    fn new_messages_of_every_version() {
        let v16 = json!({"id": 1, "message": {"id": 30, "body": "<p>x</p>"}});
        let v17 = json!({"id": 1, "message": {"id": 31, "temporary_id": 0.75}});
        let v18 = json!({"id": 1, "data": {"mail.message": [{"id": 32}]}, "temporary_id": 0.5});
        assert_eq!(
            new_message(&v16),
            Some(NewMessage {
                channel_id: Some(1),
                message_id: Some(30),
                temporary_id: None
            })
        );
        assert_eq!(new_message(&v17).unwrap().temporary_id, Some(0.75));
        let m = new_message(&v18).unwrap();
        assert_eq!((m.message_id, m.temporary_id), (Some(32), Some(0.5)));
        assert!(is_new_message("mail.channel/new_message"));
        assert!(is_new_message("discuss.channel/new_message"));
        assert!(!is_new_message("discuss.channel/transient_message"));
    }

    #[test]
    fn presence_of_every_version() {
        let online = |guest, id| vec![change(guest, id, "online")];
        assert_eq!(
            presence_changes(
                "bus/im_status",
                &json!({"partners": [{"id": 7, "im_status": "online"}]})
            ),
            online(false, 7)
        );
        assert_eq!(
            presence_changes(
                "mail.record/insert",
                &json!({"Persona": [{"id": 7, "im_status": "online", "type": "partner"}]})
            ),
            online(false, 7)
        );
        assert_eq!(
            presence_changes(
                "mail.record/insert",
                &json!({"Persona": {"id": 2, "im_status": "online", "type": "guest"}})
            ),
            online(true, 2)
        );
        assert_eq!(
            presence_changes(
                "bus.bus/im_status_updated",
                &json!({"presence_status": "online", "im_status": "online", "guest_id": false, "partner_id": 7})
            ),
            online(false, 7)
        );
        assert!(presence_changes("mail.record/insert", &json!({"Thread": {"id": 1}})).is_empty());
    }

    #[test]
    fn channel_mapping_table() {
        use MappedChannel::*;
        let send = |s: &str| Send(s.to_string());
        let renamed = |f: &str, t: &str| Renamed {
            from: f.into(),
            to: t.into(),
        };
        for (flavor, name, want) in [
            (Flavor::V16, "mail.channel_1", ByDefault { id: 1 }),
            (Flavor::V16, "discuss.channel_1", ByDefault { id: 1 }),
            (Flavor::V16, "1", ByDefault { id: 1 }),
            (
                Flavor::V16,
                "odoo-presence-res.partner_7",
                NoPresenceChannels,
            ),
            (Flavor::V16, "my-plain", send("my-plain")),
            (
                Flavor::V17Early,
                "odoo-presence-res.partner_7",
                NoPresenceChannels,
            ),
            (
                Flavor::V17Early,
                "mail.channel_2",
                renamed("mail.channel_2", "discuss.channel_2"),
            ),
            (Flavor::V18, "discuss.channel_2", send("discuss.channel_2")),
            (Flavor::V18, "2", renamed("2", "discuss.channel_2")),
            (
                Flavor::V19,
                "mail.channel_3",
                renamed("mail.channel_3", "discuss.channel_3"),
            ),
            (
                Flavor::V19,
                "odoo-presence-res.partner_7",
                send("odoo-presence-res.partner_7"),
            ),
            (Flavor::V18, "mail.channel_x", send("mail.channel_x")),
        ] {
            let got = flavor.map_channel(name);
            assert_eq!(got, want, "{flavor} {name}");
            assert_eq!(flavor.channel_note(&got).is_some(), !matches!(got, Send(_)));
        }
    }

    #[test]
    fn chat_channel_names() {
        assert_eq!(chat_channel_id("discuss.channel_5"), Some(5));
        assert_eq!(chat_channel_id("mail.channel_5"), Some(5));
        assert_eq!(chat_channel_id("12"), Some(12));
        for bad in [
            "",
            "0",
            "x",
            "discuss.channel_",
            "mail.channel_x",
            "2147483648",
        ] {
            assert_eq!(chat_channel_id(bad), None, "{bad}");
        }
    }
}
