//! The fields of [`super::store`] read by hand from the payload text: one forward pass over
//! JSON that the frame decode already validated, without serde's per-token machinery (the
//! serde readers cost about 5 000 instructions per `discuss.channel/new_message`, a third of
//! `-o pretty`'s stream; this pass about a fifth of that).
//!
//! It only ever *accepts*: whatever it is not sure to read exactly as the serde readers do (an
//! escaped key, a read number that is not a plain integer, a string serde would refuse, deep
//! nesting) makes it give up with [`Fallback`], and the caller reads the payload with serde,
//! which stays the reference. Names are learned only once the whole payload was read, in the
//! order serde would learn them, so giving up half-way leaves no trace. Debug builds (every
//! test) read each payload both ways and assert that the results and the names agree.

use std::borrow::Cow;

use super::names::{Bounded, Names};
use super::store::{Body, Count, Flag, Id, Member, Message, NewMessage, Persona, Presence};
use super::store::{Ref, Store, Text};
use super::text::next_quote_or_backslash;

/// The payload is left to the serde readers.
#[derive(Debug)]
pub(super) struct Fallback;

type Read<T> = Result<T, Fallback>;

/// Deeper than this, serde reads the payload (its own limit is 128).
const MAX_DEPTH: usize = 64;

/// Which names a learned record goes to.
#[derive(Clone, Copy)]
enum Model {
    Partners,
    Guests,
    Channels,
}

/// Names read from the payload, taught to [`Names`] at the end.
type Learned<'a> = Vec<(Model, u64, Cow<'a, str>)>;

struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    learned: Learned<'a>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        Scan {
            text,
            bytes: text.as_bytes(),
            at: 0,
            learned: Vec::new(),
        }
    }

    /// The next byte that is not whitespace (0 at the end).
    fn peek(&mut self) -> u8 {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return b;
            }
            self.at += 1;
        }
        0
    }

    /// The index of the closing quote of the string whose content starts at `from`, and
    /// whether it has escapes.
    fn string_end(&self, mut from: usize) -> Read<(usize, bool)> {
        let mut escaped = false;
        loop {
            let found = next_quote_or_backslash(self.bytes, from).ok_or(Fallback)?;
            if self.bytes[found] == b'"' {
                return Ok((found, escaped));
            }
            escaped = true;
            from = found + 2;
        }
    }

    /// The string at the cursor (a `"` is next), decoded as serde decodes it.
    fn string(&mut self) -> Read<Cow<'a, str>> {
        let open = self.at;
        let (close, escaped) = self.string_end(open + 1)?;
        self.at = close + 1;
        if !escaped {
            return Ok(Cow::Borrowed(&self.text[open + 1..close]));
        }
        // serde decodes the escapes (and refuses a lone surrogate, as the serde reader would).
        serde_json::from_str::<String>(&self.text[open..=close])
            .map(Cow::Owned)
            .map_err(|_| Fallback)
    }

    /// An object key (a `"` is next); an escaped one is left to serde.
    fn key(&mut self) -> Read<&'a str> {
        let open = self.at;
        let (close, escaped) = self.string_end(open + 1)?;
        if escaped {
            return Err(Fallback);
        }
        self.at = close + 1;
        Ok(&self.text[open + 1..close])
    }

    /// Skips `expected` after whitespace.
    fn expect(&mut self, expected: u8) -> Read<()> {
        if self.peek() != expected {
            return Err(Fallback);
        }
        self.at += 1;
        Ok(())
    }

    /// Calls `field` for each key of the object at the cursor (a `{` is next), with the cursor
    /// on the value, which `field` must consume.
    fn object(
        &mut self,
        depth: usize,
        mut field: impl FnMut(&mut Self, &'a str) -> Read<()>,
    ) -> Read<()> {
        if depth >= MAX_DEPTH {
            return Err(Fallback);
        }
        self.at += 1;
        if self.peek() == b'}' {
            self.at += 1;
            return Ok(());
        }
        loop {
            if self.peek() != b'"' {
                return Err(Fallback);
            }
            let key = self.key()?;
            self.expect(b':')?;
            self.peek();
            field(self, key)?;
            match self.peek() {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Fallback),
            }
        }
    }

    /// Calls `element` for each element of the array at the cursor (a `[` is next), with the
    /// cursor on the element, which `element` must consume; `element` returning false skips
    /// the rest.
    fn array(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Read<bool>,
    ) -> Read<()> {
        if depth >= MAX_DEPTH {
            return Err(Fallback);
        }
        self.at += 1;
        if self.peek() == b']' {
            self.at += 1;
            return Ok(());
        }
        let mut more = true;
        loop {
            self.peek();
            if more {
                more = element(self)?;
            } else {
                self.skip(depth + 1)?;
            }
            match self.peek() {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Fallback),
            }
        }
    }

    /// Skips the value at the cursor (serde's `IgnoredAny`: nothing in it is interpreted).
    fn skip(&mut self, depth: usize) -> Read<()> {
        match self.peek() {
            b'"' => {
                let (close, _) = self.string_end(self.at + 1)?;
                self.at = close + 1;
                Ok(())
            }
            b'{' | b'[' => {
                // The text is valid JSON: counting brackets outside strings finds the end.
                let mut level = 0usize;
                loop {
                    match self.bytes.get(self.at) {
                        Some(b'"') => {
                            let (close, _) = self.string_end(self.at + 1)?;
                            self.at = close;
                        }
                        Some(b'{' | b'[') => {
                            level += 1;
                            if depth + level > MAX_DEPTH {
                                return Err(Fallback);
                            }
                        }
                        Some(b'}' | b']') => {
                            level -= 1;
                            if level == 0 {
                                self.at += 1;
                                return Ok(());
                            }
                        }
                        Some(_) => {}
                        None => return Err(Fallback),
                    }
                    self.at += 1;
                }
            }
            0 => Err(Fallback),
            _ => {
                // A number or a literal: up to the next delimiter.
                while let Some(&b) = self.bytes.get(self.at) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.at += 1;
                }
                Ok(())
            }
        }
    }

    /// The number at the cursor as serde's `deserialize_any` sees it: `Some` for an integer
    /// that fits a `u64`, `None` for a negative one. Anything serde would read as a float (and
    /// might refuse as out of range) is left to serde.
    fn number(&mut self) -> Read<Option<u64>> {
        let start = self.at;
        let negative = self.bytes[start] == b'-';
        let digits_from = start + usize::from(negative);
        let mut end = digits_from;
        while end < self.bytes.len() && self.bytes[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - digits_from;
        if digits == 0 || digits > 18 || matches!(self.bytes.get(end), Some(b'.' | b'e' | b'E')) {
            return Err(Fallback);
        }
        self.at = end;
        if negative {
            return Ok(None);
        }
        self.text[digits_from..end]
            .parse()
            .map(Some)
            .map_err(|_| Fallback)
    }

    /// A value read for its kind only (serde's `deserialize_any` with a visitor that takes
    /// one kind): a number is checked as serde would parse it, anything else is skipped.
    fn other(&mut self, depth: usize) -> Read<()> {
        match self.peek() {
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            // serde decodes it (and may refuse it) before seeing it is not wanted.
            b'"' => self.string().map(|_| ()),
            _ => self.skip(depth),
        }
    }

    fn text(&mut self, depth: usize) -> Read<Text<'a>> {
        if self.peek() == b'"' {
            return Ok(Text(Some(self.string()?)));
        }
        self.other(depth).map(|()| Text(None))
    }

    fn id(&mut self, depth: usize) -> Read<Id> {
        match self.peek() {
            b'-' | b'0'..=b'9' => self.number().map(Id),
            _ => self.other(depth).map(|()| Id(None)),
        }
    }

    fn flag(&mut self, depth: usize) -> Read<Flag> {
        self.peek();
        let rest = &self.bytes[self.at..];
        if rest.starts_with(b"true") {
            self.at += 4;
            return Ok(Flag(Some(true)));
        }
        if rest.starts_with(b"false") {
            self.at += 5;
            return Ok(Flag(Some(false)));
        }
        self.other(depth).map(|()| Flag(None))
    }

    fn reference(&mut self, depth: usize) -> Read<Ref> {
        match self.peek() {
            b'-' | b'0'..=b'9' => self.number().map(Ref),
            b'{' => {
                let mut id = None;
                self.object(depth, |s, key| {
                    match key {
                        "id" => id = s.id(depth + 1)?.0,
                        _ => s.skip(depth + 1)?,
                    }
                    Ok(())
                })?;
                Ok(Ref(id))
            }
            _ => self.other(depth).map(|()| Ref(None)),
        }
    }

    /// Reads into `p` (a default [`Persona`]): the read structs are filled in place, not
    /// returned (moving them up the calls was ~500 instructions per payload in `memcpy`).
    fn persona(&mut self, depth: usize, p: &mut Persona<'a>) -> Read<()> {
        if self.peek() != b'{' {
            return self.other(depth);
        }
        p.is_object = true;
        self.object(depth, |s, key| {
            match key {
                "id" => p.id = s.id(depth + 1)?.0,
                "type" => p.kind = s.text(depth + 1)?,
                _ => s.skip(depth + 1)?,
            }
            Ok(())
        })
    }

    fn body(&mut self, depth: usize) -> Read<Body<'a>> {
        match self.peek() {
            b'"' => Ok(Body(Some(self.string()?))),
            b'[' => {
                let (mut tag, mut html, mut extra) = (None, None, 0usize);
                self.array(depth, |s| {
                    if tag.is_none() {
                        tag = Some(s.text(depth + 1)?);
                    } else if html.is_none() {
                        html = Some(s.text(depth + 1)?);
                    } else {
                        s.skip(depth + 1)?;
                        extra += 1;
                    }
                    Ok(true)
                })?;
                Ok(match (tag, html, extra) {
                    (Some(Text(Some(tag))), Some(Text(Some(html))), 0) if tag == "markup" => {
                        Body(Some(html))
                    }
                    _ => Body(None),
                })
            }
            _ => self.other(depth).map(|()| Body(None)),
        }
    }

    fn count(&mut self, depth: usize) -> Read<Count> {
        if self.peek() != b'[' {
            return self.other(depth).map(|()| Count(None));
        }
        let mut n = 0;
        self.array(depth, |s| {
            s.skip(depth + 1)?;
            n += 1;
            Ok(true)
        })?;
        Ok(Count(Some(n)))
    }

    /// Reads into `m` (a default [`Message`]).
    fn message(&mut self, depth: usize, m: &mut Message<'a>) -> Read<()> {
        if self.peek() != b'{' {
            return self.other(depth);
        }
        let d = depth + 1;
        self.object(depth, |s, key| {
            match key {
                "author" => s.persona(d, m.author.insert(Persona::default()))?,
                "author_id" => m.author_id = s.reference(d)?,
                "email_from" => m.email_from = s.text(d)?,
                "body" => m.body = s.body(d)?,
                "attachment_ids" => m.attachments = s.count(d)?,
                "model" => m.model = s.text(d)?,
                "record_name" => m.record_name = s.text(d)?,
                _ => s.skip(d)?,
            }
            Ok(())
        })
    }

    /// A Store's `mail.message` entry: its first record into `first` (`None` without one).
    fn first_message(&mut self, depth: usize, first: &mut Option<Message<'a>>) -> Read<()> {
        *first = None;
        match self.peek() {
            b'[' => self.array(depth, |s| {
                s.message(depth + 1, first.insert(Message::default()))?;
                Ok(false)
            }),
            b'{' => self.message(depth, first.insert(Message::default())),
            _ => self.other(depth),
        }
    }

    /// A `discuss.channel.member` record: `Some` when it has an `isTyping` key.
    fn typing_member(&mut self, depth: usize) -> Read<Option<Member<'a>>> {
        if self.peek() != b'{' {
            return self.other(depth).map(|()| None);
        }
        let mut m = Member::default();
        let mut has_typing = false;
        let d = depth + 1;
        self.object(depth, |s, key| {
            match key {
                "isTyping" => {
                    has_typing = true;
                    m.is_typing = s.flag(d)?.0;
                }
                "persona" => s.persona(d, m.persona.insert(Persona::default()))?,
                "partner_id" => m.partner_id = s.reference(d)?,
                "thread" => m.thread = Some(s.reference(d)?),
                "channel_id" => m.channel_id = Some(s.reference(d)?),
                _ => s.skip(d)?,
            }
            Ok(())
        })?;
        Ok(has_typing.then_some(m))
    }

    /// An `{"id", "name"}` record: its name is learned.
    fn learn(&mut self, model: Model, depth: usize) -> Read<()> {
        if self.peek() != b'{' {
            return self.other(depth);
        }
        let (mut id, mut name) = (None, Text::default());
        let d = depth + 1;
        self.object(depth, |s, key| {
            match key {
                "id" => id = s.id(d)?.0,
                "name" => name = s.text(d)?,
                _ => s.skip(d)?,
            }
            Ok(())
        })?;
        if let (Some(id), Text(Some(name))) = (id, name) {
            self.learned.push((model, id, name));
        }
        Ok(())
    }

    /// A Store entry: a list of records, or one record; the first record `read` keeps.
    fn entry<T>(
        &mut self,
        depth: usize,
        mut read: impl FnMut(&mut Self, usize) -> Read<Option<T>>,
    ) -> Read<Option<T>> {
        match self.peek() {
            b'[' => {
                let mut kept = None;
                self.array(depth, |s| {
                    kept = read(s, depth + 1)?;
                    Ok(kept.is_none())
                })?;
                Ok(kept)
            }
            b'{' => read(self, depth),
            _ => self.other(depth).map(|()| None),
        }
    }

    /// Reads into `store` (a default [`Store`]).
    fn store(&mut self, depth: usize, store: &mut Store<'a>) -> Read<()> {
        if self.peek() != b'{' {
            return self.other(depth);
        }
        let d = depth + 1;
        self.object(depth, |s, key| {
            match key {
                "mail.message" => s.first_message(d, &mut store.message)?,
                "discuss.channel.member" => store.typing = s.entry(d, Self::typing_member)?,
                "res.partner" => s.learn_entry(Model::Partners, d)?,
                "mail.guest" => s.learn_entry(Model::Guests, d)?,
                "discuss.channel" => s.learn_entry(Model::Channels, d)?,
                "Persona" => {
                    store.legacy_personas = true;
                    s.skip(d)?;
                }
                _ => s.skip(d)?,
            }
            Ok(())
        })
    }

    fn learn_entry(&mut self, model: Model, depth: usize) -> Read<()> {
        self.entry(depth, |s, d| s.learn(model, d).map(|()| None::<()>))
            .map(|_| ())
    }

    fn new_message(&mut self) -> Read<NewMessage<'a>> {
        if self.peek() != b'{' {
            return self.other(0).map(|()| NewMessage::default());
        }
        let mut out = NewMessage::default();
        self.object(0, |s, key| {
            match key {
                "data" => s.store(1, out.data.insert(Store::default()))?,
                "id" => out.channel = s.id(1)?,
                _ => s.skip(1)?,
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn presence(&mut self) -> Read<Presence<'a>> {
        if self.peek() != b'{' {
            return self.other(0).map(|()| Presence::default());
        }
        let mut p = Presence::default();
        self.object(0, |s, key| {
            match key {
                "im_status" => p.status = s.text(1)?,
                "partner_id" => p.partner = s.id(1)?,
                "guest_id" => p.guest = s.id(1)?,
                _ => s.skip(1)?,
            }
            Ok(())
        })?;
        Ok(p)
    }

    /// The whole text was one value: the learned names go to `names`.
    fn finish(mut self, names: &mut Names) -> Read<()> {
        if self.peek() != 0 {
            return Err(Fallback);
        }
        for (model, id, name) in self.learned {
            let known: &mut Bounded = match model {
                Model::Partners => &mut names.partners,
                Model::Guests => &mut names.guests,
                Model::Channels => &mut names.channels,
            };
            known.learn(id, &name);
        }
        Ok(())
    }
}

/// [`super::store::store`] by hand.
pub(super) fn store<'a>(payload: &'a str, names: &mut Names) -> Read<Store<'a>> {
    let mut scan = Scan::new(payload);
    let mut store = Store::default();
    scan.store(0, &mut store)?;
    scan.finish(names)?;
    Ok(store)
}

/// [`super::store::new_message`] by hand.
pub(super) fn new_message<'a>(payload: &'a str, names: &mut Names) -> Read<NewMessage<'a>> {
    let mut scan = Scan::new(payload);
    let message = scan.new_message()?;
    scan.finish(names)?;
    Ok(message)
}

/// [`super::store::presence`] by hand.
pub(super) fn presence(payload: &str) -> Read<Presence<'_>> {
    let mut scan = Scan::new(payload);
    let presence = scan.presence()?;
    scan.finish(&mut Names::default())?;
    Ok(presence)
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::super::store::{new_message_serde, presence_serde, store_serde};
    use super::*;

    /// Reads `payload` by hand and with serde (each from `names`); panics when they differ.
    /// True when the hand-written reader did not give up.
    fn agree(payload: &str, names: &Names) -> bool {
        let raw: &RawValue = serde_json::from_str(payload).unwrap();
        let mut accepted = true;
        let (mut mine, mut theirs) = (names.clone(), names.clone());
        match store(payload, &mut mine) {
            Ok(read) => assert_eq!(
                (Some(read), &mine),
                (store_serde(raw, &mut theirs), &theirs),
                "{payload}"
            ),
            Err(Fallback) => accepted = false,
        }
        let (mut mine, mut theirs) = (names.clone(), names.clone());
        match new_message(payload, &mut mine) {
            Ok(read) => assert_eq!(
                (Some(read), &mine),
                (new_message_serde(raw, &mut theirs), &theirs),
                "{payload}"
            ),
            Err(Fallback) => accepted = false,
        }
        if let Ok(read) = presence(payload) {
            assert_eq!(Some(read), presence_serde(raw), "{payload}");
        }
        accepted
    }

    const PAYLOADS: &[&str] = &[
        r#"{"data": {"discuss.channel": [{"id": 5, "name": "sales"}], "mail.message": [{"author": {"id": 9, "type": "guest"}, "body": "<p>hi <b>there</b></p>", "id": 30, "model": "discuss.channel", "record_name": "ignored", "res_id": 5}], "mail.guest": [{"id": 9, "name": "Visitor"}]}, "id": 5}"#,
        r#"{"data": {"mail.message": [{"author": false, "email_from": "a@b.c", "body": ["markup", "<p>via mail</p>"], "attachment_ids": [{"id": 1}, 2]}]}, "id": 5}"#,
        r#"{"data": {"mail.message": [{"author": {"id": "7", "type": 3}, "body": 12, "attachment_ids": false, "record_name": false}], "res.partner": [{"id": 7, "name": false}, "junk", 5]}, "id": 2}"#,
        r#"{"discuss.channel.member": [{"id": 9, "isTyping": true, "persona": {"id": 7, "type": "partner"}, "thread": {"id": 1, "model": "discuss.channel"}}], "res.partner": [{"id": 7, "name": "Marc Demo"}]}"#,
        r#"{"discuss.channel.member": {"isTyping": false, "persona": false, "channel_id": 3, "partner_id": {"id": 8}}, "Persona": [], "mail.guest": {"id": 4, "name": "Vis\u00eftor"}}"#,
        r#"{"im_status": "away", "guest_id": 4, "partner_id": false}"#,
        r#"{"im_status": "on\nline", "partner_id": 18446744073709551615, "guest_id": -3}"#,
        r#"{"data": {"mail.message": {"body": "caf\u00e9 \"q\" \\ \ud83d\ude00", "author_id": 12, "model": null}}, "id": 1.5}"#,
        r#"{"d\u0061ta": {"mail.message": []}, "id": 1e3}"#,
        r#"[1, "two", {"id": 3}]"#,
        r#""just text""#,
        r#"{"data": [[[[{"id": 1}]]]], "id": 00000000000000000000001, "x": {"a": [{"b": "}]\"["}]}}"#,
    ];

    #[test]
    fn agrees_with_serde_on_tricky_payloads() {
        let mut names = Names::default();
        names.partners.learn(7, "Known");
        let mut accepted = 0;
        for payload in PAYLOADS {
            if serde_json::from_str::<&RawValue>(payload).is_ok() {
                accepted += usize::from(agree(payload, &names));
            }
        }
        assert!(
            accepted >= 8,
            "the hand-written reader took only {accepted}"
        );
    }

    /// Random edits (xorshift, fixed seed) of the payloads above: whatever is still JSON reads
    /// the same both ways.
    #[test]
    fn agrees_with_serde_on_random_edits() {
        const PIECES: &[&str] = &[
            "\"",
            "\\",
            "\\u00e9",
            "\\ud800",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "1",
            "-",
            ".5",
            "e9",
            "true",
            "false",
            "null",
            "\"id\"",
            "\"name\"",
            "\"markup\"",
            "\"body\"",
            "\"mail.message\"",
            "\"res.partner\"",
            "\"isTyping\"",
            "99999999999999999999",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut valid, mut accepted) = (0, 0);
        for _ in 0..20_000 {
            let mut text = PAYLOADS[next(PAYLOADS.len())].to_string();
            for _ in 0..1 + next(3) {
                let mut at = next(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + next(4)).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(at..end, PIECES[next(PIECES.len())]);
            }
            if serde_json::from_str::<&RawValue>(&text).is_ok() {
                valid += 1;
                accepted += usize::from(agree(&text, &Names::default()));
            }
        }
        assert!(
            valid > 500 && accepted > valid / 2,
            "{valid} valid, {accepted} read"
        );
    }
}
