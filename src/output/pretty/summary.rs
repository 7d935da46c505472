//! A short human summary of a notification, for the types a person tails for (chat messages,
//! presence, typing) in every version's shape (16's `mail.channel/*` and `bus/im_status`, 17's
//! `{id, message}`, `typing_status` and `Persona` inserts, 18's and 19's Stores); anything else is
//! shown as compact JSON.
//!
//! 18's and 19's shapes are read by the borrowing readers of [`super::store`]; the older shapes,
//! rarer on a busy server, through a `serde_json::Value` ([`super::legacy`]).
//!
//! Payloads are read in one pass with only the fields a line shows (see [`super::store`]), and
//! partner, guest and channel names are remembered from them (see [`super::names`]) so that
//! later lines can name who is online or where someone types.

use serde_json::value::RawValue;

use super::json::compact_into;
use super::line::{Line, Style};
use super::names::{Bounded, Names};
use super::store::{self, Persona};
use super::text::html_to_text_into;

/// Writes summaries. Owns the remembered names and the scratch text a line reuses, so a
/// summary allocates nothing once these have grown (a name seen for the first time excepted).
#[derive(Debug, Default)]
pub(super) struct Summarizer {
    names: Names,
    stripped: String,
    text: String,
}

impl Summarizer {
    /// Names known before any payload (tail's one batch read of the users' partners).
    pub fn learn_partners(&mut self, partners: &[(u64, String)]) {
        for (id, name) in partners {
            self.names.partners.learn(*id, name);
        }
    }

    /// Appends the summary of one notification to `line`.
    pub fn write(&mut self, kind: &str, payload: &RawValue, line: &mut Line<'_>) {
        let written = match kind {
            "discuss.channel/new_message" => {
                self.new_message(payload, line) || self.legacy(kind, payload, line)
            }
            "bus.bus/im_status_updated" | "odoo-bus/presence" => self.presence(payload, line),
            "mail.record/insert" => match self.insert(payload, line) {
                Insert::Written => true,
                Insert::NotTyping { legacy } => legacy && self.legacy(kind, payload, line),
            },
            "mail.channel/new_message"
            | "bus/im_status"
            | "mail.channel.member/typing_status"
            | "discuss.channel.member/typing_status" => self.legacy(kind, payload, line),
            _ => false,
        };
        // Known types with unexpected shapes fall back to JSON too.
        if !written {
            if compact_into(payload.get(), &mut self.text) {
                line.push(&[&self.text], Style::Plain);
            } else {
                line.push(&[payload.get()], Style::Plain);
            }
        }
    }

    /// `#general Marc Demo: hello`. False (nothing written) when the payload is not shaped so.
    fn new_message(&mut self, payload: &RawValue, line: &mut Line<'_>) -> bool {
        let Some(parsed) = store::new_message(payload, &mut self.names) else {
            return false;
        };
        let (Some(channel_id), Some(message)) =
            (parsed.channel.0, parsed.data.and_then(|d| d.message))
        else {
            return false;
        };
        // A message in a channel carries the channel's name as `record_name`; a name from a
        // `discuss.channel` record (this payload's or an earlier one) is preferred.
        if matches!(message.model.as_str(), None | Some("discuss.channel"))
            && let Some(name) = message.record_name.non_empty()
            && !self.names.channels.contains(channel_id)
        {
            self.names.channels.learn(channel_id, name);
        }
        push_channel(&self.names.channels, channel_id, line);
        line.push(&[" "], Style::Plain);
        match (&message.author, message.author_id.0) {
            (Some(author), _) if author.is_object => push_persona(&self.names, author, line),
            // 19: `author_id`, named by the Store's partners.
            (_, Some(id)) => push_named(&self.names.partners, "partner", id, line),
            // Messages from outside (email) have no author record, only `email_from`.
            _ => line.push(
                &[super::legacy::display_name(
                    message.email_from.as_str().unwrap_or("someone"),
                )],
                Style::Bold,
            ),
        }
        line.push(&[": "], Style::Plain);
        match &message.body.0 {
            Some(html) => html_to_text_into(html, &mut self.stripped, &mut self.text),
            None => self.text.clear(),
        }
        if !self.text.is_empty() {
            line.push(&[&self.text], Style::Plain);
        } else {
            let mut n = itoa::Buffer::new();
            match message.attachments.0 {
                Some(1) => line.push(&["(1 attachment)"], Style::Plain),
                Some(count) if count > 1 => {
                    line.push(&["(", n.format(count), " attachments)"], Style::Plain)
                }
                _ => line.push(&["(no text)"], Style::Plain),
            }
        }
        true
    }

    /// `Marc Demo is online` (`partner 7 is online` while the name is unknown).
    fn presence(&mut self, payload: &RawValue, line: &mut Line<'_>) -> bool {
        let Some(presence) = store::presence(payload) else {
            return false;
        };
        let Some(status) = presence.status.as_str() else {
            return false;
        };
        let (guest, id) = match (presence.partner.0, presence.guest.0) {
            (Some(id), _) => (false, id),
            (None, Some(id)) => (true, id),
            (None, None) => return false,
        };
        let (names, label) = if guest {
            (&self.names.guests, "guest")
        } else {
            (&self.names.partners, "partner")
        };
        push_named(names, label, id, line);
        line.push(&[" is ", status], Style::Plain);
        true
    }

    /// The older versions' shapes (see [`super::legacy`]); false when `payload` is not one.
    fn legacy(&mut self, kind: &str, payload: &RawValue, line: &mut Line<'_>) -> bool {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(payload.get()) else {
            return false;
        };
        let Some(summary) = super::legacy::summarize(kind, &value, &mut self.names) else {
            return false;
        };
        match summary {
            super::legacy::Summary::Message {
                channel,
                author,
                html,
            } => {
                push_channel(&self.names.channels, channel, line);
                line.push(&[" "], Style::Plain);
                line.push(&[&author], Style::Bold);
                line.push(&[": "], Style::Plain);
                html_to_text_into(&html, &mut self.stripped, &mut self.text);
                if self.text.is_empty() {
                    line.push(&["(no text)"], Style::Plain);
                } else {
                    line.push(&[&self.text], Style::Plain);
                }
            }
            super::legacy::Summary::Typing {
                who,
                channel,
                typing,
            } => {
                line.push(&[&who], Style::Bold);
                let verb = if typing {
                    " is typing in "
                } else {
                    " stopped typing in "
                };
                line.push(&[verb], Style::Plain);
                push_channel(&self.names.channels, channel, line);
            }
            super::legacy::Summary::Presence(changes) => {
                for (i, c) in changes.iter().enumerate() {
                    if i > 0 {
                        line.push(&["; "], Style::Plain);
                    }
                    let (names, label) = if c.guest {
                        (&self.names.guests, "guest")
                    } else {
                        (&self.names.partners, "partner")
                    };
                    push_named(names, label, c.id.unsigned_abs(), line);
                    line.push(&[" is ", &c.status], Style::Plain);
                }
            }
        }
        true
    }

    /// `Marc Demo is typing in #general` (a Store insert of a channel member with `isTyping`).
    /// Any other insert is shown as JSON, but its names are remembered.
    fn insert(&mut self, payload: &RawValue, line: &mut Line<'_>) -> Insert {
        let Some(parsed) = store::store(payload, &mut self.names) else {
            return Insert::NotTyping { legacy: true };
        };
        let not_typing = Insert::NotTyping {
            legacy: parsed.legacy_personas,
        };
        let Some(member) = parsed.typing else {
            return not_typing;
        };
        let Some(is_typing) = member.is_typing else {
            return not_typing;
        };
        match (&member.persona, member.partner_id.0) {
            (Some(persona), _) => push_persona(&self.names, persona, line),
            (None, Some(id)) => push_named(&self.names.partners, "partner", id, line),
            (None, None) => line.push(&["someone"], Style::Bold),
        }
        let verb = if is_typing {
            " is typing in "
        } else {
            " stopped typing in "
        };
        line.push(&[verb], Style::Plain);
        match member.channel() {
            Some(id) => push_channel(&self.names.channels, id, line),
            None => line.push(&["a channel"], Style::Bold),
        }
        Insert::Written
    }
}

/// What [`Summarizer::insert`] did.
enum Insert {
    Written,
    /// Not a typing member: nothing written. `legacy`: the payload may be one of the older
    /// shapes [`super::legacy`] reads (false when the Store was read and has no `Persona` key).
    NotTyping {
        legacy: bool,
    },
}

/// `#general`, or `#5` while the channel's name is unknown.
fn push_channel(channels: &Bounded, id: u64, line: &mut Line<'_>) {
    match channels.get(id) {
        Some(name) => line.push(&["#", name], Style::Bold),
        None => line.push(&["#", itoa::Buffer::new().format(id)], Style::Bold),
    }
}

/// The name of `{"id": N, "type": "partner"|"guest"}`, else `partner N` (`someone` without id).
fn push_persona(names: &Names, persona: &Persona<'_>, line: &mut Line<'_>) {
    let Some(id) = persona.id else {
        line.push(&["someone"], Style::Bold);
        return;
    };
    let known = if persona.is_guest() {
        &names.guests
    } else {
        &names.partners
    };
    push_named(known, persona.kind.as_str().unwrap_or("partner"), id, line);
}

fn push_named(names: &Bounded, label: &str, id: u64, line: &mut Line<'_>) {
    match names.get(id) {
        Some(name) => line.push(&[name], Style::Bold),
        None => line.push(&[label, " ", itoa::Buffer::new().format(id)], Style::Bold),
    }
}
