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
    // Odoo's `json.dumps` escapes every control character and separates tokens with spaces:
    // a frame with a byte below 0x20 goes to serde. The same pass indexes quotes and
    // backslashes.
    let specials = Specials::index(bytes)?;
    let mut p = Parser {
        text,
        bytes,
        at: 0,
        specials,
    };
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
    specials: Specials,
}

/// Where the frame's `"` and `\\` are: a bit per byte, 64 bytes per word, built in one pass
/// over the frame (simdjson's structural index, reduced to what ends a string). Finding the end
/// of a string is then a few word operations instead of a `memchr2` call per string, which for
/// the many short keys and values of a payload cost more in set-up than in search (about a
/// sixth of the decode's cycles, perf).
struct Specials {
    bits: Vec<u64>,
}

impl Specials {
    /// The index of `bytes`, or `None` when a byte is below 0x20 (a control character).
    fn index(bytes: &[u8]) -> Option<Specials> {
        let mut bits = Vec::with_capacity(bytes.len() / 64 + 1);
        let mut blocks = bytes.chunks_exact(64);
        #[cfg(target_arch = "x86_64")]
        if !simd::index(&mut blocks, &mut bits) {
            return None;
        }
        #[cfg(not(target_arch = "x86_64"))]
        for block in &mut blocks {
            bits.push(Self::scalar(block)?);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            bits.push(Self::scalar(rest)?);
        }
        Some(Specials { bits })
    }

    /// The word of up to 64 bytes, one at a time.
    fn scalar(block: &[u8]) -> Option<u64> {
        let mut word = 0;
        for (i, &b) in block.iter().enumerate() {
            if b < 0x20 {
                return None;
            }
            word |= u64::from(b == b'"' || b == b'\\') << i;
        }
        Some(word)
    }

    /// The first `"` or `\\` at or after `from`, as `memchr2(b'"', b'\\', &bytes[from..])` (plus
    /// `from`) finds it.
    fn next(&self, from: usize) -> Option<usize> {
        let mut k = from / 64;
        let mut word = *self.bits.get(k)? & (u64::MAX << (from % 64));
        while word == 0 {
            k += 1;
            word = *self.bits.get(k)?;
        }
        Some(k * 64 + word.trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::Specials;

    #[test]
    fn the_index_finds_what_memchr2_finds() {
        let mut seed = 11u64;
        for len in [0, 1, 15, 16, 63, 64, 65, 127, 128, 200, 1000] {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        match (seed >> 33) % 40 {
                            0 => b'"',
                            1 => b'\\',
                            2 => 0x80 | (seed >> 40) as u8,
                            _ => b'a' + ((seed >> 40) % 26) as u8,
                        }
                    })
                    .collect();
                let index = Specials::index(&bytes).expect("no control character");
                for from in 0..=len {
                    let want = memchr::memchr2(b'"', b'\\', &bytes[from..]).map(|at| from + at);
                    assert_eq!(index.next(from), want, "len {len} from {from}");
                }
            }
        }
        for bad in [0u8, 0x1f, b'\n', b'\t'] {
            for at in [0, 20, 63, 64, 100] {
                let mut bytes = vec![b'x'; 130];
                bytes[at] = bad;
                assert!(Specials::index(&bytes).is_none(), "{bad:#x} at {at}");
            }
        }
    }
}

/// The index of 64-byte blocks with AVX2 where the CPU has it (checked once per frame; the
/// answer is cached by the standard library), else SSE2, which every x86_64 CPU has.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };
    use std::slice::ChunksExact;

    /// Pushes a word per 64-byte block onto `bits`; false when a byte is below 0x20.
    pub(super) fn index(blocks: &mut ChunksExact<'_, u8>, bits: &mut Vec<u64>) -> bool {
        let mut clean = true;
        if std::is_x86_feature_detected!("avx2") {
            for block in blocks {
                // SAFETY: the CPU has AVX2 (checked just above).
                let (word, ok) = unsafe { avx2(block) };
                bits.push(word);
                clean &= ok;
            }
        } else {
            for block in blocks {
                let (word, ok) = sse2(block);
                bits.push(word);
                clean &= ok;
            }
        }
        clean
    }

    /// A bit per `"` or `\\` of the 64-byte `block`, and whether no byte is below 0x20.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(block: &[u8]) -> (u64, bool) {
        assert_eq!(block.len(), 64);
        let mut word = 0u64;
        let mut clean = true;
        for (i, part) in block.chunks_exact(32).enumerate() {
            // SAFETY: AVX2 is enabled for this function (the caller checked the CPU); the
            // load reads the 32 bytes of `part`; unaligned loads are allowed.
            let (specials, ok) = unsafe {
                let v = _mm256_loadu_si256(part.as_ptr().cast::<__m256i>());
                let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
                let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
                // v >= 0x20 (unsigned) exactly when max(v, 0x20) == v.
                let ok = _mm256_cmpeq_epi8(_mm256_max_epu8(v, _mm256_set1_epi8(0x20)), v);
                (
                    _mm256_movemask_epi8(_mm256_or_si256(quote, backslash)),
                    _mm256_movemask_epi8(ok),
                )
            };
            word |= u64::from(specials as u32) << (32 * i);
            clean &= ok as u32 == u32::MAX;
        }
        (word, clean)
    }

    /// [`avx2`] with SSE2, 16 bytes at a time.
    fn sse2(block: &[u8]) -> (u64, bool) {
        assert_eq!(block.len(), 64);
        let mut word = 0u64;
        let mut clean = true;
        for (i, part) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is in the x86_64 baseline; the load reads the 16 bytes of `part`
            // (64 / 16 whole parts, length asserted above); unaligned loads are allowed.
            let (specials, above) = unsafe {
                let v = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                let above = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x20)), v);
                (
                    _mm_movemask_epi8(_mm_or_si128(quote, backslash)),
                    _mm_movemask_epi8(above),
                )
            };
            word |= u64::from(specials as u16) << (16 * i);
            clean &= above == 0xffff;
        }
        (word, clean)
    }

    #[cfg(test)]
    #[test]
    fn avx2_and_sse2_agree() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut seed = 5u64;
        for _ in 0..5000 {
            let block: Vec<u8> = (0..64)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    match (seed >> 33) % 12 {
                        0 => b'"',
                        1 => b'\\',
                        2 => (seed >> 40) as u8 % 0x20,
                        3 => 0x80 | (seed >> 40) as u8,
                        _ => b'a',
                    }
                })
                .collect();
            // SAFETY: the CPU has AVX2 (checked above).
            assert_eq!(unsafe { avx2(&block) }, sse2(&block), "{block:?}");
        }
    }
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
        let end = self.specials.next(start)?;
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
            let at = self.specials.next(self.at)?;
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
