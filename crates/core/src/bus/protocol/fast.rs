//! The fast path of [`super::decode_batch`]: the batch shape Odoo sends, read by hand in one
//! pass over the frame, payloads validated as JSON without building anything.
//!
//! Why: the serde decoder validates every payload by skipping it value by value
//! (`IgnoredAny` under `RawValue`), scanning strings eight bytes at a time; that was more than
//! half of the CPU `tail -o ndjson` spends per notification (callgrind, docs/performance.md).
//! Here a string is searched with `memchr2` (SIMD) for its closing quote, and control
//! characters, which JSON forbids inside strings, are ruled out for the whole frame at once.
//!
//! The rule that keeps it exact: this path only *accepts*. Whenever the frame is anything but
//! plain (a control character or tab/newline anywhere, an escape in a key or in the type, an id
//! that is not a plain integer, a missing field, nesting deeper than [`MAX_DEPTH`], any JSON
//! error), it returns `None` and the serde decoder decides, with its error messages. What it
//! accepts is valid JSON that the serde decoder decodes to the same notifications; debug builds
//! (tests, fuzzing) check that on every frame.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{NULL_PAYLOAD, Notification};

/// Deeper payloads are left to serde_json (whose own limit is 128 levels).
const MAX_DEPTH: usize = 96;

/// The notifications of `text`, or `None` when the serde decoder must decide.
pub(super) fn decode(text: &str) -> Option<Vec<Notification<'_>>> {
    let bytes = text.as_bytes();
    // The smallest byte, with a `fold` (no early exit, so it vectorizes to a SIMD minimum).
    // Odoo's `json.dumps` escapes every control character and separates tokens with spaces.
    if bytes.iter().fold(u8::MAX, |least, &b| least.min(b)) < 0x20 {
        return None;
    }
    let mut p = Parser { text, bytes, at: 0 };
    p.spaces();
    p.eat(b'[')?;
    let mut batch = Vec::with_capacity(16);
    loop {
        p.spaces();
        batch.push(p.element()?);
        p.spaces();
        match p.next()? {
            b',' => {}
            b']' => break,
            _ => return None,
        }
    }
    p.spaces();
    (p.at == bytes.len()).then_some(batch)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// Only spaces can be between tokens here (the frame has no control character).
    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// `{"id": N, "message": {...}}`, keys in any order, other keys skipped; the last of a
    /// repeated key wins, as with serde.
    fn element(&mut self) -> Option<Notification<'a>> {
        let (mut id, mut message) = (None, None);
        self.object(true, |p, key| {
            match key {
                "id" => id = Some(p.id()?),
                "message" => message = Some(p.message()?),
                _ => p.value(1)?,
            }
            Some(())
        })?;
        let (kind, payload) = message?;
        Some(Notification {
            id: id?,
            kind: Cow::Borrowed(kind?),
            payload: payload.unwrap_or(*NULL_PAYLOAD),
        })
    }

    /// `{"type": T, "payload": P}`: the type without escapes, the payload as raw JSON.
    #[allow(clippy::type_complexity)]
    fn message(&mut self) -> Option<(Option<&'a str>, Option<&'a RawValue>)> {
        let (mut kind, mut payload) = (None, None);
        self.object(true, |p, key| {
            match key {
                "type" => kind = Some(p.plain_string()?),
                "payload" => {
                    let start = p.at;
                    p.value(2)?;
                    payload = Some(raw(&p.text[start..p.at]));
                }
                _ => p.value(2)?,
            }
            Some(())
        })?;
        Some((kind, payload))
    }

    /// An object; `field` reads each value. With `plain_keys` a key with an escape gives up
    /// (the key is matched as written); without, keys are only validated (`field` gets "").
    fn object(
        &mut self,
        plain_keys: bool,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.spaces();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = if plain_keys {
                self.plain_string()?
            } else {
                self.string()?;
                ""
            };
            self.spaces();
            self.eat(b':')?;
            self.spaces();
            field(self, key)?;
            self.spaces();
            match self.next()? {
                b',' => self.spaces(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A non-negative integer written as plain digits that fits a `u64`.
    fn id(&mut self) -> Option<u64> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.text[start..self.at];
        // A leading zero ("012") is not JSON; a fraction or exponent is not an id here.
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        digits.parse().ok()
    }

    /// A string without escapes, borrowed (the quotes excluded).
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + memchr::memchr2(b'"', b'\\', &self.bytes[start..])?;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        Some(&self.text[start..end])
    }

    /// Skips one JSON value, checking it is valid JSON.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.object(false, |p, _| p.value(depth + 1))
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.spaces();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    self.spaces();
                    match self.next()? {
                        b',' => self.spaces(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Some(())
        } else {
            None
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as serde_json accepts numbers.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        // What follows a number must end it ("01", "1x" are not JSON): the caller accepts only
        // a space, `,`, `]` or `}` next, so a digit or letter here fails there.
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// A string with any escapes JSON allows (`\uXXXX` takes any four hex digits, as
    /// serde_json's validation does).
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let at = self.at + memchr::memchr2(b'"', b'\\', &self.bytes[self.at..])?;
            if self.bytes[at] == b'"' {
                self.at = at + 1;
                return Some(());
            }
            match *self.bytes.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at = at + 2,
                b'u' => {
                    let hex = self.bytes.get(at + 2..at + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.at = at + 6;
                }
                _ => return None,
            }
        }
    }
}

/// `json` as a `RawValue`, without validating it again.
fn raw(json: &str) -> &RawValue {
    const _: () = assert!(size_of::<&RawValue>() == size_of::<&str>());
    // SAFETY: `RawValue` is `#[repr(transparent)]` over `str` (serde_json's `raw.rs`, which
    // converts the same way in `RawValue::from_borrowed`), so both references have the same
    // layout; the lifetime is kept. Its invariant, valid JSON without surrounding
    // whitespace, holds: `Parser::value` accepted exactly this slice (debug builds check it).
    let value = unsafe { &*(json as *const str as *const RawValue) };
    debug_assert!(serde_json::from_str::<&RawValue>(json).is_ok_and(|v| v.get() == json));
    value
}
