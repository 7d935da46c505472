//! A short human summary of a notification, for the types a person tails for (chat messages,
//! presence, typing); anything else is shown as compact JSON.
//!
//! Pretty output is for eyes, not throughput, so this parses the payload into a `Value`.

use serde_json::Value;
use serde_json::value::RawValue;

use super::text::html_to_text;

/// How a piece of the summary is emphasised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Emphasis {
    Normal,
    Strong,
}

pub(super) type Summary = Vec<(String, Emphasis)>;

pub(super) fn summarize(kind: &str, payload: &RawValue) -> Summary {
    let Ok(value) = serde_json::from_str::<Value>(payload.get()) else {
        return vec![(payload.get().to_string(), Emphasis::Normal)];
    };
    let special = match kind {
        "discuss.channel/new_message" => new_message(&value),
        "bus.bus/im_status_updated" => presence(&value),
        "mail.record/insert" => typing(&value),
        _ => None,
    };
    // serde_json's Display is compact JSON, with `\u` escapes decoded.
    special.unwrap_or_else(|| vec![(value.to_string(), Emphasis::Normal)])
}

/// `#general Marc Demo: hello`
fn new_message(payload: &Value) -> Option<Summary> {
    let channel_id = payload.get("id")?.as_u64()?;
    let data = payload.get("data")?;
    let message = records(data.get("mail.message")?).next()?;
    let channel = channel_name(data, channel_id)
        .or_else(|| {
            let model = message.get("model").and_then(Value::as_str);
            matches!(model, None | Some("discuss.channel"))
                .then(|| message.get("record_name").and_then(Value::as_str))
                .flatten()
                .filter(|name| !name.is_empty())
        })
        .map_or_else(|| format!("#{channel_id}"), |name| format!("#{name}"));
    let author = match message.get("author") {
        Some(author @ Value::Object(_)) => persona_name(data, author),
        // Messages from outside (email) have no author record, only `email_from`.
        _ => message
            .get("email_from")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| "someone".to_string()),
    };
    let body = message.get("body").map(body_text).unwrap_or_default();
    let body = if !body.is_empty() {
        body
    } else {
        match message
            .get("attachment_ids")
            .and_then(Value::as_array)
            .map(Vec::len)
        {
            Some(1) => "(1 attachment)".to_string(),
            Some(n) if n > 1 => format!("({n} attachments)"),
            _ => "(no text)".to_string(),
        }
    };
    Some(vec![
        (channel, Emphasis::Strong),
        (" ".into(), Emphasis::Normal),
        (author, Emphasis::Strong),
        (": ".into(), Emphasis::Normal),
        (body, Emphasis::Normal),
    ])
}

/// `partner 7 is online`
fn presence(payload: &Value) -> Option<Summary> {
    let status = payload.get("im_status")?.as_str()?;
    let who = if let Some(id) = payload.get("partner_id").and_then(Value::as_u64) {
        format!("partner {id}")
    } else {
        format!("guest {}", payload.get("guest_id")?.as_u64()?)
    };
    Some(vec![
        (who, Emphasis::Strong),
        (format!(" is {status}"), Emphasis::Normal),
    ])
}

/// `Marc Demo is typing in #1` (a Store insert of a channel member with `isTyping`).
fn typing(payload: &Value) -> Option<Summary> {
    let member =
        records(payload.get("discuss.channel.member")?).find(|m| m.get("isTyping").is_some())?;
    let is_typing = member.get("isTyping")?.as_bool()?;
    let who = member
        .get("persona")
        .map_or_else(|| "someone".to_string(), |p| persona_name(payload, p));
    let channel_id = member
        .get("thread")
        .or_else(|| member.get("channel_id"))
        .and_then(|c| c.as_u64().or_else(|| c.get("id")?.as_u64()));
    let where_ = match channel_id {
        Some(id) => format!("#{}", channel_name(payload, id).unwrap_or(&id.to_string())),
        None => "a channel".to_string(),
    };
    let verb = if is_typing {
        " is typing in "
    } else {
        " stopped typing in "
    };
    Some(vec![
        (who, Emphasis::Strong),
        (verb.into(), Emphasis::Normal),
        (where_, Emphasis::Strong),
    ])
}

/// The records of a Store entry: a list, or one record for singleton models.
fn records(entry: &Value) -> impl Iterator<Item = &Value> {
    let (list, single) = match entry {
        Value::Array(list) => (list.as_slice(), None),
        record @ Value::Object(_) => (&[][..], Some(record)),
        _ => (&[][..], None),
    };
    list.iter().chain(single)
}

fn find_record<'v>(store: &'v Value, model: &str, id: u64) -> Option<&'v Value> {
    records(store.get(model)?).find(|r| r.get("id").and_then(Value::as_u64) == Some(id))
}

fn channel_name(store: &Value, id: u64) -> Option<&str> {
    find_record(store, "discuss.channel", id)?
        .get("name")?
        .as_str()
        .filter(|name| !name.is_empty())
}

/// The name of `{"id": N, "type": "partner"|"guest"}` from the Store it came with, else
/// `partner N`.
fn persona_name(store: &Value, persona: &Value) -> String {
    let kind = persona
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("partner");
    let Some(id) = persona.get("id").and_then(Value::as_u64) else {
        return "someone".to_string();
    };
    let model = if kind == "guest" {
        "mail.guest"
    } else {
        "res.partner"
    };
    find_record(store, model, id)
        .and_then(|r| r.get("name")?.as_str())
        .filter(|name| !name.is_empty())
        .map_or_else(|| format!("{kind} {id}"), str::to_string)
}

/// A body is an HTML string, or `["markup", html]` in some builds.
fn body_text(body: &Value) -> String {
    match body {
        Value::String(html) => html_to_text(html),
        Value::Array(parts) => match parts.as_slice() {
            [Value::String(tag), Value::String(html)] if tag == "markup" => html_to_text(html),
            _ => String::new(),
        },
        _ => String::new(),
    }
}
