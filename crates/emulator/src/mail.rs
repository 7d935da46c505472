//! The `mail`/`bus` business logic that produces notifications: posting in a discuss channel,
//! typing, presence. Shared by the HTTP routes, the websocket events and [`super::Control`], so a
//! test's `post_message` makes exactly the traffic a real `/mail/message/post` does.
//!
//! Shapes and order were measured on a real 18.0 (raw captures kept outside the repository): a post
//! emits, in id order, `last_interest_dt` on the channel, the author's own seen info on the
//! author's partner, `is_pinned` on the channel's `members` subchannel, then `new_message`.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::bus::Channel;
use super::model::{Db, ODOOBOT_PARTNER};
use super::personality::{Msg, Note, OdooVersion, PULL_OFFLINE_AFTER, Person, To, Typing};
use super::state::Inner;
use super::time;
use super::ws::events::PresenceUpdate;

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
    /// 19's `silent` (server-side posts only; `/mail/message/post` cannot set it).
    pub silent: bool,
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
            silent: false,
        }
    }
}

fn persona(partner_id: i64) -> Value {
    json!({"id": partner_id, "type": "partner"})
}

/// A partner as the version's payloads describe them.
fn person(db: &Db, version: OdooVersion, partner_id: i64) -> Person<'_> {
    let p = db.partners.get(&partner_id);
    let uid = p.and_then(|p| p.user_id);
    let user = uid.and_then(|u| db.users.get(&u));
    let text = |f: fn(&super::model::Partner) -> &str| p.map(f).unwrap_or("");
    Person {
        partner_id,
        name: text(|p| &p.name),
        email: text(|p| &p.email),
        write_date: text(|p| &p.write_date),
        uid,
        internal: user.is_some_and(|u| u.internal),
        im_status: im_status(db, version, partner_id, Instant::now()),
    }
}

/// What others see of a partner now: offline without a presence; on 16 and early 17 also once
/// the presence is older than [`PULL_OFFLINE_AFTER`]; on 19 a manual status wins while connected.
/// [`im_status`] for `res.partner`'s field (the emulator's `call_kw`).
pub(crate) fn shown_status(
    db: &Db,
    version: OdooVersion,
    partner_id: i64,
    now: Instant,
) -> &'static str {
    im_status(db, version, partner_id, now)
}

fn im_status(db: &Db, version: OdooVersion, partner_id: i64, now: Instant) -> &'static str {
    let Some(pr) = db.presence.get(&partner_id) else {
        return "offline";
    };
    if version.presence_is_pulled()
        && now.saturating_duration_since(pr.last_poll) > PULL_OFFLINE_AFTER
    {
        return "offline";
    }
    match (pr.status, pr.manual) {
        ("offline", _) => "offline",
        (_, Some(manual)) => manual,
        (status, None) => status,
    }
}

/// Map a personality's target onto a bus channel.
fn channel_of(to: To) -> Channel {
    match to {
        To::Chat(id) => Channel::discuss(id),
        To::ChatSub(id) => Channel::members(id),
        To::Partner(id) => Channel::partner(id),
        To::Presence(id) => Channel::presence(id),
    }
}

/// Send what the personality decided; returns the last id.
fn send_notes(inner: &mut Inner, notes: Vec<Note>) -> Option<u64> {
    let mut last = None;
    for note in notes {
        let channel = match (note.to, inner.version.chat_subchannel()) {
            (To::ChatSub(id), Some(sub)) if sub != "members" => {
                Channel::Sub(super::bus::DISCUSS_CHANNEL, id, sub)
            }
            (to, _) => channel_of(to),
        };
        last = Some(inner.send(channel, note.kind, &note.payload));
    }
    last
}

/// Post in a chat channel as `author_uid`; returns the new message's id and what the HTTP
/// route answers (the version's post result).
pub fn post_message(
    inner: &mut Inner,
    author_uid: i64,
    channel_id: i64,
    post: &PostData,
) -> Result<(i64, Value), NotFound> {
    if !inner.db.can_read_channel(Some(author_uid), channel_id) {
        return Err(NotFound);
    }
    let version = inner.version;
    let db = &mut inner.db;
    let author = db.partner_of(author_uid).ok_or(NotFound)?;
    let channel = db.channels.get(&channel_id).ok_or(NotFound)?.clone();
    let message_id = db.next_message;
    db.next_message += 1;
    if let Some(c) = db.channels.get_mut(&channel_id) {
        c.last_message_id = Some(message_id);
    }
    let now = time::odoo_now();
    let db = &inner.db;
    let msg = Msg {
        id: message_id,
        channel_id,
        channel_name: &channel.name,
        author: person(db, version, author),
        member_id: channel.member_of(author).map(|m| m.id),
        body: sanitize_body(&post.body),
        message_type: &post.message_type,
        // `message_post` without a subtype posts a note.
        subtype_xmlid: Some(post.subtype_xmlid.as_deref().unwrap_or("mail.mt_note")),
        parent_id: post.parent_id,
        now: &now,
        temporary_id: post.temporary_id.as_ref(),
        silent: post.silent,
        last_bus_id: db.bus.last_allocated(),
    };
    let notes = version.post_notifications(&msg);
    let result = version.post_result(&msg);
    send_notes(inner, notes);
    Ok((message_id, result))
}

/// `_notify_typing`: members only.
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
    let channel = inner.db.channels.get(&channel_id).ok_or(NotFound)?;
    let member = channel.member_of(partner).cloned().ok_or(NotFound)?;
    let now = time::odoo_now();
    let version = inner.version;
    let note = version.typing_note(&Typing {
        channel_id,
        member_id: member.id,
        member_create_date: &member.create_date,
        last_message_id: channel.last_message_id,
        who: person(&inner.db, version, partner),
        is_typing,
        now: &now,
    });
    send_notes(inner, vec![note]).ok_or(NotFound)
}

/// Set a partner's connection status; a change of what others see is pushed on the presence
/// channel where the version pushes presence at all.
pub fn set_status(inner: &mut Inner, partner_id: i64, status: &'static str) -> Option<u64> {
    let now = Instant::now();
    let version = inner.version;
    let before = inner
        .db
        .presence
        .contains_key(&partner_id)
        .then(|| im_status(&inner.db, version, partner_id, now));
    let previous = inner.db.presence.get(&partner_id).map(|p| p.status);
    let entry = inner
        .db
        .presence
        .entry(partner_id)
        .or_insert(super::model::Presence {
            status,
            last_poll: now,
            manual: None,
        });
    entry.status = status;
    entry.last_poll = now;
    if previous == Some(status) || (previous.is_none() && status == "offline") {
        return None;
    }
    let after = im_status(&inner.db, version, partner_id, now);
    if before == Some(after) && version != OdooVersion::V19 {
        return None;
    }
    let note = version.presence_push(partner_id, status, after)?;
    send_notes(inner, vec![note])
}

/// 19's `/mail/set_manual_im_status`: `online` clears the manual status; the announcement
/// carries what others now see (a computed status after `online`, as measured).
pub fn set_manual_status(inner: &mut Inner, partner_id: i64, status: &str) -> Option<u64> {
    let manual: Option<&'static str> = match status {
        "away" => Some("away"),
        "busy" => Some("busy"),
        "offline" => Some("offline"),
        _ => None,
    };
    let version = inner.version;
    let entry = inner
        .db
        .presence
        .entry(partner_id)
        .or_insert(super::model::Presence {
            status: "offline",
            last_poll: Instant::now(),
            manual: None,
        });
    entry.manual = manual;
    let shown = im_status(&inner.db, version, partner_id, Instant::now());
    let note = version.manual_status_push(partner_id, shown)?;
    send_notes(inner, vec![note])
}

/// `update_presence(inactivity_period)`: online, or away after 30 minutes of inactivity. On 16
/// and early 17 presence only moves forward (an online user stays online: measured), and the
/// answer is the pull reply naming the partners the client asked about.
pub fn update_presence(inner: &mut Inner, partner_id: i64, update: &PresenceUpdate) -> Option<u64> {
    let version = inner.version;
    let now = Instant::now();
    let current = inner
        .db
        .presence
        .get(&partner_id)
        .filter(|p| {
            !version.presence_is_pulled()
                || now.saturating_duration_since(p.last_poll) <= PULL_OFFLINE_AFTER
        })
        .map(|p| p.status);
    let status = if update.inactivity_ms > AWAY_AFTER_MS
        && !(version.presence_is_pulled() && current == Some("online"))
    {
        "away"
    } else {
        "online"
    };
    let pushed = set_status(inner, partner_id, status);
    let asked = update.partners.clone();
    let statuses: Vec<(i64, &'static str)> = asked
        .iter()
        .flatten()
        .filter(|id| inner.db.partners.contains_key(id))
        .map(|id| (*id, im_status(&inner.db, version, *id, now)))
        .collect();
    match version.presence_pull(partner_id, &statuses, asked.is_some()) {
        Some(note) => send_notes(inner, vec![note]),
        None => pushed,
    }
}

/// A closing socket sets its user offline (`_on_websocket_closed`, late 17 on); nothing if
/// never present. 16 and early 17 let the presence age instead.
pub fn go_offline(inner: &mut Inner, partner_id: i64) -> Option<u64> {
    if !inner.version.offline_on_close() {
        return None;
    }
    let version = inner.version;
    let present = inner.db.presence.get_mut(&partner_id)?;
    if present.status == "offline" {
        return None;
    }
    present.status = "offline";
    let note = version.presence_push(partner_id, "offline", "offline")?;
    send_notes(inner, vec![note])
}

/// After a subscribe: presences of the requested partners updated within the last 2 s are
/// re-sent to the caller's own partner, so a status change during the connection is not lost.
pub fn send_missed_presences(inner: &mut Inner, caller_partner: i64, partners: &[i64]) {
    let now = Instant::now();
    let version = inner.version;
    let missed: Vec<(i64, &'static str)> = partners
        .iter()
        .filter_map(|p| inner.db.presence.get(p).map(|pr| (*p, pr)))
        .filter(|(_, pr)| now.saturating_duration_since(pr.last_poll) < MISSED_PRESENCE_WINDOW)
        .map(|(p, pr)| (p, pr.status))
        .collect();
    for (partner, status) in missed {
        let shown = im_status(&inner.db, version, partner, now);
        if let Some(mut note) = version.presence_push(partner, status, shown) {
            note.to = To::Partner(caller_partner);
            send_notes(inner, vec![note]);
        }
    }
}

/// `set_res_users_settings(new_settings)` on the caller's own settings: the changed known
/// settings plus `id` are echoed on the user's partner channel (`{id}` alone when nothing
/// changed); returns what the RPC answers (`None` on 16, the dict after).
pub fn set_user_settings(
    inner: &mut Inner,
    uid: i64,
    new_settings: &Map<String, Value>,
) -> Option<Value> {
    let version = inner.version;
    let partner = inner.db.partner_of(uid)?;
    let current = user_settings(&inner.db, version, uid).unwrap_or_else(|| json!({}));
    let mut payload = Map::new();
    for (k, v) in new_settings {
        if k != "id" && k != "user_id" && current.get(k).is_some_and(|old| old != v) {
            payload.insert(k.clone(), v.clone());
        }
    }
    payload.insert("id".into(), json!(inner.db.settings_id(uid)));
    let payload = Value::Object(payload);
    send_notes(inner, vec![version.settings_note(partner, payload.clone())]);
    (version != OdooVersion::V16).then_some(payload)
}

/// The user's settings as the version formats them (`None` on 16).
pub fn user_settings(db: &Db, version: OdooVersion, uid: i64) -> Option<Value> {
    version.user_settings(db.settings_id(uid), uid)
}

/// The Store describing the user, as `session_info.storeData` carries it (18, 19).
pub fn store_data(db: &Db, version: OdooVersion, uid: i64) -> Value {
    let Some(user) = db.users.get(&uid) else {
        return json!({});
    };
    let partner = db.partners.get(&user.partner_id);
    let settings = user_settings(db, version, uid).unwrap_or(Value::Null);
    if version == OdooVersion::V19 {
        return version.store_data_19(
            &person(db, version, user.partner_id),
            &person(db, version, ODOOBOT_PARTNER),
            user.is_system(),
            settings,
        );
    }
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
