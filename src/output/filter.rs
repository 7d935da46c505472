//! Which notifications to print: by type (`--type`, `--exclude-type`) and, best effort, by the
//! channel they belong to (`--only-channels`).
//!
//! The type filter runs on every notification, so it works on the borrowed type string with no
//! allocation. Channel attribution has to look into payloads (Odoo never says which channel a
//! notification came from, §4.1): it reads only the few types it knows how to attribute, and
//! only the fields it needs, borrowing from the payload.

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use odoo_bus_core::bus::channel::{ChannelName, PresenceModel};

/// One `--type` pattern: an exact type or a glob where `*` matches any run of characters
/// (including `/` and nothing at all).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// The literal pieces between the stars, and whether the pattern starts/ends with a star.
    Glob {
        pieces: Vec<String>,
        open_start: bool,
        open_end: bool,
    },
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty type pattern: give a type such as discuss.channel/new_message or a glob such as 'discuss.channel/*'".into());
        }
        if !text.contains('*') {
            return Ok(Pattern::Exact(text.to_string()));
        }
        Ok(Pattern::Glob {
            pieces: text
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            open_start: text.starts_with('*'),
            open_end: text.ends_with('*'),
        })
    }

    fn matches(&self, kind: &str) -> bool {
        match self {
            Pattern::Exact(exact) => exact == kind,
            Pattern::Glob {
                pieces,
                open_start,
                open_end,
            } => glob_matches(pieces, *open_start, *open_end, kind),
        }
    }
}

/// `*`-only glob matching: the first piece must start the text (unless the pattern starts with
/// `*`), the last must end it (unless it ends with `*`), the others appear in order in between.
/// Taking the leftmost occurrence of each middle piece is always right when `*` is the only
/// wildcard, so this never backtracks.
fn glob_matches(pieces: &[String], open_start: bool, open_end: bool, text: &str) -> bool {
    let mut rest = text;
    let mut middle = pieces;
    if !open_start && let Some((first, others)) = middle.split_first() {
        let Some(after) = rest.strip_prefix(first.as_str()) else {
            return false;
        };
        rest = after;
        middle = others;
    }
    let mut last = None;
    if !open_end && let Some((end, others)) = middle.split_last() {
        last = Some(end);
        middle = others;
    }
    for piece in middle {
        match rest.find(piece.as_str()) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    match last {
        Some(end) => rest.ends_with(end.as_str()),
        None => true,
    }
}

/// `--type` / `--exclude-type`: exclude wins; no include pattern means every type.
#[derive(Debug, Clone, Default)]
pub struct TypeFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl TypeFilter {
    /// Err on an empty pattern, with a message for the user.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        let parse_all = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(TypeFilter {
            include: parse_all(include)?,
            exclude: parse_all(exclude)?,
        })
    }

    /// Whether a notification of this type is printed.
    pub fn accepts(&self, kind: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(kind)))
            && !self.exclude.iter().any(|p| p.matches(kind))
    }

    /// True when every type passes (no pattern given), so callers can skip the check.
    pub fn accepts_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// `--only-channels`: keep the notifications attributable to one of the `--channel` strings.
///
/// Attributable (Odoo 18 shapes, §4.5/§7.2):
/// - `discuss.channel_<id>` (anywhere in the string, as the server reads it): `new_message` and
///   the other `discuss.channel/*` types by `payload.id` (or `payload.channel.id` for `joined`,
///   `payload.thread` for `transient_message`); `mail.record/insert` whose Store lists the channel
///   under `"discuss.channel"` or a member of it under `"discuss.channel.member"` (typing, unread
///   counters); `discuss.channel.member/fetched` by `channel_id`.
/// - `odoo-presence-res.partner_<id>` / `odoo-presence-mail.guest_<id>`:
///   `bus.bus/im_status_updated` by `partner_id` / `guest_id`.
///
/// Everything else (other string channels, inbox, settings, …) cannot be attributed and is left
/// out when the selector is in use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSelector {
    channels: Vec<u64>,
    partners: Vec<u64>,
    guests: Vec<u64>,
}

const CHANNEL_MODEL: &str = "discuss.channel";
/// Odoo 16's name for it.
const OLD_CHANNEL_MODEL: &str = "mail.channel";

impl ChannelSelector {
    /// Names are read by [`ChannelName::parse`], as the server reads them; a name it refuses
    /// (the subscription would be void anyway) attributes nothing.
    pub fn new(channels: &[String]) -> Self {
        let mut selector = ChannelSelector::default();
        for channel in channels {
            // `mail.channel_5` (16's name) and a bare id name a chat channel on every version.
            if !channel.starts_with("discuss.channel_")
                && let Some(id) = odoo_bus_core::odoo::version::chat_channel_id(channel)
            {
                selector.channels.push(id);
                continue;
            }
            match ChannelName::parse(channel) {
                Ok(ChannelName::Discuss { id }) => selector.channels.push(id),
                Ok(ChannelName::Presence {
                    model: PresenceModel::Partner,
                    id,
                    ..
                }) => selector.partners.push(id),
                Ok(ChannelName::Presence {
                    model: PresenceModel::Guest,
                    id,
                    ..
                }) => selector.guests.push(id),
                Ok(ChannelName::GuestToken { .. } | ChannelName::Plain(_)) | Err(_) => {}
            }
        }
        selector
    }

    /// True when none of the strings can be attributed: with `--only-channels`, nothing would
    /// ever print (worth a warning).
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.partners.is_empty() && self.guests.is_empty()
    }

    /// Whether the notification belongs to one of the selected channels. Reads the payload only
    /// for the types listed on [`ChannelSelector`]; a payload of an unexpected shape is simply
    /// not attributable.
    pub fn accepts(&self, kind: &str, payload: &RawValue) -> bool {
        let has_channel = |id: Option<u64>| id.is_some_and(|id| self.channels.contains(&id));
        match kind {
            "bus.bus/im_status_updated" => {
                if self.partners.is_empty() && self.guests.is_empty() {
                    return false;
                }
                let Some(refs) = Refs::of(payload) else {
                    return false;
                };
                uint(refs.partner_id).is_some_and(|id| self.partners.contains(&id))
                    || uint(refs.guest_id).is_some_and(|id| self.guests.contains(&id))
            }
            _ if self.channels.is_empty() => false,
            "mail.record/insert" => self.store_mentions_channel(payload),
            "discuss.channel.member/fetched" => {
                Refs::of(payload).is_some_and(|r| has_channel(channel_ref(r.channel_id)))
            }
            _ if kind.starts_with("discuss.channel/") => Refs::of(payload).is_some_and(|r| {
                has_channel(uint(r.id))
                    || has_channel(channel_ref(r.channel))
                    || has_channel(channel_ref(r.thread))
            }),
            _ => false,
        }
    }

    fn store_mentions_channel(&self, payload: &RawValue) -> bool {
        let Ok(store) = serde_json::from_str::<StoreRefs<'_>>(payload.get()) else {
            return false;
        };
        let selected = |id: Option<u64>| id.is_some_and(|id| self.channels.contains(&id));
        let channel_listed = store.channels.is_some_and(|list| {
            any_record(list, |record| {
                Refs::of(record).is_some_and(|r| selected(uint(r.id)))
            })
        });
        channel_listed
            || store.members.is_some_and(|list| {
                any_record(list, |record| {
                    Refs::of(record).is_some_and(|r| {
                        selected(channel_ref(r.thread)) || selected(channel_ref(r.channel_id))
                    })
                })
            })
    }
}

/// The fields of a record (or of a whole payload) that can name a channel or a persona, kept raw
/// so that a field of an unexpected shape costs nothing and breaks nothing.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Refs<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    channel_id: Option<&'a RawValue>,
    #[serde(borrow)]
    channel: Option<&'a RawValue>,
    #[serde(borrow)]
    thread: Option<&'a RawValue>,
    #[serde(borrow)]
    partner_id: Option<&'a RawValue>,
    #[serde(borrow)]
    guest_id: Option<&'a RawValue>,
}

impl<'a> Refs<'a> {
    fn of(record: &'a RawValue) -> Option<Self> {
        serde_json::from_str(record.get()).ok()
    }
}

/// The lists of a Store payload that can name a channel.
#[derive(Deserialize, Default)]
#[serde(default)]
struct StoreRefs<'a> {
    #[serde(borrow, rename = "discuss.channel")]
    channels: Option<&'a RawValue>,
    #[serde(borrow, rename = "discuss.channel.member")]
    members: Option<&'a RawValue>,
}

/// `{"id": N, "model": M}` as a relation is written in a Store.
#[derive(Deserialize)]
struct Relation<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    model: Option<&'a RawValue>,
}

/// A non-negative integer, or nothing.
fn uint(raw: Option<&RawValue>) -> Option<u64> {
    raw?.get().parse().ok()
}

/// A channel given as `5`, `{"id": 5}` or `{"id": 5, "model": "discuss.channel"}`; a relation to
/// another model is not a channel.
fn channel_ref(raw: Option<&RawValue>) -> Option<u64> {
    let raw = raw?;
    if let Some(id) = uint(Some(raw)) {
        return Some(id);
    }
    let relation: Relation<'_> = serde_json::from_str(raw.get()).ok()?;
    let model: Option<&str> = match relation.model {
        Some(model) => Some(serde_json::from_str(model.get()).ok()?),
        None => None,
    };
    match model {
        None | Some(CHANNEL_MODEL) | Some(OLD_CHANNEL_MODEL) => uint(relation.id),
        Some(_) => None,
    }
}

/// Calls `test` on each record of a Store list (a list of records, or one record for singleton
/// models) until it returns true, without collecting them.
fn any_record(list: &RawValue, test: impl FnMut(&RawValue) -> bool) -> bool {
    struct AnyRecord<F>(F);

    impl<'de, F: FnMut(&RawValue) -> bool> Visitor<'de> for AnyRecord<F> {
        type Value = bool;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of records")
        }

        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<bool, A::Error> {
            let mut found = false;
            // Read to the end even after a hit: the parser checks the list is well formed.
            while let Some(record) = seq.next_element::<&'de RawValue>()? {
                found = found || (self.0)(record);
            }
            Ok(found)
        }
    }

    let text = list.get();
    if text.starts_with('{') {
        let mut test = test;
        return test(list);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_seq(AnyRecord(test)).unwrap_or(false)
}

#[cfg(test)]
mod tests;
