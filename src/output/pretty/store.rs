//! The few fields a pretty line needs, read straight from the payload text in one pass.
//!
//! Why not `serde_json::Value`: building a tree allocates every key and string of a ~500-byte
//! payload, dozens of allocations per line, and was most of `-o pretty`'s cost. Here strings
//! stay borrowed from the frame, everything else is skipped, and the names of partners, guests
//! and channels are handed to [`Names`] as they go by.
//!
//! The readers here are serde's and stay the reference: [`super::scan`] reads the same fields
//! by hand, faster, and leaves to them whatever it is not sure of (debug builds compare the
//! two on every payload).
//!
//! Every field is lenient, like the `Value` lookups it replaces: Odoo writes `false` for an
//! empty field, so a value of an unexpected type reads as "absent" instead of failing the whole
//! payload.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::names::Names;

/// Visitor methods that read any other JSON value as the default ("absent").
macro_rules! absent_otherwise {
    ($($kind:ident),*) => { $( absent_otherwise!(@one $kind); )* };
    (@one bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok(Default::default()) }
    };
    (@one i64) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok(Default::default()) }
    };
    (@one u64) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok(Default::default()) }
    };
    (@one f64) => {
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok(Default::default()) }
    };
    (@one str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok(Default::default()) }
    };
    (@one unit) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok(Default::default()) }
    };
    (@one seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            skip_seq(seq)?;
            Ok(Default::default())
        }
    };
    (@one map) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map)?;
            Ok(Default::default())
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<usize, A::Error> {
    let mut n = 0;
    while seq.next_element::<IgnoredAny>()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A string (borrowed unless it had escapes), or `None` for any other value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The string unless it is empty.
    pub fn non_empty(&self) -> Option<&str> {
        self.as_str().filter(|s| !s.is_empty())
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            absent_otherwise!(bool, i64, u64, f64, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A non-negative integer (what `Value::as_u64` accepts), or `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Id(pub Option<u64>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Id(Some(v)))
            }
            absent_otherwise!(bool, i64, f64, str, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A boolean, or `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Flag(pub Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Flag(Some(v)))
            }
            absent_otherwise!(i64, u64, f64, str, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A record reference: an id, or an object with an `id` (`"thread": {"id": 1, "model": …}`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ref(pub Option<u64>);

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ref;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Ref(Some(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => id = map.next_value::<Id>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Ref(id))
            }
            absent_otherwise!(bool, i64, f64, str, unit, seq);
        }
        d.deserialize_any(V)
    }
}

/// `{"id": N, "type": "partner"|"guest"}`: who wrote or is typing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Persona<'a> {
    /// Whether the value was an object at all (an email's author is `false`).
    pub is_object: bool,
    pub id: Option<u64>,
    pub kind: Text<'a>,
}

impl Persona<'_> {
    pub fn is_guest(&self) -> bool {
        self.kind.as_str() == Some("guest")
    }
}

impl<'de> Deserialize<'de> for Persona<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Persona<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut p = Persona {
                    is_object: true,
                    ..Persona::default()
                };
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => p.id = map.next_value::<Id>()?.0,
                        Key::Type => p.kind = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(p)
            }
            absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
        }
        d.deserialize_any(V)
    }
}

/// A message body: an HTML string, or `["markup", html]` in some builds; `None` otherwise.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Body<'a>(pub Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Body(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Body(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let tag: Option<Text<'de>> = seq.next_element()?;
                let html: Option<Text<'de>> = seq.next_element()?;
                let extra = skip_seq(seq)?;
                Ok(match (tag, html, extra) {
                    (Some(Text(Some(tag))), Some(Text(Some(html))), 0) if tag == "markup" => {
                        Body(Some(html))
                    }
                    _ => Body(None),
                })
            }
            absent_otherwise!(bool, i64, u64, f64, unit, map);
        }
        d.deserialize_any(V)
    }
}

/// The length of an array, or `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count(pub Option<usize>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Ok(Count(Some(skip_seq(seq)?)))
            }
            absent_otherwise!(bool, i64, u64, f64, str, unit, map);
        }
        d.deserialize_any(V)
    }
}

/// Every key any of these records has; the rest is `Other` and skipped without allocating.
#[derive(Deserialize)]
#[serde(field_identifier)]
enum Key {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "type")]
    Type,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "author")]
    Author,
    #[serde(rename = "author_id")]
    AuthorId,
    #[serde(rename = "email_from")]
    EmailFrom,
    #[serde(rename = "body")]
    Body,
    #[serde(rename = "attachment_ids")]
    AttachmentIds,
    #[serde(rename = "model")]
    Model,
    #[serde(rename = "record_name")]
    RecordName,
    #[serde(rename = "isTyping")]
    IsTyping,
    #[serde(rename = "persona")]
    Persona,
    #[serde(rename = "thread")]
    Thread,
    #[serde(rename = "channel_id")]
    ChannelId,
    #[serde(rename = "data")]
    Data,
    #[serde(rename = "im_status")]
    ImStatus,
    #[serde(rename = "partner_id")]
    PartnerId,
    #[serde(rename = "guest_id")]
    GuestId,
    #[serde(rename = "res.partner")]
    Partners,
    #[serde(rename = "mail.guest")]
    Guests,
    #[serde(rename = "discuss.channel")]
    Channels,
    #[serde(rename = "mail.message")]
    Messages,
    #[serde(rename = "discuss.channel.member")]
    Members,
    /// Early 17's presence Store key (read by [`super::legacy`]).
    #[serde(rename = "Persona")]
    LegacyPersonas,
    #[serde(other)]
    Other,
}

/// The first `mail.message` record of a Store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Message<'a> {
    /// `None` when the message has no `author` key.
    pub author: Option<Persona<'a>>,
    /// 19's author: a partner id, named by the Store's `res.partner` records.
    pub author_id: Ref,
    pub email_from: Text<'a>,
    pub body: Body<'a>,
    pub attachments: Count,
    pub model: Text<'a>,
    pub record_name: Text<'a>,
}

impl<'de> Deserialize<'de> for Message<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Message<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut m = Message::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Author => m.author = Some(map.next_value()?),
                        Key::AuthorId => m.author_id = map.next_value()?,
                        Key::EmailFrom => m.email_from = map.next_value()?,
                        Key::Body => m.body = map.next_value()?,
                        Key::AttachmentIds => m.attachments = map.next_value()?,
                        Key::Model => m.model = map.next_value()?,
                        Key::RecordName => m.record_name = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(m)
            }
            absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
        }
        d.deserialize_any(V)
    }
}

/// A `discuss.channel.member` record that has an `isTyping` key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Member<'a> {
    /// `None` when `isTyping` is there but not a boolean.
    pub is_typing: Option<bool>,
    pub persona: Option<Persona<'a>>,
    /// 19's member: a partner id, named by the Store's `res.partner` records.
    pub partner_id: Ref,
    pub thread: Option<Ref>,
    pub channel_id: Option<Ref>,
}

impl Member<'_> {
    /// `thread`, or `channel_id` when there is no `thread` key.
    pub fn channel(&self) -> Option<u64> {
        self.thread.or(self.channel_id).and_then(|r| r.0)
    }
}

/// Reads the records of a Store entry one by one; `Some` is a record worth keeping.
trait RecordReader<'de> {
    type Out;
    fn read<D: Deserializer<'de>>(&mut self, d: D) -> Result<Option<Self::Out>, D::Error>;
}

/// The first `mail.message` record, whatever its shape (a non-object reads as empty).
struct FirstMessage;

impl<'de> RecordReader<'de> for FirstMessage {
    type Out = Message<'de>;
    fn read<D: Deserializer<'de>>(&mut self, d: D) -> Result<Option<Message<'de>>, D::Error> {
        Message::deserialize(d).map(Some)
    }
}

/// The first `discuss.channel.member` record with an `isTyping` key.
struct TypingMember;

impl<'de> RecordReader<'de> for TypingMember {
    type Out = Member<'de>;
    fn read<D: Deserializer<'de>>(&mut self, d: D) -> Result<Option<Member<'de>>, D::Error> {
        d.deserialize_any(TypingMember)
    }
}

impl<'de> Visitor<'de> for TypingMember {
    type Value = Option<Member<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut m = Member::default();
        let mut has_typing = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::IsTyping => {
                    has_typing = true;
                    m.is_typing = map.next_value::<Flag>()?.0;
                }
                Key::Persona => m.persona = Some(map.next_value()?),
                Key::PartnerId => m.partner_id = map.next_value()?,
                Key::Thread => m.thread = Some(map.next_value()?),
                Key::ChannelId => m.channel_id = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(has_typing.then_some(m))
    }
    absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
}

/// Teaches the names of `{"id", "name"}` records; keeps nothing.
struct Learn<'n> {
    names: &'n mut super::names::Bounded,
}

impl<'de> RecordReader<'de> for Learn<'_> {
    type Out = ();
    fn read<D: Deserializer<'de>>(&mut self, d: D) -> Result<Option<()>, D::Error> {
        d.deserialize_any(LearnVisitor(self.names)).map(|()| None)
    }
}

struct LearnVisitor<'a>(&'a mut super::names::Bounded);

impl<'de> Visitor<'de> for LearnVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut id, mut name) = (None, Text::default());
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => id = map.next_value::<Id>()?.0,
                Key::Name => name = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let (Some(id), Some(name)) = (id, name.as_str()) {
            self.0.learn(id, name);
        }
        Ok(())
    }
    absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
}

/// One record through a reader, as a seed (so list elements can be read with it).
struct OneRecord<'r, R>(&'r mut R);

impl<'de, R: RecordReader<'de>> DeserializeSeed<'de> for OneRecord<'_, R> {
    type Value = Option<R::Out>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.read(d)
    }
}

/// A Store entry: a list of records, or one record (singleton models); the first record the
/// reader keeps, the rest skipped.
struct Entry<R>(R);

impl<'de, R: RecordReader<'de>> DeserializeSeed<'de> for Entry<R> {
    type Value = Option<R::Out>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: RecordReader<'de>> Visitor<'de> for Entry<R> {
    type Value = Option<R::Out>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(read) = seq.next_element_seed(OneRecord(&mut self.0))? {
            if read.is_some() {
                skip_seq(seq)?;
                return Ok(read);
            }
        }
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<Self::Value, A::Error> {
        self.0.read(de::value::MapAccessDeserializer::new(map))
    }
    absent_otherwise!(bool, i64, u64, f64, str, unit);
}

/// What a Store (`{"res.partner": [...], "mail.message": [...], ...}`) holds for a line. Its
/// partner, guest and channel names go to [`Names`] while it is read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Store<'a> {
    /// The first `mail.message` record; `None` when there is none.
    pub message: Option<Message<'a>>,
    /// The first member record with `isTyping`.
    pub typing: Option<Member<'a>>,
    /// Whether the Store has early 17's `Persona` key, the only insert [`super::legacy`] reads:
    /// without it the payload need not be parsed a second time into a `Value`.
    pub legacy_personas: bool,
}

struct StoreSeed<'n> {
    names: &'n mut Names,
}

impl<'de> DeserializeSeed<'de> for StoreSeed<'_> {
    type Value = Store<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StoreSeed<'_> {
    type Value = Store<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut store = Store::default();
        let names = self.names;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Messages => store.message = map.next_value_seed(Entry(FirstMessage))?,
                Key::Members => store.typing = map.next_value_seed(Entry(TypingMember))?,
                Key::Partners => learn(&mut map, &mut names.partners)?,
                Key::Guests => learn(&mut map, &mut names.guests)?,
                Key::Channels => learn(&mut map, &mut names.channels)?,
                Key::LegacyPersonas => {
                    store.legacy_personas = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(store)
    }
    absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
}

fn learn<'de, A: MapAccess<'de>>(
    map: &mut A,
    names: &mut super::names::Bounded,
) -> Result<(), A::Error> {
    map.next_value_seed(Entry(Learn { names })).map(|_| ())
}

/// A Store payload (`mail.record/insert`). `None` when the payload is not valid JSON.
pub(super) fn store<'a>(payload: &'a RawValue, names: &mut Names) -> Option<Store<'a>> {
    both_ways(payload, names, super::scan::store, store_serde)
}

/// [`store`] with serde: the reference, and what reads what [`super::scan`] leaves.
pub(super) fn store_serde<'a>(payload: &'a RawValue, names: &mut Names) -> Option<Store<'a>> {
    let mut de = serde_json::Deserializer::from_str(payload.get());
    StoreSeed { names }.deserialize(&mut de).ok()
}

/// A `discuss.channel/new_message` payload: `{"data": Store, "id": channel}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct NewMessage<'a> {
    /// `None` without a `data` key.
    pub data: Option<Store<'a>>,
    pub channel: Id,
}

struct NewMessageSeed<'n> {
    names: &'n mut Names,
}

impl<'de> Visitor<'de> for NewMessageSeed<'_> {
    type Value = NewMessage<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = NewMessage::default();
        let names = self.names;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Data => {
                    out.data = Some(map.next_value_seed(StoreSeed { names: &mut *names })?);
                }
                Key::Id => out.channel = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
    absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
}

pub(super) fn new_message<'a>(payload: &'a RawValue, names: &mut Names) -> Option<NewMessage<'a>> {
    both_ways(payload, names, super::scan::new_message, new_message_serde)
}

pub(super) fn new_message_serde<'a>(
    payload: &'a RawValue,
    names: &mut Names,
) -> Option<NewMessage<'a>> {
    let mut de = serde_json::Deserializer::from_str(payload.get());
    de.deserialize_any(NewMessageSeed { names }).ok()
}

/// A `bus.bus/im_status_updated` payload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Presence<'a> {
    pub status: Text<'a>,
    pub partner: Id,
    pub guest: Id,
}

impl<'de> Deserialize<'de> for Presence<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Presence<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut p = Presence::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::ImStatus => p.status = map.next_value()?,
                        Key::PartnerId => p.partner = map.next_value()?,
                        Key::GuestId => p.guest = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(p)
            }
            absent_otherwise!(bool, i64, u64, f64, str, unit, seq);
        }
        d.deserialize_any(V)
    }
}

pub(super) fn presence(payload: &RawValue) -> Option<Presence<'_>> {
    both_ways(
        payload,
        &mut Names::default(),
        |text, _| super::scan::presence(text),
        |payload, _| presence_serde(payload),
    )
}

pub(super) fn presence_serde(payload: &RawValue) -> Option<Presence<'_>> {
    serde_json::from_str(payload.get()).ok()
}

/// The hand-written reader's answer, or serde's when it gives up. Debug builds (all tests,
/// fuzzing) read every payload both ways and assert that the results and the names learned
/// agree.
fn both_ways<'a, T: PartialEq + fmt::Debug>(
    payload: &'a RawValue,
    names: &mut Names,
    by_hand: impl FnOnce(&'a str, &mut Names) -> Result<T, super::scan::Fallback>,
    serde: impl Fn(&'a RawValue, &mut Names) -> Option<T>,
) -> Option<T> {
    #[cfg(debug_assertions)]
    let reference = {
        let mut learned = names.clone();
        (serde(payload, &mut learned), learned)
    };
    let read = match by_hand(payload.get(), names) {
        Ok(read) => Some(read),
        Err(super::scan::Fallback) => serde(payload, names),
    };
    #[cfg(debug_assertions)]
    assert_eq!(
        (&read, &*names),
        (&reference.0, &reference.1),
        "the hand-written read of {} differs from serde's",
        payload.get()
    );
    read
}
