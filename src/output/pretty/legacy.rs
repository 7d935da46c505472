//! The shapes of the versions before 18, read from a `serde_json::Value`: 16's and 17's
//! `{id, message}` new messages (author `{id, name}`), their `*.member/typing_status`
//! (16: `{channel, persona: {partner}}`, 17: `{thread, persona}`), and presence as 16's
//! `bus/im_status` or early 17's `mail.record/insert {"Persona": …}` (read by
//! [`odoo_bus_core::odoo::version::presence_changes`]). Names seen are remembered in
//! [`super::names`]. Owns no output: [`super::summary`] writes the line.

use serde_json::Value;

use super::names::Names;
use odoo_bus_core::odoo::version::{PresenceChange, presence_changes};

/// What a line says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Summary {
    Message {
        channel: u64,
        author: String,
        html: String,
    },
    Typing {
        who: String,
        channel: u64,
        typing: bool,
    },
    Presence(Vec<PresenceChange>),
}

pub(super) fn summarize(kind: &str, v: &Value, names: &mut Names) -> Option<Summary> {
    if kind.ends_with("/new_message") {
        return message(v, names);
    }
    if kind.ends_with("/typing_status") {
        return typing(v, names);
    }
    let changes = presence_changes(kind, v);
    (!changes.is_empty()).then_some(Summary::Presence(changes))
}

fn id(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.get("id")?.as_u64())
}

fn message(v: &Value, names: &mut Names) -> Option<Summary> {
    let channel = id(v.get("id")?)?;
    let m = v.get("message")?;
    if let Some(name) = m.get("record_name").and_then(Value::as_str)
        && !names.channels.contains(channel)
    {
        names.channels.learn(channel, name);
    }
    let author = match m.get("author") {
        Some(a @ Value::Object(_)) => persona_name(a, names),
        _ => None,
    }
    .unwrap_or_else(|| {
        display_name(
            m.get("email_from")
                .and_then(Value::as_str)
                .unwrap_or("someone"),
        )
        .to_string()
    });
    let html = match m.get("body") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.last().and_then(Value::as_str).unwrap_or("").into(),
        _ => String::new(),
    };
    Some(Summary::Message {
        channel,
        author,
        html,
    })
}

/// The name of `{id, name}` (16's typing wraps it as `{partner: {…}}`), learned on the way.
fn persona_name(p: &Value, names: &mut Names) -> Option<String> {
    let p = p.get("partner").or_else(|| p.get("guest")).unwrap_or(p);
    let pid = p.get("id").and_then(Value::as_u64)?;
    let guest = p.get("type").and_then(Value::as_str) == Some("guest");
    let known = if guest {
        &mut names.guests
    } else {
        &mut names.partners
    };
    if let Some(name) = p.get("name").and_then(Value::as_str) {
        known.learn(pid, name);
    }
    Some(match known.get(pid) {
        Some(n) => n.to_string(),
        None => format!("{} {pid}", if guest { "guest" } else { "partner" }),
    })
}

fn typing(v: &Value, names: &mut Names) -> Option<Summary> {
    let typing = v.get("isTyping")?.as_bool()?;
    let channel = id(v.get("thread").or_else(|| v.get("channel"))?)?;
    let who = v
        .get("persona")
        .and_then(|p| persona_name(p, names))
        .unwrap_or_else(|| "someone".into());
    Some(Summary::Typing {
        who,
        channel,
        typing,
    })
}

/// `Marc Demo` out of `"Marc Demo" <mark@example.com>` (an `email_from`); the address itself
/// when there is no name.
pub(super) fn display_name(email_from: &str) -> &str {
    let s = email_from.trim();
    match s.find('<') {
        Some(at) if at > 0 => {
            let name = s[..at].trim().trim_matches('"').trim();
            if name.is_empty() { s } else { name }
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(
            display_name("\"Marc Demo\" <mark@example.com>"),
            "Marc Demo"
        );
        assert_eq!(display_name("Marc Demo <mark@example.com>"), "Marc Demo");
        assert_eq!(display_name("<mark@example.com>"), "<mark@example.com>");
        assert_eq!(display_name("mark@example.com"), "mark@example.com");
    }
}
