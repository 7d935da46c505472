//! The payloads that differ by version: a chat message (its bus notifications and the
//! `/mail/message/post` answer), typing, presence. Shapes and key orders are those the real
//! servers sent (captured from each version with demo data); values come from the caller's [`Msg`],
//! [`Typing`] and [`Person`], so this file stays pure.

use serde_json::{Map, Value, json};

use super::OdooVersion;

/// Who a notification goes to, in terms the caller maps onto bus channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// The chat channel record (`mail.channel`/`discuss.channel` N).
    Chat(i64),
    /// The channel's members-only subchannel (`members` on 18, `internal_users` on 19).
    ChatSub(i64),
    /// A partner's own channel.
    Partner(i64),
    /// A partner's `presence` subchannel.
    Presence(i64),
}

/// One notification to send: target, type, payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub to: To,
    pub kind: &'static str,
    pub payload: Value,
}

impl Note {
    fn new(to: To, kind: &'static str, payload: Value) -> Self {
        Note { to, kind, payload }
    }
}

/// A person as the payloads describe them.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub partner_id: i64,
    pub name: &'a str,
    pub email: &'a str,
    pub write_date: &'a str,
    pub uid: Option<i64>,
    pub internal: bool,
    pub im_status: &'a str,
}

impl Person<'_> {
    fn uid_or_false(&self) -> Value {
        self.uid.map_or(Value::Bool(false), Value::from)
    }
}

/// A message just posted in a chat channel.
#[derive(Debug, Clone)]
pub struct Msg<'a> {
    pub id: i64,
    pub channel_id: i64,
    pub channel_name: &'a str,
    pub author: Person<'a>,
    /// The author's membership in the channel, if any.
    pub member_id: Option<i64>,
    /// Sanitised HTML.
    pub body: String,
    pub message_type: &'a str,
    pub subtype_xmlid: Option<&'a str>,
    pub parent_id: Option<i64>,
    /// `YYYY-MM-DD HH:MM:SS`.
    pub now: &'a str,
    /// The poster's `context.temporary_id`, echoed from 17 on.
    pub temporary_id: Option<&'a Value>,
    /// 19's `silent` flag (server-side posts only).
    pub silent: bool,
    /// The last bus id before this post (the unread counter's `bus_id`).
    pub last_bus_id: u64,
}

impl Msg<'_> {
    fn is_comment(&self) -> bool {
        self.subtype_xmlid == Some("mail.mt_comment")
    }
    fn is_note(&self) -> bool {
        self.subtype_xmlid == Some("mail.mt_note")
    }
    /// `subtype_id` as `[id, name]` (16, 17) or an id (19).
    fn subtype(&self) -> Option<(i64, &'static str)> {
        match self.subtype_xmlid {
            Some("mail.mt_comment") => Some((1, "Discussions")),
            Some("mail.mt_note") => Some((2, "Note")),
            _ => None,
        }
    }
    fn email_from(&self) -> String {
        format!("\"{}\" <{}>", self.author.name, self.author.email)
    }
}

/// Someone typing in a channel.
#[derive(Debug, Clone)]
pub struct Typing<'a> {
    pub channel_id: i64,
    pub member_id: i64,
    pub member_create_date: &'a str,
    /// The channel's last message (the member's seen/fetched message), if any.
    pub last_message_id: Option<i64>,
    pub who: Person<'a>,
    pub is_typing: bool,
    pub now: &'a str,
}

/// A stable fake of 19's signed access tokens (`<64 hex>o0x<hex>`).
pub fn fake_token(seed: i64, scope: u64) -> String {
    let mut x = (seed as u64) ^ scope.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut hex = String::with_capacity(64);
    for _ in 0..4 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        hex.push_str(&format!("{x:016x}"));
    }
    format!("{hex}o0x{:x}", 0x6b41_0000 + (scope & 0xffff))
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

impl OdooVersion {
    /// The `message_format` dict of 16 and 17 (the post answer and `new_message.message`).
    fn message_format(self, m: &Msg) -> Value {
        let model = self.chat_model();
        let subtype = m
            .subtype()
            .map_or(Value::Bool(false), |(id, name)| json!([id, name]));
        let mut p: Vec<(&str, Value)> = vec![
            ("id", json!(m.id)),
            ("body", json!(m.body)),
            ("date", json!(m.now)),
            ("email_from", json!(m.email_from())),
            ("message_type", json!(m.message_type)),
            ("subtype_id", subtype),
            ("subject", json!(false)),
            ("model", json!(model)),
            ("res_id", json!(m.channel_id)),
            ("record_name", json!(m.channel_name)),
            ("starred_partner_ids", json!([])),
        ];
        if self == OdooVersion::V16 {
            p.extend([
                (
                    "author",
                    json!({"id": m.author.partner_id, "name": m.author.name}),
                ),
                ("guestAuthor", json!([["clear"]])),
                ("notifications", json!([])),
                ("attachment_ids", json!([])),
                ("trackingValues", json!([])),
                ("linkPreviews", json!([])),
                ("messageReactionGroups", json!([])),
                ("needaction_partner_ids", json!([])),
                ("history_partner_ids", json!([])),
                ("is_note", json!(m.is_note())),
                ("is_discussion", json!(m.is_comment())),
                ("subtype_description", json!(false)),
                (
                    "is_notification",
                    json!(m.message_type == "user_notification"),
                ),
                ("recipients", json!([])),
                ("module_icon", json!("/mail/static/description/icon.png")),
                ("sms_ids", json!([])),
            ]);
            if let Some(parent) = m.parent_id {
                p.push(("parentMessage", json!({"id": parent})));
            }
            return obj(p);
        }
        let user = m.author.uid.map_or(
            Value::Bool(false),
            |u| json!({"id": u, "isInternalUser": m.author.internal}),
        );
        p.extend([
            (
                "author",
                obj(vec![
                    ("id", json!(m.author.partner_id)),
                    ("name", json!(m.author.name)),
                    ("is_company", json!(false)),
                    ("user", user),
                    ("type", json!("partner")),
                ]),
            ),
            ("default_subject", json!(m.channel_name)),
            ("notifications", json!([])),
            ("attachments", json!([])),
            ("trackingValues", json!([])),
            ("linkPreviews", json!([])),
            ("reactions", json!([])),
            ("pinned_at", json!(false)),
            ("create_date", json!(m.now)),
            ("write_date", json!(m.now)),
            ("needaction_partner_ids", json!([])),
            ("history_partner_ids", json!([])),
            ("is_note", json!(m.is_note())),
            ("is_discussion", json!(m.is_comment())),
            ("subtype_description", json!(false)),
            ("recipients", json!([])),
            ("scheduledDatetime", json!(false)),
            ("module_icon", json!("/mail/static/description/icon.png")),
            ("sms_ids", json!([])),
        ]);
        if let Some(parent) = m.parent_id {
            p.push(("parentMessage", json!({"id": parent})));
        }
        if let Some(t) = m.temporary_id {
            p.push(("temporary_id", t.clone()));
        }
        obj(p)
    }

    /// 18's Store: `mail.message` with nested `author`, the thread, the author's partner.
    fn store_18(self, m: &Msg, for_http: bool) -> Value {
        let mut msg = Map::new();
        let mut put = |k: &str, v: Value| {
            msg.insert(k.to_string(), v);
        };
        put("attachment_ids", json!([]));
        put(
            "author",
            json!({"id": m.author.partner_id, "type": "partner"}),
        );
        put("body", json!(m.body));
        put("create_date", json!(m.now));
        put("date", json!(m.now));
        put("default_subject", json!(m.channel_name));
        put("email_from", json!(m.email_from()));
        put("id", json!(m.id));
        put("is_discussion", json!(m.is_comment()));
        put("is_note", json!(m.is_note()));
        put("linkPreviews", json!([]));
        put("message_type", json!(m.message_type));
        put("model", json!(self.chat_model()));
        if for_http {
            put("needaction", json!(false));
        }
        put("notifications", json!([]));
        put(
            "parentMessage",
            m.parent_id
                .map_or(Value::Bool(false), |id| json!({"id": id})),
        );
        put("pinned_at", json!(false));
        put("reactions", json!([]));
        put("recipients", json!([]));
        put("record_name", json!(m.channel_name));
        put("res_id", json!(m.channel_id));
        put("scheduledDatetime", json!(false));
        if for_http {
            put("starred", json!(false));
        }
        put("subject", json!(false));
        put("subtype_description", json!(false));
        put(
            "thread",
            json!({"id": m.channel_id, "model": self.chat_model()}),
        );
        if for_http {
            put("trackingValues", json!([]));
        }
        put("write_date", json!(m.now));
        json!({
            "mail.message": [Value::Object(msg)],
            "mail.thread": [{"id": m.channel_id, "model": self.chat_model(), "module_icon": "/mail/static/description/icon.png"}],
            "res.partner": [{
                "id": m.author.partner_id,
                "isInternalUser": m.author.internal,
                "is_company": false,
                "name": m.author.name,
                "userId": m.author.uid_or_false(),
                "write_date": m.author.write_date,
            }],
        })
    }

    /// 19's flat Store: ids instead of nested records, `body` as `["markup", html]`, the
    /// author's name only in `res.partner`.
    fn store_19(self, m: &Msg, for_http: bool) -> Value {
        let model = self.chat_model();
        let mut msg = Map::new();
        let mut put = |k: &str, v: Value| {
            msg.insert(k.to_string(), v);
        };
        put("attachment_ids", json!([]));
        put("author_guest_id", json!(false));
        put("author_id", json!(m.author.partner_id));
        put("body", json!(["markup", m.body]));
        put("create_date", json!(m.now));
        put("date", json!(m.now));
        put("default_subject", json!(m.channel_name));
        put("email_from", json!(m.email_from()));
        put("id", json!(m.id));
        put("incoming_email_cc", json!(false));
        put("incoming_email_to", json!(false));
        put("message_link_preview_ids", json!([]));
        put("message_type", json!(m.message_type));
        put("model", json!(model));
        if for_http {
            put("needaction", json!(false));
        }
        put("notification_ids", json!([]));
        put(
            "parent_id",
            m.parent_id.map_or(Value::Bool(false), Value::from),
        );
        put("partner_ids", json!([]));
        put("pinned_at", json!(false));
        put("reactions", json!([]));
        put("record_name", json!(m.channel_name));
        put("res_id", json!(m.channel_id));
        put("scheduledDatetime", json!(false));
        if for_http {
            put("starred", json!(false));
        }
        put("subject", json!(false));
        put(
            "subtype_id",
            m.subtype().map_or(Value::Bool(false), |(id, _)| json!(id)),
        );
        put("thread", json!({"id": m.channel_id, "model": model}));
        if for_http {
            put("trackingValues", json!([]));
        }
        put("write_date", json!(m.now));
        let mut store = Map::new();
        store.insert("mail.message".into(), json!([Value::Object(msg)]));
        if let Some((id, _)) = m.subtype() {
            store.insert(
                "mail.message.subtype".into(),
                json!([{"description": false, "id": id}]),
            );
        }
        store.insert(
            "mail.thread".into(),
            json!([{"display_name": m.channel_name, "id": m.channel_id, "model": model, "module_icon": "/mail/static/description/icon.png"}]),
        );
        store.insert(
            "res.partner".into(),
            json!([{
                "avatar_128_access_token": fake_token(m.author.partner_id, 1),
                "id": m.author.partner_id,
                "is_company": false,
                "main_user_id": m.author.uid_or_false(),
                "name": m.author.name,
                "write_date": m.author.write_date,
            }]),
        );
        if let Some(uid) = m.author.uid {
            store.insert(
                "res.users".into(),
                json!([{"id": uid, "share": !m.author.internal}]),
            );
        }
        Value::Object(store)
    }

    /// What a post sends on the bus, in the server's order.
    pub fn post_notifications(self, m: &Msg) -> Vec<Note> {
        let (chat, author) = (To::Chat(m.channel_id), To::Partner(m.author.partner_id));
        let model = self.chat_model();
        let mut new_message = match self {
            OdooVersion::V16 | OdooVersion::V17Early | OdooVersion::V17Late => {
                json!({"id": m.channel_id, "message": self.message_format(m)})
            }
            OdooVersion::V18 => json!({"data": self.store_18(m, false), "id": m.channel_id}),
            OdooVersion::V19 => json!({"data": self.store_19(m, false), "id": m.channel_id}),
        };
        if self >= OdooVersion::V18 {
            if let Some(t) = m.temporary_id {
                new_message["temporary_id"] = t.clone();
            }
            if m.silent && self == OdooVersion::V19 {
                new_message["silent"] = json!(true);
            }
        }
        let last_interest =
            json!({"discuss.channel": [{"id": m.channel_id, "last_interest_dt": m.now}]});
        match self {
            OdooVersion::V16 => vec![Note::new(chat, "mail.channel/new_message", new_message)],
            OdooVersion::V17Early | OdooVersion::V17Late => {
                let mut notes = Vec::new();
                if let Some(member) = m.member_id {
                    notes.push(Note::new(
                        author,
                        "mail.record/insert",
                        json!({"ChannelMember": {
                            "id": member,
                            "persona": {"id": m.author.partner_id, "type": "partner"},
                            "lastSeenMessage": {"id": m.id},
                            "thread": {
                                "id": m.channel_id,
                                "message_unread_counter": 0,
                                "message_unread_counter_bus_id": m.last_bus_id,
                                "model": model,
                                "seen_message_id": m.id,
                            },
                        }}),
                    ));
                }
                // On the members subchannel, before the rest (`_notify_thread`; unseen by a
                // client that named the channel explicitly, as the capture did).
                notes.push(Note::new(
                    To::ChatSub(m.channel_id),
                    "mail.record/insert",
                    json!({"Thread": {"id": m.channel_id, "is_pinned": true, "model": model}}),
                ));
                notes.push(Note::new(
                    chat,
                    "discuss.channel/last_interest_dt_changed",
                    json!({"id": m.channel_id, "last_interest_dt": m.now}),
                ));
                notes.push(Note::new(chat, "discuss.channel/new_message", new_message));
                notes
            }
            OdooVersion::V18 => {
                let mut notes = vec![Note::new(chat, "mail.record/insert", last_interest)];
                if let Some(member) = m.member_id {
                    notes.push(Note::new(
                        author,
                        "mail.record/insert",
                        json!({
                            "discuss.channel.member": [{
                                "id": member,
                                "message_unread_counter": 0,
                                "message_unread_counter_bus_id": m.last_bus_id,
                                "new_message_separator": m.id + 1,
                                "persona": {"id": m.author.partner_id, "type": "partner"},
                                "syncUnread": true,
                                "thread": {"id": m.channel_id, "model": model},
                            }],
                            "res.partner": [{"id": m.author.partner_id, "name": m.author.name}],
                        }),
                    ));
                }
                notes.push(Note::new(
                    To::ChatSub(m.channel_id),
                    "mail.record/insert",
                    json!({"discuss.channel": [{"id": m.channel_id, "is_pinned": true}]}),
                ));
                notes.push(Note::new(chat, "discuss.channel/new_message", new_message));
                notes
            }
            OdooVersion::V19 => {
                let mut notes = vec![Note::new(chat, "mail.record/insert", last_interest)];
                if let Some(member) = m.member_id {
                    notes.push(Note::new(
                        author,
                        "mail.record/insert",
                        json!({"discuss.channel.member": [{
                            "channel_id": {"id": m.channel_id, "model": model},
                            "id": member,
                            "message_unread_counter": 0,
                            "message_unread_counter_bus_id": m.last_bus_id,
                            "new_message_separator": m.id + 1,
                            "partner_id": m.author.partner_id,
                        }]}),
                    ));
                }
                notes.push(Note::new(chat, "discuss.channel/new_message", new_message));
                notes
            }
        }
    }

    /// The `/mail/message/post` answer: the message_format dict (16, 17; 17 echoes
    /// `temporary_id`), the bare Store (18), `{store_data, message_id}` (19).
    pub fn post_result(self, m: &Msg) -> Value {
        match self {
            OdooVersion::V16 | OdooVersion::V17Early | OdooVersion::V17Late => {
                self.message_format(m)
            }
            OdooVersion::V18 => self.store_18(m, true),
            OdooVersion::V19 => json!({"store_data": self.store_19(m, true), "message_id": m.id}),
        }
    }

    /// The typing notification (always on the channel itself).
    pub fn typing_note(self, t: &Typing) -> Note {
        let chat = To::Chat(t.channel_id);
        let p = &t.who;
        let seen = t.last_message_id.map_or(Value::Bool(false), Value::from);
        let user = p.uid.map_or(
            Value::Bool(false),
            |u| json!({"id": u, "isInternalUser": p.internal}),
        );
        match self {
            OdooVersion::V16 => Note::new(
                chat,
                "mail.channel.member/typing_status",
                json!({
                    "id": t.member_id,
                    "channel": {"id": t.channel_id},
                    "persona": {"partner": {
                        "id": p.partner_id, "name": p.name, "email": p.email, "active": true,
                        "im_status": p.im_status, "user": user,
                    }},
                    "isTyping": t.is_typing,
                }),
            ),
            OdooVersion::V17Early | OdooVersion::V17Late => Note::new(
                chat,
                "discuss.channel.member/typing_status",
                json!({
                    "id": t.member_id,
                    "thread": {"id": t.channel_id, "model": self.chat_model()},
                    "persona": {
                        "id": p.partner_id, "name": p.name, "email": p.email, "active": true,
                        "im_status": p.im_status, "is_company": false, "write_date": p.write_date,
                        "user": user, "type": "partner",
                    },
                    "create_date": t.member_create_date,
                    "isTyping": t.is_typing,
                }),
            ),
            OdooVersion::V18 => Note::new(
                chat,
                "mail.record/insert",
                json!({
                    "discuss.channel.member": [{
                        "create_date": t.member_create_date,
                        "fetched_message_id": seen,
                        "id": t.member_id,
                        "isTyping": t.is_typing,
                        "last_seen_dt": t.now,
                        "persona": {"id": p.partner_id, "type": "partner"},
                        "seen_message_id": seen,
                        "thread": {"id": t.channel_id, "model": self.chat_model()},
                    }],
                    "res.partner": [{
                        "active": true,
                        "email": p.email,
                        "id": p.partner_id,
                        "im_status": p.im_status,
                        "isInternalUser": p.internal,
                        "is_company": false,
                        "name": p.name,
                        "userId": p.uid_or_false(),
                        "write_date": p.write_date,
                    }],
                }),
            ),
            OdooVersion::V19 => {
                let mut payload = json!({
                    "discuss.channel.member": [{
                        "channel_id": {"id": t.channel_id, "model": self.chat_model()},
                        "create_date": t.member_create_date,
                        "fetched_message_id": seen,
                        "id": t.member_id,
                        "isTyping": t.is_typing,
                        "is_typing_dt": t.now,
                        "last_seen_dt": t.now,
                        "partner_id": p.partner_id,
                        "seen_message_id": seen,
                    }],
                    "res.partner": [{
                        "active": true,
                        "avatar_128_access_token": fake_token(p.partner_id, 1),
                        "email": p.email,
                        "id": p.partner_id,
                        "im_status": p.im_status,
                        "im_status_access_token": fake_token(p.partner_id, 2),
                        "is_company": false,
                        "main_user_id": p.uid_or_false(),
                        "mention_token": fake_token(p.partner_id, 3),
                        "name": p.name,
                        "write_date": p.write_date,
                    }],
                });
                if let Some(uid) = p.uid {
                    payload["res.users"] = json!([{"id": uid, "share": !p.internal}]);
                }
                Note::new(chat, "mail.record/insert", payload)
            }
        }
    }

    /// A status change pushed on the person's presence channel (late 17, 18, 19); `None` where
    /// presence is only pulled (16, early 17). `presence_status` is the connection's state,
    /// `im_status` what others see (19: a manual status wins over it).
    pub fn presence_push(
        self,
        partner_id: i64,
        presence_status: &str,
        im_status: &str,
    ) -> Option<Note> {
        let payload = match self {
            OdooVersion::V16 | OdooVersion::V17Early => return None,
            OdooVersion::V17Late => json!({
                "presence_status": presence_status, "im_status": im_status, "partner_id": partner_id,
            }),
            OdooVersion::V18 => json!({"im_status": im_status, "partner_id": partner_id}),
            OdooVersion::V19 => json!({
                "presence_status": presence_status, "im_status": im_status,
                "guest_id": false, "partner_id": partner_id,
            }),
        };
        Some(Note::new(
            To::Presence(partner_id),
            "bus.bus/im_status_updated",
            payload,
        ))
    }

    /// 19's `/mail/set_manual_im_status` announcement (a different shape: `debounce`).
    pub fn manual_status_push(self, partner_id: i64, im_status: &str) -> Option<Note> {
        (self == OdooVersion::V19).then(|| {
            Note::new(
                To::Presence(partner_id),
                "bus.bus/im_status_updated",
                json!({"debounce": false, "im_status": im_status, "partner_id": partner_id}),
            )
        })
    }

    /// The pull answer to `update_presence` on 16 and early 17: the statuses of the partners
    /// the client asked about, on the asker's own partner channel. `None` on later versions
    /// (and when the client asked for no partners at all).
    pub fn presence_pull(
        self,
        asker_partner: i64,
        statuses: &[(i64, &str)],
        asked: bool,
    ) -> Option<Note> {
        if !asked {
            return None;
        }
        let to = To::Partner(asker_partner);
        match self {
            OdooVersion::V16 => {
                let partners: Vec<Value> = statuses
                    .iter()
                    .map(|(id, s)| json!({"id": id, "im_status": s}))
                    .collect();
                Some(Note::new(
                    to,
                    "bus/im_status",
                    json!({"partners": partners}),
                ))
            }
            OdooVersion::V17Early => {
                let personas: Vec<Value> = statuses
                    .iter()
                    .map(|(id, s)| json!({"id": id, "im_status": s, "type": "partner"}))
                    .collect();
                Some(Note::new(
                    to,
                    "mail.record/insert",
                    json!({"Persona": personas}),
                ))
            }
            _ => None,
        }
    }

    /// `session_info.user_settings` (and the settings a `set_res_users_settings` compares
    /// against), as each version formats them; `None` on 16 (no such key).
    pub fn user_settings(self, id: i64, uid: i64) -> Option<Value> {
        let common = |extra: Value| {
            let mut v = json!({
                "id": id, "user_id": {"id": uid},
                "is_discuss_sidebar_category_channel_open": true,
                "is_discuss_sidebar_category_chat_open": true,
                "push_to_talk_key": false, "use_push_to_talk": false, "voice_active_duration": 200,
            });
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        };
        match self {
            OdooVersion::V16 => None,
            OdooVersion::V17Early | OdooVersion::V17Late => {
                Some(common(json!({"volume_settings_ids": [["ADD", []]]})))
            }
            OdooVersion::V18 => Some(common(json!({
                "channel_notifications": false, "mute_until_dt": false, "volumes": [["ADD", []]],
            }))),
            OdooVersion::V19 => Some(common(json!({
                "embedded_actions_config_ids": {}, "homemenu_config": false,
                "color_scheme": "system", "channel_notifications": false,
                "volumes": [["ADD", []]],
            }))),
        }
    }

    /// 19's `session_info.storeData`: ids instead of nested personas, tokens, `res.users`.
    pub fn store_data_19(
        self,
        me: &Person,
        odoobot: &Person,
        is_admin: bool,
        settings: Value,
    ) -> Value {
        let me_uid = me.uid.unwrap_or_default();
        json!({
            "Store": {
                "action_discuss_id": 109,
                "channel_types_with_seen_infos": ["chat", "group"],
                "hasCannedResponses": true,
                "hasGifPickerFeature": false,
                "hasLinkPreviewFeature": true,
                "hasMessageTranslationFeature": false,
                "internalUserGroupId": 1,
                "mt_comment": 1,
                "mt_note": 2,
                "odoobot": odoobot.partner_id,
                "self_partner": me.partner_id,
                "settings": settings,
            },
            "res.partner": [
                {
                    "active": false,
                    "avatar_128_access_token": fake_token(odoobot.partner_id, 1),
                    "email": odoobot.email,
                    "id": odoobot.partner_id,
                    "im_status": "bot",
                    "im_status_access_token": fake_token(odoobot.partner_id, 2),
                    "is_company": false,
                    "main_user_id": 1,
                    "name": "OdooBot",
                    "write_date": odoobot.write_date,
                },
                {
                    "active": true,
                    "avatar_128_access_token": fake_token(me.partner_id, 1),
                    "id": me.partner_id,
                    "im_status": me.im_status,
                    "im_status_access_token": fake_token(me.partner_id, 2),
                    "main_user_id": me_uid,
                    "name": me.name,
                    "write_date": me.write_date,
                },
            ],
            "res.users": [
                {"id": 1, "share": false},
                {
                    "id": me_uid, "is_admin": is_admin, "notification_type": "email",
                    "share": !me.internal,
                    "signature": ["markup", format!("<div>{}</div>", me.name)],
                },
            ],
        })
    }

    /// `session_info` values that differ by version only (not by user): 16's companies are
    /// flat; 19 names the currency and gives each company its currency.
    pub fn session_info_constant(self, key: &str) -> Option<Value> {
        match (self, key) {
            (OdooVersion::V19, "currencies") => Some(
                json!({"1": {"name": "USD", "symbol": "$", "position": "before", "digits": [69, 2]}}),
            ),
            (OdooVersion::V16, "user_companies") => Some(json!({
                "current_company": 1,
                "allowed_companies": {"1": {"id": 1, "name": "YourCompany", "sequence": 0}},
            })),
            (OdooVersion::V19, "user_companies") => Some(json!({
                "current_company": 1,
                "allowed_companies": {"1": {"id": 1, "name": "YourCompany", "sequence": 0, "child_ids": [], "parent_id": false, "currency_id": 1}},
                "disallowed_ancestor_companies": {},
            })),
            _ => None,
        }
    }

    /// `res.users.settings.set_res_users_settings` echo on the user's own partner channel:
    /// `res.users.settings/insert` on 16, `res.users.settings` after; the payload is the
    /// changed settings plus `id` (just `{id}` when nothing changed: the harmless probe).
    pub fn settings_note(self, partner_id: i64, payload: Value) -> Note {
        let kind = if self == OdooVersion::V16 {
            "res.users.settings/insert"
        } else {
            "res.users.settings"
        };
        Note::new(To::Partner(partner_id), kind, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Person<'static> {
        Person {
            partner_id: 7,
            name: "Marc Demo",
            email: "mark.brown23@example.com",
            write_date: "2026-01-01 00:00:00",
            uid: Some(6),
            internal: true,
            im_status: "online",
        }
    }

    fn msg(temp: Option<&Value>) -> Msg<'_> {
        Msg {
            id: 18,
            channel_id: 1,
            channel_name: "general",
            author: demo(),
            member_id: Some(2),
            body: "<p>hi</p>".into(),
            message_type: "comment",
            subtype_xmlid: Some("mail.mt_comment"),
            parent_id: None,
            now: "2026-12-06 02:13:13",
            temporary_id: temp,
            silent: false,
            last_bus_id: 8,
        }
    }

    #[test]
    fn new_message_shapes_follow_the_captures() {
        let t = json!(0.01);
        let m = msg(Some(&t));
        let last = |v: OdooVersion| v.post_notifications(&m).pop().unwrap();
        let n16 = last(OdooVersion::V16);
        assert_eq!(n16.kind, "mail.channel/new_message");
        assert_eq!(
            n16.payload["message"]["author"],
            json!({"id": 7, "name": "Marc Demo"})
        );
        assert!(
            n16.payload["message"].get("temporary_id").is_none(),
            "16 echoes nothing"
        );
        assert_eq!(n16.payload["message"]["model"], "mail.channel");
        let n17 = last(OdooVersion::V17Early);
        assert_eq!(n17.kind, "discuss.channel/new_message");
        assert_eq!(n17.payload["message"]["temporary_id"], t);
        assert_eq!(n17.payload["message"]["author"]["user"]["id"], 6);
        let n19 = last(OdooVersion::V19);
        assert_eq!(
            n19.payload["data"]["mail.message"][0]["body"],
            json!(["markup", "<p>hi</p>"])
        );
        assert_eq!(n19.payload["data"]["res.partner"][0]["name"], "Marc Demo");
        assert_eq!(n19.payload["temporary_id"], t);
        let r19 = OdooVersion::V19.post_result(&m);
        assert_eq!(r19["message_id"], 18);
        assert_eq!(r19["store_data"]["mail.message"][0]["starred"], false);
        assert_eq!(OdooVersion::V17Late.post_result(&m)["temporary_id"], t);
        assert_eq!(
            OdooVersion::V18.post_result(&m)["mail.message"][0]["id"],
            18
        );
    }

    #[test]
    fn presence_shapes() {
        assert!(
            OdooVersion::V16
                .presence_push(7, "online", "online")
                .is_none()
        );
        assert_eq!(
            OdooVersion::V18
                .presence_push(7, "away", "away")
                .unwrap()
                .payload,
            json!({"im_status": "away", "partner_id": 7})
        );
        assert_eq!(
            OdooVersion::V19
                .presence_push(7, "online", "busy")
                .unwrap()
                .payload["guest_id"],
            false
        );
        let pull = OdooVersion::V16
            .presence_pull(3, &[(7, "online")], true)
            .unwrap();
        assert_eq!(pull.kind, "bus/im_status");
        assert_eq!(pull.to, To::Partner(3));
        assert!(
            OdooVersion::V18
                .presence_pull(3, &[(7, "online")], true)
                .is_none()
        );
        assert!(fake_token(7, 1).contains("o0x"));
        assert_eq!(fake_token(7, 1).split("o0x").next().unwrap().len(), 64);
    }
}
