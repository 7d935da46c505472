//! The `mail`/`bus` business logic that produces notifications: posting in a discuss channel,
//! typing, presence. Shared by the HTTP routes, the websocket events and [`super::Control`], so a
//! test's `post_message` makes exactly the traffic a real `/mail/message/post` does.
//!
//! Shapes and order were measured on a real 18.0 (see /work/notes/raw/e_frames_full.txt): a post
//! emits, in id order, `last_interest_dt` on the channel, the author's own seen info on the
//! author's partner, `is_pinned` on the channel's `members` subchannel, then `new_message`.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::bus::Channel;
use super::model::{Db, ODOOBOT_PARTNER};
use super::state::Inner;
use super::time;

/// `AWAY_TIMER`: inactivity (ms) beyond which a user is "away".
pub const AWAY_AFTER_MS: f64 = 1_800_000.0;
/// Presences updated this recently are sent to a new subscriber ("missed presences").
pub const MISSED_PRESENCE_WINDOW: Duration = Duration::from_secs(2);

/// Block elements that, opening a body, keep it from being wrapped in `<p>`.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
];

/// What Odoo's `html` field sanitiser does to a posted body, as far as a client can see:
/// top-level text is wrapped in `<p>` (`hello` → `<p>hello</p>`), tags are kept, and text
/// characters that HTML needs escaped are escaped (`&` → `&amp;` unless it starts an entity).
pub fn sanitize_body(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(trimmed.len() + 7);
    let mut rest = trimmed;
    while let Some(c) = rest.chars().next() {
        let tag_start = c == '<'
            && rest[1..].starts_with(|n: char| n.is_ascii_alphabetic() || n == '/' || n == '!');
        if tag_start && let Some(end) = rest.find('>') {
            out.push_str(&rest[..=end]);
            rest = &rest[end + 1..];
            continue;
        }
        match c {
            '&' if is_entity(rest) => out.push('&'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    let opens_block = out.strip_prefix('<').is_some_and(|t| {
        let name: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        BLOCK_TAGS.contains(&name.to_ascii_lowercase().as_str())
    });
    if opens_block {
        out
    } else {
        format!("<p>{out}</p>")
    }
}

/// `&name;`, `&#123;` or `&#x1f;` at the start of `s`.
fn is_entity(s: &str) -> bool {
    let Some(end) = s.find(';') else { return false };
    let inner = &s[1..end];
    !inner.is_empty()
        && end <= 32
        && match inner.strip_prefix('#') {
            Some(num) => num
                .strip_prefix(['x', 'X'])
                .map_or(num.chars().all(|c| c.is_ascii_digit()), |hex| {
                    !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
                }),
            None => inner.chars().all(|c| c.is_ascii_alphanumeric()),
        }
}

/// The channel is not readable by the caller (Odoo raises NotFound, error code 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFound;

/// `post_data` after filtering, plus the request context bits that matter.
#[derive(Debug, Clone)]
pub struct PostData {
    pub body: String,
    pub message_type: String,
    pub subtype_xmlid: Option<String>,
    pub parent_id: Option<i64>,
    pub temporary_id: Option<Value>,
}

impl PostData {
    /// What the web client sends for a chat message.
    pub fn comment(body: &str) -> Self {
        PostData {
            body: body.to_string(),
            message_type: "comment".into(),
            subtype_xmlid: Some("mail.mt_comment".into()),
            parent_id: None,
            temporary_id: None,
        }
    }
}

fn thread_ref(model: &str, channel_id: i64) -> Value {
    json!({"id": channel_id, "model": model})
}

fn persona(partner_id: i64) -> Value {
    json!({"id": partner_id, "type": "partner"})
}

/// The author as a Store `res.partner` record.
fn partner_record(db: &Db, partner_id: i64) -> Value {
    let p = db.partners.get(&partner_id);
    let user = p.and_then(|p| p.user_id).and_then(|u| db.users.get(&u));
    json!({
        "id": partner_id,
        "isInternalUser": user.map(|u| u.internal).unwrap_or(false),
        "is_company": false,
        "name": p.map(|p| p.name.clone()).unwrap_or_default(),
        "userId": user.map(|u| Value::from(u.uid)).unwrap_or(Value::Bool(false)),
        "write_date": p.map(|p| p.write_date.clone()).unwrap_or_default(),
    })
}

/// `mail.message` as the Store serialises it; `for_http` adds the fields only the poster sees.
#[allow(clippy::too_many_arguments)]
fn message_record(
    db: &Db,
    model: &str,
    message_id: i64,
    channel_id: i64,
    channel_name: &str,
    author: i64,
    post: &PostData,
    now: &str,
    for_http: bool,
) -> Value {
    let p = db.partners.get(&author);
    let email_from = p
        .map(|p| format!("\"{}\" <{}>", p.name, p.email))
        .unwrap_or_default();
    let subtype = post.subtype_xmlid.as_deref().unwrap_or("mail.mt_note");
    let mut m = Map::new();
    m.insert("attachment_ids".into(), json!([]));
    m.insert("author".into(), persona(author));
    m.insert("body".into(), json!(sanitize_body(&post.body)));
    m.insert("create_date".into(), json!(now));
    m.insert("date".into(), json!(now));
    m.insert("default_subject".into(), json!(channel_name));
    m.insert("email_from".into(), json!(email_from));
    m.insert("id".into(), json!(message_id));
    m.insert("is_discussion".into(), json!(subtype == "mail.mt_comment"));
    m.insert("is_note".into(), json!(subtype == "mail.mt_note"));
    m.insert("linkPreviews".into(), json!([]));
    m.insert("message_type".into(), json!(post.message_type));
    m.insert("model".into(), json!(model));
    m.insert("notifications".into(), json!([]));
    m.insert(
        "parentMessage".into(),
        post.parent_id
            .map(|id| json!({"id": id}))
            .unwrap_or(Value::Bool(false)),
    );
    m.insert("pinned_at".into(), Value::Bool(false));
    m.insert("reactions".into(), json!([]));
    m.insert("recipients".into(), json!([]));
    m.insert("record_name".into(), json!(channel_name));
    m.insert("res_id".into(), json!(channel_id));
    m.insert("scheduledDatetime".into(), Value::Bool(false));
    m.insert("subject".into(), Value::Bool(false));
    m.insert("subtype_description".into(), Value::Bool(false));
    m.insert("thread".into(), thread_ref(model, channel_id));
    m.insert("write_date".into(), json!(now));
    if for_http {
        m.insert("needaction".into(), Value::Bool(false));
        m.insert("starred".into(), Value::Bool(false));
        m.insert("trackingValues".into(), json!([]));
    }
    Value::Object(m)
}

/// Post in a discuss channel as `author_uid`; returns the Store the HTTP route answers with.
pub fn post_message(
    inner: &mut Inner,
    author_uid: i64,
    channel_id: i64,
    post: &PostData,
) -> Result<Value, NotFound> {
    if !inner.db.can_read_channel(Some(author_uid), channel_id) {
        return Err(NotFound);
    }
    let db = &mut inner.db;
    let author = db.partner_of(author_uid).ok_or(NotFound)?;
    let channel = db.channels.get(&channel_id).ok_or(NotFound)?.clone();
    let message_id = db.next_message;
    db.next_message += 1;
    if let Some(c) = db.channels.get_mut(&channel_id) {
        c.last_message_id = Some(message_id);
    }
    let now = time::odoo_now();
    let model = inner.version.chat_model();
    let db = &mut inner.db;
    let thread = json!([{"id": channel_id, "model": model, "module_icon": "/mail/static/description/icon.png"}]);
    let store = |for_http: bool| {
        json!({
            "mail.message": [message_record(db, model, message_id, channel_id, &channel.name, author, post, &now, for_http)],
            "mail.thread": thread,
            "res.partner": [partner_record(db, author)],
        })
    };
    let bus_store = store(false);
    let http_store = store(true);
    let author_name = db.partner_name(author);
    let last_bus_id = db.bus.last_allocated();

    inner.send(
        Channel::discuss(channel_id),
        "mail.record/insert",
        &json!({"discuss.channel": [{"id": channel_id, "last_interest_dt": now}]}),
    );
    if let Some(member) = channel.member_of(author) {
        inner.send(
            Channel::partner(author),
            "mail.record/insert",
            &json!({
                "discuss.channel.member": [{
                    "id": member.id,
                    "message_unread_counter": 0,
                    "message_unread_counter_bus_id": last_bus_id,
                    "new_message_separator": message_id + 1,
                    "persona": persona(author),
                    "syncUnread": true,
                    "thread": thread_ref(model, channel_id),
                }],
                "res.partner": [{"id": author, "name": author_name}],
            }),
        );
    }
    inner.send(
        Channel::members(channel_id),
        "mail.record/insert",
        &json!({"discuss.channel": [{"id": channel_id, "is_pinned": true}]}),
    );
    let mut payload = json!({"data": bus_store, "id": channel_id});
    if let Some(t) = &post.temporary_id {
        payload["temporary_id"] = t.clone();
    }
    inner.send(
        Channel::discuss(channel_id),
        "discuss.channel/new_message",
        &payload,
    );
    Ok(http_store)
}

/// `discuss.channel.member._notify_typing`: members only.
pub fn typing(
    inner: &mut Inner,
    uid: i64,
    channel_id: i64,
    is_typing: bool,
) -> Result<u64, NotFound> {
    if !inner.db.can_read_channel(Some(uid), channel_id) {
        return Err(NotFound);
    }
    let partner = inner.db.partner_of(uid).ok_or(NotFound)?;
    let member = inner
        .db
        .channels
        .get(&channel_id)
        .and_then(|c| c.member_of(partner))
        .cloned()
        .ok_or(NotFound)?;
    let db = &inner.db;
    let seen = db
        .channels
        .get(&channel_id)
        .and_then(|c| c.last_message_id)
        .map_or(Value::Bool(false), Value::from);
    let p = db.partners.get(&partner);
    let user = db.users.get(&uid);
    let status = db.presence.get(&partner).map_or("offline", |pr| pr.status);
    // Measured on a real 18.0: the member with its seen state, the partner in full.
    let payload = json!({
        "discuss.channel.member": [{
            "create_date": member.create_date,
            "fetched_message_id": seen,
            "id": member.id,
            "isTyping": is_typing,
            "last_seen_dt": time::odoo_now(),
            "persona": persona(partner),
            "seen_message_id": seen,
            "thread": thread_ref(inner.version.chat_model(), channel_id),
        }],
        "res.partner": [{
            "active": true,
            "email": p.map(|p| p.email.clone()).unwrap_or_default(),
            "id": partner,
            "im_status": status,
            "isInternalUser": user.is_some_and(|u| u.internal),
            "is_company": false,
            "name": p.map(|p| p.name.clone()).unwrap_or_default(),
            "userId": uid,
            "write_date": p.map(|p| p.write_date.clone()).unwrap_or_default(),
        }],
    });
    Ok(inner.send(Channel::discuss(channel_id), "mail.record/insert", &payload))
}

/// Set a partner's status; a real change is announced on `(partner, "presence")`.
pub fn set_status(inner: &mut Inner, partner_id: i64, status: &'static str) -> Option<u64> {
    let now = Instant::now();
    let previous = inner.db.presence.get(&partner_id).map(|p| p.status);
    let entry = inner
        .db
        .presence
        .entry(partner_id)
        .or_insert(super::model::Presence {
            status,
            last_poll: now,
        });
    entry.status = status;
    entry.last_poll = now;
    if previous == Some(status) || (previous.is_none() && status == "offline") {
        return None;
    }
    Some(inner.send(
        Channel::presence(partner_id),
        "bus.bus/im_status_updated",
        &json!({"im_status": status, "partner_id": partner_id}),
    ))
}

/// `update_presence(inactivity_period)`: online, or away after 30 minutes of inactivity.
pub fn update_presence(inner: &mut Inner, partner_id: i64, inactivity_ms: f64) -> Option<u64> {
    let status = if inactivity_ms > AWAY_AFTER_MS {
        "away"
    } else {
        "online"
    };
    set_status(inner, partner_id, status)
}

/// A closing socket sets its user offline (`_on_websocket_closed`); nothing if never present.
pub fn go_offline(inner: &mut Inner, partner_id: i64) -> Option<u64> {
    let present = inner.db.presence.get_mut(&partner_id)?;
    if present.status == "offline" {
        return None;
    }
    present.status = "offline";
    Some(inner.send(
        Channel::presence(partner_id),
        "bus.bus/im_status_updated",
        &json!({"im_status": "offline", "partner_id": partner_id}),
    ))
}

/// After a subscribe: presences of the requested partners updated within the last 2 s are
/// re-sent to the caller's own partner, so a status change during the connection is not lost.
pub fn send_missed_presences(inner: &mut Inner, caller_partner: i64, partners: &[i64]) {
    let now = Instant::now();
    let missed: Vec<(i64, &'static str)> = partners
        .iter()
        .filter_map(|p| inner.db.presence.get(p).map(|pr| (*p, pr)))
        .filter(|(_, pr)| now.saturating_duration_since(pr.last_poll) < MISSED_PRESENCE_WINDOW)
        .map(|(p, pr)| (p, pr.status))
        .collect();
    for (partner, status) in missed {
        inner.send(
            Channel::partner(caller_partner),
            "bus.bus/im_status_updated",
            &json!({"im_status": status, "partner_id": partner}),
        );
    }
}

/// The Store describing the user, as `session_info.storeData` carries it.
pub fn store_data(db: &Db, uid: i64) -> Value {
    let Some(user) = db.users.get(&uid) else {
        return json!({});
    };
    let partner = db.partners.get(&user.partner_id);
    let settings = json!({
        "id": uid - 1, "user_id": {"id": uid},
        "is_discuss_sidebar_category_channel_open": true,
        "is_discuss_sidebar_category_chat_open": true,
        "push_to_talk_key": false, "use_push_to_talk": false, "voice_active_duration": 200,
        "channel_notifications": false, "mute_until_dt": false, "volumes": [["ADD", []]],
    });
    let odoobot = db.partners.get(&ODOOBOT_PARTNER);
    json!({
        "Store": {
            "action_discuss_id": 109,
            "channel_types_with_seen_infos": ["chat", "group"],
            "hasGifPickerFeature": false,
            "hasLinkPreviewFeature": true,
            "hasMessageTranslationFeature": false,
            "internalUserGroupId": super::model::GROUP_USER,
            "mt_comment_id": 1,
            "odoobot": persona(ODOOBOT_PARTNER),
            "self": persona(user.partner_id),
            "settings": settings,
        },
        "res.partner": [
            {
                "active": false, "email": odoobot.map(|p| p.email.clone()).unwrap_or_default(),
                "id": ODOOBOT_PARTNER, "im_status": "bot", "isInternalUser": true, "is_company": false,
                "name": "OdooBot", "userId": 1,
                "write_date": odoobot.map(|p| p.write_date.clone()).unwrap_or_default(),
            },
            {
                "active": true, "id": user.partner_id, "isAdmin": user.is_system(),
                "isInternalUser": user.internal,
                "name": partner.map(|p| p.name.clone()).unwrap_or_default(),
                "notification_preference": "email", "userId": uid,
                "write_date": partner.map(|p| p.write_date.clone()).unwrap_or_default(),
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_sanitised_like_odoo() {
        // Measured: "hello" → "<p>hello</p>"; "café 😀 <b>x</b> & y" keeps the tag, escapes "&".
        assert_eq!(sanitize_body("hello"), "<p>hello</p>");
        assert_eq!(
            sanitize_body("café 😀 <b>x</b> & y"),
            "<p>café 😀 <b>x</b> &amp; y</p>"
        );
        assert_eq!(sanitize_body("<p>hello</p>"), "<p>hello</p>");
        assert_eq!(
            sanitize_body("a &amp; b &#39; c"),
            "<p>a &amp; b &#39; c</p>"
        );
        assert_eq!(sanitize_body("1 < 2 > 0"), "<p>1 &lt; 2 &gt; 0</p>");
        assert_eq!(sanitize_body("line<br>next"), "<p>line<br>next</p>");
        assert_eq!(sanitize_body("  "), "");
    }
}
